//! `confer serve` runs with small allocator thread caches, so that memory goes back to the
//! system after a busy hour (`memory::restart_with_small_tcaches`): glibc reads its tunables
//! only when a process starts, so the server restarts itself in place with
//! `GLIBC_TUNABLES=glibc.malloc.tcache_count=1` before any thread exists, unless the operator
//! already sized the caches. The process that serves is the one that was started (same
//! process id, same standard output), and its environment, as the kernel keeps it for the
//! running program (`/proc/PID/environ`), carries the setting. A binary given a capability
//! with `setcap` and run by another user than root starts in secure-execution mode, where
//! glibc ignores the setting and erases it: that server starts once, without it.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Start `confer serve --demo` in a fresh data dir with `tunables` (or none) in its
/// environment, wait for its banner, and return the value of `GLIBC_TUNABLES` of the process
/// that printed it.
fn tunables_of_a_running_server(tunables: Option<&str>) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    tunables_of(
        Command::new(env!("CARGO_BIN_EXE_confer")),
        dir.path(),
        tunables,
    )
}

/// [`tunables_of_a_running_server`] for the server `cmd` starts, in `data_dir`.
fn tunables_of(mut cmd: Command, data_dir: &Path, tunables: Option<&str>) -> Option<String> {
    cmd.args(["serve", "--demo"])
        .args(["--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--media-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
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
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id()));
    stop(&mut child);
    running.expect("the server printed its banner within 120 s");
    // Restarted or not, it is `confer` in ps, top and pgrep (not `exe`).
    assert_eq!(
        comm.expect("the server's /proc/PID/comm").trim_end(),
        "confer"
    );
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
fn a_restarted_server_does_not_restart_again() {
    // The restarted process carries this mark; whatever else happened to its environment,
    // it does not restart a second time.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confer"));
    cmd.env("ALLOCATOR_RESTARTED_BY_CONFER", "1");
    assert_eq!(tunables_of(cmd, dir.path(), None), None);
}

#[test]
fn an_operators_own_cache_size_stands() {
    assert_eq!(
        tunables_of_a_running_server(Some("glibc.malloc.tcache_count=7")).as_deref(),
        Some("glibc.malloc.tcache_count=7")
    );
}

/// Under `CI=true` a missing tool or user is a failure; elsewhere a skip that says so.
fn setcap_tools_or_fail() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["setcap", "setpriv"].iter().all(|t| {
        Command::new(t)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if root && tools {
        return true;
    }
    let msg = "the secure-execution test needs root, setcap (libcap2-bin) and setpriv (util-linux)";
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    false
}

#[test]
fn a_server_given_a_capability_starts_once_without_the_setting() {
    if !setcap_tools_or_fail() {
        return;
    }
    use std::os::unix::fs::{chown, PermissionsExt};
    // A copy of the binary with the capability a service needs for port 443 (the build's
    // own binary stays as it is), in a directory `nobody` can enter, and a data dir of its own.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("confer");
    std::fs::copy(env!("CARGO_BIN_EXE_confer"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new("setcap")
        .arg("cap_net_bind_service+ep")
        .arg(&binary)
        .status()
        .expect("run setcap");
    assert!(status.success(), "setcap cap_net_bind_service+ep");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chown(&data, Some(65534), Some(65534)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&binary);
    // Without the secure-mode check this server restarts for ever and never prints its
    // banner: glibc erases the variable it was restarted with.
    assert_eq!(tunables_of(cmd, &data, None), None);
}
