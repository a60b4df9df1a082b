//! Uploaded audio (WAV of any rate, depth and channel count, MP3, Ogg/Opus, Ogg/Vorbis,
//! FLAC) turned once, at upload, into what the PBX plays: 8 kHz mono, loudness-normalised.
//! Every refusal says what was wrong, and nothing is stored unless all of it worked.

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymErr;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Limits of an upload, checked while it decodes (a tiny file can hold hours of silence at
/// a high rate: nothing is decoded whole before its length is known to be acceptable).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file, bytes.
    pub max_bytes: usize,
    /// Longest audio, seconds.
    pub max_seconds: u32,
    /// Highest sample rate, Hz.
    pub max_rate: u32,
    /// Longest the import may work (decoding and resampling).
    pub max_time: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: 20 * 1024 * 1024, max_seconds: 600, max_rate: 96_000, max_time: std::time::Duration::from_secs(20) }
    }
}

/// Where an import stands against its limits.
struct Budget {
    limits: Limits,
    started: std::time::Instant,
}

impl Budget {
    /// Fails once `samples` at `rate` are past the length limit or the time is up.
    fn check(&self, samples: usize, rate: u32) -> Result<(), ImportError> {
        let seconds = (samples as u64 / u64::from(rate.max(1))) as u32;
        if seconds > self.limits.max_seconds {
            return Err(ImportError::TooLong { seconds, max: self.limits.max_seconds });
        }
        if self.started.elapsed() > self.limits.max_time {
            return Err(ImportError::TooSlow { max: self.limits.max_time.as_secs() });
        }
        Ok(())
    }

    fn rate(&self, rate: u32) -> Result<(), ImportError> {
        if rate == 0 || rate > self.limits.max_rate {
            return Err(ImportError::BadRate { rate, max: self.limits.max_rate });
        }
        Ok(())
    }
}

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// Over the size limit.
    #[error("the file is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Over the length limit.
    #[error("the audio lasts {seconds} s, more than the limit of {max} s")]
    TooLong {
        /// Its length.
        seconds: u32,
        /// The limit.
        max: u32,
    },
    /// Not a format we read.
    #[error("not an audio file (supported: WAV, MP3, Ogg/Opus, Ogg/Vorbis, FLAC)")]
    NotAudio,
    /// Recognised but broken.
    #[error("the audio file is corrupt: {0}")]
    Corrupt(String),
    /// Recognised but without sound.
    #[error("the file contains no audio samples")]
    NoSamples,
    /// A sample rate the PBX does not take.
    #[error("the audio's sample rate is {rate} Hz; at most {max} Hz is accepted")]
    BadRate {
        /// Its rate.
        rate: u32,
        /// The limit.
        max: u32,
    },
    /// Decoding took too long.
    #[error("the file takes too long to decode (more than {max} s); upload a shorter or simpler file")]
    TooSlow {
        /// The limit, seconds.
        max: u64,
    },
}

/// Decodes, mixes to mono, resamples to 8 kHz and normalises loudness.
pub fn import(bytes: &[u8], limits: Limits) -> Result<Vec<i16>, ImportError> {
    if bytes.is_empty() {
        return Err(ImportError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(ImportError::TooLarge { size: bytes.len(), max: limits.max_bytes });
    }
    let budget = Budget { limits, started: std::time::Instant::now() };
    let (mono, rate) = if is_ogg_opus(bytes) {
        decode_ogg_opus(bytes, &budget)?
    } else if let Some(x) = decode_plain_wav(bytes, &budget) {
        x?
    } else {
        decode_symphonia(bytes, &budget)?
    };
    if mono.is_empty() {
        return Err(ImportError::NoSamples);
    }
    budget.check(mono.len(), rate)?;
    let at8k = resample_within(&mono, rate, 8000, &budget)?;
    Ok(normalize(&at8k))
}

/// WAV in the encodings telephony uses (16-bit PCM, A-law, µ-law), read directly.
fn decode_plain_wav(bytes: &[u8], budget: &Budget) -> Option<Result<(Vec<f32>, u32), ImportError>> {
    let w = crate::wav::parse(bytes)?;
    if let Err(e) = budget.rate(w.rate) {
        return Some(Err(e));
    }
    let ch = w.channels.max(1) as usize;
    // The header and the data size tell the length before anything is decoded.
    if let Err(e) = budget.check(w.data.len() / ch / usize::from(w.bits.max(8) / 8), w.rate) {
        return Some(Err(e));
    }
    let s = crate::wav::samples(&w)?;
    Some(Ok((s.chunks(ch).map(|f| f.iter().map(|x| *x as f32).sum::<f32>() / ch as f32).collect(), w.rate)))
}

/// The signatures of the containers we read.
fn has_audio_magic(b: &[u8]) -> bool {
    b.starts_with(b"RIFF")
        || b.starts_with(b"fLaC")
        || b.starts_with(b"OggS")
        || b.starts_with(b"ID3")
        || (b.len() > 1 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0)
}

fn is_ogg_opus(b: &[u8]) -> bool {
    b.starts_with(b"OggS") && b.len() > 36 && &b[28..36] == b"OpusHead"
}

fn decode_symphonia(bytes: &[u8], budget: &Budget) -> Result<(Vec<f32>, u32), ImportError> {
    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes.to_vec())), Default::default());
    let probed = symphonia::default::get_probe()
        .format(&Hint::new(), mss, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(|e| match e {
            // A known container that does not parse is corrupt; anything else is not audio.
            _ if has_audio_magic(bytes) => ImportError::Corrupt(e.to_string()),
            SymErr::Unsupported(_) | SymErr::IoError(_) => ImportError::NotAudio,
            other => ImportError::Corrupt(other.to_string()),
        })?;
    let mut format = probed.format;
    let track = format.tracks().iter().find(|t| t.codec_params.codec != CODEC_TYPE_NULL).ok_or(ImportError::NotAudio)?;
    let track_id = track.id;
    let rate = track.codec_params.sample_rate.ok_or_else(|| ImportError::Corrupt("no sample rate".into()))?;
    budget.rate(rate)?;
    // The stream's own header may tell the length: refuse at once instead of decoding.
    if let Some(frames) = track.codec_params.n_frames {
        budget.check(usize::try_from(frames).unwrap_or(usize::MAX), rate)?;
    }
    let mut decoder =
        symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default()).map_err(|_| ImportError::NotAudio)?;
    let mut mono = Vec::new();
    let mut decoded_any = false;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymErr::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymErr::ResetRequired) => break,
            Err(e) => {
                if decoded_any {
                    break; // A torn tail: keep what decoded.
                }
                return Err(ImportError::Corrupt(e.to_string()));
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(SymErr::DecodeError(e)) => {
                if decoded_any {
                    continue;
                }
                return Err(ImportError::Corrupt(e.to_string()));
            }
            Err(e) => return Err(ImportError::Corrupt(e.to_string())),
        };
        decoded_any = true;
        let spec = *buf.spec();
        let channels = spec.channels.count().max(1);
        let mut sb = SampleBuffer::<f32>::new(buf.capacity() as u64, spec);
        sb.copy_interleaved_ref(buf);
        for frame in sb.samples().chunks(channels) {
            mono.push(frame.iter().sum::<f32>() / channels as f32 * 32768.0);
        }
        budget.check(mono.len(), rate)?;
    }
    Ok((mono, rate))
}

fn decode_ogg_opus(bytes: &[u8], budget: &Budget) -> Result<(Vec<f32>, u32), ImportError> {
    let mut reader = ogg::PacketReader::new(std::io::Cursor::new(bytes));
    let head = reader.read_packet().map_err(|e| ImportError::Corrupt(e.to_string()))?.ok_or(ImportError::NotAudio)?;
    if head.data.len() < 19 || &head.data[..8] != b"OpusHead" {
        return Err(ImportError::NotAudio);
    }
    let channels = head.data[9].clamp(1, 2) as usize;
    let pre_skip = u16::from_le_bytes([head.data[10], head.data[11]]) as usize;
    let mut dec = opus_rs::OpusDecoder::new(48000, channels).map_err(|e| ImportError::Corrupt(e.to_string()))?;
    let mut mono = Vec::new();
    let mut pcm = vec![0f32; 5760 * channels];
    let mut first = true;
    loop {
        let p = match reader.read_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                if mono.is_empty() {
                    return Err(ImportError::Corrupt(e.to_string()));
                }
                break;
            }
        };
        if first && p.data.starts_with(b"OpusTags") {
            first = false;
            continue;
        }
        first = false;
        let n = dec.decode(&p.data, 5760, &mut pcm).map_err(|e| ImportError::Corrupt(e.to_string()))?;
        for frame in pcm[..n * channels].chunks(channels) {
            mono.push(frame.iter().sum::<f32>() / channels as f32 * 32768.0);
        }
        budget.check(mono.len(), 48000)?;
    }
    let skip = pre_skip.min(mono.len());
    Ok((mono[skip..].to_vec(), 48000))
}

/// Band-limited resampling with a Blackman-windowed sinc (offline, at upload time).
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    let unlimited = Budget {
        limits: Limits { max_seconds: u32::MAX, max_time: std::time::Duration::MAX, ..Limits::default() },
        started: std::time::Instant::now(),
    };
    resample_within(input, from, to, &unlimited).unwrap_or_default()
}

/// Phases of the precomputed filter (the fractional position is rounded to one of them).
const PHASES: usize = 256;

/// [`resample`] within an import's time budget. The windowed sinc is computed once per
/// phase into a table, so each output sample costs one multiply-add per tap.
fn resample_within(input: &[f32], from: u32, to: u32, budget: &Budget) -> Result<Vec<f32>, ImportError> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let ratio = from as f64 / to as f64;
    let cutoff = 0.45 * (to.min(from) as f64) / from as f64; // cycles per input sample
    let half = ((16.0 * ratio.max(1.0)).ceil() as i64).max(8);
    let taps = (2 * half) as usize;
    // table[p][j]: the weight of input sample `center - half + 1 + j` at fraction p/PHASES.
    let mut table = vec![0f32; (PHASES + 1) * taps];
    for (p, row) in table.chunks_mut(taps).enumerate() {
        let frac = p as f64 / PHASES as f64;
        for (j, c) in row.iter_mut().enumerate() {
            let x = frac - (j as i64 - half + 1) as f64;
            let sinc =
                if x.abs() < 1e-9 { 2.0 * cutoff } else { (2.0 * std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * x) };
            let w =
                0.42 + 0.5 * (std::f64::consts::PI * x / half as f64).cos() + 0.08 * (2.0 * std::f64::consts::PI * x / half as f64).cos();
            *c = (sinc * w) as f32;
        }
    }
    let n_out = ((input.len() as f64) / ratio).floor() as usize;
    let mut out = Vec::with_capacity(n_out);
    for n in 0..n_out {
        if n % 65_536 == 0 {
            budget.check(0, from)?;
        }
        let t = n as f64 * ratio;
        let center = t.floor() as i64;
        let p = (((t - center as f64) * PHASES as f64).round() as usize).min(PHASES);
        let row = &table[p * taps..(p + 1) * taps];
        let first = center - half + 1;
        let (mut acc, mut norm) = (0.0f32, 0.0f32);
        if first >= 0 && (first as usize + taps) <= input.len() {
            let window = &input[first as usize..first as usize + taps];
            for (c, x) in row.iter().zip(window) {
                acc += c * x;
                norm += c;
            }
        } else {
            for (j, c) in row.iter().enumerate() {
                let k = first + j as i64;
                if k >= 0 && (k as usize) < input.len() {
                    acc += c * input[k as usize];
                    norm += c;
                }
            }
        }
        out.push(if norm.abs() > 1e-9 { acc / norm } else { 0.0 });
    }
    Ok(out)
}

/// Brings speech to about -18 dBFS RMS (measured on its louder parts) with peaks held
/// under -1 dBFS, and converts to 16-bit.
pub fn normalize(samples: &[f32]) -> Vec<i16> {
    let blocks: Vec<f64> =
        samples.chunks(160).map(|b| (b.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>() / b.len() as f64).sqrt()).collect();
    let mut sorted = blocks.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    // The RMS of the louder half of the blocks: pauses do not drag the level down.
    let loud = &sorted[sorted.len() / 2..];
    let rms = if loud.is_empty() { 0.0 } else { (loud.iter().map(|x| x * x).sum::<f64>() / loud.len() as f64).sqrt() };
    let peak = samples.iter().fold(0.0f64, |m, x| m.max((*x as f64).abs()));
    if rms < 1.0 || peak < 1.0 {
        return samples.iter().map(|x| x.clamp(-32768.0, 32767.0) as i16).collect();
    }
    let target_rms = 32768.0 * 10f64.powf(-18.0 / 20.0);
    let max_peak = 32768.0 * 10f64.powf(-1.0 / 20.0);
    let gain = (target_rms / rms).min(max_peak / peak);
    samples.iter().map(|x| ((*x as f64) * gain).round().clamp(-32768.0, 32767.0) as i16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, secs: f32, freq: f32, amp: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize).map(|n| (2.0 * std::f32::consts::PI * freq * n as f32 / rate as f32).sin() * amp).collect()
    }

    #[test]
    fn resampling_keeps_the_tone_and_removes_what_8k_cannot_carry() {
        let low = resample(&sine(44100, 1.0, 440.0, 10000.0), 44100, 8000);
        assert!((low.len() as i64 - 8000).abs() <= 1);
        let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        assert!((rms(&low[100..7900]) - 10000.0 / 2f32.sqrt()).abs() < 300.0);
        let high = resample(&sine(44100, 1.0, 6000.0, 10000.0), 44100, 8000);
        assert!(rms(&high[100..7900]) < 300.0, "6 kHz must be filtered out, rms {}", rms(&high));
    }

    #[test]
    fn wav_uploads_of_any_shape() {
        // 48 kHz stereo 16-bit.
        let st: Vec<i16> = sine(48000, 0.5, 300.0, 3000.0).iter().flat_map(|x| [*x as i16, *x as i16]).collect();
        let out = import(&crate::wav::pcm16(&st, 2, 48000), Limits::default()).unwrap();
        assert!((out.len() as i64 - 4000).abs() <= 2);
        let peak = out.iter().map(|s| s.unsigned_abs()).max().unwrap();
        // -18 dBFS RMS: a sine peaks at about 5800.
        assert!((5000..7000).contains(&peak), "normalised to -18 dBFS, peak {peak}");
        // 8 kHz A-law mono passes straight.
        let al: Vec<u8> = sine(8000, 1.0, 500.0, 8000.0).iter().map(|x| crate::g711::Law::Alaw.encode(*x as i16)).collect();
        let mut bytes = crate::wav::header(crate::wav::Format::Alaw, 1, 8000, al.len() as u32).to_vec();
        bytes.extend_from_slice(&al);
        assert_eq!(import(&bytes, Limits::default()).unwrap().len(), 8000);
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        assert_eq!(import(b"", Limits::default()), Err(ImportError::Empty));
        assert_eq!(import(b"hello, this is a text file, not audio at all", Limits::default()), Err(ImportError::NotAudio));
        let big = vec![0u8; 2000];
        assert_eq!(
            import(&big, Limits { max_bytes: 1000, max_seconds: 10, ..Limits::default() }),
            Err(ImportError::TooLarge { size: 2000, max: 1000 })
        );
        let long: Vec<i16> = vec![100; 8000 * 12];
        assert_eq!(
            import(&crate::wav::pcm16(&long, 1, 8000), Limits { max_bytes: 1 << 30, max_seconds: 10, ..Limits::default() }),
            Err(ImportError::TooLong { seconds: 12, max: 10 })
        );
        let mut torn = crate::wav::pcm16(&long, 1, 8000);
        torn[20] = 0x55; // a format tag nobody knows
        torn[21] = 0x55;
        assert!(matches!(import(&torn, Limits::default()), Err(ImportError::NotAudio | ImportError::Corrupt(_))));
    }
}
