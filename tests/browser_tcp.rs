//! ICE-TCP in a real browser (R-REMOTE-2): the lawyer's headless Chromium is forced off UDP
//! (`--force-webrtc-ip-handling-policy` + `--webrtc-ip-handling-policy=disable_non_proxied_udp`:
//! WebRTC may then use only TCP), so its only way to confer's SFU is the passive TCP host
//! candidate; the booth stays on UDP. Both pages decode each other's camera colour, and the
//! lawyer page's `getStats` shows the selected candidate pair running over TCP.
//!
//! Modelled on tests/browser.rs; does not cover TURN or TLS (out of scope). Under `CI=true` a
//! missing Chromium fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;

use browser::{Browser, BrowserOpts, CertAutoSelect, BOOTH_COLOUR, LAWYER_COLOUR};
use std::time::Duration;

const CONNECT: Duration = Duration::from_secs(60);

/// Chromium flags that keep WebRTC off UDP (no proxy is configured, so no UDP at all).
const NO_UDP: [&str; 2] = [
    "--force-webrtc-ip-handling-policy",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
];

/// The protocols of the local and remote candidates of the lawyer page's selected pair.
const SELECTED_PAIR: &str = "(async () => { const r = await window.conferPc.getStats(); \
    let pair = null; r.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = r.get(s.selectedCandidatePairId); }); \
    if (!pair) r.forEach(s => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; }); \
    if (!pair) return null; const l = r.get(pair.localCandidateId), m = r.get(pair.remoteCandidateId); \
    return [l ? l.protocol : null, m ? m.protocol : null, m ? (m.tcpType || null) : null]; })()";

/// Centre pixel of the remote video, drawn by the test (the pages themselves never
/// touch a canvas: nothing in confer captures frames).
const SAMPLE_REMOTE: &str = "(() => { const v = document.getElementById('remote-video'); \
    if (!v || !v.videoWidth) return null; const c = document.createElement('canvas'); \
    c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
    const d = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data; \
    return [d[0], d[1], d[2]]; })()";

async fn wait_frames_growing(side: &Browser) -> anyhow::Result<(u64, u64)> {
    side.wait_for(
        "window.conferPc && window.conferState && window.conferState.connectionState === 'connected'",
        CONNECT,
    )
    .await?;
    let deadline = tokio::time::Instant::now() + CONNECT;
    let first = loop {
        let n = browser::frames_decoded(side).await?;
        if n > 0 {
            break n;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{}: no video frame decoded",
            side.label()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = browser::frames_decoded(side).await?;
    Ok((first, second))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "R-REMOTE-2: with disable_non_proxied_udp this Chromium never starts ICE (iceConnectionState stays new, also with every local address advertised); needs a UDP-dropping network namespace instead"]
async fn a_lawyer_page_without_udp_and_a_booth_page_decode_each_others_video_over_ice_tcp() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app().await;
    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());

    let booth = Browser::launch(BrowserOpts {
        label: "booth".into(),
        fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
        client_p12: Some(browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap()),
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin.clone(),
    })
    .await
    .expect("booth browser");
    let lawyer = Browser::launch_with_flags(
        BrowserOpts {
            label: "lawyer".into(),
            fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
            client_p12: None,
            ca_pem: app.ca_pem.clone(),
            origin_for_cert_autoselect: origin.clone(),
        },
        CertAutoSelect::ProfilePreference,
        &NO_UDP,
    )
    .await
    .expect("lawyer browser");

    // The booth page finds its visit from its certificate and joins by itself.
    booth.goto(&app.url("/booth")).await.unwrap();
    // The lawyer signs in and joins the open visit.
    lawyer.goto(&app.url("/lawyer")).await.unwrap();
    lawyer
        .fill("#username", &app.lawyer_username)
        .await
        .unwrap();
    lawyer
        .fill("#password", &app.lawyer_password)
        .await
        .unwrap();
    lawyer.click("#sign-in").await.unwrap();
    lawyer
        .wait_for(
            "document.querySelector('.join[data-visit-id]') !== null",
            CONNECT,
        )
        .await
        .unwrap();
    lawyer.click(".join[data-visit-id]").await.unwrap();

    for (side, own, other) in [
        (&lawyer, LAWYER_COLOUR, BOOTH_COLOUR),
        (&booth, BOOTH_COLOUR, LAWYER_COLOUR),
    ] {
        let (first, second) = wait_frames_growing(side)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", side.label()));
        assert!(
            second > first,
            "{}: framesDecoded did not grow ({first} -> {second})",
            side.label()
        );
        let sample: [u8; 3] = serde_json::from_value(side.eval(SAMPLE_REMOTE).await.unwrap())
            .expect("remote video sample");
        assert!(
            browser::colour_is(sample, other, own),
            "{}: the remote video shows {sample:?}, not the other side's camera {other:?}",
            side.label()
        );
        println!(
            "{}: framesDecoded {first} -> {second}, remote centre pixel {sample:?}",
            side.label()
        );
    }
    let pair = lawyer.eval(SELECTED_PAIR).await.unwrap();
    println!("lawyer: selected pair (local protocol, remote protocol, remote tcpType) {pair}");
    let protocols: Vec<Option<String>> =
        serde_json::from_value(pair.clone()).expect("a selected pair");
    assert!(
        protocols[..2].iter().any(|p| p.as_deref() == Some("tcp")),
        "the lawyer's selected candidate pair runs over TCP: {pair}"
    );
    lawyer.screenshot("lawyer-tcp.png").await.unwrap();
    booth.screenshot("booth-tcp.png").await.unwrap();

    // The lawyer leaves; the booth page is told.
    lawyer.click("#leave").await.unwrap();
    booth
        .wait_for("document.getElementById('notices') && /left/i.test(document.getElementById('notices').textContent)", CONNECT)
        .await
        .unwrap();
    booth
        .screenshot("booth-after-lawyer-left.png")
        .await
        .unwrap();
    lawyer.close().await;
    booth.close().await;
    app.running.shutdown().await;
}
