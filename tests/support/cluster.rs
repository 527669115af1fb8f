//! A second confer node beside a test app: the same PostgreSQL database, the same keys and
//! certificates (a deployment gives every node the same ones), its own data dir and ports.

#![allow(dead_code)] // every test binary uses a different subset

use crate::app;

/// Copy a directory tree (files keep their modes): a second node gets the first one's keys
/// and certificates, as a deployment gives every node the same ones.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A second node beside `first`: same database, same keys and certificates.
pub async fn second_node(
    first: &app::TestApp,
    id: &str,
) -> (confer::app::Running, tempfile::TempDir) {
    second_node_with(first, id, |_| {}).await
}

/// [`second_node`] with `tweak` applied to its configuration (before it is validated).
pub async fn second_node_with(
    first: &app::TestApp,
    id: &str,
    tweak: impl FnOnce(&mut confer::config::Config),
) -> (confer::app::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["keys", "pki"] {
        copy_tree(&first.data_dir.path().join(sub), &dir.path().join(sub));
    }
    let mut config = confer::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.http.addr = "127.0.0.1:0".parse().unwrap();
    config.media.addr = "127.0.0.1:0".parse().unwrap();
    config.admin.addr = "127.0.0.1:0".parse().unwrap();
    config.store.url = first.store_url.clone();
    config.node.id = Some(id.into());
    config.audit.append_timeout_ms = 30_000;
    tweak(&mut config);
    config.validate().unwrap();
    let running = confer::app::start(config)
        .await
        .expect("the second node starts");
    (running, dir)
}

/// A node as the real binary (`confer serve`) in its own process, so that a test can kill
/// it outright: `first`'s database, keys and certificates, its own data dir and ports.
pub struct ProcessNode {
    pub child: std::process::Child,
    pub dir: tempfile::TempDir,
}

impl ProcessNode {
    pub fn start(first: &app::TestApp, id: &str) -> ProcessNode {
        ProcessNode::start_with(first, id, "")
    }

    /// [`ProcessNode::start`] with `extra` appended to its `confer.toml` (whole sections,
    /// e.g. `[oversight]`).
    pub fn start_with(first: &app::TestApp, id: &str, extra: &str) -> ProcessNode {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        for sub in ["keys", "pki"] {
            copy_tree(&first.data_dir.path().join(sub), &data.join(sub));
        }
        let config = dir.path().join("confer.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\n[http]\naddr = \"127.0.0.1:0\"\n[media]\naddr = \"127.0.0.1:0\"\n\
                 [admin]\naddr = \"127.0.0.1:0\"\n[store]\nurl = {:?}\n[node]\nid = {:?}\n\
                 [audit]\nappend_timeout_ms = 30000\n{}",
                data.to_str().unwrap(),
                first.store_url.clone().unwrap(),
                id,
                extra
            ),
        )
        .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_confer"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a node");
        ProcessNode { child, dir }
    }

    /// SIGKILL: no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        self.kill();
    }
}
