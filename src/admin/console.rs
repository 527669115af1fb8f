//! The admin web console (R-PRIV-1, R-CONDUCT-1, R-REPORT-1), served on the admin listener
//! at `/admin/`: one HTML page, ES modules and a stylesheet under `/admin/console/`, embedded
//! in the binary (no build step, nothing read from disk at run time).
//!
//! | route | what |
//! |---|---|
//! | `GET /admin` | redirect to `/admin/` |
//! | `GET /admin/` | the page (`index.html`) |
//! | `GET /admin/console/{file}` | `app.js`, `api.js`, `i18n.js`, `charts.js`, `style.css` |
//!
//! The page has no inline script or style; the listener's security headers apply to every
//! answer (`crate::http::security_headers`: a Content-Security-Policy of `default-src
//! 'none'` with scripts, styles, images and connections from this origin only,
//! `X-Frame-Options: DENY`, `Cache-Control: no-store` unless a route says otherwise).
//! The console reads the admin API with the staff session token; it shows connection
//! health, codes and counts, never media, thumbnails or document contents (docs/DESIGN.md
//! invariant 6).
//!
//! Does not: check who is asking (the page is public on the admin listener; every API
//! call it makes is checked by its own route) or read anything from disk.

use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const INDEX: &str = include_str!("console/index.html");

/// The embedded files: name, content type, bytes.
const FILES: [(&str, &str, &str); 5] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("console/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("console/api.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("console/i18n.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("console/charts.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("console/style.css"),
    ),
];

/// The console's routes (admin listener); they need no state.
pub fn admin_routes() -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(redirect))
        .routes(routes!(index))
        .routes(routes!(file))
}

#[utoipa::path(
    get,
    path = "/admin",
    tag = "console",
    responses((status = 308, description = "Permanent redirect to `/admin/`"))
)]
async fn redirect() -> Redirect {
    Redirect::permanent("/admin/")
}

fn text(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidate every time: a new server version must never run with old modules.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[utoipa::path(
    get,
    path = "/admin/",
    tag = "console",
    responses((status = 200, description = "The console page", body = String, content_type = "text/html; charset=utf-8"))
)]
async fn index() -> Response {
    text("text/html; charset=utf-8", INDEX)
}

#[utoipa::path(
    get,
    path = "/admin/console/{file}",
    tag = "console",
    params(("file" = String, Path, description = "`app.js`, `api.js`, `i18n.js`, `charts.js` or `style.css`")),
    responses(
        (status = 200, description = "An ES module or the stylesheet", content(
            (String = "text/javascript; charset=utf-8"),
            (String = "text/css; charset=utf-8"),
        )),
        (status = 404, description = "`not_found`: no such file", body = ErrorBody),
    )
)]
async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, body)) => text(ct, body),
        None => ApiError::not_found("That file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        assert!(!INDEX.contains("<style"));
        assert!(!INDEX.contains(" style="));
        let scripts = INDEX.matches("<script").count();
        assert_eq!(
            scripts,
            INDEX.matches("<script type=\"module\" src=").count()
        );
        for (name, _, body) in FILES {
            assert!(
                !body.contains("innerHTML"),
                "{name} must build the DOM as text"
            );
            assert!(!body.contains("eval("), "{name}");
        }
    }

    #[test]
    fn every_module_the_page_imports_is_served() {
        for (_, _, body) in FILES {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let from = line.rsplit("from '").next().unwrap_or_default();
                let name = from.trim_start_matches("./").trim_end_matches("';");
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == name),
                    "{name} is imported but not served"
                );
            }
        }
    }
}
