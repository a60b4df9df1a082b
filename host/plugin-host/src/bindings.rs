//! Host-side bindings generated from `wit/plugin.wit` (the current contract, 0.2) and from
//! `wit/0.1/plugin.wit` (the previous one, still served: see [`crate::legacy`]).
#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../../wit/plugin.wit",
    world: "plugin",
    additional_derives: [PartialEq],
});

/// Contract 0.1, frozen.
pub mod v01 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1/plugin.wit",
        world: "plugin",
        additional_derives: [PartialEq],
    });
}
