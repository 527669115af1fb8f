//! The client against a tiny WSS server on port 0, built in the test from
//! tokio-rustls, tokio-tungstenite, [`ServerSession`] and the codec, with a
//! throwaway CA made by rcgen. This also exercises the server-side pieces of
//! this crate the way the real server is meant to drive them.
//!
//! The fake server's rules: token `lawyer-ok` joins as lawyer; `booth-ok` joins
//! as booth if a client certificate was presented (else
//! `booth_certificate_required`); `expired` is `token_expired`; anything else is
//! `invalid_token`. An offer starting with `v=0` is answered (after a
//! `participant_joined` notice); any other offer is `bad_offer`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::{
    decode_client, encode_server, AbuseVerdict, Role, ServerSession, Step,
    MAX_ERRORS_PER_CONNECTION,
};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A throwaway PKI: one CA, a server certificate for 127.0.0.1, a booth certificate.
struct Pki {
    ca: CertificateDer<'static>,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    booth: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();

    let booth_key = KeyPair::generate().unwrap();
    let booth = CertificateParams::new(vec!["demo-booth-1".to_owned()])
        .unwrap()
        .signed_by(&booth_key, &ca)
        .unwrap();

    Pki {
        ca: ca.der().clone(),
        server: (server.der().clone(), key_der(&server_key)),
        booth: (booth.der().clone(), key_der(&booth_key)),
    }
}

fn client_config(pki: &Pki, with_booth_cert: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if with_booth_cert {
        builder
            .with_client_auth_cert(vec![pki.booth.0.clone()], pki.booth.1.clone_key())
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

/// Start the fake server; returns its `wss://` URL.
async fn spawn_server(pki: &Pki) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let has_client_cert = tls.get_ref().1.peer_certificates().is_some();
                    // Let oversized frames through to the codec, which must refuse them.
                    let ws_config = WebSocketConfig::default()
                        .max_message_size(Some(4 * MAX_MESSAGE_BYTES))
                        .max_frame_size(Some(4 * MAX_MESSAGE_BYTES));
                    if let Ok(ws) =
                        tokio_tungstenite::accept_async_with_config(tls, Some(ws_config)).await
                    {
                        serve(ws, has_client_cert).await;
                    }
                }
            });
        }
    });
    format!("wss://127.0.0.1:{port}/ws")
}

/// One connection of the fake server, driven the way the real one should be.
async fn serve<S>(mut ws: WebSocketStream<S>, has_client_cert: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut session = ServerSession::new();
    let mut out: Vec<ServerMessage> = Vec::new();
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(text) = frame else { continue };
        let mut error = None;
        match decode_client(text.as_str()) {
            Err(e) => error = Some(e.to_server_message()),
            Ok(msg) => match session.on_message(&msg) {
                Err(code) => error = Some(ServerMessage::error(code)),
                Ok(Step::Welcome { version }) => out.push(ServerMessage::Welcome(Welcome {
                    version,
                    server: "fake/0".into(),
                })),
                Ok(Step::Pong) => out.push(ServerMessage::Pong),
                Ok(Step::Leave) | Ok(Step::Resume(_)) => {}
                // The fake server has no visit to relay keys to.
                Ok(
                    Step::E2eeKey { .. }
                    | Step::E2eeMediaKey { .. }
                    | Step::E2eeCheckFailed
                    | Step::MediaState { .. },
                ) => {}
                Ok(Step::Join(token)) => {
                    let joined = |role| {
                        ServerMessage::Joined(Joined {
                            visit_id: 7,
                            role,
                            slot_ends_at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap(),
                            participants: vec![],
                            ice_servers: vec![],
                            resume: None,
                            renegotiate: false,
                        })
                    };
                    let outcome = match token.expose() {
                        "lawyer-ok" => Ok(joined(Role::Lawyer)),
                        "booth-ok" if has_client_cert => Ok(joined(Role::Booth)),
                        "booth-ok" => Err(ErrorCode::BoothCertificateRequired),
                        "expired" => Err(ErrorCode::TokenExpired),
                        _ => Err(ErrorCode::InvalidToken),
                    };
                    match outcome {
                        Ok(m) => {
                            session.join_succeeded().unwrap();
                            out.push(m);
                        }
                        Err(code) => {
                            session.join_failed().unwrap();
                            error = Some(ServerMessage::error(code));
                        }
                    }
                }
                Ok(Step::Offer(sdp)) => {
                    if sdp.as_str().starts_with("v=0") {
                        session.offer_answered().unwrap();
                        out.push(VisitNotice::ParticipantJoined { role: Role::Booth }.into());
                        out.push(ServerMessage::Answer {
                            sdp: "v=0\r\ns=fake-answer\r\n".into(),
                        });
                    } else {
                        session.offer_failed().unwrap();
                        error = Some(ServerMessage::error(ErrorCode::BadOffer));
                    }
                }
            },
        }
        if let Some(e) = error {
            out.push(e);
            if session.record_error() == AbuseVerdict::Close {
                out.push(ServerMessage::error(ErrorCode::TooManyErrors));
            }
        }
        for m in out.drain(..) {
            if ws.send(Message::text(encode_server(&m))).await.is_err() {
                return;
            }
        }
        if session.is_closed() {
            let _ = ws
                .close(Some(CloseFrame {
                    code: CloseCode::Policy,
                    reason: "closed".into(),
                }))
                .await;
            // Drain until the client completes the close handshake.
            while let Some(Ok(_)) = ws.next().await {}
            return;
        }
    }
}

async fn connected(with_booth_cert: bool) -> SignalingClient {
    let pki = pki();
    let url = spawn_server(&pki).await;
    SignalingClient::connect(&url, client_config(&pki, with_booth_cert))
        .await
        .unwrap()
}

#[tokio::test]
async fn lawyer_connects_says_hello_joins_and_negotiates() {
    let mut client = connected(false).await;
    let welcome = client.hello().await.unwrap();
    assert_eq!(welcome.version, PROTOCOL_VERSION);
    let joined = client.join("lawyer-ok").await.unwrap();
    assert_eq!(joined.visit_id, 7);
    assert_eq!(joined.role, Role::Lawyer);
    assert_eq!(
        joined.slot_ends_at.to_rfc3339(),
        "2026-11-27T09:30:00+00:00"
    );
    let answer = client.offer("v=0\r\ns=offer\r\n").await.unwrap();
    assert_eq!(answer, "v=0\r\ns=fake-answer\r\n");
    client.ping().await.unwrap();
    // The notice that arrived before the answer was kept, not lost.
    let notice = client
        .next_notice_timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(notice, VisitNotice::ParticipantJoined { role: Role::Booth });
    client.leave().await.unwrap();
    let after_leave = client.recv_timeout(Duration::from_secs(5)).await;
    assert!(
        matches!(after_leave, Err(ClientError::Closed { .. })),
        "{after_leave:?}"
    );
}

#[tokio::test]
async fn refusal_carries_the_servers_code_and_message() {
    let mut client = connected(false).await;
    client.hello().await.unwrap();
    match client.join("expired").await {
        Err(ClientError::Refused { code, message }) => {
            assert_eq!(code, ErrorCode::TokenExpired);
            assert_eq!(message, ErrorCode::TokenExpired.default_message());
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A refused join can be retried with another token on the same connection.
    assert_eq!(client.join("lawyer-ok").await.unwrap().role, Role::Lawyer);
    client.close().await.unwrap();
}

#[tokio::test]
async fn booth_presents_its_client_certificate() {
    let mut booth = connected(true).await;
    booth.hello().await.unwrap();
    assert_eq!(booth.join("booth-ok").await.unwrap().role, Role::Booth);
    booth.close().await.unwrap();
}

#[tokio::test]
async fn booth_without_certificate_is_refused() {
    let mut booth = connected(false).await;
    booth.hello().await.unwrap();
    let err = booth.join("booth-ok").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BoothCertificateRequired));
}

#[tokio::test]
async fn unsupported_version_is_refused_and_the_connection_closed() {
    let mut client = connected(false).await;
    let err = client.hello_with_version(2).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnsupportedVersion));
    let next = client.recv_timeout(Duration::from_secs(5)).await;
    assert!(matches!(next, Err(ClientError::Closed { .. })), "{next:?}");
}

#[tokio::test]
async fn offer_before_join_is_refused_as_out_of_order() {
    let mut client = connected(false).await;
    client.hello().await.unwrap();
    let err = client.offer("v=0").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OutOfOrder));
}

#[tokio::test]
async fn bad_offer_is_refused() {
    let mut client = connected(false).await;
    client.hello().await.unwrap();
    client.join("lawyer-ok").await.unwrap();
    let err = client.offer("not sdp").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadOffer));
}

#[tokio::test]
async fn oversized_message_is_refused_as_too_large() {
    let mut client = connected(false).await;
    client
        .send_raw(&"x".repeat(MAX_MESSAGE_BYTES + 1))
        .await
        .unwrap();
    match client.recv_timeout(Duration::from_secs(5)).await.unwrap() {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::MessageTooLarge),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_and_malformed_messages_get_distinct_codes() {
    let mut client = connected(false).await;
    client.send_raw(r#"{"type":"subscribe"}"#).await.unwrap();
    client
        .send_raw(r#"{"type":"join","token":1}"#)
        .await
        .unwrap();
    let codes = [
        client.recv_timeout(Duration::from_secs(5)).await.unwrap(),
        client.recv_timeout(Duration::from_secs(5)).await.unwrap(),
    ];
    assert!(matches!(
        codes[0],
        ServerMessage::Error {
            code: ErrorCode::UnknownMessage,
            ..
        }
    ));
    assert!(matches!(
        codes[1],
        ServerMessage::Error {
            code: ErrorCode::MalformedMessage,
            ..
        }
    ));
}

#[tokio::test]
async fn five_errors_close_the_connection() {
    let mut client = connected(false).await;
    for n in 1..=MAX_ERRORS_PER_CONNECTION {
        client.send_raw("garbage").await.unwrap();
        let reply = client.recv_timeout(Duration::from_secs(5)).await.unwrap();
        assert!(
            matches!(
                reply,
                ServerMessage::Error {
                    code: ErrorCode::MalformedMessage,
                    ..
                }
            ),
            "error {n}: {reply:?}"
        );
    }
    let last = client.recv_timeout(Duration::from_secs(5)).await.unwrap();
    assert!(matches!(
        last,
        ServerMessage::Error {
            code: ErrorCode::TooManyErrors,
            ..
        }
    ));
    let closed = client.recv_timeout(Duration::from_secs(5)).await;
    assert!(
        matches!(closed, Err(ClientError::Closed { .. })),
        "{closed:?}"
    );
}

#[tokio::test]
async fn plain_ws_url_is_refused_before_connecting() {
    let pki = pki();
    for url in ["ws://127.0.0.1:1/ws", "http://x/ws", "", "wss:/"] {
        let err = SignalingClient::connect(url, client_config(&pki, false))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::InsecureUrl(_)), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn untrusted_server_certificate_fails_to_connect() {
    let url = spawn_server(&pki()).await;
    let other = pki(); // a different CA
    let err = SignalingClient::connect(&url, client_config(&other, false))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn recv_gives_up_after_its_timeout() {
    let mut client = connected(false).await;
    client.hello().await.unwrap();
    let err = client
        .recv_timeout(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    // The connection is still usable afterwards.
    client.ping().await.unwrap();
}
