//! The slot's end on both pages, in real browsers (R-ARRANGE-4): the warnings (configured
//! 45 and 30 seconds before the end here instead of 5 and 1 minutes) show on the lawyer
//! page and on the booth kiosk, in each page's language, and "ask for more time" extends
//! the countdown on both pages and clears the warning. The booth is a Chinese browser, the
//! lawyer an English one. Screenshots go to `target/e2e-artifacts/pages/`.

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;

use browser::{Browser, BrowserOpts, Look, BOOTH_COLOUR, LAWYER_COLOUR};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
/// Seconds left on a countdown ("1:23", "14:59", "1:02:03").
const SECONDS_LEFT: &str = "(() => { const p = document.getElementById('time-left').innerText.trim().split(':').map(Number); \
    return p.some(Number.isNaN) ? null : p.reduce((a, b) => a * 60 + b, 0); })()";

async fn until(side: &Browser, js: &str, what: &str) {
    if let Err(e) = side.wait_for(js, WAIT).await {
        let shown = side
            .eval("document.body.innerText")
            .await
            .unwrap_or_default();
        panic!("{}: {what}: {e:#}\npage text: {shown}", side.label());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_show_on_both_pages_and_more_time_extends_both_countdowns() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app_with(|c| c.visit.warning_secs = vec![45, 30]).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    // The demo visit ends 100 s from now (before anyone joins, so the slot clock uses it).
    let ends = chrono::Utc::now().timestamp_millis() + 100_000;
    app.sql(&[&format!(
        "UPDATE visits SET ends_at = {ends} WHERE id = {visit}"
    )])
    .await;
    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let booth = Browser::launch_look(
        BrowserOpts {
            label: "slot-booth".into(),
            fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
            client_p12: Some(
                browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap(),
            ),
            ca_pem: app.ca_pem.clone(),
            origin_for_cert_autoselect: origin.clone(),
        },
        Look::chinese(),
    )
    .await
    .expect("booth browser");
    let lawyer = Browser::launch(BrowserOpts {
        label: "slot-lawyer".into(),
        fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin.clone(),
    })
    .await
    .expect("lawyer browser");

    booth.goto(&app.url("/booth")).await.unwrap();
    lawyer.goto(&app.url("/lawyer")).await.unwrap();
    lawyer
        .sign_in(
            &app.lawyer_username,
            &app.lawyer_password,
            "document.querySelector('.join[data-visit-id]') !== null",
            WAIT,
        )
        .await
        .unwrap();
    lawyer.click(".join[data-visit-id]").await.unwrap();
    for side in [&lawyer, &booth] {
        until(
            side,
            &format!("window.conferState.phase === 'connected' && {SECONDS_LEFT} !== null && {SECONDS_LEFT} <= 100"),
            "in the visit, with the short slot's countdown",
        )
        .await;
    }

    // Both warnings, on both pages, in each page's language (under a minute left: "1").
    for (side, text) in [(&lawyer, "One minute left."), (&booth, "会见还剩 1 分钟。")] {
        until(
            side,
            &format!(
                "!document.getElementById('warning').hidden && document.getElementById('warning').innerText === '{text}' \
                 && document.getElementById('warning').dataset.minutes === '1'"
            ),
            "the first warning on screen",
        )
        .await;
    }
    lawyer
        .screenshot("pages/en/lawyer-warning.png")
        .await
        .unwrap();
    booth
        .screenshot("pages/zh/booth-warning.png")
        .await
        .unwrap();
    // The second warning: two warning notices listed on each page.
    for (side, text) in [(&lawyer, "One minute left."), (&booth, "会见还剩 1 分钟。")] {
        until(
            side,
            &format!(
                "[...document.querySelectorAll('#notices li')].filter(li => li.innerText.includes('{text}')).length === 2 \
                 && !document.getElementById('warning').hidden"
            ),
            "both warnings",
        )
        .await;
    }

    // More time: 15 minutes; both countdowns jump past 10 minutes and the warning goes.
    lawyer.fill("#extend-minutes", "15").await.unwrap();
    lawyer.click("#extend").await.unwrap();
    until(
        &lawyer,
        "/Granted/.test(document.getElementById('extend-answer').innerText)",
        "the extension granted",
    )
    .await;
    for side in [&lawyer, &booth] {
        until(
            side,
            &format!("{SECONDS_LEFT} > 600 && document.getElementById('warning').hidden"),
            "the countdown extended and the warning cleared",
        )
        .await;
        let left = side.eval(SECONDS_LEFT).await.unwrap();
        println!("{}: {left} s left after the extension", side.label());
    }
    lawyer
        .screenshot("pages/en/lawyer-extended.png")
        .await
        .unwrap();
    booth
        .screenshot("pages/zh/booth-extended.png")
        .await
        .unwrap();
    lawyer.close().await;
    booth.close().await;
    app.running.shutdown().await;
}
