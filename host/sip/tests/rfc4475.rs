//! Every RFC 4475 torture message through the parser and the request validator, with the
//! outcome the RFC asks for (see tests/data/rfc4475/INDEX.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pbx_sip::message::Message;
use pbx_sip::parse::{Framing, ParseError, parse_message};
use pbx_sip::validate::{Policy, validate_request, validate_response};

/// What the element must do with a message.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    /// A request processed normally (no syntax refusal).
    Process,
    /// A request answered with this status.
    Status(u16),
    /// A valid response (dropped later for lack of a transaction).
    ValidResponse,
    /// An invalid response: dropped.
    DropResponse,
}

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/rfc4475")
}

fn outcome(bytes: &[u8]) -> (Want, String) {
    match parse_message(bytes, Framing::Datagram) {
        Ok(p) => match p.message {
            Message::Request(r) => match validate_request(&r, &Policy::default()) {
                Ok(()) => (Want::Process, String::new()),
                Err(rej) => (Want::Status(rej.status), rej.reason.clone()),
            },
            Message::Response(r) => match validate_response(&r) {
                Ok(()) => (Want::ValidResponse, String::new()),
                Err(e) => (Want::DropResponse, e),
            },
        },
        Err(ParseError::BadRequest(rej)) => (Want::Status(rej.status), rej.reason.clone()),
        Err(ParseError::BadResponse(e)) => (Want::DropResponse, e),
        Err(e) => panic!("unexpected parser outcome {e:?}"),
    }
}

#[test]
fn torture_messages_get_what_the_rfc_asks() {
    use Want::*;
    let table: &[(&str, Want)] = &[
        ("wsinv", Process),
        ("intmeth", Status(501)),
        ("esc01", Process),
        ("escnull", Process),
        ("esc02", Status(501)),
        ("lwsdisp", Process),
        ("longreq", Process),
        ("dblreq", Process),
        ("semiuri", Process),
        ("transports", Process),
        ("mpart01", Status(405)),
        ("unreason", ValidResponse),
        ("noreason", ValidResponse),
        ("badinv01", Status(400)),
        ("clerr", Status(400)),
        ("ncl", Status(400)),
        ("scalar02", Status(400)),
        ("scalarlg", DropResponse),
        ("quotbal", Status(400)),
        ("ltgtruri", Status(400)),
        ("lwsruri", Status(400)),
        ("lwsstart", Status(400)),
        ("trws", Status(400)),
        // Invalid requests are refused before anything else happens to them (a server that
        // authenticated first answered these with 403).
        ("escruri", Status(400)),
        ("baddate", Status(400)),
        ("regbadct", Status(400)),
        ("badaspec", Status(400)),
        ("baddn", Status(400)),
        ("badvers", Status(505)),
        ("mismatch01", Status(400)),
        ("mismatch02", Status(400)),
        ("bigcode", DropResponse),
        ("badbranch", Process),
        ("insuf", Status(400)),
        ("unkscm", Status(416)),
        ("novelsc", Status(416)),
        ("unksm2", Process),
        ("bext01", Status(420)),
        ("invut", Status(415)),
        ("regaut01", Process),
        ("multi01", Status(400)),
        ("mcl01", Status(400)),
        ("bcast", ValidResponse),
        ("zeromf", Process),
        ("cparam01", Process),
        ("cparam02", Process),
        ("regescrt", Process),
        ("sdp01", Status(406)),
        ("inv2543", Process),
    ];
    assert_eq!(table.len(), 49);
    let mut failures = Vec::new();
    for (name, want) in table {
        let bytes = std::fs::read(data_dir().join(format!("{name}.dat"))).unwrap();
        let (got, reason) = outcome(&bytes);
        if &got != want {
            failures.push(format!("{name}: wanted {want:?}, got {got:?} ({reason})"));
        }
        if let Status(400) = got {
            assert!(reason.len() > 11, "{name}: a 400 must say what was wrong, got {reason:?}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn specific_details() {
    let read = |n: &str| std::fs::read(data_dir().join(format!("{n}.dat"))).unwrap();
    // dblreq: only the REGISTER is processed.
    let p = parse_message(&read("dblreq"), Framing::Datagram).unwrap();
    let Message::Request(r) = p.message else { panic!() };
    assert_eq!(r.method.as_str(), "REGISTER");
    // bext01: 420 lists the unsupported Require tags.
    let Message::Request(r) = parse_message(&read("bext01"), Framing::Datagram).unwrap().message else { panic!() };
    let rej = validate_request(&r, &Policy::default()).unwrap_err();
    let resp = rej.to_response("x");
    let unsupported = resp.headers.get(&pbx_sip::HeaderName::Unsupported).unwrap();
    assert!(unsupported.contains("nothingSupportsThis") && unsupported.contains("nothingSupportsThisEither"));
    // invut: 415 says what it accepts.
    let Message::Request(r) = parse_message(&read("invut"), Framing::Datagram).unwrap().message else { panic!() };
    let resp = validate_request(&r, &Policy::default()).unwrap_err().to_response("x");
    assert!(resp.headers.get(&pbx_sip::HeaderName::Accept).unwrap().contains("application/sdp"));
    // esc01: escaped user decodes.
    let Message::Request(r) = parse_message(&read("esc01"), Framing::Datagram).unwrap().message else { panic!() };
    assert_eq!(r.uri.as_sip().unwrap().user_unescaped().as_deref(), Some("sips:user@example.com"));
    // wsinv: folded and spaced headers are understood.
    let Message::Request(r) = parse_message(&read("wsinv"), Framing::Datagram).unwrap().message else { panic!() };
    use pbx_sip::message::SipMessage;
    assert_eq!(r.cseq().unwrap().seq, 9);
    assert_eq!(r.vias().len(), 3);
    assert_eq!(r.parsed_from().unwrap().tag(), Some("98asjd8"));
    assert_eq!(r.parsed_to().unwrap().tag(), Some("1918181833n"));
    assert_eq!(r.body.len(), 150);
    // A 400 echoes the request's Via so it can be routed back.
    let rej = match parse_message(&read("ncl"), Framing::Datagram) {
        Err(ParseError::BadRequest(r)) => r,
        other => panic!("{other:?}"),
    };
    let resp = rej.to_response("t");
    assert_eq!(resp.headers.get(&pbx_sip::HeaderName::CallId), Some("ncl.0ha0isndaksdj2193423r542w35"));
}

/// A bounded mutation fuzzer: thousands of corrupted torture messages must never panic the
/// parser or the validator, over both framings.
#[test]
fn mutated_messages_never_panic() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut corpus = Vec::new();
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "dat") {
            corpus.push(std::fs::read(p).unwrap());
        }
    }
    let interesting = b" \t\r\n:;,<>\"\\%@=?/0123456789SIP";
    for round in 0..20_000 {
        let base = &corpus[round % corpus.len()];
        let mut m = base.clone();
        for _ in 0..(1 + next() % 8) {
            if m.is_empty() {
                break;
            }
            let pos = (next() as usize) % m.len();
            match next() % 4 {
                0 => m[pos] = interesting[(next() as usize) % interesting.len()],
                1 => {
                    m.remove(pos);
                }
                2 => m.insert(pos, (next() & 0xff) as u8),
                _ => m.truncate(pos),
            }
        }
        for framing in [Framing::Datagram, Framing::Stream] {
            if let Ok(p) = parse_message(&m, framing) {
                match p.message {
                    Message::Request(r) => {
                        let _ = validate_request(&r, &Policy::default());
                        let _ = r.to_bytes();
                    }
                    Message::Response(r) => {
                        let _ = validate_response(&r);
                    }
                }
            }
        }
    }
}
