//! The SDK for PBX routing plugins.
//!
//! A plugin is a type implementing [`Plugin`], exported with [`export_plugin!`] and built with
//! `cargo build --release --target wasm32-wasip2`, which makes a WebAssembly component the
//! PBX loads. The host calls [`Plugin::handle`] with an [`Event`] and carries out the
//! [`Verb`]s it answers with. [`host`] is what a plugin may ask of the PBX; [`testing`] runs a
//! plugin natively in tests, with a simulated host.
//!
//! ```
//! use pbx_plugin_sdk::*;
//! struct Hello;
//! impl Plugin for Hello {
//!     fn describe() -> Metadata { metadata("hello", "0.1.0", "Greets and moves on", &["done"], "{}") }
//!     fn handle(event: Event) -> Result<Vec<Verb>, String> {
//!         Ok(match event {
//!             Event::CallArrived(_) => vec![Verb::Answer, Verb::Play(vec!["welcome".into()])],
//!             _ => vec![Verb::Next("done".into())],
//!         })
//!     }
//! }
//! export_plugin!(Hello);
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

/// The bindings generated from `wit/plugin.wit` (the SDK's types re-export them).
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/plugin.wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "pbx_plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub mod host;
pub mod testing;

pub use bindings::pbx::plugin::types::{
    Agent, CallInfo, Capability, Contact, DialOutcome, DialSpec, DialTarget, Event, GatherSpec, Gathered, HttpRequest, HttpResponse,
    Lifecycle, LocalTime, LogLevel, Metadata, OriginateResult, OriginateSpec, QueueState, RecordingLink, TransferInfo, UserInfo, Verb,
    WaitingCaller,
};

/// A routing plugin.
pub trait Plugin {
    /// Name, version, outputs, configuration schema and capabilities.
    fn describe() -> Metadata;
    /// The outputs a node with `config` can take; an error rejects the configuration. The
    /// default is the outputs of [`Plugin::describe`].
    fn outputs(config: &str) -> Result<Vec<String>, String> {
        let _ = config;
        Ok(Self::describe().outputs)
    }
    /// Decides on an event.
    fn handle(event: Event) -> Result<Vec<Verb>, String>;
}

/// Builds [`Metadata`] from string slices.
pub fn metadata(name: &str, version: &str, description: &str, outputs: &[&str], config_schema: &str) -> Metadata {
    Metadata {
        name: name.into(),
        version: version.into(),
        description: description.into(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        config_schema: config_schema.into(),
        capabilities: Vec::new(),
    }
}

/// The call an event is about, if it is about one.
pub fn call_of(event: &Event) -> Option<&CallInfo> {
    match event {
        Event::CallArrived(c) | Event::PlayFinished(c) => Some(c),
        Event::DigitsCollected((c, _)) | Event::DialFinished((c, _)) => Some(c),
        Event::CallLifecycle(l) => Some(&l.call),
        Event::QueueOffer(_) | Event::Webhook(_) | Event::OriginateResult(_) => None,
    }
}

/// A call variable.
pub fn variable<'a>(call: &'a CallInfo, name: &str) -> Option<&'a str> {
    call.variables.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Exports a [`Plugin`] as the component's `plugin` world.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct __PbxExport;
            impl $crate::bindings::Guest for __PbxExport {
                fn describe() -> $crate::Metadata {
                    <$plugin as $crate::Plugin>::describe()
                }
                fn outputs(
                    config: ::std::string::String,
                ) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, ::std::string::String> {
                    <$plugin as $crate::Plugin>::outputs(&config)
                }
                fn handle(event: $crate::Event) -> ::std::result::Result<::std::vec::Vec<$crate::Verb>, ::std::string::String> {
                    <$plugin as $crate::Plugin>::handle(event)
                }
            }
    $crate::bindings::export!(__PbxExport with_types_in $crate::bindings);
        };
    };
}
