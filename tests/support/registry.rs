//! A real lawyer-registry server for tests and demos: a small axum app on `127.0.0.1:0`
//! serving the registry JSON API documented in `src/licence/remote.rs` (and
//! `src/licence/README.md`) from a JSON-lines data file, over HTTPS with its own throw-away CA
//! (or plain HTTP). Not a mock object: confer's `HttpRegistry` talks HTTP to it.
//!
//! It can be told at run time to be slow, to hang, to fail (any status, garbage, a bare 404,
//! the next N requests failing) and to change a lawyer's status; it counts the requests it
//! receives, so tests can tell whether a request reached it.
//!
//! It parses its data file with `serde_json` alone, independently of confer's own parser, so a
//! mistake in confer's reading of the API is not mirrored here.
#![allow(dead_code)] // every test binary uses a different subset

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use confer::licence::breaker::BreakerConfig;
use confer::licence::remote::{Backoff, HttpRegistryConfig};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How the server answers licence requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 with the record, or 404 `{"error":"unknown_licence"}`.
    Normal,
    /// Like `Normal`, after waiting this long.
    Slow(Duration),
    /// Never answers.
    Hang,
    /// This HTTP status with a plain-text body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a well-formed record of another licence.
    WrongRecord,
    /// 404 with an HTML body, as a web server answers for a wrong path.
    BareNotFound,
}

struct Inner {
    records: HashMap<String, Value>,
    behaviour: Behaviour,
    fail_next: u32,
    requests: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// A running test registry; stops when dropped.
pub struct TestRegistry {
    /// The base URL to configure confer with (ends with `/`).
    pub base_url: String,
    /// The CA certificate (PEM) of the server's certificate; `None` for plain HTTP.
    pub ca_pem: Option<Vec<u8>>,
    state: Shared,
    _stop: oneshot::Sender<()>,
}

/// Identity number of the sample lawyers: `sample_id_number(n)` for the n-th.
pub fn sample_id_number(n: u32) -> String {
    format!("11010519800101{n:04}")
}

/// Licence numbers of the sample data, one per case.
pub const PRACTISING: &str = "11111111111111111";
pub const SUSPENDED: &str = "22222222222222222";
pub const REVOKED: &str = "33333333333333333";
pub const CANCELLED: &str = "44444444444444444";
pub const EXPIRED: &str = "55555555555555555";
pub const UNKNOWN: &str = "99999999999999999";
/// The firm of every sample lawyer.
pub const FIRM: &str = "北京市明德律师事务所";

/// The sample lawyers' holder names, by licence number.
pub fn sample_name(licence: &str) -> String {
    format!("律师{}", &licence[..1])
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sample registry data as JSON lines (the export format): one lawyer per status, one expired.
pub fn sample_jsonl() -> String {
    let rows = [
        (PRACTISING, "practising", "2099-12-31", 1),
        (SUSPENDED, "suspended", "2099-12-31", 2),
        (REVOKED, "revoked", "2099-12-31", 3),
        (CANCELLED, "cancelled", "2099-12-31", 4),
        (EXPIRED, "practising", "2020-01-01", 5),
    ];
    rows.iter()
        .map(|(licence, status, valid_until, n)| {
            json!({
                "licence_number": licence,
                "holder_name": sample_name(licence),
                "holder_id_hash": sha256_hex(&sample_id_number(*n)),
                "law_firm": FIRM,
                "status": status,
                "valid_until": valid_until,
                "data_as_of": "2026-11-27T04:00:00Z",
            })
            .to_string()
                + "\n"
        })
        .collect()
}

fn load(data_file: &Path) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(data_file).expect("registry data file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("registry data line is JSON");
            (
                v["licence_number"]
                    .as_str()
                    .expect("licence_number")
                    .to_owned(),
                v,
            )
        })
        .collect()
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/licences/{number}", get(lookup))
        .with_state(state)
}

async fn lookup(State(state): State<Shared>, UrlPath(number): UrlPath<String>) -> Response {
    // Decide under the lock, act (sleep, hang) after releasing it.
    let (behaviour, record, failing, other) = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        let failing = s.fail_next > 0;
        s.fail_next = s.fail_next.saturating_sub(1);
        let other = s
            .records
            .iter()
            .find(|(k, _)| **k != number)
            .map(|(_, v)| v.clone());
        (
            s.behaviour.clone(),
            s.records.get(&number).cloned(),
            failing,
            other,
        )
    };
    if failing {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "registry temporarily unavailable",
        )
            .into_response();
    }
    match behaviour {
        Behaviour::Hang => std::future::pending::<Response>().await,
        Behaviour::Slow(d) => {
            tokio::time::sleep(d).await;
            answer(record)
        }
        Behaviour::Normal => answer(record),
        Behaviour::Status(code) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "registry failure",
        )
            .into_response(),
        Behaviour::Garbage => {
            (StatusCode::OK, "<html><body>maintenance</body></html>").into_response()
        }
        Behaviour::WrongRecord => answer(other),
        Behaviour::BareNotFound => {
            (StatusCode::NOT_FOUND, "<html>404 Not Found</html>").into_response()
        }
    }
}

fn answer(record: Option<Value>) -> Response {
    match record {
        Some(v) => (StatusCode::OK, Json(v)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown_licence" })),
        )
            .into_response(),
    }
}

impl TestRegistry {
    /// Serve `data_file` (JSON lines) over HTTPS with a fresh CA.
    pub async fn start(data_file: &Path) -> TestRegistry {
        let ca = confer_certs::DevCa::generate("confer test registry CA").expect("test CA");
        let server =
            confer_certs::issue_server_cert(&ca, &[], confer_certs::Validity::days_from_now(1))
                .expect("server cert");
        let tls = confer::http::tls::admin_server_config(
            server.cert_pem.as_bytes(),
            server.key_pem.as_bytes(),
        )
        .expect("registry TLS config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind registry");
        let addr = listener.local_addr().unwrap();
        let state = Self::state(data_file);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(confer::http::serve::serve_tls(
            listener,
            tls,
            router(state.clone()),
            {
                let conn = confer::config::ConnectionSection::default();
                confer::http::limits::ListenerLimits::new("public", &conn, conn.max_connections)
            },
            async move {
                let _ = stopped.await;
            },
        ));
        TestRegistry {
            base_url: format!("https://127.0.0.1:{}/", addr.port()),
            ca_pem: Some(ca.cert_pem().as_bytes().to_vec()),
            state,
            _stop: stop,
        }
    }

    /// Serve `data_file` (JSON lines) over plain HTTP (for `dangerous_plain_http`).
    pub async fn start_plain(data_file: &Path) -> TestRegistry {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind registry");
        let addr = listener.local_addr().unwrap();
        let state = Self::state(data_file);
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        TestRegistry {
            base_url: format!("http://127.0.0.1:{}/", addr.port()),
            ca_pem: None,
            state,
            _stop: stop,
        }
    }

    fn state(data_file: &Path) -> Shared {
        Arc::new(Mutex::new(Inner {
            records: load(data_file),
            behaviour: Behaviour::Normal,
            fail_next: 0,
            requests: 0,
        }))
    }

    /// A client configuration for this server: generous timeout, no retries, a breaker that
    /// does not open within a test unless the test tightens it.
    pub fn client_config(&self) -> HttpRegistryConfig {
        HttpRegistryConfig {
            timeout: Duration::from_secs(10),
            retries: 0,
            backoff: Backoff {
                base: Duration::from_millis(10),
                max: Duration::from_millis(50),
            },
            breaker: BreakerConfig {
                failure_threshold: 1_000,
                open_for: Duration::from_secs(1),
            },
            dangerous_plain_http: self.ca_pem.is_none(),
            ..HttpRegistryConfig::new(self.base_url.clone(), self.ca_pem.clone())
        }
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state.lock().unwrap().behaviour = behaviour;
    }

    /// The next `n` requests get 503, whatever the behaviour.
    pub fn fail_next(&self, n: u32) {
        self.state.lock().unwrap().fail_next = n;
    }

    /// Change a lawyer's practising status (and refresh `data_as_of`).
    pub fn set_status(&self, licence: &str, status: &str) {
        let mut s = self.state.lock().unwrap();
        let record = s
            .records
            .get_mut(licence)
            .expect("a licence of the data file");
        record["status"] = json!(status);
        record["data_as_of"] = json!(chrono::Utc::now().to_rfc3339());
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.state.lock().unwrap().requests
    }
}
