//! Scenarios: what happens to a call to a city number. A scenario is a graph whose nodes
//! are built-in steps (dial, play, hang up) or plugin instances with their configuration,
//! and whose edges map a node's outputs to the next node.
//!
//! [`model`] is the stored JSON, [`validate`] checks it when it is saved, and [`runner`] is
//! the sans-IO machine that walks a call through it: it asks for plugin decisions and media
//! steps and is fed their results, so the call engine, the simulator and the tests drive
//! the same code.

pub mod catalog;
pub mod default_setup;
pub mod model;
pub mod runner;
pub mod service;
pub mod simulate;
pub mod validate;

pub use model::{Node, NodeKind, Scenario};
pub use runner::{Command, Feedback, Runner, TraceStep};
pub use validate::{Catalog, validate};
