//! The handles wiring builds once per process (`app::start`), in one struct. Only wiring
//! sees it: `routes` builds each edge's narrow state from it (docs/DESIGN.md invariant 9),
//! `app` hands the background tasks what they use, and tests reach into it through
//! `app::Running::state`. No edge, service or core imports this file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::audit::Audit;
use crate::auth::{Booths, Sessions, SignIn};
use crate::config::Config;
use crate::store::Store;
use crate::visit::{Gate, VisitHub};

/// The handles wiring built, once per process. Only wiring sees this struct: `routes`
/// builds each edge's narrow state from it (docs/DESIGN.md invariant 9), `start` hands the
/// background tasks what they use, and tests reach into it through `app::Running::state`.
pub struct Services {
    pub config: Config,
    pub store: Store,
    pub sessions: Sessions,
    pub sign_in: SignIn,
    pub booths: Booths,
    pub hub: VisitHub,
    /// The admission service: join tokens and joins, one sequence, one refusal table.
    pub admission: crate::visit::Admission,
    /// The admission gate's I/O half: evidence, the licence registry (cached), alerts.
    pub gate: Gate,
    /// The audit log (audit first): every decision is appended here before it takes effect.
    pub audit: Audit,
    /// Lawyers' documents, encrypted at rest (R-ARRANGE-1, R-PRIV-3).
    pub documents: crate::documents::Documents,
    /// Seals staff TOTP secrets (staff sign-in).
    pub totp: crate::admin::totp::TotpVault,
    /// Wakes the violation-report outbox worker (R-CONDUCT-2).
    pub outbox: crate::admin::outbox::Outbox,
    /// The live visit health view and alerts for the console (R-PRIV-1: health, never content).
    pub health: crate::health::HealthFeed,
    /// Scheduling: requests, placements, the decision locks (R-ARRANGE-1, R-BOOK-1..5).
    pub scheduler: crate::schedule::service::Scheduler,
    /// TURN credentials for admitted participants, when `[turn] enabled` (R-REMOTE-2).
    pub turn: Option<crate::turn::Turn>,
    pub ready: Arc<AtomicBool>,
    /// Resume credentials: a lost connection takes its kept seat back (R-REMOTE-2).
    pub resumes: crate::visit::Resumes,
    /// The data dir's free space against its watermark (readiness, metrics).
    pub disk: crate::disk::DiskSpace,
    /// Ends live visits whose booth certificate was revoked; audits the command line's
    /// revocations (R-VERIFY-4).
    pub revocation: crate::visit::revocation::RevocationSweep,
    /// This node is draining (`confer node drain`): no new visit starts here.
    pub draining: crate::cluster::Draining,
    /// The other nodes' signalling origins (the pages' Content-Security-Policy).
    pub peer_origins: crate::cluster::PeerOrigins,
    /// The lawyers' pre-join network check: a data channel to the media transports, no
    /// media (R-REMOTE-1).
    pub network_check: crate::media::NetworkCheck,
    /// One network check per account every few seconds.
    pub network_check_throttle: crate::http::network_check::Throttle,
}

impl Services {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
