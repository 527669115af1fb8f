//! The development PKI on disk, under `<data-dir>/pki/`:
//!
//! ```text
//! pki/ca.pem                      dev CA certificate (public)
//! pki/ca.key                      dev CA private key             0600
//! pki/server.pem, server.key      HTTPS listener certificate     key 0600
//! pki/booths/<booth>.pem, .key    booth client certificate       key 0600
//! pki/booths/<booth>.p12          the same, PKCS#12 for a kiosk  0600
//! pki/booths/<booth>.p12.password its password                   0600
//! ```
//!
//! [`bootstrap_dev_pki`] creates what is missing and never overwrites a file (a new
//! file is written to a temporary name and hard-linked into place, which fails if the
//! name exists). [`issue_booth`] and [`reissue_server`] are explicit operator actions
//! (rotation): they replace the files atomically (temporary name, then rename).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ring::rand::SecureRandom;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::ca::{check_id, serial_of};
use crate::{
    booth_p12, generate_p12_password, issue_booth_cert, issue_server_cert, CertKeyPem, CertsError,
    DevCa, P12Password, Result, Validity,
};

/// The demo facility created at first start.
pub const DEMO_FACILITY: &str = "demo-facility";
/// The demo booth created at first start.
pub const DEMO_BOOTH: &str = "demo-booth-1";
/// Validity of a generated development CA.
pub const CA_VALIDITY_DAYS: u32 = 3650;
/// Validity of a server certificate (the longest that browsers accept from public CAs).
pub const SERVER_VALIDITY_DAYS: u32 = 397;
/// Validity of a booth certificate.
pub const BOOTH_VALIDITY_DAYS: u32 = 365;

const CA_NAME: &str = "confer development CA";
const SECRET_MODE: u32 = 0o600;
const PUBLIC_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o700;

/// Where `confer certs booth` keeps the certificate (PEM) of `booth` under `data_dir`.
pub fn booth_cert_path(data_dir: &Path, booth: &str) -> PathBuf {
    BoothFiles::new(&pki_dir(data_dir), booth).cert
}

/// `<data-dir>/pki`.
pub fn pki_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("pki")
}

/// Where one booth's files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoothFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub p12: PathBuf,
    pub p12_password: PathBuf,
}

impl BoothFiles {
    fn new(pki: &Path, booth: &str) -> Self {
        let dir = pki.join("booths");
        BoothFiles {
            cert: dir.join(format!("{booth}.pem")),
            key: dir.join(format!("{booth}.key")),
            p12: dir.join(format!("{booth}.p12")),
            p12_password: dir.join(format!("{booth}.p12.password")),
        }
    }
}

/// What [`bootstrap_dev_pki`] found and did. `Debug` never shows the password.
#[derive(Debug)]
pub struct DevPkiReport {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub booth: BoothFiles,
    /// Files written by this call (empty when everything already existed).
    pub created: Vec<PathBuf>,
    /// Files that already existed and were left untouched.
    pub kept: Vec<PathBuf>,
    /// The password of the booth PKCS#12 file, when this call created it: print it
    /// once. It is also stored in `booth.p12_password` (0600).
    pub p12_password: Option<P12Password>,
    /// Things an operator should fix (for example a key file readable by others).
    pub warnings: Vec<String>,
}

/// What [`issue_booth`] did. `Debug` never shows the password.
#[derive(Debug)]
pub struct BoothIssued {
    pub facility: String,
    pub booth: String,
    pub files: BoothFiles,
    /// Serial of the new certificate (hex with colons).
    pub serial: String,
    /// Serial of the certificate these files held before, if any: revoke it.
    pub replaced_serial: Option<String>,
    pub not_after: SystemTime,
    /// The new PKCS#12 password: print it once (also stored `0600` in `files.p12_password`).
    pub p12_password: P12Password,
}

/// What [`reissue_server`] did.
#[derive(Debug)]
pub struct ServerIssued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub serial: String,
    pub replaced_serial: Option<String>,
    pub not_after: SystemTime,
    /// Host names and addresses in the certificate besides localhost, 127.0.0.1 and ::1.
    pub hosts: Vec<String>,
}

/// Creates, in `dir`, whatever is missing of the development PKI: the dev CA, a
/// server certificate for `hosts` (plus localhost, 127.0.0.1 and ::1), and a booth
/// certificate with its PKCS#12 bundle for `demo_facility`/`demo_booth`.
///
/// Idempotent: an existing file is never overwritten. A pair that is only half there
/// (say `server.pem` without `server.key`) is an error, not a reason to overwrite.
pub fn bootstrap_dev_pki(
    dir: &Path,
    hosts: &[String],
    demo_facility: &str,
    demo_booth: &str,
) -> Result<DevPkiReport> {
    check_id("facility", demo_facility)?;
    check_id("booth", demo_booth)?;
    let booth_files = BoothFiles::new(dir, demo_booth);
    let mut report = DevPkiReport {
        dir: dir.to_owned(),
        ca_cert: dir.join("ca.pem"),
        ca_key: dir.join("ca.key"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        booth: booth_files.clone(),
        created: Vec::new(),
        kept: Vec::new(),
        p12_password: None,
        warnings: Vec::new(),
    };
    create_dir(dir)?;
    create_dir(&dir.join("booths"))?;

    // The CA.
    let ca = match pair_state(&report.ca_cert, &report.ca_key)? {
        Pair::Both => {
            report
                .kept
                .extend([report.ca_cert.clone(), report.ca_key.clone()]);
            load_ca(&report.ca_cert, &report.ca_key)?
        }
        Pair::Neither => {
            let ca = DevCa::generate(CA_NAME)?;
            let pem = ca.to_pem();
            let (cert, key) = (report.ca_cert.clone(), report.ca_key.clone());
            write_new(&key, pem.key_pem.as_bytes(), SECRET_MODE, &mut report)?;
            write_new(&cert, pem.cert_pem.as_bytes(), PUBLIC_MODE, &mut report)?;
            ca
        }
    };

    // The server certificate.
    match pair_state(&report.server_cert, &report.server_key)? {
        Pair::Both => report
            .kept
            .extend([report.server_cert.clone(), report.server_key.clone()]),
        Pair::Neither => {
            let issued =
                issue_server_cert(&ca, hosts, Validity::days_from_now(SERVER_VALIDITY_DAYS))?;
            let (cert, key) = (report.server_cert.clone(), report.server_key.clone());
            write_new(&key, issued.key_pem.as_bytes(), SECRET_MODE, &mut report)?;
            write_new(&cert, issued.cert_pem.as_bytes(), PUBLIC_MODE, &mut report)?;
        }
    }

    // The demo booth certificate.
    let booth = match pair_state(&booth_files.cert, &booth_files.key)? {
        Pair::Both => {
            report
                .kept
                .extend([booth_files.cert.clone(), booth_files.key.clone()]);
            CertKeyPem {
                cert_pem: read_text(&booth_files.cert)?,
                key_pem: read_text(&booth_files.key)?,
                serial: String::new(),
            }
        }
        Pair::Neither => {
            let issued = issue_booth_cert(
                &ca,
                demo_facility,
                demo_booth,
                Validity::days_from_now(BOOTH_VALIDITY_DAYS),
            )?;
            write_new(
                &booth_files.key,
                issued.key_pem.as_bytes(),
                SECRET_MODE,
                &mut report,
            )?;
            write_new(
                &booth_files.cert,
                issued.cert_pem.as_bytes(),
                PUBLIC_MODE,
                &mut report,
            )?;
            issued
        }
    };

    // Its PKCS#12 bundle. Deleting only the password file after the demo is fine.
    if booth_files.p12.exists() {
        report.kept.push(booth_files.p12.clone());
        if booth_files.p12_password.exists() {
            report.kept.push(booth_files.p12_password.clone());
        }
    } else if booth_files.p12_password.exists() {
        return Err(CertsError::Incomplete {
            present: booth_files.p12_password.clone(),
            missing: booth_files.p12.clone(),
        });
    } else {
        let password = generate_p12_password()?;
        let p12 = booth_p12(&booth, ca.cert_pem(), &friendly_name(demo_booth), &password)?;
        let pw_text = format!("{}\n", password.expose());
        write_new(
            &booth_files.p12_password,
            pw_text.as_bytes(),
            SECRET_MODE,
            &mut report,
        )?;
        write_new(&booth_files.p12, &p12, SECRET_MODE, &mut report)?;
        report.p12_password = Some(password);
    }

    for key in [&report.ca_key, &report.server_key, &booth_files.key] {
        if let Some(warning) = loose_permissions(key) {
            report.warnings.push(warning);
        }
    }
    Ok(report)
}

/// `confer certs init --data-dir DIR`: [`bootstrap_dev_pki`] in `<data-dir>/pki` with
/// the demo facility and booth ([`DEMO_FACILITY`], [`DEMO_BOOTH`]).
pub fn init(data_dir: &Path, hosts: &[String]) -> Result<DevPkiReport> {
    bootstrap_dev_pki(&pki_dir(data_dir), hosts, DEMO_FACILITY, DEMO_BOOTH)
}

/// `confer certs booth --data-dir DIR --facility F --booth B`: issues a new booth
/// certificate signed by the dev CA in `<data-dir>/pki` and writes (replacing, for a
/// rotation) `booths/<booth>.{pem,key,p12,p12.password}`.
pub fn issue_booth(
    data_dir: &Path,
    facility: &str,
    booth: &str,
    validity: Validity,
) -> Result<BoothIssued> {
    check_id("facility", facility)?;
    check_id("booth", booth)?;
    let dir = pki_dir(data_dir);
    let ca = load_existing_ca(&dir)?;
    create_dir(&dir.join("booths"))?;
    let files = BoothFiles::new(&dir, booth);
    let replaced_serial = existing_serial(&files.cert)?;

    let issued = issue_booth_cert(&ca, facility, booth, validity)?;
    let password = generate_p12_password()?;
    let p12 = booth_p12(&issued, ca.cert_pem(), &friendly_name(booth), &password)?;
    replace(&files.key, issued.key_pem.as_bytes(), SECRET_MODE)?;
    replace(&files.cert, issued.cert_pem.as_bytes(), PUBLIC_MODE)?;
    replace(
        &files.p12_password,
        format!("{}\n", password.expose()).as_bytes(),
        SECRET_MODE,
    )?;
    replace(&files.p12, &p12, SECRET_MODE)?;
    Ok(BoothIssued {
        facility: facility.to_owned(),
        booth: booth.to_owned(),
        files,
        serial: issued.serial,
        replaced_serial,
        not_after: validity.not_after(),
        p12_password: password,
    })
}

/// `confer certs server --data-dir DIR --host H...`: issues a new server certificate
/// for `hosts` (plus localhost, 127.0.0.1 and ::1) signed by the dev CA in
/// `<data-dir>/pki`, replacing `server.pem` and `server.key`. Restart the server to use it.
pub fn reissue_server(
    data_dir: &Path,
    hosts: &[String],
    validity: Validity,
) -> Result<ServerIssued> {
    let dir = pki_dir(data_dir);
    let ca = load_existing_ca(&dir)?;
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    let replaced_serial = existing_serial(&cert)?;
    let issued = issue_server_cert(&ca, hosts, validity)?;
    replace(&key, issued.key_pem.as_bytes(), SECRET_MODE)?;
    replace(&cert, issued.cert_pem.as_bytes(), PUBLIC_MODE)?;
    Ok(ServerIssued {
        cert,
        key,
        serial: issued.serial,
        replaced_serial,
        not_after: validity.not_after(),
        hosts: hosts.to_vec(),
    })
}

fn friendly_name(booth: &str) -> String {
    format!("confer booth {booth}")
}

enum Pair {
    Both,
    Neither,
}

fn pair_state(a: &Path, b: &Path) -> Result<Pair> {
    match (a.exists(), b.exists()) {
        (true, true) => Ok(Pair::Both),
        (false, false) => Ok(Pair::Neither),
        (true, false) => Err(CertsError::Incomplete {
            present: a.to_owned(),
            missing: b.to_owned(),
        }),
        (false, true) => Err(CertsError::Incomplete {
            present: b.to_owned(),
            missing: a.to_owned(),
        }),
    }
}

fn load_ca(cert: &Path, key: &Path) -> Result<DevCa> {
    DevCa::load(&read_text(cert)?, &read_text(key)?)
}

fn load_existing_ca(dir: &Path) -> Result<DevCa> {
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
    match pair_state(&cert, &key)? {
        Pair::Both => load_ca(&cert, &key),
        Pair::Neither => Err(CertsError::io(
            "no development CA (run `confer certs init` first) at",
            cert,
            std::io::ErrorKind::NotFound.into(),
        )),
    }
}

fn existing_serial(cert: &Path) -> Result<Option<String>> {
    if !cert.exists() {
        return Ok(None);
    }
    let text = read_text(cert)?;
    Ok(CertificateDer::from_pem_slice(text.as_bytes())
        .ok()
        .map(|der| serial_of(&der)))
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| CertsError::io("reading", path, e))
}

fn create_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder
        .create(dir)
        .map_err(|e| CertsError::io("creating directory", dir, e))
}

/// Writes `bytes` with `mode` to a fresh temporary file next to `path`, synced.
fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf> {
    let mut suffix = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| CertsError::Random)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_file_name(format!(".{name}.tmp-{suffix}"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = options.open(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(CertsError::io("writing", &tmp, e));
    }
    Ok(tmp)
}

/// Creates `path` unless it exists (then it is kept and reported as kept).
fn write_new(path: &Path, bytes: &[u8], mode: u32, report: &mut DevPkiReport) -> Result<()> {
    let tmp = write_temp(path, bytes, mode)?;
    // A hard link never replaces an existing name: no clobbering, even in a race.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            report.created.push(path.to_owned());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            report.kept.push(path.to_owned());
            Ok(())
        }
        Err(e) => Err(CertsError::io("creating", path, e)),
    }
}

/// Replaces `path` atomically (rotation).
fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = write_temp(path, bytes, mode)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CertsError::io("replacing", path, e)
    })
}

#[cfg(unix)]
fn loose_permissions(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is readable by others (mode {:o}): run chmod 600 on it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
fn loose_permissions(_path: &Path) -> Option<String> {
    None
}
