//! One typed [`Config`], layered: built-in defaults, then a TOML file (`--config`), then
//! environment variables (`CONFER_HTTP__ADDR=...`, sections separated by `__`), then
//! command-line flags. It is loaded and validated before any port is bound; an invalid
//! configuration is reported as one clear line and the process exits with code 64
//! (`EX_USAGE`), before touching the network.
//!
//! This module does not read certificates or open the database; it only checks that the
//! settings make sense together.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Exit code for a configuration error (sysexits `EX_USAGE`).
pub const EXIT_BAD_CONFIG: i32 = 64;

/// The longest a join token may live (R-VERIFY-4; at most 2 minutes).
pub const MAX_JOIN_TOKEN_TTL_SECS: u64 = 120;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, keys and development certificates live.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub media: MediaSection,
    pub admin: AdminSection,
    pub tls: TlsSection,
    pub auth: AuthSection,
    pub demo: DemoSection,
    pub audit: AuditSection,
    pub licence: LicenceSection,
    /// Running visits: the warnings before the slot end (R-ARRANGE-4), and how long an
    /// interrupted participant keeps its seat (R-REMOTE-2).
    pub visit: VisitSection,
    /// The signalling WebSocket's keepalive (R-REMOTE-2).
    pub signaling: SignalingSection,
    /// Where violation reports go (R-CONDUCT-2).
    pub oversight: OversightSection,
    /// The facility's public complaint contact (R-COMPLAIN-1).
    pub facility: FacilitySection,
    /// The TURN relay (coturn) for networks that allow only TLS to port 443 (R-REMOTE-2).
    pub turn: TurnSection,
    /// The data dir's free-space watermark (`src/disk.rs`).
    pub storage: StorageSection,
    /// Where the database is: embedded SQLite under `data_dir` (default) or PostgreSQL.
    pub store: StoreSection,
    /// This node in the cluster's registry (`cluster`, `store::nodes`).
    pub node: NodeSection,
}

/// Whether `id` can name a node: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `[node]`: how this node names itself in the registry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Stable id of this node (letters, digits, `-`, `_`, `.`; at most 64). Unset: a random
    /// id kept in `<data_dir>/node-id`, made on first start.
    pub id: Option<String>,
    /// Where participants reach this node's public listener, e.g. `https://n1.example:8443`.
    /// Unset: `https://<http.addr>`.
    pub public_url: Option<String>,
    /// Visits this node takes at most; 0 (default): not said, placement counts live visits.
    pub capacity: u32,
}

/// `[store]`: which database confer uses (docs/DESIGN.md "The store's two backends").
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `postgres://user:password@host:port/database` to use PostgreSQL (the audit chain
    /// goes into its schema `confer_audit`); unset: SQLite files under `data_dir`.
    /// Also `CONFER_STORE__URL`.
    pub url: Option<String>,
}

impl std::fmt::Debug for StoreSection {
    // The URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSection")
            .field("url", &self.url.as_deref().map(crate::redact::database_url))
            .finish()
    }
}

/// The TURN relay confer hands credentials for (R-REMOTE-2). confer does not relay itself:
/// coturn does, configured by `confer turn-config` from these settings (`src/turn/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TurnSection {
    /// Hand TURN credentials with every admitted join (`joined.ice_servers`).
    pub enabled: bool,
    /// The TURN URLs clients are given, e.g. `turns:media.example.cn:443?transport=tcp`
    /// and optionally `turn:media.example.cn:3478?transport=udp`.
    pub urls: Vec<String>,
    /// The shared secret of TURN REST credentials (coturn `static-auth-secret`). Unset:
    /// `<data_dir>/keys/turn-secret`, created (0600) on first use.
    pub secret_file: Option<PathBuf>,
    /// coturn's realm (also the realm clients see).
    pub realm: String,
    /// The address coturn listens on (`listening-ip`); unspecified: every address.
    pub listen_ip: IpAddr,
    /// coturn's TURN-over-TLS port (`tls-listening-port`), 443 so that it passes firewalls
    /// that allow only HTTPS.
    pub tls_port: u16,
    /// coturn's plain TURN port (UDP and TCP, `listening-port`). Unset: no plain listener.
    pub plain_port: Option<u16>,
    /// The address coturn relays from (`relay-ip`); unset: coturn's choice.
    pub relay_ip: Option<IpAddr>,
    /// The public address of a relay behind 1:1 NAT (`external-ip`).
    pub external_ip: Option<IpAddr>,
    /// The UDP port range coturn relays from (`min-port`, `max-port`).
    pub relay_min_port: u16,
    pub relay_max_port: u16,
}

impl Default for TurnSection {
    fn default() -> Self {
        TurnSection {
            enabled: false,
            urls: Vec::new(),
            secret_file: None,
            realm: "confer".into(),
            listen_ip: IpAddr::from([0, 0, 0, 0]),
            tls_port: 443,
            plain_port: None,
            relay_ip: None,
            external_ip: None,
            relay_min_port: 49152,
            relay_max_port: 65535,
        }
    }
}

impl TurnSection {
    /// Where the shared secret lives (see [`Self::secret_file`]).
    pub fn secret_path(&self, data_dir: &Path) -> PathBuf {
        self.secret_file
            .clone()
            .unwrap_or_else(|| data_dir.join("keys").join("turn-secret"))
    }
}

/// Where lawyer licences are checked (R-VERIFY-1) and how suspected impersonation is handled
/// (R-VERIFY-3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LicenceSection {
    /// `local`: the registry export imported with `confer registry import`; `http`: a remote
    /// registry service at `registry_url`.
    pub registry: RegistrySource,
    /// Base URL of the remote registry (`https://...`), for `registry = "http"`.
    pub registry_url: Option<String>,
    /// CA certificate(s), PEM, that the remote registry's certificate must chain to.
    pub registry_ca: Option<PathBuf>,
    /// Bound on one registry request, in milliseconds.
    pub registry_timeout_ms: u64,
    /// Extra attempts after a failed registry request.
    pub registry_retries: u32,
    /// Allow an `http://` registry URL (no TLS): tests and demos on loopback only.
    pub dangerous_plain_http: bool,
    /// How long a positive registry answer is reused, in seconds (default 10 minutes). A
    /// suspension or revocation reaches a running visit within this time.
    pub cache_secs: u64,
    /// A cached positive answer is used only while the registry's own data behind it
    /// (`data_as_of`) is at most this old, in seconds (default one day): an outage never
    /// admits on data the registry itself had not refreshed for longer (R-VERIFY-1).
    pub cache_max_data_age_secs: u64,
    /// Possible-impersonation alerts on one account within `alert_window_secs` that lock it.
    pub lock_after_alerts: u32,
    pub alert_window_secs: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RegistrySource {
    Local,
    Http,
}

impl Default for LicenceSection {
    fn default() -> Self {
        LicenceSection {
            registry: RegistrySource::Local,
            registry_url: None,
            registry_ca: None,
            registry_timeout_ms: 2000,
            registry_retries: 2,
            dangerous_plain_http: false,
            cache_secs: 600,
            cache_max_data_age_secs: 24 * 3600,
            lock_after_alerts: 3,
            alert_window_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OversightSection {
    /// Webhook (HTTPS, or HTTP on loopback) receiving violation reports for the lawyer's
    /// law firm. Unset: reports to it wait in the outbox until it is configured.
    pub law_firm_url: Option<String>,
    /// ... for the justice bureau.
    pub justice_bureau_url: Option<String>,
    /// ... for the bar association.
    pub bar_association_url: Option<String>,
    /// CA certificates (PEM) trusted for the webhooks' HTTPS; there are no built-in roots.
    pub ca_file: Option<PathBuf>,
    /// The first retry waits this long (ms); each next one twice as long ...
    pub retry_base_ms: u64,
    /// ... but never longer than this (ms).
    pub retry_max_ms: u64,
}

impl Default for OversightSection {
    fn default() -> Self {
        OversightSection {
            law_firm_url: None,
            justice_bureau_url: None,
            bar_association_url: None,
            ca_file: None,
            retry_base_ms: 2_000,
            retry_max_ms: 15 * 60 * 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VisitSection {
    /// Seconds before the slot end at which every participant is warned (default 5 minutes
    /// and 1 minute). The server ends the visit at the slot end whatever the browser does.
    pub warning_secs: Vec<u64>,
    /// How long a participant whose connection was interrupted keeps its seat, in seconds
    /// (default 60). The others are told `participant_reconnecting` at once, then
    /// `participant_joined` if it returns, or `participant_left` when this time is over
    /// (R-REMOTE-2).
    pub reconnect_grace_secs: u64,
    /// No media from a connected participant for this many seconds interrupts it (default
    /// 5; at most 8, so that the others are told within 10 s, R-REMOTE-2).
    pub media_silence_secs: u64,
}

impl Default for VisitSection {
    fn default() -> Self {
        VisitSection {
            warning_secs: vec![300, 60],
            reconnect_grace_secs: 60,
            media_silence_secs: 5,
        }
    }
}

/// The longest allowed `visit.media_silence_secs`: the silence, plus up to a second until
/// the media plane's next published stats, must stay within the 10 s in which the others
/// are told (R-REMOTE-2).
pub const MAX_MEDIA_SILENCE_SECS: u64 = 8;

/// The signalling keepalive (R-REMOTE-2): the server pings every `/ws` connection and
/// closes one from which nothing arrived for `dead_after_secs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SignalingSection {
    /// Seconds between the server's WebSocket Pings (default 5).
    pub ping_interval_secs: u64,
    /// A connection from which no frame (not even a Pong) arrived for this many seconds is
    /// dead and closed (default 15; at least twice the ping interval, at most 15).
    pub dead_after_secs: u64,
}

impl Default for SignalingSection {
    fn default() -> Self {
        SignalingSection {
            ping_interval_secs: 5,
            dead_after_secs: 15,
        }
    }
}

/// The longest allowed `signaling.dead_after_secs`: a dead connection is detected within
/// 15 s (R-REMOTE-2).
pub const MAX_DEAD_AFTER_SECS: u64 = 15;

impl SignalingSection {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }

    pub fn dead_after(&self) -> Duration {
        Duration::from_secs(self.dead_after_secs)
    }
}

impl VisitSection {
    /// How long an interrupted participant keeps its seat (R-REMOTE-2).
    pub fn reconnect_grace(&self) -> Duration {
        Duration::from_secs(self.reconnect_grace_secs)
    }

    /// How long without media interrupts a participant (R-REMOTE-2).
    pub fn media_silence(&self) -> Duration {
        Duration::from_secs(self.media_silence_secs)
    }

    pub fn warnings(&self) -> Vec<chrono::Duration> {
        self.warning_secs
            .iter()
            .map(|s| chrono::Duration::seconds(*s as i64))
            .collect()
    }
}

impl LicenceSection {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_secs)
    }

    pub fn cache_max_data_age(&self) -> Duration {
        Duration::from_secs(self.cache_max_data_age_secs)
    }

    /// How often running visits' lawyers are checked again: half the cache time, between
    /// 1 s and 60 s, so that a withdrawal reaches a running visit well within the cache time.
    pub fn recheck_every(&self) -> Duration {
        Duration::from_millis((self.cache_secs * 1000 / 2).clamp(1000, 60_000))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FacilitySection {
    /// The department that handles lawyers' complaints, shown on the lawyer page.
    pub complaint_department: String,
    pub complaint_address: String,
    pub complaint_phone: String,
    /// The facility's time zone, an IANA name (`Asia/Shanghai`): the pages show dates and
    /// times in it, 24-hour (R-REMOTE-1, R-BOOK-1: a lawyer in another zone sees the facility's
    /// clock). The server itself keeps UTC.
    pub time_zone: String,
}

impl Default for FacilitySection {
    fn default() -> Self {
        FacilitySection {
            complaint_department: String::new(),
            complaint_address: String::new(),
            complaint_phone: String::new(),
            time_zone: "Asia/Shanghai".into(),
        }
    }
}

/// Whether `tz` looks like an IANA time zone name (`Asia/Shanghai`, `UTC`,
/// `America/Argentina/Buenos_Aires`, `Etc/GMT-8`). The server holds no zone database; the
/// browser's `Intl` resolves the name (a page falls back to the device's zone if it cannot).
pub fn plausible_time_zone(tz: &str) -> bool {
    !tz.is_empty()
        && tz.len() <= 64
        && tz.split('/').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Public HTTPS/WSS listener (lawyers and booths).
    pub addr: SocketAddr,
    /// Connection caps and timeouts of the public listener (`[http.connections]`).
    pub connections: ConnectionSection,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// UDP address for all media (one firewall port per facility).
    pub addr: SocketAddr,
    /// Addresses advertised to peers as host candidates. Empty: the machine's
    /// non-loopback addresses plus loopback.
    pub public_ips: Vec<IpAddr>,
    /// Offer ICE-TCP (passive TCP host candidates, RFC 6544) for clients whose network
    /// blocks UDP (R-REMOTE-2).
    pub tcp_enabled: bool,
    /// TCP address for ICE-TCP media. Unset: `addr`'s IP with port [`MEDIA_TCP_PORT`]
    /// (port 0 when `addr`'s port is 0, so tests never clash). Must not be the HTTPS or
    /// admin listener's TCP port.
    pub tcp_addr: Option<SocketAddr>,
    /// Open ICE-TCP connections at most (each holds a file descriptor).
    pub tcp_max_connections: usize,
    /// The UDP port peers send media to, when a NAT or port forward maps another external
    /// port onto `addr`'s port (advertised with the one address of `public_ips`, or `addr`'s
    /// IP). Unset: the bound port.
    pub public_port: Option<u16>,
    /// Media worker threads, each carrying whole visits on its own UDP port: worker `i`
    /// listens on `addr`'s port plus `i` (and ICE-TCP on `tcp_addr`'s port plus `i`), so the
    /// firewall opens that many consecutive ports. Unset: one per core, at most
    /// [`MAX_MEDIA_WORKERS`]. Set 1 for exactly one media port.
    pub workers: Option<usize>,
    /// The media fast path: forwarded SRTP is opened and sealed by confer on connected UDP
    /// legs, str0m keeps ICE, DTLS, RTCP, NACK answers and estimates. On by default; off
    /// only to compare the two paths (the load test's A/B runs).
    pub fast_path: bool,
}

/// The most media worker threads a node runs.
pub const MAX_MEDIA_WORKERS: usize = 64;

/// Default TCP port for ICE-TCP media: next to HTTPS on 8443/TCP, not on it (R-REMOTE-2).
pub const MEDIA_TCP_PORT: u16 = 8445;

impl MediaSection {
    /// How many media workers run: `workers`, or one per core.
    pub fn effective_workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, MAX_MEDIA_WORKERS)
    }

    /// Where the ICE-TCP listener binds, `None` when it is off (see [`Self::tcp_addr`]).
    pub fn effective_tcp_addr(&self) -> Option<SocketAddr> {
        if !self.tcp_enabled {
            return None;
        }
        Some(self.tcp_addr.unwrap_or_else(|| {
            let port = if self.addr.port() == 0 {
                0
            } else {
                MEDIA_TCP_PORT
            };
            SocketAddr::new(self.addr.ip(), port)
        }))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Admin listener (HTTPS); keep it on loopback or a management network.
    pub addr: SocketAddr,
    /// A staff session ends after this long without use, in seconds (default 30 minutes).
    pub session_idle_secs: u64,
    /// Bearer token a Prometheus scraper presents for `GET /metrics` (at least 32
    /// characters). Unset: only a signed-in auditor or system administrator may read it.
    pub metrics_token: Option<String>,
    /// Live-visit health alert thresholds (`[admin.health]`).
    pub health: HealthSection,
    /// Connection caps and timeouts of the admin listener (`[admin.connections]`): its
    /// own budget, so the public listener can never starve it.
    pub connections: ConnectionSection,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// Server certificate chain (PEM). Unset: the development certificate in the data dir.
    pub cert: Option<PathBuf>,
    /// Server private key (PEM). Set together with `cert`.
    pub key: Option<PathBuf>,
    /// The facility CA that issues booth client certificates (PEM). Unset: the development CA.
    pub client_ca: Option<PathBuf>,
    /// A CRL file from the facility CA (PEM or DER), each CRL signed by `client_ca`: booth
    /// certificates whose serial it lists are refused, and live visits at their booths end
    /// (R-VERIFY-4). Read again when it changes. Unset: only confer's own deny list (`confer certs revoke`).
    pub client_crl: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Lifetime of a join token, in seconds (1..=120).
    pub join_token_ttl_secs: u64,
    /// A session ends after this long without use, in seconds.
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in whatever happens, in seconds.
    pub session_max_secs: u64,
    /// Failed sign-ins allowed per account (and per client address) within the window.
    pub login_max_failures: u32,
    /// The window for counting failed sign-ins, in seconds.
    pub login_window_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSection {
    /// Seed a demo facility, booth, lawyer and a visit covering the present, so that a
    /// newcomer can hold a visit in two browser tabs. Off unless asked for (`confer serve
    /// --demo` or `demo.enabled = true`): a production server seeds nothing.
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// Sign a checkpoint after every this many audit entries.
    pub checkpoint_every_records: u64,
    /// ... and at least this often (seconds) while there are unsigned entries.
    pub checkpoint_every_secs: u64,
    /// How long audit entries must be kept, in days (at least 183, six months). confer
    /// never deletes an entry; this documents the operator's archiving duty.
    pub retention_days: u32,
    /// An audit append not confirmed within this time fails (and the action with it).
    pub append_timeout_ms: u64,
}

/// The shortest audit retention allowed (six months).
pub const MIN_AUDIT_RETENTION_DAYS: u32 = 183;

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            checkpoint_every_records: 1000,
            checkpoint_every_secs: 300,
            retention_days: MIN_AUDIT_RETENTION_DAYS,
            append_timeout_ms: 5000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            http: HttpConfig::default(),
            media: MediaSection::default(),
            admin: AdminSection::default(),
            tls: TlsSection::default(),
            auth: AuthSection::default(),
            demo: DemoSection::default(),
            audit: AuditSection::default(),
            licence: LicenceSection::default(),
            visit: VisitSection::default(),
            signaling: SignalingSection::default(),
            oversight: OversightSection::default(),
            facility: FacilitySection::default(),
            turn: TurnSection::default(),
            storage: StorageSection::default(),
            node: NodeSection::default(),
            store: StoreSection::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: ([0, 0, 0, 0], 8443).into(),
            connections: ConnectionSection::default(),
        }
    }
}

impl Default for MediaSection {
    fn default() -> Self {
        MediaSection {
            addr: ([0, 0, 0, 0], 8443).into(),
            public_ips: Vec::new(),
            tcp_enabled: true,
            tcp_addr: None,
            tcp_max_connections: 256,
            public_port: None,
            workers: None,
            fast_path: true,
        }
    }
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            addr: ([127, 0, 0, 1], 9443).into(),
            session_idle_secs: 30 * 60,
            metrics_token: None,
            health: HealthSection::default(),
            connections: ConnectionSection::admin_default(),
        }
    }
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            join_token_ttl_secs: 60,
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 60 * 60,
            login_max_failures: 5,
            login_window_secs: 15 * 60,
        }
    }
}

/// Settings given on the command line; they override file and environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub http_addr: Option<SocketAddr>,
    pub media_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    /// `--demo`: seed the demo facility (overrides `demo.enabled = false`).
    pub demo: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Load defaults < TOML file < environment (`CONFER_*`) < overrides, then validate.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        // `CONFER_LOG` is the log filter and `CONFER_LOG_FORMAT` the log format (main.rs),
        // not settings.
        Self::load_with_env(
            file,
            overrides,
            Env::prefixed("CONFER_")
                .ignore(&["LOG", "LOG_FORMAT"])
                .split("__"),
        )
    }

    fn load_with_env(
        file: Option<&Path>,
        overrides: &Overrides,
        env: Env,
    ) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(env);
        let mut config: Config = fig
            .extract()
            .map_err(|e| ConfigError::Parse(one_line(&e.to_string())))?;
        if let Some(d) = &overrides.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(a) = overrides.http_addr {
            config.http.addr = a;
        }
        if let Some(a) = overrides.media_addr {
            config.media.addr = a;
        }
        if let Some(a) = overrides.admin_addr {
            config.admin.addr = a;
        }
        if overrides.demo {
            config.demo.enabled = true;
        }
        config.validate()?;
        Ok(config)
    }

    /// Check that the settings make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |s: String| Err(ConfigError::Invalid(s));
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir must not be empty".into());
        }
        if let Some(url) = &self.store.url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return bad(format!(
                    "store.url {} is not a postgres:// URL; leave it out to use SQLite under data_dir",
                    crate::redact::database_url(url)
                ));
            }
        }
        let ttl = self.auth.join_token_ttl_secs;
        if ttl == 0 || ttl > MAX_JOIN_TOKEN_TTL_SECS {
            return bad(format!(
                "auth.join_token_ttl_secs is {ttl}; it must be between 1 and {MAX_JOIN_TOKEN_TTL_SECS}"
            ));
        }
        if self.auth.session_idle_secs == 0
            || self.auth.session_max_secs < self.auth.session_idle_secs
        {
            return bad(
                "auth.session_idle_secs must be > 0 and not longer than auth.session_max_secs"
                    .into(),
            );
        }
        for (name, c) in [
            ("http.connections", &self.http.connections),
            ("admin.connections", &self.admin.connections),
        ] {
            c.validate(name).map_err(ConfigError::Invalid)?;
        }
        if self.storage.check_every_secs == 0 {
            return bad("storage.check_every_secs must be > 0".into());
        }
        if let Some(id) = &self.node.id {
            if !valid_node_id(id) {
                return bad(format!(
                    "node.id {id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
                ));
            }
        }
        if let Some(url) = &self.node.public_url {
            if !reqwest::Url::parse(url).is_ok_and(|u| u.scheme() == "https") {
                return bad(format!("node.public_url {url:?} must be an https:// URL"));
            }
        }
        if !plausible_time_zone(&self.facility.time_zone) {
            return bad(format!(
                "facility.time_zone {:?} is not an IANA time zone name such as \"Asia/Shanghai\"",
                self.facility.time_zone
            ));
        }
        if self.auth.login_max_failures == 0 || self.auth.login_window_secs == 0 {
            return bad("auth.login_max_failures and auth.login_window_secs must be > 0".into());
        }
        let o = &self.oversight;
        for (name, url) in [
            ("law_firm_url", &o.law_firm_url),
            ("justice_bureau_url", &o.justice_bureau_url),
            ("bar_association_url", &o.bar_association_url),
        ] {
            let Some(url) = url else { continue };
            match reqwest::Url::parse(url) {
                Ok(u) if u.scheme() == "https" => {}
                Ok(u)
                    if u.scheme() == "http"
                        && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {}
                _ => {
                    return bad(format!(
                        "oversight.{name} must be an https:// URL (http:// only on loopback)"
                    ))
                }
            }
        }
        if o.retry_base_ms == 0 || o.retry_max_ms < o.retry_base_ms {
            return bad(
                "oversight.retry_base_ms must be > 0 and not above oversight.retry_max_ms".into(),
            );
        }
        if self.admin.session_idle_secs == 0 {
            return bad("admin.session_idle_secs must be > 0".into());
        }
        if self
            .admin
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.len() < 32)
        {
            return bad("admin.metrics_token must have at least 32 characters".into());
        }
        let h = &self.admin.health;
        let valid = (h.loss_pct > 0.0 && h.loss_pct < 100.0) && h.rtt_ms > 0.0;
        if !valid || h.no_media_secs == 0 {
            return bad(
                "admin.health: loss_pct must be in (0, 100), rtt_ms and no_media_secs > 0".into(),
            );
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return bad("tls.cert and tls.key must be set together".into());
        }
        for ip in &self.media.public_ips {
            if ip.is_unspecified() || ip.is_multicast() {
                return bad(format!(
                    "media.public_ips contains {ip}, which peers cannot reach; list the addresses peers should send media to"
                ));
            }
        }
        if self.media.public_port == Some(0)
            || (self.media.public_port.is_some() && self.media.public_ips.len() > 1)
        {
            return bad(
                "media.public_port must be a port (1-65535) and goes with at most one address in media.public_ips".into(),
            );
        }
        if matches!(self.media.workers, Some(w) if w == 0 || w > MAX_MEDIA_WORKERS) {
            return bad(format!(
                "media.workers must be between 1 and {MAX_MEDIA_WORKERS} (unset: one per core)"
            ));
        }
        // Worker i listens on the configured ports plus i.
        let last = self.media.effective_workers() as u32 - 1;
        let runs_past_the_end = |port: u16| port != 0 && u32::from(port) + last > 65_535;
        if runs_past_the_end(self.media.addr.port())
            || self.media.public_port.is_some_and(runs_past_the_end)
        {
            return bad(format!(
                "media.addr's port (and media.public_port) plus media.workers ({}) runs past 65535",
                last + 1
            ));
        }
        if let Some(tcp) = self.media.effective_tcp_addr() {
            if self.media.tcp_max_connections == 0 || self.media.tcp_max_connections > 65_536 {
                return bad("media.tcp_max_connections must be between 1 and 65536".into());
            }
            if runs_past_the_end(tcp.port()) {
                return bad(format!(
                    "media.tcp_addr's port plus media.workers ({}) runs past 65535",
                    last + 1
                ));
            }
            for (name, other) in [
                ("http.addr", self.http.addr),
                ("admin.addr", self.admin.addr),
            ] {
                let overlap = tcp.ip() == other.ip()
                    || tcp.ip().is_unspecified()
                    || other.ip().is_unspecified();
                let ports = u32::from(tcp.port())..=u32::from(tcp.port()) + last;
                if tcp.port() != 0 && ports.contains(&u32::from(other.port())) && overlap {
                    return bad(format!(
                        "media.tcp_addr {tcp} (one TCP port per media worker, {} in all) clashes with {name} {other}: ICE-TCP media needs TCP ports of its own",
                        last + 1
                    ));
                }
            }
        }
        let a = &self.audit;
        if a.checkpoint_every_records == 0
            || a.checkpoint_every_secs == 0
            || a.append_timeout_ms == 0
        {
            return bad("audit.checkpoint_every_records, audit.checkpoint_every_secs and audit.append_timeout_ms must be > 0".into());
        }
        if a.retention_days < MIN_AUDIT_RETENTION_DAYS {
            return bad(format!(
                "audit.retention_days is {}; audit entries must be kept at least {MIN_AUDIT_RETENTION_DAYS} days (six months)",
                a.retention_days
            ));
        }
        let l = &self.licence;
        if l.registry == RegistrySource::Http {
            match l.registry_url.as_deref() {
                None | Some("") => {
                    return bad("licence.registry is \"http\" but licence.registry_url is not set".into())
                }
                Some(u) if u.starts_with("https://") => {
                    if l.registry_ca.is_none() {
                        return bad("licence.registry_ca must name the CA file that the registry's certificate chains to".into());
                    }
                }
                Some(u) if u.starts_with("http://") && l.dangerous_plain_http => {}
                Some(_) => {
                    return bad("licence.registry_url must start with https:// (http:// only with licence.dangerous_plain_http, for tests)".into())
                }
            }
        }
        if l.registry_timeout_ms == 0
            || l.cache_secs == 0
            || l.alert_window_secs == 0
            || l.cache_max_data_age_secs == 0
        {
            return bad("licence.registry_timeout_ms, licence.cache_secs, licence.cache_max_data_age_secs and licence.alert_window_secs must be > 0".into());
        }
        if self
            .visit
            .warning_secs
            .iter()
            .any(|s| *s == 0 || *s > 24 * 3600)
        {
            return bad(
                "visit.warning_secs are seconds before the slot end, each between 1 and 86400"
                    .into(),
            );
        }
        let v = &self.visit;
        if v.reconnect_grace_secs == 0 || v.reconnect_grace_secs > 3600 {
            return bad("visit.reconnect_grace_secs must be between 1 and 3600".into());
        }
        if v.media_silence_secs == 0 || v.media_silence_secs > MAX_MEDIA_SILENCE_SECS {
            return bad(format!(
                "visit.media_silence_secs must be between 1 and {MAX_MEDIA_SILENCE_SECS}, so that the others are told of a lost connection within 10 s"
            ));
        }
        let sig = &self.signaling;
        if sig.ping_interval_secs == 0
            || sig.dead_after_secs < 2 * sig.ping_interval_secs
            || sig.dead_after_secs > MAX_DEAD_AFTER_SECS
        {
            return bad(format!(
                "signaling.ping_interval_secs must be > 0 and signaling.dead_after_secs at least twice it and at most {MAX_DEAD_AFTER_SECS}"
            ));
        }
        if l.lock_after_alerts == 0 {
            return bad("licence.lock_after_alerts must be at least 1".into());
        }
        let t = &self.turn;
        if t.enabled {
            if t.urls.is_empty() {
                return bad("turn.enabled needs turn.urls (e.g. \"turns:media.example.cn:443?transport=tcp\")".into());
            }
            for u in &t.urls {
                let ok = (u.starts_with("turns:") || u.starts_with("turn:"))
                    && u.len() > 6
                    && !u.chars().any(|c| c.is_whitespace() || c == '"');
                if !ok {
                    return bad(format!("turn.urls: {u:?} is not a turn: or turns: URL"));
                }
            }
        }
        if t.realm.is_empty() || t.realm.chars().any(|c| !c.is_ascii_graphic()) {
            return bad("turn.realm must be non-empty printable ASCII without spaces".into());
        }
        if t.tls_port == 0 || t.relay_min_port == 0 || t.relay_min_port > t.relay_max_port {
            return bad("turn.tls_port must be > 0 and turn.relay_min_port..relay_max_port a non-empty range".into());
        }
        if self.http.addr == self.admin.addr && self.http.addr.port() != 0 {
            return bad(
                "http.addr and admin.addr must differ: the admin listener is separate".into(),
            );
        }
        Ok(())
    }

    pub fn join_token_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.join_token_ttl_secs)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// When the admin health view raises an alert (live visit health; R-PRIV-1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSection {
    /// Packet loss above this percentage ...
    pub loss_pct: f64,
    /// ... for this many seconds raises a `loss` alert.
    pub loss_window_secs: u64,
    /// A round-trip time above this many milliseconds raises an `rtt` alert.
    pub rtt_ms: f64,
    /// No media from a connected participant for this many seconds raises `no_media`.
    pub no_media_secs: u64,
}

impl Default for HealthSection {
    fn default() -> Self {
        HealthSection {
            loss_pct: 5.0,
            loss_window_secs: 10,
            rtt_ms: 400.0,
            no_media_secs: 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn no_env() -> Env {
        Env::prefixed("CONFER_TEST_NEVER_SET_")
    }

    #[test]
    fn defaults_are_valid_and_match_the_documented_ports() {
        let c = Config::load_with_env(None, &Overrides::default(), no_env()).unwrap();
        assert_eq!(c.http.addr.port(), 8443);
        assert_eq!(c.media.addr.port(), 8443);
        assert_eq!(
            c.media.effective_tcp_addr(),
            Some("0.0.0.0:8445".parse().unwrap())
        );
        assert_eq!(c.admin.addr, "127.0.0.1:9443".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("./data"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own (large) error type
    fn file_then_env_then_flags_override_in_that_order() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "data_dir = \"/srv/confer\"\n[http]\naddr = \"127.0.0.1:1000\"\n[admin]\naddr = \"127.0.0.1:1001\"").unwrap();
        let env = Env::prefixed("CONFER_T1_").split("__");
        figment::Jail::expect_with(|jail| {
            jail.set_env("CONFER_T1_HTTP__ADDR", "127.0.0.1:2000");
            let o = Overrides {
                admin_addr: Some("127.0.0.1:3001".parse().unwrap()),
                ..Default::default()
            };
            let c = Config::load_with_env(Some(f.path()), &o, env.clone()).unwrap();
            assert_eq!(c.data_dir, PathBuf::from("/srv/confer"));
            assert_eq!(c.http.addr, "127.0.0.1:2000".parse().unwrap());
            assert_eq!(c.admin.addr, "127.0.0.1:3001".parse().unwrap());
            Ok(())
        });
    }

    #[test]
    fn the_media_fast_path_is_on_unless_turned_off() {
        let c = Config::default();
        assert!(c.media.fast_path, "on by default");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[media]\nfast_path = false").unwrap();
        let c = Config::load_with_env(Some(f.path()), &Overrides::default(), no_env()).unwrap();
        assert!(!c.media.fast_path);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[media]\nfast_path = \"sometimes\"").unwrap();
        let e = Config::load_with_env(Some(f.path()), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("fast_path"), "{e}");
    }

    #[test]
    fn join_tokens_cannot_live_longer_than_two_minutes() {
        let mut c = Config::default();
        c.auth.join_token_ttl_secs = 121;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("join_token_ttl_secs"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_one_clear_line() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[http]\nadress = \"x\"").unwrap();
        let e = Config::load_with_env(Some(f.path()), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("adress"), "{e}");
        assert!(!e.contains('\n'));
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[media]\npublic_ips = [\"0.0.0.0\"]").unwrap();
        let e = Config::load_with_env(Some(f.path()), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("public_ips"), "{e}");
    }

    #[test]
    fn a_missing_config_file_is_an_error_not_silently_ignored() {
        let e = Config::load_with_env(
            Some(Path::new("/nonexistent/confer.toml")),
            &Overrides::default(),
            no_env(),
        );
        assert!(matches!(e, Err(ConfigError::MissingFile(_))));
    }

    #[test]
    fn facility_time_zone_defaults_to_shanghai_and_must_look_like_an_iana_name() {
        assert_eq!(FacilitySection::default().time_zone, "Asia/Shanghai");
        for ok in [
            "Asia/Shanghai",
            "UTC",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT-8",
        ] {
            assert!(plausible_time_zone(ok), "{ok}");
        }
        for bad in [
            "",
            "Asia/",
            "/Shanghai",
            "Asia Shanghai",
            "<script>",
            "+08:00",
        ] {
            assert!(!plausible_time_zone(bad), "{bad}");
        }
    }

    /// R-REMOTE-2: ping every 5 s, dead after 15 s, a 60 s grace period, 5 s of silence; and
    /// nothing that would break the 10 s and 15 s promises is accepted.
    #[test]
    fn liveness_settings_default_to_the_protocol_and_are_validated() {
        let c = Config::default();
        assert_eq!(
            (c.signaling.ping_interval_secs, c.signaling.dead_after_secs),
            (5, 15)
        );
        assert_eq!(
            (c.visit.reconnect_grace_secs, c.visit.media_silence_secs),
            (60, 5)
        );
        for (tweak, key) in [
            (
                (|c: &mut Config| c.signaling.ping_interval_secs = 0) as fn(&mut Config),
                "signaling",
            ),
            (
                |c: &mut Config| c.signaling.dead_after_secs = 16,
                "signaling",
            ),
            (
                |c: &mut Config| c.signaling.dead_after_secs = 9,
                "signaling",
            ),
            (
                |c: &mut Config| c.visit.reconnect_grace_secs = 0,
                "reconnect_grace_secs",
            ),
            (
                |c: &mut Config| c.visit.media_silence_secs = 0,
                "media_silence_secs",
            ),
            (
                |c: &mut Config| c.visit.media_silence_secs = 9,
                "media_silence_secs",
            ),
        ] {
            let mut c = Config::default();
            tweak(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        let mut c = Config::default();
        c.signaling.ping_interval_secs = 1;
        c.signaling.dead_after_secs = 3;
        c.visit.reconnect_grace_secs = 3;
        c.validate().expect("short test settings are valid");
    }

    #[test]
    fn health_thresholds_default_to_the_issue_and_must_be_sensible() {
        let c = Config::default();
        let h = &c.admin.health;
        assert_eq!((h.loss_pct, h.loss_window_secs), (5.0, 10));
        assert_eq!((h.rtt_ms, h.no_media_secs), (400.0, 5));
        for tweak in [
            |h: &mut HealthSection| h.loss_pct = 0.0,
            |h: &mut HealthSection| h.loss_pct = f64::NAN,
            |h: &mut HealthSection| h.rtt_ms = -1.0,
            |h: &mut HealthSection| h.no_media_secs = 0,
        ] {
            let mut c = Config::default();
            tweak(&mut c.admin.health);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("admin.health"), "{e}");
        }
    }

    // R-REMOTE-2: the ICE-TCP port is checked before anything binds.
    #[test]
    fn the_media_tcp_port_must_not_clash_and_follows_a_test_port_0() {
        let mut c = Config::default();
        c.media.tcp_addr = Some("0.0.0.0:8443".parse().unwrap());
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("media.tcp_addr") && e.contains("http.addr"),
            "{e}"
        );
        c.media.tcp_addr = Some("127.0.0.1:9443".parse().unwrap());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("admin.addr"), "{e}");
        c.media.tcp_enabled = false;
        c.validate().expect("no listener, no clash");
        let mut c = Config::default();
        c.media.tcp_max_connections = 0;
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.media.addr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(
            c.media.effective_tcp_addr(),
            Some("127.0.0.1:0".parse().unwrap())
        );
    }

    #[test]
    fn media_workers_take_consecutive_ports_that_must_fit_and_not_clash() {
        let mut c = Config::default();
        assert!(c.media.effective_workers() >= 1, "one per core by default");
        c.media.workers = Some(0);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("media.workers"));
        c.media.workers = Some(MAX_MEDIA_WORKERS + 1);
        assert!(c.validate().is_err());
        c.media.workers = Some(4);
        c.validate().expect("UDP 8443-8446, TCP 8445-8448");
        assert_eq!(c.media.effective_workers(), 4);
        // The ICE-TCP range would run into the admin listener's port.
        c.media.tcp_addr = Some("0.0.0.0:9440".parse().unwrap());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("admin.addr") && e.contains("4 in all"), "{e}");
        c.media.tcp_addr = Some("0.0.0.0:9436".parse().unwrap());
        c.validate().expect("9436-9439 stays below 9443");
        let mut c = Config::default();
        c.media.workers = Some(2);
        c.media.addr = "0.0.0.0:65535".parse().unwrap();
        c.media.tcp_enabled = false;
        assert!(c.validate().unwrap_err().to_string().contains("65535"));
        c.media.workers = Some(1);
        c.validate().expect("one worker fits on the last port");
    }
}

/// Connection caps and timeouts of one HTTPS listener (`[http.connections]`,
/// `[admin.connections]`). R-REMOTE-1: one client must not take the service away from
/// everyone else, so every phase of a connection is bounded in time and every listener in
/// connections, in total and per client address (an IPv6 client counts per /64).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSection {
    /// Open connections at most on this listener (each holds a file descriptor; WebSockets
    /// count). Further connections are closed at once, before the TLS handshake.
    pub max_connections: usize,
    /// Open connections at most from one client address (IPv4) or /64 (IPv6).
    pub max_per_ip: usize,
    /// The TLS handshake must be complete within this many seconds.
    pub handshake_timeout_secs: u64,
    /// An HTTP/1 request head must arrive within this many seconds (also the longest an
    /// HTTP/1 keep-alive connection waits for its next request).
    pub header_timeout_secs: u64,
    /// A request body has this many seconds, plus one second for every
    /// `body_min_bytes_per_sec` bytes that arrived, before the connection is closed.
    pub body_timeout_secs: u64,
    /// The slowest body rate that earns more time (bytes per second); a body trickling in
    /// below it runs out of time after about `body_timeout_secs`.
    pub body_min_bytes_per_sec: u64,
    /// A connection (HTTP/1 or HTTP/2) with no request in progress for this many seconds is
    /// closed (HTTP/2 with a GOAWAY).
    pub idle_timeout_secs: u64,
    /// HTTP/2 keepalive: a PING after this many seconds of silence ...
    pub keepalive_interval_secs: u64,
    /// ... which must be answered within this many seconds, or the connection is closed.
    pub keepalive_timeout_secs: u64,
}

impl Default for ConnectionSection {
    /// The public listener: lawyers' browsers (a law firm behind one address has a few
    /// dozen connections at most) and booths.
    fn default() -> Self {
        ConnectionSection {
            max_connections: 4096,
            max_per_ip: 64,
            handshake_timeout_secs: 10,
            header_timeout_secs: 15,
            body_timeout_secs: 30,
            body_min_bytes_per_sec: 16 * 1024,
            idle_timeout_secs: 120,
            keepalive_interval_secs: 30,
            keepalive_timeout_secs: 20,
        }
    }
}

impl ConnectionSection {
    /// The admin listener: a handful of staff consoles and a metrics scraper.
    pub fn admin_default() -> Self {
        ConnectionSection {
            max_connections: 256,
            max_per_ip: 32,
            ..ConnectionSection::default()
        }
    }

    fn validate(&self, name: &str) -> Result<(), String> {
        if self.max_connections == 0 || self.max_per_ip == 0 {
            return Err(format!(
                "{name}.max_connections and {name}.max_per_ip must be > 0"
            ));
        }
        if self.max_per_ip > self.max_connections {
            return Err(format!(
                "{name}.max_per_ip must not be larger than {name}.max_connections"
            ));
        }
        for (field, v) in [
            ("handshake_timeout_secs", self.handshake_timeout_secs),
            ("header_timeout_secs", self.header_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("body_min_bytes_per_sec", self.body_min_bytes_per_sec),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("keepalive_interval_secs", self.keepalive_interval_secs),
            ("keepalive_timeout_secs", self.keepalive_timeout_secs),
        ] {
            if v == 0 {
                return Err(format!("{name}.{field} must be > 0"));
            }
        }
        Ok(())
    }
}

/// Free space on the data dir (`[storage]`): below the watermark `/healthz` says
/// `degraded` (naming `disk_space`) and staff are alerted, before a full disk stops
/// admissions (docs/DESIGN.md invariant 3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// Alert below this much free space on the data dir, in MiB.
    pub free_space_watermark_mib: u64,
    /// How often the free space is measured, in seconds.
    pub check_every_secs: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            free_space_watermark_mib: 1024,
            check_every_secs: 10,
        }
    }
}
