//! R-REMOTE-2 in a real browser: the booth page (headless Chromium with the booth's client
//! certificate) is in a visit with a lawyer played by a webrtc-rs peer whose signalling runs
//! through a relay. When the lawyer falls silent (its peer stops sending, the relay carries
//! nothing, every socket stays open), the booth page replaces the lawyer's frozen picture
//! with the placeholder "The other side's connection was interrupted; reconnecting…" (these
//! browsers ask for English; 对方连接中断，正在恢复… in Chinese), and when the grace period ends it shows
//! that the other side left. The changes reach the page through the visit hub's notices
//! (docs/DESIGN.md invariant 8). Under `CI=true` a missing Chromium fails the test.

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/relay.rs"]
mod relay;

use app::Identity;
use browser::{Browser, BrowserOpts, BOOTH_COLOUR};
use confer_signaling::SignalingClient;
use peer::{MediaKind, SendRates, TestPeer};
use relay::Relay;
use std::time::{Duration, Instant};

const CONNECT: Duration = Duration::from_secs(60);
/// The protocol's 10 s (signaling/PROTOCOL.md "Liveness"), with slack for the page's polling.
const TOLD_WITHIN: Duration = Duration::from_secs(12);

const PLACEHOLDER: &str = "document.getElementById('remote-placeholder')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booth_page_shows_a_placeholder_instead_of_a_silent_lawyers_frozen_picture() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app_with(|c| c.visit.reconnect_grace_secs = 5).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let booth = Browser::launch(BrowserOpts {
        label: "booth-reconnecting".into(),
        fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
        client_p12: Some(browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap()),
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin,
    })
    .await
    .expect("booth browser");
    booth.goto(&app.url("/booth")).await.unwrap();

    // The lawyer: a webrtc-rs peer, signalling through the relay.
    let relay = Relay::start(app.running.http_addr).await;
    let mut sig = SignalingClient::connect(
        &relay.ws_url(),
        app::tls_client(&app.ca_pem, &Identity::None),
    )
    .await
    .expect("wss through the relay");
    sig.hello().await.unwrap();
    sig.join(&app.demo_lawyer_token(visit).await)
        .await
        .expect("lawyer joins");
    let lawyer = TestPeer::new("lawyer").await;
    let answer = sig.offer(&lawyer.create_offer().await).await.unwrap();
    lawyer.set_answer(&answer).await;
    lawyer.wait_connected(CONNECT).await.expect("lawyer peer");
    lawyer
        .start_sending(Duration::from_secs(120), SendRates::default())
        .await
        .unwrap();
    booth
        .wait_for(
            "window.conferState && window.conferState.connectionState === 'connected'",
            CONNECT,
        )
        .await
        .unwrap();
    lawyer
        .wait_received(MediaKind::Video, 10, CONNECT)
        .await
        .expect("the booth's camera reaches the lawyer");
    // The booth page receives the lawyer's packets, and the video is shown.
    booth
        .wait_for(
            &format!("window.conferState.remote === 'shown' && {PLACEHOLDER}.hidden"),
            CONNECT,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    relay.go_silent();
    lawyer.stop_sending();
    let silent_since = Instant::now();
    booth
        .wait_for(
            &format!(
                "!{PLACEHOLDER}.hidden && {PLACEHOLDER}.textContent.startsWith(\"The other side's connection was interrupted\") \
                 && /reconnecting/.test({PLACEHOLDER}.textContent) \
                 && document.getElementById('remote-video').hidden"
            ),
            TOLD_WITHIN,
        )
        .await
        .expect("the booth page shows the reconnecting placeholder");
    println!(
        "silence to the booth page's placeholder: {:?}",
        silent_since.elapsed()
    );
    booth
        .screenshot("booth-lawyer-reconnecting.png")
        .await
        .unwrap();

    // No return within the grace period: the page says the other side left.
    booth
        .wait_for(
            &format!("{PLACEHOLDER}.textContent.includes('The other side left') && !{PLACEHOLDER}.hidden"),
            CONNECT,
        )
        .await
        .expect("the booth page shows that the lawyer left");
    booth.screenshot("booth-lawyer-left.png").await.unwrap();
    drop(sig);
    booth.close().await;
    app.running.shutdown().await;
}
