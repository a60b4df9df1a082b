//! A hostile plugin for the sandbox tests: allocates memory until something stops it.

use pbx_plugin_sdk::{Event, Metadata, Plugin, Verb, export_plugin, metadata};

/// Grows without bound.
pub struct Hog;

impl Plugin for Hog {
    fn describe() -> Metadata {
        metadata("hog", "0.1.0", "Allocates without bound (sandbox test)", &["done"], "{}")
    }

    fn handle(_event: Event) -> Result<Vec<Verb>, String> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            chunks.push(vec![7u8; 1 << 20]);
            std::hint::black_box(&chunks);
        }
    }
}

export_plugin!(Hog);
