//! Counters and gauges exported at `GET /metrics` in the Prometheus text format.

use pbx_media::MediaStats;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Everything the PBX counts; updated with relaxed atomics, read by the HTTP handler.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Live contact bindings.
    pub registrations: AtomicI64,
    /// Calls in progress.
    pub active_calls: AtomicI64,
    /// Calls accepted for routing since start.
    pub calls_started: AtomicU64,
    /// Calls that ended answered.
    pub calls_answered: AtomicU64,
    /// Calls that ended otherwise.
    pub calls_unanswered: AtomicU64,
    /// Failed digest authentications.
    pub auth_failures: AtomicU64,
    /// REGISTER requests accepted.
    pub registers_ok: AtomicU64,
    /// SIP messages received.
    pub sip_in: AtomicU64,
    /// SIP messages refused by the parser or validator.
    pub sip_rejected: AtomicU64,
    /// SIP messages dropped because the engine was overloaded.
    pub sip_dropped: AtomicU64,
    /// Call-log write failures.
    pub cdr_errors: AtomicU64,
    /// Panics contained while the engine handled an input (each ended at most one call).
    pub engine_panics: AtomicU64,
    /// Panics contained in the background writers and media workers.
    pub worker_panics: AtomicU64,
    /// The configuration version the engine runs with (tests and operators wait for it).
    pub config_version: AtomicI64,
    /// TCP/TLS/HTTP connections refused by a connection cap.
    pub connections_refused: AtomicU64,
    /// SIP connections closed for being idle.
    pub connections_idle_closed: AtomicU64,
    /// Plugin decisions and failures by (tenant, plugin, outcome).
    pub plugins: std::sync::Mutex<std::collections::BTreeMap<(String, String, &'static str), u64>>,
}

impl Metrics {
    /// Counts one plugin decision: `failure` is `None` for a good one, else its kind
    /// (`deadline`, `trap`, `refused`, `invalid-verb`, `no-decision`, `unavailable`).
    pub fn plugin_outcome(&self, tenant: &str, plugin: &str, failure: Option<&'static str>) {
        if let Ok(mut m) = self.plugins.lock() {
            *m.entry((tenant.to_string(), plugin.to_string(), failure.unwrap_or("ok"))).or_insert(0) += 1;
        }
    }

    /// Renders the Prometheus exposition text, with the media counters.
    pub fn render(&self, media: Option<&Arc<MediaStats>>) -> String {
        let mut s = String::with_capacity(2048);
        let mut put = |name: &str, kind: &str, help: &str, v: i128| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        let g = |a: &AtomicI64| a.load(Ordering::Relaxed) as i128;
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed) as i128;
        put("pbx_registrations", "gauge", "Live contact bindings of registered phones.", g(&self.registrations));
        put("pbx_active_calls", "gauge", "Calls in progress.", g(&self.active_calls));
        put("pbx_config_version", "gauge", "Configuration version the call engine runs with.", g(&self.config_version));
        put("pbx_calls_started_total", "counter", "Calls accepted for routing.", c(&self.calls_started));
        put("pbx_calls_answered_total", "counter", "Calls that were answered.", c(&self.calls_answered));
        put("pbx_calls_unanswered_total", "counter", "Calls that ended without an answer.", c(&self.calls_unanswered));
        put("pbx_auth_failures_total", "counter", "Failed digest authentications.", c(&self.auth_failures));
        put("pbx_registers_total", "counter", "Successful REGISTER requests.", c(&self.registers_ok));
        put("pbx_sip_messages_received_total", "counter", "SIP messages received.", c(&self.sip_in));
        put("pbx_sip_messages_rejected_total", "counter", "SIP messages refused as malformed.", c(&self.sip_rejected));
        put("pbx_sip_messages_dropped_total", "counter", "SIP messages dropped under overload.", c(&self.sip_dropped));
        put("pbx_cdr_write_errors_total", "counter", "Call-log write failures.", c(&self.cdr_errors));
        put(
            "pbx_engine_panics_total",
            "counter",
            "Panics contained by the call engine (each ended at most one call).",
            c(&self.engine_panics),
        );
        put(
            "pbx_connections_refused_total",
            "counter",
            "Connections refused because a connection cap was reached.",
            c(&self.connections_refused),
        );
        put("pbx_connections_idle_closed_total", "counter", "SIP connections closed for being idle.", c(&self.connections_idle_closed));
        put("pbx_worker_panics_total", "counter", "Panics contained in background writers and media workers.", c(&self.worker_panics));
        if let Some(m) = media {
            put("pbx_rtp_packets_relayed_total", "counter", "RTP/RTCP packets relayed.", c(&m.packets_relayed));
            put("pbx_rtp_bytes_relayed_total", "counter", "RTP/RTCP bytes relayed.", c(&m.bytes_relayed));
            put("pbx_rtp_packets_dropped_total", "counter", "RTP packets dropped (unknown source).", c(&m.packets_dropped));
            put("pbx_media_sessions", "gauge", "Live media sessions.", g(&m.sessions));
            put("pbx_media_panics_total", "counter", "Panics contained by the media workers (each closed one session).", c(&m.panics));
        }
        if let Ok(p) = self.plugins.lock() {
            let _ = writeln!(s, "# HELP pbx_plugin_decisions_total Plugin decisions by tenant, plugin and outcome (ok or the failure).");
            let _ = writeln!(s, "# TYPE pbx_plugin_decisions_total counter");
            for ((tenant, plugin, outcome), n) in p.iter() {
                let _ = writeln!(s, "pbx_plugin_decisions_total{{tenant=\"{tenant}\",plugin=\"{plugin}\",outcome=\"{outcome}\"}} {n}");
            }
        }
        s
    }
}
