//! The receipt button and page integrity in headless Chromium (R-PRIV-1).
//!
//! - The lawyer page, served by confer under its content security policy, loads without a
//!   single integrity or policy complaint, shows the receipt button on an ended visit, and
//!   the button fetches the receipt (the hand-out is in the audit log).
//! - The same page and scripts with one imported module changed by one line (served by a
//!   plain local HTTP server standing in for a tampering proxy or cache) do not run: the
//!   browser refuses the module whose bytes do not match the import map's hash.
//!
//! Under `CI=true` a missing Chromium fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;

use browser::{Browser, BrowserOpts, LAWYER_COLOUR};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);

/// Serve confer's page assets over plain HTTP on loopback, with `tampered` (a path)
/// changed by one appended line. Returns the port.
async fn tampering_server(tampered: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let reply = match confer_signaling::web::asset(&path) {
                    Some(a) => {
                        let mut body = a.body.to_owned();
                        if path == tampered {
                            body.push_str("\n// one line added on the way\n");
                        }
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            a.content_type,
                            body.len()
                        )
                    }
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    }
                };
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_runs_only_the_scripts_it_names_and_saves_the_receipt_of_an_ended_visit() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app().await;
    let files = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let lawyer = Browser::launch(BrowserOpts {
        label: "lawyer-receipt".into(),
        fake_video: browser::fake_camera(files.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin,
    })
    .await
    .expect("lawyer browser");

    // The demo visit, ended (as a cancellation records it).
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    app.sql(&[&format!(
        "UPDATE visits SET ended_at = {now_ms}, end_reason = 'cancelled' WHERE id = {visit}"
    )])
    .await;

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
    let button = format!("button.receipt[data-visit-id='{visit}']");
    lawyer
        .wait_for(
            &format!("document.querySelector(\"{button}\") !== null"),
            WAIT,
        )
        .await
        .unwrap();
    lawyer.click(&button).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, log) = app.audit_read(&format!("?visit={visit}")).await;
        assert_eq!(status, 200, "{log}");
        let handed_out = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["record"]["kind"] == "receipt_issued" && e["record"]["to"] == "lawyer");
        if handed_out {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page's button fetched no receipt"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let console = lawyer.console_log().await.unwrap();
    for line in &console {
        for complaint in ["integrity", "Content Security Policy", "importmap"] {
            assert!(!line.contains(complaint), "{line}");
        }
    }

    // One changed line in a module the page imports (not the one it names in its
    // <script> tag): the browser refuses it, and the page never starts.
    let port = tampering_server("/web/confer.js").await;
    lawyer
        .goto(&format!("http://127.0.0.1:{port}/lawyer"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let console = loop {
        let console = lawyer.console_log().await.unwrap();
        if console
            .iter()
            .any(|l| l.contains("integrity") && l.contains("/web/confer.js"))
        {
            break console;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no integrity refusal of confer.js in the console: {console:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let status = lawyer
        .eval("document.getElementById('status').textContent")
        .await
        .unwrap();
    assert_eq!(
        status, "正在加载… / Loading…",
        "the tampered page ran: {console:?}"
    );
    lawyer.close().await;
    app.running.shutdown().await;
}
