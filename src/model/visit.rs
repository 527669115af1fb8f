//! What is stored about a visit's conditions, as values: the [`Room`] the detainee sits in
//! (R-PRIV-2) and the investigating unit's [`Permission`] for the visit's case
//! (R-ARRANGE-3).
//!
//! Owns only these values. It does not decide admission with them (that is `policy`, which
//! re-exports both) nor record a consent, an attestation or a permission (the store and
//! the staff API).

/// The booth's room, as far as privilege is concerned (R-PRIV-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Room {
    /// A lawyer room or a fast-visit room: built for privileged visits.
    Ordinary,
    /// An interrogation room borrowed because the others were full.
    Borrowed {
        /// The lawyer agreed to the borrowed room (with the request, or to staff).
        lawyer_consent: bool,
        /// For this visit, an officer attested the room's recording and monitoring
        /// equipment off.
        equipment_off_attested: bool,
    },
}

/// The investigating unit's permission for a flagged case (R-ARRANGE-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// The case is not flagged: no permission is asked, ever.
    NotNeeded,
    /// Flagged, and no decision is recorded.
    Missing,
    Granted,
    Refused,
}
