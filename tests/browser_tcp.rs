//! ICE-TCP in a real browser on a network without UDP (R-REMOTE-2): the lawyer's headless
//! Chromium runs in a network namespace whose nftables firewall drops every UDP datagram
//! (tests/support/netns.rs), so its only way to confer's SFU is the passive TCP host
//! candidate; the booth stays on UDP in the root namespace. Both pages decode each
//! other's camera colour, and the lawyer page's `getStats` shows the selected candidate
//! pair running over TCP. Under `CI=true` a missing tool (Chromium, ip, nft) or missing
//! root fails the test (never a silent skip).

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
async fn a_lawyer_page_on_a_network_without_udp_and_a_booth_page_decode_each_others_video_over_ice_tcp(
) {
    let Some(()) = hostile::tools(false) else {
        return;
    };
    let out = hostile::visit_across(Network::NoUdp).await;
    let p = &out.pair;
    assert_eq!(p.local_protocol.as_deref(), Some("tcp"), "{p:?}");
    assert_eq!(p.remote_protocol.as_deref(), Some("tcp"), "{p:?}");
    // An active TCP candidate's real port is learnt by the checks: `host` or `prflx`.
    assert_ne!(
        p.local_type.as_deref(),
        Some("relay"),
        "ICE-TCP, not a relay: {p:?}"
    );
}
