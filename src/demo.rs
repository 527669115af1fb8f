//! The first start's accounts and the demo data that lets a newcomer hold a visit in two
//! browser tabs (`demo.enabled`): the first staff account; the demo facility, booth, lawyer
//! and an open visit; and everything the gate checks
//! (R-VERIFY-1, R-ARRANGE-1): the demo lawyer's licence claim and the matching row in the
//! local registry, a detainee and a case, the lawyer's engagement, and its two documents, accepted.
//!
//! Nothing here is used when `demo.enabled = false`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::auth::password;
use crate::documents::{Authority, DocumentKind, Documents};
use crate::ids::{AdminId, BoothId, CaseId, FacilityId, LawyerId};
use crate::licence::{HolderIdHash, PractisingStatus, RegistryRecord};
use crate::store::verification::MemberKind;
use crate::store::{NewVisit, Store, StoreError};

/// The demo facility seeded on first start (when `demo.enabled`).
pub const DEMO_FACILITY: &str = "demo-facility";
pub const DEMO_FACILITY_NAME: &str = "Demo Detention Centre";
pub const DEMO_BOOTH: &str = "demo-booth-1";
pub const DEMO_BOOTH_LABEL: &str = "Booth 1";
pub const DEMO_LAWYER: &str = "demo-lawyer";
pub const FIRST_ADMIN: &str = "admin";

/// The demo lawyer's licence number (17 digits; not a real licence).
pub const DEMO_LICENCE: &str = "99999202600000001";
/// The demo lawyer's (fictional) identity-document number, of which only the hash is kept.
const DEMO_ID_NUMBER: &str = "DEMO00000000000001";
pub const DEMO_LAW_FIRM: &str = "Demo Law Firm";
pub const DEMO_DETAINEE_REF: &str = "DEMO-0001";

/// Make the demo lawyer verifiable and engaged for the demo detainee; return the case.
/// Idempotent: an existing detainee, case and engagement are reused.
pub async fn seed_verification(
    store: &Store,
    documents: &Documents,
    facility: &FacilityId,
    lawyer: LawyerId,
    holder_name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<CaseId> {
    let hash = HolderIdHash::of_id_number(DEMO_ID_NUMBER);
    store
        .set_lawyer_claim(
            lawyer,
            MemberKind::Lawyer,
            Some(DEMO_LICENCE),
            Some(hash.as_str()),
        )
        .await?;
    let record = RegistryRecord {
        licence: DEMO_LICENCE.parse()?,
        holder_name: holder_name.to_owned(),
        holder_id_hash: hash,
        law_firm: DEMO_LAW_FIRM.into(),
        status: PractisingStatus::Practising,
        valid_until: (now + chrono::Duration::days(365)).date_naive(),
        data_as_of: now,
    };
    store.import_registry_records(&[record], now).await?;
    let detainee = match store.detainee_by_ref(facility, DEMO_DETAINEE_REF).await? {
        Some(d) => d.id,
        None => {
            store
                .insert_detainee(facility, DEMO_DETAINEE_REF, "Demo Detainee", now, no_entry)
                .await?
        }
    };
    let case = match store.newest_case_for_detainee(detainee).await? {
        Some(c) => c.id,
        None => store.insert_case(detainee, false, now, no_entry).await?,
    };
    if store.engagement_of(lawyer, case).await?.is_none() {
        let engagement = store
            .insert_engagement(
                lawyer,
                case,
                DEMO_LAW_FIRM,
                Authority::PowerOfAttorney,
                now,
                no_entry,
            )
            .await?;
        // The first staff account reviews the demo's documents (it exists: seeded first).
        let staff = store
            .admin_by_username(FIRST_ADMIN)
            .await?
            .map(|a| AdminId(a.id))
            .ok_or_else(|| anyhow::anyhow!("the first staff account is missing"))?;
        for kind in [DocumentKind::FirmLetter, DocumentKind::PowerOfAttorney] {
            let id = documents
                .put(engagement, kind, &demo_pdf(kind), now)
                .await?;
            documents.review(id, staff, true, None, now).await?;
        }
    }
    Ok(case)
}

/// The demo's bootstrap rows need no audit entry of their own: they are made by the
/// server's first start, before anyone can act (the documents' uploads and reviews, which
/// go through the documents service, are audited).
async fn no_entry<T>(_: T) -> Result<(), StoreError> {
    Ok(())
}

/// A one-page PDF saying what it stands for.
fn demo_pdf(kind: DocumentKind) -> Vec<u8> {
    let text = match kind {
        DocumentKind::FirmLetter => "Demo law-firm letter",
        _ => "Demo power of attorney",
    };
    let content = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
         2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
         3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >> endobj\n\
         4 0 obj << /Length {} >> stream\n{content}\nendstream endobj\n\
         5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj\n\
         trailer << /Root 1 0 R >>\n%%EOF\n",
        content.len()
    )
    .into_bytes()
}

/// What the first start created and must tell the operator once.
#[derive(Debug, Default, Clone)]
pub struct FirstStart {
    /// `(username, password)` of the first staff account, when created now.
    pub admin: Option<(String, String)>,
    /// The first staff account's TOTP secret (base32), when created now.
    pub admin_totp: Option<String>,
    /// `(username, password)` of the demo lawyer, when created now.
    pub demo_lawyer: Option<(String, String)>,
    /// The demo booth's PKCS#12 file and its password, when created now.
    pub booth_p12: Option<(PathBuf, String)>,
    pub files_created: Vec<PathBuf>,
}

/// Seed the demo facility, booth, lawyer, the first staff account and a demo visit.
pub async fn seed(
    store: &Store,
    documents: &crate::documents::Documents,
    totp: &crate::admin::totp::TotpVault,
    demo: bool,
    first: &mut FirstStart,
) -> anyhow::Result<()> {
    let now = Utc::now();
    if store.count_admins().await? == 0 {
        // The first account runs the demo: a facility operator (staff roles).
        let created = crate::admin::staff::create_staff(
            store,
            totp,
            FIRST_ADMIN,
            crate::admin::roles::StaffRole::Operator,
            None,
        )
        .await?;
        first.admin = Some((FIRST_ADMIN.into(), created.password));
        first.admin_totp = Some(created.totp_secret);
    }
    if !demo {
        return Ok(());
    }
    let facility = FacilityId(DEMO_FACILITY.into());
    let booth = BoothId(DEMO_BOOTH.into());
    store.upsert_facility(&facility, DEMO_FACILITY_NAME).await?;
    store
        .upsert_booth(&booth, &facility, DEMO_BOOTH_LABEL)
        .await?;
    let lawyer = match store.lawyer_by_username(DEMO_LAWYER).await? {
        Some(l) => crate::ids::LawyerId(l.id),
        None => {
            let pw = password::generate();
            let id = store
                .insert_lawyer(
                    DEMO_LAWYER,
                    "Demo Lawyer",
                    &password::hash_async(pw.clone()).await,
                    now,
                )
                .await?;
            first.demo_lawyer = Some((DEMO_LAWYER.into(), pw));
            id
        }
    };
    let case = seed_verification(store, documents, &facility, lawyer, "Demo Lawyer", now).await?;
    // Keep a demo visit open for the next two hours, so a newcomer can always try one.
    let open = store.current_visit_for_booth(&booth, now).await?;
    if open.is_none_or(|v| v.ends_at - now < chrono::Duration::minutes(30)) {
        let visit = NewVisit {
            lawyer,
            booth,
            starts_at: now - chrono::Duration::seconds(5),
            ends_at: now + chrono::Duration::hours(2),
            created_by: None,
            case: Some(case),
            room_consent: false,
            lawyer_booth: None,
        };
        store.insert_visit(&visit, now).await?;
    }
    Ok(())
}

/// Write the first start's credentials (the first staff account; the demo lawyer) to
/// `<data-dir>/demo-credentials.txt` (0600), the only place they are shown: the banner names
/// the file and never prints a password or a TOTP secret.
pub fn write_demo_credentials(data_dir: &Path, first: &FirstStart) -> anyhow::Result<()> {
    if first.admin.is_none() && first.demo_lawyer.is_none() {
        return Ok(());
    }
    let path = data_dir.join("demo-credentials.txt");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some((u, p)) = &first.admin {
        let totp = first.admin_totp.as_deref().unwrap_or("-");
        text.push_str(&format!(
            "admin console (https://<admin-addr>): username {u} password {p} totp {totp}\n"
        ));
    }
    if let Some((u, p)) = &first.demo_lawyer {
        text.push_str(&format!(
            "lawyer page (https://<http-addr>/lawyer): username {u} password {p}\n"
        ));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    use std::io::Write;
    opts.open(&path)?.write_all(text.as_bytes())?;
    Ok(())
}
