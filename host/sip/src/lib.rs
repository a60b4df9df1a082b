//! Sans-IO SIP for the PBX.
//!
//! Everything here is a pure function or a state machine fed with bytes and the current
//! time: the message model and its parser (RFC 3261 and the RFC 4475 torture rules),
//! URIs and name-addr values, digest authentication (RFC 2617/7616/8760), SDP offer/answer,
//! and the transaction layer with timers A–K as inputs. Sockets live elsewhere.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod digest;
pub mod header;
pub mod message;
pub mod method;
pub mod name_addr;
pub mod parse;
pub mod peer;
pub mod sdp;
pub mod text;
pub mod transaction;
pub mod uri;
pub mod validate;
pub mod via;

pub use header::{HeaderName, Headers};
pub use message::{Message, Request, Response};
pub use method::Method;
pub use name_addr::NameAddr;
pub use parse::{ParseError, parse_message};
pub use uri::{SipUri, Uri};
pub use via::Via;
