//! Call pickup in virtual time: `**ext` answers the call ringing a colleague from one's own
//! phone (the colleague's phone stops ringing, the caller is answered and the two talk until
//! one hangs up); `*8` picks up within one's pickup group; with nothing ringing the picker
//! hears why.

use super::*;
use pbx_sip::message::SipMessage;
use pbx_sip::method::Method;

fn answered_by(sim: &Sim) -> Vec<Option<i64>> {
    sim.cdr
        .iter()
        .filter_map(|op| match op {
            pbx_store::CallOp::Answer { callee_user_id, .. } => Some(*callee_user_id),
            _ => None,
        })
        .collect()
}

#[test]
fn directed_pickup_answers_the_call_ringing_a_colleague() {
    let mut sim = Sim::new(office(), SimConfig::default());
    let picker = sim.add_phone("101");
    let ringing = sim.add_phone("102");
    let caller = sim.add_phone("103");
    for p in [picker, ringing, caller] {
        sim.register(p);
    }
    let call = sim.call(caller, "102");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.phone(ringing).incoming_calls().len(), 1, "102 rings");
    let pick = sim.call(picker, "**102");
    sim.run_for(Duration::from_secs(2));
    assert!(sim.phone(picker).statuses(&pick).contains(&200), "the picker is answered: {:?}", sim.phone(picker).statuses(&pick));
    assert!(sim.phone(caller).statuses(&call).contains(&200), "the caller is answered: {:?}", sim.phone(caller).statuses(&call));
    assert!(!sim.phone(ringing).requests(Method::Cancel).is_empty(), "102 stops ringing");
    assert_eq!(answered_by(&sim), vec![Some(101)], "the call log names the picker");
    // The caller hangs up: the picker's leg is ended by the PBX.
    let t = sim.t;
    sim.phone(caller).bye(t, &call);
    sim.run_for(Duration::from_secs(2));
    assert!(sim.phone(picker).requests(Method::Bye).iter().any(|(_, r)| r.call_id() == pick), "the picker gets the BYE");
    assert_eq!(sim.calls(), 0);
}

#[test]
fn group_pickup_takes_the_oldest_call_of_the_group_and_nothing_ringing_is_said() {
    let mut sim = Sim::new(office(), SimConfig::default());
    let picker = sim.add_phone("101");
    let ringing = sim.add_phone("104");
    let caller = sim.add_phone("103");
    for p in [picker, ringing, caller] {
        sim.register(p);
    }
    // Nothing rings yet.
    let early = sim.call(picker, "*8");
    sim.run_for(Duration::from_secs(2));
    assert!(sim.phone(picker).statuses(&early).contains(&480), "{:?}", sim.phone(picker).statuses(&early));
    // Not in any group: the whole company is the picker's group.
    let call = sim.call(caller, "104");
    sim.run_for(Duration::from_secs(2));
    let pick = sim.call(picker, "*8");
    sim.run_for(Duration::from_secs(2));
    assert!(sim.phone(picker).statuses(&pick).contains(&200));
    assert!(sim.phone(caller).statuses(&call).contains(&200));
    // An extension that is not ringing, and one that does not exist.
    for (code, want) in [("**105", 480), ("**999", 404)] {
        let id = sim.call(picker, code);
        sim.run_for(Duration::from_secs(2));
        assert!(sim.phone(picker).statuses(&id).contains(&want), "{code}: {:?}", sim.phone(picker).statuses(&id));
    }
}
