//! The installable forms of confer hold together: the Debian package's assets exist, the
//! systemd unit starts the binary the package installs with the configuration it installs,
//! keeps its hardening, and that configuration is one `confer serve` accepts as it is.
//! (Building the package or the image is documented in packaging/README.md, not done here.)

use figment::providers::{Format, Toml};
use figment::Figment;
use serde_json::Value;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn deb_metadata() -> Value {
    let manifest: Value = Figment::from(Toml::file(root().join("Cargo.toml")))
        .extract()
        .expect("Cargo.toml parses");
    manifest["package"]["metadata"]["deb"].clone()
}

fn unit() -> String {
    std::fs::read_to_string(root().join("packaging/confer.service")).expect("the unit file")
}

/// The values of `Key=` lines of the unit (a key may repeat).
fn unit_values(key: &str) -> Vec<String> {
    unit()
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_package_asset_exists_and_the_unit_runs_what_the_package_installs() {
    let deb = deb_metadata();
    let assets = deb["assets"].as_array().expect("assets");
    let mut destinations = Vec::new();
    for asset in assets {
        let source = asset[0].as_str().unwrap();
        let dest = asset[1].as_str().unwrap();
        // The binary is built by `cargo deb`; everything else is in the repository.
        if source != "target/release/confer" {
            assert!(
                root().join(source).is_file(),
                "package asset {source} missing"
            );
        }
        let dest = if dest.ends_with('/') {
            format!(
                "/{dest}{}",
                Path::new(source).file_name().unwrap().to_string_lossy()
            )
        } else {
            format!("/{dest}")
        };
        destinations.push(dest);
    }
    assert!(destinations.contains(&"/usr/bin/confer".to_owned()));
    assert!(destinations.contains(&"/etc/confer/confer.toml".to_owned()));
    assert_eq!(
        deb["conf-files"],
        serde_json::json!(["/etc/confer/confer.toml"])
    );
    for script in ["postinst", "postrm"] {
        let text = std::fs::read_to_string(root().join("packaging/debian").join(script)).unwrap();
        assert!(
            text.contains("#DEBHELPER#"),
            "{script} lacks the #DEBHELPER# token"
        );
    }
    assert_eq!(
        unit_values("ExecStart"),
        ["/usr/bin/confer serve --config /etc/confer/confer.toml"]
    );
}

#[test]
fn the_unit_runs_with_least_privilege() {
    assert_eq!(unit_values("User"), ["confer"]);
    // Only the right to bind a port below 1024 (443), nothing else.
    assert_eq!(
        unit_values("CapabilityBoundingSet"),
        ["CAP_NET_BIND_SERVICE"]
    );
    assert_eq!(unit_values("AmbientCapabilities"), ["CAP_NET_BIND_SERVICE"]);
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("StateDirectory", "confer"),
        ("UMask", "0077"),
        // A bad configuration (exit 64) is not restarted in a loop.
        ("RestartPreventExitStatus", "64"),
    ] {
        assert_eq!(unit_values(key), [value], "{key}");
    }
}

#[test]
fn the_packaged_configuration_is_accepted_and_turns_the_demo_off() {
    let config = confer::config::Config::load(
        Some(&root().join("packaging/confer.toml")),
        &confer::config::Overrides::default(),
    )
    .expect("packaging/confer.toml is a valid configuration");
    assert_eq!(config.data_dir, Path::new("/var/lib/confer"));
    assert!(!config.demo.enabled, "the demo is never on in the package");
    assert!(
        config.admin.addr.ip().is_loopback(),
        "the admin listener stays on loopback"
    );
    // The same file in the OCI image (Containerfile copies it there).
    let containerfile = std::fs::read_to_string(root().join("Containerfile")).unwrap();
    assert!(containerfile.contains("COPY packaging/confer.toml /etc/confer/confer.toml"));
}
