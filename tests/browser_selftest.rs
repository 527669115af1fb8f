//! Self-test of the headless Chromium harness (`tests/support/browser.rs`),
//! against a tiny rustls HTTPS server of its own, before any confer page exists:
//! * a booth browser presents its PKCS#12 client certificate without a prompt
//!   to a server that requires one;
//! * a browser without a certificate is refused by that server, yet trusts
//!   the dev CA through its NSS database (no certificate-error switches);
//! * the fake camera, decoded over a loopback RTCPeerConnection pair inside
//!   one page, shows each side's own colour and its `framesDecoded` grows.
//!
//! Runs as root with Debian's chromium, chromium-driver and libnss3-tools;
//! fails in CI (`CI=true`) when they are missing, skips loudly elsewhere.

#[path = "support/browser.rs"]
mod browser;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use browser::{Browser, BrowserOpts, CertAutoSelect};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Each test finishes well inside this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(80);

async fn bounded<F: Future<Output = anyhow::Result<()>>>(test: F) -> anyhow::Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .map_err(|_| anyhow::anyhow!("test did not finish within {TEST_TIMEOUT:?}"))?
}

// ---------------------------------------------------------------------------
// Throwaway PKI: CA, server certificate for 127.0.0.1, booth client certificate
// ---------------------------------------------------------------------------

struct Pki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    ca_pem: PathBuf,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivatePkcs8KeyDer<'static>,
    client_der: CertificateDer<'static>,
    client_p12: PathBuf,
    client_p12_password: String,
}

fn make_pki() -> anyhow::Result<Pki> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    };
    let dir = tempfile::Builder::new()
        .prefix("confer-selftest-pki-")
        .tempdir()?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "confer selftest CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_string()])?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "confer selftest server");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &ca)?;

    let client_key = KeyPair::generate()?;
    let mut client_params = CertificateParams::new(Vec::<String>::new())?;
    client_params.distinguished_name = DistinguishedName::new();
    client_params
        .distinguished_name
        .push(DnType::CommonName, "booth-selftest");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca)?;

    let ca_pem = dir.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.pem())?;
    let client_pem = dir.path().join("client.pem");
    std::fs::write(&client_pem, client_cert.pem())?;
    let client_key_pem = dir.path().join("client.key");
    std::fs::write(&client_key_pem, client_key.serialize_pem())?;

    // The same PKCS#12 shape the server's booth export uses: PBES2/AES-256, SHA-256 MAC.
    let client_p12 = dir.path().join("booth-selftest.p12");
    let password = "selftest-p12-password".to_string();
    let output = Command::new("openssl")
        .args([
            "pkcs12",
            "-export",
            "-certpbe",
            "AES-256-CBC",
            "-keypbe",
            "AES-256-CBC",
        ])
        .args(["-macalg", "sha256", "-name", "booth-selftest"])
        .arg("-in")
        .arg(&client_pem)
        .arg("-inkey")
        .arg(&client_key_pem)
        .arg("-certfile")
        .arg(&ca_pem)
        .arg("-out")
        .arg(&client_p12)
        .arg("-passout")
        .arg(format!("pass:{password}"))
        .output()
        .context("running openssl pkcs12 -export")?;
    anyhow::ensure!(
        output.status.success(),
        "openssl pkcs12: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    Ok(Pki {
        ca_der: ca.der().clone(),
        ca_pem,
        server_chain: vec![server_cert.der().clone(), ca.der().clone()],
        server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        client_der: client_cert.der().clone(),
        client_p12,
        client_p12_password: password,
        dir,
    })
}

// ---------------------------------------------------------------------------
// Tiny HTTPS server
// ---------------------------------------------------------------------------

const MARKER_PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>confer selftest</title>
<h1 id="marker">confer selftest page</h1><p id="client-cert">CLIENT</p>
<input id="username"><button id="sign-in" type="button">Sign in</button><p id="greeting"></p>
<script>
document.getElementById('sign-in').addEventListener('click', () => {
  const name = document.getElementById('username').value;
  document.getElementById('greeting').textContent = 'hello ' + name;
  console.log('signed in as ' + name);
});
</script>"#;

/// Two RTCPeerConnections in one page: the fake camera goes out of
/// `senderPc` and is decoded by `window.conferPc` into `#remote-video`.
/// ICE is gathered completely before each description is handed over.
const LOOPBACK_PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>loopback</title>
<video id="remote-video" autoplay playsinline muted width="320" height="240"></video>
<script>
const gathered = pc => new Promise(resolve => {
  if (pc.iceGatheringState === 'complete') return resolve();
  pc.addEventListener('icegatheringstatechange', () => {
    if (pc.iceGatheringState === 'complete') resolve();
  });
});
window.loopbackResult = null;
(async () => {
  // Host candidates before any camera permission: raw IPs, loopback included.
  const probe = new RTCPeerConnection();
  probe.createDataChannel('probe');
  await probe.setLocalDescription();
  await gathered(probe);
  window.probeCandidates = probe.localDescription.sdp.split('\r\n').filter(l => l.startsWith('a=candidate'));
  probe.close();
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  const senderPc = new RTCPeerConnection();
  const receiverPc = new RTCPeerConnection();
  window.senderPc = senderPc;
  window.conferPc = receiverPc;
  receiverPc.ontrack = e => { document.getElementById('remote-video').srcObject = e.streams[0]; };
  stream.getTracks().forEach(t => senderPc.addTrack(t, stream));
  await senderPc.setLocalDescription();
  await gathered(senderPc);
  await receiverPc.setRemoteDescription(senderPc.localDescription);
  await receiverPc.setLocalDescription();
  await gathered(receiverPc);
  await senderPc.setRemoteDescription(receiverPc.localDescription);
  window.loopbackResult = 'negotiated';
  console.log('loopback negotiated');
})().catch(e => { window.loopbackResult = 'error: ' + e; });
window.sampleCentre = () => {
  const v = document.getElementById('remote-video');
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const d = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
  return [d[0], d[1], d[2]];
};
</script>"#;

#[derive(Clone)]
struct ConnState {
    /// The client certificate this TLS connection presented, if any.
    peer: Option<Vec<u8>>,
    /// One entry per marker page served: the client certificate seen.
    served: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
}

struct TestServer {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
    refused_handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn served(&self) -> Vec<Option<Vec<u8>>> {
        self.served.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn marker_page(State(state): State<ConnState>) -> Html<String> {
    let who = if state.peer.is_some() {
        "client certificate presented"
    } else {
        "no client certificate"
    };
    state.served.lock().unwrap().push(state.peer.clone());
    Html(MARKER_PAGE.replace("CLIENT", who))
}

async fn start_server(pki: &Pki, require_client_cert: bool) -> anyhow::Result<TestServer> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone())?;
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(
        pki.server_chain.clone(),
        PrivateKeyDer::Pkcs8(pki.server_key.clone_key()),
    )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let served = Arc::new(Mutex::new(Vec::new()));
    let refused_handshakes = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let served = served.clone();
        let refused = refused_handshakes.clone();
        async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let served = served.clone();
                let refused = refused.clone();
                tokio::spawn(async move {
                    let tls =
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                            .await
                        {
                            Ok(Ok(tls)) => tls,
                            _ => {
                                refused.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                        };
                    let peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec());
                    let router = Router::new()
                        .route("/", get(marker_page))
                        .route("/loopback", get(|| async { Html(LOOPBACK_PAGE) }))
                        .with_state(ConnState { peer, served });
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        }
    });
    Ok(TestServer {
        addr,
        served,
        refused_handshakes,
        task,
    })
}

// ---------------------------------------------------------------------------
// Browsers
// ---------------------------------------------------------------------------

async fn launch(
    pki: &Pki,
    label: &str,
    colour: [u8; 3],
    with_cert: bool,
    origin: &str,
) -> anyhow::Result<Browser> {
    launch_with(
        pki,
        label,
        colour,
        with_cert,
        origin,
        CertAutoSelect::ProfilePreference,
    )
    .await
}

async fn launch_with(
    pki: &Pki,
    label: &str,
    colour: [u8; 3],
    with_cert: bool,
    origin: &str,
    autoselect: CertAutoSelect,
) -> anyhow::Result<Browser> {
    let fake_video = browser::fake_camera(pki.dir.path(), label, colour)?;
    Browser::launch_with(
        BrowserOpts {
            label: format!("selftest-{label}"),
            fake_video,
            client_p12: with_cert
                .then(|| (pki.client_p12.clone(), pki.client_p12_password.clone())),
            ca_pem: pki.ca_pem.clone(),
            origin_for_cert_autoselect: origin.to_string(),
        },
        autoselect,
    )
    .await
}

async fn marker_text(browser: &Browser) -> anyhow::Result<Option<String>> {
    let text = browser
        .eval("document.getElementById('marker') ? document.body.innerText : null")
        .await?;
    Ok(text.as_str().map(str::to_string))
}

/// Closes the browser and checks that no process of it is left.
async fn close_and_check(browser: Browser) -> anyhow::Result<()> {
    let needle = format!("--user-data-dir={}", browser.user_data_dir().display());
    browser.close().await;
    let left = browser::processes_mentioning(&needle);
    anyhow::ensure!(left.is_empty(), "processes left behind: {left:?}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn fake_camera_file_is_a_well_formed_y4m_clip() {
    let dir = tempfile::tempdir().unwrap();
    let path = browser::fake_camera(dir.path(), "lawyer", browser::LAWYER_COLOUR).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let header_end = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    let header = std::str::from_utf8(&bytes[..header_end]).unwrap();
    assert!(header.starts_with("YUV4MPEG2 W320 H240 F15:1"), "{header}");
    let frame = b"FRAME\n".len() + browser::FAKE_WIDTH * browser::FAKE_HEIGHT * 3 / 2;
    assert_eq!(bytes.len(), header_end + browser::FAKE_FRAMES * frame);
    assert!(bytes[header_end..].starts_with(b"FRAME\n"));
}

#[test]
fn autoselect_policy_pattern_covers_every_port_of_the_origin_host() {
    assert_eq!(
        browser::autoselect_pattern("https://127.0.0.1:4433").unwrap(),
        "https://127.0.0.1:*"
    );
    assert_eq!(
        browser::autoselect_pattern("https://127.0.0.1:4433/booth").unwrap(),
        "https://127.0.0.1:*"
    );
}

/// The two auto-select tests must not overlap: the policy is machine wide
/// and would mask a broken profile preference.
static AUTOSELECT_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A booth browser loads a page from a listener that requires a client
/// certificate, and the server saw exactly the booth's certificate.
async fn booth_presents_client_certificate(autoselect: CertAutoSelect) -> anyhow::Result<()> {
    let _one_at_a_time = AUTOSELECT_TESTS.lock().await;
    let pki = make_pki()?;
    let server = start_server(&pki, true).await?;
    let label = format!("booth-{autoselect:?}").to_lowercase();
    let booth = launch_with(
        &pki,
        &label,
        browser::BOOTH_COLOUR,
        true,
        &server.url(""),
        autoselect,
    )
    .await?;

    booth.goto(&server.url("/")).await?;
    let text = marker_text(&booth).await?;
    booth
        .screenshot(format!("{}-mtls.png", booth.label()))
        .await?;
    assert_eq!(
        text.as_deref()
            .map(|t| t.contains("client certificate presented")),
        Some(true),
        "the page did not render with the client certificate: {text:?} (refused handshakes: {})",
        server.refused_handshakes.load(Ordering::SeqCst)
    );
    let served = server.served();
    assert!(!served.is_empty(), "server served no page");
    assert!(
        served
            .iter()
            .all(|peer| peer.as_deref() == Some(pki.client_der.as_ref())),
        "server saw a different or no client certificate"
    );
    close_and_check(booth).await?;
    if autoselect == CertAutoSelect::Policy {
        let file = browser::policy_file();
        assert!(!file.exists(), "{} left behind", file.display());
    }
    Ok(())
}

/// docs/DESIGN.md: booths authenticate with an mTLS client certificate; the kiosk
/// must present it with no one at the keyboard (default: profile preference).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booth_browser_presents_its_client_certificate_without_a_prompt() -> anyhow::Result<()> {
    let Some(_) = browser::chromium_or_fail() else {
        return Ok(());
    };
    bounded(booth_presents_client_certificate(
        CertAutoSelect::ProfilePreference,
    ))
    .await
}

/// The same through the documented AutoSelectCertificateForUrls policy
/// (a file in /etc/chromium/policies/managed: needs root, as CI runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booth_browser_presents_its_client_certificate_under_the_autoselect_policy(
) -> anyhow::Result<()> {
    let Some(_) = browser::chromium_or_fail() else {
        return Ok(());
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the browser tests as root"
        );
        println!("SKIPPED: the Chromium policy test needs root");
        return Ok(());
    }
    bounded(booth_presents_client_certificate(CertAutoSelect::Policy)).await
}

/// A browser with no client certificate (the lawyer's) is refused by a
/// listener that requires one, while it trusts the dev CA through NSS alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_without_client_certificate_is_refused_but_trusts_the_dev_ca() -> anyhow::Result<()>
{
    let Some(_) = browser::chromium_or_fail() else {
        return Ok(());
    };
    bounded(async {
        let pki = make_pki()?;
        let mtls = start_server(&pki, true).await?;
        let plain = start_server(&pki, false).await?;
        let lawyer = launch(
            &pki,
            "lawyer",
            browser::LAWYER_COLOUR,
            false,
            &plain.url(""),
        )
        .await?;

        // Trust: the dev CA is trusted through the NSS database, not by switches.
        lawyer.goto(&plain.url("/")).await?;
        let text = marker_text(&lawyer).await?;
        assert_eq!(
            text.as_deref().map(|t| t.contains("no client certificate")),
            Some(true),
            "the page over a dev-CA certificate did not render: {text:?}"
        );
        lawyer.fill("#username", "counsel").await?;
        lawyer.click("#sign-in").await?;
        lawyer
            .wait_for(
                "document.getElementById('greeting').textContent === 'hello counsel'",
                Duration::from_secs(5),
            )
            .await?;
        let console = lawyer.console_log().await?;
        assert!(
            console
                .iter()
                .any(|line| line.contains("signed in as counsel")),
            "console: {console:?}"
        );

        // Refusal: navigation lands on an error page (or fails), nothing is served.
        let navigation = lawyer.goto(&mtls.url("/")).await;
        let text = marker_text(&lawyer).await.ok().flatten();
        lawyer.screenshot("selftest-lawyer-refused.png").await?;
        assert_eq!(
            text, None,
            "the mTLS page rendered without a client certificate ({navigation:?})"
        );
        assert!(
            mtls.served().is_empty(),
            "the mTLS server served a page without a client certificate"
        );
        assert!(
            mtls.refused_handshakes.load(Ordering::SeqCst) > 0,
            "the server never refused a handshake"
        );
        close_and_check(lawyer).await
    })
    .await
}

/// The fake camera + WebRTC flags work headless here: each browser decodes
/// its own camera (told apart by colour) over a loopback peer connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_camera_frames_are_decoded_over_a_loopback_peer_connection() -> anyhow::Result<()> {
    let Some(_) = browser::chromium_or_fail() else {
        return Ok(());
    };
    bounded(async {
        let pki = make_pki()?;
        let mtls = start_server(&pki, true).await?;
        let plain = start_server(&pki, false).await?;
        let (mtls_origin, plain_origin) = (mtls.url(""), plain.url(""));
        let (booth, lawyer) = tokio::try_join!(
            launch(&pki, "booth-camera", browser::BOOTH_COLOUR, true, &mtls_origin),
            launch(&pki, "lawyer-camera", browser::LAWYER_COLOUR, false, &plain_origin),
        )?;
        let sides = [
            (booth, mtls.url("/loopback"), browser::BOOTH_COLOUR, browser::LAWYER_COLOUR),
            (lawyer, plain.url("/loopback"), browser::LAWYER_COLOUR, browser::BOOTH_COLOUR),
        ];
        for (side, url, own, other) in &sides {
            side.goto(url).await?;
            side.wait_for("window.loopbackResult !== null", Duration::from_secs(15)).await?;
            let result = side.eval("window.loopbackResult").await?;
            assert_eq!(result, "negotiated", "{}: {result}", side.label());
            let console = side.console_log().await?;
            assert!(console.iter().any(|l| l.contains("loopback negotiated")), "{}: {console:?}", side.label());
            // Loopback host candidates (--allow-loopback-in-peer-connection), no mDNS names.
            let candidates: Vec<String> = serde_json::from_value(side.eval("window.probeCandidates").await?)?;
            assert!(
                candidates.iter().any(|c| c.contains(" 127.0.0.1 ")) && !candidates.iter().any(|c| c.contains(".local")),
                "{}: host candidates {candidates:?}",
                side.label()
            );

            side
                .wait_for(
                    "(document.getElementById('remote-video').videoWidth > 0) && \
                     (await (async () => { let n = 0; (await window.conferPc.getStats()).forEach(s => { \
                       if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded ?? 0; }); \
                       return n; })()) > 5",
                    Duration::from_secs(20),
                )
                .await?;
            let first = browser::frames_decoded(side).await?;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let second = browser::frames_decoded(side).await?;
            assert!(second > first, "{}: framesDecoded stalled at {first} -> {second}", side.label());

            let sample: [u8; 3] = serde_json::from_value(side.eval("window.sampleCentre()").await?)?;
            side.screenshot(format!("{}-loopback.png", side.label())).await?;
            assert!(
                browser::colour_is(sample, *own, *other),
                "{}: decoded centre pixel {sample:?} is not its own camera colour {own:?}",
                side.label()
            );
            println!("{}: framesDecoded {first} -> {second}, centre {sample:?}", side.label());
        }
        let [(booth, ..), (lawyer, ..)] = sides;
        close_and_check(booth).await?;
        close_and_check(lawyer).await
    })
    .await
}

/// A test that fails half-way drops its browsers: nothing may be left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_browser_kills_chromedriver_and_chromium() -> anyhow::Result<()> {
    let Some(_) = browser::chromium_or_fail() else {
        return Ok(());
    };
    bounded(async {
        let pki = make_pki()?;
        let lawyer = launch(
            &pki,
            "dropped",
            browser::LAWYER_COLOUR,
            false,
            "https://127.0.0.1",
        )
        .await?;
        lawyer.goto("about:blank").await?;
        let started = std::time::Instant::now();
        let err = lawyer
            .wait_for("window.never === true", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "wait_for overran its timeout"
        );
        assert!(format!("{err:#}").contains("not true after"), "{err:#}");
        let needle = format!("--user-data-dir={}", lawyer.user_data_dir().display());
        assert!(
            !browser::processes_mentioning(&needle).is_empty(),
            "no Chromium process found while running"
        );
        drop(lawyer);
        let left = browser::processes_mentioning(&needle);
        assert!(
            left.is_empty(),
            "processes left behind after drop: {left:?}"
        );
        Ok(())
    })
    .await
}

/// A chromedriver program for [`Browser::launch_driven_by`]: a shell script that counts
/// its starts in `<dir>/starts` and runs `first` on its first start, `rest` after.
fn driver_script(dir: &std::path::Path, first: &str, rest: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let starts = dir.join("starts");
    let script = dir.join("chromedriver");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho start >> '{starts}'\n\
             if [ \"$(wc -l < '{starts}')\" -eq 1 ]; then {first}; fi\n{rest}\n",
            starts = starts.display()
        ),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(script)
}

/// A browser without a client certificate, through the chromedriver program `driver`.
async fn launch_driven_by(pki: &Pki, label: &str, driver: PathBuf) -> anyhow::Result<Browser> {
    let fake_video = browser::fake_camera(pki.dir.path(), label, browser::LAWYER_COLOUR)?;
    Browser::launch_driven_by(
        BrowserOpts {
            label: format!("selftest-{label}"),
            fake_video,
            client_p12: None,
            ca_pem: pki.ca_pem.clone(),
            origin_for_cert_autoselect: "https://127.0.0.1".into(),
        },
        driver,
    )
    .await
}

fn starts(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("starts"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// chromedriver given `--port=0` binds 127.0.0.1 on a port the kernel picks, then the same
/// port on ::1, and exits ("IPv6 port not available") when another socket holds it there.
/// The harness starts it again instead of failing the test that wanted a browser. Here the
/// real chromedriver's first start is sent to a port this test holds on ::1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chromedriver_that_finds_its_port_taken_is_started_again() -> anyhow::Result<()> {
    let Some(_) = browser::chromium_or_fail() else {
        return Ok(());
    };
    bounded(async {
        let pki = make_pki()?;
        let held = std::net::TcpListener::bind("[::1]:0").context("holding a port on ::1")?;
        let port = held.local_addr()?.port();
        let scripts = tempfile::tempdir()?;
        let real = browser::chromedriver_path();
        let real = real.display();
        // The last --port a chromedriver is given is the one it uses.
        let driver = driver_script(
            scripts.path(),
            &format!("exec '{real}' \"$@\" --port={port}"),
            &format!("exec '{real}' \"$@\""),
        )?;
        let lawyer = launch_driven_by(&pki, "port-taken", driver).await?;
        assert_eq!(
            starts(scripts.path()),
            2,
            "chromedriver was not started again"
        );
        lawyer.goto("about:blank").await?;
        assert_eq!(lawyer.eval("1 + 1").await?, serde_json::json!(2));
        close_and_check(lawyer).await?;
        drop(held);
        Ok(())
    })
    .await
}

/// Any other early exit is an error that says what chromedriver printed, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chromedriver_that_exits_for_another_reason_fails_with_its_words() -> anyhow::Result<()> {
    let Some(_) = browser::chromium_or_fail() else {
        return Ok(());
    };
    bounded(async {
        let pki = make_pki()?;
        let scripts = tempfile::tempdir()?;
        let driver = driver_script(
            scripts.path(),
            "true",
            "echo 'Unable to initialize logging. Exiting...'; exit 1",
        )?;
        let err = launch_driven_by(&pki, "driver-exits", driver)
            .await
            .expect_err("a chromedriver that exits cannot give a browser");
        let err = format!("{err:#}");
        assert!(
            err.contains("exited before listening") && err.contains("Unable to initialize logging"),
            "{err}"
        );
        assert_eq!(
            starts(scripts.path()),
            1,
            "started again for a reason that is not the port"
        );
        Ok(())
    })
    .await
}
