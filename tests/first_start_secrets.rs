//! The first start never prints a secret (journald and log files keep stdout and stderr):
//! the banner names the 0600 files that hold the first staff account's password and TOTP
//! secret, the demo lawyer's password and the booth certificate's PKCS#12 password, and
//! none of those values appears in what the process wrote.

use std::io::Read;
use std::time::{Duration, Instant};

#[test]
fn the_first_start_banner_and_logs_carry_no_password_or_totp_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(["serve", "--demo"])
        .args(["--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--media-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("CONFER_LOG_FORMAT")
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start confer serve");
    let credentials = dir.path().join("demo-credentials.txt");
    let deadline = Instant::now() + Duration::from_secs(120);
    // The credentials file is written before the listeners start; give the banner a moment.
    while !credentials.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let written = format!("{out}\n{err}");
    assert!(written.contains("confer is running"), "{written}");
    assert!(
        written.contains(&credentials.display().to_string()),
        "the banner names the credentials file: {written}"
    );

    let text = std::fs::read_to_string(&credentials).expect("the credentials file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Every value that follows "password" or "totp" in the file is a secret.
    let mut secrets = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            if pair[0] == "password" || pair[0] == "totp" {
                secrets.push(pair[1].to_owned());
            }
        }
    }
    let p12 = std::fs::read_dir(dir.path().join("pki/booths"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".p12.password"))
        .expect("the booth certificate's password file");
    secrets.push(std::fs::read_to_string(p12).unwrap().trim().to_owned());
    assert!(
        secrets.len() >= 4,
        "password, TOTP, lawyer, PKCS#12: {secrets:?}"
    );
    for secret in &secrets {
        assert!(secret.len() >= 8, "{secret:?}");
        assert!(
            !written.contains(secret.as_str()),
            "a secret was written to stdout or stderr"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_demo_nothing_is_seeded_but_the_first_staff_account() {
    // A production start (no `--demo`, the default): no demo lawyer, no demo visit; only
    // the first staff account that lets someone sign in to set the facility up.
    let dir = tempfile::tempdir().unwrap();
    let mut config = confer::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    assert!(!config.demo.enabled, "the demo is off unless asked for");
    config.http.addr = "127.0.0.1:0".parse().unwrap();
    config.media.addr = "127.0.0.1:0".parse().unwrap();
    config.admin.addr = "127.0.0.1:0".parse().unwrap();
    let running = confer::app::start(config).await.expect("confer starts");
    assert!(
        running.first_start.admin.is_some(),
        "the first staff account"
    );
    assert!(running.first_start.demo_lawyer.is_none(), "no demo lawyer");
    let credentials = std::fs::read_to_string(dir.path().join("demo-credentials.txt")).unwrap();
    assert!(!credentials.contains("demo-lawyer"), "{credentials}");
    running.shutdown().await;
}
