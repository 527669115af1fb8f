//! The API documents are generated from the routers, and this holds them to it: every route
//! of both listeners is in its listener's document, and every documented operation is a
//! route that answers (never axum's bare 404 or 405).
//!
//! The routers are walked as the server builds them (`confer::routes::public` and
//! `admin` over the running server's handles): their route table, read from axum's debug
//! view, is compared with the documents' paths. Only the browser pages (static assets) and
//! the documents themselves are outside the documents.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app, Identity};
use serde_json::Value;
use std::collections::BTreeSet;

/// The paths of a router's route table (axum's debug view lists them once each as
/// `RouteId(n): "/path"`). Fails loudly if the view changes shape.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let view = format!("{router:?}");
    let mut paths = BTreeSet::new();
    for piece in view.split("): \"").skip(1) {
        if let Some(end) = piece.find('"') {
            let path = &piece[..end];
            // axum's own catch-all (the 404 fallback) is not a route of ours.
            if path.starts_with('/') && !path.contains("__private__axum") {
                paths.insert(path.to_owned());
            }
        }
    }
    assert!(
        paths.len() > 5,
        "axum's debug view of a router no longer lists its paths; update this walk: {view:.300}"
    );
    paths
}

/// `(path, method)` of every operation in a document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                ops.push((path.clone(), method.to_owned()));
            }
        }
    }
    ops
}

async fn document(client: &reqwest::Client, url: String) -> Value {
    let resp = client.get(url).send().await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the document is served without a session"
    );
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_both_listeners_is_in_its_generated_document() {
    let app = spawn_app().await;
    let client = app.client(&Identity::None);
    let public_doc = document(&client, app.url("/api/openapi.json")).await;
    let admin_doc = document(&client, app.admin_url("/admin/api/openapi.json")).await;
    assert!(public_doc["openapi"].as_str().unwrap().starts_with("3."));

    let pages: BTreeSet<String> = confer_signaling::web::ASSETS
        .iter()
        .map(|a| a.path.to_owned())
        .collect();
    for (router, doc, own) in [
        (
            confer::routes::public(&app.running.state),
            &public_doc,
            "/api/openapi.json",
        ),
        (
            confer::routes::admin(&app.running.state),
            &admin_doc,
            "/admin/api/openapi.json",
        ),
    ] {
        let mut routed = router_paths(&router);
        routed.retain(|p| !pages.contains(p) && p != own);
        let documented: BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let phantom: Vec<_> = documented.difference(&routed).collect();
        assert!(missing.is_empty(), "routes missing from {own}: {missing:?}");
        assert!(
            phantom.is_empty(),
            "documented in {own} but not routed: {phantom:?}"
        );
        eprintln!(
            "{own}: {} paths, {} operations",
            routed.len(),
            operations(doc).len()
        );
    }
    // No admin route on the public listener's document, and the reverse.
    for path in public_doc["paths"].as_object().unwrap().keys() {
        assert!(!path.starts_with("/admin/"), "{path} documented as public");
    }
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_with_its_own_words() {
    // A documented operation that axum does not route would answer a bare 404 or a 405.
    let app = spawn_app().await;
    let client = app.client(&Identity::None);
    let public_doc = document(&client, app.url("/api/openapi.json")).await;
    let admin_doc = document(&client, app.admin_url("/admin/api/openapi.json")).await;
    let mut checked = 0;
    for (doc, admin) in [(&public_doc, false), (&admin_doc, true)] {
        for (path, method) in operations(doc) {
            if path == "/ws" {
                continue; // an upgrade, checked by every signalling test
            }
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let url = if admin {
                app.admin_url(&concrete)
            } else {
                app.url(&concrete)
            };
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = client.request(method.clone(), url).send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            assert_ne!(status, 405, "{method} {path}: not routed for this method");
            if status == 404 {
                let v: Value = serde_json::from_str(&body)
                    .unwrap_or_else(|_| panic!("{method} {path}: a bare 404 (not routed)"));
                assert!(v["code"].is_string(), "{method} {path}: {body}");
            }
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} operations were checked");
    app.running.shutdown().await;
}
