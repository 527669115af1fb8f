//! The base layer's shared value types: what the store reads and writes and the layers
//! above decide with, by domain ([`audit`], [`documents`], [`licence`], [`schedule`],
//! [`staff`], [`time`], [`violation`], [`visit`]). Plain data, their stored spellings and parsing, and pure helpers
//! over them only.
//!
//! Like [`crate::ids`], [`crate::config`] and [`crate::redact`], this module imports nothing
//! else of the crate, so that `store` can depend on it without depending on any module above
//! it (`tests/layers.rs` checks this). It decides nothing, does no I/O and reads no clock;
//! each type is re-exported at the path of the module that decides with it (e.g.
//! `policy::Room`, `schedule::Calendar`, `admin::roles::StaffRole`).

pub mod audit;
pub mod documents;
pub mod licence;
pub mod schedule;
pub mod staff;
pub mod time;
pub mod violation;
pub mod visit;
