//! The `confer` command line: thin on purpose; everything lives in the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use confer::config::{Config, Overrides, EXIT_BAD_CONFIG};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "confer",
    version,
    about = "Secure video visits between defence lawyers and detainees"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (public HTTPS/WSS, UDP media, admin listener).
    Serve {
        /// Data directory: database, keys, development certificates.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Public HTTPS/WSS listener [default: 0.0.0.0:8443].
        #[arg(long)]
        http_addr: Option<SocketAddr>,
        /// UDP media address [default: 0.0.0.0:8443].
        #[arg(long)]
        media_addr: Option<SocketAddr>,
        /// Admin listener [default: 127.0.0.1:9443].
        #[arg(long)]
        admin_addr: Option<SocketAddr>,
        /// TOML configuration file; CONFER_* environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Log format: `text` for people, `json` (one object a line) for log collectors.
        #[arg(long, env = "CONFER_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Seed a demo facility with a booth, a lawyer and an open visit (never in production).
        #[arg(long)]
        demo: bool,
    },
    /// Development certificates (see certs/README.md).
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// The tamper-evident audit log: verify it, export part of it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The local copy of the lawyer registry.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Staff accounts of the admin listener (one role each, TOTP sign-in).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Signed visit receipts: check one offline.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// The cluster's nodes: list them, or drain one (no new visit starts there; its live
    /// visits run to their end, then it exits).
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// This build's version; with --assets, the SHA-256 of every page asset it serves.
    Version {
        /// Print each page asset's path and SHA-256 (compare with a published release).
        #[arg(long)]
        assets: bool,
    },
    /// Write coturn's turnserver.conf for confer's TURN relay (R-REMOTE-2): TLS on
    /// `turn.tls_port`, confer's shared secret, relaying only to the media addresses.
    TurnConfig {
        /// TOML configuration file (the one `serve` uses); CONFER_* variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Where to write it (0600: it holds the shared secret), e.g.
        /// /etc/turnserver.conf.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Check a receipt file against the facility's audit public key: exit 0 with a
    /// summary when it is valid, exit 2 with the reason when it is not.
    Verify {
        /// The receipt file (as downloaded).
        file: PathBuf,
        /// The audit public key: the file `audit-ed25519.pub` (or 32 raw bytes), or the
        /// key itself in hex or base64.
        #[arg(long)]
        public_key: String,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Every node the registry knows, with its state (alive, draining, dead).
    List {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The servers' `store.url` (postgres://…); default: the SQLite files under the data dir.
        #[arg(long, env = "CONFER_STORE__URL")]
        store_url: Option<String>,
    },
    /// Drain a node: it starts no new visit, its live visits run to their end, then it
    /// exits. `--undo` takes it back into service (before it has exited).
    Drain {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The servers' `store.url` (postgres://…); default: the SQLite files under the data dir.
        #[arg(long, env = "CONFER_STORE__URL")]
        store_url: Option<String>,
        /// The node's id; default: this data dir's node (`[node] id` or `<data_dir>/node-id`).
        #[arg(long)]
        node: Option<String>,
        #[arg(long)]
        undo: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff account with one role; prints its password and TOTP secret once.
    Create {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The server's `store.url` when it uses PostgreSQL (postgres://…); default:
        /// the SQLite files under the data dir.
        #[arg(long, env = "CONFER_STORE__URL")]
        store_url: Option<String>,
        /// operator, auditor, sysadmin or investigator.
        #[arg(long)]
        role: String,
        #[arg(long)]
        username: String,
    },
    /// Give a staff account a new TOTP secret (lost device, or an account from before
    /// TOTP); prints it once.
    ResetTotp {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The server's `store.url` when it uses PostgreSQL (postgres://…); default:
        /// the SQLite files under the data dir.
        #[arg(long, env = "CONFER_STORE__URL")]
        store_url: Option<String>,
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Import (or update from) the registry's export file: CSV or JSON lines. Every bad
    /// row is reported with its line number; nothing is imported when any row is bad.
    Import {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The server's `store.url` when it uses PostgreSQL (postgres://…); default:
        /// the SQLite files under the data dir.
        #[arg(long, env = "CONFER_STORE__URL")]
        store_url: Option<String>,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole chain and every checkpoint signature (exit 0 when intact), or an
    /// export file against a public key you trust.
    Verify {
        /// Data directory holding audit.db (opened read-only; the server need not run).
        #[arg(long, conflicts_with = "export", required_unless_present = "export")]
        data_dir: Option<PathBuf>,
        /// An export file written by `confer audit export`.
        #[arg(long, requires = "public_key")]
        export: Option<PathBuf>,
        /// The checkpoint public key (hex); default: DATA_DIR/keys/audit-ed25519.pub.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// The server's `store.url` when it uses PostgreSQL (postgres://…); default:
        /// the SQLite files under the data dir.
        #[arg(long, env = "CONFER_STORE__URL")]
        store_url: Option<String>,
    },
    /// Write the entries between two times (RFC 3339), with the checkpoints that sign
    /// them, as JSON lines.
    Export {
        #[arg(long)]
        data_dir: PathBuf,
        /// The server's `store.url` when it uses PostgreSQL (postgres://…); default:
        /// the SQLite files under the data dir.
        #[arg(long, env = "CONFER_STORE__URL")]
        store_url: Option<String>,
        #[arg(long)]
        from: chrono::DateTime<chrono::Utc>,
        #[arg(long)]
        to: chrono::DateTime<chrono::Utc>,
        /// Output file [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Create whatever is missing of the development PKI under DATA_DIR/pki.
    Init {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Extra host names or addresses for the server certificate.
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
    /// Issue (or rotate) a booth client certificate and its PKCS#12 file.
    Booth {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long)]
        facility: String,
        #[arg(long)]
        booth: String,
    },
    /// Revoke a booth's certificate (R-VERIFY-4): put it on the deny list in the database.
    /// New joins with it are refused and a live visit at the booth ends within a minute
    /// (`certificate_revoked`); the running server records it in the audit log.
    Revoke {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long)]
        booth: String,
        /// The certificate's serial number (hex, colons allowed). Default: the certificate
        /// `confer certs booth` issued to this booth under DATA_DIR.
        #[arg(long)]
        serial: Option<String>,
        /// The server's `store.url` when it uses PostgreSQL (postgres://…); default:
        /// the SQLite files under the data dir.
        #[arg(long, env = "CONFER_STORE__URL")]
        store_url: Option<String>,
    },
    /// Reissue the server certificate (e.g. for new host names).
    Server {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
}

fn main() {
    // First thing, before any thread (`memory::fix_mmap_threshold`; `app::start` repeats it).
    confer::memory::fix_mmap_threshold();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve { .. }) {
        // Still one thread: restart in place with small allocator caches, so that memory goes
        // back after a busy hour (`memory::restart_with_small_tcaches`).
        if let Err(e) = confer::memory::restart_with_small_tcaches() {
            eprintln!(
                "confer: 无法以较小的分配器缓存重新启动 / cannot restart with small allocator caches ({e}); running with glibc's defaults"
            );
        }
    }
    let result = match cli.command {
        Command::Serve {
            data_dir,
            http_addr,
            media_addr,
            admin_addr,
            config,
            log_format,
            demo,
        } => {
            let overrides = Overrides {
                data_dir,
                http_addr,
                media_addr,
                admin_addr,
                demo,
            };
            // Configuration is loaded and validated before anything else happens.
            let config = match Config::load(config.as_deref(), &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("confer: {e}");
                    std::process::exit(EXIT_BAD_CONFIG);
                }
            };
            serve(config, log_format)
        }
        Command::Certs { command } => certs(command),
        Command::Audit { command } => audit(command),
        Command::Registry {
            command:
                RegistryCommand::Import {
                    data_dir,
                    store_url,
                    file,
                },
        } => registry_import(&data_dir, store_url.as_deref(), &file),
        Command::Admin { command } => admin(command),
        Command::Node { command } => node(command),
        Command::Receipt {
            command: ReceiptCommand::Verify { file, public_key },
        } => receipt_verify(&file, &public_key),
        Command::Version { assets } => {
            version(assets);
            Ok(())
        }
        Command::TurnConfig {
            config,
            data_dir,
            out,
        } => {
            let overrides = Overrides {
                data_dir,
                ..Overrides::default()
            };
            match Config::load(config.as_deref(), &overrides) {
                Ok(c) => confer::turn::write_coturn_config(&c, &out).map(|()| {
                    println!(
                        "wrote {} (0600; it holds the TURN shared secret)",
                        out.display()
                    )
                }),
                Err(e) => {
                    eprintln!("confer: {e}");
                    std::process::exit(EXIT_BAD_CONFIG);
                }
            }
        }
    };
    if let Err(e) = result {
        eprintln!("confer: {e:#}");
        std::process::exit(1);
    }
}

fn init_tracing(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("CONFER_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        // One JSON object per line, fields flattened, for log collectors in production.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

fn serve(config: Config, log_format: LogFormat) -> anyhow::Result<()> {
    init_tracing(log_format);
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let running = confer::app::start(config).await?;
        print_banner(&running, log_format);
        tokio::select! {
            () = wait_for_signal() => {}
            () = running.drained() => {
                tracing::warn!("this node is drained (confer node drain): exiting");
            }
        }
        tracing::info!("shutting down: telling live visits, closing peers, flushing the store");
        running.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn print_banner(r: &confer::app::Running, log_format: LogFormat) {
    // With JSON logs on standard output, the banner goes to standard error so that the
    // log stream stays one JSON object per line.
    let to_stderr = matches!(log_format, LogFormat::Json);
    macro_rules! println {
        ($($t:tt)*) => {
            if to_stderr { eprintln!($($t)*) } else { std::println!($($t)*) }
        };
    }
    let port = r.http_addr.port();
    let f = &r.first_start;
    println!();
    println!("confer is running.");
    println!("  lawyer page:   https://localhost:{port}/lawyer");
    println!("  booth page:    https://localhost:{port}/booth   (needs the booth certificate)");
    println!("  admin API:     https://{}/healthz", r.admin_addr);
    println!("  media (UDP):   {:?}", r.media_addrs);
    if let Some(tcp) = r.media_tcp_addr {
        println!("  media (TCP):   {tcp}   (ICE-TCP fallback when UDP is blocked)");
    }
    println!("  dev CA:        {}", r.pki.ca_cert.display());
    // Secrets never go to stdout or a log (journald keeps both): the banner names the files
    // that hold them (0600), read once by the operator.
    let credentials = r.state.config.data_dir.join("demo-credentials.txt");
    if let Some((u, _)) = &f.admin {
        println!(
            "  first staff account created: username {u} (role operator); its password and TOTP secret are in {}",
            credentials.display()
        );
    }
    if let Some((u, _)) = &f.demo_lawyer {
        println!(
            "  demo lawyer created:         username {u}; password in {}",
            credentials.display()
        );
    }
    if let Some((path, _)) = &f.booth_p12 {
        println!(
            "  demo booth certificate:      {}  password in {}",
            path.display(),
            r.pki.demo_booth_p12_password.display()
        );
    }
    if r.state.config.demo.enabled {
        println!();
        println!("To hold a demo visit in two browser tabs:");
        println!(
            "  1. Trust the dev CA ({}) in your browser, or accept the warning.",
            r.pki.ca_cert.display()
        );
        println!(
            "  2. Import the booth certificate {} (password in {}) into the browser's",
            r.pki.demo_booth_p12.display(),
            r.pki.demo_booth_p12_password.display()
        );
        println!("     personal certificates; open https://localhost:{port}/booth and pick it when asked.");
        println!(
            "  3. In another tab open https://localhost:{port}/lawyer, sign in as the demo lawyer"
        );
        println!(
            "     (credentials in {}), and join the open visit.",
            r.state
                .config
                .data_dir
                .join("demo-credentials.txt")
                .display()
        );
    }
    println!();
}

fn certs(command: CertsCommand) -> anyhow::Result<()> {
    match command {
        CertsCommand::Init { data_dir, hosts } => {
            let report = confer_certs::init(&data_dir, &hosts)?;
            for p in &report.created {
                println!("created {}", p.display());
            }
            if report.created.is_empty() {
                println!(
                    "nothing to do: every file already exists under {}",
                    report.dir.display()
                );
            }
            if let Some(pw) = &report.p12_password {
                println!("booth PKCS#12 password: {}", pw.expose());
            }
        }
        CertsCommand::Booth {
            data_dir,
            facility,
            booth,
        } => {
            let issued = confer_certs::issue_booth(
                &data_dir,
                &facility,
                &booth,
                confer_certs::Validity::days_from_now(confer_certs::BOOTH_VALIDITY_DAYS),
            )?;
            println!(
                "issued booth certificate {} (serial {})",
                issued.files.cert.display(),
                issued.serial
            );
            println!(
                "PKCS#12: {}  password {}",
                issued.files.p12.display(),
                issued.p12_password.expose()
            );
            if let Some(old) = issued.replaced_serial {
                println!("replaced certificate serial {old}: remove it from the facility's trust (revoke it)");
            }
        }
        CertsCommand::Revoke {
            data_dir,
            booth,
            serial,
            store_url,
        } => certs_revoke(&data_dir, &booth, serial.as_deref(), store_url.as_deref())?,
        CertsCommand::Server { data_dir, hosts } => {
            let issued = confer_certs::reissue_server(
                &data_dir,
                &hosts,
                confer_certs::Validity::days_from_now(365),
            )?;
            println!(
                "issued server certificate {} (serial {})",
                issued.cert.display(),
                issued.serial
            );
        }
    }
    Ok(())
}

/// Exit code of `confer audit verify` when the chain is not intact.
const EXIT_AUDIT_BROKEN: i32 = 2;

fn audit(command: AuditCommand) -> anyhow::Result<()> {
    use confer::audit::{hex, VerifyError};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match command {
        AuditCommand::Verify {
            data_dir,
            export,
            public_key,
            store_url,
        } => {
            let started = std::time::Instant::now();
            let result = match (&data_dir, &export, &public_key) {
                (_, Some(file), Some(key)) => confer::audit::verify_export(file, key),
                (Some(dir), _, key) => rt.block_on(confer::audit::verify_configured(
                    dir,
                    store_url.as_deref(),
                    key.as_deref(),
                )),
                _ => anyhow::bail!("give --data-dir DIR, or --export FILE with --public-key KEY"),
            };
            match result {
                Ok(s) => {
                    println!(
                        "audit log intact: {} records (seq {}..={}), {} checkpoints, head hash {}, {} records after the last checkpoint ({:.1} s)",
                        s.records,
                        s.first_seq,
                        s.first_seq + s.records.saturating_sub(1),
                        s.checkpoints,
                        hex(&s.head_hash),
                        s.unsigned_tail,
                        started.elapsed().as_secs_f64()
                    );
                    Ok(())
                }
                Err(VerifyError::Broken(b)) => {
                    println!("AUDIT LOG NOT INTACT: first bad seq {}: {}", b.seq, b.what);
                    std::process::exit(EXIT_AUDIT_BROKEN);
                }
                Err(VerifyError::Audit(e)) => Err(e.into()),
            }
        }
        AuditCommand::Export {
            data_dir,
            store_url,
            from,
            to,
            out,
        } => {
            if to < from {
                anyhow::bail!("--to is before --from");
            }
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let n = rt.block_on(confer::audit::export_configured(
                &data_dir,
                store_url.as_deref(),
                from,
                to,
                &mut *sink,
            ))?;
            sink.flush().context("cannot write the export")?;
            eprintln!("exported {n} audit entries (with the checkpoints that sign them)");
            Ok(())
        }
    }
}

/// Exit code of `confer receipt verify` when the receipt is not valid.
const EXIT_RECEIPT_INVALID: i32 = 2;

fn receipt_verify(file: &std::path::Path, public_key: &str) -> anyhow::Result<()> {
    let key = confer::receipt::service::parse_public_key(public_key).map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    match confer::receipt::verify(&bytes, &key) {
        Ok(receipt) => {
            println!("{}", confer::receipt::summary(&receipt));
            Ok(())
        }
        Err(why) => {
            println!("RECEIPT NOT VALID: {why}.");
            std::process::exit(EXIT_RECEIPT_INVALID);
        }
    }
}

fn version(assets: bool) {
    println!("confer {}", env!("CARGO_PKG_VERSION"));
    if assets {
        for a in confer_signaling::web::ASSETS {
            println!("{}  {}", a.sha256, a.path);
        }
    }
}

/// `confer certs revoke` (R-VERIFY-4): the deny list row only; the audit record is written
/// by the server (one writer of the audit chain) when its revocation sweep sees the row.
fn certs_revoke(
    data_dir: &std::path::Path,
    booth: &str,
    serial: Option<&str>,
    store_url: Option<&str>,
) -> anyhow::Result<()> {
    use confer::auth::revocation::{certificate_file, normalise_serial};
    existing_data_dir(data_dir)?;
    let (serial, sha256) = match serial {
        Some(s) => (
            Some(normalise_serial(s).with_context(|| {
                format!("{s:?} is not a serial number: write it in hex (colons allowed)")
            })?),
            None,
        ),
        None => {
            let path = confer_certs::booth_cert_path(data_dir, booth);
            let (s, h) = certificate_file(&path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read the booth's certificate ({e}); give its serial with --serial"
                )
            })?;
            (Some(s), Some(h))
        }
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let store = confer::store::Store::open_configured(data_dir, store_url)
            .await
            .context("cannot open the database")?;
        let booth_id = confer::ids::BoothId(booth.to_owned());
        let result = async {
            anyhow::ensure!(
                store.booth(&booth_id).await?.is_some(),
                "no booth {booth:?} in this server's database"
            );
            store
                .revoke_booth_certificate(
                    &confer::store::revocation::NewRevocation {
                        booth: booth_id,
                        serial: serial.clone(),
                        certificate_sha256: sha256.clone(),
                        revoked_by: "command_line",
                        admin: None,
                        audited: false,
                    },
                    chrono::Utc::now(),
                )
                .await?;
            Ok(())
        }
        .await;
        store.close().await;
        result?;
        println!(
            "revoked the certificate of booth {booth} (serial {}{}): joins with it are refused; a live visit at the booth ends within a minute",
            serial.as_deref().unwrap_or("-"),
            sha256.map(|h| format!(", SHA-256 {h}")).unwrap_or_default()
        );
        Ok(())
    })
}

fn node(command: NodeCommand) -> anyhow::Result<()> {
    let (data_dir, store_url) = match &command {
        NodeCommand::List {
            data_dir,
            store_url,
        }
        | NodeCommand::Drain {
            data_dir,
            store_url,
            ..
        } => (data_dir.clone(), store_url.clone()),
    };
    existing_data_dir(&data_dir)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let store = confer::store::Store::open_configured(&data_dir, store_url.as_deref())
            .await
            .context("cannot open the database")?;
        let result = async {
            match command {
                NodeCommand::List { .. } => {
                    let now = chrono::Utc::now();
                    for n in store.nodes().await? {
                        println!(
                            "{}\t{}\tlast heartbeat {:.1} s ago\t{} live visits\t{}",
                            n.beat.id,
                            confer::cluster::state(&n, now).as_str(),
                            (now - n.heartbeat_at).num_milliseconds() as f64 / 1000.0,
                            n.beat.live_visits,
                            n.beat.public_url
                        );
                    }
                    Ok(())
                }
                NodeCommand::Drain { node, undo, .. } => {
                    let id = match node {
                        Some(id) => id,
                        None => confer::cluster::beat::node_id(None, &data_dir)
                            .context("cannot read this data dir's node id")?,
                    };
                    anyhow::ensure!(
                        store.set_node_draining(&id, !undo).await?,
                        "no node {id:?} in the registry (`confer node list` shows them)"
                    );
                    if undo {
                        println!("node {id} takes new visits again");
                    } else {
                        println!(
                            "node {id} is draining: no new visit starts there; it exits when its live visits have ended (within one heartbeat, 3 s)"
                        );
                    }
                    Ok(())
                }
            }
        }
        .await;
        store.close().await;
        result
    })
}

fn registry_import(
    data_dir: &std::path::Path,
    store_url: Option<&str>,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    existing_data_dir(data_dir)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let store = confer::store::Store::open_configured(data_dir, store_url)
            .await
            .context("cannot open the database")?;
        let result = confer::licence::import::import_file(&store, file).await;
        store.close().await;
        let report = result?;
        println!("{report}");
        Ok(())
    })
}

fn admin(command: AdminCommand) -> anyhow::Result<()> {
    use confer::admin::roles::StaffRole;
    let (data_dir, store_url) = match &command {
        AdminCommand::Create {
            data_dir,
            store_url,
            ..
        }
        | AdminCommand::ResetTotp {
            data_dir,
            store_url,
            ..
        } => (data_dir.clone(), store_url.clone()),
    };
    existing_data_dir(&data_dir)?;
    let vault = confer::admin::totp::TotpVault::open(&data_dir)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let store = confer::store::Store::open_configured(&data_dir, store_url.as_deref())
            .await
            .context("cannot open the database")?;
        let result = async {
            match command {
                AdminCommand::Create { role, username, .. } => {
                    let role = StaffRole::parse(&role).with_context(|| {
                        format!("unknown role {role:?}: use operator, auditor, sysadmin or investigator")
                    })?;
                    let created = confer::admin::staff::create_staff(
                        &store, &vault, &username, role, None,
                    )
                    .await?;
                    println!(
                        "created staff account {} (id {}, role {})",
                        created.username, created.id, created.role
                    );
                    println!("password:    {}   (shown once)", created.password);
                    println!("TOTP secret: {}   (add it to an authenticator app)", created.totp_secret);
                    println!("otpauth URI: {}", created.otpauth_uri);
                    println!("(the server records this account in its audit log at its next start)");
                }
                AdminCommand::ResetTotp { username, .. } => {
                    let row = store
                        .staff_by_username(&username)
                        .await?
                        .with_context(|| format!("no staff account {username:?}"))?;
                    let enrolment = vault.enrol(&username);
                    store.set_staff_totp(row.id, &enrolment.sealed).await?;
                    println!("new TOTP secret for {username}: {}", enrolment.secret_base32);
                    println!("otpauth URI: {}", enrolment.uri);
                }
            }
            anyhow::Ok(())
        }
        .await;
        store.close().await;
        result
    })
}

/// A command that works on a server's data dir needs the one the server uses.
fn existing_data_dir(data_dir: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        data_dir.is_dir(),
        "the data dir {} does not exist: pass the server's --data-dir",
        data_dir.display()
    );
    Ok(())
}
