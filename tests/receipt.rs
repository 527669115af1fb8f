//! Signed visit receipts and page integrity, through the real server and the real binary
//! (R-PRIV-1, R-VERIFY-4, R-PRIV-2).
//!
//! - A visit held and stopped through the public API: its lawyer, its booth and an
//!   operator each get a receipt once it ended (not before); `confer receipt verify`
//!   accepts it with the audit public key (file or hex) and refuses it (exit 2) when a
//!   byte is changed; it names the participants, the booth's certificate, the end and
//!   exactly the visit's audit entries; another lawyer gets none.
//! - Page integrity: every `integrity` attribute and import map entry of the served pages
//!   is the SHA-256 of the bytes served at that URL, the content security policy allows
//!   the import map by its hash, and `confer version --assets` prints the same hashes.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app, Identity, TestApp};
use base64::Engine;
use reqwest::Method;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Run the real `confer` binary: (exit code, stdout).
fn confer(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(args)
        .output()
        .expect("run confer");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `confer receipt verify` on `bytes` written to a file: (exit code, stdout).
fn verify_bytes(dir: &std::path::Path, name: &str, bytes: &[u8], key: &str) -> (i32, String) {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    confer(&[
        "receipt",
        "verify",
        file.to_str().unwrap(),
        "--public-key",
        key,
    ])
}

/// `(status, bytes)` of a GET with an optional bearer token.
async fn get(client: &reqwest::Client, url: String, bearer: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = client.get(url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("GET");
    (
        resp.status().as_u16(),
        resp.bytes().await.unwrap_or_default().to_vec(),
    )
}

async fn lawyer_receipt(app: &TestApp, session: &str, visit: i64) -> (u16, Vec<u8>) {
    get(
        &app.client(&Identity::None),
        app.url(&format!("/api/lawyer/visits/{visit}/receipt")),
        Some(session),
    )
    .await
}

/// `confer version --assets` as `path -> sha256 hex`.
fn version_assets() -> BTreeMap<String, String> {
    let (code, out) = confer(&["version", "--assets"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("confer "), "{out}");
    out.lines()
        .skip(1)
        .map(|l| {
            let (hash, path) = l.split_once("  ").expect("hash  path");
            (path.to_owned(), hash.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_of_an_ended_visit_verifies_matches_the_audit_log_and_breaks_on_any_change() {
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;

    // Not before the visit has ended.
    let (status, body) = lawyer_receipt(&app, &session, visit).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "visit_not_ended");

    // Both sides join (admitted through the whole gate), then staff stop the visit.
    let lawyer = app
        .joined(&Identity::None, &app.demo_lawyer_token(visit).await)
        .await;
    let booth = app
        .joined(&app.demo_booth(), &app.demo_booth_token(visit).await)
        .await;
    let stop = json!({"category": "communication_device", "reason": "A phone was handed over."});
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{visit}/stop"),
            Some(stop),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    drop((lawyer, booth));

    let (status, bytes) = lawyer_receipt(&app, &session, visit).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let r = &doc["receipt"];

    // confer receipt verify, with the key file and with the key in hex: valid.
    let dir = tempfile::tempdir().unwrap();
    let key_file = app.data_dir.path().join("keys/audit-ed25519.pub");
    let key_hex = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    for key in [key_file.to_str().unwrap(), key_hex.as_str()] {
        let (code, out) = verify_bytes(dir.path(), "receipt.json", &bytes, key);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.starts_with(&format!("receipt valid: visit {visit} ")),
            "{out}"
        );
        assert_eq!(out.lines().count(), 1, "{out}");
        eprintln!("confer receipt verify ({} bytes): {out}", bytes.len());
    }
    // Any changed byte: exit 2 and a sentence. A spread of positions through the real
    // binary (every position is checked in-process in src/receipt/tests.rs).
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mut positions: Vec<usize> = (0..bytes.len()).step_by(bytes.len() / 5).collect();
    positions.push(text.find("stopped_by_staff").unwrap());
    positions.push(text.find("\"signature\":\"").unwrap() + 20);
    positions.push(bytes.len() - 1);
    for i in positions {
        let mut changed = bytes.clone();
        changed[i] = if changed[i] == b'1' { b'2' } else { b'1' };
        let (code, out) = verify_bytes(dir.path(), "changed.json", &changed, &key_hex);
        assert_eq!(code, 2, "byte {i} changed, yet: {out}");
        assert!(out.starts_with("RECEIPT NOT VALID: "), "{out}");
    }
    // A key that is not the facility's: exit 2, says so.
    let other = "11".repeat(32);
    let (code, out) = verify_bytes(dir.path(), "receipt.json", &bytes, &other);
    assert_eq!(code, 2, "{out}");

    // What it says: the visit, its end, the participants and the booth's certificate
    // (R-VERIFY-4), the room, the page assets.
    assert_eq!(r["format"], "confer-visit-receipt-v1");
    assert_eq!(r["issued_to"], "lawyer");
    assert_eq!(r["visit"]["id"], visit);
    assert_eq!(r["visit"]["booth"], confer::app::DEMO_BOOTH);
    assert_eq!(r["visit"]["end"]["reason"], "stopped_by_staff");
    assert_eq!(r["visit"]["end"]["stop_category"], "communication_device");
    assert!(r["visit"]["started_at"].is_string(), "{r}");
    assert_eq!(r["room"]["kind"], "lawyer_room");
    assert_eq!(r["e2ee"], json!({"keys": [], "check_codes": []}));
    let participants = r["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2, "{r}");
    let lawyer_id = app.demo_lawyer_id().await;
    let lawyer = participants.iter().find(|p| p["role"] == "lawyer").unwrap();
    assert_eq!(lawyer["account"], lawyer_id);
    assert_eq!(lawyer["licence"], "registry");
    let booth = participants.iter().find(|p| p["role"] == "booth").unwrap();
    assert_eq!(booth["booth"], confer::app::DEMO_BOOTH);
    let cert = CertificateDer::from_pem_file(&app.running.pki.demo_booth_cert).unwrap();
    assert_eq!(booth["device_cert_sha256"], json!([hex(&sha256(&cert))]));
    for p in participants {
        let present = p["present"].as_array().unwrap();
        assert_eq!(present.len(), 1, "{p}");
        assert_eq!(present[0]["left_at"], r["visit"]["end"]["at"], "{p}");
    }
    let assets: BTreeMap<String, String> = r["confer"]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_owned(),
                a["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(assets, version_assets());

    // Exactly the visit's audit entries (but the hand-out itself), seq, kind and hash as
    // the auditor reads them; and the hand-out is recorded.
    let (status, log) = app.audit_read(&format!("?visit={visit}")).await;
    assert_eq!(status, 200, "{log}");
    let log = log["entries"].as_array().unwrap();
    let expected: Vec<Value> = log
        .iter()
        .filter(|e| e["record"]["kind"] != "receipt_issued")
        .map(|e| json!([e["seq"], e["record"]["kind"], e["hash"]]))
        .collect();
    let got: Vec<Value> = r["audit"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!([e["seq"], e["kind"], e["hash"]]))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(r["audit"]["first_seq"], expected[0][0]);
    assert_eq!(r["audit"]["last_seq"], expected.last().unwrap()[0]);
    for kind in [
        "admission_granted",
        "visit_started",
        "staff_stop",
        "visit_ended",
    ] {
        assert!(got.iter().any(|e| e[1] == kind), "no {kind} in {got:?}");
    }
    let issued: Vec<&Value> = log
        .iter()
        .filter(|e| e["record"]["kind"] == "receipt_issued")
        .collect();
    assert_eq!(issued.len(), 1, "{log:?}");
    assert_eq!(issued[0]["record"]["to"], "lawyer");
    assert!(r["audit"]["checkpoint"]["count"].as_u64() >= r["audit"]["last_seq"].as_u64());

    // The booth and an operator get theirs; another lawyer gets none (R-VERIFY-4).
    let (status, b) = get(
        &app.client(&app.demo_booth()),
        app.url(&format!("/api/booth/visits/{visit}/receipt")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    let (code, out) = verify_bytes(dir.path(), "booth.json", &b, &key_hex);
    assert_eq!(code, 0, "{out}");
    let staff = serde_json::from_slice::<Value>(&b).unwrap();
    assert_eq!(staff["receipt"]["issued_to"], "booth");
    let (status, s) = get(
        &app.admin_client(),
        app.admin_url(&format!("/admin/api/visits/{visit}/receipt")),
        Some(&app.admin_token),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&s));
    let (code, out) = verify_bytes(dir.path(), "staff.json", &s, &key_hex);
    assert_eq!(code, 0, "{out}");
    let (_, other_session) = app.new_lawyer("someone-else").await;
    let (status, body) = lawyer_receipt(&app, &other_session, visit).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "not_a_participant");
    // The checkpoints signed for the hand-outs keep the chain verifiable as a whole.
    let (code, out) = confer(&[
        "audit",
        "verify",
        "--data-dir",
        app.data_dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    app.running.shutdown().await;
}

/// Every `attr="..."` value of a tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let i = tag.find(&needle)? + needle.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_pages_carry_the_hashes_of_the_scripts_served_and_version_prints_them() {
    // R-PRIV-1 page integrity: what the browser checks is what the server sends.
    let app = spawn_app().await;
    let client = app.client(&Identity::None);
    let listed = version_assets();
    for (path, hash) in &listed {
        let (status, body) = get(&client, app.url(path), None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(&hex(&sha256(&body)), hash, "{path}");
    }
    let mut checked = 0;
    for page in ["/", "/lawyer", "/booth"] {
        let resp = client.get(app.url(page)).send().await.unwrap();
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let html = resp.text().await.unwrap();
        for (i, _) in html.match_indices('<') {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            let Some(integrity) = attr(tag, "integrity") else {
                continue;
            };
            let url = attr(tag, "src").or_else(|| attr(tag, "href")).unwrap();
            assert!(tag.contains(" crossorigin="), "{tag}");
            let (_, body) = get(&client, app.url(url), None).await;
            assert_eq!(
                integrity,
                format!("sha256-{}", b64(&sha256(&body))),
                "{page}: {url}"
            );
            checked += 1;
        }
        if page == "/" {
            continue;
        }
        // The import map: every module with the hash of its served bytes, and the map
        // itself allowed by the content security policy by its hash (nothing else inline).
        let open = "<script type=\"importmap\">";
        let start = html.find(open).expect("an import map") + open.len();
        let map_text = &html[start..start + html[start..].find("</script>").unwrap()];
        assert!(
            csp.contains(&format!("'sha256-{}'", b64(&sha256(map_text.as_bytes())))),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let map: Value = serde_json::from_str(map_text).unwrap();
        let entries = map["integrity"].as_object().unwrap();
        let scripts: Vec<&String> = listed.keys().filter(|p| p.ends_with(".js")).collect();
        assert_eq!(entries.len(), scripts.len(), "{map}");
        for (url, integrity) in entries {
            let (_, body) = get(&client, app.url(url), None).await;
            assert_eq!(
                integrity.as_str().unwrap(),
                format!("sha256-{}", b64(&sha256(&body))),
                "{url}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} hashes checked");
    app.running.shutdown().await;
}
