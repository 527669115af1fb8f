//! Lawyer-led companions and the roster, against the real server (R-VERIFY-4, R-PRIV-1,
//! docs/DESIGN.md invariant 10): staff cannot add anyone to a visit; only the visit's lawyer
//! invites an assistant or interpreter, and an interpreter needs the investigating unit's
//! approval as staff recorded it; a companion joins only while the lawyer is present and is
//! removed, told why, when the lawyer leaves; everyone's roster lists everyone; and in a
//! three-way visit (lawyer, interpreter, booth; webrtc-rs peers through the SFU) each
//! participant receives both others' audio and video, on the m-lines its roster names.

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use app::{Identity, TestApp};
use confer_signaling::{EndReason, ErrorCode, PresenceState, Role, Roster, SignalingClient};
use peer::{MediaKind, SendRates, TestPeer};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "a long enough password";

/// A companion account (`kind` assistant or interpreter), signed in: `(id, session)`.
async fn companion(
    app: &TestApp,
    username: &str,
    kind: &str,
    principal: Option<i64>,
) -> (i64, String) {
    let mut body = json!({"username": username, "display_name": format!("{kind} {username}"),
        "password": PASSWORD, "kind": kind});
    if let Some(p) = principal {
        body["principal_id"] = json!(p);
    }
    let (status, created) = app
        .admin(Method::POST, "/admin/api/lawyers", Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let session = app.lawyer_login(username, PASSWORD).await;
    (created["id"].as_i64().unwrap(), session)
}

/// Staff record the investigating unit's approval of `account` for `case`.
async fn approve(app: &TestApp, case: i64, account: i64) -> (u16, Value) {
    app.admin(
        Method::POST,
        &format!("/admin/api/cases/{case}/companions"),
        Some(json!({"account_id": account, "unit": "某市公安局刑侦支队",
            "decided_on": "2026-11-30", "document_ref": "公刑许字〔2026〕12号"})),
    )
    .await
}

/// The lawyer (`session`) invites `account` to `visit`.
async fn invite(app: &TestApp, session: &str, visit: i64, account: i64) -> (u16, Value) {
    app.lawyer_api(
        session,
        Method::POST,
        &format!("/api/lawyer/visits/{visit}/companions"),
        Some(json!({"account_id": account})),
    )
    .await
}

fn token(answer: (u16, Value)) -> String {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["token"].as_str().unwrap().to_owned()
}

/// The roles in a roster, in join order, and whether each is present.
fn roles(r: &Roster) -> Vec<(Role, PresenceState)> {
    r.participants.iter().map(|p| (p.role, p.state)).collect()
}

async fn roster_with(sig: &mut SignalingClient, want: &[Role]) -> Roster {
    let want: Vec<Role> = want.to_vec();
    sig.wait_roster(WAIT, |r| {
        let mut have: Vec<Role> = r.participants.iter().map(|p| p.role).collect();
        let mut want = want.clone();
        have.sort_by_key(|r| r.as_str());
        want.sort_by_key(|r| r.as_str());
        have == want
    })
    .await
    .unwrap_or_else(|e| panic!("roster with {want:?}: {e}"))
}

async fn audit_kinds(app: &TestApp, visit: i64) -> Vec<(String, String)> {
    let (status, body) = app.audit_read(&format!("?visit={visit}")).await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let r = &e["record"];
            let reason = r["reason"].as_str().unwrap_or_default().to_owned();
            (r["kind"].as_str().unwrap_or_default().to_owned(), reason)
        })
        .collect()
}

/// R-VERIFY-4: staff cannot put anyone into a visit; only the visit's lawyer invites, only
/// eligible companions (an interpreter with the unit's approval recorded in structured form;
/// the lawyer's own assistant), and an interpreter without a recorded approval is refused at
/// the gate even when an invitation row exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lawyer_invites_and_interpreters_need_the_units_recorded_approval() {
    let app = app::spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let case = app.demo_case().await.0;
    let lawyer_id = app.demo_lawyer_id().await.as_i64().unwrap();
    let (interpreter, interpreter_session) = companion(&app, "interp-1", "interpreter", None).await;
    let (assistant, _) = companion(&app, "assist-1", "assistant", Some(lawyer_id)).await;
    let (stranger_assistant, _) = companion(&app, "assist-2", "assistant", None).await;

    // Staff-only invitation: refused, with its reason in both languages.
    let start = chrono::Utc::now();
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/api/visits",
            Some(json!({"lawyer_id": lawyer_id, "booth_id": confer::app::DEMO_BOOTH,
                "starts_at": start.to_rfc3339(), "ends_at": (start + chrono::Duration::minutes(30)).to_rfc3339(),
                "case_id": case, "companions": [interpreter]})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("companions_invited_by_lawyer")),
        "{body}"
    );
    assert!(body["message_zh"].as_str().is_some(), "{body}");

    // Not invited: refused at the gate.
    let (status, body) = app.lawyer_join_token(&interpreter_session, visit).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("companion_not_invited")),
        "{body}"
    );
    // Without the unit's approval the lawyer cannot invite the interpreter; the lawyer's own
    // assistant (ordinary case) is eligible, someone else's assistant is not.
    let (status, list) = app
        .lawyer_api(
            &session,
            Method::GET,
            &format!("/api/lawyer/visits/{visit}/companions"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<i64> = list["companions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![assistant], "{list}");
    let (status, body) = invite(&app, &session, visit, interpreter).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("companion_not_eligible")),
        "{body}"
    );
    let (status, body) = invite(&app, &session, visit, stranger_assistant).await;
    assert_eq!(status, 409, "{body}");
    // A companion cannot invite anyone.
    let (status, body) = invite(&app, &interpreter_session, visit, assistant).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_the_visits_lawyer")),
        "{body}"
    );

    // An invitation row without a recorded approval (e.g. made before approvals were
    // structured, or a free-text approval) admits nobody: companion_not_approved.
    app.sql(&[
        &format!("INSERT INTO visit_companions (visit_id, account_id, invited_by, invited_at) VALUES ({visit}, {interpreter}, {lawyer_id}, 0)"),
        &format!("INSERT INTO case_companions (case_id, account_id, approved_by, recorded_by, recorded_at) VALUES ({case}, {interpreter}, 'free text', 1, 0)"),
    ])
    .await;
    let (status, body) = app.lawyer_join_token(&interpreter_session, visit).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("companion_not_approved")),
        "{body}"
    );

    // Staff record the unit's approval (structured); a malformed one is refused.
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/cases/{case}/companions"),
            Some(json!({"account_id": interpreter, "approved_by": "someone"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = approve(&app, case, interpreter).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = approve(&app, case, interpreter).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_approved"))
    );
    let (status, body) = invite(&app, &session, visit, assistant).await;
    assert_eq!(status, 201, "{body}");

    let kinds = audit_kinds(&app, visit).await;
    assert!(
        kinds
            .iter()
            .any(|(k, r)| k == "admission_refused" && r == "companion_not_approved"),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|(k, _)| k == "companion_invited"),
        "{kinds:?}"
    );
    app.running.shutdown().await;
}

/// R-VERIFY-4 with R-PRIV-1: an invited, approved interpreter is refused before the lawyer
/// joins (token and join alike); with the lawyer present it joins a three-way visit in which
/// everyone's roster lists all three, and each webrtc-rs peer receives both others' audio and
/// video on the m-lines its roster names; when the lawyer leaves, the interpreter is removed
/// and told why, the booth stays, and every step is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interpreter_joins_only_with_the_lawyer_three_ways_and_leaves_with_the_lawyer() {
    let app = app::spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let case = app.demo_case().await.0;
    let (interpreter, interpreter_session) = companion(&app, "interp-3", "interpreter", None).await;
    let (status, body) = approve(&app, case, interpreter).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = invite(&app, &session, visit, interpreter).await;
    assert_eq!(status, 201, "{body}");

    // Before the lawyer: refused with its code, in both languages.
    let (status, body) = app.lawyer_join_token(&interpreter_session, visit).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("lawyer_not_present")),
        "{body}"
    );
    assert!(
        body["message_zh"].as_str().unwrap().contains("律师"),
        "{body}"
    );

    let booth_token = app.demo_booth_token(visit).await;
    let mut booth = join3(&app, &app.demo_booth(), &booth_token, "booth").await;
    let lawyer_token = app.demo_lawyer_token(visit).await;
    let mut lawyer = join3(&app, &Identity::None, &lawyer_token, "lawyer").await;
    // A token taken while the lawyer is present does not work once the lawyer is gone.
    let early = token(app.lawyer_join_token(&interpreter_session, visit).await);
    lawyer.sig.leave().await.unwrap();
    roster_with(&mut booth.sig, &[Role::Booth]).await;
    let mut late = app.signaling(&Identity::None).await;
    late.hello().await.unwrap();
    let err = late.join(&early).await.expect_err("lawyer gone");
    assert_eq!(err.code(), Some(ErrorCode::LawyerNotPresent), "{err}");
    drop(late);

    // The lawyer comes back; the interpreter joins: three-way.
    let lawyer_token = app.demo_lawyer_token(visit).await;
    let mut lawyer = join3(&app, &Identity::None, &lawyer_token, "lawyer2").await;
    let interpreter_token = token(app.lawyer_join_token(&interpreter_session, visit).await);
    let mut interp = join3(&app, &Identity::None, &interpreter_token, "interpreter").await;
    let everyone = [Role::Booth, Role::Lawyer, Role::Interpreter];
    for side in [&lawyer, &booth, &interp] {
        side.peer.wait_connected(WAIT).await.expect("connected");
    }
    for side in [&lawyer, &booth, &interp] {
        side.peer
            .start_sending(Duration::from_secs(30), SendRates::default())
            .await
            .unwrap();
    }
    for (side, me) in [
        (&mut lawyer, Role::Lawyer),
        (&mut booth, Role::Booth),
        (&mut interp, Role::Interpreter),
    ] {
        // Each roster lists all three, the receiver as itself, every other participant with
        // its own pair of this receiver's m-lines; labels are display names, never licences.
        let r = side
            .sig
            .wait_roster(WAIT, |r| {
                r.participants.len() == 3
                    && r.participants
                        .iter()
                        .all(|p| p.you || (p.audio_mid.is_some() && p.video_mid.is_some()))
            })
            .await
            .unwrap_or_else(|e| panic!("{me:?}'s roster: {e}"));
        let mut seen: Vec<Role> = r.participants.iter().map(|p| p.role).collect();
        seen.sort_by_key(|r| r.as_str());
        let mut want = everyone.to_vec();
        want.sort_by_key(|r| r.as_str());
        assert_eq!(seen, want);
        assert!(r
            .participants
            .iter()
            .all(|p| p.state == PresenceState::Present));
        let you: Vec<Role> = r
            .participants
            .iter()
            .filter(|p| p.you)
            .map(|p| p.role)
            .collect();
        assert_eq!(you, vec![me]);
        let mids: BTreeSet<&str> = r
            .participants
            .iter()
            .flat_map(|p| [p.audio_mid.as_deref(), p.video_mid.as_deref()])
            .flatten()
            .collect();
        assert_eq!(mids.len(), 4, "four distinct m-lines for two others: {r:?}");
        assert!(
            !format!("{r:?}").contains("31101"),
            "no licence number in {r:?}"
        );
    }
    // Media flows all ways: each receives both others' audio and video (sender tags).
    let tags = [
        ("lawyer", lawyer.peer.tag()),
        ("booth", booth.peer.tag()),
        ("interpreter", interp.peer.tag()),
    ];
    for side in [&lawyer, &booth, &interp] {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let from: BTreeSet<u8> = side
                    .peer
                    .received(kind)
                    .iter()
                    .filter_map(|r| r.marker.map(|m| m.sender_tag))
                    .collect();
                let want: BTreeSet<u8> = tags
                    .iter()
                    .filter(|(_, t)| *t != side.peer.tag())
                    .map(|(_, t)| *t)
                    .collect();
                if from == want {
                    println!(
                        "{}: {kind:?} from both others ({} packets)",
                        side.peer.label(),
                        side.peer.received_count(kind)
                    );
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{}: {kind:?} from {from:?}, wanted {want:?}",
                    side.peer.label()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    // The lawyer leaves: the interpreter is removed and told why; the booth stays.
    lawyer.sig.leave().await.unwrap();
    let (reason, message) = side::visit_ended(&mut interp.sig).await;
    assert_eq!(reason, EndReason::ParticipantLeft);
    assert!(
        message.contains("律师已离开") && message.contains("lawyer left"),
        "{message}"
    );
    let r = roster_with(&mut booth.sig, &[Role::Booth]).await;
    assert_eq!(roles(&r), vec![(Role::Booth, PresenceState::Present)]);
    booth
        .sig
        .ping()
        .await
        .expect("the booth is still in the visit");

    let kinds = audit_kinds(&app, visit).await;
    for (kind, reason) in [
        ("companion_invited", ""),
        ("admission_refused", "lawyer_not_present"),
        ("admission_granted", ""),
        ("companion_removed", "lawyer_left"),
    ] {
        assert!(
            kinds
                .iter()
                .any(|(k, r)| k == kind && (reason.is_empty() || r == reason)),
            "{kind} {reason} in {kinds:?}"
        );
    }
    app.running.shutdown().await;
}

/// R-VERIFY-4: the lawyer withdraws an interpreter's invitation during the visit: only the
/// visit's lawyer can; it is audited before anything changes; the interpreter is removed at
/// once and told why (Chinese and English), the lawyer's and the booth's rosters lose it,
/// and without the invitation the interpreter cannot come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lawyer_withdraws_an_invitation_and_the_companion_is_removed_at_once() {
    let app = app::spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let case = app.demo_case().await.0;
    let (interpreter, interpreter_session) = companion(&app, "interp-w", "interpreter", None).await;
    assert_eq!(approve(&app, case, interpreter).await.0, 201);
    assert_eq!(invite(&app, &session, visit, interpreter).await.0, 201);
    let withdraw = format!("/api/lawyer/visits/{visit}/companions/{interpreter}");

    let booth_token = app.demo_booth_token(visit).await;
    let mut booth = join3(&app, &app.demo_booth(), &booth_token, "booth").await;
    let lawyer_token = app.demo_lawyer_token(visit).await;
    let mut lawyer = join3(&app, &Identity::None, &lawyer_token, "lawyer").await;
    let interpreter_token = token(app.lawyer_join_token(&interpreter_session, visit).await);
    let mut interp = join3(&app, &Identity::None, &interpreter_token, "interpreter").await;
    let everyone = [Role::Booth, Role::Lawyer, Role::Interpreter];
    for side in [&mut lawyer, &mut booth, &mut interp] {
        roster_with(&mut side.sig, &everyone).await;
    }

    // Only the visit's lawyer withdraws: the interpreter itself cannot.
    let (status, body) = app
        .lawyer_api(&interpreter_session, Method::DELETE, &withdraw, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_the_visits_lawyer")),
        "{body}"
    );
    interp.sig.ping().await.expect("still in the visit");

    let (status, body) = app
        .lawyer_api(&session, Method::DELETE, &withdraw, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed_from_visit"], true, "{body}");
    let (reason, message) = side::visit_ended(&mut interp.sig).await;
    assert_eq!(reason, EndReason::ParticipantLeft);
    assert!(
        message.contains("撤回") && message.contains("withdrew your invitation"),
        "{message}"
    );
    for side in [&mut lawyer, &mut booth] {
        let r = roster_with(&mut side.sig, &[Role::Booth, Role::Lawyer]).await;
        assert!(r
            .participants
            .iter()
            .all(|p| p.state == PresenceState::Present));
    }
    lawyer.sig.ping().await.expect("the lawyer stays");
    booth.sig.ping().await.expect("the booth stays");

    // Gone for good: no new join, and a second withdrawal finds nothing.
    let (status, body) = app.lawyer_join_token(&interpreter_session, visit).await;
    assert_ne!(status, 200, "{body}");
    let (status, body) = app
        .lawyer_api(&session, Method::DELETE, &withdraw, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_invited")),
        "{body}"
    );
    assert!(
        body["message_zh"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );

    let kinds = audit_kinds(&app, visit).await;
    let withdrawn = kinds
        .iter()
        .position(|(k, _)| k == "companion_withdrawn")
        .unwrap_or_else(|| panic!("companion_withdrawn in {kinds:?}"));
    let removed = kinds
        .iter()
        .position(|(k, r)| k == "companion_removed" && r == "invitation_withdrawn")
        .unwrap_or_else(|| panic!("companion_removed invitation_withdrawn in {kinds:?}"));
    assert!(withdrawn < removed, "audited before the removal: {kinds:?}");
    app.running.shutdown().await;
}

/// A participant whose peer offers one receive-only pair per further participant (as the
/// pages do), joined and negotiated.
async fn join3(app: &TestApp, identity: &Identity, token: &str, label: &str) -> side::Side {
    let mut sig = app.signaling(identity).await;
    sig.hello().await.expect("hello");
    sig.join(token)
        .await
        .unwrap_or_else(|e| panic!("{label} join: {e}"));
    let peer = TestPeer::new(label).await;
    peer.add_receive_only_pairs(2)
        .await
        .expect("receive-only m-lines");
    let offer = peer.create_offer().await;
    let answer = sig
        .offer(&offer)
        .await
        .unwrap_or_else(|e| panic!("{label} offer: {e}"));
    peer.set_answer(&answer).await;
    side::Side { sig, peer }
}
