//! The `confer` command line: thin on purpose; everything lives in the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use confer::config::{Config, Overrides, EXIT_BAD_CONFIG};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "confer", version, about = "Secure video visits between defence lawyers and detainees")]
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
    },
    /// Development certificates (see certs/README.md).
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
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
    /// Reissue the server certificate (e.g. for new host names).
    Server {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { data_dir, http_addr, media_addr, admin_addr, config } => {
            let overrides = Overrides { data_dir, http_addr, media_addr, admin_addr };
            // Configuration is loaded and validated before anything else happens.
            let config = match Config::load(config.as_deref(), &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("confer: {e}");
                    std::process::exit(EXIT_BAD_CONFIG);
                }
            };
            serve(config)
        }
        Command::Certs { command } => certs(command),
    };
    if let Err(e) = result {
        eprintln!("confer: {e:#}");
        std::process::exit(1);
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONFER_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

fn serve(config: Config) -> anyhow::Result<()> {
    init_tracing();
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let running = confer::app::start(config).await?;
        print_banner(&running);
        wait_for_signal().await;
        tracing::info!("shutting down: telling live visits, closing peers, flushing the store");
        running.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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

fn print_banner(r: &confer::app::Running) {
    let port = r.http_addr.port();
    let f = &r.first_start;
    println!();
    println!("confer is running.");
    println!("  lawyer page:   https://localhost:{port}/lawyer");
    println!("  booth page:    https://localhost:{port}/booth   (needs the booth certificate)");
    println!("  admin API:     https://{}/healthz", r.admin_addr);
    println!("  media (UDP):   {:?}", r.media_addrs);
    println!("  dev CA:        {}", r.pki.ca_cert.display());
    if let Some((u, p)) = &f.admin {
        println!("  first staff account created: username {u}  password {p}   (shown once)");
    }
    if let Some((u, p)) = &f.demo_lawyer {
        println!("  demo lawyer created:         username {u}  password {p}");
    }
    if let Some((path, p)) = &f.booth_p12 {
        println!("  demo booth certificate:      {}  password {p}", path.display());
    }
    if r.state.config.demo.enabled {
        println!();
        println!("To hold a demo visit in two browser tabs:");
        println!("  1. Trust the dev CA ({}) in your browser, or accept the warning.", r.pki.ca_cert.display());
        println!("  2. Import the booth certificate {} (password in {}) into the browser's", r.pki.demo_booth_p12.display(), r.pki.demo_booth_p12_password.display());
        println!("     personal certificates; open https://localhost:{port}/booth and pick it when asked.");
        println!("  3. In another tab open https://localhost:{port}/lawyer, sign in as the demo lawyer");
        println!("     (credentials in {}), and join the open visit.", r.state.config.data_dir.join("demo-credentials.txt").display());
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
                println!("nothing to do: every file already exists under {}", report.dir.display());
            }
            if let Some(pw) = &report.p12_password {
                println!("booth PKCS#12 password: {}", pw.expose());
            }
        }
        CertsCommand::Booth { data_dir, facility, booth } => {
            let issued = confer_certs::issue_booth(&data_dir, &facility, &booth, confer_certs::Validity::days_from_now(confer_certs::BOOTH_VALIDITY_DAYS))?;
            println!("issued booth certificate {} (serial {})", issued.files.cert.display(), issued.serial);
            println!("PKCS#12: {}  password {}", issued.files.p12.display(), issued.p12_password.expose());
            if let Some(old) = issued.replaced_serial {
                println!("replaced certificate serial {old}: remove it from the facility's trust (revoke it)");
            }
        }
        CertsCommand::Server { data_dir, hosts } => {
            let issued = confer_certs::reissue_server(&data_dir, &hosts, confer_certs::Validity::days_from_now(365))?;
            println!("issued server certificate {} (serial {})", issued.cert.display(), issued.serial);
        }
    }
    Ok(())
}
