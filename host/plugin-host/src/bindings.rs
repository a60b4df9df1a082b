//! Host-side bindings generated from `wit/plugin.wit`.
#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    additional_derives: [PartialEq],
});
