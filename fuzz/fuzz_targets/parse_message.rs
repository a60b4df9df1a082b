//! Any bytes through the SIP parser, both framings, then the validator and the serializer:
//! nothing may panic. Run: `cargo fuzz run parse_message -- -max_total_time=300`
//! (stable toolchains: `RUSTC_BOOTSTRAP=1`), seeded from tests/data/rfc4475.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx_sip::message::{Message, SipMessage};
use pbx_sip::parse::{Framing, parse_message};
use pbx_sip::validate::{Policy, validate_request, validate_response};

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Datagram, Framing::Stream] {
        match parse_message(data, framing) {
            Ok(p) => match p.message {
                Message::Request(r) => {
                    let _ = validate_request(&r, &Policy::default());
                    let _ = r.parsed_from();
                    let _ = r.vias();
                    let _ = r.contacts();
                    let bytes = r.to_bytes();
                    // What we write must parse again.
                    assert!(parse_message(&bytes, Framing::Datagram).is_ok());
                }
                Message::Response(r) => {
                    let _ = validate_response(&r);
                }
            },
            Err(pbx_sip::ParseError::BadRequest(rej)) => {
                let _ = rej.to_response("t").to_bytes();
            }
            Err(_) => {}
        }
    }
    let _ = pbx_sip::sdp::Sdp::parse(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = pbx_sip::digest::Credentials::parse(s);
        let _ = pbx_sip::NameAddr::parse(s);
        let _ = pbx_sip::Uri::parse(s);
    }
});
