//! The scheduler's timetable as values (R-BOOK-1..5, R-REMOTE-1, R-PRIV-2): request ids,
//! booths and their kinds, a facility's [`Calendar`] (opening hours, holidays, extended
//! sessions, slot lengths), the visits already placed ([`Existing`]) and how a request
//! reached confer ([`Channel`]). The store reads and writes them; the scheduler core
//! decides with them.
//!
//! Owns only these values and their stored spellings. It does not place anything, compute
//! opening windows or default slot lengths: that is the scheduler core (`schedule`, whose
//! `impl Calendar` and `impl Default for SlotLengths` live next to the rules they serve).

use crate::ids::{AdminId, BoothId, DetaineeId, FacilityId};
use chrono::{DateTime, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A visit request (a booking or a walk-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub i64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The kind of a booth (R-BOOK-5, R-REMOTE-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BoothKind {
    LawyerRoom,
    FastRoom,
    /// Borrowed only with the lawyer's consent, when the others are full; its recording
    /// and monitoring equipment must be attested off before media flows (R-PRIV-2).
    InterrogationRoom,
}

impl BoothKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BoothKind::LawyerRoom => "lawyer_room",
            BoothKind::FastRoom => "fast_room",
            BoothKind::InterrogationRoom => "interrogation_room",
        }
    }

    pub fn parse(s: &str) -> Option<BoothKind> {
        match s {
            "lawyer_room" => Some(BoothKind::LawyerRoom),
            "fast_room" => Some(BoothKind::FastRoom),
            "interrogation_room" => Some(BoothKind::InterrogationRoom),
            _ => None,
        }
    }
}

/// A booth the allocator may place visits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booth {
    pub id: BoothId,
    pub kind: BoothKind,
}

/// Opening hours of one weekday, in the facility's local time (minutes after midnight,
/// `closes_min` up to 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningHours {
    pub weekday: Weekday,
    pub opens_min: u16,
    pub closes_min: u16,
}

/// An evening or weekend session the facility head approved (R-BOOK-4). Sessions
/// without an approver are never used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedSession {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub approved_by: Option<AdminId>,
}

/// Default slot lengths per booth kind (configurable per facility).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLengths {
    pub lawyer_room: Duration,
    pub fast_room: Duration,
    pub interrogation_room: Duration,
}

/// A facility's calendar: when booths may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub facility: FacilityId,
    /// The facility's fixed offset from UTC, in minutes (e.g. 420 for UTC+7).
    pub utc_offset_min: i32,
    pub hours: Vec<OpeningHours>,
    /// Local dates on which the normal hours do not apply.
    pub holidays: BTreeSet<NaiveDate>,
    pub extended: Vec<ExtendedSession>,
    pub slot_lengths: SlotLengths,
}

/// A visit already placed (allocated earlier or created by staff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub booth: BoothId,
    /// Unknown for visits staff created without naming a detainee.
    pub detainee: Option<DetaineeId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// How a request reached confer (R-BOOK-1: phone and messaging bookings are entered by staff).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Phone,
    Messaging,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Phone => "phone",
            Channel::Messaging => "messaging",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "web" => Some(Channel::Web),
            "phone" => Some(Channel::Phone),
            "messaging" => Some(Channel::Messaging),
            _ => None,
        }
    }
}
