//! The admin web console in headless Chromium: an operator signs in with a
//! password and a TOTP code, sees a live visit made by two Rust test peers with non-zero
//! bitrates in the live table, opens its detail (connection health only, R-PRIV-1), stops
//! it for a violation (R-CONDUCT-1), and both peers are told `stopped_by_staff` and their
//! media stops. Screenshots of the live table, the detail and the reports page
//! (R-REPORT-1) go to `target/e2e-artifacts/`. Under `CI=true` a missing Chromium fails
//! the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use app::{totp_code, unix_now, Identity};
use browser::{Browser, BrowserOpts, LAWYER_COLOUR};
use confer_signaling::EndReason;
use peer::{MediaKind, SendRates};
use side::{join, visit_ended};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_sees_a_live_visit_and_stops_it_from_the_console() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let started = Instant::now();
    let app = app::spawn_app().await;
    // An operator of its own, signed in by the browser with a code computed here from its
    // TOTP secret (the first account's current code was spent by spawn_app).
    let created = confer::admin::staff::create_staff(
        &app.running.state.store,
        &app.running.state.totp,
        "console-operator",
        confer::admin::roles::StaffRole::Operator,
        None,
    )
    .await
    .expect("create the operator");

    // Two Rust peers in the demo visit, sending media.
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let mut lawyer = join(
        &app,
        &Identity::None,
        &app.demo_lawyer_token(visit).await,
        "lawyer",
    )
    .await;
    let mut booth = join(
        &app,
        &app.demo_booth(),
        &app.demo_booth_token(visit).await,
        "booth",
    )
    .await;
    for side in [&lawyer, &booth] {
        side.peer.wait_connected(WAIT).await.expect("connected");
        side.peer
            .start_sending(Duration::from_secs(60), SendRates::default())
            .await
            .expect("sending");
    }
    booth
        .peer
        .wait_received(MediaKind::Video, 10, WAIT)
        .await
        .expect("media flows");

    let files = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.admin_addr.port());
    let browser = Browser::launch(BrowserOpts {
        label: "console".into(),
        fake_video: browser::fake_camera(files.path(), "console", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin,
    })
    .await
    .expect("console browser");
    // English, whatever the machine's language, so that the screenshots read the same.
    browser.goto(&app.admin_url("/admin/")).await.unwrap();
    browser
        .run("localStorage.setItem('confer.lang', 'en'); return true;")
        .await
        .unwrap();
    browser.goto(&app.admin_url("/admin/")).await.unwrap();
    browser.fill("#username", "console-operator").await.unwrap();
    browser.fill("#password", &created.password).await.unwrap();
    browser
        .fill("#totp", &totp_code(&created.totp_secret, unix_now()))
        .await
        .unwrap();
    browser.click("#signin").await.unwrap();

    // The live table shows the visit with non-zero bitrates both ways.
    let row = format!("#live-table tr[data-visit='{visit}']");
    browser
        .wait_for(
            &format!(
                "(() => {{ const r = document.querySelector(\"{row}\"); if (!r) return false; \
                 return Number(r.querySelector('[data-kbps-in]').dataset.kbpsIn) > 0 && \
                 Number(r.querySelector('[data-kbps-out]').dataset.kbpsOut) > 0; }})()"
            ),
            WAIT,
        )
        .await
        .unwrap();
    browser.screenshot("console-live.png").await.unwrap();

    // The detail: every participant with its connection and bitrates; no media elements.
    browser.click(&format!("{row} a")).await.unwrap();
    browser
        .wait_for(
            "document.querySelectorAll('#participants-table tbody tr').length >= 2",
            WAIT,
        )
        .await
        .unwrap();
    let media = browser
        .eval("document.querySelectorAll('video, audio, img, canvas').length")
        .await
        .unwrap();
    assert_eq!(media, 0, "the console never shows media (R-PRIV-1)");
    browser.screenshot("console-detail.png").await.unwrap();

    // Stop with a category and a reason.
    browser.click("#stop-open").await.unwrap();
    browser
        .wait_for(
            "document.getElementById('stop-dialog')?.open === true",
            WAIT,
        )
        .await
        .unwrap();
    browser
        .run(
            "document.getElementById('stop-category').value = 'communication_device'; return true;",
        )
        .await
        .unwrap();
    browser
        .fill("#stop-reason", "A phone was handed to the detainee.")
        .await
        .unwrap();
    let stopped_at = Instant::now();
    browser.click("#stop-confirm").await.unwrap();
    for sig in [&mut lawyer.sig, &mut booth.sig] {
        let (reason, _) = visit_ended(sig).await;
        assert_eq!(reason, EndReason::StoppedByStaff);
    }
    eprintln!(
        "console stop click to both sides told: {:?}",
        stopped_at.elapsed()
    );
    // Media stops: nothing more arrives on either side.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let count = || {
        booth.peer.received_count(MediaKind::Video)
            + lawyer.peer.received_count(MediaKind::Video)
            + booth.peer.received_count(MediaKind::Audio)
            + lawyer.peer.received_count(MediaKind::Audio)
    };
    let before = count();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(before, count(), "media kept flowing after the stop");
    assert_eq!(app.running.state.hub.live_count(), 0);
    let (_, violations) = app
        .admin(reqwest::Method::GET, "/admin/api/violations", None)
        .await;
    assert!(
        violations.to_string().contains("communication_device"),
        "{violations}"
    );
    browser
        .wait_for(
            "document.getElementById('banner').classList.contains('ok')",
            WAIT,
        )
        .await
        .unwrap();

    // The reports page draws its tables and charts.
    browser
        .run("location.hash = '#/reports'; return true;")
        .await
        .unwrap();
    browser
        .wait_for(
            "document.querySelector('#report-body svg.chart') !== null",
            WAIT,
        )
        .await
        .unwrap();
    browser.screenshot("console-reports.png").await.unwrap();
    browser.close().await;
    app.running.shutdown().await;
    // Every wait above is bounded (WAIT); the whole run is meant to stay under a minute.
    eprintln!("console end-to-end run took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_from_the_binary_with_strict_headers() {
    // No Chromium needed: the page, its modules and the listener's headers.
    let app = app::spawn_app().await;
    let client = app.admin_client();
    let get = |path: &str| client.get(app.admin_url(path)).send();
    let page = get("/admin/").await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(html.contains("/admin/console/app.js"));
    for (file, ct) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("i18n.js", "text/javascript; charset=utf-8"),
        ("charts.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ] {
        let resp = get(&format!("/admin/console/{file}")).await.unwrap();
        assert_eq!(resp.status(), 200, "{file}");
        assert_eq!(resp.headers()["content-type"], ct, "{file}");
    }
    assert_eq!(get("/admin/console/nope.js").await.unwrap().status(), 404);
    assert_eq!(
        get("/admin/console/..%2fmod.rs").await.unwrap().status(),
        404
    );
    // The API stays uncacheable.
    let (_, _) = app
        .admin(reqwest::Method::GET, "/admin/api/visits", None)
        .await;
    let api = client
        .get(app.admin_url("/admin/api/visits"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
    app.running.shutdown().await;
}

/// R-VERIFY-4: staff record the investigating unit's approval of an interpreter for a case
/// from the console (Chinese first: the console in `zh`), with unit, date and document; the
/// console lists the case's approvals with who recorded them; the approval is the real one
/// (audited, and the lawyer may now invite the interpreter to a visit of the case).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_records_a_companion_approval_from_the_console() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app().await;
    let created = confer::admin::staff::create_staff(
        &app.running.state.store,
        &app.running.state.totp,
        "approvals-operator",
        confer::admin::roles::StaffRole::Operator,
        None,
    )
    .await
    .expect("create the operator");
    let (status, interp) = app
        .admin(
            reqwest::Method::POST,
            "/admin/api/lawyers",
            Some(
                serde_json::json!({"username": "interp-console", "display_name": "Interpreter Wang",
                "password": "a long enough password", "kind": "interpreter"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{interp}");
    let interpreter = interp["id"].as_i64().unwrap();
    let case = app.demo_case().await.0;

    let files = tempfile::tempdir().unwrap();
    let browser = Browser::launch(BrowserOpts {
        label: "console-approvals".into(),
        fake_video: browser::fake_camera(files.path(), "console", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: format!("https://127.0.0.1:{}", app.running.admin_addr.port()),
    })
    .await
    .expect("console browser");
    browser.goto(&app.admin_url("/admin/")).await.unwrap();
    browser
        .run("localStorage.setItem('confer.lang', 'zh'); return true;")
        .await
        .unwrap();
    browser.goto(&app.admin_url("/admin/")).await.unwrap();
    browser
        .fill("#username", "approvals-operator")
        .await
        .unwrap();
    browser.fill("#password", &created.password).await.unwrap();
    browser
        .fill("#totp", &totp_code(&created.totp_secret, unix_now()))
        .await
        .unwrap();
    browser.click("#signin").await.unwrap();
    browser
        .wait_for("document.getElementById('nav-approvals') !== null", WAIT)
        .await
        .unwrap();
    browser.click("#nav-approvals").await.unwrap();
    browser
        .wait_for(
            &format!(
                "document.getElementById('approval-form') !== null && document.getElementById('approval-case').value === '{case}' \
                 && document.getElementById('approvals-none') !== null \
                 && document.querySelector('#approvals h1').textContent.includes('翻译人员')"
            ),
            WAIT,
        )
        .await
        .unwrap();
    browser
        .run(&format!(
            "document.getElementById('approval-account').value = '{interpreter}';
             document.getElementById('approval-date').value = '2026-11-30'; return true;"
        ))
        .await
        .unwrap();
    browser
        .fill("#approval-unit", "某市公安局刑侦支队")
        .await
        .unwrap();
    browser
        .fill("#approval-doc", "公刑许字〔2026〕31号")
        .await
        .unwrap();
    browser.click("#approval-record").await.unwrap();
    let row = format!("#approvals-table tr[data-account='{interpreter}']");
    browser
        .wait_for(
            &format!(
                "(() => {{ const r = document.querySelector(\"{row}\"); if (!r) return false; const t = r.textContent; \
                 return t.includes('Interpreter Wang') && t.includes('翻译人员') && t.includes('某市公安局刑侦支队') \
                 && t.includes('2026-11-30') && t.includes('公刑许字〔2026〕31号') && t.includes('approvals-operator'); }})()"
            ),
            WAIT,
        )
        .await
        .unwrap();
    browser.screenshot("console-approvals.png").await.unwrap();

    // The same approval through the API, audited, and it makes the interpreter invitable.
    let (status, list) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/api/cases/{case}/companions"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let a = &list["approvals"][0];
    assert_eq!(
        (
            a["account_id"].as_i64(),
            a["unit"].as_str(),
            a["decided_on"].as_str(),
            a["document_ref"].as_str(),
            a["recorded_by_username"].as_str()
        ),
        (
            Some(interpreter),
            Some("某市公安局刑侦支队"),
            Some("2026-11-30"),
            Some("公刑许字〔2026〕31号"),
            Some("approvals-operator")
        ),
        "{list}"
    );
    let (status, audit) = app.audit_read(&format!("?lawyer={interpreter}")).await;
    assert_eq!(status, 200, "{audit}");
    assert!(audit.to_string().contains("companion_approved"), "{audit}");
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (status, eligible) = app
        .lawyer_api(
            &session,
            reqwest::Method::GET,
            &format!("/api/lawyer/visits/{visit}/companions"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{eligible}");
    assert!(
        eligible["companions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"].as_i64() == Some(interpreter) && c["approved"] == true),
        "{eligible}"
    );
    browser.close().await;
    app.running.shutdown().await;
}
