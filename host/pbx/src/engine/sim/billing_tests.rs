//! Prepaid billing in virtual time: a priced call is charged in whole steps as it ends; the
//! company's priced calls are ended together when they have spent the balance; a top-up
//! moves that moment; at zero only outbound calls are refused (extensions and emergency
//! numbers still work), counting charges the store has not returned yet.

use super::*;
use pbx_sip::method::Method;
use pbx_store::{CallOp, Charge, Tariff};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn moscow(per_minute_cents: i64, step_seconds: i64) -> Tariff {
    Tariff { id: 1, tenant_id: None, prefix: "7495".into(), name: "Moscow".into(), per_minute_cents, step_seconds, created_at: 0 }
}

/// Acme with a balance, priced by `tariffs`.
fn priced_office(balance_cents: i64, tariffs: Vec<Tariff>) -> Directory {
    let mut t = office_tenant();
    t.balance_cents = balance_cents;
    office_with(t).with_tariffs(tariffs)
}

fn charges(sim: &Sim) -> Vec<Charge> {
    sim.cdr.iter().filter_map(|op| if let CallOp::Charge(c) = op { Some(c.clone()) } else { None }).collect()
}

/// The office over `dir` with the carrier, 101 registered and 102 registered and answering
/// at once; (sim, carrier, 101).
fn with_colleague(dir: Directory) -> (Sim, SocketAddr, SocketAddr) {
    let mut sim = Sim::new(dir, SimConfig::default());
    let carrier = sim.add_carrier();
    let me = sim.add_phone("101");
    let colleague = sim.add_phone("102");
    sim.phone(colleague).auto.answer_after = Some(Duration::from_millis(100));
    sim.register(me);
    sim.register(colleague);
    (sim, carrier, me)
}

/// 101 calls a Moscow number; the carrier answers after 100 ms. Returns the Call-ID.
fn call_moscow(sim: &mut Sim, me: SocketAddr) -> String {
    let id = sim.call(me, "84957770011");
    sim.run_for(secs(1));
    assert_eq!(sim.calls(), 1, "the call is up");
    id
}

#[test]
fn a_priced_call_is_charged_in_whole_steps_as_it_ends() {
    let mut sim = Sim::new(priced_office(10_000, vec![moscow(150, 60)]), SimConfig::default());
    sim.add_carrier();
    let me = sim.add_phone("101");
    sim.register(me);
    let id = call_moscow(&mut sim, me);
    sim.run_for(secs(60));
    let t = sim.t;
    sim.phone(me).bye(t, &id);
    sim.flush_phones();
    sim.run_for(secs(1));
    let c = charges(&sim);
    assert_eq!(c.len(), 1, "{c:?}");
    // Charged for the talk the call log shows, in started minutes.
    let talk = sim.cdr.iter().find_map(|op| if let CallOp::End(e) = op { Some(e.talk_seconds) } else { None }).expect("the call ended");
    assert_eq!(c[0].amount_cents, pbx_store::billing::call_cost(150, 60, talk));
    assert!(c[0].amount_cents >= 150, "{c:?}");
    assert_eq!(c[0].tenant_id, 1);
    assert!(c[0].detail.contains("Moscow") && c[0].detail.contains("+74957770011"), "{}", c[0].detail);
}

#[test]
fn unpriced_internal_and_emergency_calls_are_not_charged() {
    let (mut sim, carrier, me) = with_colleague(priced_office(10_000, vec![moscow(150, 60)]));
    for number in ["102", "112", "88121234567"] {
        let id = sim.call(me, number);
        sim.run_for(secs(30));
        let t = sim.t;
        sim.phone(me).bye(t, &id);
        sim.flush_phones();
        sim.run_for(secs(1));
    }
    assert_eq!(sim.phone(carrier).requests(Method::Invite).len(), 2, "112 and St Petersburg went out");
    assert!(charges(&sim).is_empty(), "{:?}", charges(&sim));
}

#[test]
fn a_call_ends_when_the_balance_runs_out_and_the_next_is_refused() {
    // 1.00 at 0.60 a minute (a hundredth a second): 100 s of talk.
    let mut sim = Sim::new(priced_office(100, vec![moscow(60, 1)]), SimConfig::default());
    let carrier = sim.add_carrier();
    let me = sim.add_phone("101");
    sim.register(me);
    call_moscow(&mut sim, me);
    sim.run_for(secs(95));
    assert_eq!(sim.calls(), 1, "still talking at 95 s");
    sim.run_for(secs(10));
    assert_eq!(sim.calls(), 0, "ended by 105 s");
    let ended = sim.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].2, super::super::billing::BALANCE_CAUSE);
    assert!(!sim.phone(me).requests(Method::Bye).is_empty(), "the caller got a BYE");
    assert!(!sim.phone(carrier).requests(Method::Bye).is_empty(), "the carrier got a BYE");
    let c = charges(&sim);
    assert_eq!(c.len(), 1);
    assert!((99..=101).contains(&c[0].amount_cents), "charged for what was spoken: {c:?}");
    // The store has not sent a new snapshot: the engine counts its own charge.
    let id = sim.call(me, "84957770011");
    sim.run_for(secs(1));
    assert_eq!(sim.phone(me).statuses(&id).last(), Some(&403), "no money left");
    assert_eq!(sim.phone(carrier).requests(Method::Invite).len(), 1, "nothing went out");
}

#[test]
fn the_company_calls_share_the_balance_and_a_top_up_moves_the_end() {
    // 1.20 at 0.60 a minute each: two calls together last 60 s.
    let mut sim = Sim::new(priced_office(120, vec![moscow(60, 1)]), SimConfig::default());
    sim.add_carrier();
    let me = sim.add_phone("101");
    let other = sim.add_phone("102");
    sim.register(me);
    sim.register(other);
    sim.call(me, "84957770011");
    sim.run_for(secs(1));
    sim.call(other, "84951234568");
    sim.run_for(secs(1));
    assert_eq!(sim.calls(), 2);
    sim.run_for(secs(30));
    // The operator tops up 10.00: a snapshot with the new balance (no charge yet stored).
    let mut t = office_tenant();
    t.balance_cents = 1120;
    sim.feed(Input::Directory { dir: Arc::new(office_with(t).with_tariffs(vec![moscow(60, 1)])), version: 2 });
    sim.run_for(secs(60));
    assert_eq!(sim.calls(), 2, "the top-up keeps both calls up past the old end: {:?}", sim.ended());
    // 11.20 at 1.20 a minute together: 560 s from the answer.
    sim.run_for(secs(480));
    assert_eq!(sim.calls(), 0, "both ended when the money was spent");
    let total: i64 = charges(&sim).iter().map(|c| c.amount_cents).sum();
    assert!((1110..=1125).contains(&total), "{total}");
}

#[test]
fn at_zero_extensions_and_emergency_numbers_still_work() {
    let (mut sim, carrier, me) = with_colleague(priced_office(0, vec![moscow(60, 1)]));
    let out = sim.call(me, "84957770011");
    sim.run_for(secs(1));
    assert_eq!(sim.phone(me).statuses(&out).last(), Some(&403));
    let inside = sim.call(me, "102");
    sim.run_for(secs(1));
    assert_eq!(sim.phone(me).statuses(&inside).last(), Some(&200));
    let t = sim.t;
    sim.phone(me).bye(t, &inside);
    sim.flush_phones();
    sim.run_for(secs(1));
    let sos = sim.call(me, "112");
    sim.run_for(secs(1));
    assert_eq!(sim.phone(me).statuses(&sos).last(), Some(&200));
    assert_eq!(sim.phone(carrier).requests(Method::Invite).len(), 1, "only 112 went out");
}
