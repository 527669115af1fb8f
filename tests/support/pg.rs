//! A real PostgreSQL (Debian package `postgresql`) for the tests that run the store
//! against both backends: `initdb` in a temporary directory, then `postgres` on a free
//! loopback port. One server per test binary ([`server`]); each test gets a database
//! of its own inside it ([`PgServer::database`], `CREATE DATABASE t_<random>`).
//!
//! PostgreSQL refuses to run as root (and CI runs as root): then `initdb` and `postgres`
//! run as `nobody` (`setpriv`), in a directory handed to it. The server of [`server`]
//! lives in a static, which Rust never drops: a watchdog shell next to it stops it
//! (`SIGINT`, fast shutdown) and removes its directory as soon as the test process is
//! gone. A [`PgServer`] owned normally is stopped in `Drop`.
//!
//! Under `CI=true` a missing PostgreSQL is a failure, not a skip. Test-only settings:
//! `trust` authentication on 127.0.0.1, nothing else listening.

#![allow(dead_code)] // every test binary uses a different subset

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where Debian's `postgresql` package puts the server binaries (newest version first).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists() && p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The server binaries, or `None` (a skip) when PostgreSQL is missing outside CI.
pub fn postgres_or_fail() -> Option<PathBuf> {
    if let Some(dir) = bin_dir() {
        return Some(dir);
    }
    let msg = "PostgreSQL tests need the server: `apt-get install postgresql`";
    if in_ci() {
        panic!("{msg} (CI=true: a missing PostgreSQL is a failure)");
    }
    eprintln!("skipping the PostgreSQL half: {msg}");
    None
}

pub struct PgServer {
    child: Option<Child>,
    /// The watchdog of a static server (stops it when the test process is gone).
    watchdog: Option<Child>,
    dir: PathBuf,
    pub port: u16,
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGINT: PostgreSQL's fast shutdown.
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A command run as `nobody` when this process is root (PostgreSQL refuses root).
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

/// How a start of `postgres` ended (see [`PgServer::start`]).
enum Ready {
    Yes,
    /// It exited because another socket held its port.
    PortTaken,
    /// It exited for another reason; its log.
    Exited(String),
}

impl PgServer {
    /// `initdb` and start a server; `None` (a skip) when PostgreSQL is missing outside CI.
    /// `watch`: also start the watchdog (for a server that is never dropped).
    pub fn start(watch: bool) -> Option<PgServer> {
        Self::start_on(watch, std::iter::repeat_with(free_port))
    }

    /// [`PgServer::start`] on the first of `ports` that postgres can bind (a port taken
    /// between the pick and postgres's bind is passed over; at most five are tried).
    pub fn start_on(watch: bool, ports: impl IntoIterator<Item = u16>) -> Option<PgServer> {
        let bin = postgres_or_fail()?;
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let dir = tempfile::Builder::new()
            .prefix("confer-pg-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let data = dir.join("data");
        if root {
            let ok = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(ok.success(), "chown of the PostgreSQL directory");
        }
        let out = as_server_user(&bin.join("initdb"), root)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ])
            .env("LC_ALL", "C")
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The port is free when picked, and taken again when postgres binds it: another
        // socket of the machine may get it in between. A server that exits for that is
        // started again on another port; one that exits for anything else fails at once.
        const TRIES: usize = 5;
        for port in ports.into_iter().take(TRIES) {
            let mut server = Self::spawn(&bin, &data, &dir, port, root, watch);
            match server.wait_ready(&bin) {
                Ready::Yes => return Some(server),
                Ready::PortTaken => server.abandon(),
                Ready::Exited(log) => panic!("PostgreSQL exited while starting: {log}"),
            }
        }
        panic!("PostgreSQL found its port taken {TRIES} times");
    }

    /// Start `postgres` on `data` at `port` (and, with `watch`, its watchdog).
    fn spawn(bin: &Path, data: &Path, dir: &Path, port: u16, root: bool, watch: bool) -> PgServer {
        let log = std::fs::File::create(dir.join("postgres.log")).expect("log file");
        if root {
            let _ = Command::new("chown")
                .arg("nobody:nogroup")
                .arg(dir.join("postgres.log"))
                .status();
        }
        let child = as_server_user(&bin.join("postgres"), root)
            .arg("-D")
            .arg(data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.display()))
            // Room for 64 writers on several "nodes" plus the test databases.
            .args(["-c", "max_connections=300", "-c", "shared_buffers=32MB"])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let watchdog = watch.then(|| {
            // Stops the server and removes its directory once this process is gone.
            let script = format!(
                "while [ -d /proc/{me} ]; do sleep 1; done; kill -INT {pg} 2>/dev/null; \
                 for i in $(seq 1 100); do [ -d /proc/{pg} ] || break; sleep 0.1; done; \
                 kill -KILL {pg} 2>/dev/null; rm -rf '{dir}'",
                me = std::process::id(),
                pg = child.id(),
                dir = dir.display()
            );
            Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the PostgreSQL watchdog")
        });
        PgServer {
            child: Some(child),
            watchdog,
            dir: dir.to_path_buf(),
            port,
        }
    }

    /// Let go of a server that exited on start, keeping its directory (the data `initdb`
    /// wrote) for the next try.
    fn abandon(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        // Drop removes `dir`: an empty path is nothing to remove.
        self.dir = PathBuf::new();
    }

    /// Wait until `pg_isready` says the server is ready (it accepts connections before it
    /// is), or it has exited.
    fn wait_ready(&mut self, bin: &Path) -> Ready {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ready::Yes;
            }
            let log = || std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited {
                let log = log();
                return if log.contains("Address already in use") {
                    Ready::PortTaken
                } else {
                    Ready::Exited(log)
                };
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not become ready within 60 s: {}",
                log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The URL of the server's `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fresh, empty database of this server; its URL.
    pub async fn database(&self) -> String {
        use sqlx::Connection;
        let name = format!("t_{:016x}", rand_u64());
        let mut conn = sqlx::PgConnection::connect(&self.admin_url())
            .await
            .expect("connect to the test PostgreSQL");
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create a test database");
        let _ = conn.close().await;
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    u64::from_le_bytes(b)
}

/// This test binary's server, started on first use; `None` (a skip) when PostgreSQL is
/// missing outside CI.
pub fn server() -> Option<&'static PgServer> {
    static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
    SERVER.get_or_init(|| PgServer::start(true)).as_ref()
}

/// A fresh database on this binary's server, or `None` (a skip, outside CI only).
pub async fn database() -> Option<String> {
    let server = tokio::task::spawn_blocking(server)
        .await
        .expect("start PostgreSQL")?;
    Some(server.database().await)
}
