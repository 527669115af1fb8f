//! The demo data that lets a newcomer hold a visit in two browser tabs (`demo.enabled`):
//! besides the facility, booth and lawyer (seeded in `app`), everything the gate checks
//! (issue 4): the demo lawyer's licence claim and the matching row in the local registry,
//! a detainee and a case, the lawyer's engagement, and its two documents, accepted.
//!
//! Nothing here is used when `demo.enabled = false`.

use chrono::{DateTime, Utc};

use crate::ids::{CaseId, FacilityId, LawyerId};
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
    let case = match store.demo_case(facility, DEMO_DETAINEE_REF).await? {
        Some(case) => case,
        None => {
            let detainee = match store
                .insert_detainee(facility, DEMO_DETAINEE_REF, "Demo Detainee", now)
                .await
            {
                Ok(d) => d,
                Err(StoreError::Conflict(_)) => {
                    anyhow::bail!("the demo detainee exists without a case")
                }
                Err(e) => return Err(e.into()),
            };
            store.insert_case(detainee, false, now).await?
        }
    };
    if store.engagement_for(lawyer, case).await?.is_none() {
        let engagement = store
            .insert_engagement(lawyer, case, DEMO_LAW_FIRM, "power_of_attorney", now)
            .await?;
        seed_demo_documents(store, engagement, now).await?;
    }
    Ok(case)
}

/// The demo engagement's firm letter and power of attorney, accepted. (Replaced by real
/// encrypted demo files once the documents service lands.)
async fn seed_demo_documents(
    store: &Store,
    engagement: crate::ids::EngagementId,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    for kind in ["firm_letter", "power_of_attorney"] {
        let id = store
            .insert_document_row(
                engagement,
                kind,
                "application/pdf",
                1,
                "",
                &format!("demo-{kind}-{}", engagement.0),
                now,
            )
            .await?;
        store.accept_document_row(id, None, now).await?;
    }
    Ok(())
}
