//! The spine in real browsers: Debian's headless Chromium on the lawyer page and on the
//! booth page (the booth's browser holding the booth client certificate in its NSS
//! database), through confer's SFU. Each side has its own fake camera colour, so we can
//! tell that each decodes the *other's* video. R-REMOTE-1.
//!
//! Chromium's DTLS ClientHello is fragmented and offers DTLS 1.3 with a post-quantum key
//! share; this test is where the SFU proves it accepts it.
//! Under `CI=true` a missing Chromium fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;

use browser::{Browser, BrowserOpts, BOOTH_COLOUR, LAWYER_COLOUR};
use std::time::Duration;

const CONNECT: Duration = Duration::from_secs(60);

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
async fn lawyer_page_and_booth_page_decode_each_others_video_through_confer() {
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
    let lawyer = Browser::launch(BrowserOpts {
        label: "lawyer".into(),
        fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin.clone(),
    })
    .await
    .expect("lawyer browser");

    // The booth page finds its visit from its certificate and joins by itself.
    booth.goto(&app.url("/booth")).await.unwrap();
    // The lawyer signs in and joins the open visit.
    lawyer.goto(&app.url("/lawyer")).await.unwrap();
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
    lawyer.screenshot("lawyer.png").await.unwrap();
    booth.screenshot("booth.png").await.unwrap();

    // The lawyer leaves; the booth page is told.
    lawyer.click("#leave").await.unwrap();
    // Leaving asks for confirmation first.
    lawyer.click("#leave-yes").await.unwrap();
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
