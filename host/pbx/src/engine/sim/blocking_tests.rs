//! Blacklists and "do not disturb": a company refuses listed numbers, prefixes and hidden
//! numbers before anything rings (busy, or a message); an employee's own list keeps a caller
//! off their phones only; a user in "do not disturb" is skipped by the company's ringing and
//! by groups, a direct call hears busy, and their busy forwarding applies.

use super::*;
use pbx_sip::method::Method;
use pbx_store::{BlockAction, BlockSettings};

/// A carrier's call to the company's number from `from` (the From user part as sent).
fn call_from(sim: &mut Sim, carrier: SocketAddr, from: &str, call_id: &str) {
    sim.inject(carrier, carrier_invite(from, call_id).as_bytes());
}

fn statuses(sim: &Sim, to: SocketAddr) -> Vec<u16> {
    sim.sent_to(to)
        .iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some(r.status),
            Message::Request(_) => None,
        })
        .collect()
}

fn blocking(rows: &[(i64, &str, bool)], settings: BlockSettings) -> Directory {
    office().with_blocklists(rows.iter().map(|(owner, p, prefix)| (1, *owner, p.to_string(), *prefix)).collect(), vec![(1, settings)])
}

#[test]
fn a_blacklisted_number_hears_busy_and_no_phone_rings() {
    let mut sim = Sim::new(blocking(&[(0, "+79161112233", false)], BlockSettings::default()), SimConfig::default());
    let carrier = sim.add_carrier();
    let phone = sim.add_phone("101");
    sim.register(phone);
    // Sent in the national form: the list holds E.164 and the carrier's number is normalised.
    call_from(&mut sim, carrier, "89161112233", "bl-1");
    sim.run_for(Duration::from_secs(5));
    assert!(statuses(&sim, carrier).contains(&486), "{:?}", statuses(&sim, carrier));
    assert!(sim.phone(phone).incoming_calls().is_empty(), "no phone rings for a blacklisted caller");
    let ended = sim.ended();
    assert_eq!(ended.len(), 1, "the call log keeps the refused call: {ended:?}");
    assert_eq!(ended[0].2, "486 blacklisted");
    // Another caller rings as before.
    call_from(&mut sim, carrier, "79160000000", "bl-2");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.phone(phone).incoming_calls().len(), 1);
}

#[test]
fn a_blacklisted_prefix_hears_the_message_then_the_call_ends() {
    let settings = BlockSettings { anonymous: false, action: BlockAction::Prompt };
    let mut sim = Sim::new(blocking(&[(0, "+7916", true)], settings), SimConfig::default());
    let carrier = sim.add_carrier();
    let phone = sim.add_phone("101");
    sim.register(phone);
    call_from(&mut sim, carrier, "79161112233", "bl-3");
    sim.run_for(Duration::from_secs(30));
    assert!(statuses(&sim, carrier).contains(&200), "answered to play the message: {:?}", statuses(&sim, carrier));
    assert!(sim.sent_to(carrier).iter().any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye)), "then hung up");
    assert!(sim.phone(phone).incoming_calls().is_empty());
}

#[test]
fn hidden_numbers_are_refused_only_when_the_company_says_so() {
    let mut sim = Sim::new(blocking(&[], BlockSettings { anonymous: true, action: BlockAction::Busy }), SimConfig::default());
    let carrier = sim.add_carrier();
    let phone = sim.add_phone("101");
    sim.register(phone);
    call_from(&mut sim, carrier, "anonymous", "bl-4");
    sim.run_for(Duration::from_secs(3));
    assert!(statuses(&sim, carrier).contains(&486));
    assert!(sim.phone(phone).incoming_calls().is_empty());

    let mut sim = Sim::new(blocking(&[], BlockSettings::default()), SimConfig::default());
    let carrier = sim.add_carrier();
    let phone = sim.add_phone("101");
    sim.register(phone);
    call_from(&mut sim, carrier, "anonymous", "bl-5");
    sim.run_for(Duration::from_secs(3));
    assert_eq!(sim.phone(phone).incoming_calls().len(), 1, "without the setting a hidden number rings");
}

#[test]
fn an_employees_own_blacklist_keeps_the_caller_off_their_phones_only() {
    let mut sim = Sim::new(blocking(&[(101, "+79161112233", false)], BlockSettings::default()), SimConfig::default());
    let carrier = sim.add_carrier();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.register(a);
    sim.register(b);
    call_from(&mut sim, carrier, "79161112233", "bl-6");
    sim.run_for(Duration::from_secs(2));
    assert!(sim.phone(a).incoming_calls().is_empty(), "101 listed the caller");
    assert_eq!(sim.phone(b).incoming_calls().len(), 1, "102 did not");
    // Another caller rings both.
    call_from(&mut sim, carrier, "79160000000", "bl-7");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.phone(a).incoming_calls().len(), 1);
}

#[test]
fn do_not_disturb_skips_the_user_and_a_direct_call_hears_busy() {
    let dir = office().with_user(101, |u| u.dnd = true);
    let mut sim = Sim::new(dir, SimConfig::default());
    let carrier = sim.add_carrier();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.register(a);
    sim.register(b);
    call_from(&mut sim, carrier, "79161112233", "dnd-1");
    sim.run_for(Duration::from_secs(2));
    assert!(sim.phone(a).incoming_calls().is_empty(), "101 is in do not disturb");
    assert_eq!(sim.phone(b).incoming_calls().len(), 1);
    let id = sim.call(b, "101");
    sim.run_for(Duration::from_secs(2));
    assert!(sim.phone(b).statuses(&id).contains(&486), "{:?}", sim.phone(b).statuses(&id));
    assert!(sim.ended().iter().any(|e| e.2 == "486 do not disturb"), "{:?}", sim.ended());
}

#[test]
fn do_not_disturb_follows_busy_forwarding() {
    let dir = office().with_user(101, |u| {
        u.dnd = true;
        u.forwarding.busy = Some("103".into());
    });
    let mut sim = Sim::new(dir, SimConfig::default());
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    let c = sim.add_phone("103");
    for p in [a, b, c] {
        sim.register(p);
    }
    sim.call(b, "101");
    sim.run_for(Duration::from_secs(2));
    assert!(sim.phone(a).incoming_calls().is_empty());
    assert_eq!(sim.phone(c).incoming_calls().len(), 1, "the call goes where 101 forwards when busy");
}

#[test]
fn feature_codes_turn_do_not_disturb_on_and_off() {
    let mut sim = Sim::new(office(), SimConfig::default());
    let a = sim.add_phone("101");
    sim.register(a);
    for (code, on) in [("*78", true), ("*79", false)] {
        let id = sim.call(a, code);
        sim.run_for(Duration::from_secs(10));
        let asked: Vec<bool> = sim
            .actions
            .iter()
            .filter_map(|x| match x {
                Action::Dnd { ext, on, .. } if ext == "101" => Some(*on),
                _ => None,
            })
            .collect();
        assert_eq!(asked.last(), Some(&on), "{code} asks for do not disturb {on}: {asked:?}");
        assert!(sim.phone(a).statuses(&id).contains(&200), "{code} is confirmed by a short message");
    }
}
