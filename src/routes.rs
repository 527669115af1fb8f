//! Wiring: the two listeners' routers, assembled in this one place from every feature's
//! `routes`, with the layers every response gets (body size limit, security headers) and
//! the generated API documents (`GET /api/openapi.json` on the public listener,
//! `GET /admin/api/openapi.json` on the admin listener).
//!
//! A feature exposes `routes(its narrow state) -> OpenApiRouter` (public listener) and/or
//! `admin_routes(...)` (admin listener): every route is added with `utoipa_axum::routes!`,
//! so it is in the document by construction. Each narrow state is built here from the
//! wiring's handles and holds only what its routes use (docs/DESIGN.md invariant 9).
//!
//! Not in the documents: the browser pages and their scripts (`http::pages`).

use axum::routing::get;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::http::openapi;
use crate::services::Services;

/// JSON request bodies larger than this are refused before parsing (413). Uploads
/// (documents, scans) set their own larger limit on their routes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The public listener: browser pages, lawyer and booth API, signalling.
pub fn public(s: &Services) -> Router {
    let documented: OpenApiRouter = OpenApiRouter::new()
        .merge(crate::health::ready::routes(readiness(s)))
        .merge(crate::http::accounts::routes(
            crate::http::accounts::AccountRoutes {
                sign_in: s.sign_in.clone(),
                sessions: s.sessions.clone(),
            },
        ))
        .merge(crate::visit::http::routes(
            crate::visit::http::VisitRoutes {
                admission: s.admission.clone(),
                store: s.store.clone(),
                sessions: s.sessions.clone(),
                booths: s.booths.clone(),
                time_zone: crate::visit::http::FacilityTimeZone(
                    s.config.facility.time_zone.as_str().into(),
                ),
            },
        ))
        .merge(crate::visit::companions::routes(
            crate::visit::companions::CompanionRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
                hub: s.hub.clone(),
            },
        ))
        .merge(crate::signaling::routes(crate::signaling::Signalling {
            admission: s.admission.clone(),
            hub: s.hub.clone(),
            keepalive: crate::signaling::Keepalive {
                ping_every: s.config.signaling.ping_interval(),
                dead_after: s.config.signaling.dead_after(),
            },
            turn: s.turn.clone(),
            resumes: s.resumes.clone(),
            e2ee: crate::signaling::E2eeRelay::new(s.audit.clone()),
        }))
        .merge(crate::http::network_check::routes(
            crate::http::network_check::NetworkCheckRoutes {
                check: s.network_check.clone(),
                sessions: s.sessions.clone(),
                throttle: s.network_check_throttle.clone(),
                relay: crate::http::network_check::RelayConfigured(s.turn.is_some()),
            },
        ))
        .merge(crate::schedule::routes_lawyer::routes(
            crate::schedule::routes_lawyer::SchedulerRoutes {
                scheduler: s.scheduler.clone(),
                sessions: s.sessions.clone(),
            },
        ))
        .merge(crate::documents::http::routes(documents(s)))
        .merge(crate::complaints::routes(
            crate::complaints::ComplaintsRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
                facility: s.config.facility.clone(),
            },
        ))
        .merge(crate::visit::room::routes(crate::visit::room::RoomRoutes {
            store: s.store.clone(),
            audit: s.audit.clone(),
            booths: s.booths.clone(),
        }))
        .merge(crate::receipt::http::routes(
            crate::receipt::http::ReceiptRoutes {
                receipts: receipts(s),
                sessions: s.sessions.clone(),
                booths: s.booths.clone(),
            },
        ));
    let (documented, doc) = documented.split_for_parts();
    let doc = openapi::finish(
        doc,
        "confer public API",
        "Lawyer and booth routes of confer's public listener. Every error is an ErrorBody.",
    );
    Router::new()
        .merge(documented)
        .merge(crate::http::pages::routes())
        .route("/api/openapi.json", get(openapi::serve(&doc)))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            s.peer_origins.clone(),
            crate::http::security_headers_for_cluster,
        ))
}

/// The admin listener: staff API, console, health feed, metrics.
pub fn admin(s: &Services) -> Router {
    let documented: OpenApiRouter = OpenApiRouter::new()
        .merge(crate::health::ready::routes(readiness(s)))
        .merge(crate::admin::login::admin_routes(
            crate::admin::login::LoginRoutes {
                sign_in: s.sign_in.clone(),
            },
        ))
        .merge(crate::admin::admin_routes(crate::admin::AdminRoutes {
            store: s.store.clone(),
            audit: s.audit.clone(),
            sessions: s.sessions.clone(),
        }))
        .merge(crate::admin::revocation::admin_routes(
            crate::admin::revocation::RevocationRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
                booths: s.booths.clone(),
                sweep: s.revocation.clone(),
                data_dir: s.config.data_dir.clone(),
            },
        ))
        .merge(crate::admin::staff::admin_routes(
            crate::admin::staff::StaffRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
                totp: s.totp.clone(),
            },
        ))
        .merge(crate::admin::verification::admin_routes(
            crate::admin::verification::VerificationRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
                registry: s.gate.registry().clone(),
            },
        ))
        .merge(crate::admin::violations::admin_routes(
            crate::admin::violations::ViolationsRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
                hub: s.hub.clone(),
                outbox: s.outbox.clone(),
            },
        ))
        .merge(crate::admin::reports::admin_routes(
            crate::admin::reports::ReportsRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
            },
        ))
        .merge(crate::schedule::routes_admin::admin_routes(
            crate::schedule::routes_admin::SchedulerAdminRoutes {
                scheduler: s.scheduler.clone(),
                sessions: s.sessions.clone(),
                audit: s.audit.clone(),
            },
        ))
        .merge(crate::admin::console::admin_routes())
        .merge(crate::documents::http::admin_routes(documents(s)))
        .merge(crate::complaints::admin_routes(
            crate::complaints::ComplaintsAdminRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
            },
        ))
        .merge(crate::visit::room::admin_routes(
            crate::visit::room::RoomAdminRoutes {
                store: s.store.clone(),
                audit: s.audit.clone(),
                sessions: s.sessions.clone(),
            },
        ))
        .merge(crate::receipt::http::admin_routes(
            crate::receipt::http::ReceiptAdminRoutes {
                receipts: receipts(s),
                sessions: s.sessions.clone(),
                audit: s.audit.clone(),
            },
        ))
        .merge(crate::health::http::admin_routes(
            crate::health::http::HealthRoutes {
                health: s.health.clone(),
                sessions: s.sessions.clone(),
                audit: s.audit.clone(),
                store: s.store.clone(),
            },
        ))
        .merge(crate::admin::metrics::admin_routes(
            crate::admin::metrics::MetricsRoutes {
                hub: s.hub.clone(),
                token: crate::admin::metrics::MetricsToken::new(
                    s.config.admin.metrics_token.as_deref(),
                ),
                sessions: s.sessions.clone(),
                audit: s.audit.clone(),
            },
        ));
    let (documented, doc) = documented.split_for_parts();
    let doc = openapi::finish(
        doc,
        "confer admin API",
        "Staff routes of confer's admin listener. Every error is an ErrorBody.",
    );
    Router::new()
        .merge(documented)
        .route("/admin/api/openapi.json", get(openapi::serve(&doc)))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::http::security_headers))
}

/// Readiness (`/healthz`, both listeners).
fn readiness(s: &Services) -> crate::health::ready::Readiness {
    crate::health::ready::Readiness {
        store: s.store.clone(),
        audit: s.audit.clone(),
        hub: s.hub.clone(),
        ready: s.ready.clone(),
        disk: s.disk.clone(),
        draining: s.draining.clone(),
    }
}

/// The document routes' state (both listeners).
fn documents(s: &Services) -> crate::documents::http::DocumentsRoutes {
    crate::documents::http::DocumentsRoutes {
        documents: s.documents.clone(),
        store: s.store.clone(),
        audit: s.audit.clone(),
        sessions: s.sessions.clone(),
    }
}

/// The visit receipt service (both listeners, R-PRIV-1).
fn receipts(s: &Services) -> crate::receipt::service::Receipts {
    crate::receipt::service::Receipts::new(s.store.clone(), s.audit.clone())
}
