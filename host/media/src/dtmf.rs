//! DTMF from the three places phones put it: RFC 4733 telephone-events in RTP, SIP INFO
//! bodies (application/dtmf-relay and application/dtmf), and tones in the G.711 audio
//! itself (Goertzel detection with level, twist, purity and duration checks). Each detector
//! reports each key press once.

/// Where a digit was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event.
    Rfc4733,
    /// SIP INFO.
    Info,
    /// Tones in the audio.
    Inband,
}

impl DtmfSource {
    /// Text for timelines.
    pub fn as_str(self) -> &'static str {
        match self {
            DtmfSource::Rfc4733 => "rfc4733",
            DtmfSource::Info => "info",
            DtmfSource::Inband => "inband",
        }
    }
}

/// The digit of an RFC 4733 event code.
pub fn event_digit(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => (b'0' + code) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + code - 12) as char,
        _ => return None,
    })
}

/// Turns RFC 4733 packets into digits, once per event (all packets of an event share the
/// RTP timestamp; the end packet is sent three times).
#[derive(Debug, Default, Clone)]
pub struct Rfc4733 {
    last: Option<(u32, u8)>,
}

impl Rfc4733 {
    /// Feeds a telephone-event payload with its RTP timestamp.
    pub fn feed(&mut self, ts: u32, payload: &[u8]) -> Option<char> {
        if payload.len() < 4 {
            return None;
        }
        let code = payload[0];
        if self.last == Some((ts, code)) {
            return None;
        }
        self.last = Some((ts, code));
        event_digit(code)
    }
}

/// Reads the digit of a SIP INFO body.
pub fn parse_info(content_type: &str, body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    let ct = content_type.to_ascii_lowercase();
    let raw = if ct.starts_with("application/dtmf-relay") {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim().to_string())
        })?
    } else if ct.starts_with("application/dtmf") {
        text.trim().to_string()
    } else {
        return None;
    };
    if raw.len() > 1 && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse::<u8>().ok().and_then(event_digit);
    }
    let c = raw.chars().next()?;
    match c {
        '0'..='9' | '*' | '#' | 'A'..='D' => Some(c),
        'a'..='d' => Some(c.to_ascii_uppercase()),
        _ => raw.parse::<u8>().ok().and_then(event_digit),
    }
}

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [['1', '2', '3', 'A'], ['4', '5', '6', 'B'], ['7', '8', '9', 'C'], ['*', '0', '#', 'D']];
/// Samples per analysis block (20 ms at 8 kHz).
pub const BLOCK: usize = 160;

/// In-band DTMF detector for 8 kHz audio.
#[derive(Debug, Clone)]
pub struct Goertzel {
    coefs: [f32; 8],
    buf: [f32; BLOCK],
    fill: usize,
    candidate: Option<char>,
    hits: u32,
    reported: Option<char>,
    gap: u32,
}

impl Default for Goertzel {
    fn default() -> Goertzel {
        let mut coefs = [0.0; 8];
        for (i, f) in ROWS.iter().chain(COLS.iter()).enumerate() {
            coefs[i] = 2.0 * (2.0 * std::f32::consts::PI * f / 8000.0).cos();
        }
        Goertzel { coefs, buf: [0.0; BLOCK], fill: 0, candidate: None, hits: 0, reported: None, gap: 0 }
    }
}

impl Goertzel {
    /// Feeds samples; returns digits recognised (each key press once).
    pub fn feed(&mut self, samples: &[i16], out: &mut Vec<char>) {
        for &s in samples {
            self.buf[self.fill] = s as f32;
            self.fill += 1;
            if self.fill == BLOCK {
                self.fill = 0;
                let d = self.block();
                self.step(d, out);
            }
        }
    }

    fn step(&mut self, d: Option<char>, out: &mut Vec<char>) {
        match d {
            Some(k) if Some(k) == self.candidate => self.hits += 1,
            Some(k) => {
                self.candidate = Some(k);
                self.hits = 1;
            }
            None => {
                self.candidate = None;
                self.hits = 0;
                self.gap += 1;
                // A release of at least 40 ms ends the key press.
                if self.gap >= 2 {
                    self.reported = None;
                }
                return;
            }
        }
        self.gap = 0;
        // At least 40 ms of a stable tone, once per press.
        if self.hits >= 2
            && self.reported != Some(self.candidate.unwrap_or(' '))
            && let Some(c) = self.candidate
        {
            self.reported = Some(c);
            out.push(c);
        }
    }

    fn block(&self) -> Option<char> {
        let mut power = [0.0f32; 8];
        let total: f32 = self.buf.iter().map(|x| x * x).sum();
        // Below about -36 dBm0 there is no tone worth hearing.
        if total < BLOCK as f32 * 150.0 * 150.0 {
            return None;
        }
        for (i, c) in self.coefs.iter().enumerate() {
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for x in &self.buf {
                let s0 = x + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            power[i] = s1 * s1 + s2 * s2 - c * s1 * s2;
        }
        let (ri, rp) = power[..4].iter().enumerate().fold((0, 0.0f32), |a, (i, p)| if *p > a.1 { (i, *p) } else { a });
        let (ci, cp) = power[4..].iter().enumerate().fold((0, 0.0f32), |a, (i, p)| if *p > a.1 { (i, *p) } else { a });
        // Twist: the column tone may be up to 8 dB above the row (forward), 4 dB below (reverse).
        if cp > rp * 6.3 || rp > cp * 2.5 {
            return None;
        }
        // Purity: every other DTMF frequency at least 10 dB below the strongest of its group.
        for (i, p) in power[..4].iter().enumerate() {
            if i != ri && *p * 10.0 > rp {
                return None;
            }
        }
        for (i, p) in power[4..].iter().enumerate() {
            if i != ci && *p * 10.0 > cp {
                return None;
            }
        }
        // Most of the block's energy must be in the two tones (speech spreads it).
        // Goertzel power of a full-scale sine over N samples is about (N/2)^2 * A^2 / 4 per
        // unit of A^2 * N / 2 energy: scale to compare with the block energy.
        let tone_energy = (rp + cp) * 2.0 / BLOCK as f32;
        if tone_energy < total * 0.6 {
            return None;
        }
        Some(KEYS[ri][ci])
    }
}

/// Generates the tone of a key (for tests and for sending in-band DTMF).
pub fn tone(key: char, ms: usize, amplitude: f32) -> Vec<i16> {
    let pos = KEYS.iter().enumerate().find_map(|(r, row)| row.iter().position(|k| *k == key).map(|c| (r, c)));
    let Some((r, c)) = pos else { return vec![0; ms * 8] };
    (0..ms * 8)
        .map(|n| {
            let t = n as f32 / 8000.0;
            let v = (2.0 * std::f32::consts::PI * ROWS[r] * t).sin() + (2.0 * std::f32::consts::PI * COLS[c] * t).sin();
            (v * amplitude / 2.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4733_once_per_event() {
        let mut d = Rfc4733::default();
        let start = [5u8, 0x0a, 0, 160];
        let end = [5u8, 0x8a, 0x03, 0x20];
        assert_eq!(d.feed(1000, &start), Some('5'));
        assert_eq!(d.feed(1000, &start), None);
        assert_eq!(d.feed(1000, &end), None);
        assert_eq!(d.feed(1000, &end), None);
        assert_eq!(d.feed(2600, &[11, 0x0a, 0, 160]), Some('#'));
        assert_eq!(d.feed(4200, &[5, 0x0a, 0, 160]), Some('5'), "the same key again is a new press");
        assert_eq!(d.feed(5000, &[1, 2]), None);
    }

    #[test]
    fn info_bodies() {
        assert_eq!(parse_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(parse_info("application/dtmf-relay", b"Signal= #\r\nDuration=160"), Some('#'));
        assert_eq!(parse_info("application/dtmf-relay", b"Signal=11\r\n"), Some('#'));
        assert_eq!(parse_info("application/dtmf", b"7"), Some('7'));
        assert_eq!(parse_info("text/plain", b"7"), None);
        assert_eq!(parse_info("application/dtmf-relay", b"Duration=160"), None);
    }

    #[test]
    fn tones_are_detected_once_each() {
        let mut g = Goertzel::default();
        let mut out = Vec::new();
        for key in "0123456789*#ABCD".chars() {
            g.feed(&tone(key, 100, 12000.0), &mut out);
            g.feed(&vec![0i16; 480], &mut out);
        }
        assert_eq!(out.iter().collect::<String>(), "0123456789*#ABCD");
    }

    #[test]
    fn short_tones_and_speechlike_signals_are_ignored() {
        let mut g = Goertzel::default();
        let mut out = Vec::new();
        // 20 ms is too short.
        g.feed(&tone('5', 20, 12000.0), &mut out);
        g.feed(&vec![0i16; 480], &mut out);
        // A single tone (not a pair), and a tone pair buried in broadband noise.
        let single: Vec<i16> =
            (0..1600).map(|n| ((n as f32 * 2.0 * std::f32::consts::PI * 770.0 / 8000.0).sin() * 9000.0) as i16).collect();
        g.feed(&single, &mut out);
        let mut seed = 12345u32;
        let noisy: Vec<i16> = tone('8', 200, 4000.0)
            .into_iter()
            .map(|s| {
                seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
                s.saturating_add((seed >> 16) as i16 % 9000)
            })
            .collect();
        g.feed(&noisy, &mut out);
        // Quiet tone: below the level threshold.
        g.feed(&tone('1', 200, 100.0), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
