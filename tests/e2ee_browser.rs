//! End-to-end encryption in real browsers (R-PRIV-1): headless Chromium on the lawyer page and
//! on the booth page, every frame SFrame-encrypted in the pages (RTCRtpScriptTransform), the
//! SFU forwarding ciphertext. The lawyer's browser reaches confer through a test proxy
//! (tests/support/ws_proxy.rs) that records every signalling message, and in the second test
//! swaps the booth's public key on its way to the lawyer, as a compromised server could.
//! Under `CI=true` a missing Chromium fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/ws_proxy.rs"]
mod ws_proxy;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use browser::{Browser, BrowserOpts, BOOTH_COLOUR, LAWYER_COLOUR};
use confer_signaling::e2ee::{check_code, fingerprint};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use ws_proxy::{Direction, WsProxy};

const CONNECT: Duration = Duration::from_secs(60);

/// Centre pixel of the remote video, drawn by the test (the pages never touch a canvas).
const SAMPLE_REMOTE: &str = "(() => { const v = document.getElementById('remote-video'); \
    if (!v || !v.videoWidth) return null; const c = document.createElement('canvas'); \
    c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
    const d = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data; \
    return [d[0], d[1], d[2]]; })()";

/// The check code as the page shows it, digits only.
const SHOWN_CODE: &str = "document.getElementById('check-code').textContent.replace(/\\s/g, '')";

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

struct Visit {
    app: app::TestApp,
    proxy: WsProxy,
    lawyer: Browser,
    booth: Browser,
    _cams: tempfile::TempDir,
    /// When the lawyer pressed Join (UNIX ms).
    joined_at: f64,
}

/// The booth page straight at confer, the lawyer page through the proxy; the lawyer joins.
async fn start(tamper: Option<ws_proxy::Tamper>) -> Option<Visit> {
    browser::chromium_or_fail()?;
    let app = app::spawn_app().await;
    let proxy = WsProxy::start(
        app.running.http_addr,
        &app.data_dir.path().join("pki"),
        tamper,
    )
    .await;
    let cams = tempfile::tempdir().unwrap();
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let booth = Browser::launch(BrowserOpts {
        label: "e2ee-booth".into(),
        fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
        client_p12: Some(browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap()),
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: origin.clone(),
    })
    .await
    .expect("booth browser");
    let lawyer = Browser::launch(BrowserOpts {
        label: "e2ee-lawyer".into(),
        fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: app.ca_pem.clone(),
        origin_for_cert_autoselect: proxy.url(""),
    })
    .await
    .expect("lawyer browser");
    booth.goto(&app.url("/booth")).await.unwrap();
    lawyer.goto(&proxy.url("/lawyer")).await.unwrap();
    lawyer
        .sign_in(
            &app.lawyer_username,
            &app.lawyer_password,
            "document.querySelector('.join[data-visit-id]') !== null",
            CONNECT,
        )
        .await
        .unwrap();
    let joined_at = unix_ms();
    lawyer.click(".join[data-visit-id]").await.unwrap();
    Some(Visit {
        app,
        proxy,
        lawyer,
        booth,
        _cams: cams,
        joined_at,
    })
}

async fn wait_frames_growing(side: &Browser) -> anyhow::Result<(u64, u64)> {
    side.wait_for(
        "window.conferState && window.conferState.connectionState === 'connected'",
        CONNECT,
    )
    .await?;
    let deadline = tokio::time::Instant::now() + CONNECT;
    let first = loop {
        let n = browser::frames_decoded(side).await?;
        if n > 0 {
            break n;
        }
        if tokio::time::Instant::now() >= deadline {
            let stats = side.eval("await window.conferE2ee.stats()").await?;
            let console = side.console_log().await.unwrap_or_default();
            let inbound = side
                .run(
                    "const out = [];
                     (await window.conferPc.getStats()).forEach((s) => {
                       if (s.type === 'inbound-rtp' || s.type === 'outbound-rtp') out.push(
                         [s.type, s.kind, s.packetsReceived ?? s.packetsSent, s.framesReceived ?? s.framesSent,
                          s.framesDecoded ?? s.framesEncoded, s.keyFramesDecoded, s.pliCount, s.nackCount]);
                     });
                     return out;",
                )
                .await?;
            let console = format!("{console:#?}; rtp {inbound}");
            anyhow::bail!(
                "{}: no video frame decoded; SFrame worker {stats}; console {console:#?}",
                side.label()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok((first, browser::frames_decoded(side).await?))
}

async fn worker_stats(side: &Browser) -> Value {
    side.eval("await window.conferE2ee.stats()").await.unwrap()
}

fn raw_key(b64: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(b64.as_str().expect("a base64url string"))
        .expect("base64url")
}

fn keys_of(m: &Value) -> Vec<String> {
    let mut keys: Vec<String> = m.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// R-PRIV-1: with E2EE, each page still decodes the other's camera; both show the same check
/// code, the one confer-signaling's Rust `check_code` computes from the relayed keys (the JS
/// and Rust algorithms agree); the signalling carries public keys and wrapped keys only; the
/// audit log has both keys' fingerprints and the code; the pages' SFrame matches RFC 9605.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_decode_each_other_through_e2ee_and_show_the_same_check_code() {
    let Some(v) = start(None).await else {
        return;
    };
    for (side, own, other) in [
        (&v.lawyer, LAWYER_COLOUR, BOOTH_COLOUR),
        (&v.booth, BOOTH_COLOUR, LAWYER_COLOUR),
    ] {
        let (first, second) = wait_frames_growing(side)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", side.label()));
        assert!(
            second > first,
            "{}: framesDecoded did not grow",
            side.label()
        );
        let sample: [u8; 3] = serde_json::from_value(side.eval(SAMPLE_REMOTE).await.unwrap())
            .expect("remote video sample");
        assert!(
            browser::colour_is(sample, other, own),
            "{}: the remote video shows {sample:?}, not the other side's camera {other:?}",
            side.label()
        );
        let stats = worker_stats(side).await;
        assert!(
            stats["encrypted"].as_u64().unwrap() > 0 && stats["decrypted"].as_u64().unwrap() > 0,
            "{}: every frame goes through the SFrame worker: {stats}",
            side.label()
        );
    }

    // Both screens show the same 6-digit code.
    for side in [&v.lawyer, &v.booth] {
        side.wait_for(&format!("/^\\d{{6}}$/.test({SHOWN_CODE})"), CONNECT)
            .await
            .unwrap();
    }
    let lawyer_code = v.lawyer.eval(SHOWN_CODE).await.unwrap();
    let booth_code = v.booth.eval(SHOWN_CODE).await.unwrap();
    assert_eq!(lawyer_code, booth_code, "both screens show the same code");

    // What went through the server, as the proxy saw it: public keys and wrapped keys only.
    let joined = &v.proxy.of_type(Direction::ToClient, "joined")[0];
    let visit_id = joined["visit_id"].as_i64().unwrap();
    let published = v.proxy.of_type(Direction::ToServer, "e2ee_key");
    assert_eq!(published.len(), 1, "one key per connection: {published:?}");
    assert_eq!(keys_of(&published[0]), ["public_key", "type"]);
    let lawyer_key = raw_key(&published[0]["public_key"]);
    assert!(
        lawyer_key.len() == 65 && lawyer_key[0] == 4,
        "an uncompressed P-256 public key"
    );
    let relayed = v.proxy.of_type(Direction::ToClient, "e2ee_key");
    let booth_key = relayed
        .iter()
        .find(|m| m["role"] == "booth")
        .expect("the booth's key was relayed to the lawyer");
    assert_eq!(keys_of(booth_key), ["from", "public_key", "role", "type"]);
    let booth_key = raw_key(&booth_key["public_key"]);
    assert!(booth_key.len() == 65 && booth_key[0] == 4);
    for (direction, peer_field) in [(Direction::ToServer, "to"), (Direction::ToClient, "from")] {
        let wrapped = v.proxy.of_type(direction, "e2ee_media_key");
        assert!(
            !wrapped.is_empty(),
            "{direction:?}: media keys were exchanged"
        );
        for m in wrapped {
            let mut expected = vec![peer_field, "kid", "type", "wrapped"];
            expected.sort_unstable();
            assert_eq!(keys_of(&m), expected);
            // IV, the AES-GCM-wrapped 16-byte key, tag: never a bare key.
            assert_eq!(raw_key(&m["wrapped"]).len(), 44, "{m}");
        }
    }
    let fingerprints = [fingerprint(&lawyer_key), fingerprint(&booth_key)];
    let rust_code = check_code(visit_id, &fingerprints);
    assert_eq!(
        lawyer_code,
        Value::String(rust_code.clone()),
        "JS and Rust agree"
    );

    // The audit log: both keys by fingerprint, and the code.
    let (status, audit) = v.app.audit_read(&format!("?visit={visit_id}")).await;
    assert_eq!(status, 200, "{audit}");
    let text = audit.to_string();
    for f in &fingerprints {
        assert!(
            text.contains("e2ee_key_published") && text.contains(f.as_str()),
            "key {f} audited: {audit}"
        );
    }
    assert!(
        text.contains("e2ee_check_code") && text.contains(&format!("\"code\":\"{rust_code}\"")),
        "check code audited: {audit}"
    );

    // The pages' SFrame is RFC 9605's (Appendix C, AES_128_GCM_SHA256_128).
    let ct = v
        .lawyer
        .run(
            "const s = await import('/web/sframe.js');
             const h = (t) => Uint8Array.from(t.match(/../g), (x) => parseInt(x, 16));
             const keys = await s.deriveKeySalt(h('000102030405060708090a0b0c0d0e0f'), 0x123);
             const out = await s.encrypt(keys, 0x123, 0x4567, h('4945544620534672616d65205747'),
               h('64726166742d696574662d736672616d652d656e63'));
             return Array.from(out, (b) => b.toString(16).padStart(2, '0')).join('');",
        )
        .await
        .unwrap();
    assert_eq!(
        ct,
        "4945544620534672616d65205747\
         9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb"
    );

    // Figures (printed, never asserted): join -> first decrypted frame, crypto time, re-keys.
    let t0 = worker_stats(&v.lawyer).await;
    let s0 = unix_ms();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t1 = worker_stats(&v.lawyer).await;
    let window_ms = unix_ms() - s0;
    let first_video = t1["firstDecrypted"]["video"].as_f64().unwrap();
    let frames = t1["encrypted"].as_f64().unwrap() + t1["decrypted"].as_f64().unwrap()
        - t0["encrypted"].as_f64().unwrap()
        - t0["decrypted"].as_f64().unwrap();
    let crypto = t1["cryptoMs"].as_f64().unwrap() - t0["cryptoMs"].as_f64().unwrap();
    let rekeys = v.lawyer.eval("window.conferE2ee.rekeys").await.unwrap();
    println!(
        "FIGURE e2ee: lawyer join click -> first decrypted booth video frame {:.0} ms",
        first_video - v.joined_at
    );
    println!(
        "FIGURE e2ee: lawyer worker crypto {crypto:.1} ms over {window_ms:.0} ms ({:.2} % of a core), {frames} frames ({:.3} ms/frame), {}x{} camera",
        100.0 * crypto / window_ms,
        crypto / frames.max(1.0),
        browser::FAKE_WIDTH,
        browser::FAKE_HEIGHT
    );
    println!("FIGURE e2ee: lawyer re-key (new media key, wrap, send) ms: {rekeys}");
    println!("check code {rust_code}; code text lawyer {lawyer_code} booth {booth_code}");

    v.lawyer.close().await;
    v.booth.close().await;
    v.app.running.shutdown().await;
}

/// R-PRIV-1: a relay in the middle swaps the booth's public key on its way to the lawyer.
/// The two screens then show different codes; neither side can read the other's media (its
/// frames are dropped, never shown); the lawyer's "codes differ" ends the visit with
/// `e2ee_check_failed` for both, through the one way to end a visit, audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_public_key_shows_different_codes_and_codes_differ_ends_the_visit() {
    let attacker = {
        let rng = ring::rand::SystemRandom::new();
        let k = ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng)
            .unwrap();
        URL_SAFE_NO_PAD.encode(k.compute_public_key().unwrap().as_ref())
    };
    let tamper: ws_proxy::Tamper = Arc::new(move |direction, mut m: Value| {
        if direction == Direction::ToClient && m["type"] == "e2ee_key" && m["role"] == "booth" {
            m["public_key"] = Value::String(attacker.clone());
        }
        m
    });
    let Some(v) = start(Some(tamper)).await else {
        return;
    };
    for side in [&v.lawyer, &v.booth] {
        side.wait_for(&format!("/^\\d{{6}}$/.test({SHOWN_CODE})"), CONNECT)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", side.label()));
    }
    let lawyer_code = v.lawyer.eval(SHOWN_CODE).await.unwrap();
    let booth_code = v.booth.eval(SHOWN_CODE).await.unwrap();
    assert_ne!(lawyer_code, booth_code, "a swapped key changes the code");

    // Media flows through the SFU, but nothing decrypts on either side: no frame is shown.
    v.lawyer
        .wait_for(
            "window.conferState.connectionState === 'connected'",
            CONNECT,
        )
        .await
        .unwrap();
    v.lawyer
        .wait_for(
            "(await window.conferE2ee.stats()).droppedUndecryptable > 20",
            CONNECT,
        )
        .await
        .unwrap();
    for side in [&v.lawyer, &v.booth] {
        let stats = worker_stats(side).await;
        assert_eq!(stats["decrypted"], 0, "{}: {stats}", side.label());
        assert_eq!(
            browser::frames_decoded(side).await.unwrap(),
            0,
            "{}",
            side.label()
        );
    }

    // The lawyer says the codes differ: the visit ends for both.
    v.lawyer.click("#codes-differ").await.unwrap();
    v.booth
        .wait_for("window.conferState.phase === 'ended'", CONNECT)
        .await
        .unwrap();
    let booth_status = v.booth.eval("document.body.textContent").await.unwrap();
    assert!(
        booth_status
            .as_str()
            .unwrap()
            .contains("security check codes"),
        "the booth is told why: {booth_status}"
    );
    let ended = v.proxy.of_type(Direction::ToClient, "notice");
    assert!(
        ended.iter().any(|m| m["notice"]["kind"] == "visit_ended"
            && m["notice"]["reason"] == "e2ee_check_failed"),
        "{ended:?}"
    );
    let visit_id = v.proxy.of_type(Direction::ToClient, "joined")[0]["visit_id"]
        .as_i64()
        .unwrap();
    let (status, audit) = v.app.audit_read(&format!("?visit={visit_id}")).await;
    assert_eq!(status, 200);
    assert!(
        audit.to_string().contains("e2ee_check_failed"),
        "the end is audited: {audit}"
    );
    v.lawyer.close().await;
    v.booth.close().await;
    v.app.running.shutdown().await;
}
