//! A network namespace for one test (R-REMOTE-2: hostile office and home networks): a
//! veth pair between it and the root namespace (`10.201.N.1` on the root side, `.2` inside),
//! and an nftables ruleset inside it that plays the network's firewall (no UDP at all, or
//! only TCP to a few address:port pairs). Processes run inside it with
//! [`NetNs::command`]. Names are unique per test; dropping the [`NetNs`] (also while a
//! test panics) kills what still runs inside and deletes the namespace and its veth pair.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); under `CI=true` a missing tool is a
//! failure, not a skip.

#![allow(dead_code)] // every test binary uses a different subset

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct NetNs {
    pub name: String,
    /// The root namespace's end of the veth pair (servers listen here).
    pub root_ip: Ipv4Addr,
    /// The namespace's own address.
    pub ns_ip: Ipv4Addr,
    root_link: String,
}

/// Whether the tools are there; `None` (a skip) outside CI, a panic under `CI=true`.
pub fn tools_or_fail() -> Option<()> {
    let missing: Vec<&str> = [("ip", "iproute2"), ("nft", "nftables")]
        .into_iter()
        .filter(|(tool, _)| {
            !Command::new(tool)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|(_, package)| package)
        .collect();
    let root = unsafe { libc::geteuid() } == 0;
    if missing.is_empty() && root {
        return Some(());
    }
    let msg = format!(
        "hostile-network tests need root and {missing:?} (`apt-get install iproute2 nftables`)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl NetNs {
    /// A new namespace joined to the root namespace by a veth pair on a free /30.
    pub fn create() -> NetNs {
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("cf{pid}x{n}");
        let id = format!("{:x}{n}", pid % 0xfffff);
        let (root_link, ns_link) = (format!("cfr{id}"), format!("cfn{id}"));
        let used = run(&["ip", "-o", "-4", "addr", "show"]).unwrap_or_default();
        let start = (pid.wrapping_mul(7) + n * 13) % 250;
        let octet = (0..250)
            .map(|i| (start + i) % 250 + 1)
            .find(|o| !used.contains(&format!("10.201.{o}.")))
            .expect("a free 10.201.N.0/30");
        let root_ip = Ipv4Addr::new(10, 201, octet as u8, 1);
        let ns_ip = Ipv4Addr::new(10, 201, octet as u8, 2);
        run(&["ip", "netns", "add", &name]).expect("ip netns add");
        let ns = NetNs {
            name: name.clone(),
            root_ip,
            ns_ip,
            root_link: root_link.clone(),
        };
        // From here on, Drop cleans up.
        let steps: Vec<Vec<String>> = vec![
            vec![
                "ip", "link", "add", &root_link, "type", "veth", "peer", "name", &ns_link,
            ],
            vec!["ip", "link", "set", &ns_link, "netns", &name],
            vec![
                "ip",
                "addr",
                "add",
                &format!("{root_ip}/30"),
                "dev",
                &root_link,
            ],
            vec!["ip", "link", "set", &root_link, "up"],
            vec![
                "ip",
                "-n",
                &name,
                "addr",
                "add",
                &format!("{ns_ip}/30"),
                "dev",
                &ns_link,
            ],
            vec!["ip", "-n", &name, "link", "set", &ns_link, "up"],
            vec!["ip", "-n", &name, "link", "set", "lo", "up"],
        ]
        .into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect();
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            run(&args).unwrap_or_else(|e| panic!("setting up {name}: {e}"));
        }
        ns
    }

    pub fn root(&self) -> IpAddr {
        IpAddr::V4(self.root_ip)
    }

    /// Load an nftables ruleset inside the namespace (the network's firewall).
    pub fn firewall(&self, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ruleset.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nft in {}: {}\n{ruleset}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A firewall that drops every UDP datagram in and out (loopback aside): a network
    /// that lets only TCP through.
    pub fn drop_all_udp(&self) {
        self.firewall(
            "table inet confer_net {
               chain out { type filter hook output priority 0; policy accept;
                 oifname \"lo\" accept; meta l4proto udp drop; }
               chain inp { type filter hook input priority 0; policy accept;
                 iifname \"lo\" accept; meta l4proto udp drop; }
             }",
        );
    }

    /// A firewall that lets out only TCP to `allowed` (address, port) pairs (answers to
    /// connections made from outside, such as the WebDriver's, still pass): a network that
    /// allows only HTTPS to a few servers.
    pub fn only_tcp_to(&self, allowed: &[(IpAddr, u16)]) {
        let rules: String = allowed
            .iter()
            .map(|(ip, port)| format!("ip daddr {ip} tcp dport {port} accept;\n"))
            .collect();
        self.firewall(&format!(
            "table inet confer_net {{
               chain out {{ type filter hook output priority 0; policy drop;
                 oifname \"lo\" accept; ct state established,related accept;
                 {rules} }}
               chain inp {{ type filter hook input priority 0; policy accept;
                 iifname \"lo\" accept; meta l4proto udp drop; }}
             }}"
        ));
    }

    /// `ip netns exec <name> <program>`: a command that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Whatever still runs inside (it was started by this test).
        if let Ok(pids) = run(&["ip", "netns", "pids", &self.name]) {
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: kill(2) on a process inside this test's own namespace.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        let _ = run(&["ip", "netns", "del", &self.name]);
        let _ = run(&["ip", "link", "del", &self.root_link]);
    }
}
