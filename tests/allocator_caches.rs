//! `confer serve` runs with small allocator thread caches, so that memory goes back to the
//! system after a busy hour (`memory::restart_with_small_tcaches`): glibc reads its tunables
//! only when a process starts, so the server restarts itself in place with
//! `GLIBC_TUNABLES=glibc.malloc.tcache_count=1` before any thread exists, unless the operator
//! already sized the caches. The process that serves is the one that was started (same
//! process id, same standard output), and its environment, as the kernel keeps it for the
//! running program (`/proc/PID/environ`), carries the setting.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Start `confer serve --demo` in a fresh data dir with `tunables` (or none) in its
/// environment, wait for its banner, and return the value of `GLIBC_TUNABLES` of the process
/// that printed it.
fn tunables_of_a_running_server(tunables: Option<&str>) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confer"));
    cmd.args(["serve", "--demo"])
        .args(["--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--media-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("CONFER_LOG_FORMAT")
        .env_remove("GLIBC_TUNABLES")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(t) = tunables {
        cmd.env("GLIBC_TUNABLES", t);
    }
    let mut child = cmd.spawn().expect("start confer serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("confer is running") {
                let _ = tx.send(());
            }
        }
    });
    let running = rx.recv_timeout(Duration::from_secs(120));
    let environ = std::fs::read(format!("/proc/{}/environ", child.id()));
    stop(&mut child);
    running.expect("the server printed its banner within 120 s");
    let environ = environ.expect("the server's /proc/PID/environ");
    // glibc 2.36 parses GLIBC_TUNABLES in the program's original environment block, ending
    // each tunable's value in place with a NUL (the copy it leaves in `environ` is whole), so
    // there the value reads as pieces; each tunable's name starts with "glibc.".
    let mut entries = environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok());
    let first = entries.find_map(|kv| kv.strip_prefix("GLIBC_TUNABLES="))?;
    let mut value = first.to_owned();
    for piece in entries.take_while(|kv| kv.starts_with("glibc.")) {
        value.push(':');
        value.push_str(piece);
    }
    Some(value)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_server_runs_with_small_thread_caches() {
    assert_eq!(
        tunables_of_a_running_server(None).as_deref(),
        Some("glibc.malloc.tcache_count=1"),
        "the server restarted itself with the thread caches sized"
    );
    // Other tunables the operator set are kept, and the size is added after them.
    assert_eq!(
        tunables_of_a_running_server(Some("glibc.malloc.arena_max=4")).as_deref(),
        Some("glibc.malloc.arena_max=4:glibc.malloc.tcache_count=1")
    );
}

#[test]
fn an_operators_own_cache_size_stands() {
    assert_eq!(
        tunables_of_a_running_server(Some("glibc.malloc.tcache_count=7")).as_deref(),
        Some("glibc.malloc.tcache_count=7")
    );
}
