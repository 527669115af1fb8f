//! Driving Janus (Debian's `janus`, VideoCall plugin) through its plain HTTP API, with the same
//! peers and traffic model as confer, so the two SFUs are compared on one topology: each side
//! of a visit has one peer connection and the server relays A to B.
//!
//! **Owns**: Janus sessions and handles (`create`, `attach janus.plugin.videocall`), one
//! long-poll task per session (which also keeps the session alive), the VideoCall exchange
//! (`register` both sides; the lawyer `call`s with its offer; the booth answers the offer that
//! Janus sends in `incomingcall` and `accept`s; the lawyer applies the answer from `accepted`).
//!
//! **Does not**: configure or start Janus (`compare.sh` does, inside a network namespace,
//! because Janus gathers no loopback candidates).
//!
//! Join time for Janus runs from the lawyer's `call` request to the booth's first media packet.

use crate::engine::{Engine, PendingPeer, Side};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

const WAIT: Duration = Duration::from_secs(20);

/// A client of one Janus server.
pub struct Janus {
    http: reqwest::Client,
    url: String,
    transactions: AtomicU64,
    closing: watch::Sender<bool>,
    sessions: std::sync::Mutex<Vec<u64>>,
}

struct Session {
    id: u64,
    handle: u64,
    events: mpsc::UnboundedReceiver<Value>,
}

/// The VideoCall event name of a plugin event (`plugindata.data.result.event`).
fn videocall_event(ev: &Value) -> Option<&str> {
    ev.pointer("/plugindata/data/result/event")?.as_str()
}

fn jsep_sdp(ev: &Value) -> Option<&str> {
    ev.pointer("/jsep/sdp")?.as_str()
}

impl Janus {
    /// `url` is the HTTP API root, e.g. `http://127.0.0.2:8088/janus`.
    pub async fn connect(url: &str) -> anyhow::Result<Janus> {
        // Plain HTTP, but reqwest still wants a TLS config: give it a ring one (never used).
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(60))
            .build()?;
        let (closing, _) = watch::channel(false);
        let janus = Janus {
            http,
            url: url.trim_end_matches('/').to_owned(),
            transactions: AtomicU64::new(1),
            closing,
            sessions: std::sync::Mutex::new(Vec::new()),
        };
        let info = janus.post("", json!({"janus": "info"})).await?;
        let has_videocall = info.pointer("/plugins/janus.plugin.videocall").is_some();
        if !has_videocall {
            bail!("Janus at {url} has no VideoCall plugin");
        }
        Ok(janus)
    }

    async fn post(&self, path: &str, mut body: Value) -> anyhow::Result<Value> {
        let tx = self.transactions.fetch_add(1, Ordering::Relaxed);
        body["transaction"] = json!(format!("t{tx}"));
        let reply: Value = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        if reply.get("janus").and_then(Value::as_str) == Some("error") {
            bail!(
                "Janus refused: {}",
                reply.get("error").unwrap_or(&Value::Null)
            );
        }
        Ok(reply)
    }

    async fn session(&self) -> anyhow::Result<Session> {
        let created = self.post("", json!({"janus": "create"})).await?;
        let id = created
            .pointer("/data/id")
            .and_then(Value::as_u64)
            .context("Janus create: no session id")?;
        let attached = self
            .post(
                &format!("/{id}"),
                json!({"janus": "attach", "plugin": "janus.plugin.videocall"}),
            )
            .await?;
        let handle = attached
            .pointer("/data/id")
            .and_then(Value::as_u64)
            .context("Janus attach: no handle id")?;
        if let Ok(mut s) = self.sessions.lock() {
            s.push(id);
        }
        let (tx, events) = mpsc::unbounded_channel();
        let (http, url, mut closing) = (
            self.http.clone(),
            format!("{}/{id}?maxev=10", self.url),
            self.closing.subscribe(),
        );
        tokio::spawn(async move {
            loop {
                let poll = async { http.get(&url).send().await?.json::<Value>().await };
                let got = tokio::select! {
                    _ = closing.changed() => return,
                    got = poll => got,
                };
                let Ok(got) = got else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let list = match got {
                    Value::Array(list) => list,
                    one => vec![one],
                };
                for ev in list {
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Session { id, handle, events })
    }

    async fn message(&self, s: &Session, body: Value, jsep: Option<Value>) -> anyhow::Result<()> {
        let mut msg = json!({"janus": "message", "body": body});
        if let Some(jsep) = jsep {
            msg["jsep"] = jsep;
        }
        self.post(&format!("/{}/{}", s.id, s.handle), msg).await?;
        Ok(())
    }

    /// The next VideoCall event named `name` (an `error` event or a hang-up fails).
    async fn wait(s: &mut Session, name: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, s.events.recv())
                .await
                .with_context(|| format!("Janus: no {name:?} event within {WAIT:?}"))?
                .context("Janus: the event stream ended")?;
            if let Some(err) = ev.pointer("/plugindata/data/error") {
                bail!("Janus VideoCall error: {err}");
            }
            match videocall_event(&ev) {
                Some(e) if e == name => return Ok(ev),
                Some("hangup") => bail!(
                    "Janus hung up: {}",
                    ev.pointer("/plugindata/data/result/reason")
                        .unwrap_or(&Value::Null)
                ),
                _ => continue,
            }
        }
    }

    /// Set up one visit: both sides register, the lawyer calls, the booth accepts.
    pub async fn visit(&self, engine: &Engine, visit: u32, ip: IpAddr) -> anyhow::Result<()> {
        let mut booth = self.session().await?;
        let mut lawyer = self.session().await?;
        let run = std::process::id();
        let booth_name = format!("booth-{run}-{visit}");
        let lawyer_name = format!("lawyer-{run}-{visit}");
        for (s, name) in [(&mut booth, &booth_name), (&mut lawyer, &lawyer_name)] {
            self.message(s, json!({"request": "register", "username": name}), None)
                .await?;
            Self::wait(s, "registered").await?;
        }
        let started = Instant::now();
        let (pending, offer) = PendingPeer::offer(crate::engine::PeerNet { ip, tcp: None })?;
        self.message(
            &lawyer,
            json!({"request": "call", "username": booth_name}),
            Some(json!({"type": "offer", "sdp": offer})),
        )
        .await?;
        let incoming = Self::wait(&mut booth, "incomingcall").await?;
        let janus_offer = jsep_sdp(&incoming).context("incomingcall without an offer")?;
        let (booth_peer, answer) = PendingPeer::answer(ip, janus_offer, visit, Side::Booth)?;
        engine.add(booth_peer);
        self.message(
            &booth,
            json!({"request": "accept"}),
            Some(json!({"type": "answer", "sdp": answer})),
        )
        .await?;
        let accepted = Self::wait(&mut lawyer, "accepted").await?;
        let janus_answer = jsep_sdp(&accepted).context("accepted without an answer")?;
        engine.add(pending.accept(janus_answer, visit, Side::Lawyer, Some(started))?);
        // Keep draining both sessions' events so their queues stay small.
        for mut s in [booth, lawyer] {
            tokio::spawn(async move { while s.events.recv().await.is_some() {} });
        }
        Ok(())
    }

    /// Stop the long polls and destroy every session (bounded in time).
    pub async fn leave_all(&self) {
        let _ = self.closing.send(true);
        let ids = self
            .sessions
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            for id in ids {
                let _ = self
                    .post(&format!("/{id}"), json!({"janus": "destroy"}))
                    .await;
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn videocall_events_and_sdp_are_read_from_janus_messages() {
        let ev = json!({
            "janus": "event",
            "plugindata": {"plugin": "janus.plugin.videocall", "data": {"videocall": "event", "result": {"event": "incomingcall", "username": "x"}}},
            "jsep": {"type": "offer", "sdp": "v=0"}
        });
        assert_eq!(videocall_event(&ev), Some("incomingcall"));
        assert_eq!(jsep_sdp(&ev), Some("v=0"));
        assert_eq!(videocall_event(&json!({"janus": "keepalive"})), None);
    }
}
