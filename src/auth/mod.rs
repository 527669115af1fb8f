//! Who someone is: lawyer and staff accounts (argon2id), sessions, join tokens, and
//! booth identity from client certificates ([`booth`]).
//!
//! This module proves identity; it does not decide who may join which visit (that is
//! `policy`). Everything here takes `now` as an argument except the thin async helpers
//! that hash passwords on a blocking thread.

pub mod booth;
pub mod password;
pub mod ratelimit;
pub mod session;
pub mod token;

pub use booth::{BoothCertError, BoothIdentity, BoothVerifier};
pub use ratelimit::LoginLimiter;
pub use session::SessionToken;
pub use token::{JoinClaims, JoinTokenError, JoinTokens};
