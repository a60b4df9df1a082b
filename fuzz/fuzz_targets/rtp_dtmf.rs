//! Any bytes as RTP, RTCP, RFC 4733 events, SIP INFO DTMF bodies and in-band audio: the
//! media worker's parsers and detectors never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx_media::dtmf::{Goertzel, Rfc4733, parse_info};
use pbx_media::g711::{self, Law};
use pbx_media::rtp::{RtpView, looks_like_rtcp};

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_rtcp(data);
    if let Some(v) = RtpView::parse(data) {
        let _ = (v.payload_type(), v.marker(), v.seq(), v.timestamp(), v.ssrc());
        let mut ev = Rfc4733::default();
        let _ = ev.feed(v.timestamp(), v.payload());
    }
    // A stream of events: 4-byte timestamps followed by 4-byte payloads.
    let mut ev = Rfc4733::default();
    for chunk in data.chunks(8) {
        if chunk.len() == 8 {
            let ts = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let _ = ev.feed(ts, &chunk[4..]);
        }
    }
    let text = String::from_utf8_lossy(data);
    let (ct, body) = text.split_once('\n').unwrap_or(("application/dtmf-relay", &text));
    let _ = parse_info(ct, body.as_bytes());
    let samples: Vec<i16> = data.chunks(2).map(|c| i16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
    let mut g = Goertzel::default();
    let mut out = Vec::new();
    g.feed(&samples, &mut out);
    let mut buf = data.to_vec();
    g711::transcode(&mut buf, Law::Alaw, Law::Ulaw);
});
