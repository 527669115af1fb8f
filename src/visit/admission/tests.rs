//! The admission service without HTTP or WebSocket: a real SQLite store and audit log in a
//! temporary directory, a real facility CA and booth certificate, and the media plane on a
//! loopback port (the hub needs it to seat anyone; no media is sent).

use super::*;
use crate::auth::BoothVerifier;
use crate::config::Config;
use crate::ids::{BoothId, FacilityId};
use crate::licence::cache::CachedRegistry;
use crate::licence::local::LocalRegistry;
use crate::licence::AnyRegistry;
use crate::media::{self, MediaConfig};
use crate::policy::DocumentState;
use crate::store::audit::AuditFilter;
use crate::store::NewVisit;
use confer_certs::{issue_booth_cert, DevCa, Validity};
use rustls::pki_types::pem::PemObject;

struct World {
    admission: Admission,
    store: Store,
    audit: Audit,
    hub: VisitHub,
    booth_chain: Vec<CertificateDer<'static>>,
    other_booth_chain: Vec<CertificateDer<'static>>,
    _media: media::MediaTask,
    _dir: tempfile::TempDir,
}

const FACILITY: &str = "north-prison";
const BOOTH: &str = "booth-7";
const OTHER_BOOTH: &str = "booth-8";

fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()]
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::default();
    let store = Store::open(dir.path()).await.unwrap();
    let audit = Audit::open(dir.path(), &config.audit).await.unwrap();
    let ca = DevCa::generate("Test facility CA").unwrap();
    let booth = issue_booth_cert(&ca, FACILITY, BOOTH, Validity::days_from_now(30)).unwrap();
    let other = issue_booth_cert(&ca, FACILITY, OTHER_BOOTH, Validity::days_from_now(30)).unwrap();
    let verifier = BoothVerifier::from_ca_pem(ca.cert_pem().as_bytes()).unwrap();
    let facility = FacilityId(FACILITY.into());
    store.upsert_facility(&facility, "North").await.unwrap();
    for b in [BOOTH, OTHER_BOOTH] {
        store
            .upsert_booth(&BoothId(b.into()), &facility, b)
            .await
            .unwrap();
    }
    let (events_tx, _events_rx) = tokio::sync::mpsc::channel(16);
    let (media, media_task) = media::start(
        MediaConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            public_ips: vec!["127.0.0.1".parse().unwrap()],
            public_port: None,
            workers: 1,
            fast_path: true,
        },
        events_tx,
    )
    .await
    .unwrap();
    let hub = VisitHub::new(store.clone(), media, audit.clone(), config.visit.warnings());
    let registry = CachedRegistry::new(
        AnyRegistry::Local(LocalRegistry::new(store.clone())),
        config.licence.cache_ttl(),
    );
    let gate = Gate::new(
        store.clone(),
        audit.clone(),
        registry,
        config.licence.clone(),
    );
    let booths = Booths::new(verifier, store.clone(), audit.clone());
    let tokens = JoinTokens::new(&[7; 32], std::time::Duration::from_secs(60));
    let admission = Admission::new(
        store.clone(),
        audit.clone(),
        tokens,
        booths,
        gate,
        hub.clone(),
    );
    World {
        admission,
        store,
        audit,
        hub,
        booth_chain: chain(&booth.cert_pem),
        other_booth_chain: chain(&other.cert_pem),
        _media: media_task,
        _dir: dir,
    }
}

impl World {
    /// A visit of a new lawyer (no case attached) at the booth, open now.
    async fn visit(&self, lawyer_name: &str) -> (VisitId, LawyerId) {
        let now = Utc::now();
        let lawyer = self
            .store
            .insert_lawyer(lawyer_name, "Li Lawyer", "$argon2id$unused", now)
            .await
            .unwrap();
        let visit = self
            .store
            .insert_visit(
                &NewVisit {
                    lawyer,
                    booth: BoothId(BOOTH.into()),
                    starts_at: now - chrono::Duration::minutes(1),
                    ends_at: now + chrono::Duration::hours(1),
                    created_by: None,
                    case: None,
                    room_consent: false,
                    lawyer_booth: None,
                },
                now,
            )
            .await
            .unwrap();
        (visit, lawyer)
    }

    async fn audit_kinds(&self, visit: VisitId) -> Vec<String> {
        self.audit_kinds_of(Some(visit)).await
    }

    /// The kinds of the audit entries about `visit` (every entry for `None`).
    async fn audit_kinds_of(&self, visit: Option<VisitId>) -> Vec<String> {
        let filter = AuditFilter {
            visit,
            lawyer: None,
            from_ms: None,
            to_ms: None,
            after_seq: 0,
            limit: 1000,
        };
        self.audit
            .query(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.record["kind"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    /// A join token for the test booth's own visit.
    async fn booth_token(&self, visit: VisitId, now: DateTime<Utc>) -> IssuedToken {
        let me = self.me().await;
        self.admission
            .token_for_booth(&me, visit, now)
            .await
            .expect("a token for the booth's own visit")
    }

    async fn me(&self) -> BoothIdentity {
        self.identity(&self.booth_chain).await
    }

    async fn identity(&self, chain: &[CertificateDer<'static>]) -> BoothIdentity {
        self.admission.booths.verify(chain).await.unwrap()
    }
}

#[test]
fn every_refusal_has_a_code_a_status_a_wire_code_and_both_sentences() {
    use crate::licence::verify::Reason;
    use crate::policy::Documents;
    let mut all = vec![
        Refusal::InvalidToken,
        Refusal::TokenExpired,
        Refusal::TokenReplayed,
        Refusal::NotSignedIn,
        Refusal::BoothCertificate {
            code: "booth_cert_missing",
            message: "No certificate.".into(),
        },
        Refusal::BoothMismatch,
        Refusal::VisitNotFound,
        Refusal::SlotOver,
        Refusal::VisitEnded,
        Refusal::AlreadyConnected,
        Refusal::AuditUnavailable,
        Refusal::Unavailable,
        Refusal::LawyerNotPresent,
        Refusal::NodeDraining,
        Refusal::Moved("wss://n2.example:8443/ws".into()),
    ];
    for d in [
        Deny::NotAParticipant,
        Deny::TooEarly,
        Deny::SlotOver,
        Deny::VisitEnded,
        Deny::AccountLocked,
        Deny::NoCase,
        Deny::NoEngagement,
        Deny::Licence(Reason::Suspended),
        Deny::Licence(Reason::RegistryUnavailable),
        Deny::Documents(Documents {
            firm_letter: DocumentState::Missing,
            authority: DocumentState::Accepted,
        }),
        Deny::PermissionMissing,
        Deny::PermissionRefused,
        Deny::CompanionNotApproved,
        Deny::RemoteBoothRequired,
        Deny::RoomConsentMissing,
        Deny::RoomNotAttested,
        Deny::CompanionNotInvited,
    ] {
        all.push(Refusal::Policy(d));
    }
    for r in &all {
        assert!(!r.code().is_empty(), "{r:?}");
        assert!(
            r.status().is_client_error() || r.status().is_server_error(),
            "{r:?}"
        );
        assert!(!r.message_en().trim().is_empty(), "{r:?}");
        // Chinese first for the people who read it: every refusal has its sentence.
        assert!(
            r.message_zh()
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{r:?} has no Chinese sentence"
        );
    }
    // The statuses the API has always answered with.
    assert_eq!(
        Refusal::Policy(Deny::NotAParticipant).status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        Refusal::Policy(Deny::Licence(Reason::RegistryUnavailable)).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        Refusal::Policy(Deny::TooEarly).status(),
        StatusCode::CONFLICT
    );
    assert_eq!(Refusal::AuditUnavailable.code(), "audit_unavailable");
    assert_eq!(Refusal::AuditUnavailable.wire(), ErrorCode::Unavailable);
    assert_eq!(
        Refusal::Policy(Deny::RoomNotAttested).wire(),
        ErrorCode::RoomNotReady
    );
    // A policy refusal keeps policy's own code (audit, metrics and pages read it).
    assert_eq!(Refusal::Policy(Deny::NoCase).code(), Deny::NoCase.code());
}

#[tokio::test]
async fn a_booth_joins_with_its_token_and_its_certificate_and_the_admission_is_audited_first() {
    // R-VERIFY-4: a booth is its certificate; docs/DESIGN.md invariant 3: audit first.
    let w = world().await;
    let (visit, _) = w.visit("li").await;
    let now = Utc::now();
    let token = w.booth_token(visit, now).await;
    assert!(token.expires_at > now);
    let joined = w
        .admission
        .join(&token.token, &w.booth_chain, now)
        .await
        .expect("the booth is admitted");
    assert_eq!(joined.seat.visit, visit);
    assert_eq!(joined.seat.role, crate::ids::Role::Booth);
    assert!(w.hub.is_live(visit));
    let kinds = w.audit_kinds(visit).await;
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} in {kinds:?}"))
    };
    assert!(pos("join_token_issued") < pos("join_token_used"));
    assert!(pos("join_token_used") < pos("admission_granted"));
}

#[tokio::test]
async fn a_join_token_is_used_once() {
    let w = world().await;
    let (visit, _) = w.visit("li").await;
    let now = Utc::now();
    let token = w.booth_token(visit, now).await;
    let first = w.admission.join(&token.token, &w.booth_chain, now).await;
    assert!(first.is_ok());
    let again = w.admission.join(&token.token, &w.booth_chain, now).await;
    assert_eq!(again.err(), Some(Refusal::TokenReplayed));
    assert!(w
        .audit_kinds(visit)
        .await
        .iter()
        .any(|k| k == "join_token_rejected"));
}

#[tokio::test]
async fn a_booth_token_needs_the_booths_own_certificate_on_the_connection() {
    let w = world().await;
    let (visit, _) = w.visit("li").await;
    let now = Utc::now();
    let token = w.booth_token(visit, now).await;
    let none: Vec<CertificateDer<'static>> = Vec::new();
    let refused = w.admission.join(&token.token, &none, now).await.err();
    assert!(
        matches!(
            refused,
            Some(Refusal::BoothCertificate {
                code: "booth_cert_missing",
                ..
            })
        ),
        "{refused:?}"
    );
    let refused = w
        .admission
        .join(&token.token, &w.other_booth_chain, now)
        .await
        .err();
    assert_eq!(refused, Some(Refusal::BoothMismatch));
    assert!(!w.hub.is_live(visit));
}

#[tokio::test]
async fn another_booth_gets_no_token_for_this_visit() {
    let w = world().await;
    let (visit, _) = w.visit("li").await;
    let other = w.identity(&w.other_booth_chain).await;
    let refused = w
        .admission
        .token_for_booth(&other, visit, Utc::now())
        .await
        .err();
    assert_eq!(refused, Some(Refusal::BoothMismatch));
}

#[tokio::test]
async fn forged_and_expired_tokens_are_refused_and_recorded() {
    let w = world().await;
    let (visit, _) = w.visit("li").await;
    let now = Utc::now();
    let refused = w
        .admission
        .join("cft1.garbage", &w.booth_chain, now)
        .await
        .err();
    assert_eq!(refused, Some(Refusal::InvalidToken));
    let token = w.booth_token(visit, now).await;
    let later = now + chrono::Duration::minutes(10);
    let refused = w
        .admission
        .join(&token.token, &w.booth_chain, later)
        .await
        .err();
    assert_eq!(refused, Some(Refusal::TokenExpired));
    assert!(!w.hub.is_live(visit));
    // A token that does not verify names nobody: counted per minute (audit::tally), not
    // one entry each; the counts are in the chain once written.
    let kinds = w.audit_kinds_of(None).await;
    assert!(
        !kinds.iter().any(|k| k == "join_token_rejected"),
        "{kinds:?}"
    );
    w.audit.flush_counted().await;
    let entries = w
        .audit
        .query(&AuditFilter {
            visit: None,
            lawyer: None,
            from_ms: None,
            to_ms: None,
            after_seq: 0,
            limit: 1000,
        })
        .await
        .unwrap();
    let mut counted: Vec<(String, u64)> = entries
        .iter()
        .filter(|e| e.record["kind"] == "unauthenticated_requests")
        .map(|e| {
            (
                e.record["reason"].as_str().unwrap().to_owned(),
                e.record["count"].as_u64().unwrap(),
            )
        })
        .collect();
    counted.sort();
    assert_eq!(
        counted,
        vec![("invalid_token".into(), 1), ("token_expired".into(), 1)],
        "the forged and the expired token are counted"
    );
}

#[tokio::test]
async fn a_lawyer_without_the_documents_gets_no_token_and_the_refusal_is_audited() {
    // R-ARRANGE-1: the lawyer is told why before the camera opens.
    let w = world().await;
    let (visit, lawyer) = w.visit("li").await;
    let none: Vec<CertificateDer<'static>> = Vec::new();
    let refused = w
        .admission
        .token_for_lawyer(lawyer, visit, &none, Utc::now())
        .await
        .err();
    assert_eq!(refused, Some(Refusal::Policy(Deny::NoCase)));
    let kinds = w.audit_kinds(visit).await;
    assert!(kinds.iter().any(|k| k == "admission_refused"), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "join_token_issued"), "{kinds:?}");
}

#[tokio::test]
async fn nobody_is_admitted_when_the_audit_log_cannot_be_written() {
    // docs/DESIGN.md invariant 3: fail closed.
    let w = world().await;
    let (visit, _) = w.visit("li").await;
    let now = Utc::now();
    let token = w.booth_token(visit, now).await;
    w.audit.dangerous_fail_appends_for_tests(true);
    let refused = w
        .admission
        .join(&token.token, &w.booth_chain, now)
        .await
        .err();
    assert_eq!(refused, Some(Refusal::AuditUnavailable));
    assert!(!w.hub.is_live(visit));
    let refused = w
        .admission
        .token_for_booth(&w.me().await, visit, now)
        .await
        .err();
    assert_eq!(refused, Some(Refusal::AuditUnavailable));
}

#[tokio::test]
async fn a_visit_that_ended_admits_nobody_even_with_a_token_from_before() {
    // docs/DESIGN.md invariant 8: the end is durable before anyone is answered.
    let w = world().await;
    let (visit, _) = w.visit("li").await;
    let now = Utc::now();
    let first = w.booth_token(visit, now).await;
    let kept = w.booth_token(visit, now).await;
    let joined = w
        .admission
        .join(&first.token, &w.booth_chain, now)
        .await
        .unwrap();
    w.hub.end(visit, EndReason::StoppedByStaff).await;
    assert!(!w.hub.is_live(visit));
    let refused = w
        .admission
        .join(&kept.token, &w.booth_chain, Utc::now())
        .await
        .err();
    assert_eq!(refused, Some(Refusal::Policy(Deny::VisitEnded)));
    drop(joined);
}

#[test]
fn a_missing_booth_certificate_is_401_and_a_bad_one_403() {
    let missing = Refusal::from_booth(BoothRefusal::Certificate(
        crate::auth::BoothCertError::NoCertificate,
    ));
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let bad = Refusal::from_booth(BoothRefusal::Certificate(
        crate::auth::BoothCertError::UnknownIssuer,
    ));
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        Refusal::from_booth(BoothRefusal::UnknownBooth).code(),
        "unknown_booth"
    );
}
