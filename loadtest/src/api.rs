//! Talking to confer exactly as its real clients do: the staff API (admin listener) to book
//! visits, the public HTTPS API for join tokens (lawyer session, booth client certificate),
//! and the signalling crate's client over WSS for join, offer and answer.
//!
//! **Owns**: TLS client configs (ring, trusting only the dev CA of the server's data dir),
//! the credentials read from `DATA_DIR/demo-credentials.txt` and `DATA_DIR/pki/`, and keeping
//! each participant's signalling connection open for the visit (a reader task per connection,
//! which leaves and closes when the run ends).
//!
//! **Does not**: use server internals, or log tokens or passwords.
//!
//! Simplification (documented in the README): confer has one demo booth, and the server
//! accepts overlapping visits of the same booth, so every synthetic visit is booked for the
//! demo lawyer and `demo-booth-1` and every booth peer presents that booth's certificate.

use crate::engine::{Engine, PeerNet, PendingPeer, Side};
use anyhow::{bail, Context};
use confer_signaling::SignalingClient;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The booth every synthetic visit uses (see the module docs).
pub const BOOTH_ID: &str = "demo-booth-1";
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the server is and where its data dir is.
#[derive(Debug, Clone)]
pub struct ConferAddrs {
    pub http: SocketAddr,
    pub admin: SocketAddr,
    pub data_dir: PathBuf,
}

/// A signed-in client of one confer server.
pub struct Confer {
    addrs: ConferAddrs,
    http: reqwest::Client,
    booth_http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    booth_tls: Arc<rustls::ClientConfig>,
    admin_token: String,
    lawyer_session: String,
    lawyer_id: Value,
    case_id: Value,
    /// Closing signal for every signalling connection's reader task.
    closing: watch::Sender<bool>,
    readers: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_config(ca: &Path, booth: Option<(&Path, &Path)>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("cannot read {}", ca.display()))?
    {
        roots.add(cert?)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match booth {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("cannot read {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("cannot read {}", key.display()))?;
            builder.with_client_auth_cert(chain, key)?
        }
    })
}

fn http_client(tls: &rustls::ClientConfig) -> anyhow::Result<reqwest::Client> {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(HTTP_TIMEOUT)
        .build()?)
}

/// `(username, password)` from the line of `demo-credentials.txt` starting with `prefix`.
pub fn read_credentials(text: &str, prefix: &str) -> Option<(String, String)> {
    let line = text.lines().rev().find(|l| l.starts_with(prefix))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| -> Option<String> {
        let i = words.iter().position(|x| *x == w)?;
        words.get(i + 1).map(|s| (*s).to_owned())
    };
    Some((after("username")?, after("password")?))
}

/// The current TOTP code for the staff account on the line starting with `prefix`
/// (`... totp SECRET`, base32), as an authenticator app would show it.
pub fn totp_code(text: &str, prefix: &str, unix: u64) -> Option<String> {
    let line = text.lines().rev().find(|l| l.starts_with(prefix))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|x| *x == "totp")?;
    let secret = totp_rs::Secret::Encoded((*words.get(i + 1)?).to_owned())
        .to_bytes()
        .ok()?;
    Some(
        totp_rs::TOTP::new_unchecked(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            secret,
            None,
            String::new(),
        )
        .generate(unix),
    )
}

async fn json_of(resp: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "{what}: HTTP {status}: {}",
            body.get("message").and_then(Value::as_str).unwrap_or("")
        );
    }
    Ok(body)
}

fn str_field(body: &Value, field: &str, what: &str) -> anyhow::Result<String> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{what}: no {field:?} in the answer"))
}

impl Confer {
    /// Read credentials, sign in as staff and as the demo lawyer.
    pub async fn sign_in(addrs: ConferAddrs) -> anyhow::Result<Confer> {
        let dir = &addrs.data_dir;
        let creds = std::fs::read_to_string(dir.join("demo-credentials.txt"))
            .with_context(|| format!("cannot read {}/demo-credentials.txt", dir.display()))?;
        let (admin_user, admin_password) = read_credentials(&creds, "admin console")
            .context("no admin console line in demo-credentials.txt")?;
        let (lawyer_user, lawyer_password) = read_credentials(&creds, "lawyer page")
            .context("no lawyer page line in demo-credentials.txt")?;
        let ca = dir.join("pki/ca.pem");
        let cert = dir.join(format!("pki/booths/{BOOTH_ID}.pem"));
        let key = dir.join(format!("pki/booths/{BOOTH_ID}.key"));
        let tls = tls_config(&ca, None)?;
        let booth_tls = tls_config(&ca, Some((&cert, &key)))?;
        let http = http_client(&tls)?;
        let booth_http = http_client(&booth_tls)?;
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let admin_totp = totp_code(&creds, "admin console", unix)
            .context("no TOTP secret on the admin console line of demo-credentials.txt")?;
        let admin_url = format!("https://{}/admin/api/login", addrs.admin);
        let body = json_of(
            http.post(&admin_url)
                .json(&json!({"username": admin_user, "password": admin_password, "totp": admin_totp}))
                .send()
                .await
                .context("staff sign-in")?,
            "staff sign-in",
        )
        .await?;
        let admin_token = str_field(&body, "token", "staff sign-in")?;
        let lawyers = json_of(
            http.get(format!("https://{}/admin/api/lawyers", addrs.admin))
                .bearer_auth(&admin_token)
                .send()
                .await?,
            "list lawyers",
        )
        .await?;
        let lawyer_id = lawyers
            .get("lawyers")
            .and_then(Value::as_array)
            .and_then(|ls| {
                ls.iter()
                    .find(|l| l.get("username").and_then(Value::as_str) == Some(&lawyer_user))
            })
            .and_then(|l| l.get("id"))
            .cloned()
            .context("the demo lawyer is not in the staff API's list")?;
        let body = json_of(
            http.post(format!("https://{}/api/lawyer/login", addrs.http))
                .json(&json!({"username": lawyer_user, "password": lawyer_password}))
                .send()
                .await
                .context("lawyer sign-in")?,
            "lawyer sign-in",
        )
        .await?;
        let lawyer_session = str_field(&body, "token", "lawyer sign-in")?;
        // The demo lawyer's case (the demo visit's): visits are booked for it, so that the
        // lawyer passes the whole admission gate (licence, documents) like a real one.
        let visits = json_of(
            http.get(format!("https://{}/admin/api/visits", addrs.admin))
                .bearer_auth(&admin_token)
                .send()
                .await?,
            "list visits",
        )
        .await?;
        let case_id = visits
            .get("visits")
            .and_then(Value::as_array)
            .and_then(|vs| {
                vs.iter().find(|v| {
                    v.get("lawyer_id") == Some(&lawyer_id)
                        && v.get("case_id").is_some_and(|c| !c.is_null())
                })
            })
            .and_then(|v| v.get("case_id"))
            .cloned()
            .context(
                "the demo lawyer has no visit with a case (start confer with `serve --demo`)",
            )?;
        let (closing, _) = watch::channel(false);
        Ok(Confer {
            addrs,
            http,
            booth_http,
            tls: Arc::new(tls),
            booth_tls: Arc::new(booth_tls),
            admin_token,
            lawyer_session,
            lawyer_id,
            case_id,
            closing,
            readers: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Book a visit for the demo lawyer and booth, open now, lasting `lasts`.
    pub async fn book_visit(&self, lasts: Duration) -> anyhow::Result<i64> {
        let start = chrono::Utc::now() - chrono::Duration::seconds(30);
        let end = chrono::Utc::now() + chrono::Duration::from_std(lasts)?;
        let body = json_of(
            self.http
                .post(format!("https://{}/admin/api/visits", self.addrs.admin))
                .bearer_auth(&self.admin_token)
                .json(&json!({
                    "lawyer_id": self.lawyer_id,
                    "booth_id": BOOTH_ID,
                    "case_id": self.case_id,
                    "starts_at": start.to_rfc3339(),
                    "ends_at": end.to_rfc3339(),
                }))
                .send()
                .await?,
            "book a visit",
        )
        .await?;
        body.get("id")
            .and_then(Value::as_i64)
            .context("book a visit: no id in the answer")
    }

    /// One participant joins visit `visit_id` (our index `visit`) and hands its peer to the
    /// engine. For the lawyer, the join time starts here.
    pub async fn join(
        &self,
        engine: &Engine,
        visit_id: i64,
        visit: u32,
        side: Side,
        ip: PeerNet,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let (token, tls) = match side {
            Side::Lawyer => {
                let resp = self
                    .http
                    .post(format!(
                        "https://{}/api/lawyer/visits/{visit_id}/join-token",
                        self.addrs.http
                    ))
                    .bearer_auth(&self.lawyer_session)
                    .send()
                    .await?;
                (
                    str_field(
                        &json_of(resp, "lawyer join token").await?,
                        "token",
                        "lawyer join token",
                    )?,
                    &self.tls,
                )
            }
            Side::Booth => {
                let resp = self
                    .booth_http
                    .post(format!(
                        "https://{}/api/booth/visits/{visit_id}/join-token",
                        self.addrs.http
                    ))
                    .send()
                    .await?;
                (
                    str_field(
                        &json_of(resp, "booth join token").await?,
                        "token",
                        "booth join token",
                    )?,
                    &self.booth_tls,
                )
            }
        };
        let url = format!("wss://{}/ws", self.addrs.http);
        let mut sig = SignalingClient::connect(&url, Arc::clone(tls))
            .await
            .context("signalling connect")?;
        sig.hello().await.context("signalling hello")?;
        sig.join(&token).await.context("signalling join")?;
        let (pending, offer) = PendingPeer::offer(ip)?;
        let answer = sig.offer(&offer).await.context("signalling offer")?;
        let join_started = (side == Side::Lawyer).then_some(started);
        engine.add(pending.accept(&answer, visit, side, join_started)?);
        self.keep_open(sig);
        Ok(())
    }

    /// Keep reading the connection (notices, pings) until the run ends; then leave and close.
    fn keep_open(&self, mut sig: SignalingClient) {
        let mut closing = self.closing.subscribe();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = closing.changed() => break,
                    msg = sig.recv() => if msg.is_err() { return },
                }
            }
            let _ = sig.leave().await;
            let _ = tokio::time::timeout(Duration::from_secs(2), sig.close()).await;
        });
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(task);
        }
    }

    /// Leave every visit and close every signalling connection (bounded in time).
    pub async fn leave_all(&self) {
        let _ = self.closing.send(true);
        let tasks = match self.readers.lock() {
            Ok(mut readers) => std::mem::take(&mut *readers),
            Err(_) => return,
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_the_demo_file() {
        let text = "admin console (https://<admin-addr>): username admin password s3cret-x\n\
                    lawyer page (https://<http-addr>/lawyer): username demo-lawyer password p w\n";
        assert_eq!(
            read_credentials(text, "admin console"),
            Some(("admin".into(), "s3cret-x".into()))
        );
        assert_eq!(
            read_credentials(text, "lawyer page"),
            Some(("demo-lawyer".into(), "p".into()))
        );
        assert_eq!(read_credentials(text, "nothing"), None);
        let with_totp = "admin console (https://<admin-addr>): username admin password s3cret-x totp GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n";
        assert_eq!(
            read_credentials(with_totp, "admin console"),
            Some(("admin".into(), "s3cret-x".into()))
        );
        // RFC 6238 appendix B (SHA-1), last six digits.
        assert_eq!(
            totp_code(with_totp, "admin console", 59).as_deref(),
            Some("287082")
        );
        assert_eq!(totp_code(text, "admin console", 59), None);
        assert_eq!(
            read_credentials("admin console username", "admin console"),
            None
        );
    }
}
