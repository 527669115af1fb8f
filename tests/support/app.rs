//! `spawn_app()`: one real confer per test — real TLS on port 0, real UDP media on
//! loopback, real SQLite in a temporary data dir — plus clients that speak to it the way
//! lawyers, booths and staff do (HTTPS with the dev CA, the booth's client certificate,
//! WSS signalling). `spawn_app_on(Backend::Postgres, …)`: the same on a real PostgreSQL
//! (a fresh database on the test binary's server, `support/pg.rs`).
#![allow(dead_code)] // every test binary uses a different subset

#[path = "pg.rs"]
pub mod pg;

use confer::app::Running;
use confer::config::Config;
use confer_signaling::SignalingClient;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct TestApp {
    pub running: Running,
    pub data_dir: tempfile::TempDir,
    pub ca_pem: PathBuf,
    pub admin_token: String,
    /// The first staff account (role operator): username, password, TOTP secret (base32).
    pub admin_username: String,
    pub admin_password: String,
    pub admin_totp: String,
    pub lawyer_username: String,
    pub lawyer_password: String,
    /// An auditor's session, made on first use by [`TestApp::audit_read`].
    auditor: tokio::sync::OnceCell<String>,
    /// `store.url` when the app runs on PostgreSQL.
    pub store_url: Option<String>,
}

/// Which database the app under test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The app on `backend` (PostgreSQL: a fresh database); `None` (a skip) when PostgreSQL
/// is missing outside CI (under `CI=true` that fails instead).
pub async fn spawn_app_on(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(pg::database().await?),
    };
    Some(
        spawn_app_with(|c| {
            c.store.url = url;
            tweak(c)
        })
        .await,
    )
}

/// A client identity: none (a lawyer's browser) or a booth certificate.
#[derive(Clone)]
pub enum Identity {
    None,
    Booth { cert: PathBuf, key: PathBuf },
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client config trusting `ca_pem`, presenting `identity`.
pub fn tls_client(ca_pem: &Path, identity: &Identity) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_pem).expect("ca pem") {
        roots.add(c.expect("ca cert")).expect("add root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let config = match identity {
        Identity::None => builder.with_no_client_auth(),
        Identity::Booth { cert, key } => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .expect("cert pem")
                .map(|c| c.expect("cert"))
                .collect();
            let key = PrivateKeyDer::from_pem_file(key).expect("key pem");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
    };
    Arc::new(config)
}

pub fn http_client(ca_pem: &Path, identity: &Identity) -> reqwest::Client {
    let mut tls = (*tls_client(ca_pem, identity)).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

pub fn read_demo_credentials(dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(dir.join("demo-credentials.txt")).expect("demo credentials");
    let line = text
        .lines()
        .find(|l| l.starts_with("lawyer page"))
        .expect("lawyer line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let u = words[words.iter().position(|w| *w == "username").unwrap() + 1];
    let p = words[words.iter().position(|w| *w == "password").unwrap() + 1];
    (u.to_owned(), p.to_owned())
}

/// `(username, password, totp secret)` of the admin console line of `demo-credentials.txt`
/// (`admin console ... username U password P totp SECRET`).
pub fn read_admin_credentials(dir: &Path) -> (String, String, String) {
    let text = std::fs::read_to_string(dir.join("demo-credentials.txt")).expect("demo credentials");
    let line = text
        .lines()
        .find(|l| l.starts_with("admin console"))
        .expect("admin console line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| words[words.iter().position(|x| *x == w).expect(w) + 1].to_owned();
    (after("username"), after("password"), after("totp"))
}

/// The TOTP code of a base32 secret at a unix time (RFC 6238: SHA-1, 6 digits, 30 s), by
/// the `totp-rs` crate directly rather than through confer.
pub fn totp_code(secret_base32: &str, unix: u64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .expect("base32 secret");
    totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        None,
        String::new(),
    )
    .generate(unix)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A staff sign-in: `(status, body)`.
pub async fn staff_login(
    client: &reqwest::Client,
    url: &str,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({ "username": username, "password": password });
    if let Some(t) = totp {
        body["totp"] = json!(t);
    }
    let resp = client
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("staff login");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("tempdir"), tweak).await
}

/// [`spawn_app_with`] with the data dir in `data_dir` (e.g. a small file system).
pub async fn spawn_app_in(data_dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        ..Config::default()
    };
    // The tests hold visits in the demo facility (its booth, lawyer and CA).
    config.demo.enabled = true;
    config.http.addr = "127.0.0.1:0".parse().unwrap();
    config.media.addr = "127.0.0.1:0".parse().unwrap();
    config.admin.addr = "127.0.0.1:0".parse().unwrap();
    // A loaded test machine (parallel builds, Chromium, fsync queues) can hold one audit
    // append longer than production's 5 s. The tests of a failing audit log make appends fail
    // outright (`dangerous_fail_appends_for_tests`); no test depends on this timeout.
    config.audit.append_timeout_ms = 30_000;
    tweak(&mut config);
    config.validate().expect("valid test config");
    let config_store_url = config.store.url.clone();
    let running = confer::app::start(config).await.expect("confer starts");
    let (admin_user, admin_password) = running
        .first_start
        .admin
        .clone()
        .expect("first admin created");
    let (file_user, file_password, admin_totp) = read_admin_credentials(data_dir.path());
    assert_eq!((&file_user, &file_password), (&admin_user, &admin_password));
    let (lawyer_username, lawyer_password) = read_demo_credentials(data_dir.path());
    let ca_pem = running.pki.ca_cert.clone();
    let store_url = config_store_url;
    let mut app = TestApp {
        running,
        data_dir,
        ca_pem,
        admin_token: String::new(),
        admin_username: admin_user.clone(),
        admin_password: admin_password.clone(),
        admin_totp: admin_totp.clone(),
        lawyer_username,
        lawyer_password,
        auditor: tokio::sync::OnceCell::new(),
        store_url,
    };
    let (status, body) = staff_login(
        &app.admin_client(),
        &app.admin_url("/admin/api/login"),
        &admin_user,
        &admin_password,
        Some(&totp_code(&admin_totp, unix_now())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    app.admin_token = body["token"].as_str().unwrap().to_owned();
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.running.http_addr.port())
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.running.admin_addr.port())
    }

    pub fn ws_url(&self) -> String {
        format!("wss://127.0.0.1:{}/ws", self.running.http_addr.port())
    }

    pub fn demo_booth(&self) -> Identity {
        Identity::Booth {
            cert: self.running.pki.demo_booth_cert.clone(),
            key: self.running.pki.demo_booth_key.clone(),
        }
    }

    pub fn client(&self, identity: &Identity) -> reqwest::Client {
        http_client(&self.ca_pem, identity)
    }

    pub fn admin_client(&self) -> reqwest::Client {
        http_client(&self.ca_pem, &Identity::None)
    }

    pub async fn signaling(&self, identity: &Identity) -> SignalingClient {
        SignalingClient::connect(&self.ws_url(), tls_client(&self.ca_pem, identity))
            .await
            .expect("wss connect")
    }

    /// Staff API call with any staff session token.
    pub async fn staff(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .admin_client()
            .request(method, self.admin_url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("staff request");
        let status = resp.status().as_u16();
        if is_event_stream(&resp) {
            return (status, first_event_data(resp).await);
        }
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Create a staff account of `role` directly in the store (as `confer admin create`
    /// does) and sign it in; returns its session token.
    pub async fn staff_session(&self, username: &str, role: &str) -> String {
        let role = confer::admin::roles::StaffRole::parse(role).expect("role");
        let created = confer::admin::staff::create_staff(
            &self.running.state.store,
            &self.running.state.totp,
            username,
            role,
            None,
        )
        .await
        .expect("create staff");
        let (status, body) = staff_login(
            &self.admin_client(),
            &self.admin_url("/admin/api/login"),
            username,
            &created.password,
            Some(&totp_code(&created.totp_secret, unix_now())),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Staff API call with the admin session.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .admin_client()
            .request(method, self.admin_url(path))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Sign a lawyer in; returns the session token.
    pub async fn lawyer_login(&self, username: &str, password: &str) -> String {
        let resp = self
            .client(&Identity::None)
            .post(self.url("/api/lawyer/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 200, "login of {username}");
        resp.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn demo_lawyer_session(&self) -> String {
        self.lawyer_login(&self.lawyer_username.clone(), &self.lawyer_password.clone())
            .await
    }

    /// The demo visit (open now) as the demo lawyer sees it.
    pub async fn demo_visit_id(&self, session: &str) -> i64 {
        let v: Value = self
            .client(&Identity::None)
            .get(self.url("/api/lawyer/visits"))
            .bearer_auth(session)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["visits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["state"] == "open")
            .expect("an open demo visit")["id"]
            .as_i64()
            .unwrap()
    }

    /// `(status, body)` of a lawyer's join-token request.
    pub async fn lawyer_join_token(&self, session: &str, visit: i64) -> (u16, Value) {
        let resp = self
            .client(&Identity::None)
            .post(self.url(&format!("/api/lawyer/visits/{visit}/join-token")))
            .bearer_auth(session)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// A join token for the demo lawyer (signs in first); panics on refusal.
    pub async fn demo_lawyer_token(&self, visit: i64) -> String {
        let session = self.demo_lawyer_session().await;
        let (status, body) = self.lawyer_join_token(&session, visit).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// A join token for the demo booth (its certificate); panics on refusal.
    pub async fn demo_booth_token(&self, visit: i64) -> String {
        let (status, body) = self.booth_join_token(&self.demo_booth(), visit).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// `(status, body)` of a booth's join-token request.
    pub async fn booth_join_token(&self, identity: &Identity, visit: i64) -> (u16, Value) {
        let resp = self
            .client(identity)
            .post(self.url(&format!("/api/booth/visits/{visit}/join-token")))
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// The demo lawyer's account id, as the staff API lists it.
    pub async fn demo_lawyer_id(&self) -> Value {
        let lawyers = self
            .admin(reqwest::Method::GET, "/admin/api/lawyers", None)
            .await
            .1;
        lawyers["lawyers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["username"] == self.lawyer_username.as_str())
            .expect("the demo lawyer")["id"]
            .clone()
    }

    /// Create a visit for the demo lawyer and booth through the staff API.
    pub async fn create_visit(&self, starts_in: chrono::Duration, lasts: chrono::Duration) -> i64 {
        let lawyer_id = self.demo_lawyer_id().await;
        let start = chrono::Utc::now() + starts_in;
        let case = self.demo_case().await;
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin/api/visits",
                Some(json!({
                    "lawyer_id": lawyer_id,
                    "booth_id": confer::app::DEMO_BOOTH,
                    "starts_at": start.to_rfc3339(),
                    "ends_at": (start + lasts).to_rfc3339(),
                    "case_id": case.0,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// The demo detainee's case (seeded on first start), for which the demo lawyer holds an
    /// engagement with accepted documents.
    pub async fn demo_case(&self) -> confer::ids::CaseId {
        let store = &self.running.state.store;
        let facility = confer::ids::FacilityId(confer::app::DEMO_FACILITY.into());
        let detainee = store
            .detainee_by_ref(&facility, confer::demo::DEMO_DETAINEE_REF)
            .await
            .unwrap()
            .expect("demo detainee seeded");
        store
            .newest_case_for_detainee(detainee.id)
            .await
            .unwrap()
            .expect("demo case seeded")
            .id
    }

    /// A signalling connection that said hello and joined with `token`.
    pub async fn joined(&self, identity: &Identity, token: &str) -> SignalingClient {
        let mut sig = self.signaling(identity).await;
        sig.hello().await.expect("hello");
        sig.join(token).await.expect("join");
        sig
    }
}

// --- engagements and documents (R-ARRANGE-1) ---

impl TestApp {
    /// `(status, body)` of a lawyer API call with a session token.
    pub async fn lawyer_api(
        &self,
        session: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client(&Identity::None)
            .request(method, self.url(path))
            .bearer_auth(session);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("lawyer request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Create a lawyer account through the staff API and sign it in: `(id, session)`.
    pub async fn new_lawyer(&self, username: &str) -> (i64, String) {
        let password = format!("{username}-long-password");
        // A licence number of the account's own (17 digits, from the username).
        let digits = username.bytes().fold(1_469_598_103_934_665_603u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
        }) % 100_000_000_000_000_000;
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin/api/lawyers",
                Some(json!({
                    "username": username, "display_name": username, "password": password,
                    "licence_number": format!("{digits:017}"), "id_number": format!("ID-{username}"),
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let session = self.lawyer_login(username, &password).await;
        (body["id"].as_i64().unwrap(), session)
    }

    /// Register a detainee at the demo facility with one case: `(detainee id, case id)`.
    pub async fn new_detainee_with_case(&self, internal_ref: &str, flagged: bool) -> (i64, i64) {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin/api/detainees",
                Some(json!({ "facility": confer::app::DEMO_FACILITY, "internal_ref": internal_ref, "name": "Zhang San" })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let detainee = body["id"].as_i64().unwrap();
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin/api/cases",
                Some(json!({ "detainee_id": detainee, "needs_unit_permission": flagged })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (detainee, body["id"].as_i64().unwrap())
    }

    /// `(status, body)` of uploading `bytes` as a document of `kind`.
    pub async fn upload_document(
        &self,
        session: &str,
        engagement: i64,
        kind: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> (u16, Value) {
        let resp = self
            .client(&Identity::None)
            .put(self.url(&format!(
                "/api/lawyer/engagements/{engagement}/documents/{kind}"
            )))
            .bearer_auth(session)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await
            .expect("upload");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `(status, body)` of reading the audit log (`path` under `/admin/api/audit`) as an
    /// auditor: the operator who runs visits may not read it (staff roles kept apart).
    pub async fn audit_read(&self, query: &str) -> (u16, Value) {
        let token = self
            .auditor
            .get_or_init(|| self.staff_session("test-auditor", "auditor"))
            .await;
        self.staff(
            token,
            reqwest::Method::GET,
            &format!("/admin/api/audit{query}"),
            None,
        )
        .await
    }

    /// Stop the server gracefully and start it again on the same data dir and
    /// configuration (new ports). Sessions and visits persist; live visits do not.
    pub async fn restart(self) -> TestApp {
        let TestApp {
            running,
            data_dir,
            ca_pem,
            admin_token,
            admin_username,
            admin_password,
            admin_totp,
            lawyer_username,
            lawyer_password,
            auditor,
            store_url,
        } = self;
        let mut config = running.state.config.clone();
        running.shutdown().await;
        config.http.addr = "127.0.0.1:0".parse().unwrap();
        config.media.addr = "127.0.0.1:0".parse().unwrap();
        config.admin.addr = "127.0.0.1:0".parse().unwrap();
        let running = confer::app::start(config).await.expect("confer restarts");
        TestApp {
            running,
            data_dir,
            ca_pem,
            admin_token,
            admin_username,
            admin_password,
            admin_totp,
            lawyer_username,
            lawyer_password,
            auditor,
            store_url,
        }
    }
}

/// Whether an answer is a server-sent event stream (`/admin/api/live/stream`).
pub fn is_event_stream(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// The JSON data of the first event of a server-sent event stream (then the stream is
/// dropped); `Null` if none arrives within five seconds.
pub async fn first_event_data(mut resp: reqwest::Response) -> Value {
    let read = async {
        let mut buf = String::new();
        loop {
            if let Some(pos) = buf.find("\n\n") {
                let block: String = buf.drain(..pos + 2).collect();
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if !data.is_empty() {
                    return serde_json::from_str(&data).unwrap_or(Value::Null);
                }
                continue;
            }
            match resp.chunk().await {
                Ok(Some(chunk)) => buf.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return Value::Null,
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .unwrap_or(Value::Null)
}

/// Fixtures of the scheduler tests (tests/schedule.rs, tests/reports.rs).
impl TestApp {
    /// Plain SQL on the server's database, for fixtures that other routes own (booths,
    /// detainees).
    pub async fn sql(&self, statements: &[&str]) {
        use sqlx::{ConnectOptions, Connection};
        if let Some(url) = &self.store_url {
            let mut conn = sqlx::PgConnection::connect(url)
                .await
                .expect("connect to the test PostgreSQL");
            for s in statements {
                sqlx::query(s).execute(&mut conn).await.expect(s);
            }
            conn.close().await.expect("close");
            return;
        }
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.data_dir.path().join("confer.db"))
            .busy_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("open confer.db");
        for s in statements {
            sqlx::query(s).execute(&mut conn).await.expect(s);
        }
        conn.close().await.expect("close");
    }

    /// Make the lawyer `username` represent the demo facility's detainee `detainee_ref`: a case
    /// for the detainee (when it has none) and an engagement in it, written directly (the
    /// documents flow is tested on its own in tests/documents.rs).
    pub async fn represent(&self, username: &str, detainee_ref: &str) {
        let case = format!(
            "INSERT INTO cases (detainee_id, needs_unit_permission, created_at) \
             SELECT id, 0, 0 FROM detainees WHERE facility_id = 'demo-facility' AND internal_ref = '{detainee_ref}' \
             AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.detainee_id = detainees.id)"
        );
        let engagement = format!(
            "INSERT INTO engagements (lawyer_id, case_id, law_firm, authority, created_at) \
             SELECT l.id, c.id, 'Test Law Firm', 'power_of_attorney', 0 FROM lawyers l, cases c \
             JOIN detainees d ON d.id = c.detainee_id \
             WHERE l.username = '{username}' AND d.facility_id = 'demo-facility' AND d.internal_ref = '{detainee_ref}' \
             ON CONFLICT DO NOTHING"
        );
        self.sql(&[&case, &engagement]).await;
    }

    /// The demo facility open around the clock, with a second lawyer room (`room-2`), a fast
    /// room (`fast-1`) and two more detainees (`D-100`, `D-200`).
    pub async fn facility_open_around_the_clock(&self) {
        self.sql(&[
            "INSERT INTO booths (id, facility_id, label) VALUES ('room-2', 'demo-facility', 'Room 2')",
            "INSERT INTO booths (id, facility_id, label) VALUES ('fast-1', 'demo-facility', 'Fast 1')",
            "INSERT INTO detainees (facility_id, internal_ref, name, created_at) VALUES ('demo-facility', 'D-100', 'Secret Person', 0)",
            "INSERT INTO detainees (facility_id, internal_ref, name, created_at) VALUES ('demo-facility', 'D-200', 'Other Person', 0)",
        ])
        .await;
        // The demo lawyer represents both (R-PRIV-4: requests only for one's own clients).
        for detainee in ["D-100", "D-200"] {
            self.represent(&self.lawyer_username.clone(), detainee)
                .await;
        }
        let (s, b) = self
            .admin(
                reqwest::Method::PUT,
                "/admin/api/booths/fast-1/kind",
                Some(json!({ "kind": "fast_room" })),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let hours: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|d| json!({ "weekday": d, "opens": "00:00", "closes": "24:00" }))
            .collect();
        let (s, b) = self
            .admin(
                reqwest::Method::PUT,
                "/admin/api/facilities/demo-facility/hours",
                Some(json!({ "hours": hours })),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
}
