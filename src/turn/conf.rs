//! `confer turn-config`: the coturn configuration (turnserver.conf) that goes with confer's
//! own (R-REMOTE-2). coturn is the relay; confer only issues its credentials. The file
//! makes coturn:
//!
//! - accept only TURN REST credentials made with confer's shared secret
//!   (`use-auth-secret`, `static-auth-secret`), so only admitted participants relay, and
//!   only until their slot ends;
//! - relay only towards confer's own media addresses: every peer address is denied
//!   (`denied-peer-ip` over all of IPv4 and IPv6) except the SFU's media IPs
//!   (`allowed-peer-ip`); no multicast, no TCP relays, loopback only when the media address
//!   itself is loopback (tests). No open relay;
//! - listen for TURN over TLS on 443 (through firewalls that allow only HTTPS), plain TURN
//!   only when `turn.plain_port` is set, no DTLS, no CLI, no TLS 1.0/1.1.
//!
//! Pure: the caller reads the secret and gives the certificate paths.

use crate::config::Config;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The certificate and key coturn presents on its TLS port: `[tls] cert/key`, or the
/// development certificate under the data directory.
pub fn tls_paths(config: &Config) -> (PathBuf, PathBuf) {
    let pki = config.data_dir.join("pki");
    (
        config
            .tls
            .cert
            .clone()
            .unwrap_or_else(|| pki.join("server.pem")),
        config
            .tls
            .key
            .clone()
            .unwrap_or_else(|| pki.join("server.key")),
    )
}

/// The addresses coturn may relay to: the SFU's media IPs (the host candidates it offers).
pub fn media_peers(config: &Config) -> Result<Vec<IpAddr>, String> {
    if !config.media.public_ips.is_empty() {
        return Ok(config.media.public_ips.clone());
    }
    let ip = config.media.addr.ip();
    if ip.is_unspecified() {
        return Err("media.addr listens on every address: set media.public_ips so that coturn relays only to the media addresses".into());
    }
    Ok(vec![ip])
}

/// The turnserver.conf text for `config`, with `secret` as coturn's static auth secret.
pub fn render(config: &Config, secret: &str, cert: &Path, key: &Path) -> Result<String, String> {
    let t = &config.turn;
    if !super::credentials::valid_secret(secret) {
        return Err("the TURN shared secret must be at least 32 letters or digits".into());
    }
    let peers = media_peers(config)?;
    let path = |p: &Path| -> Result<String, String> {
        let s = p.display().to_string();
        if s.chars().any(|c| c.is_whitespace() || c == '#') {
            return Err(format!("coturn cannot read the path {s:?} (spaces or #)"));
        }
        Ok(s)
    };
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line("# coturn configuration for confer's TURN relay (R-REMOTE-2), written by".into());
    line("# `confer turn-config`. Run it again after changing confer's configuration;".into());
    line("# it holds the shared secret: keep it readable by coturn only (0600).".into());
    line(format!("realm={}", t.realm));
    if !t.listen_ip.is_unspecified() {
        line(format!("listening-ip={}", t.listen_ip));
    }
    line(format!("tls-listening-port={}", t.tls_port));
    match t.plain_port {
        Some(p) => line(format!("listening-port={p}")),
        None => {
            line("no-udp".into());
            line("no-tcp".into());
        }
    }
    line("no-dtls".into());
    if let Some(ip) = t.relay_ip {
        line(format!("relay-ip={ip}"));
    }
    if let Some(ip) = t.external_ip {
        line(format!("external-ip={ip}"));
    }
    line(format!("min-port={}", t.relay_min_port));
    line(format!("max-port={}", t.relay_max_port));
    line(format!("cert={}", path(cert)?));
    line(format!("pkey={}", path(key)?));
    line("no-tlsv1".into());
    line("no-tlsv1_1".into());
    line(
        "# Only confer's short-lived credentials (TURN REST): <expiry>:<visit>:<participant>."
            .into(),
    );
    line("use-auth-secret".into());
    line(format!("static-auth-secret={secret}"));
    line("fingerprint".into());
    line("# No open relay: every peer address is refused except confer's media addresses.".into());
    line("no-multicast-peers".into());
    line("no-tcp-relay".into());
    line("denied-peer-ip=0.0.0.0-255.255.255.255".into());
    line("denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".into());
    for ip in &peers {
        line(format!("allowed-peer-ip={ip}"));
    }
    if peers.iter().any(|ip| ip.is_loopback()) {
        line("# The media address is loopback (a test or a single-machine demo).".into());
        line("allow-loopback-peers".into());
    }
    line("# A participant holds one connection; a few allocations each are plenty.".into());
    line("user-quota=8".into());
    line("stale-nonce=600".into());
    line("no-cli".into());
    line("no-rfc5780".into());
    line("no-stun-backward-compatibility".into());
    line("no-software-attribute".into());
    line("simple-log".into());
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::default();
        c.media.public_ips = vec!["203.0.113.10".parse().unwrap()];
        c
    }

    #[test]
    fn the_relay_goes_only_to_the_media_addresses() {
        // R-REMOTE-2: no open relay.
        let c = config();
        let text = render(
            &c,
            &"a".repeat(40),
            Path::new("/c.pem"),
            Path::new("/k.pem"),
        )
        .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "denied-peer-ip=0.0.0.0-255.255.255.255",
            "allowed-peer-ip=203.0.113.10",
            "no-multicast-peers",
            "no-tcp-relay",
            "use-auth-secret",
            "no-cli",
            "tls-listening-port=443",
            "no-udp",
            "cert=/c.pem",
        ] {
            assert!(lines.contains(&want), "{want} missing in\n{text}");
        }
        assert!(!text.contains("allow-loopback-peers"));
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("allowed-peer-ip"))
                .count(),
            1
        );
    }

    #[test]
    fn no_media_address_or_a_weak_secret_is_refused() {
        let mut c = config();
        assert!(render(&c, "short", Path::new("/c"), Path::new("/k")).is_err());
        c.media.public_ips.clear();
        assert!(render(&c, &"a".repeat(40), Path::new("/c"), Path::new("/k")).is_err());
    }
}
