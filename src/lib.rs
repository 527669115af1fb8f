//! confer: secure video visits between defence lawyers and detainees.
//!
//! A visit is the unit of everything. Media flows for a visit only after
//! [`policy`] has produced an [`policy::Admitted`] proof for every participant;
//! [`media`] forwards packets only between the admitted participants of one visit.
//!
//! Module map (see README "Architecture" for the invariant of each):
//! - [`app`]: wiring: config -> store -> services -> listeners; graceful shutdown.
//! - [`cluster`]: node liveness and visit placement from the node registry (pure core).
//! - [`complaints`]: lawyers' complaints, their progress and outcome (R-COMPLAIN-1).
//! - [`config`]: one typed [`config::Config`], validated before any port is bound.
//! - [`documents`]: the lawyer's documents of an engagement (the closed set), encrypted at rest.
//! - [`ids`]: newtypes for the ids that cross module lines.
//! - [`visit`]: the visit lifecycle (pure core taking `now`) and its tokio driver.
//! - [`policy`]: who may join which visit, when; the only maker of `Admitted`.
//! - [`licence`]: lawyer licence verification: registry trait, local (imported) and HTTP registries, pure verdict.
//! - [`schedule`]: bookings, walk-in queue, fast lane, 48-hour deadline, booth allocation (pure core), slot timing.
//! - [`media`]: the SFU (str0m, one UDP socket, RTP-level forwarding). No file I/O.
//! - [`signaling`]: the `/ws` endpoint speaking `confer-signaling`'s protocol.
//! - [`auth`]: lawyer and admin accounts, sessions, join tokens, booth identity from certificates.
//! - [`audit`]: the tamper-evident audit log: hash chain, signed checkpoints, verification.
//! - [`store`]: the only module that sees SQL (SQLite, migrations embedded).
//! - [`turn`]: TURN relay credentials for coturn, and its configuration (R-REMOTE-2).
//! - [`admin`]: the admin listener's API: staff roles, TOTP sign-in, staff accounts.
//! - [`health`]: the live visit health feed for the admin console (content-free; R-PRIV-1).
//! - [`model`]: the shared value types (base layer) that the store and the layers above use.
//! - [`metrics`]: Prometheus metrics (`GET /metrics` on the admin listener).
//! - [`http`]: shared HTTP plumbing: TLS, the accept loop, error mapping, the public routes.
//! - `fuzzing` (feature `fuzzing` only): the entry points of the fuzz targets in `fuzz/`.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod complaints;
pub mod config;
pub mod demo;
pub mod disk;
pub mod documents;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod health;
pub mod http;
pub mod ids;
pub mod keyfile;
pub mod licence;
pub mod media;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod receipt;
pub mod redact;
pub mod routes;
pub mod schedule;
pub mod services;
pub mod signaling;
pub mod store;
pub mod turn;
pub mod visit;
