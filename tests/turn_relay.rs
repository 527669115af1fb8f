//! TURN over TLS through a real coturn (R-REMOTE-2: lawyers on networks that allow only
//! TLS to port 443). confer issues the credentials with `joined`; coturn, configured by
//! `confer turn-config` (`confer::turn::write_coturn_config`), checks them and relays only
//! towards confer's media address. The TURN client is webrtc-rs's (`rtc::turn`, sans-I/O),
//! driven here over a TLS connection to coturn's `turns:` port.

#[path = "support/app.rs"]
mod app;
#[path = "support/coturn.rs"]
mod coturn;

use app::{spawn_app_with, Identity, TestApp};
use base64::Engine;
use confer_signaling::{IceServer, Joined};
use coturn::Coturn;
use rtc::sansio::Protocol;
use rtc::shared::{TransportContext, TransportMessage, TransportProtocol};
use rtc::turn::client::{Client, ClientConfig, Event};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A server with TURN on, and its coturn on loopback (TLS only).
async fn server_and_relay() -> Option<(TestApp, Coturn)> {
    coturn::turnserver_or_fail()?;
    let ip = IpAddr::from([127, 0, 0, 1]);
    let port = coturn::free_tcp_port(ip);
    let app = spawn_app_with(|c| coturn::configure(c, ip, port)).await;
    let relay = Coturn::start(&app.running.state.config);
    Some((app, relay))
}

/// The demo lawyer joins the demo visit; the `joined` answer.
async fn lawyer_joins(app: &TestApp) -> (Joined, confer_signaling::SignalingClient) {
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let token = app.demo_lawyer_token(visit).await;
    let mut sig = app.signaling(&Identity::None).await;
    sig.hello().await.expect("hello");
    let joined = sig.join(&token).await.expect("join");
    (joined, sig)
}

/// A TURN client over one TLS connection to coturn.
struct TurnOverTls {
    tls: TlsStream<TcpStream>,
    client: Client,
    local: SocketAddr,
    server: SocketAddr,
    buf: Vec<u8>,
}

impl TurnOverTls {
    async fn connect(app: &TestApp, server: SocketAddr, username: &str, password: &str) -> Self {
        let tcp = TcpStream::connect(server).await.expect("connect to coturn");
        let local = tcp.local_addr().unwrap();
        let connector =
            tokio_rustls::TlsConnector::from(app::tls_client(&app.ca_pem, &Identity::None));
        let name = rustls::pki_types::ServerName::IpAddress(server.ip().into());
        // The certificate is checked against the suite's CA: coturn presents confer's.
        let tls = connector.connect(name, tcp).await.expect("TLS to coturn");
        let client = Client::new(
            ClientConfig {
                turn_serv_addr: server.to_string(),
                local_addr: local,
                transport_protocol: TransportProtocol::TCP,
                username: username.into(),
                password: password.into(),
                realm: String::new(),
                software: "confer-test".into(),
                ..ClientConfig::default()
            },
            rtc::crypto::default_provider().expect("crypto provider"),
        )
        .expect("TURN client");
        TurnOverTls {
            tls,
            client,
            local,
            server,
            buf: Vec::new(),
        }
    }

    /// One STUN message or ChannelData frame from the stream (RFC 8656 §12.5 framing).
    async fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if self.buf.len() >= 4 {
                let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
                let total = if self.buf[0] & 0xC0 == 0 {
                    20 + len
                } else {
                    (4 + len).div_ceil(4) * 4
                };
                if self.buf.len() >= total {
                    let frame: Vec<u8> = self.buf.drain(..total).collect();
                    return Ok(frame);
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.tls.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Run the client until it reports an event, sending and reading over TLS.
    async fn next_event(&mut self, limit: Duration) -> Event {
        let until = Instant::now() + limit;
        loop {
            while let Some(out) = self.client.poll_write() {
                self.tls
                    .write_all(&out.message)
                    .await
                    .expect("write to coturn");
            }
            self.tls.flush().await.unwrap();
            if let Some(e) = self.client.poll_event() {
                return e;
            }
            let now = Instant::now();
            assert!(now < until, "no TURN event within {limit:?}");
            let wake = self.client.poll_timeout().unwrap_or(until).min(until);
            match tokio::time::timeout(wake.saturating_duration_since(now), self.read_frame()).await
            {
                Ok(Ok(frame)) => {
                    let msg = TransportMessage {
                        now: Instant::now(),
                        transport: TransportContext {
                            local_addr: self.local,
                            peer_addr: self.server,
                            transport_protocol: TransportProtocol::TCP,
                            ecn: None,
                        },
                        message: frame[..].into(),
                    };
                    self.client
                        .handle_read(msg)
                        .expect("TURN client reads coturn's answer");
                }
                Ok(Err(e)) => panic!("coturn closed the TLS connection: {e}"),
                Err(_) => self.client.handle_timeout(Instant::now()).unwrap(),
            }
        }
    }

    /// Allocate; the relayed address, or the error text.
    async fn allocate(&mut self) -> Result<SocketAddr, String> {
        self.client
            .allocate(Instant::now())
            .expect("allocate request");
        loop {
            match self.next_event(Duration::from_secs(10)).await {
                Event::AllocateResponse(_, relayed) => return Ok(relayed),
                Event::AllocateError(_, e) => return Err(e.to_string()),
                _ => continue,
            }
        }
    }

    /// CreatePermission towards `peer`; Ok, or the error text.
    async fn permit(&mut self, relayed: SocketAddr, peer: SocketAddr) -> Result<(), String> {
        self.client
            .relay(relayed)
            .unwrap()
            .create_permission(Instant::now(), peer)
            .expect("permission request")
            .expect("a new permission");
        loop {
            match self.next_event(Duration::from_secs(10)).await {
                Event::CreatePermissionResponse(_, p) if p == peer => return Ok(()),
                Event::CreatePermissionError(_, e) => return Err(e.to_string()),
                _ => continue,
            }
        }
    }
}

fn the_server(joined: &Joined) -> &IceServer {
    assert_eq!(joined.ice_servers.len(), 1, "{:?}", joined.ice_servers);
    &joined.ice_servers[0]
}

fn secret(app: &TestApp) -> String {
    std::fs::read_to_string(app.data_dir.path().join("keys").join("turn-secret"))
        .unwrap()
        .trim()
        .to_owned()
}

fn sign(secret: &str, username: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, username.as_bytes()))
}

/// R-REMOTE-2: an admitted lawyer gets TURN credentials with `joined` that expire at the
/// slot end plus the reconnect grace and name the visit and the participant; the grant is
/// audited without the password; coturn accepts them over TLS and relays to the SFU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admitted_lawyer_relays_through_coturn_over_tls_towards_the_sfu() {
    let Some((app, relay)) = server_and_relay().await else {
        return;
    };
    let (joined, _sig) = lawyer_joins(&app).await;
    let ice = the_server(&joined);
    assert_eq!(ice.urls, app.running.state.config.turn.urls);
    let grace = app.running.state.config.visit.reconnect_grace_secs as i64;
    let end = joined.slot_ends_at + chrono::Duration::seconds(grace);
    // Unix seconds, rounded up: the credential never expires before the slot end + grace.
    let expiry = end.timestamp() + i64::from(end.timestamp_subsec_nanos() > 0);
    let lawyer = app.demo_lawyer_id().await.as_i64().unwrap();
    assert_eq!(
        ice.username,
        format!("{expiry}:{}:lawyer-{lawyer}", joined.visit_id),
        "expires at the slot end plus the grace; bound to the visit and the participant"
    );
    assert_eq!(ice.credential, sign(&secret(&app), &ice.username));

    let (_, audit) = app.audit_read(&format!("?visit={}", joined.visit_id)).await;
    let grants: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["record"]["kind"] == "turn_credentials_issued")
        .collect();
    assert_eq!(grants.len(), 1, "{audit}");
    assert_eq!(grants[0]["record"]["participant"]["kind"], "lawyer");
    assert_eq!(grants[0]["record"]["expires_at_ms"], expiry * 1000);
    assert!(
        !audit.to_string().contains(&ice.credential),
        "never the password"
    );

    let mut turn = TurnOverTls::connect(&app, relay.tls_addr, &ice.username, &ice.credential).await;
    let relayed = turn
        .allocate()
        .await
        .unwrap_or_else(|e| panic!("allocation refused: {e}\n{}", relay.log()));
    let sfu = app.running.media_addrs[0];
    turn.permit(relayed, sfu)
        .await
        .unwrap_or_else(|e| panic!("no permission towards the SFU {sfu}: {e}\n{}", relay.log()));
}

/// R-REMOTE-2: no open relay. With valid credentials, coturn refuses a permission towards
/// any address that is not confer's media address (403 Forbidden IP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_refuses_to_relay_anywhere_but_the_media_address() {
    let Some((app, relay)) = server_and_relay().await else {
        return;
    };
    let (joined, _sig) = lawyer_joins(&app).await;
    let ice = the_server(&joined);
    let mut turn = TurnOverTls::connect(&app, relay.tls_addr, &ice.username, &ice.credential).await;
    let relayed = turn.allocate().await.expect("allocation");
    for peer in ["127.0.0.2:9", "10.1.2.3:3478", "192.0.2.7:5000"] {
        let peer: SocketAddr = peer.parse().unwrap();
        let refused = turn.permit(relayed, peer).await;
        let err = refused.expect_err(&format!("coturn relays towards {peer}: an open relay"));
        assert!(err.contains("403"), "{peer}: {err}");
    }
    // The same allocation may relay towards the SFU: the refusals are about the peers.
    let sfu = app.running.media_addrs[0];
    turn.permit(relayed, sfu)
        .await
        .expect("a permission towards the SFU");
}

/// R-REMOTE-2: coturn refuses credentials that confer did not issue (a forged password)
/// and credentials that have expired (properly signed, expiry in the past): 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_expired_turn_credentials_are_refused() {
    let Some((app, relay)) = server_and_relay().await else {
        return;
    };
    let (joined, _sig) = lawyer_joins(&app).await;
    let ice = the_server(&joined);
    let forged = sign(&"f".repeat(64), &ice.username);
    let mut turn = TurnOverTls::connect(&app, relay.tls_addr, &ice.username, &forged).await;
    let err = turn
        .allocate()
        .await
        .expect_err("a forged password is refused");
    assert!(err.contains("401"), "{err}");

    let past = chrono::Utc::now().timestamp() - 5;
    let rest = ice.username.split_once(':').unwrap().1;
    let expired = format!("{past}:{rest}");
    let mut turn = TurnOverTls::connect(
        &app,
        relay.tls_addr,
        &expired,
        &sign(&secret(&app), &expired),
    )
    .await;
    let err = turn
        .allocate()
        .await
        .expect_err("an expired credential is refused");
    assert!(err.contains("401"), "{err}");

    // The same connection kind with the issued credential works (the refusals are about
    // the credentials, not the setup).
    let mut turn = TurnOverTls::connect(&app, relay.tls_addr, &ice.username, &ice.credential).await;
    turn.allocate()
        .await
        .expect("the issued credential is accepted");
}

/// R-REMOTE-2: `confer turn-config` writes coturn's file (0600) from confer's configuration:
/// the shared secret of the secret file (created 0600 on first use), relaying only to the
/// media address; without a media address to allow it refuses to write an open relay.
#[test]
fn turn_config_writes_a_private_file_that_relays_only_to_the_media_address() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let conf = dir.path().join("confer.toml");
    let write_conf = |media: &str| {
        std::fs::write(
            &conf,
            format!(
                "data_dir = {data:?}\n[media]\n{media}\n[turn]\nenabled = true\n\
                 urls = [\"turns:turn.example:443?transport=tcp\"]\n"
            ),
        )
        .unwrap()
    };
    write_conf("public_ips = [\"198.51.100.4\"]");
    let out = dir.path().join("turnserver.conf");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_confer"))
            .args(["turn-config", "--config"])
            .arg(&conf)
            .arg("--out")
            .arg(&out)
            .env_remove("CONFER_DATA_DIR")
            .output()
            .unwrap()
    };
    let done = run();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let secret_file = data.join("keys").join("turn-secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    for f in [&out, &secret_file] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text
        .lines()
        .any(|l| l == format!("static-auth-secret={secret}")));
    assert!(text.lines().any(|l| l == "allowed-peer-ip=198.51.100.4"));
    assert!(text
        .lines()
        .any(|l| l == "denied-peer-ip=0.0.0.0-255.255.255.255"));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(!printed.contains(&secret), "the secret is never printed");

    write_conf("addr = \"0.0.0.0:8443\"");
    let refused = run();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("media.public_ips"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
