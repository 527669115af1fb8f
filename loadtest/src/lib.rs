//! `confer-loadtest`: many synthetic lawyer–booth visits per process against a running confer,
//! measuring what the SFU costs and what the participants get (load test).
//!
//! Each visit is a lawyer peer and a booth peer that sign in, fetch join tokens and join
//! exactly as real clients do (public HTTPS API, the booth's client certificate, the
//! `confer-signaling` client over WSS), then exchange media by the traffic model of
//! [`traffic`] for a set time. One thread ([`engine`]) drives every peer's str0m `Rtc`.
//!
//! Module map:
//! - [`traffic`]: the traffic model, the probe header in every payload, receive accounting. Pure.
//! - [`engine`]: the media thread (sockets, str0m, send schedule, histograms).
//! - [`api`]: confer's staff API, join tokens and signalling.
//! - [`janus`]: the same visits through Janus's VideoCall plugin (`--target janus`).
//! - [`procstat`]: the server's CPU time and RSS from `/proc/PID`.
//! - [`report`]: the table and the JSON report.
//! - this file: options and the scenarios (`steady`, `ramp`, `join-storm`).
//!
//! Every run is bounded (`--max-run-secs`), stops by itself, and talks only to loopback
//! addresses (checked before anything is sent).

pub mod api;
pub mod engine;
pub mod fast;
pub mod janus;
pub mod procstat;
pub mod report;
pub mod traffic;

use anyhow::{bail, Context};
use api::{Confer, ConferAddrs};
use clap::{Parser, ValueEnum};
use engine::{Engine, PeerNet, Side, Window};
use procstat::{ProcSampler, Sample};
use report::{Report, Step};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which SFU is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    Confer,
    Janus,
}

/// What load to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `--visits` visits for `--duration` seconds.
    Steady,
    /// Add `--step` visits every `--step-secs` until loss > 0.5 % or p99 > 20 ms.
    Ramp,
    /// `--visits` lawyer joins at `--joins-per-sec` (booths wait, as kiosks do).
    JoinStorm,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Ramp => "ramp",
            Scenario::JoinStorm => "join-storm",
        }
    }
}

/// The ramp's limits: the knee is the last step within both.
pub const KNEE_LOSS_PCT: f64 = 0.5;
pub const KNEE_P99_MS: f64 = 20.0;

/// Command-line options.
#[derive(Debug, Clone, Parser)]
#[command(name = "confer-loadtest", version, about)]
pub struct Options {
    /// The SFU under test.
    #[arg(long, value_enum, default_value = "confer")]
    pub target: Target,
    #[arg(long, value_enum, default_value = "steady")]
    pub scenario: Scenario,
    /// Visits (steady), or lawyer joins (join-storm).
    #[arg(long, default_value_t = 10)]
    pub visits: u32,
    /// Seconds of measured media (steady, join-storm after the joins).
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Visits added per ramp step.
    #[arg(long, default_value_t = 10)]
    pub step: u32,
    /// Seconds measured per ramp step.
    #[arg(long, default_value_t = 5)]
    pub step_secs: u64,
    /// The ramp stops here even below the knee.
    #[arg(long, default_value_t = 300)]
    pub max_visits: u32,
    /// join-storm: lawyer joins started per second.
    #[arg(long, default_value_t = 20.0)]
    pub joins_per_sec: f64,
    /// steady/ramp: visits joining at the same time.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds of media before a window is measured.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// confer's public HTTPS/WSS listener.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub http_addr: SocketAddr,
    /// confer's admin (staff API) listener.
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub admin_addr: SocketAddr,
    /// Janus's HTTP API (`--target janus`).
    #[arg(long, default_value = "http://127.0.0.2:8088/janus")]
    pub janus_url: String,
    /// confer's data dir (demo credentials, dev CA, booth certificate).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// The server's process id, for CPU time and resident memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Pin every thread of `--server-pid` to these cores before the run (`taskset -a -p -c`
    /// syntax: `0`, `0,1`, `0-3`). Give confer one media worker per core (`[media] workers`).
    #[arg(long, requires = "server_pid")]
    pub server_cores: Option<String>,
    /// Address the synthetic peers bind their UDP sockets to.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_ip: IpAddr,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Hard bound on the whole run, in seconds.
    #[arg(long, default_value_t = 900)]
    pub max_run_secs: u64,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// How the peers reach confer's SFU: `udp`, or `tcp` (ICE-TCP: the SFU's passive TCP
    /// candidate at `--media-tcp-addr`, RFC 4571 framing; R-REMOTE-2). confer only.
    #[arg(long, value_enum, default_value = "udp")]
    pub transport: Transport,
    /// confer's ICE-TCP media listener (`[media] tcp_addr`), for `--transport tcp`.
    #[arg(long, default_value = "127.0.0.1:8445")]
    pub media_tcp_addr: SocketAddr,
    /// SFrame-protect every synthetic payload (RFC 9605, as the pages' end-to-end encryption
    /// does; R-PRIV-1) under one random media key per run: the SFU forwards ciphertext, and
    /// receivers count the payloads that open. No ECDH key agreement (a CPU measurement).
    #[arg(long)]
    pub e2ee: bool,
    /// How the synthetic peers send and receive media: `str0m` (its `write_rtp`, pacer and
    /// SRTP), `fast-tx` (packets stamped from a header template and protected with the leg's
    /// SRTP keys by confer-srtp, receiving through str0m) or `fast` (received media opened
    /// with the keys too and registered with str0m without an event, so its reports and
    /// congestion feedback stay str0m's). UDP only.
    #[arg(long, default_value = "str0m")]
    pub generator: fast::Generator,
    /// Wake the media thread at most once per this many microseconds (0: on every packet).
    /// On loopback the sender pays for waking the receiver, so a generator woken per packet
    /// adds to the server's kernel time; a tick removes that, and makes arrival times up to
    /// one tick late.
    #[arg(long, default_value_t = 0)]
    pub tick_us: u64,
}

/// The peers' media transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Options {
    /// Where each peer binds and how it reaches the SFU.
    fn peer_net(&self) -> PeerNet {
        PeerNet {
            ip: self.bind_ip,
            tcp: (self.transport == Transport::Tcp).then_some(self.media_tcp_addr),
        }
    }
}

/// Only loopback addresses are targets (the workplace rule; network namespaces use loopback
/// addresses too).
fn check_targets(opts: &Options) -> anyhow::Result<()> {
    let janus_host = opts
        .janus_url
        .strip_prefix("http://")
        .and_then(|rest| rest.split(['/', ':']).next())
        .and_then(|host| host.parse::<IpAddr>().ok())
        .context("--janus-url must be http://IP:PORT/janus with a loopback IP")?;
    for (what, ip) in [
        ("--http-addr", opts.http_addr.ip()),
        ("--admin-addr", opts.admin_addr.ip()),
        ("--bind-ip", opts.bind_ip),
        ("--janus-url", janus_host),
        ("--media-tcp-addr", opts.media_tcp_addr.ip()),
    ] {
        if !ip.is_loopback() {
            bail!("{what} {ip} is not a loopback address: this tool only loads servers on this machine");
        }
    }
    if opts.transport == Transport::Tcp && opts.target == Target::Janus {
        bail!(
            "--transport tcp is for confer's ICE-TCP listener; the Janus comparison runs over UDP"
        );
    }
    Ok(())
}

/// The SFU under test, signed in.
enum Backend {
    Confer(Confer),
    Janus(janus::Janus),
}

impl Backend {
    /// Set up one whole visit (book, booth joins, lawyer joins).
    async fn visit(
        &self,
        engine: &Engine,
        i: u32,
        ip: PeerNet,
        lasts: Duration,
    ) -> anyhow::Result<()> {
        match self {
            Backend::Confer(c) => {
                let id = c.book_visit(lasts).await?;
                c.join(engine, id, i, Side::Booth, ip).await?;
                c.join(engine, id, i, Side::Lawyer, ip).await
            }
            Backend::Janus(j) => j.visit(engine, i, ip.ip).await,
        }
    }

    async fn leave_all(&self) {
        match self {
            Backend::Confer(c) => c.leave_all().await,
            Backend::Janus(j) => j.leave_all().await,
        }
    }
}

/// Everything one scenario needs.
struct Run {
    opts: Options,
    backend: Arc<Backend>,
    engine: Arc<Engine>,
    sampler: Option<ProcSampler>,
    own: ProcSampler,
    deadline: Instant,
    join_failures: Arc<AtomicU64>,
}

/// A measured window with the server's counters around it.
struct Measured {
    window: Window,
    before: Option<Sample>,
    after: Option<Sample>,
    /// This process (the load generator) around the same window.
    own_before: Option<Sample>,
    own_after: Option<Sample>,
}

impl Measured {
    fn cpu_s(&self) -> Option<f64> {
        Some(self.after?.cpu_s - self.before?.cpu_s)
    }
}

impl Run {
    fn sample(&self) -> Option<Sample> {
        self.sampler.as_ref().and_then(|s| s.sample().ok())
    }

    fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Book and join visits `from..to` (booth first, then the lawyer), `concurrency` at a time.
    async fn add_visits(&mut self, from: u32, to: u32) -> anyhow::Result<()> {
        let lasts = Duration::from_secs(self.opts.max_run_secs + 600);
        let sem = Arc::new(tokio::sync::Semaphore::new(self.opts.concurrency.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for i in from..to {
            let permit = Arc::clone(&sem).acquire_owned().await?;
            let (backend, engine, failures, ip) = (
                Arc::clone(&self.backend),
                Arc::clone(&self.engine),
                Arc::clone(&self.join_failures),
                self.opts.peer_net(),
            );
            set.spawn(async move {
                if let Err(e) = backend.visit(&engine, i, ip, lasts).await {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("\nvisit {i}: join failed: {e:#}");
                }
                drop(permit);
            });
        }
        while set.join_next().await.is_some() {}
        Ok(())
    }

    /// Wait (bounded) until every peer is connected and every booth received its lawyer.
    async fn settle(&self, visits: u32) {
        let want_peers = u64::from(visits) * 2;
        let failed = self.join_failures.load(Ordering::Relaxed);
        let until = Instant::now() + Duration::from_secs(15).min(self.time_left());
        while Instant::now() < until {
            let live = &self.engine.live;
            let up = live.connected.load(Ordering::Relaxed) + live.failed.load(Ordering::Relaxed);
            let joined = live.joins.load(Ordering::Relaxed) + failed;
            if up + 2 * failed >= want_peers && joined >= u64::from(visits) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs_f64(self.opts.warmup.max(0.0))).await;
    }

    /// Measure one window of `secs` seconds (bounded by the run's deadline).
    async fn measure(&self, secs: u64) -> anyhow::Result<Measured> {
        self.engine.window().await?;
        let before = self.sample();
        let own_before = self.own.sample().ok();
        tokio::time::sleep(Duration::from_secs(secs).min(self.time_left())).await;
        let window = self.engine.window().await?;
        let after = self.sample();
        let own_after = self.own.sample().ok();
        Ok(Measured {
            window,
            before,
            after,
            own_before,
            own_after,
        })
    }
}

/// Run one scenario against the target and return the report.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    check_targets(&opts)?;
    if let (Some(pid), Some(cores)) = (opts.server_pid, opts.server_cores.as_deref()) {
        pin(pid, cores)?;
    }
    let sampler = opts.server_pid.map(ProcSampler::new).transpose()?;
    let own = ProcSampler::new(std::process::id())?;
    let idle = sampler.as_ref().map(ProcSampler::sample).transpose()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.max_run_secs);
    let backend = match opts.target {
        Target::Confer => Backend::Confer(
            Confer::sign_in(ConferAddrs {
                http: opts.http_addr,
                admin: opts.admin_addr,
                data_dir: opts.data_dir.clone(),
            })
            .await
            .context("cannot sign in to confer")?,
        ),
        Target::Janus => Backend::Janus(
            janus::Janus::connect(&opts.janus_url)
                .await
                .context("cannot reach Janus")?,
        ),
    };
    let engine = Arc::new(Engine::start_with(
        opts.e2ee.then(random_media_key),
        opts.generator,
        (opts.tick_us > 0).then(|| Duration::from_micros(opts.tick_us)),
    )?);
    let progress = (!opts.quiet).then(|| spawn_progress(Arc::clone(&engine), opts.scenario));
    let mut run = Run {
        opts: opts.clone(),
        backend: Arc::new(backend),
        engine: Arc::clone(&engine),
        sampler,
        own,
        deadline,
        join_failures: Arc::new(AtomicU64::new(0)),
    };
    let outcome = tokio::time::timeout(run.time_left(), scenario(&mut run)).await;
    engine.set_sending(false);
    // Peers closed by our own leaving are not failures: count before leaving.
    let peers_failed = engine.live.failed.load(Ordering::Relaxed);
    run.backend.leave_all().await;
    let totals = engine.finish().await?;
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    let (measured, visits, steps, knee) = outcome.context("the run hit --max-run-secs")??;
    let cpu_s = measured.cpu_s();
    let loadgen_cpu_s = match (measured.own_before, measured.own_after) {
        (Some(b), Some(a)) => Some(a.cpu_s - b.cpu_s),
        _ => None,
    };
    let w = &measured.window;
    let rss = measured.after.map(|s| s.rss_bytes);
    let per_visit = match (rss, idle) {
        (Some(r), Some(i)) if visits > 0 => {
            Some((r as f64 - i.rss_bytes as f64) / f64::from(visits))
        }
        _ => None,
    };
    Ok(Report {
        target: match opts.target {
            Target::Confer => "confer".into(),
            Target::Janus => "janus".into(),
        },
        scenario: opts.scenario.name().into(),
        transport: match opts.transport {
            Transport::Udp => "udp".into(),
            Transport::Tcp => "tcp".into(),
        },
        e2ee: opts.e2ee,
        generator: opts.generator,
        tick_us: opts.tick_us,
        fast_packets_sent: w.fast_sent,
        fast_packets_opened: w.fast_opened,
        fast_open_failures: w.fast_open_failures,
        sframe_opened: w.sframe_opened,
        sframe_failed: w.sframe_failed,
        visits,
        duration_s: w.elapsed.as_secs_f64(),
        packets_sent: w.sent,
        packets_forwarded: w.received,
        loss_pct: w.loss_pct(),
        duplicates: w.duplicates,
        reordered: w.reordered,
        foreign_packets: totals.all.foreign,
        one_way_ms: report::one_way(&w.delay_us),
        join_ms: report::join_times(&totals.join_ms),
        loadgen_max_late_ms: w.max_lateness.as_secs_f64() * 1000.0,
        join_failures: run.join_failures.load(Ordering::Relaxed),
        peers_failed,
        server_cpu_s: cpu_s,
        loadgen_cpu_s,
        server_cpu_us_per_packet: cpu_s.and_then(|c| report::cpu_per_packet(c, w)),
        loadgen_cpu_us_per_packet: loadgen_cpu_s.and_then(|c| report::cpu_per_packet(c, w)),
        server_rss_bytes: rss,
        server_rss_bytes_idle: idle.map(|s| s.rss_bytes),
        server_rss_bytes_per_visit: per_visit,
        knee_visits: knee.map(|(k, _)| k),
        knee_reached: knee.map(|(_, reached)| reached),
        steps,
    })
}

/// The measured window, the visits it was measured with, the ramp's steps and its knee.
type Outcome = (Measured, u32, Vec<Step>, Option<(u32, bool)>);

async fn scenario(run: &mut Run) -> anyhow::Result<Outcome> {
    match run.opts.scenario {
        Scenario::Steady => {
            let n = run.opts.visits;
            run.add_visits(0, n).await?;
            run.settle(n).await;
            Ok((run.measure(run.opts.duration).await?, n, Vec::new(), None))
        }
        Scenario::JoinStorm => join_storm(run).await,
        Scenario::Ramp => ramp(run).await,
    }
}

async fn ramp(run: &mut Run) -> anyhow::Result<Outcome> {
    let mut steps = Vec::new();
    let mut last_good: Option<(u32, Measured)> = None;
    let step = run.opts.step.max(1);
    let mut visits = 0;
    loop {
        let next = (visits + step).min(run.opts.max_visits);
        if next == visits || run.time_left() < Duration::from_secs(run.opts.step_secs + 5) {
            break;
        }
        run.add_visits(visits, next).await?;
        visits = next;
        run.settle(visits).await;
        let m = run.measure(run.opts.step_secs).await?;
        let w = &m.window;
        let one_way = report::one_way(&w.delay_us);
        let ok = w.loss_pct() <= KNEE_LOSS_PCT && one_way.p99 <= KNEE_P99_MS && w.received > 0;
        steps.push(Step {
            visits,
            loss_pct: w.loss_pct(),
            one_way_ms: one_way,
            packets_forwarded: w.received,
            server_cpu_us_per_packet: m.cpu_s().and_then(|c| report::cpu_per_packet(c, w)),
            server_rss_bytes: m.after.map(|s| s.rss_bytes),
            ok,
        });
        if !ok {
            // Report the knee step's window (or this one when even the first step failed).
            let (knee, measured, at) = match last_good {
                Some((v, g)) => (v, g, v),
                None => (0, m, visits),
            };
            return Ok((measured, at, steps, Some((knee, true))));
        }
        last_good = Some((visits, m));
    }
    match last_good {
        Some((v, m)) => Ok((m, v, steps, Some((v, false)))),
        None => bail!("the ramp measured no step (raise --max-run-secs or --max-visits)"),
    }
}

async fn join_storm(run: &mut Run) -> anyhow::Result<Outcome> {
    let n = run.opts.visits;
    let lasts = Duration::from_secs(run.opts.max_run_secs + 600);
    let Backend::Confer(confer) = &*run.backend else {
        // Janus: a VideoCall visit is set up in one go (register, call, accept), at the rate.
        let interval = Duration::from_secs_f64(1.0 / run.opts.joins_per_sec.max(0.01));
        let mut ticker = tokio::time::interval(interval);
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            ticker.tick().await;
            let (backend, engine, failures, ip) = (
                Arc::clone(&run.backend),
                Arc::clone(&run.engine),
                Arc::clone(&run.join_failures),
                run.opts.peer_net(),
            );
            set.spawn(async move {
                if let Err(e) = backend.visit(&engine, i, ip, lasts).await {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("\nvisit {i}: join failed: {e:#}");
                }
            });
        }
        while set.join_next().await.is_some() {}
        run.settle(n).await;
        return Ok((run.measure(run.opts.duration).await?, n, Vec::new(), None));
    };
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push((i, confer.book_visit(lasts).await?));
    }
    // The booths wait first, as kiosks do (joined with bounded concurrency, not timed).
    let sem = Arc::new(tokio::sync::Semaphore::new(run.opts.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for &(i, id) in &ids {
        let permit = Arc::clone(&sem).acquire_owned().await?;
        let (backend, engine, ip) = (
            Arc::clone(&run.backend),
            Arc::clone(&run.engine),
            run.opts.peer_net(),
        );
        set.spawn(async move {
            let Backend::Confer(confer) = &*backend else {
                return Ok(());
            };
            let r = confer.join(&engine, id, i, Side::Booth, ip).await;
            drop(permit);
            r.map_err(|e| (i, e))
        });
    }
    let mut booth_failed = std::collections::HashSet::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err((i, e))) => {
                run.join_failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("\nvisit {i}: booth join failed: {e:#}");
                booth_failed.insert(i);
            }
            Err(e) => bail!("a join task failed: {e}"),
        }
    }
    ids.retain(|(i, _)| !booth_failed.contains(i));
    // Then the lawyers, at the requested rate, each join timed from its request.
    let interval = Duration::from_secs_f64(1.0 / run.opts.joins_per_sec.max(0.01));
    let mut ticker = tokio::time::interval(interval);
    let mut set = tokio::task::JoinSet::new();
    for (i, id) in ids {
        ticker.tick().await;
        let (backend, engine, failures, ip) = (
            Arc::clone(&run.backend),
            Arc::clone(&run.engine),
            Arc::clone(&run.join_failures),
            run.opts.peer_net(),
        );
        set.spawn(async move {
            let Backend::Confer(confer) = &*backend else {
                return;
            };
            if let Err(e) = confer.join(&engine, id, i, Side::Lawyer, ip).await {
                failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("\nvisit {i}: lawyer join failed: {e:#}");
            }
        });
    }
    while set.join_next().await.is_some() {}
    run.settle(n).await;
    Ok((run.measure(run.opts.duration).await?, n, Vec::new(), None))
}

/// A live line on stderr, once a second.
fn spawn_progress(engine: Arc<Engine>, scenario: Scenario) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut last = 0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let live = &engine.live;
            let rx = live.received.load(Ordering::Relaxed);
            eprint!(
                "\r{} {:>4}s  peers up {:>4}  failed {:>3}  joins {:>4}  received {:>7} pkt/s   ",
                scenario.name(),
                started.elapsed().as_secs(),
                live.connected.load(Ordering::Relaxed),
                live.failed.load(Ordering::Relaxed),
                live.joins.load(Ordering::Relaxed),
                rx - last,
            );
            last = rx;
        }
    })
}

/// Write the JSON report.
/// Pin every thread of process `pid` to `cores` (`--server-cores`), with util-linux's taskset.
fn pin(pid: u32, cores: &str) -> anyhow::Result<()> {
    if cores.is_empty()
        || !cores
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
    {
        bail!("--server-cores {cores:?}: give cores as taskset does, e.g. 0 or 0,1 or 0-3");
    }
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run taskset (util-linux) for --server-cores")?;
    if !status.success() {
        bail!("taskset could not pin process {pid} to cores {cores}");
    }
    Ok(())
}

/// A fresh random media key for `--e2ee`.
fn random_media_key() -> [u8; 16] {
    confer_signaling::e2ee::random_media_key()
}

pub fn write_json(report: &Report, path: &std::path::Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::pin;

    #[test]
    fn server_cores_pin_every_thread_of_the_process_and_bad_lists_are_refused() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let pinned = pin(child.id(), "0");
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
        let _ = child.kill();
        let _ = child.wait();
        pinned.expect("taskset pins the process");
        let allowed = status.unwrap().lines().find_map(|l| {
            l.strip_prefix("Cpus_allowed_list:")
                .map(|v| v.trim().to_owned())
        });
        assert_eq!(allowed.as_deref(), Some("0"));
        for bad in ["", "0;rm -rf /", "all", "0 1"] {
            assert!(pin(1, bad).is_err(), "{bad:?}");
        }
    }
}
