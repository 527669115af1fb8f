//! A flood of sign-ins cannot exhaust memory (R-VERIFY-1): every password check (argon2id,
//! 19 MiB) runs under the hashing cap (`auth::signin`: at most 2–8 checks at once, at most
//! `MAX_WAITING` more queued, the rest answered `busy`, 503 with Retry-After), in a mapping
//! of its own that goes back to the system when the check ends (`memory::fix_mmap_threshold`).
//!
//! 200 simultaneous sign-ins with the right password, the failure budget set out of the way
//! (as for a flood from many addresses against many accounts) so that each one wants a
//! check: every answer is a session or `busy`, and the process's peak resident memory grows
//! by less than the documented bound (README "Running it for real": 128 MiB over the idle
//! server; without the cap, 100 sign-ins took RSS from 65 MB to 750 MB). Memory, not time:
//! nothing here depends on the machine's speed.
//!
//! Alone in its test binary, so that no other test's memory is counted.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app_with, Identity};
use serde_json::{json, Value};

/// The documented bound on what a sign-in flood may add to the server's peak RSS.
const BOUND_MIB: u64 = 128;

/// `VmRSS` or `VmHWM` (peak) of this process, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_sign_ins_stay_under_the_memory_bound() {
    let app = spawn_app_with(|c| {
        // One client address sends all 200, standing in for a flood from many addresses and
        // accounts: the connection caps and the failure budget (which would otherwise answer
        // most of them 429 before any check) are set out of the way, so that only the hashing
        // cap stands between the flood and the server's memory.
        c.http.connections.max_per_ip = 512;
        c.http.connections.max_connections = 1024;
        c.auth.login_max_failures = 10_000;
    })
    .await;
    let client = app.client(&Identity::None);
    let url = app.url("/api/lawyer/login");
    // Warm up (TLS, one check) so that the baseline is the idle, running server.
    let first = client
        .post(&url)
        .json(&json!({"username": app.lawyer_username, "password": app.lawyer_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let before_kib = status_kib("VmRSS:");

    let sign_ins = (0..200).map(|_| {
        let client = client.clone();
        let url = url.clone();
        let body = json!({"username": app.lawyer_username, "password": app.lawyer_password});
        async move {
            // Queued checks take as long as they take (argon2id in a debug build is slow):
            // memory is measured here, not time.
            let resp = client
                .post(url)
                .timeout(std::time::Duration::from_secs(600))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp.headers().contains_key("retry-after");
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (
                status,
                body["code"].as_str().unwrap_or("").to_owned(),
                retry_after,
            )
        }
    });
    let answers = futures_util::future::join_all(sign_ins).await;
    let peak_kib = status_kib("VmHWM:");

    let signed_in = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let busy = answers
        .iter()
        .filter(|(s, c, retry)| *s == 503 && c == "busy" && *retry)
        .count();
    assert_eq!(
        signed_in + busy,
        200,
        "every answer is a session or busy with Retry-After: {:?}",
        answers
            .iter()
            .filter(|(s, c, _)| *s != 200 && c != "busy")
            .collect::<Vec<_>>()
    );
    assert!(signed_in >= 2, "only {signed_in} sign-ins got through");
    let grown_mib = peak_kib.saturating_sub(before_kib) / 1024;
    println!(
        "200 parallel sign-ins: {signed_in} signed in, {busy} busy; RSS {} MiB before, peak {} MiB (+{grown_mib} MiB, bound {BOUND_MIB} MiB)",
        before_kib / 1024,
        peak_kib / 1024
    );
    assert!(
        grown_mib < BOUND_MIB,
        "a sign-in flood grew the peak RSS by {grown_mib} MiB (bound {BOUND_MIB} MiB)"
    );
    app.running.shutdown().await;
}
