//! Audio helpers for the media tests: tone generation, RTP senders, pcap files for SIPp,
//! and signal comparisons.

use pbx_media::Law;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A sine of `freq` Hz at 8 kHz.
pub fn sine(freq: f32, samples: usize, amp: f32) -> Vec<i16> {
    (0..samples).map(|n| ((n as f32 * 2.0 * std::f32::consts::PI * freq / 8000.0).sin() * amp) as i16).collect()
}

/// Goertzel power of `freq` in `x`, normalised by length.
pub fn tone_power(x: &[i16], freq: f32) -> f64 {
    let c = 2.0 * (2.0 * std::f64::consts::PI * freq as f64 / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for v in x {
        let s0 = *v as f64 + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
}

/// RMS per 20 ms frame.
pub fn envelope(x: &[i16]) -> Vec<f64> {
    x.chunks(160).map(|f| (f.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / f.len() as f64).sqrt()).collect()
}

/// Best normalised correlation of two sequences over lags up to `max_lag`.
pub fn best_correlation(a: &[f64], b: &[f64], max_lag: usize) -> f64 {
    let mut best = -1.0f64;
    for lag in 0..=max_lag {
        for (x, y) in [(a, b), (b, a)] {
            if lag >= x.len() {
                continue;
            }
            let n = (x.len() - lag).min(y.len());
            if n < 10 {
                continue;
            }
            let xs = &x[lag..lag + n];
            let ys = &y[..n];
            let mx = xs.iter().sum::<f64>() / n as f64;
            let my = ys.iter().sum::<f64>() / n as f64;
            let cov: f64 = xs.iter().zip(ys).map(|(p, q)| (p - mx) * (q - my)).sum();
            let vx: f64 = xs.iter().map(|p| (p - mx).powi(2)).sum();
            let vy: f64 = ys.iter().map(|q| (q - my).powi(2)).sum();
            if vx > 0.0 && vy > 0.0 {
                best = best.max(cov / (vx * vy).sqrt());
            }
        }
    }
    best
}

/// Sends 20 ms RTP packets of `samples` (looped) from `sock` to `dest` until dropped.
pub struct RtpSender {
    stop: Arc<AtomicBool>,
}

impl RtpSender {
    /// Starts sending.
    pub fn start(sock: &UdpSocket, dest: SocketAddr, samples: Vec<i16>, law: Law) -> RtpSender {
        let sock = sock.try_clone().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut seq: u16 = 1;
            let mut pos = 0;
            let mut n: u64 = 0;
            while !s.load(Ordering::Relaxed) {
                let mut pkt = vec![0x80, law.payload_type(), 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
                pkt[2..4].copy_from_slice(&seq.to_be_bytes());
                pkt[4..8].copy_from_slice(&((n as u32) * 160).to_be_bytes());
                for _ in 0..160 {
                    pkt.push(law.encode(samples[pos % samples.len()]));
                    pos += 1;
                }
                let _ = sock.send_to(&pkt, dest);
                seq = seq.wrapping_add(1);
                n += 1;
                let next = t0 + Duration::from_millis(20 * n);
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        });
        RtpSender { stop }
    }
}

impl Drop for RtpSender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Writes RTP packets (20 ms apart) as a pcap file SIPp can play with play_pcap_audio.
pub fn write_rtp_pcap(path: &std::path::Path, packets: &[(u8, Vec<u8>)]) {
    let with_ts: Vec<(u8, u32, Vec<u8>)> = packets.iter().enumerate().map(|(i, (pt, p))| (*pt, i as u32 * 160, p.clone())).collect();
    write_rtp_pcap_ts(path, &with_ts);
}

/// RFC 4733 key presses as RTP events (payload type 101): each key 100 ms, then 150 ms of
/// A-law silence; every press has its own timestamp, as a phone sends them.
pub fn rfc4733_packets(keys: &str) -> Vec<(u8, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut ts = 0u32;
    let silence = |ts: u32| (8u8, ts, vec![0xd5u8; 160]);
    for _ in 0..5 {
        out.push(silence(ts));
        ts += 160;
    }
    for k in keys.chars() {
        let code: u8 = match k {
            '0'..='9' => k as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => continue,
        };
        for n in 1..=5u16 {
            let end = if n == 5 { 0x80 } else { 0 };
            let d = (n * 160).to_be_bytes();
            out.push((101, ts, vec![code, end | 10, d[0], d[1]]));
        }
        for _ in 0..2 {
            out.push((101, ts, vec![code, 0x80 | 10, 0x03, 0x20]));
        }
        ts += 5 * 160;
        for _ in 0..8 {
            out.push(silence(ts));
            ts += 160;
        }
    }
    out
}

/// Writes RTP packets (20 ms apart on the wire) with their own RTP timestamps.
pub fn write_rtp_pcap_ts(path: &std::path::Path, packets: &[(u8, u32, Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for (i, (pt, ts, payload)) in packets.iter().enumerate() {
        let mut rtp = vec![0x80, *pt, 0, 0, 0, 0, 0, 0, 0xca, 0xfe, 0xba, 0xbe];
        rtp[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        rtp[4..8].copy_from_slice(&ts.to_be_bytes());
        rtp.extend_from_slice(payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        frame.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
        frame.extend_from_slice(&rtp);
        let ts_us = i as u64 * 20_000;
        out.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

/// In-band DTMF as A-law RTP payloads: each key 120 ms of tone then 120 ms of silence.
pub fn inband_dtmf_packets(keys: &str) -> Vec<(u8, Vec<u8>)> {
    let mut samples = vec![0i16; 1600];
    for k in keys.chars() {
        samples.extend(pbx_media::dtmf::tone(k, 120, 12000.0));
        samples.extend(std::iter::repeat_n(0i16, 960));
    }
    samples.extend(std::iter::repeat_n(0i16, 1600));
    samples.chunks(160).map(|c| (8u8, c.iter().map(|s| Law::Alaw.encode(*s)).collect())).collect()
}
