//! G.711 A-law and µ-law (ITU-T G.711) conversion, table driven: decoding is one lookup,
//! encoding a short search, so the relay can even convert between the two laws per packet.

/// Which G.711 law a leg speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// A-law (payload type 8, Europe/Russia).
    Alaw,
    /// µ-law (payload type 0, North America/Japan).
    Ulaw,
}

impl Law {
    /// The static payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Alaw => 8,
            Law::Ulaw => 0,
        }
    }

    /// Decodes one byte.
    pub fn decode(self, b: u8) -> i16 {
        match self {
            Law::Alaw => ALAW_DECODE[b as usize],
            Law::Ulaw => ULAW_DECODE[b as usize],
        }
    }

    /// Encodes one sample (a table lookup).
    pub fn encode(self, s: i16) -> u8 {
        let t = encode_tables();
        match self {
            Law::Alaw => t.0[s as u16 as usize],
            Law::Ulaw => t.1[s as u16 as usize],
        }
    }

    /// The silence byte.
    pub fn silence(self) -> u8 {
        self.encode(0)
    }
}

const fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = ((a & 0x0f) as i16) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 { t } else { -t }
}

const fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let mut t = (((u & 0x0f) as i16) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }
}

const fn table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw { alaw_to_linear(i as u8) } else { ulaw_to_linear(i as u8) };
        i += 1;
    }
    t
}

/// A-law byte → 16-bit linear.
pub static ALAW_DECODE: [i16; 256] = table(true);
/// µ-law byte → 16-bit linear.
pub static ULAW_DECODE: [i16; 256] = table(false);

type EncodeTables = (Box<[u8; 65536]>, Box<[u8; 65536]>);

/// Both laws' encodings of every 16-bit sample, built once (128 KB).
fn encode_tables() -> &'static EncodeTables {
    static T: std::sync::OnceLock<EncodeTables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut a = Box::new([0u8; 65536]);
        let mut u = Box::new([0u8; 65536]);
        for i in 0..65536usize {
            let s = i as u16 as i16;
            a[i] = alaw_encode(s);
            u[i] = ulaw_encode(s);
        }
        (a, u)
    })
}

/// 16-bit linear → A-law.
pub fn alaw_encode(pcm: i16) -> u8 {
    let mut pcm = pcm as i32;
    let mask;
    if pcm >= 0 {
        mask = 0xD5;
    } else {
        mask = 0x55;
        pcm = -pcm - 1;
    }
    let pcm = pcm.min(0x7fff);
    const SEG_END: [i32; 8] = [0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF];
    let seg = SEG_END.iter().position(|&e| pcm <= e).unwrap_or(8) as i32;
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut aval = seg << 4;
    aval |= if seg < 2 { (pcm >> 4) & 0xF } else { (pcm >> (seg + 3)) & 0xF };
    (aval ^ mask) as u8
}

/// 16-bit linear → µ-law.
pub fn ulaw_encode(pcm: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut pcm = pcm as i32;
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    let pcm = pcm.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && pcm & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Converts a payload between laws in place (no-op when equal).
pub fn transcode(buf: &mut [u8], from: Law, to: Law) {
    if from == to {
        return;
    }
    for b in buf {
        *b = to.encode(from.decode(*b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for law in [Law::Alaw, Law::Ulaw] {
            for b in 0..=255u8 {
                let s = law.decode(b);
                let back = law.decode(law.encode(s));
                assert_eq!(s, back, "{law:?} byte {b:#x}");
            }
        }
        assert_eq!(Law::Alaw.silence(), 0xD5);
        assert_eq!(Law::Ulaw.silence(), 0xFF);
        assert!((Law::Alaw.decode(Law::Alaw.encode(1000)) - 1000).abs() < 40);
        assert!((Law::Ulaw.decode(Law::Ulaw.encode(-1000)) + 1000).abs() < 40);
    }

    #[test]
    fn transcoding_keeps_the_signal() {
        let mut buf: Vec<u8> = (0..160).map(|i| Law::Alaw.encode(((i as f64 * 0.3).sin() * 9000.0) as i16)).collect();
        let orig: Vec<i16> = buf.iter().map(|b| Law::Alaw.decode(*b)).collect();
        transcode(&mut buf, Law::Alaw, Law::Ulaw);
        for (b, o) in buf.iter().zip(orig) {
            assert!((Law::Ulaw.decode(*b) as i32 - o as i32).abs() < 400);
        }
    }
}
