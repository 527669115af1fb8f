//! The lawyer's network check before joining (R-REMOTE-1, R-REMOTE-2), in a real browser
//! on three networks: the lawyer's headless Chromium runs in a network namespace
//! (tests/support/netns.rs) whose nftables firewall is changed between runs. The check's
//! data channel reaches the SFU over UDP on an open network, over ICE-TCP when UDP is
//! dropped, and not at all when only HTTPS to the server is let out; the page says which,
//! in words. The route itself: a session is needed, an offer with media is refused, one
//! check per account every few seconds. Under `CI=true` a missing tool (Chromium, ip,
//! nft) or missing root fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/netns.rs"]
mod netns;

use browser::{Browser, BrowserOpts};
use netns::NetNs;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A data-channel-only offer (what the page sends) and one with audio too, made by the
/// browser itself.
const OFFERS: &str = "(async () => { \
    const a = new RTCPeerConnection(); a.createDataChannel('check'); \
    const b = new RTCPeerConnection(); b.createDataChannel('check'); b.addTransceiver('audio'); \
    const r = [(await a.createOffer()).sdp, (await b.createOffer()).sdp]; a.close(); b.close(); return r; })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_before_joining_tells_an_open_a_udp_blocked_and_a_closed_network_apart() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let Some(()) = netns::tools_or_fail() else {
        return;
    };
    let ns = NetNs::create();
    let root = ns.root();
    let app = app::spawn_app_with(|c| {
        // Reachable from the namespace (the veth's root side) and from loopback.
        c.http.addr = "0.0.0.0:0".parse().unwrap();
        c.media.addr = "0.0.0.0:0".parse().unwrap();
        c.media.public_ips = vec![root];
    })
    .await;
    let https_port = app.running.http_addr.port();

    // The route, from a plain client: no session, no check.
    let http = app.client(&app::Identity::None);
    let resp = http
        .post(app.url("/api/network-check"))
        .json(&json!({ "sdp": "v=0" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "a check needs a signed-in account");

    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://{root}:{https_port}");
    let resolver =
        format!("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE {root}");
    let lawyer = Browser::launch_in_netns(
        BrowserOpts {
            label: "lawyer-check".into(),
            fake_video: browser::fake_camera(cams.path(), "lawyer", browser::LAWYER_COLOUR)
                .unwrap(),
            client_p12: None,
            ca_pem: app.ca_pem.clone(),
            origin_for_cert_autoselect: origin.clone(),
        },
        &[resolver.as_str()],
        &ns.name,
        ns.ns_ip.into(),
        root,
    )
    .await
    .expect("lawyer browser in the namespace");
    lawyer.goto(&format!("{origin}/lawyer")).await.unwrap();
    lawyer
        .sign_in(
            &app.lawyer_username,
            &app.lawyer_password,
            "document.querySelector('.join[data-visit-id]') !== null",
            WAIT,
        )
        .await
        .unwrap();

    // R-PRIV-1: an offer with audio is no network check; a session may check once every
    // few seconds.
    let session = app.demo_lawyer_session().await;
    let offers: Vec<String> = serde_json::from_value(lawyer.eval(OFFERS).await.unwrap()).unwrap();
    let post = |sdp: &str| {
        http.post(app.url("/api/network-check"))
            .bearer_auth(&session)
            .json(&json!({ "sdp": sdp }))
            .send()
    };
    let resp = post(&offers[1]).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "bad_offer", "{body}");
    assert!(body["message_zh"].as_str().is_some(), "{body}");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let resp = post(&offers[0]).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let sdp = body["sdp"].as_str().unwrap();
    assert!(
        sdp.contains("m=application") && !sdp.contains("m=audio"),
        "{sdp}"
    );
    assert!(
        sdp.contains("tcptype passive"),
        "the ICE-TCP candidate is offered: {sdp}"
    );
    assert_eq!(body["relay"], false, "no relay is configured here");
    let resp = post(&offers[0]).await.unwrap();
    assert_eq!(resp.status(), 429, "a second check at once is throttled");
    assert!(resp.headers().contains_key("retry-after"));

    // The page, on three networks.
    let networks: [(&str, &str, Option<&str>, &str); 3] = [
        (
            "open",
            "",
            Some("udp"),
            "The audio and video connection works (UDP",
        ),
        (
            "no UDP",
            "udp",
            Some("tcp"),
            "The audio and video connection works over TCP only",
        ),
        (
            "HTTPS only",
            "https",
            None,
            "The audio and video connection does not work from this network",
        ),
    ];
    for (name, firewall, transport, sentence) in networks {
        match firewall {
            "udp" => ns.drop_all_udp(),
            "https" => {
                ns.firewall("delete table inet confer_net");
                ns.only_tcp_to(&[(root, https_port)]);
            }
            _ => {}
        }
        // The page's own account and the route's throttle: one check per few seconds.
        tokio::time::sleep(Duration::from_millis(3100)).await;
        lawyer.click("#prejoin-start").await.unwrap();
        lawyer
            .wait_for(
                "window.conferState.prejoin && window.conferState.prejoin.media !== null",
                WAIT,
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: the check did not finish: {e:#}"));
        let media = lawyer
            .eval("window.conferState.prejoin.media")
            .await
            .unwrap();
        let shown: String = serde_json::from_value(
            lawyer
                .eval("document.getElementById('network-check').innerText")
                .await
                .unwrap(),
        )
        .unwrap();
        println!("{name}: media check {media}; the page says: {shown}");
        match transport {
            Some(t) => {
                assert_eq!(media["ok"], true, "{name}: {media}");
                assert_eq!(media["transport"], t, "{name}: {media}");
                assert!(media["rttMs"].as_f64().is_some(), "{name}: {media}");
            }
            None => assert_eq!(media["ok"], false, "{name}: {media}"),
        }
        assert!(shown.contains(sentence), "{name}: {shown}");
        lawyer
            .screenshot(format!(
                "network-check/{}.png",
                name.replace(' ', "-").to_lowercase()
            ))
            .await
            .unwrap();
        lawyer.click("#prejoin-stop").await.unwrap();
        // The next run starts from a blank report.
        lawyer
            .eval("window.conferState.prejoin.media = null")
            .await
            .unwrap();
    }
    lawyer.close().await;
    app.running.shutdown().await;
    drop(ns);
}
