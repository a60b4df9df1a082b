//! Recordings as MP3 for CRMs that take only WAV or MP3 (Bitrix24's `attachRecord`): the
//! two 8 kHz channels of a recording encoded as they are decoded (MPEG-2.5 Layer III, CBR
//! 32 kbps: an eighth of the WAV), with `rusty_mp3` (pure Rust, Apache-2.0; LAME's
//! bindings would bring an LGPL C library into the binary).

use rusty_mp3::{Error, Mp3Encoder, Mp3EncoderConfig};

/// The recordings' sample rate.
const RATE: u32 = 8000;
/// Interleaved channels (caller, callee).
const CHANNELS: u16 = 2;

/// Why a recording cannot be encoded.
#[derive(Debug, thiserror::Error)]
#[error("MP3 encoding failed: {0}")]
pub struct Mp3Error(String);

/// An MP3 encoder fed 8 kHz stereo PCM in pieces, answering the encoded bytes ready so far.
pub struct Mp3Stream {
    enc: Mp3Encoder,
}

impl Default for Mp3Stream {
    fn default() -> Mp3Stream {
        Mp3Stream::new()
    }
}

impl Mp3Stream {
    /// A stream at 32 kbps.
    pub fn new() -> Mp3Stream {
        Mp3Stream { enc: Mp3Encoder::new(Mp3EncoderConfig { bitrate_kbps: 32, vbr_quality: None }) }
    }

    /// Encodes interleaved stereo samples; the MP3 bytes complete so far.
    pub fn push(&mut self, stereo: &[i16]) -> Result<Vec<u8>, Mp3Error> {
        self.enc.push_pcm_s16(stereo, CHANNELS, RATE).map_err(|e| Mp3Error(format!("{e:?}")))?;
        self.drain()
    }

    /// Ends the stream; the last bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, Mp3Error> {
        self.enc.finish();
        self.drain()
    }

    fn drain(&mut self) -> Result<Vec<u8>, Mp3Error> {
        let mut out = Vec::new();
        loop {
            match self.enc.next_packet() {
                Ok(p) => out.extend_from_slice(&p),
                Err(Error::Again | Error::Eof) => return Ok(out),
                Err(e) => return Err(Mp3Error(format!("{e:?}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_stereo_speech_band_audio_is_a_small_decodable_mp3() {
        let tone: Vec<i16> = (0..8000)
            .flat_map(|i| {
                let s = ((i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 8000.0) as i16;
                [s, s / 2]
            })
            .collect();
        let mut m = Mp3Stream::new();
        let mut bytes = Vec::new();
        for chunk in tone.chunks(1600) {
            bytes.extend(m.push(chunk).unwrap());
        }
        bytes.extend(m.finish().unwrap());
        assert!(bytes.len() > 2000 && bytes.len() < 8000, "{} bytes for a second at 32 kbps", bytes.len());
        // Frame sync of the first audio frame (after any Info tag frame).
        assert!(bytes.windows(2).any(|w| w[0] == 0xFF && w[1] & 0xE0 == 0xE0));
        let mut dec = rusty_mp3::Mp3Decoder::new();
        dec.push(&bytes);
        dec.flush();
        let mut got = 0usize;
        while let Ok(frame) = dec.next_frame() {
            got += frame.samples.len();
        }
        assert!(got >= 8000 * 2, "decoded {got} samples");
    }
}
