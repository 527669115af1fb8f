//! Two confer nodes on one PostgreSQL, in real browsers: the lawyer's Chromium loads the
//! lawyer page from the first node and presses *Join*; the visit is placed on the second
//! node, so the first answers `moved` and the page joins there with the same token (the
//! first node's Content-Security-Policy lets it reach the second's origin; the page makes
//! one HTTPS request there first, which settles Chromium's client-certificate choice for
//! that host and port, which a WebSocket alone cannot).
//! The booth's Chromium loads its page from the second node. Both decode each other's
//! camera colour through the second node's SFU. Under `CI=true` a missing Chromium or
//! PostgreSQL fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/cluster.rs"]
mod cluster;

use browser::{Browser, BrowserOpts, BOOTH_COLOUR, LAWYER_COLOUR};
use std::time::{Duration, Instant};

const CONNECT: Duration = Duration::from_secs(60);

/// Centre pixel of the remote video, drawn by the test.
const SAMPLE_REMOTE: &str = "(() => { const v = document.getElementById('remote-video'); \
    if (!v || !v.videoWidth) return null; const c = document.createElement('canvas'); \
    c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
    const d = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data; \
    return [d[0], d[1], d[2]]; })()";

/// Wait until the first node's pages may connect to another node: its CSP names `wss` (or,
/// with `None`, any other node).
async fn csp_names_another_node(first: &app::TestApp, wss: Option<&str>) {
    let client = first.client(&app::Identity::None);
    let deadline = Instant::now() + CONNECT;
    loop {
        let resp = client.get(first.url("/lawyer")).send().await.unwrap();
        let csp = resp
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if wss.map_or(csp.contains("wss://"), |w| csp.contains(w)) {
            assert!(csp.contains("connect-src 'self' https://"), "{csp}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the CSP never named the other node: {csp}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_page_on_one_node_follows_moved_to_the_node_of_its_visit_and_media_flows() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    // Placement breaks ties by node id: the second node ("a-second") takes the visit.
    let Some(first) = app::spawn_app_on(app::Backend::Postgres, |c| {
        c.node.id = Some("z-first".into());
    })
    .await
    else {
        return;
    };
    let (second, _dir) = cluster::second_node(&first, "a-second").await;
    let second_origin = format!("https://127.0.0.1:{}", second.http_addr.port());
    let second_wss = format!("wss://127.0.0.1:{}", second.http_addr.port());

    // The first node's pages may connect to the second once its heartbeat has seen it.
    csp_names_another_node(&first, Some(&second_wss)).await;

    let cams = tempfile::tempdir().unwrap();
    let booth = Browser::launch(BrowserOpts {
        label: "booth-second-node".into(),
        fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
        client_p12: Some(
            browser::booth_p12(first.data_dir.path(), confer::app::DEMO_BOOTH).unwrap(),
        ),
        ca_pem: first.ca_pem.clone(),
        origin_for_cert_autoselect: second_origin.clone(),
    })
    .await
    .expect("booth browser");
    let lawyer = Browser::launch(BrowserOpts {
        label: "lawyer-first-node".into(),
        fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: first.ca_pem.clone(),
        origin_for_cert_autoselect: first.url(""),
    })
    .await
    .expect("lawyer browser");

    booth.goto(&format!("{second_origin}/booth")).await.unwrap();
    lawyer.goto(&first.url("/lawyer")).await.unwrap();
    lawyer
        .sign_in(
            &first.lawyer_username,
            &first.lawyer_password,
            "document.querySelector('.join[data-visit-id]') !== null",
            CONNECT,
        )
        .await
        .unwrap();
    lawyer.click(".join[data-visit-id]").await.unwrap();

    for (side, own, other) in [
        (&lawyer, LAWYER_COLOUR, BOOTH_COLOUR),
        (&booth, BOOTH_COLOUR, LAWYER_COLOUR),
    ] {
        side.wait_for(
            "window.conferPc && window.conferState && window.conferState.connectionState === 'connected'",
            CONNECT,
        )
        .await
        .unwrap_or_else(|e| panic!("{}: not connected: {e:#}", side.label()));
        let deadline = Instant::now() + CONNECT;
        let first_count = loop {
            let n = browser::frames_decoded(side).await.unwrap();
            if n > 0 {
                break n;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no frame decoded",
                side.label()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        let later = browser::frames_decoded(side).await.unwrap();
        assert!(later > first_count, "{}: frames stalled", side.label());
        let sample: [u8; 3] = serde_json::from_value(side.eval(SAMPLE_REMOTE).await.unwrap())
            .expect("remote video sample");
        assert!(
            browser::colour_is(sample, other, own),
            "{}: the remote video shows {sample:?}, not {other:?}",
            side.label()
        );
        println!(
            "{}: framesDecoded {first_count} -> {later}, remote centre pixel {sample:?}",
            side.label()
        );
    }
    // The visit's media is on the second node: its hub holds both participants.
    assert_eq!(second.state.hub.live_count(), 1);
    assert_eq!(first.running.state.hub.live_count(), 0);

    // The second node shuts down cleanly (an upgrade): its pages are told `server_shutdown`,
    // which does not end the visit for them. The lawyer's page (from the first node)
    // resumes by itself on the first node, on a new peer connection. (The booth's page came
    // from the second node, so it waits for that node to return.)
    booth.close().await;
    second.shutdown().await;
    lawyer
        .wait_for(
            "window.conferState.renegotiations >= 1 && window.conferState.reconnectAttempt === 0 \
             && window.conferState.connectionState === 'connected'",
            CONNECT,
        )
        .await
        .expect("the lawyer's page resumed on the node that is left");
    assert_eq!(first.running.state.hub.live_count(), 1);
    lawyer.close().await;
    first.running.shutdown().await;
}

/// Frames decoded keep growing and the remote picture is `other`'s colour.
async fn decoding(side: &Browser, own: [u8; 3], other: [u8; 3], within: Duration) {
    let deadline = Instant::now() + within;
    let mut last = browser::frames_decoded(side).await.unwrap_or(0);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = browser::frames_decoded(side).await.unwrap_or(0);
        let sample: Option<[u8; 3]> = side
            .eval(SAMPLE_REMOTE)
            .await
            .ok()
            .and_then(|v| serde_json::from_value(v).ok());
        if now > last && sample.is_some_and(|s| browser::colour_is(s, other, own)) {
            return;
        }
        last = now;
        assert!(
            Instant::now() < deadline,
            "{}: no decoding of the other side's colour (frames {now}, sample {sample:?})",
            side.label()
        );
    }
}

/// R-REMOTE-2 with several nodes: the visit's node is killed (SIGKILL, a real process)
/// mid-visit. Both pages, loaded from the node that is left, notice, resume there with the
/// credentials they hold (no click), get new seats (`renegotiate`), make new peer
/// connections and decode each other's colour again, with the same slot end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_pages_resume_by_themselves_on_another_node_when_the_visits_node_is_killed() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    // Placement breaks ties by node id: the visit goes to "a-victim".
    let Some(first) = app::spawn_app_on(app::Backend::Postgres, |c| {
        c.node.id = Some("z-first".into());
    })
    .await
    else {
        return;
    };
    let mut victim = cluster::ProcessNode::start(&first, "a-victim");
    // The first node's pages may connect to the victim once its heartbeat has seen it.
    csp_names_another_node(&first, None).await;

    let cams = tempfile::tempdir().unwrap();
    let booth = Browser::launch(BrowserOpts {
        label: "booth".into(),
        fake_video: browser::fake_camera(cams.path(), "booth", BOOTH_COLOUR).unwrap(),
        client_p12: Some(
            browser::booth_p12(first.data_dir.path(), confer::app::DEMO_BOOTH).unwrap(),
        ),
        ca_pem: first.ca_pem.clone(),
        // The rule covers every port of the host: the victim's too.
        origin_for_cert_autoselect: first.url(""),
    })
    .await
    .expect("booth browser");
    let lawyer = Browser::launch(BrowserOpts {
        label: "lawyer".into(),
        fake_video: browser::fake_camera(cams.path(), "lawyer", LAWYER_COLOUR).unwrap(),
        client_p12: None,
        ca_pem: first.ca_pem.clone(),
        origin_for_cert_autoselect: first.url(""),
    })
    .await
    .expect("lawyer browser");
    booth.goto(&first.url("/booth")).await.unwrap();
    lawyer.goto(&first.url("/lawyer")).await.unwrap();
    lawyer
        .sign_in(
            &first.lawyer_username,
            &first.lawyer_password,
            "document.querySelector('.join[data-visit-id]') !== null",
            CONNECT,
        )
        .await
        .unwrap();
    lawyer.click(".join[data-visit-id]").await.unwrap();
    let connected = "window.conferPc && window.conferState && window.conferState.connectionState === 'connected'";
    for (side, own, other) in [
        (&lawyer, LAWYER_COLOUR, BOOTH_COLOUR),
        (&booth, BOOTH_COLOUR, LAWYER_COLOUR),
    ] {
        side.wait_for(connected, CONNECT)
            .await
            .unwrap_or_else(|e| panic!("{}: not connected: {e:#}", side.label()));
        decoding(side, own, other, CONNECT).await;
    }
    // The media is on the victim, not on the first node.
    assert_eq!(first.running.state.hub.live_count(), 0);
    let slot_end = lawyer
        .eval("window.conferState.slotEndsAt || null")
        .await
        .unwrap();

    victim.kill();
    let killed = Instant::now();
    let back = "window.conferState && window.conferState.renegotiations >= 1 \
        && window.conferState.reconnectAttempt === 0 \
        && window.conferState.connectionState === 'connected'";
    for (side, own, other) in [
        (&lawyer, LAWYER_COLOUR, BOOTH_COLOUR),
        (&booth, BOOTH_COLOUR, LAWYER_COLOUR),
    ] {
        side.wait_for(back, CONNECT).await.unwrap_or_else(|e| {
            panic!(
                "{}: did not resume on the node that is left: {e:#}",
                side.label()
            )
        });
        decoding(side, own, other, CONNECT).await;
        println!(
            "{}: SIGKILL of the visit's node -> decoding the other side again after {:.1} s",
            side.label(),
            killed.elapsed().as_secs_f64()
        );
    }
    assert_eq!(
        first.running.state.hub.live_count(),
        1,
        "the visit lives on the node that is left"
    );
    assert_eq!(
        lawyer
            .eval("window.conferState.slotEndsAt || null")
            .await
            .unwrap(),
        slot_end,
        "failover never moves the slot end"
    );
    lawyer.close().await;
    booth.close().await;
    first.running.shutdown().await;
}
