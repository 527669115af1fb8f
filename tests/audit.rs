//! The tamper-evident audit log through the real server and the real binary:
//! every decision of a visit is recorded, `confer audit verify` finds tampering with the
//! SQLite file, acknowledged entries survive SIGKILL, and a join is refused (no media)
//! when the audit log cannot be written. docs/DESIGN.md invariant 3 ("audit first").

#[path = "support/app.rs"]
mod app;

use app::{http_client, spawn_app, spawn_app_on, spawn_app_with, Backend, Identity, TestApp};
use base64::Engine;
use confer_signaling::ErrorCode;
use serde_json::Value;
use sqlx::{ConnectOptions, Connection};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn confer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(args)
        .output()
        .expect("run confer")
}

fn verify(dir: &Path) -> Output {
    confer(&["audit", "verify", "--data-dir", dir.to_str().unwrap()])
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Plain SQL on the audit database, as someone holding the file could run it.
async fn tamper(dir: &Path, sql: &[&str]) {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("audit.db"))
        .connect()
        .await
        .expect("open audit.db");
    for s in sql {
        sqlx::query(s)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    conn.close().await.unwrap();
}

/// Read the audit log as an auditor (staff roles: reading it is the auditor's role alone).
async fn audit_kinds(app: &TestApp, query: &str) -> Vec<String> {
    let auditor = app.staff_session(&auditor_name(), "auditor").await;
    let (status, body) = app
        .staff(
            &auditor,
            reqwest::Method::GET,
            &format!("/admin/api/audit?{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Join the demo visit as lawyer and booth through signalling, refuse a forged token,
/// then stop the server. Returns the data dir (kept) and the visit id.
async fn run_a_visit() -> (TestApp, i64) {
    run_a_visit_on(Backend::Sqlite).await.expect("SQLite")
}

/// [`run_a_visit`] on `backend`; `None` (a skip) when PostgreSQL is missing outside CI.
async fn run_a_visit_on(backend: Backend) -> Option<(TestApp, i64)> {
    let app = spawn_app_on(backend, |_| {}).await?;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;

    let mut lawyer = app.signaling(&Identity::None).await;
    lawyer.hello().await.unwrap();
    lawyer
        .join(&app.demo_lawyer_token(visit).await)
        .await
        .expect("lawyer joins");
    let (status, body) = app.booth_join_token(&app.demo_booth(), visit).await;
    assert_eq!(status, 200, "{body}");
    let mut booth = app.signaling(&app.demo_booth()).await;
    booth.hello().await.unwrap();
    booth
        .join(body["token"].as_str().unwrap())
        .await
        .expect("booth joins");

    let mut forger = app.signaling(&Identity::None).await;
    forger.hello().await.unwrap();
    let err = forger.join("v1.eyJqdGkiOiJ4In0.AAAA").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidToken));
    booth.leave().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    Some((app, visit))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_of_a_visit_is_in_the_audit_log_for_staff() {
    every_decision_of_a_visit_is_in_the_audit_log_for_staff_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_of_a_visit_is_in_the_audit_log_for_staff_on_postgres() {
    every_decision_of_a_visit_is_in_the_audit_log_for_staff_on(Backend::Postgres).await
}

async fn every_decision_of_a_visit_is_in_the_audit_log_for_staff_on(backend: Backend) {
    // Audit log: admission, token issue and use, join and leave are recorded; staff read
    // them by visit, by lawyer and by time.
    let Some((app, visit)) = run_a_visit_on(backend).await else {
        return;
    };
    let kinds = audit_kinds(&app, &format!("visit={visit}")).await;
    for k in [
        "join_token_issued",
        "join_token_used",
        "admission_granted",
        "visit_started",
        "participant_joined",
        "participant_left",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| *k == "admission_granted").count(),
        2,
        "{kinds:?}"
    );
    let lawyer_kinds = audit_kinds(&app, "lawyer=1").await;
    assert!(
        lawyer_kinds.iter().any(|k| k == "login_succeeded"),
        "{lawyer_kinds:?}"
    );
    let from = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    // The forged token identified nobody: it is counted (one entry per class, reason and
    // minute), written when the minute ends or, here, when asked to.
    app.running.state.audit.flush_counted().await;
    let all = audit_kinds(
        &app,
        &format!("from={}&to={}", urlencode(&from), urlencode(&to)),
    )
    .await;
    assert!(
        all.iter().any(|k| k == "unauthenticated_requests"),
        "the forged token's refusal is counted: {all:?}"
    );
    // Nothing but ids: no username, display name or address appears in any entry.
    let auditor = app.staff_session(&auditor_name(), "auditor").await;
    let (_, body) = app
        .staff(
            &auditor,
            reqwest::Method::GET,
            &format!(
                "/admin/api/audit?from={}&to={}",
                urlencode(&from),
                urlencode(&to)
            ),
            None,
        )
        .await;
    let dump = body.to_string();
    for secret in [
        app.lawyer_username.as_str(),
        "Demo Lawyer",
        "127.0.0.1",
        app.lawyer_password.as_str(),
    ] {
        assert!(!dump.contains(secret), "{secret} found in the audit log");
    }
    // Without a filter the read is refused with a reason; without a session, 401.
    assert_eq!(
        app.staff(&auditor, reqwest::Method::GET, "/admin/api/audit", None)
            .await
            .0,
        400
    );
    let anon = app
        .admin_client()
        .get(app.admin_url("/admin/api/audit?visit=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    let url = app.store_url.clone();
    let dir = app.data_dir.path().to_path_buf();
    app.running.shutdown().await;
    // `confer audit verify` follows the store: the data dir (the key) and, on
    // PostgreSQL, the store URL (the chain is in its schema confer_audit).
    let mut args = vec!["audit", "verify", "--data-dir", dir.to_str().unwrap()];
    if let Some(url) = &url {
        args.extend(["--store-url", url.as_str()]);
        assert!(
            !dir.join("audit.db").exists(),
            "no SQLite chain beside PostgreSQL"
        );
        assert!(
            !dir.join("confer.db").exists(),
            "no SQLite store beside PostgreSQL"
        );
    }
    let out = confer(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("audit log intact"), "{}", text(&out));
}

/// A fresh auditor username (each auditor signs in once with the current TOTP code).
fn auditor_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    format!("auditor-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confer_audit_verify_names_the_first_tampered_seq() {
    // Audit log, end to end: run a visit through the real server, stop it, tamper with the
    // SQLite file with plain SQL; `confer audit verify` fails naming the right seq, and
    // passes on the untouched file.
    let (app, _visit) = run_a_visit().await;
    let dir = app.data_dir.path().to_path_buf();
    app.running.shutdown().await;

    let ok = verify(&dir);
    assert!(ok.status.success(), "{}", text(&ok));
    let summary = text(&ok);
    assert!(
        summary.contains("audit log intact") && summary.contains("head hash"),
        "{summary}"
    );
    let records: u64 = summary
        .split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(records >= 8, "{summary}");

    // Copies of the intact file for each tampering.
    let fresh = |name: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(d.join("keys")).unwrap();
        std::fs::copy(dir.join("audit.db"), d.join("audit.db")).unwrap();
        std::fs::copy(
            dir.join("keys/audit-ed25519.pub"),
            d.join("keys/audit-ed25519.pub"),
        )
        .unwrap();
        d
    };
    let unlock = "DROP TRIGGER audit_entries_no_update";
    let undelete = "DROP TRIGGER audit_entries_no_delete";

    // A reason changed inside one entry's hashed content.
    let d = fresh("changed");
    tamper(&d, &[unlock, "UPDATE audit_entries SET canonical = CAST(replace(CAST(canonical AS TEXT), '\"kind\":\"', '\"kind\":\"x') AS BLOB) WHERE seq = 5"]).await;
    let out = verify(&d);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("first bad seq 5"), "{}", text(&out));

    // An entry deleted.
    let d = fresh("deleted");
    tamper(&d, &[undelete, "DELETE FROM audit_entries WHERE seq = 3"]).await;
    let out = verify(&d);
    assert!(text(&out).contains("first bad seq 3"), "{}", text(&out));

    // Two entries swapped (the seq column kept in place).
    let d = fresh("reordered");
    tamper(
        &d,
        &[
            unlock,
            "UPDATE audit_entries SET seq = -1 WHERE seq = 4",
            "UPDATE audit_entries SET seq = 4 WHERE seq = 6",
            "UPDATE audit_entries SET seq = 6 WHERE seq = -1",
        ],
    )
    .await;
    let out = verify(&d);
    assert!(text(&out).contains("first bad seq 4"), "{}", text(&out));

    // The whole tail dropped: the signed checkpoint (written at shutdown) still covers it.
    let d = fresh("truncated");
    tamper(&d, &[undelete, "DELETE FROM audit_entries WHERE seq >= 7"]).await;
    let out = verify(&d);
    assert!(!out.status.success());
    assert!(text(&out).contains("first bad seq 7"), "{}", text(&out));

    // The index columns beside the hashed bytes, changed with plain SQL one at a time: the
    // admin queries (`?visit=`, `?kind=`) and the export select by them, so each is checked
    // against the hashed content and verify names the entry.
    for (name, column_sql, column) in [
        (
            "col-visit",
            "UPDATE audit_entries SET visit_id = 999999 WHERE seq = 6",
            "visit_id",
        ),
        (
            "col-kind",
            "UPDATE audit_entries SET kind = 'forged_kind' WHERE seq = 6",
            "kind",
        ),
        (
            "col-time",
            "UPDATE audit_entries SET time_ms = time_ms - 86400000 WHERE seq = 6",
            "time_ms",
        ),
        (
            "col-actor",
            "UPDATE audit_entries SET actor = 'system' WHERE seq = 6 AND actor <> 'system'",
            "actor",
        ),
    ] {
        let d = fresh(name);
        tamper(&d, &[unlock, column_sql]).await;
        let out = verify(&d);
        if column == "actor" && text(&out).contains("audit log intact") {
            // Entry 6 was the server's own: make it someone else's instead.
            tamper(
                &d,
                &["UPDATE audit_entries SET actor = 'staff:1' WHERE seq = 6"],
            )
            .await;
        }
        let out = verify(&d);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        assert!(
            text(&out).contains("first bad seq 6"),
            "{name}: {}",
            text(&out)
        );
        assert!(text(&out).contains(column), "{name}: {}", text(&out));
    }

    // The export of the intact log verifies away from the server with the public key.
    let export = dir.join("export.jsonl");
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let out = confer(&[
        "audit",
        "export",
        "--data-dir",
        dir.to_str().unwrap(),
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let key = dir.join("keys/audit-ed25519.pub");
    let out = confer(&[
        "audit",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--public-key",
        key.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // ... and an export with a changed entry does not.
    let body = std::fs::read_to_string(&export).unwrap();
    std::fs::write(
        &export,
        body.replacen("admission_granted", "admission_refused", 1),
    )
    .unwrap();
    let out = confer(&[
        "audit",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--public-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_audit_log_cannot_be_written_nobody_is_admitted() {
    // Fail closed, docs/DESIGN.md invariants 3 and 4: a join that would admit media is
    // refused with `unavailable` and a clear sentence, no seat is taken (so no peer can be
    // added), and /healthz on both listeners says the audit store is unhealthy.
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let token = app.demo_lawyer_token(visit).await;

    app.running
        .state
        .audit
        .dangerous_fail_appends_for_tests(true);
    let mut sig = app.signaling(&Identity::None).await;
    sig.hello().await.unwrap();
    let err = sig.join(&token).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unavailable), "{err}");
    assert!(
        err.to_string().contains("audit log cannot be written"),
        "{err}"
    );
    assert_eq!(
        app.running.state.hub.live_count(),
        0,
        "no seat, so no media peer can be added"
    );
    // An offer on that connection is out of order: there is nothing to negotiate.
    let err = sig.offer("v=0").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OutOfOrder), "{err}");

    for url in [app.url("/healthz"), app.admin_url("/healthz")] {
        let resp = app.client(&Identity::None).get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 503, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["unhealthy"],
            serde_json::json!(["audit"]),
            "{url}: {body}"
        );
    }
    // No token is handed out either.
    let (status, body) = app.lawyer_join_token(&session, visit).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "audit_unavailable");

    // Once the log can be written again, joining works and health comes back.
    app.running
        .state
        .audit
        .dangerous_fail_appends_for_tests(false);
    let token = app.demo_lawyer_token(visit).await;
    let mut sig = app.signaling(&Identity::None).await;
    sig.hello().await.unwrap();
    sig.join(&token)
        .await
        .expect("joins once the audit log works");
    let resp = app
        .client(&Identity::None)
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_signed_every_n_records() {
    // Audit log: checkpoints every N records (here 2), verified by `confer audit verify`.
    let app = spawn_app_with(|c| c.audit.checkpoint_every_records = 2).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    for _ in 0..5 {
        app.demo_lawyer_token(visit).await;
    }
    let dir = app.data_dir.path().to_path_buf();
    app.running.shutdown().await;
    let out = verify(&dir);
    assert!(out.status.success(), "{}", text(&out));
    let checkpoints: u64 = text(&out)
        .split("checkpoints")
        .next()
        .unwrap()
        .rsplit(", ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(checkpoints >= 5, "{}", text(&out));
}

// --- crash safety: the real binary, SIGKILLed while appends are in flight ---

fn free_port() -> u16 {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    // The media socket is UDP on the same number; make sure that is free too.
    let _udp = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    port
}

struct Server {
    child: Child,
    http: u16,
    log: PathBuf,
}

fn serve(dir: &Path, http: u16, admin: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(["serve", "--demo", "--data-dir", dir.to_str().unwrap()])
        .args(["--http-addr", &format!("127.0.0.1:{http}")])
        .args(["--media-addr", &format!("127.0.0.1:{http}")])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}")])
        .env("CONFER_LOG", "warn")
        // A loaded test machine can hold one group commit longer than production's 5 s.
        .env("CONFER_AUDIT__APPEND_TIMEOUT_MS", "30000")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.with_extension("log"))
                .unwrap(),
        )
        .spawn()
        .expect("spawn confer serve");
    Server {
        child,
        http,
        log: dir.with_extension("log"),
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.http)
    }

    async fn wait_ready(&mut self, ca: &Path) -> reqwest::Client {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.child.try_wait().unwrap().is_some() {
                panic!(
                    "confer serve exited: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if ca.exists() {
                let client = http_client(ca, &Identity::None);
                if let Ok(r) = client.get(self.url("/healthz")).send().await {
                    if r.status() == 200 {
                        return client;
                    }
                }
            }
            assert!(Instant::now() < deadline, "confer serve not ready in time");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `jti` inside a join token (`v1.<claims>.<mac>`).
fn jti(token: &str) -> String {
    let claims = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["jti"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_audit_entry_is_lost_when_the_server_is_killed() {
    // Audit log crash safety: SIGKILL while appends are in flight; after a restart every
    // entry whose request was answered is there, and verify passes.
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    let ca = dir.join("pki/ca.pem");
    let (http, admin) = (free_port(), free_port());
    let mut server = serve(&dir, http, admin);
    let client = server.wait_ready(&ca).await;
    let (user, password) = app::read_demo_credentials(&dir);
    let login: Value = client
        .post(server.url("/api/lawyer/login"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = login["token"].as_str().unwrap().to_owned();
    let visits: Value = client
        .get(server.url("/api/lawyer/visits"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let visit = visits["visits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "open")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // 16 writers issue join tokens as fast as they can; each token handed out is an
    // acknowledged `join_token_issued` entry.
    let url = server.url(&format!("/api/lawyer/visits/{visit}/join-token"));
    let mut writers = Vec::new();
    let issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..16 {
        let (client, url, session) = (client.clone(), url.clone(), session.clone());
        let issued = issued.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            loop {
                match client.post(&url).bearer_auth(&session).send().await {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(body) => {
                            acked.push(jti(body["token"].as_str().unwrap()));
                            issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(_) => break,
                    },
                    _ => break,
                }
            }
            acked
        }));
    }
    // Kill it in full flow: once enough tokens are out (however slow the machine), with
    // the writers still issuing more.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while issued.load(std::sync::atomic::Ordering::Relaxed) <= 40
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let mut acked = HashSet::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(
        acked.len() > 20,
        "only {} tokens issued before the kill; server log: {}",
        acked.len(),
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    eprintln!("{} join tokens acknowledged before SIGKILL", acked.len());

    // Restart (recovers the WAL), stop gracefully, then look.
    let mut server = serve(&dir, http, admin);
    server.wait_ready(&ca).await;
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    server.child.wait().unwrap();
    let out = verify(&dir);
    assert!(out.status.success(), "{}", text(&out));

    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("audit.db"))
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let rows: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT canonical FROM audit_entries WHERE kind = 'join_token_issued'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let stored: HashSet<String> = rows
        .iter()
        .map(|(c,)| {
            serde_json::from_slice::<Value>(c).unwrap()["record"]["token_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|j| !stored.contains(*j)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged entries lost",
        lost.len(),
        acked.len()
    );
}
