//! The PBX: configuration, the operator's CLI, the call engine and the server that wires the
//! engine to sockets, storage and media.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod billing;
pub mod cli;
pub mod company;
pub mod config;
pub mod contacts;
pub mod engine;
pub mod http;
pub mod integration_rounds;
pub mod integrations;
pub mod keys;
pub mod metrics;
pub mod originator;
pub mod plugin_settings;
pub mod plugins;
pub mod prompts;
pub mod scenario;
pub mod serve;
pub mod transport;
pub mod web;
pub mod webhooks;
pub mod webrtc;
