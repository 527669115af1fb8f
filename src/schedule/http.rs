//! The scheduler's HTTP mapping, shared by its two route files: how a [`ScheduleError`]
//! becomes an [`ApiError`] (a stable code and a sentence), the queue display's page
//! (R-BOOK-4: tickets and estimated waits, never names, R-PRIV-4) and a written refusal's
//! download (R-ARRANGE-5).
//!
//! Does not: decide anything (the [`super::service::Scheduler`] does).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::service::ScheduleError;
use super::views::QueueDisplay;
use crate::http::ApiError;

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> ApiError {
        match e {
            ScheduleError::Invalid(code, message) => ApiError::bad_request(code, message),
            ScheduleError::NotFound(what) => ApiError::not_found(what),
            ScheduleError::UnknownDetainee => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_detainee_ref",
                "You have no registered representation of a detainee with this reference at this facility. Check the reference, or register the engagement (firm letter and power of attorney) first.",
            )
            .with_zh("您在本看守所没有登记代理此编号的在押人员。请核对编号，或先登记委托（律师事务所函和授权委托书）。"),
            ScheduleError::Conflict(code, message) => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            ScheduleError::Store(e) => e.into(),
            ScheduleError::Audit(e) => e.into(),
            ScheduleError::Document(e) => e.into(),
            ScheduleError::Internal(what) => ApiError::internal(what),
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A static page for the waiting-area screen (no scripts: the CSP allows none inline;
/// it refreshes itself every 15 seconds).
pub fn queue_page(data: &QueueDisplay) -> Response {
    let serving: Vec<String> = data.serving.iter().map(u32::to_string).collect();
    let mut rows = String::new();
    for w in &data.waiting {
        let wait = match w.estimated_wait_minutes {
            Some(m) => format!("about {m} min"),
            None => "being arranged".into(),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            w.ticket,
            html_escape(&wait)
        ));
    }
    let name = html_escape(&data.facility_name);
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"15\"><title>Queue - {name}</title></head>\
         <body><h1>{name}: visit queue</h1>\
         <h2>Now serving</h2><p class=\"serving\">{}</p>\
         <h2>Waiting</h2><table><thead><tr><th>Ticket</th><th>Estimated wait</th></tr></thead><tbody>{rows}</tbody></table>\
         </body></html>",
        if serving.is_empty() { "-".to_owned() } else { serving.join(" ") }
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// A scan as a download: its media type, an attachment name, never cached.
pub fn download(bytes: Vec<u8>, media_type: &str, stem: &str) -> Response {
    crate::documents::http::download_response(bytes, media_type, stem)
}
