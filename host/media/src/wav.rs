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

/// A canonical header: 44 bytes for PCM, 46 for A-law (whose `fmt ` chunk carries the
/// `cbSize` field that non-PCM formats must have).
pub fn header(format: Format, channels: u16, rate: u32, data_len: u32) -> Vec<u8> {
    let (tag, bits, fmt_len): (u16, u16, u32) = match format {
        Format::Pcm16 => (1, 16, 16),
        Format::Alaw => (6, 8, 18),
    };
    let block = channels * bits / 8;
    let mut h = Vec::with_capacity(46);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(4 + 8 + fmt_len + 8 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&fmt_len.to_le_bytes());
    h.extend_from_slice(&tag.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * block as u32).to_le_bytes());
    h.extend_from_slice(&block.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    if fmt_len == 18 {
        h.extend_from_slice(&0u16.to_le_bytes());
    }
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

/// Where the data chunk's bytes start in a file written by [`header`].
pub fn data_offset(format: Format) -> u64 {
    match format {
        Format::Pcm16 => 44,
        Format::Alaw => 46,
    }
}

/// Rewrites the size fields of a WAV written by [`header`] from its length on disk (after a
/// crash); returns the data length.
pub fn repair<F: Read + Write + Seek>(f: &mut F) -> io::Result<u32> {
    let len = f.seek(SeekFrom::End(0))?;
    let mut h = [0u8; 46];
    if len < 44 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "shorter than a WAV header"));
    }
    f.seek(SeekFrom::Start(0))?;
    f.read_exact(&mut h[..44.min(len as usize)])?;
    if len >= 46 {
        f.seek(SeekFrom::Start(44))?;
        f.read_exact(&mut h[44..46])?;
    }
    if &h[0..4] != b"RIFF" || &h[8..16] != b"WAVEfmt " {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a WAV written by the PBX"));
    }
    let fmt_len = u32::from_le_bytes([h[16], h[17], h[18], h[19]]) as u64;
    let data_id = 20 + fmt_len;
    if data_id + 8 > len || &h[data_id as usize..data_id as usize + 4] != b"data" {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected WAV layout"));
    }
    let start = data_id + 8;
    let block = u16::from_le_bytes([h[32], h[33]]).max(1) as u64;
    let data = ((len - start) / block * block).min(u32::MAX as u64 - 64) as u32;
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&((start - 8) as u32 + data).to_le_bytes())?;
    f.seek(SeekFrom::Start(data_id + 4))?;
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
