//! R-PRIV-2: a visit placed in a borrowed interrogation room admits nobody, the booth
//! included, until the lawyer consented to the room and its recording and monitoring
//! equipment was attested off for that visit, at the booth or by an operator. Audit first.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app, Identity, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// A visit of the demo lawyer at the demo booth, open now, with or without consent.
async fn visit_in_booth(app: &TestApp, consent: bool) -> i64 {
    let lawyer_id = app.demo_lawyer_id().await;
    let now = chrono::Utc::now();
    let case = app.demo_case().await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/api/visits",
            Some(json!({
                "lawyer_id": lawyer_id,
                "booth_id": confer::app::DEMO_BOOTH,
                "starts_at": (now - chrono::Duration::seconds(5)).to_rfc3339(),
                "ends_at": (now + chrono::Duration::minutes(30)).to_rfc3339(),
                "case_id": case.0,
                "interrogation_room_consent": consent,
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

async fn booth_attests(app: &TestApp, visit: i64, body: Value) -> (u16, Value) {
    let resp = app
        .client(&app.demo_booth())
        .post(app.url(&format!("/api/booth/visits/{visit}/room-attestation")))
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

fn both_off(officer: &str) -> Value {
    json!({ "officer": officer, "recording_off": true, "monitoring_off": true })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrowed_room_admits_nobody_until_its_equipment_is_attested_off() {
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;

    // An ordinary lawyer room asks for nothing: an attestation there is refused as pointless.
    let ordinary = visit_in_booth(&app, false).await;
    let (status, body) = booth_attests(&app, ordinary, both_off("A-1001")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_a_borrowed_room"))
    );
    assert_eq!(app.lawyer_join_token(&session, ordinary).await.0, 200);

    // The facility lends an interrogation room as this booth (R-BOOK-5).
    let (status, body) = app
        .admin(
            Method::PUT,
            &format!("/admin/api/booths/{}/kind", confer::app::DEMO_BOOTH),
            Some(json!({ "kind": "interrogation_room" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Without the lawyer's consent nobody gets in, attested or not.
    let no_consent = visit_in_booth(&app, false).await;
    let (status, body) = app.lawyer_join_token(&session, no_consent).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("room_consent_missing")),
        "{body}"
    );
    assert!(body["message_zh"].as_str().is_some_and(|m| !m.is_empty()));

    // With consent, still nobody until the equipment is attested off: not the lawyer,
    // not the booth (so no media can flow in either direction).
    let visit = visit_in_booth(&app, true).await;
    let (status, body) = app.lawyer_join_token(&session, visit).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("room_not_attested")),
        "{body}"
    );
    let (status, body) = app.booth_join_token(&app.demo_booth(), visit).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("room_not_attested")),
        "{body}"
    );

    // Half an attestation, a blank officer, or an unknown field is refused; nothing recorded.
    let (status, body) = booth_attests(
        &app,
        visit,
        json!({ "officer": "A-1001", "recording_off": true, "monitoring_off": false }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("attestation_incomplete"))
    );
    let (status, body) = booth_attests(
        &app,
        visit,
        json!({ "officer": " ", "recording_off": true, "monitoring_off": true }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_officer"))
    );
    let (status, _) = booth_attests(
        &app,
        visit,
        json!({ "officer": "A-1001", "recording_off": true, "monitoring_off": true, "camera": "on" }),
    )
    .await;
    assert_eq!(status, 400);
    // Without the booth's certificate nobody can attest at the booth.
    let resp = app
        .client(&Identity::None)
        .post(app.url(&format!("/api/booth/visits/{visit}/room-attestation")))
        .json(&both_off("A-1001"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(app.lawyer_join_token(&session, visit).await.0, 409);

    // The booth page shows the officer what to attest.
    let (_, booth_view) = {
        let resp = app
            .client(&app.demo_booth())
            .get(app.url("/api/booth/visit"))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(
        booth_view["room"]["kind"], "borrowed_interrogation_room",
        "{booth_view}"
    );
    let before = booth_view["queue"]["waiting"].as_i64().unwrap();
    // R-BOOK-4: the booth page shows its queue: a visit booked later at this booth counts.
    app.create_visit(chrono::Duration::hours(1), chrono::Duration::minutes(30))
        .await;
    let resp = app
        .client(&app.demo_booth())
        .get(app.url("/api/booth/visit"))
        .send()
        .await
        .unwrap();
    let booth_view: Value = resp.json().await.unwrap();
    assert_eq!(
        booth_view["queue"]["waiting"].as_i64(),
        Some(before + 1),
        "{booth_view}"
    );

    // The officer at the booth attests: audited, then both sides are admitted and join.
    let (status, body) = booth_attests(&app, visit, both_off("A-1001")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["via"], "booth");
    let (again, _) = booth_attests(&app, visit, both_off("B-2002")).await;
    assert_eq!(
        again, 200,
        "a repeat answers with the attestation already recorded"
    );
    let (_, audit) = app.audit_read(&format!("?visit={visit}")).await;
    let attested: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["record"]["kind"] == "room_attested")
        .collect();
    assert_eq!(attested.len(), 1, "{audit}");
    assert_eq!(attested[0]["record"]["officer"], "A-1001");

    let lawyer_token = app.demo_lawyer_token(visit).await;
    let booth_token = app.demo_booth_token(visit).await;
    let _lawyer = app.joined(&Identity::None, &lawyer_token).await;
    let _booth = app.joined(&app.demo_booth(), &booth_token).await;

    // An operator may attest for the officer (R-PRIV-2); an auditor changes nothing.
    let other = visit_in_booth(&app, true).await;
    let auditor = app.staff_session("room-auditor", "auditor").await;
    let (status, _) = app
        .staff(
            &auditor,
            Method::POST,
            &format!("/admin/api/visits/{other}/room-attestation"),
            Some(both_off("C-3003")),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(app.lawyer_join_token(&session, other).await.0, 409);
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{other}/room-attestation"),
            Some(both_off("C-3003")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["via"], "staff");
    assert_eq!(app.lawyer_join_token(&session, other).await.0, 200);
    app.running.shutdown().await;
}

/// R-REMOTE-1: a remote booth at a police station registered as the lawyer's side of a
/// visit. The lawyer signs in on that terminal (which presents the booth's certificate)
/// and is admitted there only; from an ordinary browser the same lawyer is refused. When
/// the terminal's certificate is revoked, the visit it carries ends (R-VERIFY-4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_booth_visit_admits_the_lawyer_only_at_that_terminal() {
    let app = spawn_app().await;
    let store = &app.running.state.store;
    let facility = confer::ids::FacilityId(confer::app::DEMO_FACILITY.into());
    let station = confer::ids::BoothId("station-7".into());
    store
        .upsert_booth(&station, &facility, "Police station 7")
        .await
        .unwrap();
    let issued = confer_certs::issue_booth(
        app.data_dir.path(),
        confer::app::DEMO_FACILITY,
        "station-7",
        confer_certs::Validity::days_from_now(30),
    )
    .unwrap();
    let terminal = Identity::Booth {
        cert: issued.files.cert.clone(),
        key: issued.files.key.clone(),
    };
    // Staff may name only a registered remote booth as the lawyer's side.
    let lawyer_id = app.demo_lawyer_id().await;
    let now = chrono::Utc::now();
    let visit_body = json!({
        "lawyer_id": lawyer_id,
        "booth_id": confer::app::DEMO_BOOTH,
        "starts_at": (now - chrono::Duration::seconds(5)).to_rfc3339(),
        "ends_at": (now + chrono::Duration::minutes(30)).to_rfc3339(),
        "case_id": app.demo_case().await.0,
        "lawyer_booth_id": "station-7",
    });
    let (status, body) = app
        .admin(Method::POST, "/admin/api/visits", Some(visit_body.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("not_a_remote_booth")),
        "{body}"
    );
    let (status, body) = app
        .admin(
            Method::PUT,
            "/admin/api/booths/station-7/kind",
            Some(json!({ "kind": "lawyer_room", "remote_station": "Police station 7" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .admin(Method::POST, "/admin/api/visits", Some(visit_body))
        .await;
    assert_eq!(status, 201, "{body}");
    let visit = body["id"].as_i64().unwrap();

    // From an ordinary browser: refused, with what to do.
    let session = app.demo_lawyer_session().await;
    let (status, body) = app.lawyer_join_token(&session, visit).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("join_from_remote_booth")),
        "{body}"
    );
    // On the station's terminal (its certificate), with the lawyer's own session: admitted.
    let resp = app
        .client(&terminal)
        .post(app.url(&format!("/api/lawyer/visits/{visit}/join-token")))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A pass taken at the terminal does not work from elsewhere: the join checks again.
    let mut elsewhere = app.signaling(&Identity::None).await;
    elsewhere.hello().await.unwrap();
    assert!(elsewhere.join(&token).await.is_err());
    let resp = app
        .client(&terminal)
        .post(app.url(&format!("/api/lawyer/visits/{visit}/join-token")))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut lawyer = app.joined(&terminal, &token).await;
    // The detainee's booth joins as usual.
    let booth_token = app.demo_booth_token(visit).await;
    let mut booth = app.joined(&app.demo_booth(), &booth_token).await;

    // R-VERIFY-4: the station terminal's certificate is revoked while the visit runs: the
    // visit it carries ends for both sides (the admin route sweeps at once), audited.
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/api/booths/station-7/revoke",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["visits_ended"], 1, "{body}");
    for sig in [&mut lawyer, &mut booth] {
        loop {
            match sig
                .next_notice_timeout(std::time::Duration::from_secs(60))
                .await
                .expect("a notice")
            {
                confer_signaling::VisitNotice::VisitEnded { reason, .. } => {
                    assert_eq!(reason, confer_signaling::EndReason::CertificateRevoked);
                    break;
                }
                _ => continue,
            }
        }
    }
    let (_, audit) = app.audit_read(&format!("?visit={visit}")).await;
    assert!(
        audit.to_string().contains("certificate_revoked"),
        "the end is audited: {audit}"
    );
    app.running.shutdown().await;
}
