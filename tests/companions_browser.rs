//! A three-way visit in real browsers (R-VERIFY-4, R-PRIV-1, docs/DESIGN.md invariant 10):
//! Debian's headless Chromium as the lawyer, as a remote interpreter in a browser of its own,
//! and as the booth, through confer's SFU. The lawyer invites the interpreter from the
//! lawyer page (staff recorded the investigating unit's approval); each page offers one
//! sendrecv pair plus receive-only pairs and renders one tile per remote participant,
//! labelled from the server's roster. Each browser has its own camera colour and its own
//! microphone tone, so the test can tell that every page decodes *both* others' video
//! (framesDecoded grows on two remote tracks; each tile's centre pixel is that participant's
//! colour) and hears both others (each tile's audio peaks at that participant's tone), and
//! that every page shows the roster of all three as visible text.
//! Every page encrypts end to end (R-PRIV-1, SFrame in the pages): each decodes both others
//! through its transform worker; all three show the same check code; when the interpreter
//! joins, and when the lawyer withdraws its invitation from the page (it is removed at once,
//! told why), the code changes and the lawyer's and booth's pages say so.
//! Under `CI=true` a missing Chromium fails the test (never a silent skip).

#[path = "support/app.rs"]
mod app;
#[path = "support/browser.rs"]
mod browser;

use browser::{Browser, BrowserOpts, CertAutoSelect, BOOTH_COLOUR, LAWYER_COLOUR};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CONNECT: Duration = Duration::from_secs(60);
/// The check code as the page shows it, digits only.
const SHOWN_CODE: &str = "document.getElementById('check-code').textContent.replace(/\\s/g, '')";
/// How many times the page said the check code changed (the catalogues' `e2ee.codeChanged`).
const CODE_CHANGED_NOTICES: &str = "[...document.querySelectorAll('#notices li')].filter((li) => li.textContent.includes('the check code changed')).length";

/// Wait until `page` shows a 6-digit check code other than `not`, and return it.
async fn code_other_than(page: &Browser, not: &str) -> String {
    page.wait_for(
        &format!(
            "(() => {{ const c = {SHOWN_CODE}; return /^\\d{{6}}$/.test(c) && c !== '{not}'; }})()"
        ),
        CONNECT,
    )
    .await
    .unwrap_or_else(|e| panic!("{}: no check code other than {not:?}: {e:#}", page.label()));
    page.eval(SHOWN_CODE)
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Wait until `page` has said `n` times that the check code changed.
async fn code_changed_notices(page: &Browser, n: u64) {
    page.wait_for(&format!("{CODE_CHANGED_NOTICES} === {n}"), CONNECT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{}: not {n} 'check code changed' notices: {e:#}",
                page.label()
            )
        });
}
/// The interpreter's fake camera: mostly green.
const INTERPRETER_COLOUR: [u8; 3] = [40, 180, 60];
const INTERPRETER_NAME: &str = "Interpreter Li";
const PASSWORD: &str = "a long enough password";

/// Each participant's microphone tone, in Hz (distinct, well apart in an FFT of 4096).
const LAWYER_TONE: f64 = 440.0;
const BOOTH_TONE: f64 = 700.0;
const INTERPRETER_TONE: f64 = 1000.0;

/// A 2 s, 48 kHz, 16-bit mono WAV of a sine `hz` for `--use-file-for-fake-audio-capture`
/// (Chromium loops it).
fn tone_wav(dir: &Path, label: &str, hz: f64) -> PathBuf {
    let path = dir.join(format!("{label}.wav"));
    let rate = 48_000u32;
    let samples: Vec<i16> = (0..rate * 2)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            ((t * hz * std::f64::consts::TAU).sin() * 12_000.0) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(b"RIFF").unwrap();
    f.write_all(&(36 + data_len).to_le_bytes()).unwrap();
    f.write_all(b"WAVEfmt ").unwrap();
    f.write_all(&16u32.to_le_bytes()).unwrap();
    f.write_all(&1u16.to_le_bytes()).unwrap(); // PCM
    f.write_all(&1u16.to_le_bytes()).unwrap(); // mono
    f.write_all(&rate.to_le_bytes()).unwrap();
    f.write_all(&(rate * 2).to_le_bytes()).unwrap();
    f.write_all(&2u16.to_le_bytes()).unwrap();
    f.write_all(&16u16.to_le_bytes()).unwrap();
    f.write_all(b"data").unwrap();
    f.write_all(&data_len.to_le_bytes()).unwrap();
    for s in samples {
        f.write_all(&s.to_le_bytes()).unwrap();
    }
    f.flush().unwrap();
    path
}

/// Centre pixel of the remote tile of `role` (drawn by the test: the pages never touch a
/// canvas, nothing in confer captures frames).
fn sample_js(role: &str) -> String {
    format!(
        "(() => {{ const v = document.querySelector('video[data-role=\"{role}\"]'); \
         if (!v || !v.videoWidth) return null; const c = document.createElement('canvas'); \
         c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
         const d = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data; \
         return [d[0], d[1], d[2]]; }})()"
    )
}

/// The loudest frequency (Hz) and its level (dB) of the audio the tile of `role` plays,
/// measured by the test with an AnalyserNode.
fn tone_js(role: &str) -> String {
    format!(
        "const v = document.querySelector('video[data-role=\"{role}\"]');
         const s = v && v.srcObject;
         if (!s || s.getAudioTracks().length === 0) return null;
         window.__testAudio = window.__testAudio || new AudioContext();
         const ctx = window.__testAudio;
         await ctx.resume();
         const src = ctx.createMediaStreamSource(new MediaStream(s.getAudioTracks()));
         const an = ctx.createAnalyser();
         an.fftSize = 4096;
         src.connect(an);
         await new Promise((r) => setTimeout(r, 800));
         const data = new Float32Array(an.frequencyBinCount);
         an.getFloatFrequencyData(data);
         src.disconnect();
         let best = 1;
         for (let i = 2; i < data.length; i++) if (data[i] > data[best]) best = i;
         return [best * ctx.sampleRate / an.fftSize, data[best]];"
    )
}

/// framesDecoded per inbound video stream (keyed by mid) of the page's peer connection.
const FRAMES_JS: &str = "const pc = window.conferPc; if (!pc) return {};
    const out = {};
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && (s.kind ?? s.mediaType) === 'video') out[s.mid ?? s.trackIdentifier ?? s.id] = s.framesDecoded ?? 0;
    });
    return out;";

fn nearest(seen: [u8; 3], colours: &[(&'static str, [u8; 3])]) -> &'static str {
    let dist = |a: [u8; 3], b: [u8; 3]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (i32::from(*x) - i32::from(y)).pow(2))
            .sum::<i32>()
    };
    colours
        .iter()
        .min_by_key(|(_, c)| dist(seen, *c))
        .map(|(n, _)| *n)
        .unwrap()
}

async fn launch(
    app: &app::TestApp,
    dir: &Path,
    label: &str,
    colour: [u8; 3],
    hz: f64,
    booth: bool,
) -> Browser {
    let origin = format!("https://127.0.0.1:{}", app.running.http_addr.port());
    let audio = tone_wav(dir, label, hz);
    let flag = format!("--use-file-for-fake-audio-capture={}", audio.display());
    Browser::launch_with_flags(
        BrowserOpts {
            label: label.into(),
            fake_video: browser::fake_camera(dir, label, colour).unwrap(),
            client_p12: booth
                .then(|| browser::booth_p12(app.data_dir.path(), confer::app::DEMO_BOOTH).unwrap()),
            ca_pem: app.ca_pem.clone(),
            origin_for_cert_autoselect: origin,
        },
        CertAutoSelect::ProfilePreference,
        &[&flag],
    )
    .await
    .unwrap_or_else(|e| panic!("{label} browser: {e:#}"))
}

async fn sign_in_and_join(page: &Browser, app: &app::TestApp, username: &str, password: &str) {
    page.goto(&app.url("/lawyer")).await.unwrap();
    page.fill("#username", username).await.unwrap();
    page.fill("#password", password).await.unwrap();
    page.click("#sign-in").await.unwrap();
    page.wait_for(
        "document.querySelector('.join[data-visit-id]') !== null",
        CONNECT,
    )
    .await
    .unwrap();
    page.click(".join[data-visit-id]").await.unwrap();
    page.wait_for(
        "window.conferState && window.conferState.connectionState === 'connected'",
        CONNECT,
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e:#}", page.label()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lawyer_interpreter_and_booth_see_and_hear_each_other_and_the_roster() {
    let Some(_) = browser::chromium_or_fail() else {
        return;
    };
    let app = app::spawn_app().await;
    // Staff create the interpreter's account and record the unit's approval for the case.
    let (status, created) = app
        .admin(
            Method::POST,
            "/admin/api/lawyers",
            Some(
                json!({"username": "interp-web", "display_name": INTERPRETER_NAME,
                "password": PASSWORD, "kind": "interpreter"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let interpreter_id = created["id"].as_i64().unwrap();
    let case = app.demo_case().await.0;
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/cases/{case}/companions"),
            Some(json!({"account_id": interpreter_id, "unit": "某市公安局",
                "decided_on": "2026-11-30", "document_ref": "许〔2026〕7号"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let dir = tempfile::tempdir().unwrap();
    let booth = launch(&app, dir.path(), "booth", BOOTH_COLOUR, BOOTH_TONE, true).await;
    let lawyer = launch(
        &app,
        dir.path(),
        "lawyer",
        LAWYER_COLOUR,
        LAWYER_TONE,
        false,
    )
    .await;
    let interpreter = launch(
        &app,
        dir.path(),
        "interpreter",
        INTERPRETER_COLOUR,
        INTERPRETER_TONE,
        false,
    )
    .await;

    booth.goto(&app.url("/booth")).await.unwrap();
    sign_in_and_join(&lawyer, &app, &app.lawyer_username, &app.lawyer_password).await;
    // Two participants: both show the same code; nothing has changed yet.
    let two_way = code_other_than(&lawyer, "").await;
    assert_eq!(code_other_than(&booth, "").await, two_way);
    for page in [&lawyer, &booth] {
        assert_eq!(page.eval(CODE_CHANGED_NOTICES).await.unwrap(), 0);
    }
    // The lawyer invites the interpreter from the page's invite control.
    lawyer
        .wait_for(
            &format!("!document.getElementById('invite').hidden && document.querySelector('#invite-companion option[value=\"{interpreter_id}\"]') !== null"),
            CONNECT,
        )
        .await
        .unwrap();
    lawyer
        .run(&format!(
            "document.getElementById('invite-companion').value = '{interpreter_id}';"
        ))
        .await
        .unwrap();
    lawyer.click("#invite-send").await.unwrap();
    lawyer
        .wait_for(
            "/Invited/.test(document.getElementById('invite-answer').textContent)",
            CONNECT,
        )
        .await
        .unwrap();
    sign_in_and_join(&interpreter, &app, "interp-web", PASSWORD).await;
    // R-PRIV-1: the interpreter's key changes the code; all three show the same new code, and
    // the two already there are told it changed.
    let three_way = code_other_than(&lawyer, &two_way).await;
    for page in [&booth, &interpreter] {
        assert_eq!(
            code_other_than(page, &two_way).await,
            three_way,
            "{}",
            page.label()
        );
    }
    for page in [&lawyer, &booth] {
        code_changed_notices(page, 1).await;
    }
    println!("check code: two-way {two_way}, three-way {three_way}");

    let pages = [
        (&lawyer, "lawyer", ["booth", "interpreter"]),
        (&booth, "booth", ["lawyer", "interpreter"]),
        (&interpreter, "interpreter", ["lawyer", "booth"]),
    ];
    let colours = [
        ("lawyer", LAWYER_COLOUR),
        ("booth", BOOTH_COLOUR),
        ("interpreter", INTERPRETER_COLOUR),
    ];
    let tones = [
        ("lawyer", LAWYER_TONE),
        ("booth", BOOTH_TONE),
        ("interpreter", INTERPRETER_TONE),
    ];
    for (page, me, others) in pages {
        // The roster, as visible text on the page: all three, in the page's language (these
        // browsers ask for English; the Chinese catalogue has the same keys, tests/pages_i18n.rs).
        page.wait_for(
            &format!(
                "(() => {{ const r = document.getElementById('roster'); if (!r || r.offsetParent === null) return false; \
                 const t = r.innerText; return r.children.length === 3 && t.includes('Lawyer:') \
                 && t.includes('Booth:') && t.includes('Interpreter: {INTERPRETER_NAME}') \
                 && t.includes('(you)'); }})()"
            ),
            CONNECT,
        )
        .await
        .unwrap_or_else(|e| panic!("{me}: roster not shown: {e:#}"));
        let roster = page
            .eval("document.getElementById('roster').innerText")
            .await
            .unwrap();
        println!(
            "{me}: roster shown: {}",
            roster.as_str().unwrap_or_default().replace('\n', " | ")
        );

        // Video: two remote streams decoding, growing.
        let deadline = tokio::time::Instant::now() + CONNECT;
        let first: Value = loop {
            let frames = page.run(FRAMES_JS).await.unwrap();
            let decoding = frames
                .as_object()
                .map(|m| m.values().filter(|v| v.as_u64().unwrap_or(0) > 0).count())
                .unwrap_or(0);
            if decoding >= 2 {
                break frames;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{me}: two remote videos not decoding: {frames}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        let second = page.run(FRAMES_JS).await.unwrap();
        let grew = first
            .as_object()
            .unwrap()
            .iter()
            .filter(|(mid, n)| {
                second[mid.as_str()].as_u64().unwrap_or(0) > n.as_u64().unwrap_or(0)
                    && n.as_u64().unwrap_or(0) > 0
            })
            .count();
        assert!(grew >= 2, "{me}: framesDecoded {first} -> {second}");
        println!("{me}: framesDecoded {first} -> {second}");

        for other in others {
            // Each tile shows that participant's camera (the roster's m-lines, end to end).
            let deadline = tokio::time::Instant::now() + CONNECT;
            let sample: [u8; 3] = loop {
                if let Ok(s) = serde_json::from_value(page.eval(&sample_js(other)).await.unwrap()) {
                    break s;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{me}: no picture in the {other} tile"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            };
            assert_eq!(
                nearest(sample, &colours),
                other,
                "{me}: the {other} tile shows {sample:?}"
            );
            // ... and plays that participant's tone.
            let want = tones.iter().find(|(n, _)| *n == other).unwrap().1;
            let deadline = tokio::time::Instant::now() + CONNECT;
            let heard = loop {
                let got = page.run(&tone_js(other)).await.unwrap();
                let peak: Option<(f64, f64)> = serde_json::from_value(got).ok();
                if let Some((hz, db)) = peak {
                    if (hz - want).abs() < 60.0 && db > -90.0 {
                        break (hz, db);
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{me}: the {other} tile's audio peaks at {hz:.0} Hz ({db:.0} dB), not {want} Hz"
                    );
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{me}: no audio in the {other} tile"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            };
            println!(
                "{me}: {other} tile centre {sample:?}, audio peak {:.0} Hz at {:.0} dB",
                heard.0, heard.1
            );
        }
        // Every frame went through the page's SFrame transform.
        let stats = page.eval("await window.conferE2ee.stats()").await.unwrap();
        assert!(
            stats["encrypted"].as_u64().unwrap_or(0) > 0
                && stats["decrypted"].as_u64().unwrap_or(0) > 0,
            "{me}: SFrame worker {stats}"
        );
        page.screenshot(format!("three-way-{me}.png"))
            .await
            .unwrap();
    }

    // The lawyer withdraws the interpreter's invitation from the page (R-VERIFY-4): the
    // interpreter is removed at once and told why; the code goes back to the two-way one and
    // the lawyer's and booth's pages say it changed again.
    lawyer
        .click(&format!(".withdraw[data-account-id=\"{interpreter_id}\"]"))
        .await
        .unwrap();
    interpreter
        .wait_for(
            "/撤回/.test(document.getElementById('notices').textContent + document.getElementById('status').textContent)",
            CONNECT,
        )
        .await
        .unwrap();
    for page in [&lawyer, &booth] {
        page.wait_for(
            "window.conferState.roster.length === 2 && document.getElementById('roster').children.length === 2",
            CONNECT,
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e:#}", page.label()));
        assert_eq!(
            code_other_than(page, &three_way).await,
            two_way,
            "{}",
            page.label()
        );
        code_changed_notices(page, 2).await;
    }
    lawyer
        .wait_for(
            "/Invitation withdrawn/.test(document.getElementById('invite-answer').textContent)",
            CONNECT,
        )
        .await
        .unwrap();

    // The lawyer leaves (leaving asks for confirmation first); the booth stays alone.
    lawyer.click("#leave").await.unwrap();
    lawyer.click("#leave-yes").await.unwrap();
    booth
        .wait_for(
            "window.conferState.roster.length === 1 && document.getElementById('roster').children.length === 1",
            CONNECT,
        )
        .await
        .unwrap();
    lawyer.close().await;
    interpreter.close().await;
    booth.close().await;
    app.running.shutdown().await;
}
