//! R-REMOTE-2 in real browsers: the lawyer page (headless Chromium, loaded and signalling
//! through a relay) loses its network without a close: its media packets are dropped by an
//! nft rule and its signalling relay carries nothing. The booth page (Chromium with the
//! booth certificate) shows the reconnecting placeholder within 10 s. When the network comes
//! back within the grace period, the lawyer page recovers by itself, with no click: it finds
//! its socket dead, reconnects with backoff and resumes its seat, restarting ICE as needed,
//! and the booth page shows the lawyer's camera colour again. A second loss that is never
//! repaired ends, after the grace period, with the booth page saying the lawyer left.
//! Under `CI=true` a missing Chromium or nft fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/relay.rs"]
mod relay;

use browser::{Browser, BrowserOpts, BOOTH_COLOUR, LAWYER_COLOUR};
use relay::Relay;
use std::process::Command;
use std::time::{Duration, Instant};

const CONNECT: Duration = Duration::from_secs(60);
/// The protocol's 10 s (signaling/PROTOCOL.md "Liveness"), with slack for the page's polling.
const TOLD_WITHIN: Duration = Duration::from_secs(12);
const PLACEHOLDER: &str = "document.getElementById('remote-placeholder')";

/// Centre pixel of the remote video, drawn by the test (the pages never touch a canvas).
const SAMPLE_REMOTE: &str = "(() => { const v = document.getElementById('remote-video'); \
    if (!v || !v.videoWidth) return null; const c = document.createElement('canvas'); \
    c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
    const d = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data; \
    return [d[0], d[1], d[2]]; })()";

/// An nft table that drops UDP to and from some local ports (one browser's ICE sockets) on
/// this host, until dropped. Only those ports: other tests on the machine are not touched.
struct UdpBlock {
    table: String,
}

impl UdpBlock {
    fn ports(ports: &[u16]) -> UdpBlock {
        assert!(!ports.is_empty(), "no port to block");
        let table = format!("confer_resume_{}_{}", std::process::id(), ports[0]);
        let set = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let script = format!(
            "add table inet {table}\n\
             add chain inet {table} out {{ type filter hook output priority 0; policy accept; }}\n\
             add rule inet {table} out udp sport {{ {set} }} drop\n\
             add rule inet {table} out udp dport {{ {set} }} drop\n"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), script).unwrap();
        let status = Command::new("nft")
            .arg("-f")
            .arg(file.path())
            .status()
            .expect("nft");
        assert!(status.success(), "nft could not add the rule");
        UdpBlock { table }
    }
}

impl Drop for UdpBlock {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

/// Whether nft can be used; under `CI=true` its absence fails the test.
fn nft_or_fail() -> bool {
    let ok = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nft is required (apt-get install nftables)"
        );
        eprintln!("SKIPPED outside CI: nft is not usable here");
    }
    ok
}

/// The UDP ports of the page's local ICE candidates.
async fn local_udp_ports(page: &Browser) -> Vec<u16> {
    let value = page
        .run(
            "const ports = new Set();
             (await window.conferPc.getStats()).forEach(s => {
               if (s.type === 'local-candidate' && (s.protocol || '').toLowerCase() === 'udp' && s.port) ports.add(s.port);
             });
             return [...ports];",
        )
        .await
        .expect("the lawyer page's stats");
    serde_json::from_value(value).expect("ports")
}

async fn remote_colour_is(page: &Browser, expected: [u8; 3], other: [u8; 3]) {
    let deadline = Instant::now() + CONNECT;
    loop {
        let sample: Option<[u8; 3]> =
            serde_json::from_value(page.eval(SAMPLE_REMOTE).await.unwrap()).unwrap_or(None);
        if sample.is_some_and(|s| browser::colour_is(s, expected, other)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the remote video shows {sample:?}, not {expected:?}",
            page.label()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_page_that_loses_its_network_comes_back_by_itself_within_the_grace_period() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    if !nft_or_fail() {
        return;
    }
    let app = app::spawn_app_with(|c| {
        c.visit.reconnect_grace_secs = 30;
        c.signaling.ping_interval_secs = 1;
        c.signaling.dead_after_secs = 2;
    })
    .await;
    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let booth = Browser::launch(BrowserOpts {
        label: "booth-resume".into(),
        fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
        client_p12: Some(browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap()),
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin.clone(),
    })
    .await
    .expect("booth browser");
    // The lawyer's whole page (REST and signalling) goes through the relay.
    let relay = Relay::start(app.running.http_addr).await;
    let lawyer = Browser::launch(BrowserOpts {
        label: "lawyer-resume".into(),
        fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin,
    })
    .await
    .expect("lawyer browser");

    booth.goto(&app.url("/booth")).await.unwrap();
    lawyer
        .goto(&format!("https://{}/lawyer", relay.addr()))
        .await
        .unwrap();
    lawyer
        .sign_in(
            &app.lawyer_username,
            &app.lawyer_password,
            "document.querySelector('.join[data-visit-id]') !== null",
            CONNECT,
        )
        .await
        .unwrap();
    lawyer.click(".join[data-visit-id]").await.unwrap();
    for page in [&lawyer, &booth] {
        page.wait_for(
            "window.conferState && window.conferState.connectionState === 'connected'",
            CONNECT,
        )
        .await
        .unwrap();
    }
    remote_colour_is(&booth, LAWYER_COLOUR, BOOTH_COLOUR).await;
    remote_colour_is(&lawyer, BOOTH_COLOUR, LAWYER_COLOUR).await;

    // The lawyer's network vanishes: no packet either way, no close.
    let block = UdpBlock::ports(&local_udp_ports(&lawyer).await);
    relay.go_silent();
    let lost_at = Instant::now();
    let reconnecting = format!(
        "!{PLACEHOLDER}.hidden && {PLACEHOLDER}.textContent.startsWith(\"The other side's connection was interrupted\") \
         && window.conferState.remote === 'reconnecting'"
    );
    booth
        .wait_for(&reconnecting, TOLD_WITHIN)
        .await
        .expect("the booth page shows the reconnecting placeholder within 10 s");
    println!("network lost -> booth placeholder: {:?}", lost_at.elapsed());

    // The network is back within the grace period. Nobody clicks anything.
    drop(block);
    relay.restore();
    let restored_at = Instant::now();
    lawyer
        .wait_for(
            "window.conferState.resumes >= 1 && window.conferState.connectionState === 'connected' \
             && window.conferState.phase === 'connected'",
            CONNECT,
        )
        .await
        .expect("the lawyer page resumed its seat by itself");
    booth
        .wait_for(
            &format!("window.conferState.remote === 'shown' && {PLACEHOLDER}.hidden"),
            CONNECT,
        )
        .await
        .expect("the booth page shows the lawyer again");
    remote_colour_is(&booth, LAWYER_COLOUR, BOOTH_COLOUR).await;
    remote_colour_is(&lawyer, BOOTH_COLOUR, LAWYER_COLOUR).await;
    println!(
        "network restored -> lawyer's camera on the booth page again: {:?} (lawyer page: {})",
        restored_at.elapsed(),
        lawyer
            .eval("JSON.stringify(window.conferState)")
            .await
            .unwrap()
    );
    booth.screenshot("booth-lawyer-resumed.png").await.unwrap();

    // A second loss that is never repaired: the booth page hears, after the grace period,
    // that the lawyer left.
    let _block = UdpBlock::ports(&local_udp_ports(&lawyer).await);
    relay.go_silent();
    booth
        .wait_for(&reconnecting, TOLD_WITHIN)
        .await
        .expect("the booth page shows the placeholder again");
    booth
        .wait_for(
            &format!("{PLACEHOLDER}.textContent.includes('The other side left') && !{PLACEHOLDER}.hidden"),
            CONNECT,
        )
        .await
        .expect("the booth page shows that the lawyer left after the grace period");
    lawyer.close().await;
    booth.close().await;
    app.running.shutdown().await;
}
