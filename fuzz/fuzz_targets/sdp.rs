//! Any bytes as an SDP offer: parsing, the codec choice and the answer built from it never
//! panic, and what the PBX writes parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx_sip::sdp::{self, Direction, Sdp};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = Sdp::parse(data) else { return };
    let _ = offer.audio_target();
    let _ = offer.audio_direction();
    let formats = offer.audio().and_then(sdp::supported_formats).unwrap_or_else(sdp::default_formats);
    let answer = sdp::build(1, 1, "127.0.0.1".parse().unwrap(), 20000, formats, Direction::SendRecv, Some(&offer));
    let bytes = answer.to_bytes();
    assert!(Sdp::parse(&bytes).is_ok(), "the PBX's own SDP must parse");
    let _ = offer.to_bytes();
});
