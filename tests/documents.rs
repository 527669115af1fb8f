//! Documents and engagements through the real server: R-ARRANGE-1 (the firm
//! letter and the power of attorney or legal-aid letter), R-ARRANGE-2 (nothing else can be
//! required), R-PRIV-3 (contents encrypted at rest, shown only to the uploading lawyer and
//! facility staff, never logged), and audit first (invariant 3).

#[path = "support/app.rs"]
mod app;

use app::{spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{ConnectOptions, Connection};
use std::path::PathBuf;

const MIB: usize = 1024 * 1024;

/// A small but well-formed-looking PDF whose text is easy to look for on disk.
fn pdf(marker: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {marker} law-firm letter for detainee F-001\n%%EOF\n"
    )
    .into_bytes()
}

fn png(marker: &str) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0".to_vec();
    b.extend_from_slice(marker.as_bytes());
    b
}

fn jpeg(marker: &str) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    b.extend_from_slice(b"JFIF\0");
    b.extend_from_slice(marker.as_bytes());
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

fn documents_dir(app: &TestApp) -> PathBuf {
    app.data_dir.path().join("documents")
}

/// The demo lawyer's documents, seeded on first start, are not the tests' business.
const NOT_DEMO: &str = "engagement_id NOT IN (SELECT e.id FROM engagements e \
     JOIN lawyers l ON l.id = e.lawyer_id WHERE l.username = 'demo-lawyer')";

async fn db(app: &TestApp) -> sqlx::sqlite::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(app.data_dir.path().join("confer.db"))
        .connect()
        .await
        .expect("open confer.db")
}

/// The files under `<data>/documents` (temporary ones included), but the demo's.
async fn stored_files(app: &TestApp) -> Vec<PathBuf> {
    let mut conn = db(app).await;
    let demo: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT stored_name FROM documents WHERE NOT ({NOT_DEMO})"
    ))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(documents_dir(app))
        .expect("documents dir")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !demo.iter().any(|d| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy().contains(d.as_str()))
            })
        })
        .collect();
    files.sort();
    files
}

/// Rows in `documents` (but the demo's), read straight from the database file.
async fn document_rows(app: &TestApp) -> i64 {
    let mut conn = db(app).await;
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM documents WHERE {NOT_DEMO}"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

/// A detainee with a case, and the demo lawyer's engagement for them.
async fn engaged(app: &TestApp, authority: &str) -> (String, i64) {
    let (_, session) = app.new_lawyer("docs-lawyer").await;
    app.new_detainee_with_case("F-001", false).await;
    let (status, body) = app
        .lawyer_api(
            &session,
            Method::POST,
            "/api/lawyer/engagements",
            Some(json!({
                "facility": confer::app::DEMO_FACILITY,
                "detainee_ref": "F-001",
                "law_firm": "Beijing Example Law Firm",
                "authority": authority,
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["missing"], json!(["firm_letter", authority]), "{body}");
    (session, body["id"].as_i64().unwrap())
}

async fn own_engagements(app: &TestApp, session: &str) -> Vec<Value> {
    let (status, body) = app
        .lawyer_api(session, Method::GET, "/api/lawyer/engagements", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["engagements"].as_array().unwrap().clone()
}

async fn lawyer_download(app: &TestApp, session: &str, doc: i64) -> reqwest::Response {
    app.client(&app::Identity::None)
        .get(app.url(&format!("/api/lawyer/documents/{doc}")))
        .bearer_auth(session)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn pdf_png_and_jpeg_are_accepted_and_stored_encrypted() {
    // R-ARRANGE-1, R-PRIV-3: the lawyer uploads; the content is encrypted at rest with
    // its SHA-256 recorded; only the uploading lawyer reads it back.
    let app = spawn_app().await;
    let (session, engagement) = engaged(&app, "power_of_attorney").await;
    let uploads = [
        (
            "firm_letter",
            pdf("PLAINTEXT-PDF-7f3a"),
            "application/pdf",
            "PLAINTEXT-PDF-7f3a",
        ),
        (
            "power_of_attorney",
            png("PLAINTEXT-PNG-91c2"),
            "image/png",
            "PLAINTEXT-PNG-91c2",
        ),
        (
            "firm_letter",
            jpeg("PLAINTEXT-JPG-5d10"),
            "image/jpeg",
            "PLAINTEXT-JPG-5d10",
        ),
    ];
    for (kind, bytes, media_type, marker) in uploads {
        let before = stored_files(&app).await.len();
        // The client's Content-Type is ignored: the content decides.
        let (status, body) = app
            .upload_document(
                &session,
                engagement,
                kind,
                bytes.clone(),
                "application/octet-stream",
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["media_type"], media_type);
        assert_eq!(body["status"], "pending");
        assert_eq!(body["size"], bytes.len());
        let sha = confer::documents::sha256_hex(&bytes);
        assert_eq!(body["sha256"], sha.as_str());
        let files = stored_files(&app).await;
        assert_eq!(files.len(), before + 1, "{files:?}");
        for f in &files {
            assert_eq!(f.extension().and_then(|e| e.to_str()), Some("bin"), "{f:?}");
            let on_disk = std::fs::read(f).unwrap();
            assert!(
                !on_disk
                    .windows(marker.len())
                    .any(|w| w == marker.as_bytes()),
                "{f:?} holds the plaintext"
            );
            assert!(!on_disk.starts_with(b"%PDF") && !on_disk.starts_with(b"\x89PNG"));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(f).unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "{f:?} is readable by others");
            }
        }
        let resp = lawyer_download(&app, &session, body["id"].as_i64().unwrap()).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], media_type);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert!(resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"));
        let back = resp.bytes().await.unwrap();
        assert_eq!(&back[..], &bytes[..]);
        assert_eq!(confer::documents::sha256_hex(&back), sha);
    }
    assert_eq!(document_rows(&app).await, 3);
    let key = app.data_dir.path().join("keys").join("documents.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    let list = own_engagements(&app, &session).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["documents"].as_array().unwrap().len(), 3);
    assert_eq!(list[0]["missing"], json!([]), "both are pending review");
    assert_eq!(list[0]["complete"], false);
}

#[tokio::test]
async fn a_wrong_type_is_refused_with_415_and_nothing_is_stored() {
    // R-ARRANGE-1: checked by content, not by name or Content-Type; nothing stored on refusal.
    let app = spawn_app().await;
    let (session, engagement) = engaged(&app, "power_of_attorney").await;
    let gif = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04".to_vec();
    let html_named_pdf = b"<html><body>%PDF-1.4 not really</body></html>".to_vec();
    for (bytes, claimed) in [(gif, "image/gif"), (html_named_pdf, "application/pdf")] {
        let (status, body) = app
            .upload_document(&session, engagement, "firm_letter", bytes, claimed)
            .await;
        assert_eq!(status, 415, "{body}");
        assert_eq!(body["code"], "document_type_not_accepted");
        let message = body["message"].as_str().unwrap();
        for word in ["PDF", "JPEG", "PNG", "10 MiB"] {
            assert!(message.contains(word), "{message}");
        }
    }
    let (status, body) = app
        .upload_document(
            &session,
            engagement,
            "firm_letter",
            Vec::new(),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "document_empty");
    assert_eq!(document_rows(&app).await, 0);
    assert!(
        stored_files(&app).await.is_empty(),
        "{:?}",
        stored_files(&app).await
    );
}

#[tokio::test]
async fn an_upload_over_ten_mib_is_refused_with_413_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (session, engagement) = engaged(&app, "legal_aid_letter").await;
    for size in [10 * MIB + 1, 11 * MIB] {
        let mut big = pdf("BIG");
        big.resize(size, b' ');
        let (status, body) = app
            .upload_document(&session, engagement, "firm_letter", big, "application/pdf")
            .await;
        assert_eq!(status, 413, "{size}: {body}");
        assert_eq!(body["code"], "document_too_large", "{size}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("10 MiB") && message.contains("PDF, JPEG or PNG"),
            "{message}"
        );
    }
    assert_eq!(document_rows(&app).await, 0);
    assert!(stored_files(&app).await.is_empty());
    // Exactly 10 MiB is allowed.
    let mut max = pdf("MAX");
    max.resize(10 * MIB, b' ');
    let (status, body) = app
        .upload_document(&session, engagement, "firm_letter", max, "application/pdf")
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn no_other_document_can_be_required_or_uploaded() {
    // R-ARRANGE-2: the required set cannot be extended, by configuration, API or database.
    let app = spawn_app().await;
    let (session, engagement) = engaged(&app, "power_of_attorney").await;
    for kind in ["investigating_unit_notice", "id_card", "FIRM_LETTER"] {
        let (status, body) = app
            .upload_document(&session, engagement, kind, pdf("X"), "application/pdf")
            .await;
        assert_eq!(status, 400, "{kind}: {body}");
        assert_eq!(body["code"], "document_kind_not_accepted");
        let message = body["message"].as_str().unwrap();
        for accepted in ["law-firm letter", "power of attorney", "legal-aid letter"] {
            assert!(message.contains(accepted), "{message}");
        }
    }
    // The authority the engagement does not rest on is refused too, with the reason.
    let (status, body) = app
        .upload_document(
            &session,
            engagement,
            "legal_aid_letter",
            pdf("X"),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "document_not_for_this_engagement");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("power of attorney"));
    assert_eq!(document_rows(&app).await, 0);

    // Configuration: a [documents] section (a list of required documents) is refused.
    let mut f = tempfile::NamedTempFile::new().unwrap();
    use std::io::Write;
    writeln!(
        f,
        "[documents]\nrequired = [\"firm_letter\", \"power_of_attorney\", \"investigating_unit_notice\"]"
    )
    .unwrap();
    let e = confer::config::Config::load(Some(f.path()), &Default::default())
        .expect_err("a list of required documents must not be configurable")
        .to_string();
    assert!(e.contains("documents"), "{e}");

    // Database: the CHECK on documents.kind refuses any other kind.
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(app.data_dir.path().join("confer.db"))
        .connect()
        .await
        .unwrap();
    let r = sqlx::query(
        "INSERT INTO documents (engagement_id, kind, media_type, size_bytes, sha256, stored_name, uploaded_at) \
         VALUES (?, 'investigating_unit_notice', 'application/pdf', 1, '00', 'x', 0)",
    )
    .bind(engagement)
    .execute(&mut conn)
    .await;
    assert!(r.unwrap_err().to_string().contains("CHECK"));
    conn.close().await.unwrap();
    assert_eq!(document_rows(&app).await, 0);
}

#[tokio::test]
async fn staff_review_and_the_lawyer_sees_what_to_fix() {
    // R-ARRANGE-1: staff accept or reject with a reason; the rejection tells the lawyer.
    let app = spawn_app().await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    let (session, engagement) = engaged(&app, "legal_aid_letter").await;
    let (_, firm) = app
        .upload_document(
            &session,
            engagement,
            "firm_letter",
            pdf("A"),
            "application/pdf",
        )
        .await;
    let (_, aid) = app
        .upload_document(
            &session,
            engagement,
            "legal_aid_letter",
            png("B"),
            "image/png",
        )
        .await;
    let (firm, aid) = (firm["id"].as_i64().unwrap(), aid["id"].as_i64().unwrap());

    // Staff see metadata (never contents) in the list, and the content on request.
    let (status, list) = app.admin(Method::GET, "/admin/api/engagements", None).await;
    assert_eq!(status, 200, "{list}");
    let docs = list["engagements"][0]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| d.get("content").is_none()));
    let resp = app
        .admin_client()
        .get(app.admin_url(&format!("/admin/api/documents/{firm}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(&resp.bytes().await.unwrap()[..], &pdf("A")[..]);

    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/documents/{firm}/review"),
            Some(json!({ "accepted": false })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "reason_required");
    let reason = "The letter is not signed by the firm's director; upload the signed letter.";
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/documents/{firm}/review"),
            Some(json!({ "accepted": false, "reason": reason })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "rejected");
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/documents/{aid}/review"),
            Some(json!({ "accepted": true })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/api/documents/9999/review",
            Some(json!({ "accepted": true })),
        )
        .await;
    assert_eq!(status, 404);

    let e = &own_engagements(&app, &session).await[0];
    assert_eq!(e["missing"], json!(["firm_letter"]));
    let rejected = e["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == firm)
        .unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reject_reason"], reason);

    // The re-upload counts; once staff accept it the engagement is complete.
    let (status, again) = app
        .upload_document(
            &session,
            engagement,
            "firm_letter",
            pdf("A2"),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 201, "{again}");
    let again = again["id"].as_i64().unwrap();
    assert_eq!(
        own_engagements(&app, &session).await[0]["missing"],
        json!([])
    );
    app.admin(
        Method::POST,
        &format!("/admin/api/documents/{again}/review"),
        Some(json!({ "accepted": true })),
    )
    .await;
    assert_eq!(own_engagements(&app, &session).await[0]["complete"], true);
    let summary = app
        .running
        .state
        .documents
        .summary(confer::ids::EngagementId(engagement))
        .await
        .unwrap();
    assert!(summary.complete());

    // Audit: the creation, every upload and every review are on record; no reason text.
    let to = chrono::Utc::now() + chrono::Duration::seconds(5);
    let (status, audit) = app
        .audit_read(&format!(
            "?from={}&to={}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
        .await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    let count = |kind: &str| {
        entries
            .iter()
            .filter(|e| e["record"]["kind"] == kind)
            .count()
    };
    assert_eq!(count("detainee_created"), 1, "{audit}");
    assert_eq!(count("case_created"), 1);
    assert_eq!(count("engagement_created"), 1);
    // Plus the demo lawyer's two documents, uploaded and accepted on first start.
    assert_eq!(count("document_uploaded"), 3 + 2);
    assert_eq!(count("document_reviewed"), 3 + 2);
    let uploaded = entries
        .iter()
        .filter(|e| e["record"]["kind"] == "document_uploaded")
        .nth(2)
        .unwrap();
    assert_eq!(uploaded["record"]["document_kind"], "firm_letter");
    assert_eq!(
        uploaded["record"]["sha256"],
        confer::documents::sha256_hex(&pdf("A")).as_str()
    );
    let text = audit.to_string();
    assert!(
        !text.contains("director"),
        "the reason is not in the audit log"
    );
    assert!(
        !text.contains("Zhang"),
        "the detainee's name is not in the audit log"
    );
}

#[tokio::test]
async fn another_lawyer_can_neither_read_nor_upload() {
    // R-PRIV-3: contents only to the uploading lawyer (and facility staff).
    let app = spawn_app().await;
    let (session, engagement) = engaged(&app, "power_of_attorney").await;
    let (status, body) = app
        .upload_document(
            &session,
            engagement,
            "firm_letter",
            pdf("SECRET"),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let doc = body["id"].as_i64().unwrap();
    let (_, other) = app.new_lawyer("other-lawyer").await;
    assert_eq!(lawyer_download(&app, &other, doc).await.status(), 404);
    let (status, body) = app
        .upload_document(
            &other,
            engagement,
            "firm_letter",
            pdf("MINE"),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(own_engagements(&app, &other).await.is_empty());
    assert_eq!(document_rows(&app).await, 1);
    // Without a session: nothing.
    let resp = app
        .client(&app::Identity::None)
        .get(app.url(&format!("/api/lawyer/documents/{doc}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn engagements_need_a_known_detainee_and_are_made_once() {
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let request = |detainee_ref: &str, authority: &str| {
        json!({
            "facility": confer::app::DEMO_FACILITY, "detainee_ref": detainee_ref,
            "law_firm": "Firm", "authority": authority,
        })
    };
    let (status, body) = app
        .lawyer_api(
            &session,
            Method::POST,
            "/api/lawyer/engagements",
            Some(request("NOPE", "power_of_attorney")),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "detainee_not_found");
    app.new_detainee_with_case("F-9", true).await;
    let (status, body) = app
        .lawyer_api(
            &session,
            Method::POST,
            "/api/lawyer/engagements",
            Some(request("F-9", "unit_notice")),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "authority_not_accepted");
    let (status, first) = app
        .lawyer_api(
            &session,
            Method::POST,
            "/api/lawyer/engagements",
            Some(request("F-9", "legal_aid_letter")),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, body) = app
        .lawyer_api(
            &session,
            Method::POST,
            "/api/lawyer/engagements",
            Some(request("F-9", "power_of_attorney")),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "engagement_exists");
    assert_eq!(body["id"], first["id"]);
    // The lawyer sees only the facility-internal reference, never the name (R-PRIV-4).
    let list = own_engagements(&app, &session).await;
    assert!(!Value::Array(list).to_string().contains("Zhang"));
}

#[tokio::test]
async fn an_upload_is_refused_and_nothing_stored_when_the_audit_log_fails() {
    // Invariant 3 (audit first): no audit entry, no document.
    let app = spawn_app().await;
    let (session, engagement) = engaged(&app, "power_of_attorney").await;
    app.running
        .state
        .audit
        .dangerous_fail_appends_for_tests(true);
    let (status, body) = app
        .upload_document(
            &session,
            engagement,
            "firm_letter",
            pdf("A"),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "audit_unavailable");
    assert_eq!(document_rows(&app).await, 0);
    assert!(
        stored_files(&app).await.is_empty(),
        "{:?}",
        stored_files(&app).await
    );
    app.running
        .state
        .audit
        .dangerous_fail_appends_for_tests(false);
    let (status, body) = app
        .upload_document(
            &session,
            engagement,
            "firm_letter",
            pdf("A"),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 201, "{body}");
}
