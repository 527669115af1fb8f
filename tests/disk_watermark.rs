//! A data dir on a small file system (a tmpfs of a few MiB mounted by the test): below the
//! free-space watermark `/healthz` says `degraded` (`disk_space`) on both listeners while
//! admissions still work; when the disk is full, admissions fail closed with a sentence in
//! Chinese and English; `confer audit verify` passes afterwards (the chain is never
//! corrupted); and once space returns, admissions work again (docs/DESIGN.md invariant 3,
//! R-VERIFY-1: no admission without its audit entry).
//!
//! Needs root (mount). Under `CI=true` a failed mount fails the test; elsewhere it is
//! reported and the test returns.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app_in, TestApp};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SIZE_MIB: u64 = 24;
const WATERMARK_MIB: u64 = 8;
const WAIT: Duration = Duration::from_secs(30);

/// A tmpfs mounted on a temporary directory; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={SIZE_MIB}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn health(app: &TestApp, url: String) -> (u16, Value) {
    let resp = app
        .client(&app::Identity::None)
        .get(url)
        .send()
        .await
        .expect("healthz");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wait_health(app: &TestApp, want: &str) -> (Value, Value) {
    let started = Instant::now();
    loop {
        let (_, public) = health(app, app.url("/healthz")).await;
        let (_, admin) = health(app, app.admin_url("/healthz")).await;
        if public["status"] == want && admin["status"] == want {
            return (public, admin);
        }
        assert!(
            started.elapsed() < WAIT,
            "healthz never said {want}: public {public} admin {admin}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn fill(path: &Path, leave_free: u64, dir: &Path) -> u64 {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    let mut written = 0;
    loop {
        let free = confer::disk::free_bytes(dir).unwrap();
        if free <= leave_free {
            break;
        }
        let n = chunk.len().min((free - leave_free) as usize).max(1);
        match f.write_all(&chunk[..n]).and_then(|()| f.sync_all()) {
            Ok(()) => written += n as u64,
            Err(_) => break, // full
        }
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_dir_is_told_before_it_stops_admissions_and_never_corrupts_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let _mount = match Tmpfs::mount(dir.path()) {
        Ok(m) => m,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("cannot mount a tmpfs for the data dir: {e}")
        }
        Err(e) => {
            eprintln!("NOT RUN: cannot mount a tmpfs (needs root): {e}");
            return;
        }
    };
    let data = dir.path().to_path_buf();
    let app = spawn_app_in(dir, |c| {
        c.storage.free_space_watermark_mib = WATERMARK_MIB;
        c.storage.check_every_secs = 1;
    })
    .await;
    let (public, _) = wait_health(&app, "ok").await;
    assert!(public.get("degraded").is_none(), "{public}");
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;

    // Below the watermark: degraded on both listeners, admissions still work.
    let filler = data.join("filler");
    fill(&filler, (WATERMARK_MIB / 2) << 20, &data);
    let (public, admin) = wait_health(&app, "degraded").await;
    for h in [&public, &admin] {
        assert_eq!(h["degraded"], serde_json::json!(["disk_space"]), "{h}");
    }
    assert!(confer::metrics::render().contains("confer_disk_space_low 1"));
    // Staff see it in the console's live view.
    let started = Instant::now();
    loop {
        let (status, view) = app
            .admin(reqwest::Method::GET, "/admin/api/live", None)
            .await;
        assert_eq!(status, 200, "{view}");
        if view["system_alerts"] == serde_json::json!(["disk_space"]) {
            break;
        }
        assert!(started.elapsed() < WAIT, "no disk alert in {view}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (status, body) = app.lawyer_join_token(&session, visit).await;
    assert_eq!(status, 200, "admissions work at the watermark: {body}");

    // Full: admissions fail closed with a sentence (zh + en).
    fill(&filler, 0, &data);
    let mut refused = None;
    for _ in 0..5 {
        let (status, body) = app.lawyer_join_token(&session, visit).await;
        if status != 200 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("an admission on a full disk was refused");
    println!("full disk: join token answered {status} {body}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "audit_unavailable", "{body}");
    assert!(!body["message"].as_str().unwrap_or("").is_empty(), "{body}");
    assert!(
        !body["message_zh"].as_str().unwrap_or("").is_empty(),
        "{body}"
    );
    let (status, h) = health(&app, app.url("/healthz")).await;
    assert_eq!(status, 503, "{h}");

    // Space returns: admissions work again, healthz is ok.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    loop {
        let (status, body) = app.lawyer_join_token(&session, visit).await;
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < WAIT, "no recovery: {status} {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_health(&app, "ok").await;

    app.running.shutdown().await;
    let out = Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify after the full disk: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "audit verify: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    drop(app.data_dir);
}
