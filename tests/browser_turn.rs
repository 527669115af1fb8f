//! TURN over TLS in a real browser (R-REMOTE-2: an office network that allows only HTTPS):
//! the lawyer's headless Chromium runs in a network namespace whose firewall lets out only
//! TCP to confer's HTTPS port and to coturn's TLS port (not the SFU's UDP or TCP media
//! ports), so media can only go through the relay, with the credentials confer handed out
//! in `joined.ice_servers`. The booth stays in the root namespace. Both pages decode each
//! other's camera colour, and the lawyer's selected local candidate is a relay reached
//! over TLS. Under `CI=true` a missing tool (Chromium, ip, nft, turnserver) fails.
//!
//! Figures (not a test of speed): `cargo test --test browser_turn -- --ignored --nocapture
//! join_to_first_frame_by_transport` prints join -> first remote frame for UDP, ICE-TCP and
//! TURN/TLS, p50 and p99 over `CONFER_FIGURE_RUNS` runs (default 5) each.

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/coturn.rs"]
mod coturn;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/netns.rs"]
mod netns;

use hostile::Network;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_page_that_may_only_reach_https_and_turn_tls_decodes_the_booth_through_the_relay()
{
    let Some(()) = hostile::tools(true) else {
        return;
    };
    let out = hostile::visit_across(Network::OnlyHttpsAndTurnTls).await;
    let p = &out.pair;
    assert_eq!(p.local_type.as_deref(), Some("relay"), "{p:?}");
    assert_eq!(p.relay_protocol.as_deref(), Some("tls"), "{p:?}");
}

/// Join -> first remote frame in the lawyer's Chromium, per transport (printed only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures for the docs, not a test: run with --ignored --nocapture"]
async fn join_to_first_frame_by_transport() {
    let Some(()) = hostile::tools(true) else {
        return;
    };
    let runs: usize = std::env::var("CONFER_FIGURE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut table = Vec::new();
    for network in [Network::Open, Network::NoUdp, Network::OnlyHttpsAndTurnTls] {
        let mut ms = Vec::new();
        for _ in 0..runs {
            ms.push(hostile::visit_across(network).await.join_to_first_frame_ms);
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
        table.push(format!(
            "{:<9} runs {runs:>2}  p50 {:>6.0} ms  p99 {:>6.0} ms  all {ms:.0?}",
            network.label(),
            at(0.5),
            at(0.99)
        ));
    }
    println!("join -> first remote video frame in the lawyer's Chromium:");
    for line in table {
        println!("{line}");
    }
}
