//! The visit lifecycle: a pure core ([`lifecycle`]) that takes what happened and `now`
//! and returns actions, and its tokio driver ([`hub`]) that carries them out: notices to
//! participants, the media plane, the store, and a timer for every live visit's slot end.
//!
//! Signalling and (later) the admin console change a visit only through [`VisitHub`];
//! nobody else tells `media` to add or drop peers (docs/DESIGN.md invariant 8).

pub mod admission;
pub mod hub;
pub mod lifecycle;
pub mod room;
pub mod timing;

pub use admission::{Gate, GateError};
pub use hub::{HubError, Seat, VisitHub};
pub use lifecycle::{EndReason, Notice};
