//! A real coturn (`turnserver`, Debian package `coturn`) for one test (R-REMOTE-2): its
//! configuration is what `confer turn-config` writes for the test server's configuration
//! (`confer::turn::write_coturn_config`), plus the paths of a temporary directory (pid
//! file, log, user database), so tests exercise the production file. It listens for TURN
//! over TLS with the test server's certificate (the suite's development CA). The process
//! is killed when the [`Coturn`] is dropped, even on panic.
//!
//! Under `CI=true` a missing `turnserver` is a failure, not a skip.

#![allow(dead_code)] // every test binary uses a different subset

use confer::config::Config;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Coturn {
    child: Child,
    /// The TLS listener (`turns:`).
    pub tls_addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `turnserver`'s path, or `None` (a skip) when it is missing outside CI.
pub fn turnserver_or_fail() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/turnserver");
    if path.exists() {
        return Some(path);
    }
    let msg = "TURN tests need coturn's turnserver: `apt-get install coturn`";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

/// A TCP port free on `ip` right now.
pub fn free_tcp_port(ip: IpAddr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

/// Set `config` up for a coturn on `ip:tls_port` (TLS only), relaying from `ip`.
pub fn configure(config: &mut Config, ip: IpAddr, tls_port: u16) {
    config.turn.enabled = true;
    config.turn.urls = vec![format!("turns:{ip}:{tls_port}?transport=tcp")];
    config.turn.listen_ip = ip;
    config.turn.relay_ip = Some(ip);
    config.turn.tls_port = tls_port;
    // A relay port range of this test's own (coturn skips ports in use anyway).
    let base = 20_000 + (std::process::id() % 200) as u16 * 100 + (tls_port % 97);
    config.turn.relay_min_port = base;
    config.turn.relay_max_port = base + 99;
}

impl Coturn {
    /// Start coturn with `confer turn-config`'s file for `config` (the running server's).
    pub fn start(config: &Config) -> Coturn {
        let turnserver = turnserver_or_fail().expect("turnserver (checked by the caller)");
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("turnserver.conf");
        confer::turn::write_coturn_config(config, &conf).expect("confer writes coturn's config");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        for (k, v) in [
            ("pidfile", dir.path().join("turnserver.pid")),
            ("log-file", dir.path().join("turn.log")),
            ("userdb", dir.path().join("turndb")),
        ] {
            text.push_str(&format!("{k}={}\n", v.display()));
        }
        text.push_str("verbose\n");
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(turnserver)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let tls_addr = SocketAddr::new(
            if config.turn.listen_ip.is_unspecified() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                config.turn.listen_ip
            },
            config.turn.tls_port,
        );
        let mut coturn = Coturn {
            child,
            tls_addr,
            dir,
            conf,
        };
        coturn.wait_listening(Duration::from_secs(10));
        coturn
    }

    fn wait_listening(&mut self, limit: Duration) {
        let until = Instant::now() + limit;
        loop {
            if std::net::TcpStream::connect_timeout(&self.tls_addr, Duration::from_millis(200))
                .is_ok()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("turnserver exited ({status}); log:\n{}", self.log());
            }
            if Instant::now() > until {
                panic!(
                    "turnserver does not listen on {}; log:\n{}",
                    self.tls_addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// coturn's log so far (for failure messages).
    pub fn log(&self) -> String {
        log_in(self.dir.path())
    }
}

fn log_in(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("turn"))
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}
