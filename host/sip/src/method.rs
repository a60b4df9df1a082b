//! SIP request methods.

use std::fmt;

/// A SIP method; unknown extension methods are kept verbatim so they can be answered 501.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// Session setup (RFC 3261).
    Invite,
    /// Acknowledges a final answer to an INVITE.
    Ack,
    /// Ends a dialog.
    Bye,
    /// Cancels a pending INVITE.
    Cancel,
    /// Binds a contact to an address of record.
    Register,
    /// Capability query and keep-alive.
    Options,
    /// Mid-dialog information, e.g. DTMF relay (RFC 6086).
    Info,
    /// Session modification before answer (RFC 3311).
    Update,
    /// Reliable provisional acknowledgement (RFC 3262).
    Prack,
    /// Event subscription (RFC 6665).
    Subscribe,
    /// Event notification (RFC 6665).
    Notify,
    /// Call transfer (RFC 3515).
    Refer,
    /// Instant message (RFC 3428).
    Message,
    /// Event state publication (RFC 3903).
    Publish,
    /// Any other token.
    Other(String),
}

impl Method {
    /// Parses a method token; `None` when the text is not a valid RFC 3261 token.
    pub fn parse(s: &str) -> Option<Method> {
        if s.is_empty() || !s.bytes().all(crate::text::is_token_char) {
            return None;
        }
        Some(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_string()),
        })
    }

    /// The method's wire text.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
