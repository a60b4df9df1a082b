//! A cabinet session's WebSocket speaks for its user: REGISTER and INVITE on that
//! connection, as that user, need no digest; anything else on it (another user's name, or
//! the same name on another connection) is challenged as usual.

use super::*;
use pbx_sip::transaction::{Target, Transport};

const BROWSER: &str = "127.0.0.1:50123";

fn register_as(ext: &str, conn: u64) -> Input {
    let bytes = format!(
        "REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws{ext}{conn}\r\nMax-Forwards: 70\r\n\
         From: <sip:{ext}@acme.example>;tag=w{conn}\r\nTo: <sip:{ext}@acme.example>\r\nCall-ID: ws-reg-{ext}-{conn}\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:k7b3@df7jal23ls0d.invalid;transport=ws>;expires=600\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
    );
    let msg = parse_message(bytes.as_bytes(), Framing::Datagram).map(|p| p.message).unwrap_or_else(|e| panic!("{e}"));
    let addr: SocketAddr = BROWSER.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1)));
    Input::Sip { msg, source: Target { transport: Transport::Ws, addr, conn: Some(conn) } }
}

fn statuses(sim: &Sim) -> Vec<u16> {
    let addr: SocketAddr = BROWSER.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1)));
    sim.sent_to(addr).iter().filter_map(|m| if let Message::Response(r) = m { Some(r.status) } else { None }).collect()
}

#[test]
fn the_sessions_connection_registers_its_user_without_a_digest() {
    let mut sim = Sim::new(office(), SimConfig::default());
    sim.feed(Input::FlowUser { conn: 7, user_id: 101 });
    sim.feed(register_as("101", 7));
    sim.run_for(Duration::from_millis(100));
    assert_eq!(statuses(&sim), vec![200], "the session's own user is registered");
}

#[test]
fn another_name_or_another_connection_is_challenged() {
    let mut sim = Sim::new(office(), SimConfig::default());
    sim.feed(Input::FlowUser { conn: 7, user_id: 101 });
    sim.feed(register_as("102", 7));
    sim.feed(register_as("101", 8));
    sim.run_for(Duration::from_millis(100));
    assert_eq!(statuses(&sim), vec![401, 401], "a session speaks for its own user on its own connection only");
}

#[test]
fn a_closed_connection_forgets_its_user() {
    let mut sim = Sim::new(office(), SimConfig::default());
    sim.feed(Input::FlowUser { conn: 7, user_id: 101 });
    sim.feed(Input::ConnectionClosed(7));
    sim.feed(register_as("101", 7));
    sim.run_for(Duration::from_millis(100));
    assert_eq!(statuses(&sim), vec![401]);
}
