//! Prompts the PBX plays: decoded once into 8 kHz samples and pre-encoded in both G.711 laws,
//! shared (`Arc`) by every call that plays them, so a thousand listeners of the same music
//! cost one copy. Built-in prompts in Russian and English ship inside the binary.

use crate::g711::Law;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// One playable prompt.
#[derive(Debug)]
pub struct Prompt {
    /// Name (`welcome`, `digit-3`...).
    pub name: String,
    /// 8 kHz mono samples.
    pub samples: Arc<[i16]>,
    alaw: Vec<u8>,
    ulaw: Vec<u8>,
}

impl Prompt {
    /// A prompt from 8 kHz mono samples.
    pub fn new(name: &str, samples: Vec<i16>) -> Prompt {
        let alaw = samples.iter().map(|s| Law::Alaw.encode(*s)).collect();
        let ulaw = samples.iter().map(|s| Law::Ulaw.encode(*s)).collect();
        Prompt { name: name.to_string(), samples: samples.into(), alaw, ulaw }
    }

    /// A prompt from the bytes of an 8 kHz mono WAV (PCM16, A-law or µ-law).
    pub fn from_wav(name: &str, bytes: &[u8]) -> Option<Prompt> {
        let w = crate::wav::parse(bytes)?;
        if w.rate != 8000 || w.channels != 1 {
            return None;
        }
        Some(Prompt::new(name, crate::wav::samples(&w)?))
    }

    /// The samples encoded for a leg.
    pub fn encoded(&self, law: Law) -> &[u8] {
        match law {
            Law::Alaw => &self.alaw,
            Law::Ulaw => &self.ulaw,
        }
    }

    /// Length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 / 8
    }
}

macro_rules! builtin_files {
    ($($lang:literal / $name:literal),* $(,)?) => {
        &[$(($lang, $name, include_bytes!(concat!("../prompts/", $lang, "/", $name, ".wav")) as &[u8])),*]
    };
}

const BUILTIN: &[(&str, &str, &[u8])] = builtin_files![
    "en" / "welcome",
    "en" / "please-hold",
    "en" / "not-available",
    "en" / "queue-position",
    "en" / "queue-position-end",
    "en" / "queue-wait",
    "en" / "minutes",
    "en" / "closed",
    "en" / "ivr-menu",
    "en" / "invalid",
    "en" / "goodbye",
    "en" / "callback-offer",
    "en" / "callback-registered",
    "en" / "transfer",
    "en" / "digit-0",
    "en" / "digit-1",
    "en" / "digit-2",
    "en" / "digit-3",
    "en" / "digit-4",
    "en" / "digit-5",
    "en" / "digit-6",
    "en" / "digit-7",
    "en" / "digit-8",
    "en" / "digit-9",
    "ru" / "welcome",
    "ru" / "please-hold",
    "ru" / "not-available",
    "ru" / "queue-position",
    "ru" / "queue-position-end",
    "ru" / "queue-wait",
    "ru" / "minutes",
    "ru" / "closed",
    "ru" / "ivr-menu",
    "ru" / "invalid",
    "ru" / "goodbye",
    "ru" / "callback-offer",
    "ru" / "callback-registered",
    "ru" / "transfer",
    "ru" / "digit-0",
    "ru" / "digit-1",
    "ru" / "digit-2",
    "ru" / "digit-3",
    "ru" / "digit-4",
    "ru" / "digit-5",
    "ru" / "digit-6",
    "ru" / "digit-7",
    "ru" / "digit-8",
    "ru" / "digit-9",
];

const MUSIC: &[u8] = include_bytes!("../prompts/music.wav");

fn builtins() -> &'static HashMap<(String, String), Arc<Prompt>> {
    static CELL: OnceLock<HashMap<(String, String), Arc<Prompt>>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut m = HashMap::new();
        for (lang, name, bytes) in BUILTIN {
            if let Some(p) = Prompt::from_wav(name, bytes) {
                m.insert((lang.to_string(), name.to_string()), Arc::new(p));
            }
        }
        if let Some(p) = Prompt::from_wav("music", MUSIC) {
            let p = Arc::new(p);
            m.insert(("en".into(), "music".into()), p.clone());
            m.insert(("ru".into(), "music".into()), p);
        }
        m
    })
}

/// A built-in prompt in a language (`ru`, `en`); falls back to English.
pub fn builtin(lang: &str, name: &str) -> Option<Arc<Prompt>> {
    let m = builtins();
    m.get(&(lang.to_string(), name.to_string())).or_else(|| m.get(&("en".to_string(), name.to_string()))).cloned()
}

/// Ring-back tone (425 Hz, one second on, four off), for callers whose call the PBX has
/// answered while phones ring.
pub fn ringback() -> Arc<Prompt> {
    static CELL: OnceLock<Arc<Prompt>> = OnceLock::new();
    CELL.get_or_init(|| {
        let samples = (0..5 * 8000)
            .map(|n| if n < 8000 { ((n as f32 * 2.0 * std::f32::consts::PI * 425.0 / 8000.0).sin() * 5000.0) as i16 } else { 0 })
            .collect();
        Arc::new(Prompt::new("ringback", samples))
    })
    .clone()
}

/// Names of the built-in prompts.
pub fn builtin_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = BUILTIN.iter().filter(|(l, _, _)| *l == "en").map(|(_, n, _)| *n).collect();
    v.push("music");
    v
}

/// The prompts that say a number digit by digit (`12` → `digit-1`, `digit-2`).
pub fn say_number(lang: &str, n: u64) -> Vec<Arc<Prompt>> {
    n.to_string().chars().filter_map(|c| builtin(lang, &format!("digit-{c}"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_in_both_languages() {
        for lang in ["en", "ru"] {
            for name in builtin_names() {
                let p = builtin(lang, name).unwrap_or_else(|| panic!("{lang}/{name}"));
                assert!(p.duration_ms() > 200, "{lang}/{name} is {} ms", p.duration_ms());
                assert_eq!(p.encoded(Law::Alaw).len(), p.samples.len());
            }
        }
        assert!(!Arc::ptr_eq(&builtin("en", "welcome").unwrap(), &builtin("ru", "welcome").unwrap()));
        assert!(Arc::ptr_eq(&builtin("en", "music").unwrap(), &builtin("ru", "music").unwrap()), "one decoded copy");
        assert_eq!(say_number("ru", 105).len(), 3);
    }
}
