//! How much CPU storing a recording compactly costs, and how big it is.
//! Run: `cargo run --release -p pbx-media --example compress_bench`
#![allow(clippy::unwrap_used)]

fn main() {
    // One minute of two-party "speech": two different voiced signals with pauses.
    let n = 8000 * 60;
    let mut s = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f32 / 8000.0;
        let env_a = if (t as u32) % 4 < 2 { 1.0 } else { 0.0 };
        let env_b = if (t as u32) % 4 >= 2 { 1.0 } else { 0.0 };
        let a =
            ((t * 2.0 * std::f32::consts::PI * 180.0).sin() * 0.6 + (t * 2.0 * std::f32::consts::PI * 720.0).sin() * 0.3) * 9000.0 * env_a;
        let b =
            ((t * 2.0 * std::f32::consts::PI * 240.0).sin() * 0.5 + (t * 2.0 * std::f32::consts::PI * 1100.0).sin() * 0.4) * 9000.0 * env_b;
        s.push(a as i16);
        s.push(b as i16);
    }
    let runs = 5;
    let t0 = std::time::Instant::now();
    let mut size = 0;
    for _ in 0..runs {
        let mut out = Vec::new();
        pbx_media::opusfile::encode_stereo(&s, &mut out).unwrap();
        size = out.len();
    }
    let per_min = t0.elapsed().as_secs_f64() / runs as f64;
    println!("stored minute: {size} bytes (interim A-law WAV: {} bytes, G.711 WAV: 960000)", n * 2 + 46);
    println!("compression: {:.3} s of CPU per recorded minute ({:.0}x real time)", per_min, 60.0 / per_min);
    let t1 = std::time::Instant::now();
    let mut out = Vec::new();
    pbx_media::opusfile::encode_stereo(&s, &mut out).unwrap();
    let back = pbx_media::opusfile::decode_stereo(&out).unwrap();
    println!("export to WAV: {:.3} s per minute, {} samples", t1.elapsed().as_secs_f64() - per_min, back.len() / 2);
}
