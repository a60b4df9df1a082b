//! The first-party plugins as WebAssembly components, compiled by this crate's build script
//! and embedded here so a fresh install of the PBX has them without any download.

include!(concat!(env!("OUT_DIR"), "/paths.rs"));

/// A first-party plugin shipped in the binary.
pub struct Bundled {
    /// The name scenarios use.
    pub name: &'static str,
    /// The component.
    pub wasm: &'static [u8],
}

/// Every first-party plugin.
pub const FIRST_PARTY: &[Bundled] = &[
    Bundled { name: "ivr", wasm: include_bytes!(concat!(env!("OUT_DIR"), "/pbx_plugin_ivr.wasm")) },
    Bundled { name: "time-rules", wasm: include_bytes!(concat!(env!("OUT_DIR"), "/pbx_plugin_time_rules.wasm")) },
    Bundled { name: "name-lookup", wasm: include_bytes!(concat!(env!("OUT_DIR"), "/pbx_plugin_name_lookup.wasm")) },
    Bundled { name: "queue", wasm: include_bytes!(concat!(env!("OUT_DIR"), "/pbx_plugin_queue.wasm")) },
];

/// First-party plugins a company installs when it wants them (integrations that talk to a
/// service of its own): shipped in the binary, installed like any plugin (and then granted,
/// set up and upgraded like one), never active by themselves.
pub const CATALOG: &[Bundled] =
    &[Bundled { name: "bitrix24", wasm: include_bytes!(concat!(env!("OUT_DIR"), "/pbx_plugin_bitrix24.wasm")) }];

/// The path of a component built alongside (the template and the test plugins), by file
/// stem, e.g. `test_plugin_spin`.
pub fn component_path(stem: &str) -> std::path::PathBuf {
    std::path::Path::new(WASM_DIR).join(format!("{stem}.wasm"))
}
