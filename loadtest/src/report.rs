//! The run's result: a readable table and the JSON report (`--json FILE`).
//!
//! **Owns**: the report's field names, which are an interface (the load test's required
//! keys; `compare.sh` and the smoke test read them). Every key is always present; values that
//! do not apply (no `--server-pid`, `knee_visits` outside `ramp`) are `null`.

use crate::engine::Window;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;

/// p50 / p99 / max of one-way delay through the SFU, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct OneWay {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Join time percentiles in milliseconds (join request -> first media packet received).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct JoinTimes {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub count: u64,
}

/// One step of the `ramp` scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub visits: u32,
    pub loss_pct: f64,
    pub one_way_ms: OneWay,
    pub packets_forwarded: u64,
    pub server_cpu_us_per_packet: Option<f64>,
    pub server_rss_bytes: Option<u64>,
    pub ok: bool,
}

/// The JSON report. Field order is the table's order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub scenario: String,
    /// The peers' media transport: `udp` or `tcp` (ICE-TCP).
    pub transport: String,
    /// `--e2ee`: every payload SFrame-protected (RFC 9605).
    pub e2ee: bool,
    /// `--generator`: how the synthetic peers sent and received media (`str0m`, `fast-tx`,
    /// `fast`).
    pub generator: crate::fast::Generator,
    /// `--tick-us`: the generator woke at most once per this many µs (0: per packet).
    pub tick_us: u64,
    /// Packets the generator sent on its fast path, received packets it opened there, and
    /// received ones that did not authenticate (must stay 0).
    pub fast_packets_sent: u64,
    pub fast_packets_opened: u64,
    pub fast_open_failures: u64,
    /// `--e2ee`: forwarded payloads that opened with the sender's key, and that did not.
    pub sframe_opened: u64,
    pub sframe_failed: u64,
    pub visits: u32,
    pub duration_s: f64,
    pub packets_sent: u64,
    pub packets_forwarded: u64,
    pub loss_pct: f64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Packets that reached a peer of another visit. Must be 0 (the gate).
    pub foreign_packets: u64,
    pub one_way_ms: OneWay,
    pub join_ms: JoinTimes,
    /// The load generator's worst lateness against its own schedule, in ms.
    pub loadgen_max_late_ms: f64,
    pub join_failures: u64,
    pub peers_failed: u64,
    pub server_cpu_s: Option<f64>,
    /// CPU seconds of this load generator over the same window (is the generator the limit?).
    pub loadgen_cpu_s: Option<f64>,
    pub server_cpu_us_per_packet: Option<f64>,
    /// The load generator's CPU per forwarded packet, on the same count as the server's.
    pub loadgen_cpu_us_per_packet: Option<f64>,
    pub server_rss_bytes: Option<u64>,
    /// The server's resident memory before this run added any visit.
    pub server_rss_bytes_idle: Option<u64>,
    pub server_rss_bytes_per_visit: Option<f64>,
    pub knee_visits: Option<u32>,
    /// `ramp` only: whether a step crossed the limits (else the knee is at least `knee_visits`).
    pub knee_reached: Option<bool>,
    pub steps: Vec<Step>,
}

pub fn one_way(h: &Histogram<u64>) -> OneWay {
    if h.is_empty() {
        return OneWay::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    OneWay {
        p50: ms(h.value_at_quantile(0.50)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    }
}

pub fn join_times(h: &Histogram<u64>) -> JoinTimes {
    if h.is_empty() {
        return JoinTimes::default();
    }
    JoinTimes {
        p50: h.value_at_quantile(0.50) as f64,
        p99: h.value_at_quantile(0.99) as f64,
        max: h.max() as f64,
        count: h.len(),
    }
}

/// The server's cost over a window: CPU seconds, and µs per forwarded packet.
pub fn cpu_per_packet(cpu_s: f64, w: &Window) -> Option<f64> {
    (w.received > 0).then(|| cpu_s * 1e6 / w.received as f64)
}

impl Report {
    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v:.2}{unit}"));
        let mib = |v: Option<u64>| {
            v.map_or("-".to_owned(), |v| {
                format!("{:.1} MiB", v as f64 / 1048576.0)
            })
        };
        let rows: Vec<(&str, String)> = vec![
            ("target", self.target.clone()),
            ("scenario", self.scenario.clone()),
            ("transport", self.transport.clone()),
            ("visits", self.visits.to_string()),
            (
                "SFrame payloads (opened / failed)",
                if self.e2ee {
                    format!("yes ({} / {})", self.sframe_opened, self.sframe_failed)
                } else {
                    "no".into()
                },
            ),
            ("measured for", format!("{:.1} s", self.duration_s)),
            (
                "packets sent / forwarded",
                format!("{} / {}", self.packets_sent, self.packets_forwarded),
            ),
            ("loss", format!("{:.3} %", self.loss_pct)),
            (
                "duplicates / reordered",
                format!("{} / {}", self.duplicates, self.reordered),
            ),
            (
                "packets at a foreign visit",
                self.foreign_packets.to_string(),
            ),
            (
                "one-way delay p50 / p99 / max",
                format!(
                    "{:.2} / {:.2} / {:.2} ms",
                    self.one_way_ms.p50, self.one_way_ms.p99, self.one_way_ms.max
                ),
            ),
            (
                "join time p50 / p99 / max (n)",
                format!(
                    "{:.0} / {:.0} / {:.0} ms ({})",
                    self.join_ms.p50, self.join_ms.p99, self.join_ms.max, self.join_ms.count
                ),
            ),
            (
                "load generator worst lateness",
                format!("{:.1} ms", self.loadgen_max_late_ms),
            ),
            (
                "join failures / peers failed",
                format!("{} / {}", self.join_failures, self.peers_failed),
            ),
            ("server CPU", opt(self.server_cpu_s, " s")),
            ("load generator CPU", opt(self.loadgen_cpu_s, " s")),
            (
                "server CPU per packet",
                opt(self.server_cpu_us_per_packet, " µs"),
            ),
            (
                "load generator CPU per packet",
                opt(self.loadgen_cpu_us_per_packet, " µs"),
            ),
            (
                "server RSS (idle -> loaded)",
                format!(
                    "{} -> {}",
                    mib(self.server_rss_bytes_idle),
                    mib(self.server_rss_bytes)
                ),
            ),
            (
                "server RSS per visit",
                self.server_rss_bytes_per_visit
                    .map_or("-".to_owned(), |v| format!("{:.0} KiB", v / 1024.0)),
            ),
            (
                "knee (visits)",
                match (self.knee_visits, self.knee_reached) {
                    (Some(k), Some(false)) => format!(">= {k} (limits not reached)"),
                    (Some(k), _) => k.to_string(),
                    (None, _) => "-".to_owned(),
                },
            ),
        ];
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in rows {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        if !self.steps.is_empty() {
            let _ = writeln!(out, "\n  ramp steps:");
            let _ = writeln!(
                out,
                "  {:>7} {:>9} {:>9} {:>9} {:>12} {:>10}",
                "visits", "loss %", "p50 ms", "p99 ms", "µs/packet", "RSS MiB"
            );
            for s in &self.steps {
                let _ = writeln!(
                    out,
                    "  {:>7} {:>9.3} {:>9.2} {:>9.2} {:>12} {:>10} {}",
                    s.visits,
                    s.loss_pct,
                    s.one_way_ms.p50,
                    s.one_way_ms.p99,
                    s.server_cpu_us_per_packet
                        .map_or("-".into(), |v| format!("{v:.2}")),
                    s.server_rss_bytes
                        .map_or("-".into(), |v| format!("{:.1}", v as f64 / 1048576.0)),
                    if s.ok { "" } else { "<- over the limits" },
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_an_empty_histogram_are_zero_not_a_panic() {
        let h = Histogram::<u64>::new_with_bounds(1, 1000, 3).unwrap();
        assert_eq!(one_way(&h), OneWay::default());
        assert_eq!(join_times(&h), JoinTimes::default());
    }

    #[test]
    fn delays_are_reported_in_milliseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in [500, 1000, 1500] {
            h.record(us).unwrap();
        }
        let o = one_way(&h);
        assert!((o.p50 - 1.0).abs() < 0.01, "{o:?}");
        assert!((o.max - 1.5).abs() < 0.01, "{o:?}");
    }
}
