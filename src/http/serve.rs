//! The TLS accept loop shared by both listeners.
//!
//! Owns: accepting TCP connections within the listener's caps (`limits`), the TLS
//! handshake, request-head, request-body and idle timeouts and HTTP/2 keepalive (all from
//! the listener's `ConnectionSection`, R-REMOTE-1), handing each request of a connection the connection's
//! facts as extensions ([`PeerCertificates`], [`RemoteAddr`] and axum's
//! `ConnectInfo<SocketAddr>`), serving HTTP/1.1 and HTTP/2 with upgrades (WebSocket)
//! through hyper-util, and graceful shutdown.
//!
//! Does not: judge certificates. [`PeerCertificates`] is whatever chain the client
//! presented and proved it holds the key of; only `auth::booth::BoothVerifier` turns
//! it into a trusted `BoothIdentity`. Upgraded connections (WebSockets) leave hyper's
//! connection future once upgraded: their owners (signalling) close them on shutdown.
//!
//! Network input never panics here: every failure of one connection is logged at
//! debug level (the peer address only through [`Redacted`]) and the loop goes on; refusals
//! at the caps, accept errors and timeouts are counted in the metrics and warned about at
//! most once per `limits::WARN_EVERY` per kind.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::CertificateDer;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::http::limits::{Activity, DeadlineBody, InFlightBody, ListenerLimits, Permitted};
use crate::http::ApiError;
use crate::redact::Redacted;

/// How long in-flight connections may take to finish after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after an accept error (for example too many open files) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// How often a connection's idle watchdog looks.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The certificate chain the client presented in the TLS handshake (end entity
/// first), or `None`. Untrusted data: verify it with `auth::booth::BoothVerifier`.
///
/// As an extractor it never fails: a request without the extension (not served by
/// [`serve_tls`], e.g. a `oneshot` test) has no certificates.
#[derive(Debug, Clone, Default)]
pub struct PeerCertificates(pub Option<Arc<Vec<CertificateDer<'static>>>>);

impl PeerCertificates {
    /// Whether the client presented any certificate.
    pub fn is_present(&self) -> bool {
        self.0.as_ref().is_some_and(|chain| !chain.is_empty())
    }
}

impl AsRef<[CertificateDer<'static>]> for PeerCertificates {
    fn as_ref(&self) -> &[CertificateDer<'static>] {
        self.0.as_deref().map(Vec::as_slice).unwrap_or(&[])
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PeerCertificates {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<PeerCertificates>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The TCP peer address of the connection. Personal data: log it only through
/// [`Redacted`]. As an extractor it fails closed (500) when missing, so that rate
/// limits keyed on it can never silently share one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

impl<S: Send + Sync> FromRequestParts<S> for RemoteAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RemoteAddr>()
            .copied()
            .ok_or_else(|| ApiError::internal("request has no RemoteAddr: not served by serve_tls"))
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then stops
/// accepting, asks every open connection to finish (HTTP/2 GOAWAY, HTTP/1 close
/// after the current response) and waits at most [`SHUTDOWN_GRACE`] before
/// dropping the rest.
///
/// Errors of one connection (handshake, timeout, protocol) never end the loop.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    // R-REMOTE-1: over the listener's cap (in total or for this address)
                    // the socket is closed at once, before any TLS work.
                    let Ok(permit) = limits.limiter.try_admit(remote.ip()) else {
                        drop(tcp);
                        continue;
                    };
                    connections.spawn(serve_connection(
                        acceptor.clone(),
                        Permitted::new(tcp, permit),
                        remote,
                        router.clone(),
                        limits.clone(),
                        closing_rx.clone(),
                    ));
                }
                Err(e) => {
                    // Per-connection failures (reset before accept) and resource
                    // exhaustion (EMFILE) alike: pause briefly, keep serving.
                    crate::metrics::connection_refused(limits.listener(), "accept_error");
                    if let Some(more) = limits.warn.accept_error.due() {
                        tracing::warn!(
                            listener = limits.listener(),
                            error = %e,
                            errors_since_last_line = more,
                            "accept failed"
                        );
                    }
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    drop(listener);
    let _ = closing_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            remaining = connections.len(),
            "connections still open after the shutdown grace period: closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Resolves once shutdown is asked for (or the loop is gone). The `watch::Ref`
/// guard is dropped here, so it is never held across an `.await` of the caller.
async fn closing_requested(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

async fn serve_connection(
    acceptor: TlsAcceptor,
    tcp: Permitted<TcpStream>,
    remote: SocketAddr,
    router: Router,
    limits: ListenerLimits,
    mut closing: watch::Receiver<bool>,
) {
    let peer = Redacted(remote.ip());
    let listener = limits.listener();
    let conn = &limits.conn;
    let _ = tcp.get_ref().set_nodelay(true);

    let handshake = tokio::time::timeout(
        Duration::from_secs(conn.handshake_timeout_secs),
        acceptor.accept(tcp),
    );
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                crate::metrics::connection_timed_out(listener, "handshake");
                if let Some(more) = limits.warn.handshake_timeout.due() {
                    tracing::warn!(
                        listener,
                        %peer,
                        timeouts_since_last_line = more,
                        "TLS handshake timed out: connection closed"
                    );
                }
                return;
            }
        },
        () = closing_requested(&mut closing) => return,
    };

    let certs = PeerCertificates(
        tls.get_ref()
            .1
            .peer_certificates()
            .map(|chain| Arc::new(chain.iter().map(|c| c.clone().into_owned()).collect())),
    );
    let activity = Arc::new(Activity::default());
    let service = {
        let activity = activity.clone();
        let conn = conn.clone();
        tower::service_fn(move |req: Request<Incoming>| {
            let in_flight = activity.begin();
            let (mut parts, body) = req.into_parts();
            let extensions = &mut parts.extensions;
            extensions.insert(certs.clone());
            extensions.insert(RemoteAddr(remote));
            extensions.insert(ConnectInfo(remote));
            let body = DeadlineBody::new(body, &conn, activity.clone(), listener);
            let request = Request::from_parts(parts, axum::body::Body::new(body));
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                response.map(|r| {
                    r.map(|body| axum::body::Body::new(InFlightBody::new(body, in_flight)))
                })
            }
        })
    };

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(conn.header_timeout_secs));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(conn.keepalive_interval_secs))
        .keep_alive_timeout(Duration::from_secs(conn.keepalive_timeout_secs));
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(service));
    tokio::pin!(connection);

    let idle_limit = Duration::from_secs(conn.idle_timeout_secs);
    let mut check = tokio::time::interval(IDLE_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutting_down = false;
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            () = closing_requested(&mut closing), if !shutting_down => {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
            () = activity.doomed.notified() => {
                // A request body ran out of time: the connection goes, whatever it was doing.
                if let Some(more) = limits.warn.body_timeout.due() {
                    tracing::warn!(
                        listener,
                        %peer,
                        timeouts_since_last_line = more,
                        "request body timed out: connection closed"
                    );
                }
                return;
            }
            _ = check.tick() => {
                if !shutting_down && activity.idle_for().is_some_and(|idle| idle >= idle_limit) {
                    // No request in progress for the idle limit: HTTP/1 closes, HTTP/2 says
                    // GOAWAY; a client that does not finish within the grace is dropped.
                    crate::metrics::connection_timed_out(listener, "idle");
                    connection.as_mut().graceful_shutdown();
                    match tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()).await {
                        Ok(result) => break result,
                        Err(_) => return,
                    }
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use axum::response::Response;
    use axum::routing::get;
    use confer_certs::{issue_booth_cert, issue_server_cert, CertKeyPem, DevCa, Validity};
    use futures_util::{SinkExt, StreamExt};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use rustls::{ClientConfig, RootCertStore};

    struct Fixture {
        ca: DevCa,
        booth: CertKeyPem,
        addr: SocketAddr,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        server: tokio::task::JoinHandle<io::Result<()>>,
    }

    async fn echo_peer(certs: PeerCertificates, RemoteAddr(remote): RemoteAddr) -> String {
        format!(
            "cert={} chain={} loopback={}",
            certs.is_present(),
            certs.as_ref().len(),
            remote.ip().is_loopback()
        )
    }

    async fn ws_echo(ws: WebSocketUpgrade, certs: PeerCertificates) -> Response {
        ws.on_upgrade(move |mut socket: WebSocket| async move {
            let _ = socket
                .send(Message::Text(format!("cert={}", certs.is_present()).into()))
                .await;
            while let Some(Ok(msg)) = socket.recv().await {
                if let Message::Text(text) = msg {
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
            }
        })
    }

    async fn start() -> Fixture {
        let ca = DevCa::generate("serve test CA").unwrap();
        let server = issue_server_cert(&ca, &[], Validity::days_from_now(1)).unwrap();
        let booth = issue_booth_cert(
            &ca,
            "demo-facility",
            "demo-booth-1",
            Validity::days_from_now(1),
        )
        .unwrap();
        let (tls, _policy) = crate::http::tls::server_config(
            server.cert_pem.as_bytes(),
            server.key_pem.as_bytes(),
            ca.cert_pem().as_bytes(),
        )
        .unwrap();
        let router = Router::new()
            .route("/peer", get(echo_peer))
            .route("/ws", get(ws_echo));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let conn = crate::config::ConnectionSection::default();
        let limits = ListenerLimits::new("public", &conn, conn.max_connections);
        let server = tokio::spawn(serve_tls(listener, tls, router, limits, async {
            let _ = stop_rx.await;
        }));
        Fixture {
            ca,
            booth,
            addr,
            stop: Some(stop_tx),
            server,
        }
    }

    fn client_config(ca: &DevCa, client_cert: Option<&CertKeyPem>) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        let mut config = match client_cert {
            Some(pem) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(pem.cert_pem.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(pem.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }

    fn http_client(config: ClientConfig) -> reqwest::Client {
        reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn requests_carry_the_presented_client_certificate_or_none() {
        let mut fx = start().await;
        let url = format!("https://localhost:{}/peer", fx.addr.port());

        let lawyer = http_client(client_config(&fx.ca, None));
        let body = lawyer.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "cert=false chain=0 loopback=true");

        let booth = http_client(client_config(&fx.ca, Some(&fx.booth)));
        let body = booth.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "cert=true chain=1 loopback=true");

        // A certificate from another CA still completes the handshake (the booth is
        // told why at the HTTP layer, by auth::booth), as long as the key is held.
        let other = DevCa::generate("another CA").unwrap();
        let stranger =
            issue_booth_cert(&other, "elsewhere", "booth-9", Validity::days_from_now(1)).unwrap();
        let client = http_client(client_config(&fx.ca, Some(&stranger)));
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "cert=true chain=1 loopback=true");

        fx.stop.take().unwrap().send(()).unwrap();
        fx.server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_client_certificate_without_its_private_key_is_refused_in_the_handshake() {
        let fx = start().await;
        // Present the booth's certificate, but sign with another key: the
        // CertificateVerify signature fails, so the handshake does not complete.
        let other_key = issue_booth_cert(&fx.ca, "f", "b", Validity::days_from_now(1)).unwrap();
        let forged = CertKeyPem {
            cert_pem: fx.booth.cert_pem.clone(),
            key_pem: other_key.key_pem,
            serial: String::new(),
        };
        let mut roots = RootCertStore::empty();
        roots.add(fx.ca.cert_der().clone()).unwrap();
        let chain = vec![CertificateDer::from_pem_slice(forged.cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(forged.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing_key = provider.key_provider.load_private_key(key).unwrap();
        let certified = Arc::new(rustls::sign::CertifiedKey::new(chain, signing_key));
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(AlwaysResolve(certified)));
        let url = format!("https://localhost:{}/peer", fx.addr.port());
        let result = http_client(config).get(&url).send().await;
        assert!(
            result.is_err(),
            "forged client certificate accepted: {result:?}"
        );
        // The server is unharmed and keeps serving.
        let ok = http_client(client_config(&fx.ca, None))
            .get(&url)
            .send()
            .await;
        assert!(ok.is_ok());
    }

    #[derive(Debug)]
    struct AlwaysResolve(Arc<rustls::sign::CertifiedKey>);

    impl rustls::client::ResolvesClientCert for AlwaysResolve {
        fn resolve(
            &self,
            _root_hint_subjects: &[&[u8]],
            _sigschemes: &[rustls::SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }

        fn has_certs(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn websocket_upgrade_works_through_the_tls_loop() {
        let mut fx = start().await;
        let connector =
            tokio_rustls::TlsConnector::from(Arc::new(client_config(&fx.ca, Some(&fx.booth))));
        let tcp = TcpStream::connect(fx.addr).await.unwrap();
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let url = format!("wss://localhost:{}/ws", fx.addr.port());
        let (mut ws, response) = tokio_tungstenite::client_async(url, tls).await.unwrap();
        assert_eq!(response.status(), 101);
        use tokio_tungstenite::tungstenite::Message as WsMessage;
        let first = ws.next().await.unwrap().unwrap();
        assert_eq!(first, WsMessage::Text("cert=true".into()));
        ws.send(WsMessage::Text("hello booth".into()))
            .await
            .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed, WsMessage::Text("hello booth".into()));
        ws.close(None).await.unwrap();

        fx.stop.take().unwrap().send(()).unwrap();
        fx.server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn garbage_and_stalled_clients_do_not_stop_the_server() {
        use tokio::io::AsyncWriteExt;
        let mut fx = start().await;
        // Not TLS at all.
        let mut plain = TcpStream::connect(fx.addr).await.unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // Connects and says nothing (held open across the next request).
        let _silent = TcpStream::connect(fx.addr).await.unwrap();
        let url = format!("https://localhost:{}/peer", fx.addr.port());
        let body = http_client(client_config(&fx.ca, None))
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.starts_with("cert=false"));
        // Shutdown completes even with a silent client still connected.
        fx.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(5), fx.server)
            .await
            .expect("shutdown is bounded")
            .unwrap()
            .unwrap();
    }
}
