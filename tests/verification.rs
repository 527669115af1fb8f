//! Licence and document verification before media flows, against the real server
//! and the real test registry server over HTTPS: R-VERIFY-1..4, R-ARRANGE-1..3.

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/registry.rs"]
mod registry;
#[path = "support/relay.rs"]
mod relay;

use app::{spawn_app_with, Identity, TestApp};
use confer::ids::{CaseId, LawyerId};
use confer::licence::HolderIdHash;
use confer_signaling::{EndReason, ErrorCode, VisitNotice};
use peer::{MediaKind, SendRates, TestPeer};
use registry::{Behaviour, TestRegistry};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const FIRM: &str = "上海市某某律师事务所";

/// The registry's lawyers: (licence, holder name, identity number, firm, status).
const REGISTRY: &[(&str, &str, &str, &str, &str)] = &[
    (
        "31101202010000001",
        "王律师",
        "310101198001010011",
        FIRM,
        "practising",
    ),
    (
        "31101202010000002",
        "李律师",
        "310101198001010022",
        FIRM,
        "suspended",
    ),
    (
        "31101202010000003",
        "赵律师",
        "310101198001010033",
        FIRM,
        "revoked",
    ),
    (
        "31101202010000004",
        "钱律师",
        "310101198001010044",
        FIRM,
        "practising",
    ),
    (
        "31101202010000005",
        "孙律师",
        "310101198001010055",
        "另一个律师事务所",
        "practising",
    ),
];

/// A world: the test registry, confer configured to ask it over HTTPS, and a detainee.
struct World {
    app: TestApp,
    registry: TestRegistry,
    _dir: tempfile::TempDir,
    detainee: i64,
}

const DETAINEE: &str = "T-1001";

/// A small valid PDF (the documents service checks content, not names).
fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {text}\ntrailer << >>\n%%EOF\n").into_bytes()
}

async fn world_with(tweak: impl FnOnce(&mut confer::config::Config)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("registry.jsonl");
    let lines: Vec<String> = REGISTRY
        .iter()
        .map(|(licence, name, id, firm, status)| {
            json!({
                "licence_number": licence,
                "holder_name": name,
                "holder_id_hash": HolderIdHash::of_id_number(id).as_str(),
                "law_firm": firm,
                "status": status,
                "valid_until": "2030-12-31",
                "data_as_of": "2026-11-27T00:00:00Z",
            })
            .to_string()
        })
        .collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let registry = TestRegistry::start(&data).await;
    let ca = dir.path().join("registry-ca.pem");
    std::fs::write(&ca, registry.ca_pem.as_ref().unwrap()).unwrap();
    let url = registry.base_url.clone();
    let app = spawn_app_with(move |c| {
        c.licence.registry = confer::config::RegistrySource::Http;
        c.licence.registry_url = Some(url);
        c.licence.registry_ca = Some(ca);
        c.licence.registry_retries = 0;
        tweak(c);
    })
    .await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/api/detainees",
            Some(json!({"facility": confer::app::DEMO_FACILITY, "internal_ref": DETAINEE, "name": "Test Detainee"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let detainee = body["id"].as_i64().unwrap();
    World {
        app,
        registry,
        _dir: dir,
        detainee,
    }
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// A lawyer-side account made through the staff API; returns (id, session).
async fn account(app: &TestApp, username: &str, body: Value) -> (LawyerId, String) {
    let mut body = body;
    body["username"] = json!(username);
    body["password"] = json!("a long enough password");
    let (status, created) = app
        .admin(Method::POST, "/admin/api/lawyers", Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = LawyerId(created["id"].as_i64().unwrap());
    let session = app.lawyer_login(username, "a long enough password").await;
    (id, session)
}

/// A lawyer account claiming the n-th registry row's licence (with the row's holder).
async fn lawyer_from_registry(app: &TestApp, username: &str, row: usize) -> (LawyerId, String) {
    let (licence, name, id, _, _) = REGISTRY[row];
    account(
        app,
        username,
        json!({"display_name": name, "licence_number": licence, "id_number": id}),
    )
    .await
}

impl World {
    async fn case(&self, needs_unit_permission: bool) -> CaseId {
        let (status, body) = self
            .app
            .admin(
                Method::POST,
                "/admin/api/cases",
                Some(json!({"detainee_id": self.detainee, "needs_unit_permission": needs_unit_permission})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        CaseId(body["id"].as_i64().unwrap())
    }

    /// The lawyer's engagement in the detainee's newest case (through the lawyer API), with
    /// the firm letter and the power of attorney uploaded and reviewed by staff as given
    /// (`None`: not uploaded; `Some(true)`: accepted; `Some(false)`: rejected).
    async fn engage(
        &self,
        session: &str,
        firm_letter: Option<bool>,
        authority: Option<bool>,
    ) -> i64 {
        let (status, body) = self
            .app
            .lawyer_api(
                session,
                Method::POST,
                "/api/lawyer/engagements",
                Some(json!({"facility": confer::app::DEMO_FACILITY, "detainee_ref": DETAINEE, "law_firm": FIRM, "authority": "power_of_attorney"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let engagement = body["id"].as_i64().unwrap();
        for (kind, state) in [
            ("firm_letter", firm_letter),
            ("power_of_attorney", authority),
        ] {
            let Some(accepted) = state else { continue };
            let (status, doc) = self
                .app
                .upload_document(session, engagement, kind, pdf(kind), "application/pdf")
                .await;
            assert_eq!(status, 201, "{doc}");
            let review = if accepted {
                json!({"accepted": true})
            } else {
                json!({"accepted": false, "reason": "The stamp is not legible; upload a clearer scan."})
            };
            let (status, body) = self
                .app
                .admin(
                    Method::POST,
                    &format!("/admin/api/documents/{}/review", doc["id"]),
                    Some(review),
                )
                .await;
            assert!(status == 200 || status == 204, "{status} {body}");
        }
        engagement
    }

    /// A visit of `lawyer` in `case` at the demo booth, open now for `lasts`.
    async fn visit(&self, lawyer: LawyerId, case: CaseId, companions: &[LawyerId]) -> i64 {
        let start = chrono::Utc::now() - chrono::Duration::seconds(5);
        let (status, body) = self
            .app
            .admin(
                Method::POST,
                "/admin/api/visits",
                Some(json!({
                    "lawyer_id": lawyer,
                    "booth_id": confer::app::DEMO_BOOTH,
                    "starts_at": start.to_rfc3339(),
                    "ends_at": (start + chrono::Duration::minutes(30)).to_rfc3339(),
                    "case_id": case.0,
                    "companions": companions,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// A verified lawyer with accepted documents, engaged in a new case, and a visit.
    async fn ready_lawyer(&self, username: &str) -> (LawyerId, String, CaseId, i64) {
        let (id, session) = lawyer_from_registry(&self.app, username, 0).await;
        let case = self.case(false).await;
        self.engage(&session, Some(true), Some(true)).await;
        let visit = self.visit(id, case, &[]).await;
        (id, session, case, visit)
    }
}

/// Ask for a join token; (HTTP status, body).
async fn token(app: &TestApp, session: &str, visit: i64) -> (u16, Value) {
    app.lawyer_join_token(session, visit).await
}

fn token_of(answer: (u16, Value)) -> String {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["token"].as_str().unwrap().to_owned()
}

async fn alerts(app: &TestApp) -> Vec<Value> {
    let (status, body) = app
        .admin(Method::GET, "/admin/api/alerts?open=true", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["alerts"].as_array().unwrap().clone()
}

async fn audit_kinds(app: &TestApp, visit: i64) -> Vec<String> {
    let (status, body) = app.audit_read(&format!("?visit={visit}")).await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"]["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practising_lawyer_with_accepted_documents_reaches_media() {
    // R-VERIFY-1 + R-ARRANGE-1: registry over HTTPS says practising, the holder and the firm
    // match, both documents accepted: media flows both ways.
    let w = world().await;
    let (_, session, _, visit) = w.ready_lawyer("wang").await;
    let before = w.registry.requests();
    let lawyer_token = token_of(token(&w.app, &session, visit).await);
    assert!(w.registry.requests() > before, "the registry was asked");
    let booth_token = w.app.demo_booth_token(visit).await;

    let mut sides = Vec::new();
    for (identity, tok, label) in [
        (Identity::None, lawyer_token, "lawyer"),
        (w.app.demo_booth(), booth_token, "booth"),
    ] {
        let mut sig = w.app.joined(&identity, &tok).await;
        let peer = TestPeer::new(label).await;
        let answer = sig.offer(&peer.create_offer().await).await.expect("offer");
        peer.set_answer(&answer).await;
        sides.push((sig, peer));
    }
    for (_, peer) in &sides {
        peer.wait_connected(WAIT).await.expect("connected");
        peer.start_sending(Duration::from_secs(2), SendRates::default())
            .await
            .unwrap();
    }
    for (_, peer) in &sides {
        peer.wait_received(MediaKind::Video, 20, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", peer.label()));
    }
    let kinds = audit_kinds(&w.app, visit).await;
    assert!(kinds.iter().any(|k| k == "admission_granted"), "{kinds:?}");
    w.app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_licences_get_the_right_reason_and_impersonation_alerts_staff() {
    // R-VERIFY-1: suspended, revoked, unknown, someone else's, another firm: no token, with
    // the registry's reason in English and Chinese. R-VERIFY-3: unknown, someone else's and
    // revoked raise alerts to staff; a suspension does not.
    let w = world().await;
    let cases = [
        (
            "li-lawyer",
            json!({"display_name": "李律师", "licence_number": REGISTRY[1].0, "id_number": REGISTRY[1].2}),
            "licence_suspended",
            false,
        ),
        (
            "zhao",
            json!({"display_name": "赵律师", "licence_number": REGISTRY[2].0, "id_number": REGISTRY[2].2}),
            "licence_revoked",
            true,
        ),
        (
            "nobody",
            json!({"display_name": "周律师", "licence_number": "31101202019999999", "id_number": "310101198001010099"}),
            "licence_unknown",
            true,
        ),
        // Someone using Qian's licence number with their own identity.
        (
            "impostor",
            json!({"display_name": "钱律师", "licence_number": REGISTRY[3].0, "id_number": "999999999999999999"}),
            "licence_holder_mismatch",
            true,
        ),
        (
            "sun",
            json!({"display_name": "孙律师", "licence_number": REGISTRY[4].0, "id_number": REGISTRY[4].2}),
            "licence_firm_mismatch",
            false,
        ),
    ];
    let mut expected_alerts = 0;
    for (username, body, code, alert) in cases {
        let (id, session) = account(&w.app, username, body).await;
        let case = w.case(false).await;
        w.engage(&session, Some(true), Some(true)).await;
        let visit = w.visit(id, case, &[]).await;
        let (status, answer) = token(&w.app, &session, visit).await;
        assert_eq!(status, 409, "{username}: {answer}");
        assert_eq!(answer["code"], code, "{username}: {answer}");
        assert!(!answer["message"].as_str().unwrap().is_empty());
        assert!(!answer["message_zh"].as_str().unwrap().is_empty());
        if alert {
            expected_alerts += 1;
        }
        let open = alerts(&w.app).await;
        assert_eq!(open.len(), expected_alerts, "{username}: {open:?}");
        if alert {
            assert_eq!(open[0]["lawyer_id"], json!(id));
            assert_eq!(open[0]["reason"], code);
            let kinds = audit_kinds(&w.app, visit).await;
            assert!(
                kinds.iter().any(|k| k == "impersonation_suspected"),
                "{kinds:?}"
            );
        }
        // The alert shows no licence number.
        assert!(!serde_json::to_string(&open).unwrap().contains("3110120201"));
    }
    w.app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_down_means_verify_by_hand_and_a_manual_verification_admits() {
    // R-VERIFY-1 fail closed; R-VERIFY-2 staff verify against the justice bureau's
    // certificate, recorded with who and on what evidence, and the visit goes ahead.
    let w = world().await;
    let (_, session, _, visit) = w.ready_lawyer("wang").await;
    w.registry.set_behaviour(Behaviour::Status(503));
    let (status, answer) = token(&w.app, &session, visit).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["code"], "licence_registry_unavailable");
    assert!(
        answer["message"].as_str().unwrap().contains("by hand"),
        "{answer}"
    );
    assert!(
        alerts(&w.app).await.is_empty(),
        "an outage is not impersonation"
    );

    let (status, body) = w
        .app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{visit}/manual-verification"),
            Some(json!({"evidence_ref": "沪司证 2026-1234", "note": "certificate seen"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let tok = token_of(token(&w.app, &session, visit).await);
    let mut sig = w.app.joined(&Identity::None, &tok).await;
    sig.ping().await.unwrap();
    let kinds = audit_kinds(&w.app, visit).await;
    assert!(
        kinds.iter().any(|k| k == "manual_licence_verification"),
        "{kinds:?}"
    );
    let (_, body) = w.app.audit_read(&format!("?visit={visit}")).await;
    let granted: Vec<&Value> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["record"]["kind"] == "admission_granted")
        .collect();
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0]["record"]["licence"], "manual");
    w.app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_suspended_during_a_visit_is_cut_within_the_cache_time() {
    // R-VERIFY-1: a status change reaches a running visit within the (short, in this test)
    // cache time and ends it with a clear reason; a registry outage does not.
    let w = world_with(|c| c.licence.cache_secs = 2).await;
    let (_, session, _, visit) = w.ready_lawyer("wang").await;
    let tok = token_of(token(&w.app, &session, visit).await);
    let mut lawyer = w.app.joined(&Identity::None, &tok).await;
    let mut booth = w
        .app
        .joined(&w.app.demo_booth(), &w.app.demo_booth_token(visit).await)
        .await;
    let _ = lawyer.next_notice_timeout(WAIT).await; // the booth joined

    // An outage first: the visit goes on through several re-checks.
    w.registry.set_behaviour(Behaviour::Status(503));
    tokio::time::sleep(Duration::from_secs(3)).await;
    lawyer
        .ping()
        .await
        .expect("still in the visit during an outage");
    w.registry.set_behaviour(Behaviour::Normal);

    w.registry.set_status(REGISTRY[0].0, "suspended");
    let started = std::time::Instant::now();
    for sig in [&mut lawyer, &mut booth] {
        let notice = sig.next_notice_timeout(WAIT).await.expect("a notice");
        match notice {
            VisitNotice::VisitEnded { reason, message } => {
                assert_eq!(reason, EndReason::LicenceWithdrawn);
                assert!(message.contains("suspended"), "{message}");
            }
            other => panic!("expected the end of the visit, got {other:?}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2 + 5),
        "cut within the cache time (plus slack): {:?}",
        started.elapsed()
    );
    let kinds = audit_kinds(&w.app, visit).await;
    assert!(kinds.iter().any(|k| k == "licence_withdrawn"), "{kinds:?}");
    w.app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_must_be_accepted_and_nothing_else_is_asked() {
    // R-ARRANGE-1: the firm letter and the power of attorney, accepted by staff.
    let w = world().await;
    let (id, session) = lawyer_from_registry(&w.app, "wang", 0).await;
    for (firm, authority) in [
        (None, Some(true)),
        (Some(true), Some(false)),
        (Some(false), Some(true)),
    ] {
        let case = w.case(false).await;
        w.engage(&session, firm, authority).await;
        let visit = w.visit(id, case, &[]).await;
        let (status, answer) = token(&w.app, &session, visit).await;
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["code"], "documents_incomplete");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("Nothing else is required"),
            "{answer}"
        );
    }
    // No engagement at all.
    let case = w.case(false).await;
    let visit = w.visit(id, case, &[]).await;
    let (status, answer) = token(&w.app, &session, visit).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("engagement_missing"))
    );
    w.app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_case_needs_the_units_permission_and_no_other_case_does() {
    // R-ARRANGE-3.
    let w = world().await;
    let (id, session) = lawyer_from_registry(&w.app, "wang", 0).await;
    let flagged = w.case(true).await;
    w.engage(&session, Some(true), Some(true)).await;
    let visit = w.visit(id, flagged, &[]).await;
    let (status, answer) = token(&w.app, &session, visit).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("permission_missing")),
        "{answer}"
    );

    let permission = |granted: bool| json!({"lawyer_id": id, "unit": "某市公安局", "decided_on": "2026-11-26", "granted": granted, "document_ref": "许可 2026-77"});
    let path = format!("/admin/api/cases/{}/permissions", flagged.0);
    let (status, body) = w
        .app
        .admin(Method::POST, &path, Some(permission(false)))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, answer) = token(&w.app, &session, visit).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("permission_refused"))
    );
    let (status, _) = w
        .app
        .admin(Method::POST, &path, Some(permission(true)))
        .await;
    assert_eq!(status, 201);
    token_of(token(&w.app, &session, visit).await);
    let kinds = audit_kinds(&w.app, visit).await;
    assert!(kinds.iter().any(|k| k == "admission_refused"), "{kinds:?}");

    // An ordinary case: admitted without any permission, and none can be recorded for it.
    let ordinary = w.case(false).await;
    w.engage(&session, Some(true), Some(true)).await;
    let visit = w.visit(id, ordinary, &[]).await;
    token_of(token(&w.app, &session, visit).await);
    let (status, body) = w
        .app
        .admin(
            Method::POST,
            &format!("/admin/api/cases/{}/permissions", ordinary.0),
            Some(permission(true)),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("permission_not_applicable"))
    );
    w.app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_approved_invited_companions_join_and_one_device_per_participant() {
    // R-VERIFY-4: an interpreter is invited by the lawyer only once the unit's approval is
    // recorded; the lawyer's own assistant needs no approval in an ordinary case but must be
    // invited; companions join only while the lawyer is present; a second device of the same
    // participant is refused while the first is connected.
    let w = world().await;
    let (lawyer, session, case, _) = w.ready_lawyer("wang").await;
    let (assistant, assistant_session) = account(
        &w.app,
        "assistant",
        json!({"display_name": "Assistant", "kind": "assistant", "principal_id": lawyer}),
    )
    .await;
    let (interpreter, interpreter_session) = account(
        &w.app,
        "interpreter",
        json!({"display_name": "Interpreter", "kind": "interpreter"}),
    )
    .await;
    let visit = w.visit(lawyer, case, &[]).await;
    let invite = |account: LawyerId| {
        let app = &w.app;
        let session = session.clone();
        async move {
            app.lawyer_api(
                &session,
                Method::POST,
                &format!("/api/lawyer/visits/{visit}/companions"),
                Some(json!({"account_id": account})),
            )
            .await
        }
    };
    let (status, answer) = invite(interpreter).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("companion_not_eligible")),
        "{answer}"
    );
    let (status, body) = w
        .app
        .admin(
            Method::POST,
            &format!("/admin/api/cases/{}/companions", case.0),
            Some(json!({"account_id": interpreter, "unit": "某市公安局",
                "decided_on": "2026-05-01", "document_ref": "批准 2026-5"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, answer) = invite(interpreter).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = token(&w.app, &interpreter_session, visit).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("lawyer_not_present")),
        "{answer}"
    );
    let lawyer_token = token_of(token(&w.app, &session, visit).await);
    let _joined_lawyer = w.app.joined(&Identity::None, &lawyer_token).await;
    let (status, answer) = token(&w.app, &assistant_session, visit).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("companion_not_invited")),
        "{answer}"
    );
    let (status, answer) = invite(assistant).await;
    assert_eq!(status, 201, "{answer}");
    let assistant_token = token_of(token(&w.app, &assistant_session, visit).await);
    let _assistant = w.app.joined(&Identity::None, &assistant_token).await;

    let interpreter_token = token_of(token(&w.app, &interpreter_session, visit).await);
    let mut first = w.app.joined(&Identity::None, &interpreter_token).await;
    let second_token = token_of(token(&w.app, &interpreter_session, visit).await);
    let mut second = w.app.signaling(&Identity::None).await;
    second.hello().await.unwrap();
    let err = second
        .join(&second_token)
        .await
        .expect_err("second device refused");
    assert_eq!(err.code(), Some(ErrorCode::AlreadyConnected));
    first.ping().await.expect("the first device stays");
    w.app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_impersonation_locks_the_account_until_staff_unlock_it() {
    // R-VERIFY-3: three alerts within the window lock the account.
    let w = world_with(|c| c.licence.lock_after_alerts = 3).await;
    let (id, session) = account(
        &w.app,
        "nobody",
        json!({"display_name": "周律师", "licence_number": "31101202019999999", "id_number": "310101198001010099"}),
    )
    .await;
    let case = w.case(false).await;
    w.engage(&session, Some(true), Some(true)).await;
    let visit = w.visit(id, case, &[]).await;
    for _ in 0..3 {
        let (_, answer) = token(&w.app, &session, visit).await;
        assert_eq!(answer["code"], "licence_unknown");
    }
    let (status, answer) = token(&w.app, &session, visit).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("account_locked")),
        "{answer}"
    );
    let (_, body) = w.app.audit_read(&format!("?lawyer={}", id.0)).await;
    assert!(body.to_string().contains("account_locked"), "{body}");
    let (status, _) = w
        .app
        .admin(
            Method::POST,
            &format!("/admin/api/lawyers/{}/unlock", id.0),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, answer) = token(&w.app, &session, visit).await;
    assert_eq!(
        answer["code"], "licence_unknown",
        "unlocked, still not verified"
    );
    w.app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_verification_never_overrides_a_stated_status_and_is_rechecked() {
    // R-VERIFY-2: staff may settle an outage or a disagreement of the registry's data by
    // hand, never a status the registry states; and a lawyer admitted on a manual
    // verification is re-checked like the others once the registry answers (R-VERIFY-1).
    let w = world_with(|c| c.licence.cache_secs = 2).await;

    // A revoked licence: a manual verification is recorded, and still nobody is admitted.
    let (revoked, session) = lawyer_from_registry(&w.app, "zhao", 2).await;
    let case = w.case(false).await;
    w.engage(&session, Some(true), Some(true)).await;
    let visit = w.visit(revoked, case, &[]).await;
    let (status, body) = w
        .app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{visit}/manual-verification"),
            Some(json!({"evidence_ref": "沪司证 2026-0001", "note": "certificate seen"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, answer) = token(&w.app, &session, visit).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["code"], "licence_revoked");

    // Registry down: verified by hand, admitted; the booth joins.
    let (_, session, _, visit) = w.ready_lawyer("wang").await;
    w.registry.set_behaviour(Behaviour::Status(503));
    let (status, body) = w
        .app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{visit}/manual-verification"),
            Some(json!({"evidence_ref": "沪司证 2026-1234", "note": "certificate seen"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let tok = token_of(token(&w.app, &session, visit).await);
    let mut lawyer = w.app.joined(&Identity::None, &tok).await;
    let mut booth = w
        .app
        .joined(&w.app.demo_booth(), &w.app.demo_booth_token(visit).await)
        .await;
    let _ = lawyer.next_notice_timeout(WAIT).await; // the booth joined

    // The registry answers again, practising: the visit goes on through re-checks.
    w.registry.set_behaviour(Behaviour::Normal);
    tokio::time::sleep(Duration::from_secs(3)).await;
    lawyer.ping().await.expect("still in the visit");

    // Now it says suspended: the manual verification does not cover that; the visit ends.
    w.registry.set_status(REGISTRY[0].0, "suspended");
    for sig in [&mut lawyer, &mut booth] {
        match sig.next_notice_timeout(WAIT).await.expect("a notice") {
            VisitNotice::VisitEnded { reason, .. } => {
                assert_eq!(reason, EndReason::LicenceWithdrawn)
            }
            other => panic!("expected the end of the visit, got {other:?}"),
        }
    }
    let kinds = audit_kinds(&w.app, visit).await;
    assert!(kinds.iter().any(|k| k == "licence_withdrawn"), "{kinds:?}");
    w.app.running.shutdown().await;
}

/// R-REMOTE-2 with R-VERIFY-1: a lawyer whose connection is lost keeps the seat for the
/// grace period, but the registry suspends the licence before the lawyer comes back: the
/// resume asks the registry again and is refused (`licence_not_verified`, both languages),
/// audited as a refused resume with `licence_withdrawn`, and the visit ends for the booth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_is_refused_when_the_licence_was_suspended_after_the_drop() {
    let w = world_with(|c| {
        c.signaling.ping_interval_secs = 1;
        c.signaling.dead_after_secs = 2;
        c.visit.reconnect_grace_secs = 60;
    })
    .await;
    let (_, session, _, visit) = w.ready_lawyer("wang").await;
    let mut booth = w
        .app
        .joined(&w.app.demo_booth(), &w.app.demo_booth_token(visit).await)
        .await;
    // The lawyer's signalling runs through a relay that can fall silent (a lost network).
    let relay = relay::Relay::start(w.app.running.http_addr).await;
    let mut lawyer = confer_signaling::SignalingClient::connect(
        &relay.ws_url(),
        app::tls_client(&w.app.ca_pem, &Identity::None),
    )
    .await
    .expect("wss");
    lawyer.set_device("lawyer-tab-licence");
    lawyer.hello().await.expect("hello");
    let joined = lawyer
        .join(&token_of(token(&w.app, &session, visit).await))
        .await
        .expect("lawyer join");
    let credential = joined.resume.expect("a resume credential").token;
    let credential = credential.expose().to_owned();
    // A seat is kept for a participant with a media peer (a resume takes it back).
    let peer = TestPeer::new("lawyer").await;
    let answer = lawyer
        .offer(&peer.create_offer().await)
        .await
        .expect("offer");
    peer.set_answer(&answer).await;

    relay.go_silent();
    let reconnecting = VisitNotice::ParticipantReconnecting {
        role: confer_signaling::Role::Lawyer,
    };
    loop {
        match booth.next_notice_timeout(WAIT).await.expect("a notice") {
            n if n == reconnecting => break,
            _ => continue,
        }
    }
    w.registry.set_status(REGISTRY[0].0, "suspended");

    let mut again = confer_signaling::SignalingClient::connect(
        &w.app.ws_url(),
        app::tls_client(&w.app.ca_pem, &Identity::None),
    )
    .await
    .expect("wss");
    again.set_device("lawyer-tab-licence");
    again.hello().await.expect("hello");
    let err = again
        .resume(&credential)
        .await
        .expect_err("the resume is refused");
    assert_eq!(err.code(), Some(ErrorCode::LicenceNotVerified), "{err}");
    let text = err.to_string();
    assert!(text.contains("licence"), "{text}");
    loop {
        match booth.next_notice_timeout(WAIT).await.expect("the end") {
            VisitNotice::VisitEnded { reason, .. } => {
                assert_eq!(reason, EndReason::LicenceWithdrawn);
                break;
            }
            _ => continue,
        }
    }
    let (status, audit) = w.app.audit_read(&format!("?visit={visit}")).await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["record"]["kind"] == "resume_refused"
                && e["record"]["reason"] == "licence_withdrawn"),
        "{audit}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| e["record"]["kind"] == "participant_resumed"),
        "{audit}"
    );
    drop((lawyer, peer));
    w.app.running.shutdown().await;
}
