//! The browser pages and their scripts (`confer-signaling`'s web assets: the lawyer page,
//! the booth page, their ES modules and styles), served as they are, with no inline code
//! (the security headers' content policy forbids it). Not part of the API document.

use axum::http::header;
use axum::routing::get;
use axum::Router;

/// `GET /`, `/lawyer`, `/booth`, `/web/*`.
pub fn routes() -> Router {
    let mut r = Router::new();
    for asset in confer_signaling::web::ASSETS {
        let (ct, body) = (asset.content_type, asset.body);
        r = r.route(
            asset.path,
            get(move || async move { ([(header::CONTENT_TYPE, ct)], body) }),
        );
    }
    r
}
