//! The demo data that lets a newcomer hold a visit in two browser tabs (`demo.enabled`):
//! besides the facility, booth and lawyer (seeded in `app`), everything the gate checks
//! (R-VERIFY-1, R-ARRANGE-1): the demo lawyer's licence claim and the matching row in the
//! local registry, a detainee and a case, the lawyer's engagement, and its two documents, accepted.
//!
//! Nothing here is used when `demo.enabled = false`.

use chrono::{DateTime, Utc};

use crate::documents::{Authority, DocumentKind, Documents};
use crate::ids::{AdminId, CaseId, FacilityId, LawyerId};
use crate::licence::{HolderIdHash, PractisingStatus, RegistryRecord};
use crate::store::verification::MemberKind;
use crate::store::{Store, StoreError};

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
            .admin_by_username(crate::app::FIRST_ADMIN)
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
