//! The scheduler through the real server: lawyers request visits, staff enter
//! phone bookings, set hours and approve sessions, the queue display shows tickets and
//! no names, requests are never refused (R-ARRANGE-1, R-ARRANGE-2, R-ARRANGE-4,
//! R-ARRANGE-5, R-BOOK-1..5).

#[path = "support/app.rs"]
mod app;

use app::{spawn_app, spawn_app_on, Backend, Identity, TestApp};
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

const FACILITY: &str = "demo-facility";

async fn lawyer(
    app: &TestApp,
    session: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client(&Identity::None)
        .request(method, app.url(path))
        .bearer_auth(session);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().expect("a time").parse().expect("RFC 3339")
}

async fn second_lawyer(app: &TestApp) -> (i64, String) {
    app.new_lawyer("second-lawyer").await
}

#[tokio::test]
async fn a_walk_in_gets_a_ticket_and_a_fast_booth_and_the_queue_display_shows_no_names() {
    a_walk_in_gets_a_ticket_and_a_fast_booth_and_the_queue_display_shows_no_names_on(
        Backend::Sqlite,
    )
    .await
}

#[tokio::test]
async fn a_walk_in_gets_a_ticket_and_a_fast_booth_and_the_queue_display_shows_no_names_on_postgres()
{
    a_walk_in_gets_a_ticket_and_a_fast_booth_and_the_queue_display_shows_no_names_on(
        Backend::Postgres,
    )
    .await
}

async fn a_walk_in_gets_a_ticket_and_a_fast_booth_and_the_queue_display_shows_no_names_on(
    backend: Backend,
) {
    // R-BOOK-2 (never refused), R-BOOK-3 (fast lane), R-BOOK-4 (queue display), R-PRIV-4.
    let Some(app) = spawn_app_on(backend, |_| {}).await else {
        return;
    };
    app.facility_open_around_the_clock().await;
    let me = app.demo_lawyer_session().await;
    let (s, b) = lawyer(
        &app,
        &me,
        Method::POST,
        "/api/lawyer/requests",
        Some(json!({ "facility": FACILITY, "detainee_ref": "D-100", "expected_minutes": 20 })),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["status"], "placed");
    assert_eq!(b["kind"], "walk_in");
    assert_eq!(b["ticket"], 1);
    assert_eq!(b["slot"]["booth"], "fast-1");
    let deadline = time(&b["deadline"]) - time(&b["requested_at"]);
    assert_eq!(deadline, Duration::hours(48), "R-ARRANGE-1");
    assert!(time(&b["slot"]["starts_at"]) <= Utc::now() + Duration::seconds(2));
    // The visit exists for the lawyer to join.
    let visit = b["visit_id"].as_i64().unwrap();
    let (_, visits) = lawyer(&app, &me, Method::GET, "/api/lawyer/visits", None).await;
    assert!(visits["visits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["id"] == visit));

    let q: Value = app
        .client(&Identity::None)
        .get(app.url(&format!("/api/queue/{FACILITY}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(q["serving"], json!([1]), "{q}");
    let page = app
        .client(&Identity::None)
        .get(app.url(&format!("/queue/{FACILITY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Now serving"), "{html}");
    for text in [q.to_string(), html] {
        assert!(!text.contains("Secret"), "no detainee name: {text}");
        assert!(
            !text.contains("D-100"),
            "no detainee reference either: {text}"
        );
    }
    app.running.shutdown().await;
}

#[tokio::test]
async fn the_second_lawyer_for_a_busy_detainee_gets_the_next_free_time_and_booked_lawyers_book_back_to_back(
) {
    the_second_lawyer_for_a_busy_detainee_gets_the_next_free_time_and_booked_lawyers_book_back_to_back_on(Backend::Sqlite).await
}

#[tokio::test]
async fn the_second_lawyer_for_a_busy_detainee_gets_the_next_free_time_and_booked_lawyers_book_back_to_back_on_postgres(
) {
    the_second_lawyer_for_a_busy_detainee_gets_the_next_free_time_and_booked_lawyers_book_back_to_back_on(Backend::Postgres).await
}

async fn the_second_lawyer_for_a_busy_detainee_gets_the_next_free_time_and_booked_lawyers_book_back_to_back_on(
    backend: Backend,
) {
    // R-ARRANGE-1: no detainee double-booked, no refusal; R-ARRANGE-4: no quota;
    // R-BOOK-1: a phone booking entered by staff for a lawyer.
    let Some(app) = spawn_app_on(backend, |_| {}).await else {
        return;
    };
    app.facility_open_around_the_clock().await;
    let me = app.demo_lawyer_session().await;
    let (second_id, second) = second_lawyer(&app).await;
    let start = Utc::now() + Duration::hours(3);
    let mut ends = Vec::new();
    for i in 0..3 {
        let at = start + Duration::hours(i);
        let (s, b) = lawyer(
            &app,
            &me,
            Method::POST,
            "/api/lawyer/requests",
            Some(json!({ "facility": FACILITY, "detainee_ref": "D-100", "expected_minutes": 60, "booked_at": at.to_rfc3339() })),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        assert_eq!(
            time(&b["slot"]["starts_at"]).timestamp(),
            at.timestamp(),
            "back-to-back visit {i}: {b}"
        );
        assert!(b["wait"].is_null(), "{b}");
        ends.push(time(&b["slot"]["ends_at"]));
    }
    // The second lawyer (who also represents D-100) asks for the same client at the same
    // time, by phone through staff.
    app.represent("second-lawyer", "D-100").await;
    let (s, b) = app
        .admin(
            Method::POST,
            "/admin/api/requests",
            Some(
                json!({ "lawyer_id": second_id, "channel": "phone", "facility": FACILITY,
                "detainee_ref": "D-100", "expected_minutes": 60, "booked_at": start.to_rfc3339() }),
            ),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["status"], "placed");
    assert_eq!(b["channel"], "phone");
    assert_eq!(b["entered_by_staff"], true);
    assert_eq!(
        time(&b["slot"]["starts_at"]).timestamp(),
        ends[2].timestamp()
    );
    assert_eq!(b["wait"]["code"], "detainee_busy");
    assert!(b["wait"]["message"]
        .as_str()
        .unwrap()
        .contains("next free time"));
    let (_, mine) = lawyer(&app, &second, Method::GET, "/api/lawyer/requests", None).await;
    assert_eq!(mine["requests"].as_array().unwrap().len(), 1);
    assert_eq!(mine["requests"][0]["queue_position"], 4, "{mine}");
    app.running.shutdown().await;
}

#[tokio::test]
async fn with_no_opening_hours_a_request_is_queued_and_escalated_never_refused_then_an_approved_session_places_it(
) {
    // R-ARRANGE-1, R-ARRANGE-2, R-BOOK-4.
    let app = spawn_app().await;
    app.facility_open_around_the_clock().await;
    let (s, _) = app
        .admin(
            Method::PUT,
            &format!("/admin/api/facilities/{FACILITY}/hours"),
            Some(json!({ "hours": [] })),
        )
        .await;
    assert_eq!(s, 200);
    let me = app.demo_lawyer_session().await;
    let (s, b) = lawyer(
        &app,
        &me,
        Method::POST,
        "/api/lawyer/requests",
        Some(json!({ "facility": FACILITY, "detainee_ref": "D-200" })),
    )
    .await;
    assert_eq!(s, 201, "a request is never refused: {b}");
    assert_eq!(b["status"], "queued");
    assert_eq!(b["escalation"], "raised");
    assert_eq!(b["wait"]["code"], "no_slot_before_deadline");
    assert_eq!(b["queue_position"], 1);
    let id = b["id"].as_i64().unwrap();

    // The driver raises the level as the deadline nears, and counts a breach.
    let state = &app.running.state;
    state
        .scheduler
        .escalation_tick(Utc::now() + Duration::hours(37))
        .await
        .unwrap();
    let (_, q) = app
        .admin(
            Method::GET,
            &format!("/admin/api/facilities/{FACILITY}/queue"),
            None,
        )
        .await;
    assert_eq!(q["requests"][0]["escalation"], "twelve_hours", "{q}");
    state
        .scheduler
        .escalation_tick(Utc::now() + Duration::hours(47))
        .await
        .unwrap();
    let (_, q) = app
        .admin(
            Method::GET,
            &format!("/admin/api/facilities/{FACILITY}/queue"),
            None,
        )
        .await;
    assert_eq!(q["requests"][0]["escalation"], "two_hours", "{q}");
    assert_eq!(q["escalated"], 1);

    // An evening session is proposed: unused until the facility head approves it.
    let s0 = Utc::now() + Duration::minutes(10);
    let (s, sess) = app
        .admin(
            Method::POST,
            &format!("/admin/api/facilities/{FACILITY}/sessions"),
            Some(json!({ "starts_at": s0.to_rfc3339(), "ends_at": (s0 + Duration::hours(3)).to_rfc3339() })),
        )
        .await;
    assert_eq!(s, 201, "{sess}");
    let (s, b) = app
        .admin(
            Method::POST,
            &format!(
                "/admin/api/facilities/{FACILITY}/sessions/{}/approve",
                sess["id"]
            ),
            Some(json!({ "approver": "Head of facility" })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, mine) = lawyer(&app, &me, Method::GET, "/api/lawyer/requests", None).await;
    let r = &mine["requests"][0];
    assert_eq!(r["id"], id);
    assert_eq!(r["status"], "placed", "{r}");
    assert_eq!(time(&r["slot"]["starts_at"]).timestamp(), s0.timestamp());
    let (_, sched) = app
        .admin(
            Method::GET,
            &format!("/admin/api/facilities/{FACILITY}/schedule"),
            None,
        )
        .await;
    assert_eq!(
        sched["extended_sessions"][0]["approver"],
        "Head of facility"
    );
    assert_eq!(sched["rooms_per_100_norm"], 4.0);
    app.running.shutdown().await;
}

#[tokio::test]
async fn a_lawyer_cancels_and_a_detainee_declines_in_writing_and_the_lawyer_receives_it() {
    // R-ARRANGE-5.
    let app = spawn_app().await;
    app.facility_open_around_the_clock().await;
    let me = app.demo_lawyer_session().await;
    let ask = json!({ "facility": FACILITY, "detainee_ref": "D-100", "expected_minutes": 45,
        "booked_at": (Utc::now() + Duration::hours(5)).to_rfc3339() });
    let (_, a) = lawyer(
        &app,
        &me,
        Method::POST,
        "/api/lawyer/requests",
        Some(ask.clone()),
    )
    .await;
    let (_, b) = lawyer(&app, &me, Method::POST, "/api/lawyer/requests", Some(ask)).await;
    let (s, c) = lawyer(
        &app,
        &me,
        Method::POST,
        &format!("/api/lawyer/requests/{}/cancel", a["id"]),
        None,
    )
    .await;
    assert_eq!((s, c["status"].clone()), (200, json!("cancelled")));
    let (s, _) = lawyer(
        &app,
        &me,
        Method::POST,
        &format!("/api/lawyer/requests/{}/cancel", a["id"]),
        None,
    )
    .await;
    assert_eq!(s, 409);
    // Without the scanned written refusal the decline is not recorded.
    let decline = json!({ "note": "Declined the visit in writing", "written_refusal_ref": "scan-2026-11-27-001" });
    let (s, d) = app
        .admin(
            Method::POST,
            &format!("/admin/api/requests/{}/decline", b["id"]),
            Some(decline.clone()),
        )
        .await;
    assert_eq!(
        (s, d["code"].as_str()),
        (409, Some("written_refusal_not_scanned")),
        "{d}"
    );
    // Staff upload the scan (a PDF); anything else is refused and nothing is kept.
    let scan: &[u8] = b"%PDF-1.4\n% written refusal, signed by the detainee\n%%EOF\n";
    let upload = |bytes: &'static [u8]| {
        app.admin_client()
            .put(app.admin_url(&format!("/admin/api/requests/{}/written-refusal", b["id"])))
            .bearer_auth(&app.admin_token)
            .body(bytes)
            .send()
    };
    let resp = upload(b"not a scan").await.unwrap();
    assert_eq!(resp.status(), 415);
    let resp = upload(b"%PDF-1.4\n% written refusal, signed by the detainee\n%%EOF\n")
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    // Before the decline the lawyer has nothing to fetch.
    let fetch = |session: String| {
        app.client(&app::Identity::None)
            .get(app.url(&format!("/api/lawyer/requests/{}/written-refusal", b["id"])))
            .bearer_auth(session)
            .send()
    };
    assert_eq!(fetch(me.clone()).await.unwrap().status(), 404);
    let (s, d) = app
        .admin(
            Method::POST,
            &format!("/admin/api/requests/{}/decline", b["id"]),
            Some(decline),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    // The lawyer receives the scan, exactly as uploaded; another lawyer does not.
    let resp = fetch(me.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), scan);
    let (_, other) = app.new_lawyer("other-lawyer").await;
    assert_eq!(fetch(other).await.unwrap().status(), 404);
    // It is stored encrypted: the plaintext is nowhere under the data dir.
    for entry in walk(app.data_dir.path()) {
        let content = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !content.windows(20).any(|w| w == &scan[10..30]),
            "{} holds the scan in clear",
            entry.display()
        );
    }
    let (_, mine) = lawyer(&app, &me, Method::GET, "/api/lawyer/requests", None).await;
    let declined = mine["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == b["id"])
        .unwrap();
    assert_eq!(declined["status"], "declined");
    assert_eq!(
        declined["declined"]["written_refusal_ref"],
        "scan-2026-11-27-001"
    );
    // Both visits are over; the booth is free again.
    let (_, visits) = app.admin(Method::GET, "/admin/api/visits", None).await;
    let reasons: Vec<&Value> = visits["visits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["id"] == a["visit_id"] || v["id"] == b["visit_id"])
        .map(|v| &v["end_reason"])
        .collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons.contains(&&json!("cancelled")));
    assert!(reasons.contains(&&json!("declined_by_detainee")));
    app.running.shutdown().await;
}

#[tokio::test]
async fn an_extension_is_granted_when_the_booth_is_free_and_otherwise_the_next_slot_is_offered() {
    let app = spawn_app().await;
    app.facility_open_around_the_clock().await;
    let me = app.demo_lawyer_session().await;
    let (_, second) = second_lawyer(&app).await;
    let (_, v) = lawyer(
        &app,
        &me,
        Method::POST,
        "/api/lawyer/requests",
        Some(json!({ "facility": FACILITY, "detainee_ref": "D-100", "expected_minutes": 20 })),
    )
    .await;
    let visit = v["visit_id"].as_i64().unwrap();
    let end = time(&v["slot"]["ends_at"]);
    let (s, b) = lawyer(
        &app,
        &me,
        Method::POST,
        &format!("/api/lawyer/visits/{visit}/extend"),
        Some(json!({ "minutes": 10 })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["granted"], true);
    assert_eq!(time(&b["ends_at"]), end + Duration::minutes(10));
    // Someone else (who also represents D-100) now books the fast booth right after; the
    // next slot is offered.
    app.represent("second-lawyer", "D-100").await;
    let (_, other) = lawyer(
        &app,
        &second,
        Method::POST,
        "/api/lawyer/requests",
        Some(
            json!({ "facility": FACILITY, "detainee_ref": "D-100", "expected_minutes": 20,
            "booked_at": (end + Duration::minutes(10)).to_rfc3339() }),
        ),
    )
    .await;
    assert_eq!(other["status"], "placed", "{other}");
    let (s, b) = lawyer(
        &app,
        &me,
        Method::POST,
        &format!("/api/lawyer/visits/{visit}/extend"),
        Some(json!({ "minutes": 10 })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["granted"], false);
    assert_eq!(b["code"], "booth_booked_next");
    assert!(b["next_slot"]["starts_at"].is_string(), "{b}");
    app.running.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_a_clear_code_and_the_openapi_document_is_served() {
    let app = spawn_app().await;
    app.facility_open_around_the_clock().await;
    let me = app.demo_lawyer_session().await;
    let cases = [
        (
            json!({ "facility": FACILITY, "detainee_ref": "nobody" }),
            404,
            "unknown_detainee_ref",
        ),
        (
            json!({ "facility": FACILITY, "detainee_ref": "D-100", "booked_at": (Utc::now() + Duration::hours(49)).to_rfc3339() }),
            400,
            "booked_time_beyond_deadline",
        ),
        (
            json!({ "facility": FACILITY, "detainee_ref": "D-100", "expected_minutes": 0 }),
            400,
            "invalid_length",
        ),
        (
            json!({ "facility": FACILITY, "detainee_ref": "D-100", "lawyer_id": 1 }),
            400,
            "staff_only_field",
        ),
        (
            json!({ "facility": FACILITY, "detainee": "D-100" }),
            400,
            "malformed_request",
        ),
        (
            json!({ "facility": "nowhere", "detainee_ref": "D-100" }),
            404,
            "not_found",
        ),
    ];
    for (body, status, code) in cases {
        let (s, b) = lawyer(
            &app,
            &me,
            Method::POST,
            "/api/lawyer/requests",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, b["code"].as_str().unwrap_or("")),
            (status, code),
            "{body} -> {b}"
        );
        assert!(b["message"].as_str().is_some_and(|m| m.len() > 10));
    }
    let (s, _) = lawyer(
        &app,
        "not-a-session",
        Method::GET,
        "/api/lawyer/requests",
        None,
    )
    .await;
    assert_eq!(s, 401);
    let doc: Value = app
        .client(&Identity::None)
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/lawyer/requests", "/api/queue/{facility}"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    // The staff routes are documented by the admin listener, which serves its document
    // without a session (it is public information).
    let resp = app
        .admin_client()
        .get(app.admin_url("/admin/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/admin/api/requests", "/admin/api/facilities/{f}/hours"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    app.running.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_never_double_book_a_booth_or_a_detainee() {
    concurrent_requests_never_double_book_a_booth_or_a_detainee_on(Backend::Sqlite).await
}

#[tokio::test]
async fn concurrent_requests_never_double_book_a_booth_or_a_detainee_on_postgres() {
    concurrent_requests_never_double_book_a_booth_or_a_detainee_on(Backend::Postgres).await
}

async fn concurrent_requests_never_double_book_a_booth_or_a_detainee_on(backend: Backend) {
    // R-BOOK-1: decisions are serialised; walk-ins are never refused (R-BOOK-2).
    let Some(app) = spawn_app_on(backend, |_| {}).await else {
        return;
    };
    app.facility_open_around_the_clock().await;
    let more: Vec<String> = (0..8)
        .map(|i| format!("INSERT INTO detainees (facility_id, internal_ref, name, created_at) VALUES ('demo-facility', 'C-{i}', 'Name {i}', 0)"))
        .collect();
    app.sql(&more.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    for i in 0..8 {
        app.represent(&app.lawyer_username, &format!("C-{i}")).await;
    }
    let me = app.demo_lawyer_session().await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (client, url, me) = (
                app.client(&Identity::None),
                app.url("/api/lawyer/requests"),
                me.clone(),
            );
            tokio::spawn(async move {
                let body = json!({ "facility": FACILITY, "detainee_ref": format!("C-{}", i % 8),
                    "expected_minutes": if i % 2 == 0 { 20 } else { 60 } });
                let resp = client
                    .post(url)
                    .bearer_auth(me)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut placed = Vec::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        assert_eq!(s, 201, "{b}");
        assert_eq!(b["status"], "placed", "{b}");
        placed.push((
            b["slot"]["booth"].as_str().unwrap().to_owned(),
            b["detainee_ref"].as_str().unwrap().to_owned(),
            time(&b["slot"]["starts_at"]),
            time(&b["slot"]["ends_at"]),
        ));
    }
    let mut tickets: Vec<i64> = Vec::new();
    let (_, q) = app
        .admin(
            Method::GET,
            &format!("/admin/api/facilities/{FACILITY}/queue"),
            None,
        )
        .await;
    for r in q["requests"].as_array().unwrap() {
        tickets.push(r["ticket"].as_i64().unwrap());
    }
    tickets.sort_unstable();
    assert_eq!(
        tickets,
        (1..=24).collect::<Vec<i64>>(),
        "one ticket each, none repeated"
    );
    for (i, a) in placed.iter().enumerate() {
        for b in &placed[i + 1..] {
            let overlap = a.2 < b.3 && b.2 < a.3;
            assert!(!(overlap && a.0 == b.0), "booth double-booked: {a:?} {b:?}");
            assert!(
                !(overlap && a.1 == b.1),
                "detainee double-booked: {a:?} {b:?}"
            );
        }
    }
    app.running.shutdown().await;
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_lawyer_books_only_their_own_clients_and_cannot_tell_who_is_held() {
    // R-PRIV-4: a request names a detainee the lawyer represents; an unknown reference and
    // another lawyer's client get the same answer; each lawyer sees only their own requests.
    let app = spawn_app().await;
    app.facility_open_around_the_clock().await;
    let me = app.demo_lawyer_session().await;
    let (other_id, other) = second_lawyer(&app).await;
    let ask = |r: &str| json!({ "facility": FACILITY, "detainee_ref": r, "expected_minutes": 20 });

    let (s_held, held) = lawyer(
        &app,
        &other,
        Method::POST,
        "/api/lawyer/requests",
        Some(ask("D-100")),
    )
    .await;
    let (s_none, none) = lawyer(
        &app,
        &other,
        Method::POST,
        "/api/lawyer/requests",
        Some(ask("D-999")),
    )
    .await;
    assert_eq!(s_held, 404, "{held}");
    assert_eq!(
        (s_held, &held),
        (s_none, &none),
        "the same answer for held and unknown"
    );
    assert_eq!(held["code"], "unknown_detainee_ref");
    assert!(
        held["message_zh"]
            .as_str()
            .is_some_and(|m| m.contains("委托")),
        "{held}"
    );

    // Staff cannot book a stranger's client for that lawyer either.
    let (s, b) = app
        .admin(
            Method::POST,
            "/admin/api/requests",
            Some(
                json!({ "lawyer_id": other_id, "channel": "phone", "facility": FACILITY,
                "detainee_ref": "D-100", "expected_minutes": 20 }),
            ),
        )
        .await;
    assert_eq!(s, 404, "{b}");

    // The detainee's own lawyer is answered, and only they see the request.
    let (s, b) = lawyer(
        &app,
        &me,
        Method::POST,
        "/api/lawyer/requests",
        Some(ask("D-100")),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (_, mine) = lawyer(&app, &me, Method::GET, "/api/lawyer/requests", None).await;
    assert_eq!(mine["requests"].as_array().unwrap().len(), 1, "{mine}");
    let (_, theirs) = lawyer(&app, &other, Method::GET, "/api/lawyer/requests", None).await;
    assert_eq!(theirs["requests"], json!([]), "{theirs}");

    // Once the second lawyer registers the representation, their request is taken.
    app.represent("second-lawyer", "D-100").await;
    let (s, b) = lawyer(
        &app,
        &other,
        Method::POST,
        "/api/lawyer/requests",
        Some(ask("D-100")),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    app.running.shutdown().await;
}
