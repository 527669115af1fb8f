//! Visits: who is let in ([`admission`], over the evidence of [`evidence`] and the pure
//! `policy`), and what happens while a visit is live: a pure core ([`lifecycle`]) that
//! takes what happened and `now` and returns actions, and its tokio driver ([`hub`]) that
//! carries them out: notices to participants, the media plane, the store, and a timer for
//! every live visit's slot end.
//!
//! Signalling, the admin console, the scheduler and timers change a visit only through
//! [`VisitHub`]; nobody else tells `media` to add or drop peers, and every way a live
//! visit ends goes through [`VisitHub::end`] (docs/DESIGN.md invariant 8).

pub mod admission;
pub mod companions;
pub mod evidence;
pub mod http;
pub mod hub;
pub mod lifecycle;
pub mod resume;
pub mod revocation;
pub mod room;
pub mod roster;
pub mod timing;

pub use admission::{Admission, IssuedToken, Joined, Refusal};
pub use evidence::{Gate, GateError};
pub use hub::{HubError, Liveness, Seat, VisitHub};
pub use lifecycle::{EndReason, Notice, Removal};
pub use resume::{DeviceBinding, ResumeRefusal, Resumes};
pub use roster::{MediaState, RosterSeat, RosterView};
