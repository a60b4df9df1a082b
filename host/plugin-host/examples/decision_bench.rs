//! Plugin decision benchmark: one event to the first-party `ivr` plugin (and `time-rules`),
//! each decision a fresh instance from the pooling allocator, as calls use them.
//!
//! `cargo run --release -p pbx-plugin-host --example decision_bench [-- N [--no-live]]`
//!
//! Prints latency percentiles of single decisions (instantiate + call + verbs back), the
//! decisions per second of one thread, the linear memory an instance has, and the resident
//! memory that 1,000 instances alive at once add.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pbx_bundled_plugins::{FIRST_PARTY, component_path};
use pbx_plugin_host::{CallInfo, Context, Event, Limits, PluginHost};
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn call() -> CallInfo {
    CallInfo {
        call_id: "bench".into(),
        caller_number: "+79161234567".into(),
        caller_name: String::new(),
        called_number: "+74951234567".into(),
        direction: "inbound".into(),
        variables: vec![("ivr.tries.ivr-menu".into(), "1".into())],
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn bench(host: &PluginHost, name: &str, config: &str, event: &Event, n: usize) {
    let b = FIRST_PARTY.iter().find(|b| b.name == name).unwrap();
    let plugin = host.load(b.wasm).unwrap();
    let ctx = Context { call_id: "bench".into(), tenant: "bench".into(), ..Context::minimal(config) };
    for _ in 0..1000 {
        host.handle(&plugin, ctx.clone(), event).unwrap();
    }
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    let mut peak = 0;
    for _ in 0..n {
        let t = Instant::now();
        let (r, usage) = host.handle_measured(&plugin, ctx.clone(), event);
        lat.push(t.elapsed());
        assert!(r.is_ok());
        peak = peak.max(usage.peak_memory);
    }
    let total = start.elapsed();
    lat.sort();
    println!(
        "{name:<11} decisions={n} p50={:.1}µs p99={:.1}µs p99.9={:.1}µs max={:.1}µs  {:.0} decisions/s on one thread  linear memory {} KiB",
        percentile(&lat, 0.50).as_secs_f64() * 1e6,
        percentile(&lat, 0.99).as_secs_f64() * 1e6,
        percentile(&lat, 0.999).as_secs_f64() * 1e6,
        lat.last().unwrap().as_secs_f64() * 1e6,
        n as f64 / total.as_secs_f64(),
        peak / 1024
    );
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let host = PluginHost::new(Limits::default(), 1100).unwrap();
    // A digit in a menu: the decision an IVR makes most.
    let digits = Event::DigitsCollected((call(), pbx_plugin_host::Gathered { digits: "2".into(), reason: "timeout".into() }));
    bench(&host, "ivr", r#"{"prompt":"ivr-menu","options":{"1":"sales","2":"support"}}"#, &digits, n);
    let arrived = Event::CallArrived(call());
    bench(&host, "ivr", r#"{"prompt":"ivr-menu","greeting":"welcome","options":{"1":"sales","2":"support"}}"#, &arrived, n);
    let hours = r#"{"weekly":[{"days":["mon","tue","wed","thu","fri"],"from":"09:00","to":"18:00"}],"exceptions":[{"date":"2026-12-31"}]}"#;
    bench(&host, "time-rules", hours, &arrived, n);
    if std::env::args().any(|a| a == "--no-live") {
        return;
    }
    // Resident memory of live instances: 1,000 spinning plugins at once, each held for a
    // 3-second deadline, on a fresh pool (no slot resident from the runs above).
    drop(host);
    let host = PluginHost::new(Limits { deadline: Duration::from_secs(3), ..Limits::default() }, 1100).unwrap();
    let spin = host.load(&std::fs::read(component_path("test_plugin_spin")).unwrap()).unwrap();
    let host = std::sync::Arc::new(host);
    let before = rss_kib();
    let live = 1000;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(live + 1));
    let threads: Vec<_> = (0..live)
        .map(|_| {
            let (h, p, b) = (host.clone(), spin.clone(), barrier.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    b.wait();
                    let _ = h.handle(&p, Context::minimal("{}"), &Event::CallArrived(call()));
                })
                .unwrap()
        })
        .collect();
    let threads_rss = rss_kib();
    barrier.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let during = rss_kib();
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "live instances: {live} spinning at once add {} KiB resident ({:.0} KiB each; threads' own stacks excluded: {} KiB before they ran)",
        during.saturating_sub(threads_rss),
        during.saturating_sub(threads_rss) as f64 / live as f64,
        threads_rss.saturating_sub(before)
    );
}
