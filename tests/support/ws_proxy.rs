//! A man in the middle, for tests only (R-PRIV-1): an HTTPS origin of its own on loopback
//! that serves one browser everything confer serves (pages and REST calls are forwarded as
//! they are) and relays the signalling WebSocket message by message, recording every
//! message and optionally rewriting it. It stands where a compromised server or network
//! would: between one client and confer. Never server code.
//!
//! TLS: it presents the server's own development certificate (loopback, any port), which
//! the test browsers trust through the dev CA; it talks to confer as an ordinary client
//! trusting that CA. HTTP/1.1 only (the WebSocket upgrade).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as TMessage;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the browser to confer.
    ToServer,
    /// From confer to the browser.
    ToClient,
}

/// Rewrites a message on its way (a JSON object); the identity for a passive proxy.
pub type Tamper = Arc<dyn Fn(Direction, Value) -> Value + Send + Sync>;

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    seen: Arc<Mutex<Vec<(Direction, Value)>>>,
    tamper: Option<Tamper>,
}

/// A running proxy; stops when dropped.
pub struct WsProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<(Direction, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsProxy {
    /// Start in front of confer at `upstream` (its HTTPS address). `pki` is the data dir's
    /// `pki` directory (server certificate and key, CA).
    pub async fn start(upstream: SocketAddr, pki: &Path, tamper: Option<Tamper>) -> WsProxy {
        let ca = pki.join("ca.pem");
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(pki.join("server.pem"))
                .expect("server.pem")
                .map(|c| c.expect("certificate"))
                .collect();
        let key = PrivateKeyDer::from_pem_file(pki.join("server.key")).expect("server.key");
        let mut server = rustls::ServerConfig::builder_with_provider(super::app::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("proxy TLS config");
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let shared = Shared {
            upstream: format!("127.0.0.1:{}", upstream.port()),
            http: super::app::http_client(&ca, &super::app::Identity::None),
            tls: super::app::tls_client(&ca, &super::app::Identity::None),
            seen: Arc::default(),
            tamper,
        };
        let seen = shared.seen.clone();
        let router = axum::Router::new()
            .route("/ws", axum::routing::get(ws))
            .fallback(forward)
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        WsProxy { addr, seen, task }
    }

    /// The origin a browser opens instead of confer's.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// Every signalling message relayed so far, after rewriting, in order.
    pub fn seen(&self) -> Vec<(Direction, Value)> {
        self.seen.lock().unwrap().clone()
    }

    /// The relayed messages of one `type`.
    pub fn of_type(&self, direction: Direction, ty: &str) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|(d, m)| *d == direction && m["type"] == ty)
            .map(|(_, m)| m)
            .collect()
    }
}

/// Pages and REST calls: forwarded as they are.
async fn forward(State(s): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let mut out = s
        .http
        .request(parts.method, format!("https://{}{path}", s.upstream));
    for (name, value) in parts.headers.iter() {
        if name != "host" && name != "connection" {
            out = out.header(name, value);
        }
    }
    let Ok(answer) = out.body(body).send().await else {
        return (axum::http::StatusCode::BAD_GATEWAY, "upstream").into_response();
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "connection" && name != "content-length" {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}

async fn ws(State(s): State<Shared>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| relay(s, socket))
}

fn rewrite(s: &Shared, direction: Direction, text: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return text.to_owned();
    };
    if let Some(t) = &s.tamper {
        value = t(direction, value);
    }
    s.seen.lock().unwrap().push((direction, value.clone()));
    value.to_string()
}

async fn relay(s: Shared, client: WebSocket) {
    let url = format!("wss://{}/ws", s.upstream);
    let connector = tokio_tungstenite::Connector::Rustls(s.tls.clone());
    let Ok((server, _)) =
        tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector)).await
    else {
        return;
    };
    let (mut to_server, mut from_server) = server.split();
    let (mut to_client, mut from_client) = client.split();
    let up = {
        let s = s.clone();
        async move {
            while let Some(Ok(m)) = from_client.next().await {
                let out = match m {
                    AxMessage::Text(t) => {
                        TMessage::Text(rewrite(&s, Direction::ToServer, t.as_str()).into())
                    }
                    AxMessage::Close(_) => break,
                    // The browser's Pongs and Pings are its own business with us.
                    _ => continue,
                };
                if to_server.send(out).await.is_err() {
                    break;
                }
            }
            let _ = to_server.close().await;
        }
    };
    let down = async move {
        while let Some(Ok(m)) = from_server.next().await {
            let out = match m {
                TMessage::Text(t) => {
                    AxMessage::Text(rewrite(&s, Direction::ToClient, t.as_str()).into())
                }
                TMessage::Close(_) => break,
                _ => continue,
            };
            if to_client.send(out).await.is_err() {
                break;
            }
        }
        let _ = to_client.close().await;
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
