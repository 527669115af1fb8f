//! A report as one tidy long CSV table, header `metric,key,value` (R-REPORT-1): `metric`
//! names a figure, `key` is empty or the code it is broken down by, `value` a number
//! (empty when not defined). Pure rendering of a [`Report`]; computes no figure.

use super::figures::Report;

/// The report as the rows of the long CSV table `metric,key,value`.
pub fn csv_rows(r: &Report) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut put = |m: &str, k: &str, v: String| out.push((m.to_owned(), k.to_owned(), v));
    let num = |x: f64| {
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_owned()
    };
    let opt = |x: Option<f64>| x.map(num).unwrap_or_default();
    put("facility", &r.facility, String::new());
    put("period.from", &r.from, String::new());
    put("period.to", &r.to, String::new());
    put("visits.booked", "", r.visits.booked.to_string());
    put("visits.held", "", r.visits.held.to_string());
    put("visits.stopped", "", r.visits.stopped.to_string());
    put("waiting.requests", "", r.waiting.requests.to_string());
    put("waiting.placed", "", r.waiting.placed.to_string());
    put("waiting.median_min", "", opt(r.waiting.median_min));
    put("waiting.p90_min", "", opt(r.waiting.p90_min));
    put("deadline.eligible", "", r.deadline.eligible.to_string());
    put("deadline.within_48h", "", r.deadline.within_48h.to_string());
    put(
        "deadline.share_within_48h",
        "",
        opt(r.deadline.share_within_48h),
    );
    put("deadline.breaches", "", r.deadline.breaches.to_string());
    put("refusals.total", "", r.refusals.total.to_string());
    for (k, n) in &r.refusals.by_code {
        put("refusals.by_reason", k, n.to_string());
    }
    put(
        "manual_verifications",
        "",
        r.manual_verifications.to_string(),
    );
    put("violations.total", "", r.violations.total.to_string());
    for (k, n) in &r.violations.by_code {
        put("violations.by_category", k, n.to_string());
    }
    let c = &r.complaints;
    put("complaints.filed", "", c.filed.to_string());
    put("complaints.answered", "", c.answered.to_string());
    put("complaints.with_outcome", "", c.with_outcome.to_string());
    put("complaints.open", "", c.open.to_string());
    for (k, n) in &c.by_about {
        put("complaints.by_about", k, n.to_string());
    }
    put(
        "complaints.first_answer_hours_median",
        "",
        opt(c.first_answer_hours_median),
    );
    put(
        "complaints.first_answer_hours_p90",
        "",
        opt(c.first_answer_hours_p90),
    );
    put(
        "complaints.outcome_hours_median",
        "",
        opt(c.outcome_hours_median),
    );
    put("complaints.outcome_hours_p90", "", opt(c.outcome_hours_p90));
    let u = &r.utilisation;
    put("utilisation.open_min", "", num(u.open_min));
    put("utilisation.booked_min", "", num(u.booked_min));
    put("utilisation.held_min", "", num(u.held_min));
    put("utilisation.booked_share", "", opt(u.booked_share));
    put("utilisation.held_share", "", opt(u.held_share));
    for b in &u.booths {
        put("utilisation.booth_open_min", &b.booth, num(b.open_min));
        put("utilisation.booth_booked_min", &b.booth, num(b.booked_min));
        put("utilisation.booth_held_min", &b.booth, num(b.held_min));
        put(
            "utilisation.booth_booked_share",
            &b.booth,
            opt(b.booked_share),
        );
    }
    put("rooms.lawyer_rooms", "", r.rooms.lawyer_rooms.to_string());
    put("rooms.detainees", "", r.rooms.detainees.to_string());
    put(
        "rooms.per_100_detainees",
        "",
        opt(r.rooms.per_100_detainees),
    );
    put("rooms.norm_per_100", "", num(r.rooms.norm_per_100));
    out
}

/// The CSV text of a report (header `metric,key,value`).
pub fn to_csv(r: &Report) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["metric", "key", "value"])?;
    for (m, k, v) in csv_rows(r) {
        w.write_record([m, k, v])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::super::figures::*;
    use super::*;
    use crate::schedule::rooms_per_100;

    #[test]
    fn csv_is_one_long_table_of_codes_and_numbers() {
        let mut r = Report {
            facility: "f1".into(),
            from: "2026-03-01".into(),
            to: "2026-03-31".into(),
            period_start: String::new(),
            period_end: String::new(),
            generated_at: String::new(),
            visits: VisitFigures::default(),
            waiting: Waiting::default(),
            deadline: DeadlineFigures::default(),
            refusals: breakdown(["slot_over", "not_a_participant", "slot_over"]),
            manual_verifications: 2,
            violations: Breakdown::default(),
            complaints: ComplaintFigures::default(),
            utilisation: Utilisation::default(),
            rooms: Rooms {
                lawyer_rooms: 1,
                detainees: 30,
                per_100_detainees: rooms_per_100(1, 30),
                norm_per_100: 4.0,
            },
        };
        r.waiting.median_min = Some(12.5);
        let text = to_csv(&r).unwrap();
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(rd.headers().unwrap(), vec!["metric", "key", "value"]);
        let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
        let get = |m: &str, k: &str| {
            rows.iter()
                .find(|r| &r[0] == m && &r[1] == k)
                .map(|r| r[2].to_owned())
        };
        assert_eq!(get("refusals.by_reason", "slot_over").as_deref(), Some("2"));
        assert_eq!(get("refusals.total", "").as_deref(), Some("3"));
        assert_eq!(get("waiting.median_min", "").as_deref(), Some("12.5"));
        assert_eq!(get("waiting.p90_min", "").as_deref(), Some(""));
        assert_eq!(get("rooms.per_100_detainees", "").as_deref(), Some("3.333"));
        assert_eq!(get("rooms.norm_per_100", "").as_deref(), Some("4"));
        assert_eq!(get("manual_verifications", "").as_deref(), Some("2"));
    }
}
