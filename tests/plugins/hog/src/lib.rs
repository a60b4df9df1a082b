//! A hostile plugin for the sandbox tests: allocates memory until something stops it.

use pbx_plugin_sdk::{Event, Metadata, Plugin, Verb, export_plugin, metadata};

/// Grows without bound.
pub struct Hog;

impl Plugin for Hog {
    fn describe() -> Metadata {
        metadata("hog", "0.1.0", "Allocates without bound (sandbox test)", &["done"], "{}")
    }

    fn handle(_event: Event) -> Result<Vec<Verb>, String> {
        // Reserves 1 MiB after 1 MiB without writing it: each reservation grows the linear
        // memory, so the memory limit stops it within microseconds, long before any deadline
        // (writing the bytes would make it race the deadline on a busy machine).
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            chunks.push(std::hint::black_box(Vec::with_capacity(1 << 20)));
            std::hint::black_box(&chunks);
        }
    }
}

export_plugin!(Hog);
