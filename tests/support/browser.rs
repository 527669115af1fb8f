//! Headless Chromium for end-to-end tests of the lawyer page and the booth page.
//!
//! Owns: finding Debian's `chromium` and `chromedriver`, writing fake camera
//! files (y4m), starting one chromedriver + Chromium per side with its own
//! HOME, profile and NSS database, trusting the dev CA through that NSS
//! database, importing a booth's PKCS#12 client certificate and having
//! Chromium present it without a prompt, and killing every process it started.
//!
//! Does not: start the confer server, know what the pages mean (beyond the
//! `window.conferPc` stats helper), or skip silently in CI.
//!
//! How a booth browser gets its certificate presented (checked with
//! Chromium 156 headless, see `tests/browser_selftest.rs`):
//! * Chromium on Linux reads client certificates and keys from the NSS
//!   database at `$HOME/.pki/nssdb`; chromedriver and Chromium inherit the
//!   HOME we give chromedriver, so every browser has its own database.
//! * The dev CA is trusted as a TLS issuer in that database (`certutil -t C,,`):
//!   no `--ignore-certificate-errors` of any kind.
//! * Headless Chromium never shows the certificate picker: without an
//!   auto-select rule a navigation to a server that asks for a certificate
//!   hangs. Chromium 156 has no command-line switch for it. Two rules work,
//!   both exercised by the self-test ([`CertAutoSelect`]):
//!   - default: the profile's own `auto_select_certificate` content setting,
//!     written into the fresh profile's `Default/Preferences` before start.
//!     Per browser, needs no root, touches nothing outside the temp dir; but
//!     the preference layout is Chromium's internal format.
//!   - the documented `AutoSelectCertificateForUrls` enterprise policy. On
//!     Linux policies come only from `/etc/chromium/policies/managed/`, so
//!     the harness (as root) writes `confer-test-autoselect-<pid>.json` there
//!     while such a browser lives and removes it afterwards. It is machine
//!     wide, so its content names only scheme and host (any port); browsers
//!     without a client certificate in their NSS database are unaffected.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Longest a single WebDriver command (navigation, script, click) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest chromedriver + Chromium may take to start a session.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a helper tool (certutil, pk12util) may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

/// Where Debian's chromium policies live; overridable for other layouts.
const DEFAULT_POLICY_DIR: &str = "/etc/chromium/policies/managed";

/// The Chromium flags every test browser gets (besides the per-browser
/// `--user-data-dir` and `--use-file-for-fake-video-capture`). There is no
/// network here: everything that would phone home is off, and host names
/// other than 127.0.0.1 do not resolve.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--password-store=basic",
    "--window-size=1280,800",
    // WebRTC on loopback: host candidates on 127.0.0.1, no mDNS names.
    "--allow-loopback-in-peer-connection",
    // Only one --disable-features takes effect (the last): merge with commas.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
];

// ---------------------------------------------------------------------------
// Finding the browser
// ---------------------------------------------------------------------------

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Chromium's path: `$CONFER_CHROMIUM` or `/usr/bin/chromium`.
pub fn chromium_path() -> PathBuf {
    std::env::var_os("CONFER_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// chromedriver's path: `$CONFER_CHROMEDRIVER` or `/usr/bin/chromedriver`.
pub fn chromedriver_path() -> PathBuf {
    std::env::var_os("CONFER_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

fn tool_on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
}

/// Chromium's path when it and its helpers (chromedriver, certutil, pk12util)
/// are installed. When something is missing: in CI (`CI=true`) this panics,
/// because browser tests must fail there, never skip; elsewhere it prints a
/// loud SKIPPED line and returns `None`, and the caller returns early.
pub fn chromium_or_fail() -> Option<PathBuf> {
    let chromium = chromium_path();
    let mut missing = Vec::new();
    if !chromium.is_file() {
        missing.push(format!("{} (package chromium)", chromium.display()));
    }
    let driver = chromedriver_path();
    if !driver.is_file() {
        missing.push(format!("{} (package chromium-driver)", driver.display()));
    }
    for tool in ["certutil", "pk12util"] {
        if !tool_on_path(tool) {
            missing.push(format!("{tool} (package libnss3-tools)"));
        }
    }
    if missing.is_empty() {
        return Some(chromium);
    }
    let message = format!(
        "browser tests need {}: `apt-get install chromium chromium-driver libnss3-tools`",
        missing.join(", ")
    );
    if in_ci() {
        panic!("{message} (CI=true: browser tests fail rather than skip)");
    }
    let banner = "*".repeat(72);
    eprintln!("{banner}\nSKIPPED: chromium not installed. {message}\n{banner}");
    println!("SKIPPED: chromium not installed");
    None
}

// ---------------------------------------------------------------------------
// Fake cameras
// ---------------------------------------------------------------------------

/// The lawyer's fake camera: mostly blue.
pub const LAWYER_COLOUR: [u8; 3] = [30, 70, 220];
/// The booth's fake camera: mostly orange.
pub const BOOTH_COLOUR: [u8; 3] = [230, 110, 20];

pub const FAKE_WIDTH: usize = 320;
pub const FAKE_HEIGHT: usize = 240;
pub const FAKE_FRAMES: usize = 30;
pub const FAKE_FPS: usize = 15;

/// RGB to BT.601 limited-range Y'CbCr, what Chromium assumes for I420 frames.
fn rgb_to_ycbcr([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    let cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
    let cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
    [y, cb, cr].map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// Writes a y4m (YUV4MPEG2, 4:2:0) clip for `--use-file-for-fake-video-capture`:
/// a solid `colour` with a white bar moving across the top quarter, so the
/// centre of the picture always shows `colour` and the stream is never static.
pub fn write_fake_camera(path: &Path, colour: [u8; 3]) -> std::io::Result<()> {
    let (w, h) = (FAKE_WIDTH, FAKE_HEIGHT);
    let [y, cb, cr] = rgb_to_ycbcr(colour);
    let [white_y, white_cb, white_cr] = rgb_to_ycbcr([255, 255, 255]);
    let bar_width = w / 8;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "YUV4MPEG2 W{w} H{h} F{FAKE_FPS}:1 Ip A1:1 C420jpeg")?;
    for frame in 0..FAKE_FRAMES {
        let bar_x = frame * (w - bar_width) / (FAKE_FRAMES - 1);
        let in_bar = |x: usize, row: usize| row < h / 4 && (bar_x..bar_x + bar_width).contains(&x);
        out.write_all(b"FRAME\n")?;
        let mut plane = Vec::with_capacity(w * h);
        for row in 0..h {
            plane.extend((0..w).map(|x| if in_bar(x, row) { white_y } else { y }));
        }
        out.write_all(&plane)?;
        for (value, white) in [(cb, white_cb), (cr, white_cr)] {
            let mut chroma = Vec::with_capacity(w * h / 4);
            for row in 0..h / 2 {
                chroma
                    .extend((0..w / 2).map(|x| if in_bar(x * 2, row * 2) { white } else { value }));
            }
            out.write_all(&chroma)?;
        }
    }
    out.flush()
}

/// Writes `<dir>/<label>.y4m` in `colour` and returns its path.
pub fn fake_camera(dir: &Path, label: &str, colour: [u8; 3]) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{label}.y4m"));
    write_fake_camera(&path, colour)?;
    Ok(path)
}

/// Whether a colour sampled from a decoded picture is `expected` rather than
/// `other` (nearer in RGB). Codec and colour-range conversions shift colours,
/// so exact equality is never expected.
pub fn colour_is(seen: [u8; 3], expected: [u8; 3], other: [u8; 3]) -> bool {
    let dist = |a: [u8; 3], b: [u8; 3]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (i32::from(*x) - i32::from(y)).pow(2))
            .sum::<i32>()
    };
    dist(seen, expected) < dist(seen, other)
}

// ---------------------------------------------------------------------------
// Booth credentials written by the server
// ---------------------------------------------------------------------------

/// The booth's PKCS#12 file and its password, as the server's first start
/// writes them: `<data-dir>/pki/booths/<booth>.p12` and `<booth>.p12.password`.
pub fn booth_p12(data_dir: &Path, booth: &str) -> anyhow::Result<(PathBuf, String)> {
    let p12 = data_dir
        .join("pki")
        .join("booths")
        .join(format!("{booth}.p12"));
    let password_file = data_dir
        .join("pki")
        .join("booths")
        .join(format!("{booth}.p12.password"));
    let password = std::fs::read_to_string(&password_file)
        .with_context(|| format!("reading {}", password_file.display()))?;
    anyhow::ensure!(p12.is_file(), "no booth certificate at {}", p12.display());
    Ok((p12, password.trim_end_matches(['\r', '\n']).to_string()))
}

// ---------------------------------------------------------------------------
// NSS database (trust + client certificate)
// ---------------------------------------------------------------------------

fn run_tool(mut cmd: Command) -> anyhow::Result<String> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let deadline = Instant::now() + TOOL_TIMEOUT;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{shown} did not finish within {TOOL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    anyhow::ensure!(
        output.status.success(),
        "{shown} failed ({}): {text}",
        output.status
    );
    Ok(text)
}

/// Creates `$HOME/.pki/nssdb`, trusts `ca_pem` for TLS servers and, for a
/// booth, imports its PKCS#12 client certificate and key.
fn provision_nss(
    home: &Path,
    ca_pem: &Path,
    client_p12: Option<&(PathBuf, String)>,
) -> anyhow::Result<()> {
    let db_dir = home.join(".pki").join("nssdb");
    std::fs::create_dir_all(&db_dir)?;
    let db = format!("sql:{}", db_dir.display());

    let mut create = Command::new("certutil");
    create.args(["-N", "-d", &db, "--empty-password"]);
    run_tool(create).context("creating the NSS database")?;

    let mut trust = Command::new("certutil");
    trust
        .args(["-A", "-n", "confer-dev-ca", "-t", "C,,", "-d", &db, "-i"])
        .arg(ca_pem);
    run_tool(trust).context("trusting the dev CA in the NSS database")?;

    if let Some((p12, password)) = client_p12 {
        let mut import = Command::new("pk12util");
        import
            .arg("-i")
            .arg(p12)
            .args(["-d", &db, "-W", password, "-K", ""]);
        run_tool(import).context("importing the booth's PKCS#12 into the NSS database")?;
        let mut list = Command::new("certutil");
        list.args(["-K", "-d", &db]);
        let keys = run_tool(list).context("listing keys in the NSS database")?;
        anyhow::ensure!(
            keys.contains('<'),
            "no private key after importing {}: {keys}",
            p12.display()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// AutoSelectCertificateForUrls policy (machine wide, reference counted)
// ---------------------------------------------------------------------------

fn policy_dir() -> PathBuf {
    std::env::var_os("CONFER_CHROMIUM_POLICY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY_DIR))
}

/// This process's policy file (exists while a `CertAutoSelect::Policy` booth browser lives).
pub fn policy_file() -> PathBuf {
    policy_dir().join(format!(
        "confer-test-autoselect-{}.json",
        std::process::id()
    ))
}

/// Patterns wanted by live browsers of this process, with their counts. A
/// std Mutex: held only for a file write, never across `.await`.
static POLICY_PATTERNS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// `https://127.0.0.1:4433/anything` -> `https://127.0.0.1:*`, the
/// auto-select pattern: the policy file is shared by every test of the
/// machine, so it names no port (and the profile preference does the same).
pub fn autoselect_pattern(origin: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(origin).with_context(|| format!("origin {origin:?}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| anyhow!("origin {origin:?} has no host"))?;
    Ok(format!("{}://{}:*", url.scheme(), host))
}

fn write_policy(patterns: &BTreeMap<String, usize>) -> anyhow::Result<()> {
    let file = policy_file();
    if patterns.is_empty() {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => return Ok(()),
        }
    }
    let rules: Vec<String> = patterns
        .keys()
        .map(|pattern| json!({ "pattern": pattern, "filter": {} }).to_string())
        .collect();
    let body = serde_json::to_string_pretty(&json!({ "AutoSelectCertificateForUrls": rules }))?;
    std::fs::create_dir_all(policy_dir()).with_context(|| {
        format!(
            "creating {} (the harness must run as root to set Chromium policy)",
            policy_dir().display()
        )
    })?;
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &file)?;
    Ok(())
}

/// Removes policy files left by test processes that no longer exist.
fn remove_stale_policies() {
    let Ok(entries) = std::fs::read_dir(policy_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("confer-test-autoselect-")
            .and_then(|rest| rest.strip_suffix(".json"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Keeps the auto-select policy for one pattern in force while alive.
struct PolicyGuard {
    pattern: String,
}

impl PolicyGuard {
    fn acquire(pattern: String) -> anyhow::Result<Self> {
        let mut patterns = POLICY_PATTERNS.lock().unwrap_or_else(|e| e.into_inner());
        if patterns.is_empty() {
            remove_stale_policies();
        }
        *patterns.entry(pattern.clone()).or_insert(0) += 1;
        if let Err(e) = write_policy(&patterns) {
            release(&mut patterns, &pattern);
            return Err(e);
        }
        Ok(Self { pattern })
    }
}

fn release(patterns: &mut BTreeMap<String, usize>, pattern: &str) {
    if let Some(count) = patterns.get_mut(pattern) {
        *count -= 1;
        if *count == 0 {
            patterns.remove(pattern);
        }
    }
}

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        let mut patterns = POLICY_PATTERNS.lock().unwrap_or_else(|e| e.into_inner());
        release(&mut patterns, &self.pattern);
        if let Err(e) = write_policy(&patterns) {
            eprintln!(
                "warning: could not update {}: {e:#}",
                policy_file().display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// Every live process whose parent chain leads to `root` (root included).
fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids);
        }
        i += 1;
    }
    tree
}

/// Live processes whose command line mentions `needle` (a browser's own
/// temporary directory, so this never matches anything we did not start).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        // Zombies have an empty command line and are already dead.
        if !cmdline.is_empty() && String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

fn kill_pid(pid: u32) {
    // SAFETY: kill(2) with a pid we started (or our child's descendants).
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

// ---------------------------------------------------------------------------
// chromedriver's non-standard endpoints
// ---------------------------------------------------------------------------

/// `POST /session/{id}/se/log {"type": "browser"}`: the console messages
/// collected since the last call (needs `goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (hyper::Method, Option<String>) {
        (
            hyper::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

// ---------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------

/// How a booth browser is made to present its client certificate unasked
/// (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertAutoSelect {
    /// `auto_select_certificate` content setting in the fresh profile.
    ProfilePreference,
    /// `AutoSelectCertificateForUrls` policy file in /etc/chromium (root).
    Policy,
}

/// The profile preference that auto-selects any certificate of the NSS
/// database for `pattern` (a content-settings pattern such as
/// `https://127.0.0.1:*`; the secondary pattern `*` means any embedder).
fn autoselect_preferences(pattern: &str) -> Value {
    json!({ "profile": { "content_settings": { "exceptions": { "auto_select_certificate": {
        format!("{pattern},*"): { "setting": { "filters": [ {} ] } }
    } } } } })
}

/// What one side's browser is given.
#[derive(Debug, Clone)]
pub struct BrowserOpts {
    /// `lawyer`, `booth`, ...: names artifacts and temp dirs.
    pub label: String,
    /// A y4m file (see [`fake_camera`]) played as the camera.
    pub fake_video: PathBuf,
    /// The booth's PKCS#12 client certificate and its password.
    pub client_p12: Option<(PathBuf, String)>,
    /// The CA that issued the server's certificate; trusted through NSS.
    pub ca_pem: PathBuf,
    /// Where the client certificate is presented without a prompt, e.g.
    /// `https://127.0.0.1:8443` (the rule covers every port of that host).
    pub origin_for_cert_autoselect: String,
}

/// How a test browser presents itself: its language and screen.
#[derive(Debug, Clone, Default)]
pub struct Look {
    /// `zh-CN`, `en-US`, ...; English (`en-US`) when `None`.
    pub lang: Option<String>,
    /// Mobile emulation: a 390×844 touch screen.
    pub phone: bool,
}

impl Look {
    /// A Chinese (`zh-CN`) browser.
    pub fn chinese() -> Self {
        Self {
            lang: Some("zh-CN".into()),
            phone: false,
        }
    }

    fn lang(&self) -> &str {
        self.lang.as_deref().unwrap_or("en-US")
    }

    fn accept_languages(&self) -> String {
        let lang = self.lang();
        match lang.split_once('-') {
            Some((base, _)) => format!("{lang},{base}"),
            None => lang.to_owned(),
        }
    }
}

/// How a chromedriver start ended (see [`Browser::start_driver`]).
enum DriverStart {
    Listening(u16),
    /// It exited because its port was taken on one of the loopbacks; what it printed.
    PortTaken(String),
}

/// A network namespace chromedriver runs in (see [`Browser::launch_in_netns`]).
struct InNetns {
    name: String,
    ns_ip: std::net::IpAddr,
    root_ip: std::net::IpAddr,
}

/// One headless Chromium, driven through its own chromedriver. Dropping it
/// (or [`Browser::close`]) kills chromedriver, Chromium and all their children.
pub struct Browser {
    label: String,
    client: Option<Client>,
    driver: Option<Child>,
    /// The chromedriver program ([`chromedriver_path`] but in the harness's self-test).
    driver_path: PathBuf,
    dir: Option<tempfile::TempDir>,
    user_data_dir: PathBuf,
    /// Console lines collected so far (std Mutex: never held across `.await`).
    console: Mutex<Vec<String>>,
    _policy: Option<PolicyGuard>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a fresh Chromium with
    /// its own HOME (NSS database), profile and fake camera. A booth's
    /// certificate is auto-selected through the profile preference.
    pub async fn launch(opts: BrowserOpts) -> anyhow::Result<Browser> {
        Self::launch_with(opts, CertAutoSelect::ProfilePreference).await
    }

    /// [`Browser::launch`] with a chosen way of auto-selecting the client certificate.
    pub async fn launch_with(
        opts: BrowserOpts,
        autoselect: CertAutoSelect,
    ) -> anyhow::Result<Browser> {
        Self::launch_with_flags(opts, autoselect, &[]).await
    }

    /// [`Browser::launch_with`] plus extra Chromium flags (e.g. forcing WebRTC off UDP,
    /// tests/browser_tcp.rs).
    pub async fn launch_with_flags(
        opts: BrowserOpts,
        autoselect: CertAutoSelect,
        extra_flags: &[&str],
    ) -> anyhow::Result<Browser> {
        Self::launch_inner(
            opts,
            autoselect,
            extra_flags,
            None,
            &Look::default(),
            chromedriver_path(),
        )
        .await
    }

    /// [`Browser::launch`] with a browser language (`zh-CN`, `en-US`: `--lang` and the
    /// `intl.accept_languages` preference, so `navigator.languages` asks for it) and,
    /// with `phone`, Chromium's mobile emulation of a 390×844 touch screen.
    pub async fn launch_look(opts: BrowserOpts, look: Look) -> anyhow::Result<Browser> {
        Self::launch_inner(
            opts,
            CertAutoSelect::ProfilePreference,
            &[],
            None,
            &look,
            chromedriver_path(),
        )
        .await
    }

    /// [`Browser::launch`] through another chromedriver program (the harness's own
    /// self-test, tests/browser_selftest.rs).
    pub async fn launch_driven_by(opts: BrowserOpts, driver: PathBuf) -> anyhow::Result<Browser> {
        Self::launch_inner(
            opts,
            CertAutoSelect::ProfilePreference,
            &[],
            None,
            &Look::default(),
            driver,
        )
        .await
    }

    /// [`Browser::launch_with_flags`] with chromedriver (and so Chromium) running inside
    /// the network namespace `netns` (R-REMOTE-2, tests/support/netns.rs): chromedriver
    /// talks to Chromium on the namespace's loopback and accepts this test's WebDriver
    /// requests on `ns_ip` from `root_ip` only.
    pub async fn launch_in_netns(
        opts: BrowserOpts,
        extra_flags: &[&str],
        netns: &str,
        ns_ip: std::net::IpAddr,
        root_ip: std::net::IpAddr,
    ) -> anyhow::Result<Browser> {
        let ns = InNetns {
            name: netns.to_owned(),
            ns_ip,
            root_ip,
        };
        Self::launch_inner(
            opts,
            CertAutoSelect::ProfilePreference,
            extra_flags,
            Some(ns),
            &Look::default(),
            chromedriver_path(),
        )
        .await
    }

    async fn launch_inner(
        opts: BrowserOpts,
        autoselect: CertAutoSelect,
        extra_flags: &[&str],
        netns: Option<InNetns>,
        look: &Look,
        driver_path: PathBuf,
    ) -> anyhow::Result<Browser> {
        let chromium = chromium_path();
        anyhow::ensure!(chromium.is_file(), "{} not found", chromium.display());
        // Short name: Chromium's SingletonSocket path under it must stay < 108 bytes.
        let dir = tempfile::Builder::new().prefix("cfb-").tempdir()?;
        let home = dir.path().join("home");
        let user_data_dir = dir.path().join("profile");
        std::fs::create_dir_all(&home)?;
        std::fs::create_dir_all(&user_data_dir)?;

        provision_nss(&home, &opts.ca_pem, opts.client_p12.as_ref())
            .with_context(|| format!("preparing the {} browser's NSS database", opts.label))?;
        let mut policy = None;
        // The browser's language (the pages choose theirs from it): English unless asked.
        let mut prefs = json!({ "intl": { "accept_languages": look.accept_languages() } });
        if opts.client_p12.is_some() {
            let pattern = autoselect_pattern(&opts.origin_for_cert_autoselect)?;
            match autoselect {
                CertAutoSelect::ProfilePreference => {
                    prefs["profile"] = autoselect_preferences(&pattern)["profile"].clone();
                }
                CertAutoSelect::Policy => policy = Some(PolicyGuard::acquire(pattern)?),
            }
        }
        let default_profile = user_data_dir.join("Default");
        std::fs::create_dir_all(&default_profile)?;
        std::fs::write(
            default_profile.join("Preferences"),
            serde_json::to_vec(&prefs)?,
        )?;

        let mut browser = Browser {
            label: opts.label.clone(),
            client: None,
            driver: None,
            driver_path,
            dir: Some(dir),
            user_data_dir,
            console: Mutex::new(Vec::new()),
            _policy: policy,
        };
        // From here on, Drop cleans up whatever was started if we fail.
        let port = browser.start_driver(&home, netns.as_ref()).await?;
        let driver_ip = netns
            .as_ref()
            .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |n| n.ns_ip);

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--lang={}", look.lang()));
        args.extend(extra_flags.iter().map(|s| s.to_string()));
        args.push(format!(
            "--user-data-dir={}",
            browser.user_data_dir.display()
        ));
        args.push(format!(
            "--use-file-for-fake-video-capture={}",
            opts.fake_video.display()
        ));
        let mut chrome_options = json!({ "binary": chromium, "args": args });
        if look.phone {
            // A 390×844 touch phone (Chromium's device emulation through chromedriver).
            chrome_options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true },
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36",
            });
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": chrome_options,
            "goog:loggingPrefs": { "browser": "ALL" },
            "acceptInsecureCerts": false,
            "pageLoadStrategy": "normal",
            "timeouts": { "script": COMMAND_TIMEOUT.as_millis() as u64,
                          "pageLoad": COMMAND_TIMEOUT.as_millis() as u64,
                          "implicit": 0 },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let connected = tokio::time::timeout(
            LAUNCH_TIMEOUT,
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&format!("http://{driver_ip}:{port}")),
        )
        .await;
        match connected {
            Ok(Ok(client)) => {
                browser.client = Some(client);
                Ok(browser)
            }
            failed => {
                let logs = browser.save_logs();
                let why = match failed {
                    Err(_) => format!("did not start within {LAUNCH_TIMEOUT:?}"),
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(_)) => unreachable!(),
                };
                bail!(
                    "starting Chromium for {}: {why} (logs: {logs:?})",
                    browser.label
                )
            }
        }
    }

    /// Starts chromedriver, again when it finds its port taken. With `--port=0` it binds
    /// 127.0.0.1 on a port the kernel picks, then the same port on ::1, and exits ("IPv6
    /// port not available") when some other socket of the machine already holds that one
    /// there: rare, but a full suite starts hundreds of drivers among thousands of sockets.
    async fn start_driver(&mut self, home: &Path, netns: Option<&InNetns>) -> anyhow::Result<u16> {
        const TRIES: usize = 5;
        let mut taken = Vec::new();
        for _ in 0..TRIES {
            match self.spawn_driver(home, netns).await? {
                DriverStart::Listening(port) => return Ok(port),
                DriverStart::PortTaken(said) => {
                    // It exited on its own; this reaps it (no Chromium exists yet).
                    self.kill_driver();
                    taken.push(said);
                }
            }
        }
        bail!("chromedriver found its port taken {TRIES} times: {taken:?}")
    }

    async fn spawn_driver(
        &mut self,
        home: &Path,
        netns: Option<&InNetns>,
    ) -> anyhow::Result<DriverStart> {
        let dir = self
            .dir
            .as_ref()
            .expect("temp dir lives until close")
            .path()
            .to_path_buf();
        let tmp = dir.join("t");
        std::fs::create_dir_all(&tmp)?;
        let mut cmd = match netns {
            None => Command::new(&self.driver_path),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name]).arg(&self.driver_path);
                c.arg(format!("--allowed-ips={}", ns.root_ip));
                c
            }
        };
        cmd.arg("--port=0")
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            // Chromium's scratch dirs (org.chromium.Chromium.*) go with ours.
            .env(
                "TMPDIR",
                if tmp.as_os_str().len() <= 48 {
                    tmp.as_path()
                } else {
                    Path::new("/tmp")
                },
            )
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Own process group: close() kills the group, Chromium included.
            .process_group(0);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.driver_path.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        self.driver = Some(child);

        // chromedriver prints "... started successfully on port N." once it listens, or
        // why it will not and exits.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut said = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
                {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(Ok(port));
                    }
                } else if tx.is_some() {
                    said.push(line);
                }
            }
            if let Some(tx) = tx.take() {
                let _ = tx.send(Err(said.join(" / ")));
            }
        });
        match tokio::time::timeout(LAUNCH_TIMEOUT, rx).await {
            Err(_) => bail!("chromedriver did not report its port within {LAUNCH_TIMEOUT:?}"),
            Ok(Ok(Ok(port))) => Ok(DriverStart::Listening(port)),
            Ok(Ok(Err(said))) if said.contains("port not available") => {
                Ok(DriverStart::PortTaken(said))
            }
            Ok(Ok(Err(said))) => bail!("chromedriver exited before listening: {said}"),
            Ok(Err(_)) => bail!("chromedriver's output reader ended without a word"),
        }
    }

    fn client(&self) -> anyhow::Result<&Client> {
        self.client
            .as_ref()
            .ok_or_else(|| anyhow!("browser {} is closed", self.label))
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The profile directory; the browser process names it on its command line.
    pub fn user_data_dir(&self) -> &Path {
        &self.user_data_dir
    }

    /// Navigates and waits for the load event (or an error page).
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        let client = self.client()?;
        tokio::time::timeout(COMMAND_TIMEOUT, client.goto(url))
            .await
            .map_err(|_| {
                anyhow!(
                    "{}: loading {url} took over {COMMAND_TIMEOUT:?}",
                    self.label
                )
            })?
            .with_context(|| format!("{}: loading {url}", self.label))
    }

    /// The current page's URL.
    pub async fn current_url(&self) -> anyhow::Result<String> {
        let client = self.client()?;
        Ok(tokio::time::timeout(COMMAND_TIMEOUT, client.current_url())
            .await??
            .to_string())
    }

    /// Runs a JavaScript function body (may `await`, `return` the result).
    pub async fn run(&self, body: &str) -> anyhow::Result<Value> {
        let client = self.client()?;
        // WebDriver awaits a returned Promise before answering.
        let script = format!("return (async () => {{\n{body}\n}})();");
        tokio::time::timeout(COMMAND_TIMEOUT, client.execute(&script, vec![]))
            .await
            .map_err(|_| anyhow!("{}: script took over {COMMAND_TIMEOUT:?}", self.label))?
            .map_err(|e| anyhow!("{}: script failed: {e}\n--- script ---\n{body}", self.label))
    }

    /// Evaluates a JavaScript expression, which may `await`: e.g.
    /// `(await window.conferPc.getStats()).size`. The value must be JSON.
    pub async fn eval(&self, expr: &str) -> anyhow::Result<Value> {
        let expr = expr.trim().trim_end_matches(';');
        self.run(&format!("return (\n{expr}\n);")).await
    }

    /// Polls `condition` (a JS expression, may `await`) every 100 ms until
    /// it is truthy. On timeout: a screenshot and the console go to the
    /// artifacts dir and the error says what the condition last gave.
    pub async fn wait_for(&self, condition: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let expr = format!("!!(\n{condition}\n)");
        loop {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(200));
            let last = match tokio::time::timeout(left, self.eval(&expr)).await {
                Ok(Ok(Value::Bool(true))) => return Ok(()),
                Ok(Ok(other)) => other.to_string(),
                Ok(Err(e)) => format!("{e:#}"),
                Err(_) => "evaluation timed out".to_string(),
            };
            if Instant::now() >= deadline {
                let logs = self.save_logs();
                let shot = self
                    .screenshot(format!("{}-wait-timeout.png", self.label))
                    .await
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|e| format!("(no screenshot: {e:#})"));
                let console = self.console_log().await.unwrap_or_default();
                let state = self
                    .eval("JSON.stringify(window.conferState ?? null)")
                    .await
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                bail!(
                    "{}: `{condition}` not true after {timeout:?} (last: {last}); conferState={state}; \
                     screenshot {shot}; logs {logs:?}; console:\n{}",
                    self.label,
                    console.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn find(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        let client = self.client()?;
        client
            .wait()
            .at_most(COMMAND_TIMEOUT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| {
                format!(
                    "{}: no element `{css}` within {COMMAND_TIMEOUT:?}",
                    self.label
                )
            })
    }

    /// Clicks the first element matching `css` (waits for it to exist).
    /// Sign in on the lawyer page (`#username`, `#password`, `#sign-in`) and wait until
    /// `ready` (a JavaScript condition) holds.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        ready: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        self.fill("#username", username).await?;
        self.fill("#password", password).await?;
        self.click("#sign-in").await?;
        self.wait_for(ready, timeout).await
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        tokio::time::timeout(COMMAND_TIMEOUT, element.click())
            .await?
            .with_context(|| format!("{}: clicking `{css}`", self.label))
    }

    /// Replaces the text of the input matching `css`.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        tokio::time::timeout(COMMAND_TIMEOUT, async {
            element.clear().await?;
            element.send_keys(text).await
        })
        .await?
        .with_context(|| format!("{}: typing into `{css}`", self.label))
    }

    /// Keyboard only: sends `keys` (text, or WebDriver key codes such as `"\u{E004}"` for
    /// Tab, `"\u{E007}"` for Enter, `"\u{E00D}"` for Space) to the focused element.
    pub async fn keys(&self, keys: &str) -> anyhow::Result<()> {
        let client = self.client()?;
        let focused = tokio::time::timeout(COMMAND_TIMEOUT, client.active_element()).await??;
        tokio::time::timeout(COMMAND_TIMEOUT, focused.send_keys(keys))
            .await?
            .with_context(|| format!("{}: typing {keys:?}", self.label))
    }

    /// Keyboard only: presses Tab (at most `limit` times) until the focused element matches
    /// `css`; fails if it never does.
    pub async fn tab_to(&self, css: &str, limit: usize) -> anyhow::Result<()> {
        let check = format!(
            "document.activeElement !== null && document.activeElement.matches({})",
            serde_json::to_string(css)?
        );
        for _ in 0..limit {
            if self.eval(&check).await?.as_bool() == Some(true) {
                return Ok(());
            }
            self.keys("\u{E004}").await?;
        }
        bail!(
            "{}: Tab never reached `{css}` in {limit} presses",
            self.label
        )
    }

    /// Runs axe-core (vendored test-only asset, `tests/support/axe/`) over the current page
    /// with the WCAG 2.0/2.1/2.2 A and AA rules (colour contrast included) and returns the
    /// violations as `(rule id, impact, nodes)`, the nodes as CSS selectors.
    pub async fn axe(&self) -> anyhow::Result<Vec<(String, String, Vec<String>)>> {
        let source = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/axe/axe.min.js"),
        )
        .context("reading tests/support/axe/axe.min.js")?;
        self.run(&format!("if (!window.axe) {{ {source}\n }} return true;"))
            .await
            .context("injecting axe-core")?;
        let found = self
            .run(
                "const r = await window.axe.run(document, { runOnly: { type: 'tag', values: \
                 ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] }, resultTypes: ['violations'] }); \
                 return r.violations.map(v => [v.id, v.impact || 'unknown', v.nodes.map(n => n.target.join(' '))]);",
            )
            .await?;
        Ok(serde_json::from_value(found)?)
    }

    /// Saves a PNG of the viewport. A relative path goes under
    /// [`artifacts_dir`]; the saved path is returned.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> anyhow::Result<PathBuf> {
        let client = self.client()?;
        let png = tokio::time::timeout(COMMAND_TIMEOUT, client.screenshot()).await??;
        let path = if path.as_ref().is_absolute() {
            path.as_ref().to_path_buf()
        } else {
            artifacts_dir().join(path)
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Copies chromedriver's log and Chromium's own log (chromedriver starts
    /// it with `--enable-logging`, written to `chrome_debug.log` in the
    /// profile) into [`artifacts_dir`] as `<label>-chromedriver.log` and
    /// `<label>-chrome_debug.log`; returns the copies made.
    pub fn save_logs(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let mut saved = Vec::new();
        for (name, from) in [
            ("chromedriver.log", dir.path().join("chromedriver.log")),
            (
                "chrome_debug.log",
                self.user_data_dir.join("chrome_debug.log"),
            ),
        ] {
            let to = artifacts_dir().join(format!("{}-{name}", self.label));
            let copied =
                std::fs::create_dir_all(artifacts_dir()).and_then(|()| std::fs::copy(&from, &to));
            if copied.is_ok() {
                saved.push(to);
            }
        }
        saved
    }

    /// Console messages of the pages so far ("LEVEL message"), accumulated
    /// across calls (chromedriver hands each message out once).
    pub async fn console_log(&self) -> anyhow::Result<Vec<String>> {
        let client = self.client()?;
        let entries = tokio::time::timeout(COMMAND_TIMEOUT, client.issue_cmd(BrowserLog)).await??;
        let mut console = self.console.lock().unwrap_or_else(|e| e.into_inner());
        for entry in entries.as_array().into_iter().flatten() {
            let level = entry["level"].as_str().unwrap_or("?");
            let message = entry["message"].as_str().unwrap_or("");
            console.push(format!("{level} {message}"));
        }
        Ok(console.clone())
    }

    /// Ends the WebDriver session, then kills chromedriver, Chromium and
    /// every child they left; removes the temp dirs and the policy.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
        }
        self.kill_all();
    }

    /// Kills chromedriver, its process group and its process tree.
    fn kill_driver(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            let pid = driver.id();
            let tree = process_tree(pid);
            // SAFETY: the group is chromedriver's own (process_group(0)).
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
            tree.into_iter().for_each(kill_pid);
            let _ = driver.kill();
            let _ = driver.wait();
        }
    }

    fn kill_all(&mut self) {
        self.client = None;
        let needle = format!("--user-data-dir={}", self.user_data_dir.display());
        self.kill_driver();
        // Anything that escaped the tree (re-parented, own group) still names our profile.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = processes_mentioning(&needle);
            if left.is_empty() || Instant::now() > deadline {
                if !left.is_empty() {
                    eprintln!(
                        "warning: {} processes of {} still alive: {left:?}",
                        left.len(),
                        self.label
                    );
                }
                break;
            }
            left.into_iter().for_each(kill_pid);
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// `target/e2e-artifacts/` (under `$CARGO_TARGET_DIR` when set).
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("e2e-artifacts")
}

/// Sums `framesDecoded` over the inbound video RTP streams of `pc` (a JS
/// expression naming an RTCPeerConnection); 0 while there is none.
pub async fn frames_decoded_of(browser: &Browser, pc: &str) -> anyhow::Result<u64> {
    let value = browser
        .run(&format!(
            "const pc = {pc};
             if (!pc) return 0;
             let sum = 0;
             (await pc.getStats()).forEach(s => {{
               if (s.type === 'inbound-rtp' && (s.kind ?? s.mediaType) === 'video') sum += s.framesDecoded ?? 0;
             }});
             return sum;"
        ))
        .await?;
    value
        .as_u64()
        .ok_or_else(|| anyhow!("framesDecoded sum is not a number: {value}"))
}

/// [`frames_decoded_of`] the page's `window.conferPc`.
pub async fn frames_decoded(browser: &Browser) -> anyhow::Result<u64> {
    frames_decoded_of(browser, "window.conferPc").await
}
