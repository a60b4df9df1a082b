//! A hostile plugin for the sandbox tests: loops forever on every call.

use pbx_plugin_sdk::{Event, Metadata, Plugin, Verb, export_plugin, metadata};

/// Spins.
pub struct Spin;

impl Plugin for Spin {
    fn describe() -> Metadata {
        metadata("spin", "0.1.0", "Loops forever (sandbox test)", &["done"], "{}")
    }

    fn handle(_event: Event) -> Result<Vec<Verb>, String> {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

export_plugin!(Spin);
