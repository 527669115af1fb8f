//! The lawyer page's Documents section in headless Chromium (R-ARRANGE-1): the
//! lawyer adds a detainee they act for, uploads the law-firm letter through the file
//! input, and sees staff's rejection reason and what is still needed.
//! Under `CI=true` a missing Chromium fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;

use browser::{Browser, BrowserOpts, LAWYER_COLOUR};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_uploads_a_document_from_the_page_and_reads_the_rejection_reason() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app().await;
    app.new_detainee_with_case("F-77", false).await;
    // A lawyer of its own: the demo lawyer already has an engagement with accepted documents.
    app.new_lawyer("page-lawyer").await;
    let files = tempfile::tempdir().unwrap();
    let letter = files.path().join("letter.pdf");
    std::fs::write(&letter, b"%PDF-1.4\n% browser upload\n%%EOF\n").unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let lawyer = Browser::launch(BrowserOpts {
        label: "lawyer-documents".into(),
        fake_video: browser::fake_camera(files.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin,
    })
    .await
    .expect("lawyer browser");

    lawyer.goto(&app.url("/lawyer")).await.unwrap();
    lawyer.fill("#username", "page-lawyer").await.unwrap();
    lawyer
        .fill("#password", "page-lawyer-long-password")
        .await
        .unwrap();
    lawyer.click("#sign-in").await.unwrap();
    lawyer
        .wait_for("!document.getElementById('tabs').hidden", WAIT)
        .await
        .unwrap();
    // Documents are a tab beside the visits.
    lawyer.click("#tab-documents").await.unwrap();
    lawyer
        .wait_for("!document.getElementById('documents-section').hidden", WAIT)
        .await
        .unwrap();
    lawyer
        .fill("#engagement-facility", confer::app::DEMO_FACILITY)
        .await
        .unwrap();
    lawyer.fill("#engagement-detainee", "F-77").await.unwrap();
    lawyer
        .fill("#engagement-firm", "Example Law Firm")
        .await
        .unwrap();
    lawyer.click("#add-engagement").await.unwrap();
    let input = "input[type=file][id$='-firm_letter']";
    lawyer
        .wait_for(
            &format!("document.querySelector(\"{input}\") !== null"),
            WAIT,
        )
        .await
        .unwrap();
    // WebDriver sets a file input's file by typing its path.
    lawyer.fill(input, letter.to_str().unwrap()).await.unwrap();
    lawyer
        .click(".document[data-kind='firm_letter'] button.upload")
        .await
        .unwrap();
    lawyer
        .wait_for(
            "document.querySelector(\".document.status-pending[data-kind='firm_letter']\") !== null",
            WAIT,
        )
        .await
        .unwrap();

    // Staff reject it with a reason; the lawyer sees the reason and the upload again.
    let (_, list) = app
        .admin(reqwest::Method::GET, "/admin/api/engagements", None)
        .await;
    let engagement = list["engagements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["detainee_ref"] == "F-77")
        .expect("the page lawyer's engagement");
    let doc = engagement["documents"][0]["id"].as_i64().unwrap();
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/api/documents/{doc}/review"),
            Some(json!({ "accepted": false, "reason": "The letter is not stamped." })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    lawyer.click("#refresh-documents").await.unwrap();
    lawyer
        .wait_for(
            "(() => { const d = document.querySelector(\".document.status-rejected[data-kind='firm_letter']\"); \
             return d !== null && d.textContent.includes('not stamped') && d.querySelector('input[type=file]') !== null; })()",
            WAIT,
        )
        .await
        .unwrap();
    lawyer.screenshot("lawyer-documents.png").await.unwrap();
    lawyer.close().await;
    app.running.shutdown().await;
}
