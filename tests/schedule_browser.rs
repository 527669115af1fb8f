//! The scheduling parts of the pages in headless Chromium (R-ARRANGE-1, R-COMPLAIN-1, R-PRIV-2):
//! the lawyer asks for a visit from the page and sees its slot or queue place, the 48-hour
//! deadline and a countdown, cancels it, asks for more time in a visit, and files a
//! complaint next to the facility's published contact; the booth page makes the officer
//! attest a borrowed interrogation room's equipment off before the visit starts.
//! Under `CI=true` a missing Chromium fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;

use browser::{Browser, BrowserOpts, BOOTH_COLOUR, LAWYER_COLOUR};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_asks_for_a_visit_cancels_it_and_files_a_complaint_from_the_page() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app_with(|c| {
        c.facility.complaint_department = "Supervision Office of the Detention Centre".into();
        c.facility.complaint_phone = "+86 10 0000 0000".into();
    })
    .await;
    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let lawyer = Browser::launch(BrowserOpts {
        label: "lawyer-requests".into(),
        fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin,
    })
    .await
    .expect("lawyer browser");

    lawyer.goto(&app.url("/lawyer")).await.unwrap();
    lawyer
        .sign_in(
            &app.lawyer_username,
            &app.lawyer_password,
            "!document.getElementById('tabs').hidden",
            WAIT,
        )
        .await
        .unwrap();
    // Requests, documents and complaints are tabs beside the visits.
    lawyer.click("#tab-requests").await.unwrap();
    lawyer
        .wait_for("!document.getElementById('requests-section').hidden", WAIT)
        .await
        .unwrap();

    // A walk-in for the demo detainee: never refused, it shows a slot or a queue place,
    // and always the deadline 48 hours on (R-ARRANGE-1, R-BOOK-2).
    lawyer
        .fill("#request-facility", confer::app::DEMO_FACILITY)
        .await
        .unwrap();
    lawyer
        .fill("#request-detainee", confer::demo::DEMO_DETAINEE_REF)
        .await
        .unwrap();
    lawyer
        .run("document.getElementById('request-minutes').value = '20';")
        .await
        .unwrap();
    lawyer.click("#send-request").await.unwrap();
    lawyer
        .wait_for(
            "(() => { const r = document.querySelector('.request-item'); \
             return r !== null && (r.querySelector('.slot') !== null || r.querySelector('.queue-position') !== null) \
             && r.textContent.includes('must start before') && r.textContent.includes('Walk-in, ticket'); })()",
            WAIT,
        )
        .await
        .unwrap();
    let placed = lawyer
        .eval("document.querySelector('.request-item').classList.contains('status-placed')")
        .await
        .unwrap();
    if placed == json!(true) {
        // A placed request counts down to its start.
        lawyer
            .wait_for(
                "/Starts in|Open now/.test(document.querySelector('.request-item .countdown').textContent)",
                WAIT,
            )
            .await
            .unwrap();
    }
    lawyer.screenshot("lawyer-request.png").await.unwrap();
    let (_, mine) = app
        .lawyer_api(
            &app.demo_lawyer_session().await,
            Method::GET,
            "/api/lawyer/requests",
            None,
        )
        .await;
    assert_eq!(mine["requests"].as_array().unwrap().len(), 1, "{mine}");

    // Cancel it from the page.
    lawyer.click(".request-item button.cancel").await.unwrap();
    lawyer
        .wait_for(
            "document.querySelector('.request-item.status-cancelled') !== null",
            WAIT,
        )
        .await
        .unwrap();
    let (_, mine) = app
        .lawyer_api(
            &app.demo_lawyer_session().await,
            Method::GET,
            "/api/lawyer/requests",
            None,
        )
        .await;
    assert_eq!(mine["requests"][0]["status"], "cancelled", "{mine}");

    // R-COMPLAIN-1: the facility's contact is on the page; a complaint is filed and listed.
    lawyer.click("#tab-complaints").await.unwrap();
    lawyer
        .wait_for(
            "document.getElementById('complaint-contact').textContent.includes('Supervision Office')",
            WAIT,
        )
        .await
        .unwrap();
    lawyer
        .run("document.getElementById('complaint-about').value = 'delay';")
        .await
        .unwrap();
    lawyer
        .fill("#complaint-text", "Waited two hours at the gate.")
        .await
        .unwrap();
    lawyer.click("#send-complaint").await.unwrap();
    lawyer
        .wait_for(
            "(() => { const c = document.querySelector('.complaint'); \
             return c !== null && c.textContent.includes('Waited two hours'); })()",
            WAIT,
        )
        .await
        .unwrap();
    let (_, complaints) = app.admin(Method::GET, "/admin/api/complaints", None).await;
    assert_eq!(
        complaints["complaints"][0]["about"], "delay",
        "{complaints}"
    );
    lawyer.screenshot("lawyer-complaint.png").await.unwrap();
    lawyer.close().await;
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booth_page_has_the_officer_attest_a_borrowed_room_before_the_visit_starts() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app().await;
    // Only one visit at the booth: the demo visit is closed, a consented one is opened in a
    // borrowed interrogation room.
    let store = &app.running.state.store;
    let now = chrono::Utc::now();
    let demo = store
        .current_visit_for_booth(&confer::ids::BoothId(confer::app::DEMO_BOOTH.into()), now)
        .await
        .unwrap()
        .expect("demo visit");
    store
        .mark_visit_ended(demo.id, now, "cancelled")
        .await
        .unwrap();
    let (status, body) = app
        .admin(
            Method::PUT,
            &format!("/admin/api/booths/{}/kind", confer::app::DEMO_BOOTH),
            Some(json!({ "kind": "interrogation_room" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let lawyer_id = app.demo_lawyer_id().await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/api/visits",
            Some(json!({
                "lawyer_id": lawyer_id,
                "booth_id": confer::app::DEMO_BOOTH,
                "starts_at": (now - chrono::Duration::seconds(5)).to_rfc3339(),
                "ends_at": (now + chrono::Duration::minutes(20)).to_rfc3339(),
                "case_id": app.demo_case().await.0,
                "interrogation_room_consent": true,
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let visit = body["id"].as_i64().unwrap();

    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let booth = Browser::launch(BrowserOpts {
        label: "booth-room".into(),
        fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
        client_p12: Some(browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap()),
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin,
    })
    .await
    .expect("booth browser");
    booth.goto(&app.url("/booth")).await.unwrap();
    booth
        .wait_for("!document.getElementById('room-check').hidden", WAIT)
        .await
        .unwrap();
    // It waits: the page does not join, and the server would refuse it anyway.
    assert_eq!(
        booth.eval("window.conferState.phase").await.unwrap(),
        json!("waiting")
    );
    booth.screenshot("booth-room-check.png").await.unwrap();
    // Ticking one box is not enough.
    booth.click("#room-recording-off").await.unwrap();
    booth.fill("#room-officer", "A-1001").await.unwrap();
    booth.click("#room-confirm").await.unwrap();
    booth
        .wait_for("!document.getElementById('error').hidden", WAIT)
        .await
        .unwrap();
    assert!(app
        .running
        .state
        .store
        .room_attestation(confer::ids::VisitId(visit))
        .await
        .unwrap()
        .is_none());
    booth.click("#room-monitoring-off").await.unwrap();
    booth.click("#room-confirm").await.unwrap();
    // Attested: the booth joins its visit by itself.
    booth
        .wait_for(
            "document.getElementById('room-check').hidden && \
             ['joined', 'negotiating', 'connecting-media', 'connected'].includes(window.conferState.phase)",
            WAIT,
        )
        .await
        .unwrap();
    let attested = app
        .running
        .state
        .store
        .room_attestation(confer::ids::VisitId(visit))
        .await
        .unwrap()
        .expect("attestation recorded");
    assert_eq!(
        (attested.via.as_str(), attested.officer.as_str()),
        ("booth", "A-1001")
    );
    booth.close().await;
    app.running.shutdown().await;
}
