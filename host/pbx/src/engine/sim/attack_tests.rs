//! Attacks on the engine in virtual time: replayed credentials, forged failures, hostile
//! values in headers.

use super::*;
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, SipMessage};
use pbx_sip::method::Method;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The last request of `method` a phone sent that carried credentials in `header`.
fn last_authenticated(sim: &mut Sim, p: SocketAddr, method: Method, header: &HeaderName) -> Request {
    sim.phone(p)
        .sent
        .iter()
        .rev()
        .filter_map(|(_, b)| match parse_message(b, Framing::Datagram).ok()?.message {
            Message::Request(r) if r.method == method && r.headers.get(header).is_some() => Some(r),
            _ => None,
        })
        .next()
        .expect("an authenticated request")
}

/// Final statuses the PBX sent to `to` for requests of Call-ID `call_id` (one per
/// transaction: retransmissions of the same answer are left out).
fn answers(sim: &Sim, to: SocketAddr, call_id: &str) -> Vec<u16> {
    let mut seen = std::collections::HashSet::new();
    sim.sent_to(to)
        .into_iter()
        .filter_map(|m| match m {
            Message::Response(r) if r.call_id() == call_id && r.status >= 200 => {
                let branch = r.top_via().and_then(|v| v.branch().map(str::to_string)).unwrap_or_default();
                seen.insert(branch).then_some(r.status)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_register_replayed_from_elsewhere_is_challenged_and_the_binding_stays() {
    let mut sim = Sim::office();
    let victim = sim.add_phone("101");
    let caller = sim.add_phone("102");
    sim.register(victim);
    sim.register(caller);
    let mut replay = last_authenticated(&mut sim, victim, Method::Register, &HeaderName::Authorization);
    let attacker: SocketAddr = "10.0.9.9:5060".parse().unwrap();
    replay.headers.set(HeaderName::Contact, "<sip:101@10.0.9.9:5060>");
    replay.headers.set(HeaderName::Via, "SIP/2.0/UDP 10.0.9.9:5060;branch=z9hG4bKreplay1;rport");
    sim.inject(attacker, &replay.to_bytes());
    // The attacker also tries to unbind the victim.
    let mut unbind = replay.clone();
    unbind.headers.set(HeaderName::Contact, "*");
    unbind.headers.set(HeaderName::Expires, "0");
    unbind.headers.set(HeaderName::Via, "SIP/2.0/UDP 10.0.9.9:5060;branch=z9hG4bKreplay2;rport");
    sim.inject(attacker, &unbind.to_bytes());
    sim.run_for(secs(1));
    let got = answers(&sim, attacker, replay.call_id());
    assert_eq!(got, vec![401, 401], "a replayed credential gets a fresh challenge, never 200");
    // Calls to 101 still reach the victim's phone, never the attacker.
    sim.phone(victim).auto.answer_after = Some(secs(1));
    let call = sim.call(caller, "101");
    sim.run_for(secs(2));
    assert_eq!(sim.phone(caller).statuses(&call).last(), Some(&200));
    assert!(sim.sent_to(attacker).iter().all(|m| !matches!(m, Message::Request(_))));
}

#[test]
fn a_credential_for_one_call_cannot_place_another() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    let c = sim.add_phone("103");
    for p in [a, b, c] {
        sim.register(p);
    }
    let call = sim.call(a, "102");
    sim.run_for(secs(1));
    let t = sim.t;
    sim.phone(a).cancel(t, &call);
    sim.run_for(secs(1));
    let invite = last_authenticated(&mut sim, a, Method::Invite, &HeaderName::ProxyAuthorization);
    let attacker: SocketAddr = "10.0.9.9:5060".parse().unwrap();
    // The same credential towards another extension: refused for naming another URI.
    let mut other = invite.clone();
    other.uri = pbx_sip::Uri::parse("sip:103@acme.example").unwrap();
    other.headers.set(HeaderName::To, "<sip:103@acme.example>");
    other.headers.set(HeaderName::CallId, "replayed-1");
    other.headers.set(HeaderName::Via, "SIP/2.0/UDP 10.0.9.9:5060;branch=z9hG4bKr1;rport");
    sim.inject(attacker, &other.to_bytes());
    // The very same request again from elsewhere: a replay, challenged.
    let mut same = invite.clone();
    same.headers.set(HeaderName::CallId, "replayed-2");
    same.headers.set(HeaderName::Via, "SIP/2.0/UDP 10.0.9.9:5060;branch=z9hG4bKr2;rport");
    sim.inject(attacker, &same.to_bytes());
    sim.run_for(secs(2));
    assert_eq!(answers(&sim, attacker, "replayed-1"), vec![400]);
    assert_eq!(answers(&sim, attacker, "replayed-2"), vec![407]);
    assert!(sim.phone(c).incoming_calls().is_empty(), "103 never rang");
    assert_eq!(sim.phone(b).incoming_calls().len(), 1, "only the real call rang 102");
}

#[test]
fn forged_failures_never_cut_off_the_phones_registered_from_an_address() {
    let mut sim = Sim::office();
    let office = sim.add_phone("101");
    sim.register(office);
    // Wrong passwords "from" the office's address (another port of it) and from a stranger.
    let forger: SocketAddr = "10.0.1.101:6000".parse().unwrap();
    let stranger: SocketAddr = "10.0.9.9:5060".parse().unwrap();
    for p in [forger, stranger] {
        sim.add_phone_at(p, "101");
        sim.phone(p).password = "wrong-guess".into();
        for _ in 0..25 {
            let t = sim.t;
            sim.phone(p).register(t, 60);
            sim.run_for(secs(6));
        }
    }
    // The stranger is blocked now, even with the right password...
    sim.phone(stranger).password = "secret101".into();
    let t = sim.t;
    sim.phone(stranger).register(t, 60);
    sim.run_for(secs(6));
    let last = sim.phone(stranger).received.iter().rev().find_map(|(_, m)| match m {
        Message::Response(r) if r.cseq().is_some_and(|c| c.method == Method::Register) => Some(r.status),
        _ => None,
    });
    assert_eq!(last, Some(403));
    // ...while the office's phones, behind the address the failures were forged from, go on.
    let t = sim.t;
    sim.phone(office).register(t, 3600);
    sim.run_for(secs(6));
    let last = sim.phone(office).received.iter().rev().find_map(|(_, m)| match m {
        Message::Response(r) if r.cseq().is_some_and(|c| c.method == Method::Register) => Some(r.status),
        _ => None,
    });
    assert_eq!(last, Some(200));
    // Holding a registration there gives nothing for other accounts: 102's right password
    // from the blocked address is refused.
    let other: SocketAddr = "10.0.1.101:7000".parse().unwrap();
    sim.add_phone_at(other, "102");
    let t = sim.t;
    sim.phone(other).register(t, 60);
    sim.run_for(secs(6));
    let last = sim.phone(other).received.iter().rev().find_map(|(_, m)| match m {
        Message::Response(r) if r.cseq().is_some_and(|c| c.method == Method::Register) => Some(r.status),
        _ => None,
    });
    assert_eq!(last, Some(403));
}

/// A tiny deterministic generator for the property test.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A hostile string: control characters, separators, escapes and Unicode.
    fn hostile(&mut self) -> String {
        const PIECES: &[&str] = &[
            "\r\n",
            "\r",
            "\n",
            "\0",
            "%0D%0A",
            "%0d%0a",
            "%00",
            "%3A",
            "Subject: x",
            ";tag=1",
            ",",
            "<",
            ">",
            "\"",
            "\\",
            "€",
            "Иван",
            "\u{2028}",
            "1",
            "+7",
            "*",
            "#",
            " ",
            "Contact:",
            "l: 0",
        ];
        let n = 1 + (self.next() % 8) as usize;
        (0..n).map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize]).collect()
    }
}

/// %-escapes every byte that is not unreserved, so any string fits in a URI user part.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Quotes a display name the way a careful peer would (escaping `"` and `\`), keeping
/// anything else (a parser must refuse or clean what is left).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c == '\r' || c == '\n' {
            continue;
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Header names the PBX writes itself; anything else in what it sends came from a peer.
const OWN_HEADERS: &[&str] = &[
    "Via",
    "Max-Forwards",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Allow",
    "Supported",
    "User-Agent",
    "Server",
    "P-Asserted-Identity",
    "Content-Type",
    "Content-Length",
    "Record-Route",
    "Route",
    "Require",
    "Session-Expires",
    "Min-SE",
    "Warning",
    "Accept",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Event",
    "Subscription-State",
    "Reason",
    "Unsupported",
    "Retry-After",
];

#[test]
fn no_peer_value_carries_a_line_break_into_what_the_pbx_sends() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut sim = Sim::office();
    let carrier = sim.add_carrier();
    let phone = sim.add_phone("101");
    sim.phone(phone).auto.answer_after = Some(Duration::from_millis(300));
    sim.register(phone);
    for i in 0..200 {
        let (user, name) = (g.hostile(), g.hostile());
        let invite = format!(
            "INVITE sip:{did}@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5060;branch=z9hG4bKprop{i}\r\nMax-Forwards: 70\r\n\
             From: {name} <sip:{user}@10.0.2.1>;tag=p{i}\r\nTo: <sip:{did}@10.0.0.1>\r\nCall-ID: prop-{i}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:c@10.0.2.1>\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
            did = DID.trim_start_matches('+'),
            name = quoted(&name),
            user = escape(&user),
        );
        sim.inject(carrier, invite.as_bytes());
        sim.run_for(Duration::from_millis(800));
        let t = sim.t;
        let open: Vec<String> = sim.phone(carrier).dialogs.keys().cloned().collect();
        for id in open {
            sim.phone(carrier).bye(t, &id);
        }
        sim.run_for(Duration::from_millis(300));
    }
    sim.run_for(secs(40));
    let mut checked = 0;
    for (_, to, bytes) in &sim.pbx_sent {
        let text = String::from_utf8_lossy(bytes);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        for line in head.lines().skip(1) {
            assert!(!line.contains('\0') && !line.contains('\r'), "a control character reached {to}: {line:?}");
            let name = line.split(':').next().unwrap_or("").trim();
            assert!(OWN_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)), "a header the PBX never writes reached {to}: {line:?}");
        }
        checked += 1;
    }
    assert!(checked > 400, "only {checked} messages were checked");
    assert!(sim.phone(phone).incoming_calls().len() >= 150, "the calls rang the phone");
}

#[test]
fn a_flood_of_forged_carrier_calls_leaves_media_for_other_tenants() {
    let mut cfg = SimConfig::default();
    cfg.engine.rtp_ports = (20000, 20079); // 20 media sessions
    cfg.engine.limits = crate::engine::limits::CallLimits { reserve: 4, ..Default::default() };
    let mut sim = Sim::new(office(), cfg);
    let carrier = sim.add_carrier();
    let acme = sim.add_phone("101");
    let (b1, b2) = (sim.add_phone("201"), sim.add_phone("202"));
    for p in [acme, b1, b2] {
        sim.register(p);
    }
    sim.phone(b2).auto.answer_after = Some(secs(1));
    // 130 INVITEs that ring acme's phone forever.
    for i in 0..130 {
        let invite = format!(
            "INVITE sip:{did}@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5060;branch=z9hG4bKflood{i}\r\nMax-Forwards: 70\r\n\
             From: <sip:74950000{i:03}@10.0.2.1>;tag=f{i}\r\nTo: <sip:{did}@10.0.0.1>\r\nCall-ID: flood-{i}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:c@10.0.2.1>\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
            did = DID.trim_start_matches('+'),
        );
        sim.inject(carrier, invite.as_bytes());
    }
    sim.run_for(secs(1));
    let refused = (0..130).filter(|i| answers(&sim, carrier, &format!("flood-{i}")).contains(&503)).count();
    assert!(refused >= 110, "the flood took only its share: {refused} refused");
    // The other tenant still calls.
    let call = sim.call(b1, "202");
    sim.run_for(secs(2));
    assert_eq!(sim.phone(b1).statuses(&call).last(), Some(&200), "beta's call goes through during the flood");
}

#[test]
fn one_user_cannot_hold_more_than_their_share_of_calls() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.register(a);
    sim.register(b);
    let calls: Vec<String> = (0..10).map(|_| sim.call(a, "102")).collect();
    sim.run_for(secs(2));
    let refused = calls.iter().filter(|c| sim.phone(a).statuses(c).contains(&503)).count();
    assert_eq!(refused, 2, "the default cap is 8 calls per user");
    // Once one ends, a new call is taken again.
    let t = sim.t;
    sim.phone(a).cancel(t, &calls[0]);
    sim.run_for(secs(1));
    let again = sim.call(a, "102");
    sim.run_for(secs(1));
    assert!(!sim.phone(a).statuses(&again).contains(&503));
}
