//! A hostile plugin for the sandbox tests: panics (a trap in WebAssembly) on every call.

use pbx_plugin_sdk::{Event, Metadata, Plugin, Verb, export_plugin, metadata};

/// Traps.
pub struct Crash;

impl Plugin for Crash {
    fn describe() -> Metadata {
        metadata("crash", "0.1.0", "Traps (sandbox test)", &["done"], "{}")
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        let depth = std::hint::black_box(usize::from(matches!(event, Event::CallArrived(_))));
        let v: Vec<u8> = Vec::new();
        // An out-of-bounds index: a panic, which is a trap in WebAssembly.
        Ok(vec![Verb::Next(format!("{}", v[depth + 3]))])
    }
}

export_plugin!(Crash);
