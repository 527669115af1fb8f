//! Prometheus metrics (operations): the `metrics` facade, recorded where things happen, and
//! `metrics-exporter-prometheus` rendering the text format for `GET /metrics` on the
//! admin listener (the exporter's own HTTP listener and push gateway are not compiled in).
//!
//! | metric | type | what |
//! |---|---|---|
//! | `confer_live_visits` | gauge | visits with someone present |
//! | `confer_participants` | gauge | media peers of live visits |
//! | `confer_admissions_total{result,reason}` | counter | joins: `result` `admitted`/`refused`, `reason` the refusal code (`none` when admitted) |
//! | `confer_join_latency_seconds` | histogram | from a join request to the seat (or the refusal) |
//! | `confer_registry_request_seconds` / `confer_registry_errors_total` | histogram / counter | lawyer-registry checks ([`registry_request`]) |
//! | `confer_audit_append_seconds` | histogram | audit appends, until durable (or failed) |
//! | `confer_impersonation_alerts_total` | counter | R-VERIFY-3 alerts ([`impersonation_alert`]) |
//! | `confer_health_alerts_total{kind}` | counter | live-health alerts ([`health_alert`]): `loss`, `rtt`, `no_media`, `reconnecting` |
//! | `confer_forwarded_packets_total` | counter | RTP packets the SFU forwarded, sampled from the media snapshot |
//! | `confer_forwarded_bytes_total` | counter | RTP bytes (header and payload) the SFU forwarded, from the health feed ([`media_health`]) |
//! | `confer_received_packets_lost_total` / `confer_received_packets_expected_total` | counter | RTP packets missing from what participants sent (first-arrival sequence gaps) and expected: loss ratio = rate(lost) / rate(expected) |
//! | `confer_visits_stopped_total{category}` | counter | visits stopped by staff, by violation category |
//! | `confer_violation_deliveries_total{result}` | counter | violation-report webhook attempts: `delivered`, `failed` |
//! | `confer_data_dir_free_bytes` / `confer_disk_space_low` | gauge | free space on the data dir, and 1 below `[storage] free_space_watermark_mib` ([`data_dir_space`]) |
//! | `confer_connections_open{listener}` | gauge | open connections of the `public` or `admin` listener ([`connections_open`]) |
//! | `confer_connections_refused_total{listener,reason}` | counter | connections closed at accept: `total` or `per_ip` cap reached, `accept_error` (e.g. out of file descriptors) |
//! | `confer_connections_timed_out_total{listener,phase}` | counter | connections closed by a timeout: `handshake`, `body`, `idle` |
//!
//! Who may read `/metrics`: a scraper presenting `Authorization: Bearer <admin.metrics_token>`
//! (set it in the configuration; at least 32 characters), or a signed-in auditor or system
//! administrator. Without a token configured no anonymous scrape is possible: the safe
//! default. The admin listener itself stays on loopback or a management network.
//!
//! Privacy: labels are fixed codes (results, reasons, categories, alert kinds); no id,
//! name, address or content ever becomes a label or a value (docs/DESIGN.md invariant 6).
//!
//! One recorder per process (the `metrics` facade is global); tests that start several
//! servers in one process share it, which only ever adds to the counters.

//!
//! This file owns the recorder and the recording functions, and imports nothing else of
//! the crate, so that every layer may record (base layer). The sampler task and the scrape
//! route are the admin edge's (`admin::metrics`). It does not decide anything from a metric.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Seconds buckets for latencies from a millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Install the process-wide recorder once (idempotent) and register every metric so that
/// a scrape shows them all from the start. `confer_node_info{node="<node id>"} 1` names the
/// node the scrape came from (a cluster scrapes each node as its own target; the first
/// call's id wins: one process is one node).
pub fn install(node: &str) {
    let handle = HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder);
        let recorder = match recorder {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "metrics: cannot build the Prometheus recorder");
                return None;
            }
        };
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("metrics: another recorder is installed; /metrics shows nothing");
            return None;
        }
        Some(handle)
    });
    if handle.is_some() {
        describe();
        static NODE: OnceLock<String> = OnceLock::new();
        let node = NODE.get_or_init(|| node.to_owned());
        metrics::gauge!("confer_node_info", "node" => node.clone()).set(1.0);
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!("confer_live_visits", "Visits with someone present.");
    describe_gauge!(
        "confer_node_info",
        "Always 1; its `node` label is this node's id in the cluster's registry."
    );
    describe_gauge!("confer_participants", "Media peers of live visits.");
    describe_counter!(
        "confer_admissions_total",
        "Joins, by result (admitted, refused) and refusal reason."
    );
    describe_histogram!(
        "confer_join_latency_seconds",
        Unit::Seconds,
        "From a join request to the seat or the refusal."
    );
    describe_histogram!(
        "confer_registry_request_seconds",
        Unit::Seconds,
        "Lawyer-registry checks."
    );
    describe_counter!(
        "confer_registry_errors_total",
        "Lawyer-registry checks that failed."
    );
    describe_histogram!(
        "confer_audit_append_seconds",
        Unit::Seconds,
        "Audit appends, until durable or failed."
    );
    describe_counter!(
        "confer_impersonation_alerts_total",
        "Possible impersonations flagged to staff (R-VERIFY-3)."
    );
    describe_counter!(
        "confer_health_alerts_total",
        "Live-visit health alerts, by kind."
    );
    describe_counter!(
        "confer_forwarded_packets_total",
        "RTP packets forwarded by the SFU."
    );
    describe_counter!(
        "confer_forwarded_bytes_total",
        "RTP bytes forwarded by the SFU."
    );
    describe_counter!(
        "confer_received_packets_lost_total",
        "RTP packets missing from what participants sent (sequence gaps)."
    );
    describe_counter!(
        "confer_received_packets_expected_total",
        "RTP packets expected from participants (for the loss ratio)."
    );
    describe_counter!(
        "confer_visits_stopped_total",
        "Visits stopped by staff, by violation category."
    );
    describe_counter!(
        "confer_violation_deliveries_total",
        "Violation-report webhook attempts, by result."
    );
    describe_gauge!(
        "confer_data_dir_free_bytes",
        "Free space on the data dir (bytes available to confer)."
    );
    describe_gauge!(
        "confer_disk_space_low",
        "1 while the data dir's free space is below the watermark."
    );
    describe_gauge!(
        "confer_connections_open",
        "Open connections of a listener (public, admin)."
    );
    describe_counter!(
        "confer_connections_refused_total",
        "Connections closed at accept, by listener and reason (total, per_ip, accept_error)."
    );
    describe_counter!(
        "confer_connections_timed_out_total",
        "Connections closed by a timeout, by listener and phase (handshake, body, idle)."
    );
    for listener in ["public", "admin"] {
        metrics::gauge!("confer_connections_open", "listener" => listener).set(0.0);
        for reason in ["total", "per_ip", "accept_error"] {
            metrics::counter!("confer_connections_refused_total", "listener" => listener, "reason" => reason)
                .increment(0);
        }
        for phase in ["handshake", "body", "idle"] {
            metrics::counter!("confer_connections_timed_out_total", "listener" => listener, "phase" => phase)
                .increment(0);
        }
    }
    // Register at zero so that every series exists before its first event.
    metrics::counter!("confer_registry_errors_total").increment(0);
    metrics::counter!("confer_impersonation_alerts_total").increment(0);
    metrics::counter!("confer_forwarded_packets_total").increment(0);
    for name in [
        "confer_forwarded_bytes_total",
        "confer_received_packets_lost_total",
        "confer_received_packets_expected_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for kind in ["loss", "rtt", "no_media", "reconnecting"] {
        metrics::counter!("confer_health_alerts_total", "kind" => kind).increment(0);
    }
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    match HANDLE.get() {
        Some(Some(h)) => h.render(),
        _ => String::new(),
    }
}

// --- what the rest of confer calls ---

/// A join's outcome: `result` is `admitted` or `refused`; `reason` the refusal code.
pub fn admission(result: &'static str, reason: &'static str, latency: Duration) {
    metrics::counter!("confer_admissions_total", "result" => result, "reason" => reason)
        .increment(1);
    metrics::histogram!("confer_join_latency_seconds").record(latency.as_secs_f64());
}

/// One lawyer-registry check and whether it worked.
pub fn registry_request(latency: Duration, ok: bool) {
    metrics::histogram!("confer_registry_request_seconds").record(latency.as_secs_f64());
    if !ok {
        metrics::counter!("confer_registry_errors_total").increment(1);
    }
}

/// One audit append (or atomic group), until durable or failed.
pub fn audit_append(latency: Duration) {
    metrics::histogram!("confer_audit_append_seconds").record(latency.as_secs_f64());
}

/// A possible impersonation was flagged (R-VERIFY-3).
pub fn impersonation_alert() {
    metrics::counter!("confer_impersonation_alerts_total").increment(1);
}

/// A live-health alert: `loss`, `rtt`, `no_media` or `reconnecting`.
pub fn health_alert(kind: &'static str) {
    metrics::counter!("confer_health_alerts_total", "kind" => kind).increment(1);
}

/// Media totals since the previous health-feed sample: bytes forwarded, and packets lost
/// and expected of what participants sent.
pub fn media_health(forwarded_bytes: u64, lost: u64, expected: u64) {
    metrics::counter!("confer_forwarded_bytes_total").increment(forwarded_bytes);
    metrics::counter!("confer_received_packets_lost_total").increment(lost);
    metrics::counter!("confer_received_packets_expected_total").increment(expected);
}

/// Staff stopped a visit for a violation of `category`.
pub fn visit_stopped(category: &'static str) {
    metrics::counter!("confer_visits_stopped_total", "category" => category).increment(1);
}

/// A violation-report delivery attempt: `delivered` or `failed`.
pub fn violation_delivery(result: &'static str) {
    metrics::counter!("confer_violation_deliveries_total", "result" => result).increment(1);
}

/// The data dir's free space and whether it is below the watermark.
pub fn data_dir_space(free_bytes: u64, low: bool) {
    metrics::gauge!("confer_data_dir_free_bytes").set(free_bytes as f64);
    metrics::gauge!("confer_disk_space_low").set(if low { 1.0 } else { 0.0 });
}

/// The number of open connections of `listener` (`public` or `admin`).
pub fn connections_open(listener: &'static str, open: usize) {
    metrics::gauge!("confer_connections_open", "listener" => listener).set(open as f64);
}

/// A connection closed at accept: `reason` `total`, `per_ip` or `accept_error`.
pub fn connection_refused(listener: &'static str, reason: &'static str) {
    metrics::counter!("confer_connections_refused_total", "listener" => listener, "reason" => reason)
        .increment(1);
}

/// A connection closed by a timeout: `phase` `handshake`, `body` or `idle`.
pub fn connection_timed_out(listener: &'static str, phase: &'static str) {
    metrics::counter!("confer_connections_timed_out_total", "listener" => listener, "phase" => phase)
        .increment(1);
}

/// The exporter's periodic upkeep (histogram buckets), called by the sampler.
pub fn upkeep() {
    if let Some(Some(h)) = HANDLE.get() {
        h.run_upkeep();
    }
}
