//! Facility reports through the real server (R-REPORT-1; rooms per 100
//! detainees R-BOOK-5): requests, a live visit, a refusal, a manual verification, a stop
//! for a violation and a complaint are made through the real APIs; the report counts them,
//! the CSV says the same, only auditors and operators may read it, and it carries codes and
//! counts, never names, licence numbers or addresses.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app, Identity, TestApp};
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

const FACILITY: &str = "demo-facility";

/// The demo facility open around the clock, with a second lawyer room, a fast room, two
/// more detainees and a detainee count of 50.
async fn facility(app: &TestApp) {
    app.facility_open_around_the_clock().await;
    let (s, b) = app
        .admin(
            Method::PUT,
            &format!("/admin/api/facilities/{FACILITY}/settings"),
            Some(
                json!({ "utc_offset_min": 0, "detainee_count": 50, "lawyer_slot_min": 60,
                "fast_slot_min": 30, "interrogation_slot_min": 60 }),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

async fn lawyer(
    app: &TestApp,
    session: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.lawyer_api(session, method, path, body).await
}

fn period() -> String {
    let today = Utc::now().date_naive();
    format!(
        "facility={FACILITY}&from={}&to={}",
        today - Duration::days(1),
        today + Duration::days(1)
    )
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_what_happened_and_the_csv_says_the_same() {
    // R-REPORT-1: visits, waiting times, 48-hour compliance, refusals by reason,
    // manual verifications, violations, complaints with answer times, booth use,
    // rooms per 100 detainees (R-BOOK-5) beside the norm.
    let app = spawn_app().await;
    facility(&app).await;
    let me = app.demo_lawyer_session().await;

    // Two requests: a walk-in served now, a booking three hours ahead.
    let (s, walk_in) = lawyer(
        &app,
        &me,
        Method::POST,
        "/api/lawyer/requests",
        Some(json!({ "facility": FACILITY, "detainee_ref": "D-100", "expected_minutes": 20 })),
    )
    .await;
    assert_eq!(s, 201, "{walk_in}");
    assert_eq!(walk_in["status"], "placed", "{walk_in}");
    let at = (Utc::now() + Duration::hours(3)).with_timezone(&Utc);
    let (s, booked) = lawyer(
        &app,
        &me,
        Method::POST,
        "/api/lawyer/requests",
        Some(
            json!({ "facility": FACILITY, "detainee_ref": "D-200", "expected_minutes": 60,
            "booked_at": at.to_rfc3339() }),
        ),
    )
    .await;
    assert_eq!(s, 201, "{booked}");
    assert_eq!(booked["status"], "placed", "{booked}");

    // A refusal: a lawyer who is not on the demo visit asks for its join token.
    let demo_visit = app.demo_visit_id(&me).await;
    let (_, other) = app.new_lawyer("other-lawyer").await;
    let (status, refused) = app.lawyer_join_token(&other, demo_visit).await;
    assert_eq!(status, 403, "{refused}");
    let refusal_code = refused["code"].as_str().expect("a refusal code").to_owned();

    // A manual verification, then the demo visit goes live and is stopped for a violation.
    let (s, b) = app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{demo_visit}/manual-verification"),
            Some(json!({"evidence_ref": "certificate seen at the gate", "note": "registry down"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let token = app.demo_lawyer_token(demo_visit).await;
    let mut sig = app.joined(&Identity::None, &token).await;
    sig.ping().await.expect("joined");
    let (s, b) = app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{demo_visit}/stop"),
            Some(json!({"category": "prohibited_items", "reason": "A package was passed over."})),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    // A complaint about the visit, answered with progress and then an outcome.
    let (s, b) = lawyer(
        &app,
        &me,
        Method::POST,
        "/api/lawyer/complaints",
        Some(json!({"visit": demo_visit, "about": "stop", "text": "The stop was unfair."})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let complaint = b["id"].as_i64().unwrap();
    for (kind, text) in [
        ("progress", "We are looking into it."),
        ("outcome", "The stop stands."),
    ] {
        let (s, b) = app
            .admin(
                Method::POST,
                &format!("/admin/api/complaints/{complaint}/updates"),
                Some(json!({"kind": kind, "text": text})),
            )
            .await;
        assert!(s == 200 || s == 201, "{s} {b}");
    }

    // The auditor reads the report.
    let auditor = app.staff_session("report-auditor", "auditor").await;
    let (s, r) = app
        .staff(
            &auditor,
            Method::GET,
            &format!("/admin/api/reports?{}", period()),
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["facility"], FACILITY);
    // Visits: the demo visit and the two placed ones are booked; the demo visit was held
    // and stopped.
    assert!(num(&r["visits"]["booked"]) >= 3.0, "{r}");
    assert_eq!(r["visits"]["held"], 1, "{r}");
    assert_eq!(r["visits"]["stopped"], 1, "{r}");
    // Waiting: 0 and 180 minutes -> median 90, p90 180 (nearest rank).
    assert_eq!(r["waiting"]["requests"], 2);
    assert_eq!(r["waiting"]["placed"], 2);
    let median = num(&r["waiting"]["median_min"]);
    let p90 = num(&r["waiting"]["p90_min"]);
    assert!((88.0..=92.0).contains(&median), "median {median}");
    assert!((178.0..=182.0).contains(&p90), "p90 {p90}");
    // 48 hours: both served in time, no breach.
    assert_eq!(r["deadline"]["eligible"], 2);
    assert_eq!(r["deadline"]["within_48h"], 2);
    assert_eq!(num(&r["deadline"]["share_within_48h"]), 1.0);
    assert_eq!(r["deadline"]["breaches"], 0);
    // Refusals by the code the lawyer was shown.
    assert_eq!(r["refusals"]["total"], 1, "{r}");
    assert_eq!(r["refusals"]["by_code"][&refusal_code], 1, "{r}");
    assert_eq!(r["manual_verifications"], 1);
    assert_eq!(r["violations"]["total"], 1);
    assert_eq!(r["violations"]["by_code"]["prohibited_items"], 1);
    // Complaints: filed, answered, with an outcome; times are well under an hour.
    let c = &r["complaints"];
    assert_eq!(
        (c["filed"].as_u64(), c["answered"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(c["with_outcome"], 1);
    assert_eq!(c["open"], 0);
    assert_eq!(c["by_about"]["stop"], 1);
    assert!(num(&c["first_answer_hours_median"]) < 0.1);
    assert!(num(&c["outcome_hours_p90"]) < 0.1);
    // Utilisation: 3 booths open around the clock for 3 days; some minutes booked.
    let u = &r["utilisation"];
    assert_eq!(num(&u["open_min"]), 3.0 * 3.0 * 1440.0, "{u}");
    assert!(num(&u["booked_min"]) >= 80.0, "{u}");
    assert!(num(&u["held_min"]) > 0.0, "{u}");
    let share = num(&u["booked_share"]);
    assert!((num(&u["booked_min"]) / num(&u["open_min"]) - share).abs() < 1e-9);
    assert_eq!(u["booths"].as_array().unwrap().len(), 3);
    // Rooms: demo booth and room-2 are lawyer rooms; 2 per 50 detainees = 4 per 100.
    assert_eq!(r["rooms"]["lawyer_rooms"], 2);
    assert_eq!(num(&r["rooms"]["per_100_detainees"]), 4.0);
    assert_eq!(num(&r["rooms"]["norm_per_100"]), 4.0);
    // Codes and counts only: no names, usernames, licence numbers, addresses, free text.
    let text = r.to_string();
    for secret in [
        "Secret Person",
        "Other Person",
        "D-100",
        "other-lawyer",
        app.lawyer_username.as_str(),
        "package",
        "unfair",
        "127.0.0.1",
        "certificate seen",
    ] {
        assert!(!text.contains(secret), "{secret} in the report: {text}");
    }

    // The CSV: an attachment, one long table metric,key,value with the same figures.
    let resp = app
        .admin_client()
        .get(app.admin_url(&format!("/admin/api/reports.csv?{}", period())))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/csv; charset=utf-8");
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains(".csv"), "{disposition}");
    let body = resp.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(rd.headers().unwrap(), vec!["metric", "key", "value"]);
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.expect("a CSV row")).collect();
    let get = |m: &str, k: &str| -> String {
        rows.iter()
            .find(|r| &r[0] == m && &r[1] == k)
            .map(|r| r[2].to_owned())
            .unwrap_or_else(|| panic!("{m},{k} in the CSV:\n{body}"))
    };
    assert_eq!(get("visits.held", ""), "1");
    assert_eq!(get("refusals.by_reason", &refusal_code), "1");
    assert_eq!(get("violations.by_category", "prohibited_items"), "1");
    assert_eq!(get("deadline.share_within_48h", ""), "1");
    assert_eq!(get("rooms.per_100_detainees", ""), "4");
    assert_eq!(get("rooms.norm_per_100", ""), "4");
    assert_eq!(get("complaints.with_outcome", ""), "1");
    let csv_median: f64 = get("waiting.median_min", "").parse().unwrap();
    assert!((csv_median - median).abs() < 0.001);
    for secret in ["Secret Person", "D-100", "package", "other-lawyer"] {
        assert!(!body.contains(secret), "{secret} in the CSV");
    }
    drop(sig);
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_auditors_and_operators_read_reports_and_bad_periods_are_explained() {
    // R-REPORT-1 with the MLPS role split: the auditor and the operator read reports; the
    // system administrator and the investigating unit do not.
    let app = spawn_app().await;
    let q = period();
    for path in ["/admin/api/reports", "/admin/api/reports.csv"] {
        let url = format!("{path}?{q}");
        let (s, _) = app.admin(Method::GET, &url, None).await;
        assert_eq!(s, 200, "operator {url}");
        for role in ["sysadmin", "investigator"] {
            let token = app
                .staff_session(&format!("{role}-{}", path.len()), role)
                .await;
            let (s, b) = app.staff(&token, Method::GET, &url, None).await;
            assert_eq!(s, 403, "{role} {url}: {b}");
            assert_eq!(b["code"], "role_forbidden");
        }
        let (s, _) = app
            .staff(
                "no-such-session-token-xxxxxxxxxxxxxxxxxx",
                Method::GET,
                &url,
                None,
            )
            .await;
        assert_eq!(s, 401);
    }
    for (query, status, code) in [
        ("from=2026-01-01&to=2026-01-31", 400, "missing_facility"),
        (
            "facility=demo-facility&from=2026-02-01&to=2026-01-01",
            400,
            "invalid_period",
        ),
        (
            "facility=demo-facility&from=2026-01-01&to=2027-06-01",
            400,
            "invalid_period",
        ),
        (
            "facility=demo-facility&from=yesterday&to=2026-01-01",
            400,
            "invalid_period",
        ),
        (
            "facility=demo-facility&from=2026-01-01&to=2026-01-02&x=1",
            400,
            "malformed_request",
        ),
        (
            "facility=nowhere&from=2026-01-01&to=2026-01-02",
            404,
            "not_found",
        ),
    ] {
        let (s, b) = app
            .admin(Method::GET, &format!("/admin/api/reports?{query}"), None)
            .await;
        assert_eq!(s, status, "{query}: {b}");
        assert_eq!(b["code"], code, "{query}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // An empty period: zeros and no medians, not errors.
    let (s, r) = app
        .admin(
            Method::GET,
            "/admin/api/reports?facility=demo-facility&from=2020-01-01&to=2020-01-31",
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["waiting"]["requests"], 0);
    assert!(r["waiting"]["median_min"].is_null());
    assert!(r["deadline"]["share_within_48h"].is_null());
    app.running.shutdown().await;
}
