//! The call engine fed sequences of SIP messages from several sources (two registered
//! phones in an answered call, the carrier and a stranger) in virtual time. Messages may name
//! the live call's dialogs through placeholders, so in-dialog requests (REFER, INFO, NOTIFY,
//! re-INVITE, BYE) reach real calls. Whatever arrives, nothing panics (not even a panic the
//! engine would contain) and everyone is still served afterwards.
//!
//! Input: messages separated by 0xFF; the first byte of each picks the source and how long
//! to run before the next one. Placeholders: `$CID_A`, `$FROM_A`, `$TO_A` (the caller's
//! dialog), `$CID_B`, `$FROM_B`, `$TO_B` (the callee's), `$PBX` (the PBX's address).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx::engine::sim::{PBX_ADDR, Sim};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn replace_all(hay: &[u8], vars: &[(&str, String)]) -> Vec<u8> {
    let mut out = hay.to_vec();
    for (k, v) in vars {
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(k.as_bytes()) {
                next.extend_from_slice(v.as_bytes());
                i += k.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    let c = sim.add_phone("103");
    let carrier = sim.add_carrier();
    let stranger: std::net::SocketAddr = "10.0.9.9:5060".parse().unwrap();
    sim.phone(b).auto.answer_after = Some(Duration::from_millis(500));
    sim.phone(c).auto.answer_after = Some(Duration::from_millis(500));
    for p in [a, b, c] {
        sim.register(p);
    }
    let call = sim.call(a, "102");
    sim.run_for(Duration::from_secs(1));
    let da = sim.phone(a).dialogs.get(&call).cloned();
    let b_call = sim.phone(b).incoming_calls().into_iter().next().unwrap_or_default();
    let db = sim.phone(b).dialogs.get(&b_call).cloned();
    let vars: Vec<(&str, String)> = vec![
        ("$CID_A", call.clone()),
        ("$FROM_A", da.as_ref().map(|d| d.local.clone()).unwrap_or_default()),
        ("$TO_A", da.as_ref().map(|d| d.remote.clone()).unwrap_or_default()),
        ("$CID_B", b_call.clone()),
        ("$FROM_B", db.as_ref().map(|d| d.local.clone()).unwrap_or_default()),
        ("$TO_B", db.as_ref().map(|d| d.remote.clone()).unwrap_or_default()),
        ("$PBX", PBX_ADDR.to_string()),
    ];
    for msg in data.split(|&x| x == 0xff).take(32) {
        let Some((&sel, body)) = msg.split_first() else { continue };
        let from = [a, b, carrier, stranger][(sel & 3) as usize];
        sim.inject(from, &replace_all(body, &vars));
        sim.run_for(Duration::from_millis(u64::from(sel >> 2) * 40));
    }
    sim.run_for(Duration::from_secs(40));
    assert_eq!(sim.metrics.engine_panics.load(Ordering::Relaxed), 0, "the engine panicked on an input");
    // Everyone is still served: 103 can be called.
    let check = sim.call(a, "103");
    sim.run_for(Duration::from_secs(2));
    let st = sim.phone(a).statuses(&check);
    assert!(st.iter().any(|s| *s == 200 || *s == 503 || *s == 486), "the engine stopped serving: {st:?}");
});
