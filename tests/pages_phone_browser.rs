//! The lawyer page on a phone, with the keyboard alone (R-REMOTE-1: lawyers often join
//! from a phone): Chromium's device emulation of a 390×844 touch screen; sign-in, the
//! visit list, joining, the video, the controls and leaving, driven only by Tab, typing,
//! Enter and Space (no clicks); at every step nothing is wider than the screen (no
//! horizontal scrolling) and the controls are on the page. axe-core checks the phone
//! layout too. Screenshots go to `target/e2e-artifacts/pages/phone/`.

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;

use browser::{Browser, BrowserOpts, Look, BOOTH_COLOUR, LAWYER_COLOUR};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const TAB_LIMIT: usize = 60;
const ENTER: &str = "\u{E007}";
const SPACE: &str = "\u{E00D}";
const FITS: &str = "document.documentElement.scrollWidth <= window.innerWidth";

async fn until(side: &Browser, js: &str, what: &str) {
    if let Err(e) = side.wait_for(js, WAIT).await {
        let shown = side
            .eval("document.body.innerText")
            .await
            .unwrap_or_default();
        panic!("{}: {what}: {e:#}\npage text: {shown}", side.label());
    }
}

async fn fits(side: &Browser, state: &str) {
    let v = side
        .eval("[document.documentElement.scrollWidth, window.innerWidth]")
        .await
        .unwrap();
    println!("phone {state}: scrollWidth/innerWidth {v}");
    assert_eq!(
        side.eval(FITS).await.unwrap(),
        true,
        "{state}: wider than the phone's screen: {v}"
    );
}

async fn no_serious_axe(side: &Browser, state: &str) {
    let found = side.axe().await.unwrap();
    println!("axe phone {state}: {} violations", found.len());
    let serious: Vec<_> = found
        .iter()
        .filter(|(_, impact, _)| impact == "serious" || impact == "critical")
        .collect();
    assert!(serious.is_empty(), "axe-core, phone {state}: {serious:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lawyer_page_on_a_phone_with_the_keyboard_alone() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app().await;
    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let booth = Browser::launch(BrowserOpts {
        label: "phone-booth".into(),
        fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
        client_p12: Some(browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap()),
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin.clone(),
    })
    .await
    .expect("booth browser");
    let phone = Browser::launch_look(
        BrowserOpts {
            label: "phone-lawyer".into(),
            fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
            client_p12: None,
            ca_pem: app.ca_pem.clone(),
            origin_for_cert_autoselect: origin.clone(),
        },
        Look {
            lang: Some("zh-CN".into()),
            phone: true,
        },
    )
    .await
    .expect("phone browser");
    booth.goto(&app.url("/booth")).await.unwrap();
    phone.goto(&app.url("/lawyer")).await.unwrap();
    until(
        &phone,
        "!document.getElementById('login-section').hidden && window.innerWidth === 390",
        "sign-in on a 390 px wide screen",
    )
    .await;
    fits(&phone, "sign-in").await;
    phone.screenshot("pages/phone/sign-in.png").await.unwrap();
    no_serious_axe(&phone, "sign-in").await;

    // Sign in with the keyboard: Tab to the fields, type, Enter.
    phone.tab_to("#username", TAB_LIMIT).await.unwrap();
    phone.keys(&app.lawyer_username).await.unwrap();
    phone.tab_to("#password", TAB_LIMIT).await.unwrap();
    phone.keys(&app.lawyer_password).await.unwrap();
    phone.keys(ENTER).await.unwrap();
    until(
        &phone,
        "document.querySelector('.join[data-visit-id]') !== null",
        "the visit list",
    )
    .await;
    fits(&phone, "visit list").await;
    phone.screenshot("pages/phone/visits.png").await.unwrap();
    no_serious_axe(&phone, "visit list").await;

    // Join with the keyboard.
    phone
        .tab_to(".join[data-visit-id]", TAB_LIMIT)
        .await
        .unwrap();
    phone.keys(ENTER).await.unwrap();
    until(
        &phone,
        "window.conferState.phase === 'connected' && (() => { const v = document.getElementById('remote-video'); \
         return v.videoWidth > 0 && v.getBoundingClientRect().width > 300; })()",
        "in the visit, the booth's video shown across the screen",
    )
    .await;
    // The controls are on the page and within the screen's width.
    for id in ["mute", "camera", "leave", "extend", "codes-differ"] {
        let inside = phone
            .eval(&format!(
                "(() => {{ const r = document.getElementById('{id}').getBoundingClientRect(); \
                 return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth; }})()"
            ))
            .await
            .unwrap();
        assert_eq!(inside, true, "#{id} is not within the phone's screen");
    }
    fits(&phone, "visit").await;
    phone.screenshot("pages/phone/visit.png").await.unwrap();
    no_serious_axe(&phone, "visit").await;

    // Mute with Space, then leave with Enter; the confirmation is reached with the keyboard.
    phone.tab_to("#mute", TAB_LIMIT).await.unwrap();
    phone.keys(SPACE).await.unwrap();
    until(
        &phone,
        "document.getElementById('mute').getAttribute('aria-pressed') === 'true'",
        "muted from the keyboard",
    )
    .await;
    phone.tab_to("#leave", TAB_LIMIT).await.unwrap();
    phone.keys(ENTER).await.unwrap();
    until(
        &phone,
        "!document.getElementById('leave-confirm').hidden && document.activeElement.id === 'leave-no'",
        "the leave confirmation, focused",
    )
    .await;
    phone
        .screenshot("pages/phone/leave-confirm.png")
        .await
        .unwrap();
    phone.tab_to("#leave-yes", TAB_LIMIT).await.unwrap();
    phone.keys(ENTER).await.unwrap();
    until(
        &phone,
        "window.conferState.phase === 'ended'",
        "left the visit",
    )
    .await;
    booth
        .wait_for("document.body.dataset.lawyer === 'left'", WAIT)
        .await
        .unwrap();
    fits(&phone, "after leaving").await;
    phone.close().await;
    booth.close().await;
    app.running.shutdown().await;
}
