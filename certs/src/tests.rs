//! Requirement-named tests of the certificate tooling (booth identity, R-VERIFY-4).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use x509_parser::extensions::GeneralName;

use crate::*;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca: &DevCa) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    Arc::new(roots)
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn verify_server(ca: &DevCa, cert_pem: &str, name: &str) -> Result<(), rustls::Error> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap();
    verifier
        .verify_server_cert(
            &der(cert_pem),
            &[],
            &ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

fn verify_client(ca: &DevCa, cert_pem: &str) -> Result<(), rustls::Error> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap();
    verifier
        .verify_client_cert(&der(cert_pem), &[], UnixTime::now())
        .map(|_| ())
}

fn san_uris(cert_pem: &str) -> Vec<String> {
    let der = der(cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

fn hosts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn server_cert_chains_to_the_dev_ca_for_loopback_and_the_given_hosts() {
    let ca = DevCa::generate("test CA").unwrap();
    let server = issue_server_cert(
        &ca,
        &hosts(&["confer.example", "192.0.2.10"]),
        Validity::days_from_now(30),
    )
    .unwrap();
    for name in [
        "localhost",
        "127.0.0.1",
        "::1",
        "confer.example",
        "192.0.2.10",
    ] {
        verify_server(&ca, &server.cert_pem, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(verify_server(&ca, &server.cert_pem, "other.example").is_err());
    let other_ca = DevCa::generate("other CA").unwrap();
    assert!(verify_server(&other_ca, &server.cert_pem, "localhost").is_err());
}

#[test]
fn server_cert_is_not_accepted_as_a_client_cert() {
    let ca = DevCa::generate("test CA").unwrap();
    let server = issue_server_cert(&ca, &[], Validity::days_from_now(30)).unwrap();
    assert!(verify_client(&ca, &server.cert_pem).is_err());
}

#[test]
fn invalid_server_hosts_are_refused() {
    let ca = DevCa::generate("test CA").unwrap();
    for bad in ["", "bad host", "*.example.org/x"] {
        assert!(
            issue_server_cert(&ca, &hosts(&[bad]), Validity::days_from_now(1)).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn booth_cert_chains_to_the_ca_as_a_client_and_names_the_booth_in_a_san_uri() {
    let ca = DevCa::generate("test CA").unwrap();
    let booth =
        issue_booth_cert(&ca, "north-prison", "booth-7", Validity::days_from_now(30)).unwrap();
    verify_client(&ca, &booth.cert_pem).unwrap();
    assert_eq!(
        san_uris(&booth.cert_pem),
        vec!["urn:confer:booth:north-prison:booth-7".to_string()]
    );
    let der = der(&booth.cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_eq!(cert.subject().to_string(), "CN=booth-7, O=north-prison");
    // Not usable as a server certificate.
    assert!(verify_server(&ca, &booth.cert_pem, "localhost").is_err());
    // A booth certificate from another CA does not chain.
    let other_ca = DevCa::generate("other CA").unwrap();
    assert!(verify_client(&other_ca, &booth.cert_pem).is_err());
}

#[test]
fn booth_and_facility_ids_are_validated() {
    let ca = DevCa::generate("test CA").unwrap();
    let v = Validity::days_from_now(1);
    assert!(matches!(
        issue_booth_cert(&ca, "North", "b", v),
        Err(CertsError::InvalidId {
            what: "facility",
            ..
        })
    ));
    assert!(matches!(
        issue_booth_cert(&ca, "f", "b:1", v),
        Err(CertsError::InvalidId { what: "booth", .. })
    ));
    assert!(issue_booth_cert(&ca, "f", &"b".repeat(65), v).is_err());
}

#[test]
fn dev_ca_round_trips_through_pem_and_refuses_a_foreign_key() {
    let ca = DevCa::generate("test CA").unwrap();
    let pem = ca.to_pem();
    let loaded = DevCa::load(&pem.cert_pem, &pem.key_pem).unwrap();
    let booth = issue_booth_cert(&loaded, "f", "b", Validity::days_from_now(1)).unwrap();
    verify_client(&ca, &booth.cert_pem).unwrap();

    let other = DevCa::generate("other").unwrap().to_pem();
    assert!(matches!(
        DevCa::load(&pem.cert_pem, &other.key_pem),
        Err(CertsError::CaMismatch(_))
    ));
    // A leaf certificate is no CA.
    let leaf = issue_server_cert(&ca, &[], Validity::days_from_now(1)).unwrap();
    assert!(DevCa::load(&leaf.cert_pem, &leaf.key_pem).is_err());
    assert!(!format!("{pem:?}").contains("PRIVATE KEY"));
}

#[test]
fn validity_must_end_after_it_starts() {
    let now = std::time::SystemTime::now();
    assert!(Validity::between(now, now).is_err());
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for sub in [dir.to_owned(), dir.join("booths")] {
        for entry in std::fs::read_dir(sub).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn bootstrap_creates_the_dev_pki_once_and_never_overwrites_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let first =
        bootstrap_dev_pki(&dir, &hosts(&["confer.test"]), "demo-facility", "booth-1").unwrap();
    let expected = [
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "booths/booth-1.pem",
        "booths/booth-1.key",
        "booths/booth-1.p12",
        "booths/booth-1.p12.password",
    ];
    for name in expected {
        assert!(first.created.contains(&dir.join(name)), "{name} created");
    }
    assert_eq!(first.created.len(), expected.len());
    assert!(first.kept.is_empty());
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let password = first.p12_password.clone().expect("p12 password reported");
    assert_eq!(
        std::fs::read_to_string(&first.booth.p12_password)
            .unwrap()
            .trim(),
        password.expose()
    );
    // No temporary files are left behind.
    assert_eq!(snapshot(&dir).len(), expected.len());

    let ca = DevCa::load(
        &std::fs::read_to_string(&first.ca_cert).unwrap(),
        &std::fs::read_to_string(&first.ca_key).unwrap(),
    )
    .unwrap();
    verify_client(&ca, &std::fs::read_to_string(&first.booth.cert).unwrap()).unwrap();
    verify_server(
        &ca,
        &std::fs::read_to_string(&first.server_cert).unwrap(),
        "confer.test",
    )
    .unwrap();

    let before = snapshot(&dir);
    let second =
        bootstrap_dev_pki(&dir, &hosts(&["other.test"]), "demo-facility", "booth-1").unwrap();
    assert!(second.created.is_empty(), "{:?}", second.created);
    assert_eq!(second.kept.len(), expected.len());
    assert!(second.p12_password.is_none());
    assert_eq!(snapshot(&dir), before, "bootstrap changed nothing");
}

#[cfg(unix)]
#[test]
fn private_key_files_are_readable_by_the_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let report = init(tmp.path(), &[]).unwrap();
    for secret in [
        &report.ca_key,
        &report.server_key,
        &report.booth.key,
        &report.booth.p12,
        &report.booth.p12_password,
    ] {
        assert_eq!(mode(secret), 0o600, "{}", secret.display());
    }
    assert_eq!(mode(&report.dir), 0o700);

    let issued = issue_booth(
        tmp.path(),
        DEMO_FACILITY,
        "booth-2",
        Validity::days_from_now(1),
    )
    .unwrap();
    for secret in [
        &issued.files.key,
        &issued.files.p12,
        &issued.files.p12_password,
    ] {
        assert_eq!(mode(secret), 0o600, "{}", secret.display());
    }
    let server = reissue_server(tmp.path(), &[], Validity::days_from_now(1)).unwrap();
    assert_eq!(mode(&server.key), 0o600);

    // A loosened key file is reported, not silently accepted.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&report.ca_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = init(tmp.path(), &[]).unwrap();
    assert_eq!(again.warnings.len(), 1, "{:?}", again.warnings);
}

#[test]
fn bootstrap_refuses_a_half_present_pair_instead_of_overwriting() {
    let tmp = tempfile::tempdir().unwrap();
    let report = init(tmp.path(), &[]).unwrap();
    std::fs::remove_file(&report.server_key).unwrap();
    let cert_before = std::fs::read(&report.server_cert).unwrap();
    assert!(matches!(
        init(tmp.path(), &[]),
        Err(CertsError::Incomplete { .. })
    ));
    assert_eq!(std::fs::read(&report.server_cert).unwrap(), cert_before);
}

#[test]
fn bootstrap_rebuilds_a_missing_p12_from_the_existing_booth_cert() {
    let tmp = tempfile::tempdir().unwrap();
    let report = init(tmp.path(), &[]).unwrap();
    std::fs::remove_file(&report.booth.p12).unwrap();
    std::fs::remove_file(&report.booth.p12_password).unwrap();
    let again = init(tmp.path(), &[]).unwrap();
    assert_eq!(again.created.len(), 2);
    let store = p12_keystore::KeyStore::from_pkcs12(
        &std::fs::read(&again.booth.p12).unwrap(),
        again.p12_password.unwrap().expose(),
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .unwrap();
    let (_, chain) = store.private_key_chain().unwrap();
    assert_eq!(
        chain.certs()[0].as_der(),
        der(&std::fs::read_to_string(&again.booth.cert).unwrap()).as_ref()
    );
}

#[test]
fn issuing_a_booth_cert_again_rotates_it_and_names_the_replaced_serial() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        issue_booth(tmp.path(), "f", "b", Validity::days_from_now(1)).is_err(),
        "no CA yet"
    );
    init(tmp.path(), &[]).unwrap();
    let first = issue_booth(tmp.path(), "f", "b", Validity::days_from_now(1)).unwrap();
    assert_eq!(first.replaced_serial, None);
    let second = issue_booth(tmp.path(), "f", "b", Validity::days_from_now(1)).unwrap();
    assert_eq!(
        second.replaced_serial.as_deref(),
        Some(first.serial.as_str())
    );
    assert_ne!(first.serial, second.serial);
    assert_ne!(first.p12_password, second.p12_password);
    let server = reissue_server(
        tmp.path(),
        &hosts(&["new.test"]),
        Validity::days_from_now(1),
    )
    .unwrap();
    assert!(server.replaced_serial.is_some());
}

fn p12_fixture(dir: &Path) -> (std::path::PathBuf, P12Password, DevCa) {
    let ca = DevCa::generate("p12 test CA").unwrap();
    let booth = issue_booth_cert(
        &ca,
        "demo-facility",
        "demo-booth-1",
        Validity::days_from_now(1),
    )
    .unwrap();
    let password = generate_p12_password().unwrap();
    let bytes = booth_p12(
        &booth,
        ca.cert_pem(),
        "confer booth demo-booth-1",
        &password,
    )
    .unwrap();
    let path = dir.join("booth.p12");
    std::fs::write(&path, bytes).unwrap();
    (path, password, ca)
}

/// Whether an external tool is present; in CI its absence is a failure, not a skip.
fn tool_available(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required in CI (install libnss3-tools / openssl)"
        );
        eprintln!("skipping: {tool} not installed");
    }
    found
}

#[test]
fn booth_p12_is_readable_by_openssl() {
    if !tool_available("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (p12, password, _) = p12_fixture(tmp.path());
    let out = Command::new("openssl")
        .arg("pkcs12")
        .arg("-in")
        .arg(&p12)
        .arg("-passin")
        .arg(format!("pass:{}", password.expose()))
        .arg("-nokeys")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf and CA"
    );

    let out = Command::new("openssl")
        .arg("pkcs12")
        .arg("-in")
        .arg(&p12)
        .arg("-passin")
        .arg(format!("pass:{}", password.expose()))
        .args(["-nocerts", "-nodes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("BEGIN PRIVATE KEY"));

    let wrong = Command::new("openssl")
        .arg("pkcs12")
        .arg("-in")
        .arg(&p12)
        .args(["-passin", "pass:wrong", "-nokeys"])
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a wrong password is refused");
}

#[test]
fn booth_p12_imports_into_an_nss_database_with_pk12util() {
    if !(tool_available("pk12util") && tool_available("certutil")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (p12, password, _) = p12_fixture(tmp.path());
    let db = tmp.path().join("nssdb");
    std::fs::create_dir(&db).unwrap();
    let db_arg = format!("sql:{}", db.display());
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(Command::new("certutil").args(["-N", "-d", &db_arg, "--empty-password"]));
    run(Command::new("pk12util").arg("-i").arg(&p12).args([
        "-d",
        &db_arg,
        "-W",
        password.expose(),
        "-K",
        "",
    ]));
    // NSS names the certificate after its subject; "u,u,u" means a user
    // certificate whose private key is in the database.
    let certs = run(Command::new("certutil").args(["-L", "-d", &db_arg]));
    let booth_line = certs
        .lines()
        .find(|l| {
            l.contains("CN=demo-booth-1,O=demo-facility")
                || l.contains("CN=demo-booth-1, O=demo-facility")
        })
        .unwrap_or_else(|| panic!("booth certificate imported: {certs}"));
    assert!(booth_line.trim_end().ends_with("u,u,u"), "{booth_line}");
    assert!(certs.contains("CN=p12 test CA"), "CA imported: {certs}");
    let keys = run(Command::new("certutil").args(["-K", "-d", &db_arg]));
    assert!(keys.contains("ec"), "an EC key was imported: {keys}");
}
