//! One visit between a booth page (root namespace, any network) and a lawyer page whose
//! Chromium sits behind a hostile network (R-REMOTE-2): a network namespace
//! (`netns.rs`) whose nftables firewall lets no UDP out, or only TCP to confer's HTTPS
//! port and the TURN relay's TLS port. The server (and coturn) listen on the root side of
//! the namespace's veth pair. Used by tests/browser_tcp.rs and tests/browser_turn.rs.
//!
//! What a run gives back: the lawyer page's selected ICE candidate pair (from `getStats`)
//! and the time from pressing *Join* to the first decoded remote video frame, measured
//! in the page (`performance.now()`), printed as a figure, never asserted.

#![allow(dead_code)] // every test binary uses a different subset

use crate::app::{self, TestApp};
use crate::browser::{self, Browser, BrowserOpts, CertAutoSelect, BOOTH_COLOUR, LAWYER_COLOUR};
use crate::coturn::{self, Coturn};
use crate::netns::{self, NetNs};
use serde_json::Value;
use std::time::Duration;

const CONNECT: Duration = Duration::from_secs(60);

/// The lawyer's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// No firewall: UDP works (the baseline).
    Open,
    /// Every UDP datagram dropped: only TCP (ICE-TCP to the SFU's TCP media port).
    NoUdp,
    /// Only TCP to confer's HTTPS port and to the TURN relay's TLS port (an office that
    /// allows HTTPS only): media must go through TURN over TLS.
    OnlyHttpsAndTurnTls,
}

impl Network {
    pub fn label(self) -> &'static str {
        match self {
            Network::Open => "udp",
            Network::NoUdp => "tcp",
            Network::OnlyHttpsAndTurnTls => "turn-tls",
        }
    }
}

/// The lawyer page's selected candidate pair.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Pair {
    #[serde(rename = "localType")]
    pub local_type: Option<String>,
    #[serde(rename = "localProtocol")]
    pub local_protocol: Option<String>,
    #[serde(rename = "relayProtocol")]
    pub relay_protocol: Option<String>,
    #[serde(rename = "remoteProtocol")]
    pub remote_protocol: Option<String>,
}

pub struct Outcome {
    pub pair: Pair,
    /// From pressing *Join* to the first decoded remote frame, in the lawyer's page.
    pub join_to_first_frame_ms: f64,
}

/// The lawyer page's selected pair, from `getStats`.
const SELECTED_PAIR: &str = "(async () => { const r = await window.conferPc.getStats(); \
    let pair = null; r.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = r.get(s.selectedCandidatePairId); }); \
    if (!pair) r.forEach(s => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; }); \
    if (!pair) return null; const l = r.get(pair.localCandidateId) || {}, m = r.get(pair.remoteCandidateId) || {}; \
    return { localType: l.candidateType || null, localProtocol: l.protocol || null, \
             relayProtocol: l.relayProtocol || null, remoteProtocol: m.protocol || null }; })()";

/// Centre pixel of the remote video, drawn by the test (the pages themselves never
/// touch a canvas: nothing in confer captures frames).
const SAMPLE_REMOTE: &str = "(() => { const v = document.getElementById('remote-video'); \
    if (!v || !v.videoWidth) return null; const c = document.createElement('canvas'); \
    c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
    const d = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data; \
    return [d[0], d[1], d[2]]; })()";

/// Press *Join* and, in the page, note when the first remote video frame is decoded.
const JOIN_AND_TIME: &str = "(() => { window.__joinAt = performance.now(); window.__firstFrameAt = null; \
    const t = setInterval(async () => { const pc = window.conferPc; if (!pc) return; let n = 0; \
      (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && (s.kind ?? s.mediaType) === 'video') n += s.framesDecoded ?? 0; }); \
      if (n > 0 && window.__firstFrameAt === null) { window.__firstFrameAt = performance.now(); clearInterval(t); } }, 10); \
    document.querySelector('.join[data-visit-id]').click(); return true; })()";

/// Whether every tool is there (Chromium, ip, nft, and coturn when `turn`); `None` is a
/// skip outside CI (under `CI=true` the helpers panic instead).
pub fn tools(turn: bool) -> Option<()> {
    browser::chromium_or_fail()?;
    netns::tools_or_fail()?;
    if turn {
        coturn::turnserver_or_fail()?;
    }
    Some(())
}

async fn wait_frames_growing(side: &Browser) -> anyhow::Result<(u64, u64)> {
    side.wait_for(
        "window.conferPc && window.conferState && window.conferState.connectionState === 'connected'",
        CONNECT,
    )
    .await?;
    let deadline = tokio::time::Instant::now() + CONNECT;
    let first = loop {
        let n = browser::frames_decoded(side).await?;
        if n > 0 {
            break n;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{}: no video frame decoded",
            side.label()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = browser::frames_decoded(side).await?;
    Ok((first, second))
}

/// A whole visit with the lawyer behind `network`: both pages decode each other's camera
/// colour (framesDecoded grows, the centre pixel is the other side's colour); returns the
/// lawyer's selected pair and the join-to-first-frame time.
pub async fn visit_across(network: Network) -> Outcome {
    let ns = NetNs::create();
    let root = ns.root();
    let turn_port = coturn::free_tcp_port(root);
    let with_turn = network == Network::OnlyHttpsAndTurnTls;
    let app: TestApp = app::spawn_app_with(|c| {
        // Reachable from the namespace (the veth's root side) and from loopback.
        c.http.addr = "0.0.0.0:0".parse().unwrap();
        c.media.addr = "0.0.0.0:0".parse().unwrap();
        c.media.public_ips = vec![root];
        if with_turn {
            coturn::configure(c, root, turn_port);
        }
    })
    .await;
    let relay: Option<Coturn> = with_turn.then(|| Coturn::start(&app.running.state.config));
    let https_port = app.running.http_addr.port();
    match network {
        Network::Open => {}
        Network::NoUdp => ns.drop_all_udp(),
        Network::OnlyHttpsAndTurnTls => ns.only_tcp_to(&[(root, https_port), (root, turn_port)]),
    }

    let cams = tempfile::tempdir().unwrap();
    let booth_origin = format!("https://127.0.0.1:{https_port}");
    let booth = Browser::launch_with(
        BrowserOpts {
            label: "booth".into(),
            fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
            client_p12: Some(
                browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap(),
            ),
            ca_pem: app.ca_pem.clone(),
            origin_for_cert_autoselect: booth_origin,
        },
        CertAutoSelect::ProfilePreference,
    )
    .await
    .expect("booth browser");
    let lawyer_origin = format!("https://{root}:{https_port}");
    // The server's address is an IP literal the test resolver must let through.
    let resolver =
        format!("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE {root}");
    let lawyer = Browser::launch_in_netns(
        BrowserOpts {
            label: format!("lawyer-{}", network.label()),
            fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
            client_p12: None,
            ca_pem: app.ca_pem.clone(),
            origin_for_cert_autoselect: lawyer_origin.clone(),
        },
        &[resolver.as_str()],
        &ns.name,
        ns.ns_ip.into(),
        root,
    )
    .await
    .expect("lawyer browser in the namespace");

    booth.goto(&app.url("/booth")).await.unwrap();
    lawyer
        .goto(&format!("{lawyer_origin}/lawyer"))
        .await
        .unwrap();
    lawyer
        .sign_in(
            &app.lawyer_username,
            &app.lawyer_password,
            "document.querySelector('.join[data-visit-id]') !== null",
            CONNECT,
        )
        .await
        .unwrap();
    lawyer.eval(JOIN_AND_TIME).await.unwrap();

    for (side, own, other) in [
        (&lawyer, LAWYER_COLOUR, BOOTH_COLOUR),
        (&booth, BOOTH_COLOUR, LAWYER_COLOUR),
    ] {
        let (first, second) = wait_frames_growing(side).await.unwrap_or_else(|e| {
            let log = relay.as_ref().map(|r| r.log()).unwrap_or_default();
            panic!("{} ({}): {e:#}\n{log}", side.label(), network.label())
        });
        assert!(
            second > first,
            "{}: framesDecoded did not grow ({first} -> {second})",
            side.label()
        );
        let sample: [u8; 3] = serde_json::from_value(side.eval(SAMPLE_REMOTE).await.unwrap())
            .expect("remote video sample");
        assert!(
            browser::colour_is(sample, other, own),
            "{}: the remote video shows {sample:?}, not the other side's camera {other:?}",
            side.label()
        );
        println!(
            "{}: framesDecoded {first} -> {second}, remote centre pixel {sample:?}",
            side.label()
        );
    }
    lawyer
        .wait_for("window.__firstFrameAt !== null", CONNECT)
        .await
        .unwrap();
    let ms: f64 = serde_json::from_value(
        lawyer
            .eval("window.__firstFrameAt - window.__joinAt")
            .await
            .unwrap(),
    )
    .unwrap();
    let pair: Value = lawyer.eval(SELECTED_PAIR).await.unwrap();
    println!(
        "lawyer ({}): selected pair {pair}, join -> first remote frame {ms:.0} ms",
        network.label()
    );
    let pair: Pair = serde_json::from_value(pair).expect("a selected candidate pair");
    lawyer.close().await;
    booth.close().await;
    app.running.shutdown().await;
    drop(relay);
    drop(ns);
    Outcome {
        pair,
        join_to_first_frame_ms: ms,
    }
}
