//! The phone book names callers from the public network before the phones ring, ahead of
//! whatever name the carrier sends, and only within its own tenant.

use super::*;
use pbx_sip::message::SipMessage;
use pbx_sip::method::Method;

fn contact(tenant_id: i64, number: &str, name: &str) -> (i64, String, String) {
    (tenant_id, number.into(), name.into())
}

/// The display name of the newest call that rang the phone at `phone` (the PBX's leg to
/// the phone has its own Call-ID), and how many calls rang it.
fn shown_name(sim: &mut Sim, phone: SocketAddr) -> (usize, Option<String>) {
    let invites: Vec<_> =
        sim.phone(phone).requests(Method::Invite).into_iter().filter(|(_, r)| r.parsed_to().is_some_and(|t| t.tag().is_none())).collect();
    let name = invites.last().and_then(|(_, r)| r.parsed_from()).map(|f| f.display.unwrap_or_default().trim_matches('"').to_string());
    let mut ids: Vec<String> = invites.iter().map(|(_, r)| r.call_id().to_string()).collect();
    ids.dedup();
    (ids.len(), name)
}

fn carrier_call(sim: &mut Sim, carrier: SocketAddr, call_id: &str, from_user: &str, display: &str) {
    let invite = format!(
        "INVITE sip:{did}@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5060;branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\n\
         From: \"{display}\" <sip:{from_user}@10.0.2.1>;tag=c-{call_id}\r\nTo: <sip:{did}@10.0.0.1>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@10.0.2.1>\r\nContent-Length: 0\r\n\r\n",
        did = DID.trim_start_matches('+'),
    );
    sim.inject(carrier, invite.as_bytes());
    sim.run_for(Duration::from_millis(500));
}

#[test]
fn the_phone_book_names_a_carrier_caller_before_the_phones_ring() {
    let dir = office().with_contacts(vec![
        contact(1, "+74957770001", "Иван Петров (ООО Ромашка)"),
        // Beta's book names the same number differently: acme's phones must not show it.
        contact(2, "+74957770002", "Beta's client"),
    ]);
    let mut sim = Sim::new(dir, SimConfig::default());
    let carrier = sim.add_carrier();
    let phone = sim.add_phone("101");
    sim.register(phone);

    // The carrier writes the number nationally and sends its own name: the book wins.
    carrier_call(&mut sim, carrier, "known", "84957770001", "CARRIER CNAM");
    assert_eq!(shown_name(&mut sim, phone), (1, Some("Иван Петров (ООО Ромашка)".to_string())));

    // A number not in acme's book keeps the carrier's name (beta's entry is not acme's).
    carrier_call(&mut sim, carrier, "stranger", "84957770002", "Carrier Name");
    assert_eq!(shown_name(&mut sim, phone), (2, Some("Carrier Name".to_string())));
}
