//! WAV files: the recorder's crash-safe A-law stereo file (its header is rewritten as it
//! grows and repaired from the file size after a crash), 16-bit PCM export, and reading of
//! the PBX's own 8 kHz prompt files.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// WAVE format tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// 16-bit linear PCM.
    Pcm16,
    /// 8-bit A-law (G.711).
    Alaw,
}

/// The 44-byte canonical header.
pub fn header(format: Format, channels: u16, rate: u32, data_len: u32) -> [u8; 44] {
    let (tag, bits): (u16, u16) = match format {
        Format::Pcm16 => (1, 16),
        Format::Alaw => (6, 8),
    };
    let block = channels * bits / 8;
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&tag.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * block as u32).to_le_bytes());
    h[32..34].copy_from_slice(&block.to_le_bytes());
    h[34..36].copy_from_slice(&bits.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// Rewrites the size fields of a canonical WAV from its length on disk (after a crash).
pub fn repair<F: Read + Write + Seek>(f: &mut F) -> io::Result<u32> {
    let len = f.seek(SeekFrom::End(0))?;
    if len < 44 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "shorter than a WAV header"));
    }
    let mut h = [0u8; 44];
    f.seek(SeekFrom::Start(0))?;
    f.read_exact(&mut h)?;
    if &h[0..4] != b"RIFF" || &h[8..12] != b"WAVE" || &h[36..40] != b"data" {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a canonical WAV"));
    }
    let block = u16::from_le_bytes([h[32], h[33]]).max(1) as u64;
    let data = ((len - 44) / block * block).min(u32::MAX as u64 - 36) as u32;
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&(36 + data).to_le_bytes())?;
    f.seek(SeekFrom::Start(40))?;
    f.write_all(&data.to_le_bytes())?;
    f.flush()?;
    Ok(data)
}

/// A parsed WAV: format, channels, rate and the data bytes.
#[derive(Debug, Clone)]
pub struct Wav {
    /// Format tag (1 PCM, 3 float, 6 A-law, 7 µ-law...).
    pub tag: u16,
    /// Channels.
    pub channels: u16,
    /// Sample rate.
    pub rate: u32,
    /// Bits per sample.
    pub bits: u16,
    /// The data chunk.
    pub data: Vec<u8>,
}

/// Parses a RIFF/WAVE file of any chunk layout.
pub fn parse(bytes: &[u8]) -> Option<Wav> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut i = 12;
    let mut fmt = None;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let size = u32::from_le_bytes([bytes[i + 4], bytes[i + 5], bytes[i + 6], bytes[i + 7]]) as usize;
        let body = &bytes[i + 8..(i + 8).saturating_add(size).min(bytes.len())];
        if id == b"fmt " && body.len() >= 16 {
            fmt = Some((
                u16::from_le_bytes([body[0], body[1]]),
                u16::from_le_bytes([body[2], body[3]]),
                u32::from_le_bytes([body[4], body[5], body[6], body[7]]),
                u16::from_le_bytes([body[14], body[15]]),
            ));
        }
        if id == b"data" {
            let (tag, channels, rate, bits) = fmt?;
            return Some(Wav { tag, channels, rate, bits, data: body.to_vec() });
        }
        i = i.saturating_add(8 + size + (size & 1));
    }
    None
}

/// 16-bit PCM WAV bytes of interleaved samples.
pub fn pcm16(samples: &[i16], channels: u16, rate: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(&header(Format::Pcm16, channels, rate, (samples.len() * 2) as u32));
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// The samples of a WAV as 16-bit linear (PCM16, A-law and µ-law), interleaved.
pub fn samples(w: &Wav) -> Option<Vec<i16>> {
    match (w.tag, w.bits) {
        (1, 16) => Some(w.data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()),
        (6, 8) => Some(w.data.iter().map(|b| crate::g711::ALAW_DECODE[*b as usize]).collect()),
        (7, 8) => Some(w.data.iter().map(|b| crate::g711::ULAW_DECODE[*b as usize]).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_after_crash() {
        let mut buf = std::io::Cursor::new(Vec::new());
        buf.write_all(&header(Format::Alaw, 2, 8000, 0)).unwrap();
        buf.write_all(&[0xD5; 1601]).unwrap(); // a torn last frame
        assert_eq!(repair(&mut buf).unwrap(), 1600);
        let w = parse(buf.get_ref()).unwrap();
        assert_eq!((w.tag, w.channels, w.rate, w.data.len()), (6, 2, 8000, 1600));
        assert_eq!(samples(&w).unwrap().len(), 1600);
    }

    #[test]
    fn pcm_round_trip() {
        let bytes = pcm16(&[1, -2, 3, -4], 2, 8000);
        let w = parse(&bytes).unwrap();
        assert_eq!(samples(&w).unwrap(), vec![1, -2, 3, -4]);
        assert!(parse(b"RIFF\0\0\0\0WAVE").is_none());
        assert!(parse(b"garbage").is_none());
    }
}
