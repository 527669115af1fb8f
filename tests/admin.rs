//! The admin listener: staff roles kept separate (China's MLPS level 3
//! "separation of duties"), the TOTP second factor, idle sessions, the `confer admin`
//! command line, metrics, stopping a visit and violation reports (R-CONDUCT-1..2),
//! complaints (R-COMPLAIN-1), and that no admin answer carries media or content
//! (R-PRIV-1, docs/DESIGN.md invariant 6).

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use app::{spawn_app, spawn_app_with, staff_login, totp_code, unix_now, Identity, TestApp};
use confer_signaling::EndReason;
use peer::{MediaKind, SendRates};
use reqwest::Method;
use serde_json::{json, Value};
use side::{connected_visit, visit_ended};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// Every staff route and the roles allowed on it (MLPS role separation; the module doc
/// table of `src/admin/roles.rs`). Bodies are deliberately incomplete: an allowed role
/// gets a 4xx about the body, never `role_forbidden`, and nothing is changed.
fn staff_routes() -> Vec<(Method, &'static str, Option<Value>, &'static [&'static str])> {
    vec![
        (Method::GET, "/admin/api/booths", None, &["operator"]),
        (Method::GET, "/admin/api/lawyers", None, &["operator"]),
        (
            Method::POST,
            "/admin/api/lawyers",
            Some(json!({})),
            &["operator"],
        ),
        (Method::GET, "/admin/api/visits", None, &["operator"]),
        (
            Method::POST,
            "/admin/api/visits",
            Some(json!({})),
            &["operator"],
        ),
        (Method::GET, "/admin/api/audit?visit=1", None, &["auditor"]),
        (Method::GET, "/admin/api/staff", None, &["sysadmin"]),
        (
            Method::POST,
            "/admin/api/staff",
            Some(json!({})),
            &["sysadmin"],
        ),
        (
            Method::POST,
            "/admin/api/visits/1/stop",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::GET,
            "/admin/api/violations",
            None,
            &["operator", "auditor"],
        ),
        (
            Method::POST,
            "/admin/api/violations/1/findings",
            Some(json!({})),
            &["operator"],
        ),
        (Method::GET, "/admin/api/complaints", None, &["operator"]),
        (
            Method::POST,
            "/admin/api/complaints/1/updates",
            Some(json!({})),
            &["operator"],
        ),
        (Method::GET, "/metrics", None, &["auditor", "sysadmin"]),
        // R-VERIFY-2..4, R-ARRANGE-1..3: people, cases, documents and licence verification
        // are the operator's.
        // Document contents (R-PRIV-3) never reach the auditor, the system administrator or
        // the investigating unit.
        (Method::GET, "/admin/api/detainees", None, &["operator"]),
        (
            Method::POST,
            "/admin/api/detainees",
            Some(json!({})),
            &["operator"],
        ),
        (Method::GET, "/admin/api/cases", None, &["operator"]),
        (
            Method::POST,
            "/admin/api/cases",
            Some(json!({})),
            &["operator"],
        ),
        (Method::GET, "/admin/api/engagements", None, &["operator"]),
        (
            Method::GET,
            "/admin/api/documents/999999",
            None,
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/documents/999999/review",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/visits/999999/manual-verification",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/visits/999999/room-attestation",
            Some(json!({})),
            &["operator"],
        ),
        // R-PRIV-1: a visit's signed receipt (ids, times, hashes; never content).
        (
            Method::GET,
            "/admin/api/visits/999999/receipt",
            None,
            &["operator", "auditor"],
        ),
        (
            Method::GET,
            "/admin/api/manual-verifications",
            None,
            &["operator"],
        ),
        (Method::GET, "/admin/api/alerts", None, &["operator"]),
        (
            Method::POST,
            "/admin/api/alerts/999999/acknowledge",
            None,
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/lawyers/999999/unlock",
            None,
            &["operator"],
        ),
        (
            Method::GET,
            "/admin/api/lawyers/999999/licence",
            None,
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/cases/999999/permissions",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/cases/999999/companions",
            Some(json!({})),
            &["operator"],
        ),
        // R-BOOK-1..5: the facility's timetable, hours, sessions, queue and bookings.
        (
            Method::GET,
            "/admin/api/facilities/none/schedule",
            None,
            &["operator"],
        ),
        (
            Method::PUT,
            "/admin/api/facilities/none/settings",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::PUT,
            "/admin/api/facilities/none/hours",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/facilities/none/holidays",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/facilities/none/sessions",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::PUT,
            "/admin/api/booths/none/kind",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/requests",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::GET,
            "/admin/api/facilities/none/queue",
            None,
            &["operator"],
        ),
        (
            Method::POST,
            "/admin/api/requests/999999/decline",
            Some(json!({})),
            &["operator"],
        ),
        (
            Method::PUT,
            "/admin/api/requests/999999/written-refusal",
            Some(json!({})),
            &["operator"],
        ),
        // Reports (R-REPORT-1) are read by auditors and operators.
        (
            Method::GET,
            "/admin/api/reports?facility=demo-facility&from=2026-01-01&to=2026-01-31",
            None,
            &["operator", "auditor"],
        ),
        (
            Method::GET,
            "/admin/api/reports.csv?facility=demo-facility&from=2026-01-01&to=2026-01-31",
            None,
            &["operator", "auditor"],
        ),
        // Live visit health (R-PRIV-1, crate::health): JSON and the SSE stream's first event.
        (
            Method::GET,
            "/admin/api/live",
            None,
            &["operator", "auditor"],
        ),
        (
            Method::GET,
            "/admin/api/live/stream",
            None,
            &["operator", "auditor"],
        ),
    ]
}

const ROLES: [&str; 4] = ["operator", "auditor", "sysadmin", "investigator"];

/// One signed-in session per role (the operator is the first-start account).
async fn sessions(app: &TestApp) -> Vec<(&'static str, String)> {
    let mut out = vec![("operator", app.admin_token.clone())];
    for role in &ROLES[1..] {
        out.push((role, app.staff_session(&format!("{role}-1"), role).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_staff_route_is_open_to_its_roles_only() {
    // MLPS level 3: operator, auditor and system administrator are separate accounts;
    // the investigating unit's account runs no visit and reads nothing here.
    let app = spawn_app().await;
    let sessions = sessions(&app).await;
    for (method, path, body, allowed) in staff_routes() {
        // Without a session: 401 for everyone.
        let (status, answer) = app
            .staff(
                "not-a-token-not-a-token-not-a-token-xxxxxxx",
                method.clone(),
                path,
                body.clone(),
            )
            .await;
        assert_eq!(status, 401, "{method} {path} without a session: {answer}");
        for (role, token) in &sessions {
            let (status, answer) = app.staff(token, method.clone(), path, body.clone()).await;
            if allowed.contains(role) {
                assert!(
                    status != 401 && status != 403,
                    "{role} must reach {method} {path}: {status} {answer}"
                );
                assert_no_content(&answer, &format!("{method} {path}"));
            } else {
                assert_eq!(
                    status, 403,
                    "{role} must not reach {method} {path}: {answer}"
                );
                assert_eq!(answer["code"], "role_forbidden");
                let message = answer["message"].as_str().unwrap();
                assert!(message.contains("role"), "{message}");
            }
        }
    }
    // Refusals are in the audit log, readable by the auditor.
    let auditor = &sessions[1].1;
    let from = (chrono::Utc::now() - chrono::Duration::minutes(5)).timestamp();
    let to = (chrono::Utc::now() + chrono::Duration::minutes(5)).timestamp();
    let (status, log) = app
        .staff(
            auditor,
            Method::GET,
            &format!("/admin/api/audit?from={}&to={}", rfc3339(from), rfc3339(to)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let refused = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["record"]["kind"] == "staff_access_refused")
        .count();
    assert!(refused >= 12, "{refused} refusals recorded");
    assert!(log.to_string().contains("audit_log_read"));
    app.running.shutdown().await;
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_needs_a_fresh_totp_code() {
    let app = spawn_app_with(|c| c.auth.login_max_failures = 4).await;
    let client = app.admin_client();
    let url = app.admin_url("/admin/api/login");
    let sysadmin = app.staff_session("sys-1", "sysadmin").await;
    let (status, created) = app
        .staff(
            &sysadmin,
            Method::POST,
            "/admin/api/staff",
            Some(json!({"username": "ops-2", "role": "operator"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let pw = created["password"].as_str().unwrap();
    let secret = created["totp_secret"].as_str().unwrap();
    assert!(created["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/confer:ops-2?secret="));

    // Missing and wrong codes are refused with the same answer as a wrong password, so the
    // second factor also hides whether the password was right (the audit keeps the reason).
    let (status, body) = staff_login(&client, &url, "ops-2", pw, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let now = unix_now();
    let wrong = format!(
        "{:06}",
        (totp_code(secret, now).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let (status, body) = staff_login(&client, &url, "ops-2", pw, Some(&wrong)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let (status, body) = staff_login(&client, &url, "ops-2", pw, Some("12ab56")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    // The right code works once; the same code again is a replay.
    let code = totp_code(secret, unix_now());
    let (status, body) = staff_login(&client, &url, "ops-2", pw, Some(&code)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "operator");
    let (status, body) = staff_login(&client, &url, "ops-2", pw, Some(&code)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    // A wrong password is refused before the code is looked at.
    let next = totp_code(secret, unix_now() + 30);
    let (status, body) = staff_login(&client, &url, "ops-2", "wrong password", Some(&next)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    // Every refusal counts for the limiter (4 failures here): after two more wrong codes
    // even the right password with the next code is refused for a while.
    for _ in 0..2 {
        let (status, body) = staff_login(&client, &url, "ops-2", pw, Some(&wrong)).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = staff_login(&client, &url, "ops-2", pw, Some(&next)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts")),
        "{body}"
    );

    // Every outcome is in the audit log with its reason, never the username in clear.
    let auditor = app.staff_session("aud-2", "auditor").await;
    let from = rfc3339((chrono::Utc::now() - chrono::Duration::minutes(5)).timestamp());
    let to = rfc3339((chrono::Utc::now() + chrono::Duration::minutes(5)).timestamp());
    let (_, log) = app
        .staff(
            &auditor,
            Method::GET,
            &format!("/admin/api/audit?from={from}&to={to}"),
            None,
        )
        .await;
    let reasons: Vec<String> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["record"]["kind"] == "login_failed")
        .map(|e| e["record"]["reason"].as_str().unwrap().to_owned())
        .collect();
    for r in [
        "totp_required",
        "bad_totp",
        "totp_replayed",
        "bad_credentials",
    ] {
        assert!(reasons.iter().any(|x| x == r), "{r} not in {reasons:?}");
    }
    assert!(
        !log.to_string().contains("ops-2"),
        "username in the audit log"
    );
    assert!(
        !log.to_string().contains(secret),
        "TOTP secret in the audit log"
    );
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_staff_session_expires() {
    // Staff sessions end after admin.session_idle_secs without use (30 minutes
    // by default; 1 s here).
    let app = spawn_app_with(|c| c.admin.session_idle_secs = 1).await;
    let (status, _) = app.admin(Method::GET, "/admin/api/booths", None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, body) = app.admin(Method::GET, "/admin/api/booths", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("not_signed_in"))
    );
    app.running.shutdown().await;
}

#[test]
fn the_default_staff_idle_timeout_is_thirty_minutes() {
    assert_eq!(
        confer::config::Config::default().admin.session_idle_secs,
        1800
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confer_admin_create_makes_an_account_that_can_sign_in() {
    let app = spawn_app().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_confer"))
        .args([
            "admin",
            "create",
            "--role",
            "sysadmin",
            "--username",
            "root-1",
        ])
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .output()
        .expect("run confer admin create");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let word_after = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split_whitespace().nth(label.split_whitespace().count()))
            .unwrap_or_else(|| panic!("{label} in {text}"))
            .to_owned()
    };
    let password = word_after("password:");
    let secret = word_after("TOTP secret:");
    assert!(
        text.contains("otpauth://totp/confer:root-1?secret="),
        "{text}"
    );
    let (status, body) = staff_login(
        &app.admin_client(),
        &app.admin_url("/admin/api/login"),
        "root-1",
        &password,
        Some(&totp_code(&secret, unix_now())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "sysadmin");
    // A lost authenticator: reset-totp prints a new secret; the old one stops working.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(["admin", "reset-totp", "--username", "root-1"])
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .output()
        .unwrap();
    let reset = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{reset}");
    let new_secret = reset
        .lines()
        .find(|l| l.starts_with("new TOTP secret"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_owned();
    assert_ne!(new_secret, secret);
    let later = unix_now() + 30;
    let (status, body) = staff_login(
        &app.admin_client(),
        &app.admin_url("/admin/api/login"),
        "root-1",
        &password,
        Some(&totp_code(&secret, later)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let (status, body) = staff_login(
        &app.admin_client(),
        &app.admin_url("/admin/api/login"),
        "root-1",
        &password,
        Some(&totp_code(&new_secret, later)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A bad role is refused with a clear message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(["admin", "create", "--role", "root", "--username", "x-1"])
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
    app.running.shutdown().await;
}

/// Keys and values that would mean media, frames, audio or document contents in an admin
/// answer (R-PRIV-1, docs/DESIGN.md invariant 6). None may appear anywhere in an answer.
fn assert_no_content(v: &Value, route: &str) {
    const FORBIDDEN_KEYS: &[&str] = &[
        "sdp",
        "frame",
        "frames",
        "thumbnail",
        "image",
        "audio",
        "audio_level",
        "video",
        "payload",
        "rtp",
        "media",
        "document",
        "documents",
        "content",
        "contents",
        "file",
    ];
    // A list of documents' metadata (kind, review state, hash: never the contents) is what
    // operators review with; each entry may carry these keys and nothing else.
    const DOCUMENT_METADATA: &[&str] = &[
        "id",
        "kind",
        "status",
        "media_type",
        "size",
        "sha256",
        "uploaded_at",
        "reviewed_at",
        "reject_reason",
    ];
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                // The live health view's `video` of a participant is frame rate and size of
                // the forwarded video (from RTP headers and the key frame header), never
                // frames: only these numbers may be in it.
                if k == "video" && !inner.is_null() {
                    let keys = inner.as_object().expect("video health is an object");
                    for (key, value) in keys {
                        assert!(
                            ["fps", "width", "height"].contains(&key.as_str())
                                && (value.is_number() || value.is_null()),
                            "{route}: video key {key:?} in an admin answer"
                        );
                    }
                    continue;
                }
                if k == "video" {
                    continue;
                }
                if k == "documents" {
                    let items = inner.as_array().expect("documents is a list of metadata");
                    for item in items {
                        let keys = item.as_object().expect("document metadata");
                        for key in keys.keys() {
                            assert!(
                                DOCUMENT_METADATA.contains(&key.as_str()),
                                "{route}: document key {key:?} in an admin answer"
                            );
                        }
                    }
                    continue;
                }
                assert!(
                    !FORBIDDEN_KEYS.contains(&k.to_lowercase().as_str()),
                    "{route}: key {k:?} in an admin answer"
                );
                assert_no_content(inner, route);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| assert_no_content(i, route)),
        Value::String(s) => {
            assert!(
                !s.starts_with("data:"),
                "{route}: a data URI in an admin answer"
            );
            assert!(
                !s.contains("m=audio") && !s.contains("m=video"),
                "{route}: SDP in an admin answer"
            );
        }
        _ => {}
    }
}

/// What a webhook receiver got: (path, Idempotency-Key, body).
type Received = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A real HTTP receiver on loopback (the recipients' webhooks), on `listener`.
fn webhook_receiver(listener: tokio::net::TcpListener) -> Received {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/{recipient}",
        axum::routing::post(
            move |axum::extract::Path(recipient): axum::extract::Path<String>,
                  headers: axum::http::HeaderMap,
                  axum::Json(body): axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    sink.lock().unwrap().push((recipient, key, body));
                    axum::http::StatusCode::ACCEPTED
                }
            },
        ),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    got
}

fn oversight_urls(c: &mut confer::config::Config, port: u16) {
    c.oversight.law_firm_url = Some(format!("http://127.0.0.1:{port}/law_firm"));
    c.oversight.justice_bureau_url = Some(format!("http://127.0.0.1:{port}/justice_bureau"));
    c.oversight.bar_association_url = Some(format!("http://127.0.0.1:{port}/bar_association"));
    c.oversight.retry_base_ms = 200;
    c.oversight.retry_max_ms = 800;
}

async fn wait_for_deliveries(got: &Received, n: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while got.lock().unwrap().len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} reports arrived",
            got.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_stops_a_live_visit_and_the_violation_is_reported_to_all_three() {
    // R-CONDUCT-1: staff stop a visit at once for a serious violation; the stop, its
    // reason and the staff member are recorded. R-CONDUCT-2: the violation is reported to
    // the law firm, the justice bureau and the bar association; their findings come back.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = webhook_receiver(listener);
    let app = spawn_app_with(|c| oversight_urls(c, port)).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (mut lawyer, mut booth) = connected_visit(&app, visit).await;
    let rates = SendRates::default();
    lawyer
        .peer
        .start_sending(Duration::from_secs(30), rates)
        .await
        .unwrap();
    booth
        .peer
        .start_sending(Duration::from_secs(30), rates)
        .await
        .unwrap();
    booth
        .peer
        .wait_received(MediaKind::Video, 10, WAIT)
        .await
        .expect("media flows before the stop");

    // Only the five categories, and a reason, are accepted; only operators may stop.
    let stop_path = format!("/admin/api/visits/{visit}/stop");
    let (status, body) = app
        .admin(
            Method::POST,
            &stop_path,
            Some(json!({"category": "rudeness", "reason": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_category"))
    );
    let (status, body) = app
        .admin(
            Method::POST,
            &stop_path,
            Some(json!({"category": "other", "reason": "  "})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("missing_reason"))
    );
    let auditor = app.staff_session("aud-3", "auditor").await;
    let stop = json!({"category": "communication_device", "reason": "A phone was handed to the detainee."});
    let (status, _) = app
        .staff(&auditor, Method::POST, &stop_path, Some(stop.clone()))
        .await;
    assert_eq!(status, 403);

    let stopped_at = std::time::Instant::now();
    let (status, body) = app
        .admin(Method::POST, &stop_path, Some(stop.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    let violation = body["violation"].as_i64().unwrap();
    for sig in [&mut lawyer.sig, &mut booth.sig] {
        let (reason, message) = visit_ended(sig).await;
        assert_eq!(reason, EndReason::StoppedByStaff);
        assert!(message.contains("staff"), "{message}");
    }
    // A figure for the record (printed with --nocapture), not an assertion on speed.
    eprintln!(
        "stop request to both sides told: {:?}",
        stopped_at.elapsed()
    );
    // Media stops within a second.
    let wait = Duration::from_secs(1).saturating_sub(stopped_at.elapsed());
    tokio::time::sleep(wait).await;
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
    let (status, body) = app.admin(Method::POST, &stop_path, Some(stop)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("visit_not_live"))
    );

    // The three reports arrive, each once, with what the recipient needs and no media.
    wait_for_deliveries(&got, 3, Duration::from_secs(10)).await;
    let reports = got.lock().unwrap().clone();
    let mut recipients: Vec<&str> = reports.iter().map(|r| r.0.as_str()).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["bar_association", "justice_bureau", "law_firm"]
    );
    for (recipient, key, body) in &reports {
        assert_eq!(key, &format!("violation-{violation}-{recipient}"));
        assert_eq!(body["category"], "communication_device");
        assert_eq!(body["reason"], "A phone was handed to the detainee.");
        assert_eq!(body["visit_id"], visit);
        assert_eq!(body["lawyer"]["name"], "Demo Lawyer");
        assert!(body["stopped_by_staff_id"].as_i64().is_some());
        assert_no_content(body, "violation report");
    }

    // Findings come back and are shown with the violation.
    let findings = format!("/admin/api/violations/{violation}/findings");
    let (status, body) = app
        .admin(
            Method::POST,
            &findings,
            Some(json!({"from": "bar_association", "text": "Warning issued to the lawyer."})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .admin(
            Method::POST,
            &findings,
            Some(json!({"from": "neighbours", "text": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_source"))
    );
    let (status, list) = app
        .staff(&auditor, Method::GET, "/admin/api/violations", None)
        .await;
    assert_eq!(status, 200, "{list}");
    let v = &list["violations"][0];
    assert_eq!(v["violation"]["id"], violation);
    assert_eq!(v["findings"][0]["source"], "bar_association");
    let delivered = v["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["delivered_at"].is_null())
        .count();
    assert_eq!(delivered, 3, "{v}");

    // The stop is in the audit log before the end, with the operator's id.
    let (_, log) = app
        .staff(
            &auditor,
            Method::GET,
            &format!("/admin/api/audit?visit={visit}"),
            None,
        )
        .await;
    let entries = log["entries"].as_array().unwrap();
    let pos = |kind: &str| entries.iter().position(|e| e["record"]["kind"] == kind);
    let stop_at = pos("staff_stop").expect("staff_stop recorded");
    assert!(entries[stop_at]["record"]["staff"].as_i64().is_some());
    assert_eq!(entries[stop_at]["record"]["reason"], "communication_device");
    let ended_at = entries
        .iter()
        .position(|e| {
            e["record"]["kind"] == "visit_ended" && e["record"]["reason"] == "stopped_by_staff"
        })
        .expect("visit_ended recorded");
    assert!(stop_at < ended_at, "audit first");
    assert!(pos("violation_reported").is_some());
    assert!(
        !log.to_string().contains("phone was handed"),
        "free text kept out of the audit log"
    );
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_wait_for_a_receiver_that_is_down_and_survive_a_restart() {
    // R-CONDUCT-2: delivery is durable: retries with backoff, and pending reports are
    // still sent after a restart.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn_app_with(|c| oversight_urls(c, port)).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let mut lawyer = app.signaling(&Identity::None).await;
    lawyer.hello().await.unwrap();
    lawyer
        .join(&app.demo_lawyer_token(visit).await)
        .await
        .expect("join");
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{visit}/stop"),
            Some(json!({"category": "relaying_to_outsiders", "reason": "Phone on speaker."})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let violation = body["violation"].as_i64().unwrap();
    assert_eq!(visit_ended(&mut lawyer).await.0, EndReason::StoppedByStaff);
    // The receiver is down: attempts fail and back off.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let store = app.running.state.store.clone();
    let pending = store.deliveries_of(violation).await.unwrap();
    assert_eq!(pending.len(), 3);
    for d in &pending {
        assert!(d.delivered_at.is_none());
        assert!(d.attempts >= 2, "retried: {d:?}");
        assert!(d.last_error.is_some());
    }
    // An account made from the command line (straight in the store, as `confer admin
    // create` does) is recorded in the audit log by the next start.
    let cli_made = confer::admin::staff::create_staff(
        &store,
        &app.running.state.totp,
        "cli-made",
        confer::admin::roles::StaffRole::Auditor,
        None,
    )
    .await
    .unwrap();
    // Restart with the reports still pending, then bring the receiver up.
    let config = app.running.state.config.clone();
    app.running.shutdown().await;
    let running = confer::app::start(config).await.expect("restart");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let got = webhook_receiver(listener);
    wait_for_deliveries(&got, 3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let done = running.state.store.deliveries_of(violation).await.unwrap();
    assert!(done.iter().all(|d| d.delivered_at.is_some()), "{done:?}");
    assert_eq!(got.lock().unwrap().len(), 3, "each report once");
    let filter = confer::store::audit::AuditFilter {
        visit: None,
        lawyer: None,
        from_ms: Some(0),
        to_ms: Some(i64::MAX),
        after_seq: 0,
        limit: 1000,
    };
    let entries = running.state.audit.query(&filter).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.record["change"]["kind"] == "staff_created"
                && e.record["change"]["staff"] == cli_made.id.0
                && e.actor == "system"),
        "the command-line account's creation is recorded at start"
    );
    running.shutdown().await;
}

/// Parse the Prometheus text format: `(name, labels, value)` for every sample; panics on
/// a line that is not a comment, blank, or a well-formed sample.
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                assert!(rest.ends_with('}'), "bad labels in {line:?}");
                (n, rest.trim_end_matches('}'))
            }
            None => (series, ""),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name in {line:?}"
        );
        out.push((name.to_owned(), labels.to_owned(), value));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_and_count_an_admission() {
    let token = "scrape-token-0123456789abcdef0123456789";
    let app = spawn_app_with(|c| c.admin.metrics_token = Some(token.into())).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let mut lawyer = app.signaling(&Identity::None).await;
    lawyer.hello().await.unwrap();
    lawyer
        .join(&app.demo_lawyer_token(visit).await)
        .await
        .expect("join");
    tokio::time::sleep(Duration::from_millis(1300)).await; // one sampler tick

    let scrape = |bearer: Option<String>| {
        let mut req = app.admin_client().get(app.admin_url("/metrics"));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    };
    let resp = scrape(Some(token.into())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    let samples = parse_prometheus(&text);
    let admitted = samples
        .iter()
        .find(|(n, l, _)| n == "confer_admissions_total" && l.contains("result=\"admitted\""))
        .unwrap_or_else(|| panic!("no admission counted:\n{text}"));
    assert!(admitted.2 >= 1.0);
    for name in [
        "confer_live_visits",
        "confer_participants",
        "confer_join_latency_seconds_bucket",
        "confer_audit_append_seconds_bucket",
        "confer_registry_errors_total",
        "confer_impersonation_alerts_total",
        "confer_health_alerts_total",
        "confer_forwarded_packets_total",
    ] {
        assert!(
            samples.iter().any(|(n, _, _)| n == name),
            "{name} missing:\n{text}"
        );
    }
    // (`confer_live_visits` is a process-wide gauge; other tests' servers in this process
    // set it too, so its value is not asserted here.)
    // Nothing identifying in any label: only fixed codes.
    assert!(!text.contains(&app.lawyer_username) && !text.contains("127.0.0.1"));

    // Who may scrape: the token, or an auditor / sysadmin session; nobody else.
    assert_eq!(scrape(None).await.unwrap().status(), 401);
    assert_eq!(scrape(Some("x".repeat(43))).await.unwrap().status(), 401);
    assert_eq!(
        scrape(Some(app.admin_token.clone()))
            .await
            .unwrap()
            .status(),
        403
    );
    let auditor = app.staff_session("aud-4", "auditor").await;
    assert_eq!(scrape(Some(auditor)).await.unwrap().status(), 200);
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_is_registered_answered_and_the_lawyer_sees_every_update() {
    // R-COMPLAIN-1: registered, tracked, answered with progress and outcome; the facility
    // publishes where complaints go.
    let app = spawn_app_with(|c| {
        c.facility.complaint_department = "Supervision Office".into();
        c.facility.complaint_address = "1 Example Road".into();
        c.facility.complaint_phone = "+86 10 0000 0000".into();
    })
    .await;
    let client = app.client(&Identity::None);
    let contact: Value = client
        .get(app.url("/api/lawyer/complaint-contact"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(contact["configured"], true);
    assert_eq!(contact["department"], "Supervision Office");
    assert_eq!(contact["phone"], "+86 10 0000 0000");

    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let lawyer_post = |body: Value| {
        client
            .post(app.url("/api/lawyer/complaints"))
            .bearer_auth(&session)
            .json(&body)
            .send()
    };
    let resp = lawyer_post(
        json!({"visit": visit, "about": "delay", "text": "Waited three hours for a booth."}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let resp = lawyer_post(json!({"about": "weather", "text": "x"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = lawyer_post(json!({"visit": 9999, "about": "stop", "text": "x"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let anon = client
        .post(app.url("/api/lawyer/complaints"))
        .json(&json!({"about": "delay", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);

    let (status, all) = app.admin(Method::GET, "/admin/api/complaints", None).await;
    assert_eq!(status, 200);
    assert_eq!(all["complaints"][0]["id"], id);
    assert_eq!(all["complaints"][0]["status"], "open");
    let updates = format!("/admin/api/complaints/{id}/updates");
    let auditor = app.staff_session("aud-5", "auditor").await;
    let (status, _) = app
        .staff(
            &auditor,
            Method::POST,
            &updates,
            Some(json!({"kind": "progress", "text": "x"})),
        )
        .await;
    assert_eq!(status, 403);
    for (kind, text) in [
        ("progress", "Asked the booking desk for the records."),
        (
            "outcome",
            "Booth shortage confirmed; a second fast-visit booth opens Monday.",
        ),
    ] {
        let (status, body) = app
            .admin(
                Method::POST,
                &updates,
                Some(json!({"kind": kind, "text": text})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app
        .admin(
            Method::POST,
            &updates,
            Some(json!({"kind": "progress", "text": "late"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("complaint_closed"))
    );

    let mine: Value = client
        .get(app.url("/api/lawyer/complaints"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = &mine["complaints"][0];
    assert_eq!(c["status"], "closed");
    assert_eq!(c["about"], "delay");
    let kinds: Vec<&str> = c["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["progress", "outcome"]);
    assert!(c["updates"][1]["text"].as_str().unwrap().contains("Monday"));

    let (_, log) = app
        .staff(
            &auditor,
            Method::GET,
            &format!("/admin/api/audit?visit={visit}"),
            None,
        )
        .await;
    assert!(log.to_string().contains("complaint_filed"), "{log}");
    app.running.shutdown().await;
}

#[test]
fn json_logs_are_one_object_per_line() {
    // Operations: `--log-format json` for production log collectors.
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(["serve", "--log-format", "json"])
        .args(["--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--media-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("CONFER_LOG_FORMAT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start confer serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut ready = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ready.is_none() && std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        if v["message"] == "confer is ready" {
            ready = Some(v);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let ready = ready.expect("a JSON 'confer is ready' line");
    assert!(
        ready["admin_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{ready}"
    );
}

#[test]
fn oversight_webhooks_and_the_metrics_token_are_checked_before_start() {
    // Configuration is validated before any port is bound (exit 64 in `confer serve`).
    let base = confer::config::Config::default;
    let mut c = base();
    c.oversight.justice_bureau_url = Some("http://justice.example.gov.cn/in".into());
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("oversight.justice_bureau_url"), "{e}");
    c.oversight.justice_bureau_url = Some("https://justice.example.gov.cn/in".into());
    c.oversight.law_firm_url = Some("http://127.0.0.1:9000/hook".into());
    assert!(c.validate().is_ok(), "https, or http on loopback");
    c.oversight.retry_base_ms = 0;
    assert!(c.validate().is_err());
    let mut c = base();
    c.admin.metrics_token = Some("short".into());
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("metrics_token"), "{e}");
    let mut c = base();
    c.admin.session_idle_secs = 0;
    assert!(c.validate().is_err());
}
