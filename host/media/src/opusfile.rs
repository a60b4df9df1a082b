//! Stored recordings: two-channel Ogg/Opus (RFC 7845) at 8 kHz, about 180 KB a minute,
//! made from the recorder's WAV after the call; and back to two-channel 16-bit WAV for
//! download.
//!
//! The two channels are two independent mono Opus streams (channel mapping family 1, two
//! streams, none coupled), not one stereo stream: stereo coding shares bits between the
//! channels (mid/side, intensity) and at speech bitrates that leaks the callee into the
//! caller's channel. Each party stays on its own side.

use std::io::Write;

/// Bits per second per channel of stored recordings.
pub const BITRATE_PER_CHANNEL: i32 = 12_000;

/// Why a recording could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum OpusFileError {
    /// Reading or writing failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The codec refused.
    #[error("codec: {0}")]
    Codec(String),
    /// The input is not what was expected.
    #[error("format: {0}")]
    Format(String),
}

/// RFC 6716 Appendix B: the self-delimited form of a single-stream packet, needed for every
/// stream of a multistream packet but the last.
fn self_delimited(packet: &[u8]) -> Result<Vec<u8>, OpusFileError> {
    let toc = *packet.first().ok_or_else(|| OpusFileError::Codec("empty packet".into()))?;
    let frame_len = match toc & 3 {
        0 => packet.len() - 1,
        1 => (packet.len() - 1) / 2,
        _ => return Err(OpusFileError::Codec("unexpected multi-frame packet".into())),
    };
    let mut out = Vec::with_capacity(packet.len() + 2);
    out.push(toc);
    if frame_len < 252 {
        out.push(frame_len as u8);
    } else {
        let first = 252 + (frame_len & 3);
        out.push(first as u8);
        out.push(((frame_len - first) >> 2) as u8);
    }
    out.extend_from_slice(&packet[1..]);
    Ok(out)
}

/// Encodes interleaved 8 kHz stereo samples as Ogg/Opus with each channel its own stream.
pub fn encode_stereo(samples: &[i16], out: &mut impl Write) -> Result<(), OpusFileError> {
    let mut encs = Vec::with_capacity(2);
    for _ in 0..2 {
        let mut e = opus_rs::OpusEncoder::new(8000, 1, opus_rs::Application::Voip).map_err(|e| OpusFileError::Codec(e.into()))?;
        e.bitrate_bps = BITRATE_PER_CHANNEL;
        e.complexity = 0;
        encs.push(e);
    }
    let serial = 0x5042_5801;
    let mut w = ogg::PacketWriter::new(out);
    let mut head = Vec::with_capacity(23);
    head.extend_from_slice(b"OpusHead");
    head.push(1);
    head.push(2); // channels
    head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&8000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(1); // mapping family 1
    head.push(2); // streams
    head.push(0); // coupled streams
    head.extend_from_slice(&[0, 1]); // left = stream 0, right = stream 1
    w.write_packet(head, serial, ogg::PacketWriteEndInfo::EndPage, 0)?;
    let vendor = b"pbx";
    let mut tags = Vec::new();
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    w.write_packet(tags, serial, ogg::PacketWriteEndInfo::EndPage, 0)?;
    let frames: Vec<&[i16]> = samples.chunks(320).collect();
    let mut packet = vec![0u8; 1500];
    let mut mono = [[0i16; 160]; 2];
    for (i, f) in frames.iter().enumerate() {
        for (ch, buf) in mono.iter_mut().enumerate() {
            for (k, s) in buf.iter_mut().enumerate() {
                *s = f.get(k * 2 + ch).copied().unwrap_or(0);
            }
        }
        let n0 = encs[0].encode_i16(&mono[0], 160, &mut packet).map_err(|e| OpusFileError::Codec(e.into()))?;
        let mut multi = self_delimited(&packet[..n0])?;
        let n1 = encs[1].encode_i16(&mono[1], 160, &mut packet).map_err(|e| OpusFileError::Codec(e.into()))?;
        multi.extend_from_slice(&packet[..n1]);
        let last = i + 1 == frames.len();
        // Granule positions count 48 kHz samples (RFC 7845 §4).
        let granule = (i as u64 + 1) * 960;
        let info = if last {
            ogg::PacketWriteEndInfo::EndStream
        } else if (i + 1) % 50 == 0 {
            ogg::PacketWriteEndInfo::EndPage // a page a second: a crash or a cut loses little
        } else {
            ogg::PacketWriteEndInfo::NormalPacket
        };
        w.write_packet(multi, serial, info, granule)?;
    }
    Ok(())
}

/// Decodes a stored recording back to interleaved 8 kHz stereo samples.
pub fn decode_stereo(bytes: &[u8]) -> Result<Vec<i16>, OpusFileError> {
    let mut dec = StereoDecoder::new(std::io::Cursor::new(bytes))?;
    let mut out = Vec::new();
    while let Some(chunk) = dec.next_chunk()? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A stored recording decoded a packet at a time (a download of hours of audio is
/// streamed without holding it in memory).
pub struct StereoDecoder<R: std::io::Read + std::io::Seek> {
    reader: ogg::PacketReader<R>,
    dec: opus_rs::multistream::MultistreamDecoder,
    pcm: Vec<f32>,
}

impl<R: std::io::Read + std::io::Seek> StereoDecoder<R> {
    /// Reads the Opus header of a two-stream recording.
    pub fn new(source: R) -> Result<StereoDecoder<R>, OpusFileError> {
        let mut reader = ogg::PacketReader::new(source);
        let head =
            reader.read_packet().map_err(|e| OpusFileError::Format(e.to_string()))?.ok_or_else(|| OpusFileError::Format("empty".into()))?;
        if head.data.len() < 19 || &head.data[..8] != b"OpusHead" {
            return Err(OpusFileError::Format("not Ogg/Opus".into()));
        }
        let channels = head.data[9];
        let table = opus_rs::multistream::ChannelMappingTable::parse(head.data[18], channels, &head.data[19..])
            .ok_or_else(|| OpusFileError::Format("expected a two-stream recording".into()))?;
        let dec = opus_rs::multistream::MultistreamDecoder::new(8000, table).map_err(|e| OpusFileError::Codec(e.into()))?;
        Ok(StereoDecoder { reader, dec, pcm: vec![0f32; 960 * 2] })
    }

    /// The next packet's interleaved samples; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<i16>>, OpusFileError> {
        loop {
            let Some(p) = self.reader.read_packet().map_err(|e| OpusFileError::Format(e.to_string()))? else { return Ok(None) };
            if p.data.starts_with(b"OpusTags") {
                continue;
            }
            let n = self.dec.decode(&p.data, 960, &mut self.pcm).map_err(|e| OpusFileError::Codec(e.into()))?;
            return Ok(Some(self.pcm[..n * 2].iter().map(|x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16).collect()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_round_trip_keeps_each_channel() {
        // Left: 400 Hz tone, right: silence then 1 kHz tone.
        let n = 8000 * 3;
        let mut s = Vec::with_capacity(n * 2);
        for i in 0..n {
            let l = ((i as f32 * 2.0 * std::f32::consts::PI * 400.0 / 8000.0).sin() * 8000.0) as i16;
            let r = if i < n / 2 { 0 } else { ((i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 8000.0).sin() * 8000.0) as i16 };
            s.push(l);
            s.push(r);
        }
        let mut file = Vec::new();
        encode_stereo(&s, &mut file).unwrap();
        assert!(file.len() < 3 * 240_000 / 60, "{} bytes for 3 s", file.len());
        let back = decode_stereo(&file).unwrap();
        assert!((back.len() as i64 - s.len() as i64).abs() <= 640);
        let energy = |ch: usize, from: usize, to: usize| {
            back.iter().skip(from * 2 + ch).step_by(2).take(to - from).map(|x| (*x as f64).powi(2)).sum::<f64>() / (to - from) as f64
        };
        assert!(energy(0, 2000, 10000).sqrt() > 3000.0);
        assert!(energy(1, 2000, 10000).sqrt() < 100.0, "right channel silent in the first half: no crosstalk");
        assert!(energy(1, 14000, 22000).sqrt() > 3000.0);
    }
}
