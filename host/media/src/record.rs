//! Two-channel call recording, sans-IO: packets of each leg go in with their RTP timestamp
//! and arrival time; aligned stereo frames come out (caller left, callee right).
//!
//! Each channel is placed on one timeline in samples since the recording started. Within a
//! talk spurt the RTP timestamp decides where a packet goes (so jitter does not move it);
//! when the timestamp and the arrival time disagree by more than [`REANCHOR`] samples (a new
//! SSRC, a jump after hold, clock drift) the channel is re-anchored on the arrival time.
//! Gaps (loss, silence suppression, hold) become silence, so neither side slides against
//! the other. Frames are released once [`JITTER`] samples old.

/// Samples per second.
pub const RATE: u64 = 8000;
/// How late a packet may arrive and still be placed (samples; 300 ms).
pub const JITTER: u64 = 2400;
/// Disagreement between RTP time and arrival time that re-anchors a channel (200 ms).
pub const REANCHOR: i64 = 1600;

#[derive(Debug, Default, Clone)]
struct Channel {
    anchor: Option<(u32, u64)>,
    ssrc: Option<u32>,
}

/// The mixer of one call.
#[derive(Debug, Clone, Default)]
pub struct Mixer {
    start_us: Option<u64>,
    /// First sample not yet released.
    released: u64,
    /// Stereo samples from `released` on (drained in blocks, so no per-sample queue work).
    pending: Vec<[i16; 2]>,
    chans: [Channel; 2],
}

impl Mixer {
    /// A mixer whose timeline starts at `now_us` (microseconds of any monotonic clock).
    pub fn new(now_us: u64) -> Mixer {
        Mixer { start_us: Some(now_us), ..Mixer::default() }
    }

    fn at(&self, now_us: u64) -> u64 {
        now_us.saturating_sub(self.start_us.unwrap_or(now_us)) * RATE / 1_000_000
    }

    /// Places decoded samples of channel `ch` (0 = caller, 1 = callee).
    pub fn feed(&mut self, ch: usize, ssrc: u32, ts: u32, now_us: u64, samples: &[i16]) {
        if self.start_us.is_none() {
            self.start_us = Some(now_us);
        }
        let arrival = self.at(now_us);
        // A packet's first sample was captured one packet duration before it arrived.
        let arrival_pos = arrival.saturating_sub(samples.len() as u64);
        let c = &mut self.chans[ch & 1];
        let pos = match (c.anchor, c.ssrc == Some(ssrc)) {
            (Some((ts0, pos0)), true) => {
                let delta = ts.wrapping_sub(ts0) as i32 as i64;
                let p = pos0 as i64 + delta;
                if (p - arrival_pos as i64).abs() > REANCHOR || p < 0 {
                    c.anchor = Some((ts, arrival_pos));
                    arrival_pos
                } else {
                    p as u64
                }
            }
            _ => {
                c.ssrc = Some(ssrc);
                c.anchor = Some((ts, arrival_pos));
                arrival_pos
            }
        };
        if pos < self.released {
            return; // Too late: that part of the file is written.
        }
        let off = (pos - self.released) as usize;
        let need = off + samples.len();
        if need > 60 * RATE as usize {
            return; // Nonsense far in the future.
        }
        if self.pending.len() < need {
            self.pending.resize(need, [0, 0]);
        }
        for (slot, s) in self.pending[off..need].iter_mut().zip(samples) {
            slot[ch & 1] = *s;
        }
    }

    /// Releases frames older than the jitter window at `now_us` into `out` (interleaved).
    pub fn drain(&mut self, now_us: u64, out: &mut Vec<[i16; 2]>) {
        let upto = self.at(now_us).saturating_sub(JITTER);
        if upto <= self.released {
            return;
        }
        let n = (upto - self.released) as usize;
        let have = n.min(self.pending.len());
        out.extend_from_slice(&self.pending[..have]);
        out.resize(out.len() + (n - have), [0, 0]);
        self.pending.drain(..have);
        self.released = upto;
    }

    /// Releases everything (call ended).
    pub fn finish(&mut self, out: &mut Vec<[i16; 2]>) {
        out.append(&mut self.pending);
        self.released = u64::MAX / 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: i16) -> Vec<i16> {
        vec![v; 160]
    }

    fn run(events: &[(usize, u32, u32, u64, i16)], end_us: u64) -> Vec<[i16; 2]> {
        let mut m = Mixer::new(0);
        let mut out = Vec::new();
        for &(ch, ssrc, ts, at, v) in events {
            m.drain(at, &mut out);
            m.feed(ch, ssrc, ts, at, &frame(v));
        }
        m.drain(end_us, &mut out);
        m.finish(&mut out);
        out
    }

    #[test]
    fn jitter_does_not_move_audio() {
        // Caller packets every 20 ms, callee the same but arriving with up to 60 ms jitter.
        let mut ev = Vec::new();
        for i in 0..50u32 {
            ev.push((0, 1, 1000 + i * 160, 20_000 * (i as u64 + 1), 100 + i as i16));
            let jitter = [0u64, 60_000, 10_000, 40_000][i as usize % 4];
            ev.push((1, 2, 5000 + i * 160, 20_000 * (i as u64 + 1) + jitter, 100 + i as i16));
        }
        ev.sort_by_key(|e| e.3);
        let out = run(&ev, 2_000_000);
        // Both channels carry the same value at the same sample everywhere after the start.
        let mut compared = 0;
        for s in &out {
            if s[0] != 0 && s[1] != 0 {
                assert_eq!(s[0], s[1]);
                compared += 1;
            }
        }
        assert!(compared > 7000, "{compared}");
    }

    #[test]
    fn loss_and_silence_suppression_leave_gaps_not_shifts() {
        let mut ev = Vec::new();
        for i in 0..100u32 {
            let t = 20_000 * (i as u64 + 1);
            ev.push((0, 1, i * 160, t, 7)); // caller continuous
            if !(20..40).contains(&i) && i % 10 != 3 {
                // callee: a 400 ms silence-suppressed gap and every tenth packet lost
                ev.push((1, 2, i * 160, t, 9));
            }
        }
        let out = run(&ev, 3_000_000);
        // Sample 160*i of the callee channel is 9 exactly where a packet existed.
        for i in 1..99usize {
            let expect = if (20..40).contains(&i) || i % 10 == 3 { 0 } else { 9 };
            let s = out[i * 160 + 80];
            assert_eq!(s[1], expect, "packet {i}");
            assert_eq!(s[0], 7, "caller packet {i}");
        }
    }

    #[test]
    fn hold_then_new_stream_reanchors_on_arrival() {
        // Callee talks, goes silent 2 s (hold), comes back with a new SSRC and a timestamp far away.
        let mut ev = Vec::new();
        for i in 0..10u32 {
            ev.push((1, 5, i * 160, 20_000 * (i as u64 + 1), 3));
        }
        for i in 0..10u32 {
            ev.push((1, 6, 99_999 + i * 160, 2_200_000 + 20_000 * i as u64, 4));
        }
        let out = run(&ev, 3_000_000);
        let first_four = out.iter().position(|s| s[1] == 4).unwrap();
        // 2.2 s after the start minus one packet of capture time.
        assert!((first_four as i64 - (2_200_000 * 8 / 1000 - 160)).abs() <= 1, "{first_four}");
    }
}
