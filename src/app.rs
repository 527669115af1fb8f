//! Wiring: config -> data dir -> development PKI -> store -> demo seed -> audit log ->
//! media -> visit hub -> listeners; and graceful shutdown in the reverse order.
//!
//! [`start`] is used by `confer serve` and by every integration test (`spawn_app`), so
//! tests exercise exactly what runs in production: real TLS, real UDP, real SQLite.

use crate::audit::Audit;
use crate::auth::{BoothVerifier, Booths, JoinTokens, Sessions, SignIn};
use crate::config::{Config, RegistrySource};
use crate::licence::cache::CachedRegistry;
use crate::licence::local::LocalRegistry;
use crate::licence::remote::{HttpRegistry, HttpRegistryConfig};
use crate::licence::AnyRegistry;
use crate::media::{self, MediaConfig, MediaHandle};
use crate::store::Store;
use crate::visit::{Gate, VisitHub};
use anyhow::Context;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub use crate::demo::{
    FirstStart, DEMO_BOOTH, DEMO_BOOTH_LABEL, DEMO_FACILITY, DEMO_FACILITY_NAME, DEMO_LAWYER,
    FIRST_ADMIN,
};

pub use crate::services::Services;

/// Paths of the development PKI, for tests and the startup banner.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub demo_booth_cert: PathBuf,
    pub demo_booth_key: PathBuf,
    pub demo_booth_p12: PathBuf,
    pub demo_booth_p12_password: PathBuf,
}

/// A running server. Dropping it does not stop it: call [`Running::shutdown`].
pub struct Running {
    pub state: Services,
    pub http_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub media_addrs: Vec<SocketAddr>,
    /// The ICE-TCP media listener's address (R-REMOTE-2), when enabled.
    pub media_tcp_addr: Option<SocketAddr>,
    pub pki: PkiPaths,
    pub first_start: FirstStart,
    shutdown_tx: watch::Sender<bool>,
    /// `true` once this node is draining and no visit is left on it.
    drained: watch::Receiver<bool>,
    /// This node's id in the cluster's registry.
    pub node_id: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// This node's heartbeat in the cluster's registry (stopped first on shutdown).
    beat_task: tokio::task::JoinHandle<()>,
    /// Where visits live; told first on shutdown that this node is leaving.
    placement: crate::cluster::placement::Placement,
    media_task: media::MediaTask,
    recheck: tokio::task::JoinHandle<()>,
    /// The booth certificate revocation sweep (R-VERIFY-4).
    revocation_task: tokio::task::JoinHandle<()>,
}

fn create_private_dir(p: &Path) -> anyhow::Result<()> {
    crate::keyfile::private_dir(p).with_context(|| format!("cannot create {}", p.display()))
}

/// Read the join-token key, creating it (0600) on first start.
fn token_key(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    crate::keyfile::key32(&data_dir.join("keys"), "token.key")
        .context("cannot read or create the join-token key")
}

/// The licence registry chosen by configuration, with the positive cache in front.
fn licence_registry(config: &Config, store: &Store) -> anyhow::Result<CachedRegistry<AnyRegistry>> {
    let l = &config.licence;
    let inner = match l.registry {
        RegistrySource::Local => AnyRegistry::Local(LocalRegistry::new(store.clone())),
        RegistrySource::Http => {
            let url = l.registry_url.clone().unwrap_or_default();
            let ca = match &l.registry_ca {
                Some(p) => Some(
                    std::fs::read(p)
                        .with_context(|| format!("cannot read the registry CA {}", p.display()))?,
                ),
                None => None,
            };
            let mut c = HttpRegistryConfig::new(url, ca);
            c.timeout = Duration::from_millis(l.registry_timeout_ms);
            c.retries = l.registry_retries;
            c.dangerous_plain_http = l.dangerous_plain_http;
            AnyRegistry::Http(HttpRegistry::new(c).context("licence registry client")?)
        }
    };
    Ok(CachedRegistry::new(inner, l.cache_ttl()).with_max_data_age(l.cache_max_data_age()))
}

/// Host names and addresses the development server certificate should cover.
fn host_names() -> Vec<String> {
    let mut hosts: Vec<String> = local_ips().iter().map(|ip| ip.to_string()).collect();
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            hosts.push(h.to_owned());
        }
    }
    hosts
}

/// The machine's non-loopback IPv4 addresses.
fn local_ips() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|v| {
            v.into_iter()
                .map(|i| i.ip())
                .filter(|ip| ip.is_ipv4() && !ip.is_loopback())
                .collect()
        })
        .unwrap_or_default()
}

/// Host candidates: configured, or the bound address, or every local address plus loopback.
fn media_candidates(config: &Config) -> Vec<IpAddr> {
    if !config.media.public_ips.is_empty() {
        return config.media.public_ips.clone();
    }
    let bind = config.media.addr.ip();
    if !bind.is_unspecified() {
        return vec![bind];
    }
    let mut ips = local_ips();
    ips.push(IpAddr::from([127, 0, 0, 1]));
    ips
}

/// Start confer: everything up to ready. Errors are fatal startup problems.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    crate::memory::fix_mmap_threshold();
    let data_dir = config.data_dir.clone();
    create_private_dir(&data_dir)?;
    let mut first = FirstStart::default();

    // Development PKI (unless the operator configured real certificates).
    let pki_report = confer_certs::bootstrap_dev_pki(
        &confer_certs::pki_dir(&data_dir),
        &host_names(),
        DEMO_FACILITY,
        DEMO_BOOTH,
    )
    .context("cannot prepare the development certificates")?;
    for w in &pki_report.warnings {
        tracing::warn!("{w}");
    }
    first.files_created = pki_report.created.clone();
    if let Some(pw) = &pki_report.p12_password {
        first.booth_p12 = Some((pki_report.booth.p12.clone(), pw.expose().to_owned()));
    }
    let pki = PkiPaths {
        ca_cert: pki_report.ca_cert.clone(),
        server_cert: pki_report.server_cert.clone(),
        demo_booth_cert: pki_report.booth.cert.clone(),
        demo_booth_key: pki_report.booth.key.clone(),
        demo_booth_p12: pki_report.booth.p12.clone(),
        demo_booth_p12_password: pki_report.booth.p12_password.clone(),
    };
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let cert_pem = read(
        config
            .tls
            .cert
            .as_deref()
            .unwrap_or(&pki_report.server_cert),
    )?;
    let key_pem = read(config.tls.key.as_deref().unwrap_or(&pki_report.server_key))?;
    let client_ca_pem = read(
        config
            .tls
            .client_ca
            .as_deref()
            .unwrap_or(&pki_report.ca_cert),
    )?;
    let (public_tls, client_certs) =
        crate::http::tls::server_config(&cert_pem, &key_pem, &client_ca_pem)
            .context("TLS configuration")?;
    let admin_tls = crate::http::tls::admin_server_config(&cert_pem, &key_pem)
        .context("admin TLS configuration")?;
    let booths: BoothVerifier = client_certs.into_booth_verifier();

    let store_url = config.store.url.as_deref();
    let store = Store::open_configured(&data_dir, store_url)
        .await
        .context("cannot open the database")?;
    let tokens = JoinTokens::new(&token_key(&data_dir)?, config.join_token_ttl());
    let audit = Audit::open_configured(&data_dir, store_url, &config.audit)
        .await
        .context("cannot open the audit log")?;
    let documents = crate::documents::Documents::open(
        &data_dir,
        &crate::documents::load_or_create_key(&data_dir)?,
        store.clone(),
        audit.clone(),
    )
    .context("cannot open the document store")?;
    let totp = crate::admin::totp::TotpVault::open(&data_dir)?;
    crate::demo::seed(&store, &documents, &totp, config.demo.enabled, &mut first)
        .await
        .context("cannot seed the first accounts")?;
    // Always written (0600) when the first start created accounts: the banner says where,
    // and never prints a password or a TOTP secret.
    {
        crate::demo::write_demo_credentials(&data_dir, &first)?;
    }
    crate::admin::staff::record_unaudited(&store, &audit)
        .await
        .context("cannot record staff accounts created from the command line")?;

    // This node's id in the cluster's registry (and on every metric).
    let node_id = crate::cluster::beat::node_id(config.node.id.as_deref(), &data_dir)
        .context("cannot read or create this node's id")?;
    crate::metrics::install(&node_id);
    let (media_events_tx, media_events_rx) = tokio::sync::mpsc::channel(1024);
    let media_config = MediaConfig {
        bind: config.media.addr,
        public_ips: media_candidates(&config),
        public_port: config.media.public_port,
        workers: config.media.effective_workers(),
        fast_path: config.media.fast_path,
    };
    // R-REMOTE-2: the ICE-TCP listener, for clients whose network blocks UDP.
    let media_tcp = config
        .media
        .effective_tcp_addr()
        .map(|bind| media::MediaTcpConfig {
            bind,
            max_connections: config.media.tcp_max_connections,
        });
    let (media, media_task): (MediaHandle, _) =
        media::start_with_tcp(media_config, media_tcp, media_events_tx)
            .await
            .context("cannot start the media plane")?;
    let media_addrs = media.local_addrs().to_vec();
    let media_tcp_addr = media.local_tcp_addr();
    // The firewall must open every worker's ports (README, "Ports a facility opens").
    tracing::info!(
        workers = media.workers(),
        udp = ?media_addrs.iter().map(|a| a.port()).collect::<Vec<_>>(),
        tcp = ?media.local_tcp_addrs().iter().map(|a| a.port()).collect::<Vec<_>>(),
        "media ports"
    );
    let network_check = media.network_check();
    let hub = VisitHub::with_liveness(
        store.clone(),
        media,
        audit.clone(),
        config.visit.warnings(),
        crate::visit::Liveness {
            grace: config.visit.reconnect_grace(),
            media_silence: config.visit.media_silence(),
        },
    );
    tokio::spawn(hub.clone().run_media_events(media_events_rx));
    let registry = licence_registry(&config, &store)?;
    let gate = Gate::new(
        store.clone(),
        audit.clone(),
        registry,
        config.licence.clone(),
    );
    let recheck = tokio::spawn(crate::visit::evidence::recheck_running(
        gate.clone(),
        hub.clone(),
        config.licence.recheck_every(),
    ));

    let window = Duration::from_secs(config.auth.login_window_secs);
    let sessions = Sessions::new(store.clone(), &config);
    let sign_in = SignIn::new(
        store.clone(),
        audit.clone(),
        sessions.clone(),
        totp.clone(),
        config.auth.login_max_failures,
        window,
    );
    // R-VERIFY-4: the deny list, and the facility CA's CRL file when configured.
    let revocations = crate::auth::Revocations::new(
        store.clone(),
        config.tls.client_crl.as_deref(),
        &client_ca_pem,
    )?;
    let booths = Booths::with_revocations(booths, store.clone(), audit.clone(), revocations);
    // This node in the cluster: its draining (followed from its registry row by the
    // heartbeat), and where each visit's media lives.
    let draining = crate::cluster::Draining::default();
    let placement = crate::cluster::placement::Placement::new(store.clone(), node_id.clone());
    let admission = crate::visit::Admission::new(
        store.clone(),
        audit.clone(),
        tokens.clone(),
        booths.clone(),
        gate.clone(),
        hub.clone(),
    )
    .with_draining(draining.clone())
    .with_placement(placement.clone());
    let scheduler = crate::schedule::service::Scheduler::new(
        store.clone(),
        audit.clone(),
        hub.clone(),
        documents.clone(),
    );
    // R-REMOTE-2: TURN credentials (coturn relays; `confer turn-config` configures it).
    let turn = crate::turn::Turn::open(
        &config.turn,
        &data_dir,
        config.visit.reconnect_grace(),
        audit.clone(),
    )
    .context("cannot read or create the TURN shared secret")?;
    // R-REMOTE-2: a seat lost with its node (failover, restart) is given back on another.
    let resumes = crate::visit::Resumes::on_node(
        node_id.clone(),
        Some(crate::visit::resume::Failover {
            admission: admission.clone(),
            placement: placement.clone(),
        }),
        store.clone(),
        audit.clone(),
        hub.clone(),
        gate.clone(),
    );
    let revocation = crate::visit::revocation::RevocationSweep {
        store: store.clone(),
        audit: audit.clone(),
        booths: booths.clone(),
        hub: hub.clone(),
    };
    let revocation_task = tokio::spawn(revocation.clone().run());
    let state = Services {
        config,
        store,
        sessions,
        sign_in,
        booths,
        hub,
        admission,
        gate,
        audit,
        documents,
        totp,
        outbox: crate::admin::outbox::Outbox::new(),
        health: crate::health::HealthFeed::new(),
        scheduler,
        turn,
        ready: Arc::new(AtomicBool::new(false)),
        resumes,
        disk: crate::disk::DiskSpace::default(),
        revocation,
        draining,
        peer_origins: crate::cluster::PeerOrigins::default(),
        network_check,
        network_check_throttle: crate::http::network_check::Throttle::default(),
    };
    let watermark = state.config.storage.free_space_watermark_mib << 20;
    crate::disk::check(&state.disk, &data_dir, watermark);

    let http_listener = tokio::net::TcpListener::bind(state.config.http.addr)
        .await
        .with_context(|| format!("cannot listen on {}", state.config.http.addr))?;
    let admin_listener = tokio::net::TcpListener::bind(state.config.admin.addr)
        .await
        .with_context(|| format!("cannot listen on {}", state.config.admin.addr))?;
    let http_addr = http_listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;

    // R-REMOTE-1: the kernel's file limit must not be what refuses connections: raise it,
    // and fit the public listener's cap under it beside the admin listener's own budget
    // (never starved by the public one), ICE-TCP media and a reserve.
    let file_limit = crate::http::limits::raise_file_limit();
    let public_cap = crate::http::limits::public_cap_within(
        file_limit,
        state.config.http.connections.max_connections,
        state.config.admin.connections.max_connections,
        state.config.media.tcp_max_connections,
    );
    if public_cap < state.config.http.connections.max_connections {
        tracing::warn!(
            file_limit,
            public_cap,
            "the open-file limit is low: the public listener's connection cap is lowered"
        );
    }
    let public_limits = crate::http::limits::ListenerLimits::new(
        "public",
        &state.config.http.connections,
        public_cap,
    );
    let admin_limits = crate::http::limits::ListenerLimits::new(
        "admin",
        &state.config.admin.connections,
        state.config.admin.connections.max_connections,
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let public = crate::routes::public(&state);
    let admin = crate::routes::admin(&state);
    // This node in the cluster's registry: written now, refreshed every few seconds.
    let beat = crate::store::nodes::NodeBeat {
        id: node_id.clone(),
        started_at: chrono::Utc::now(),
        public_url: state
            .config
            .node
            .public_url
            .clone()
            .unwrap_or_else(|| format!("https://{http_addr}")),
        media_addrs: media_addrs.iter().map(|a| a.to_string()).collect(),
        live_visits: 0,
        capacity: i64::from(state.config.node.capacity),
    };
    let (drained_tx, drained) = watch::channel(false);
    let beat_task = tokio::spawn(crate::cluster::beat::run(
        crate::cluster::beat::Beat {
            store: state.store.clone(),
            live_count: {
                let hub = state.hub.clone();
                move || hub.live_count()
            },
            beat,
            every: crate::cluster::HEARTBEAT_EVERY,
            draining: state.draining.clone(),
            drained: drained_tx,
            peers: state.peer_origins.clone(),
        },
        stopped(shutdown_rx.clone()),
    ));
    let tasks = vec![
        // Jobs that run on one node of the cluster at a time, under a lease.
        crate::schedule::escalation::spawn_escalation_driver(
            state.scheduler.clone(),
            Duration::from_secs(60),
            crate::cluster::lease::Lease::new(
                state.store.clone(),
                "escalation",
                node_id.clone(),
                Duration::from_secs(150),
            ),
            stopped(shutdown_rx.clone()),
        ),
        tokio::spawn(crate::admin::outbox::run(
            state.outbox.clone(),
            state.store.clone(),
            state.audit.clone(),
            state.config.oversight.clone(),
            crate::cluster::lease::Lease::new(
                state.store.clone(),
                "outbox",
                node_id.clone(),
                crate::admin::outbox::LEASE_TTL,
            ),
            stopped(shutdown_rx.clone()),
        )),
        // Memory freed by visits that ended goes back to the system.
        tokio::spawn(crate::memory::run(
            state.hub.clone(),
            Duration::from_secs(10),
            stopped(shutdown_rx.clone()),
        )),
        tokio::spawn(crate::admin::metrics::run_sampler(
            state.hub.clone(),
            Duration::from_secs(1),
            stopped(shutdown_rx.clone()),
        )),
        tokio::spawn(crate::disk::run(
            state.disk.clone(),
            data_dir.clone(),
            watermark,
            Duration::from_secs(state.config.storage.check_every_secs),
            stopped(shutdown_rx.clone()),
        )),
        tokio::spawn(crate::health::run(
            state.health.clone(),
            state.hub.clone(),
            state.store.clone(),
            crate::health::model::Thresholds::from(&state.config.admin.health),
            state.disk.clone(),
            stopped(shutdown_rx.clone()),
        )),
        tokio::spawn({
            let rx = shutdown_rx.clone();
            async move {
                if let Err(e) = crate::http::serve::serve_tls(
                    http_listener,
                    public_tls,
                    public,
                    public_limits,
                    stopped(rx),
                )
                .await
                {
                    tracing::error!(error = %e, "public listener failed");
                }
            }
        }),
        tokio::spawn(async move {
            if let Err(e) = crate::http::serve::serve_tls(
                admin_listener,
                admin_tls,
                admin,
                admin_limits,
                stopped(shutdown_rx),
            )
            .await
            {
                tracing::error!(error = %e, "admin listener failed");
            }
        }),
    ];
    state.ready.store(true, Ordering::Release);
    tracing::info!(%http_addr, %admin_addr, media = ?media_addrs, media_tcp = ?media_tcp_addr, "confer is ready");
    Ok(Running {
        state,
        http_addr,
        admin_addr,
        media_addrs,
        media_tcp_addr,
        pki,
        first_start: first,
        shutdown_tx,
        drained,
        node_id,
        tasks,
        beat_task,
        placement,
        media_task,
        recheck,
        revocation_task,
    })
}

impl Running {
    /// Graceful shutdown: live visits are told and their peers closed, listeners stop,
    /// the store is flushed and closed.
    /// Resolves once this node is draining (`confer node drain`) and no visit is left on
    /// it: `confer serve` then shuts down as on SIGTERM.
    pub async fn drained(&self) {
        let mut rx = self.drained.clone();
        let _ = rx.wait_for(|d| *d).await;
    }

    pub async fn shutdown(self) {
        self.state.ready.store(false, Ordering::Release);
        self.recheck.abort();
        self.revocation_task.abort();
        // The others treat this node as dead at once, before its visits are told it goes
        // away: the participants' resumes then reach a node that takes the visits over
        // (R-REMOTE-2; a resume that still reaches this node is sent there, `moved`).
        self.placement.leave();
        self.beat_task.abort();
        let _ = self.beat_task.await;
        if let Err(e) = self.state.store.node_gone(&self.node_id).await {
            tracing::warn!(error = %e, "cannot mark this node gone in the registry");
        }
        self.state.resumes.forget_seats();
        self.state.hub.shutdown().await;
        // Give the notices a moment to reach the participants before the sockets close.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = self.shutdown_tx.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        self.media_task.stop();
        // The visits' end entries are appended by short tasks (bounded by the hub's wait).
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.state.audit.close().await;
        self.state.store.close().await;
        tracing::info!("confer stopped");
    }
}
