//! Smoke run of the load tool (load test): 2 visits for 3 seconds against a real confer started
//! in this process (real TLS, WSS and UDP on loopback, a fresh data dir), then the JSON report
//! must carry every key the issue lists. No speed is asserted (tests never assert wall-clock
//! speed); only that media went through both ways and nothing reached a foreign visit.

use clap::Parser;
use confer::config::Config;
use confer_loadtest::{run, write_json, Options};
use serde_json::Value;

/// A real confer in this process, with the demo facility; its data dir is the first value.
async fn start_confer() -> (tempfile::TempDir, confer::app::Running) {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        ..Config::default()
    };
    config.http.addr = "127.0.0.1:0".parse().unwrap();
    config.media.addr = "127.0.0.1:0".parse().unwrap();
    config.admin.addr = "127.0.0.1:0".parse().unwrap();
    // Two media workers: the visits land on both, so the generator reaches both ports.
    config.media.workers = Some(2);
    config.demo.enabled = true;
    config.validate().expect("valid config");
    let running = confer::app::start(config).await.expect("confer starts");
    (data_dir, running)
}

/// The generator's fast path (`--generator fast`): packets stamped from str0m's own header
/// and protected with the keys str0m negotiated (the vendored key accessor), received ones
/// opened the same way and registered with str0m. The server must forward them like any
/// other (it cannot tell), the receivers must open every one, nothing may reach another
/// visit, and (R-REMOTE-2) the server's congestion control must hear the receivers'
/// transport-wide feedback: its estimate of some leg rises above the 1 Mbit/s it starts
/// from, which it cannot do without feedback (a receiver that sent none held every sending
/// leg at the start value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_generator_sends_and_opens_real_srtp_through_confer() {
    for generator in ["fast", "fast-tx"] {
        let (data_dir, running) = start_confer().await;
        let opts = Options::parse_from([
            "confer-loadtest".to_owned(),
            "--scenario=steady".into(),
            "--visits=4".into(),
            "--duration=3".into(),
            "--warmup=0.5".into(),
            "--max-run-secs=120".into(),
            "--quiet".into(),
            format!("--generator={generator}"),
            format!("--http-addr={}", running.http_addr),
            format!("--admin-addr={}", running.admin_addr),
            format!("--data-dir={}", data_dir.path().display()),
            format!("--server-pid={}", std::process::id()),
        ]);
        // The server's estimates, sampled while the visits run (they end with the run).
        let hub = running.state.hub.clone();
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let sampler = tokio::spawn(async move {
            let mut highest = 0u64;
            loop {
                let snap = hub.media_snapshot().await;
                let now = snap.peers.iter().filter_map(|(_, _, p)| p.bwe_estimate_bps);
                highest = highest.max(now.max().unwrap_or(0));
                tokio::select! {
                    _ = stop_rx.changed() => return highest,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                }
            }
        });
        let report = run(opts).await.expect("the load run completes");
        let _ = stop_tx.send(true);
        let highest_estimate = sampler.await.expect("sampler");
        eprintln!("{generator}: the SFU's highest estimate {highest_estimate} bit/s");
        running.shutdown().await;
        let table = report.table();
        assert!(
            highest_estimate > 1_000_000,
            "{generator}: the SFU's estimate never left its start (no feedback heard?): \
             {highest_estimate} bit/s"
        );
        assert_eq!(report.join_failures, 0, "{generator}: {table}");
        assert_eq!(
            report.foreign_packets, 0,
            "{generator}: media reached another visit"
        );
        assert!(
            report.packets_forwarded > report.packets_sent / 2,
            "{generator}: the SFU forwarded the fast path's packets: {table}"
        );
        assert!(
            report.fast_packets_sent > report.packets_sent * 9 / 10,
            "{generator}: all but each stream's first packets leave on the fast path: {table}"
        );
        assert_eq!(report.fast_open_failures, 0, "{generator}: {table}");
        if generator == "fast" {
            assert!(
                report.fast_packets_opened >= report.packets_forwarded * 9 / 10,
                "received packets open on the fast path (str0m has only those that came \
                 before the peer knew it was connected): {table}"
            );
        } else {
            assert_eq!(report.fast_packets_opened, 0, "str0m receives: {table}");
        }
        assert!(report.loss_pct < 5.0, "{generator}: {table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_visits_for_three_seconds_report_every_key() {
    let (data_dir, running) = start_confer().await;

    let json_path = data_dir.path().join("report.json");
    let opts = Options::parse_from([
        "confer-loadtest".to_owned(),
        "--scenario=steady".into(),
        "--visits=2".into(),
        "--duration=3".into(),
        "--warmup=0.5".into(),
        "--max-run-secs=120".into(),
        "--quiet".into(),
        format!("--http-addr={}", running.http_addr),
        format!("--admin-addr={}", running.admin_addr),
        format!("--data-dir={}", data_dir.path().display()),
        // The server runs in this process: its counters include the load generator's.
        format!("--server-pid={}", std::process::id()),
        format!("--json={}", json_path.display()),
    ]);
    let report = run(opts).await.expect("the load run completes");
    write_json(&report, &json_path).expect("report written");
    running.shutdown().await;

    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    for key in [
        "scenario",
        "visits",
        "duration_s",
        "packets_forwarded",
        "loss_pct",
        "one_way_ms",
        "join_ms",
        "server_cpu_s",
        "server_cpu_us_per_packet",
        "server_rss_bytes",
        "server_rss_bytes_per_visit",
        "knee_visits",
        "target",
    ] {
        assert!(
            json.get(key).is_some(),
            "the JSON report lacks {key:?}: {json}"
        );
    }
    for key in ["p50", "p99", "max"] {
        assert!(
            json["one_way_ms"].get(key).is_some(),
            "one_way_ms lacks {key}"
        );
    }
    for key in ["p50", "p99"] {
        assert!(json["join_ms"].get(key).is_some(), "join_ms lacks {key}");
    }
    assert_eq!(json["scenario"], "steady");
    assert_eq!(json["target"], "confer");
    assert_eq!(json["visits"], 2);
    assert_eq!(report.join_failures, 0, "{}", report.table());
    assert!(
        report.packets_forwarded > 0,
        "no media went through: {}",
        report.table()
    );
    assert_eq!(
        report.join_ms.count,
        2,
        "both lawyers reached their booth: {}",
        report.table()
    );
    assert_eq!(report.foreign_packets, 0, "media reached another visit");
    assert!(report.server_cpu_s.is_some() && report.server_rss_bytes.is_some());
}
