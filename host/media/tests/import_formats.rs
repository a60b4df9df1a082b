//! Every supported upload format decodes to 8 kHz mono at the right length; each kind of bad
//! file is refused with its own message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pbx_media::import::{ImportError, Limits, import};

fn file(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/audio").join(name)).unwrap()
}

#[test]
fn supported_formats() {
    for (name, secs) in [
        ("greeting-44k-stereo-24bit.wav", 1.0),
        ("greeting-8k-mono.wav", 2.0),
        ("greeting.flac", 2.0),
        ("greeting.ogg", 2.0),
        ("greeting.mp3", 2.0),
        ("greeting.opus", 2.0),
    ] {
        let out = import(&file(name), Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = out.len() as f64 / 8000.0;
        assert!((got - secs).abs() < 0.1, "{name}: {got} s");
        let rms = (out.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / out.len() as f64).sqrt();
        assert!((2500.0..6000.0).contains(&rms), "{name}: normalised level, rms {rms}");
    }
}

#[test]
fn bad_files() {
    assert_eq!(import(&[], Limits::default()), Err(ImportError::Empty));
    assert_eq!(import(&file("not-audio.txt"), Limits::default()), Err(ImportError::NotAudio));
    assert!(
        matches!(import(&file("corrupt.flac"), Limits::default()), Err(ImportError::Corrupt(_))),
        "{:?}",
        import(&file("corrupt.flac"), Limits::default())
    );
    assert!(matches!(
        import(&file("greeting.mp3"), Limits { max_bytes: 1000, max_seconds: 600, ..Limits::default() }),
        Err(ImportError::TooLarge { .. })
    ));
    assert!(matches!(
        import(&file("greeting.flac"), Limits { max_bytes: 1 << 30, max_seconds: 1, ..Limits::default() }),
        Err(ImportError::TooLong { seconds: 2, max: 1 })
    ));
    for e in [ImportError::Empty, ImportError::NotAudio, ImportError::Corrupt("x".into())] {
        assert!(!e.to_string().is_empty());
    }
    // A small file that decodes to a lot: refused by what it is, checked while decoding.
    assert!(matches!(import(&file("silence-192k.flac"), Limits::default()), Err(ImportError::BadRate { rate: 192_000, max: 96_000 })));
    assert!(matches!(
        import(&file("silence-48k-20min.flac"), Limits::default()),
        Err(ImportError::TooLong { seconds, max: 600 }) if seconds > 600
    ));
}
