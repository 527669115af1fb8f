//! Who someone is: lawyer and staff accounts (argon2id) and signing in ([`signin`]),
//! sessions ([`sessions`]), the staff second factor ([`totp`]), join tokens ([`token`]),
//! and booth identity from client certificates ([`booth`], [`booths`]).
//!
//! This module proves identity; it does not decide who may join which visit (that is
//! `policy`, asked by `visit::admission`), nor what a staff role may do (the edges'
//! extractors in `http::extract`). Everything here takes `now` as an argument except the
//! thin async helpers that hash passwords on a blocking thread.

pub mod booth;
pub mod booths;
pub mod password;
pub mod ratelimit;
pub mod revocation;
pub mod session;
pub mod sessions;
pub mod signin;
pub mod token;
pub mod totp;

pub use booth::{BoothCertError, BoothIdentity, BoothVerifier};
pub use booths::{BoothRefusal, Booths};
pub use ratelimit::LoginLimiter;
pub use revocation::Revocations;
pub use session::SessionToken;
pub use sessions::Sessions;
pub use signin::{SignIn, SignInError};
pub use token::{JoinClaims, JoinTokenError, JoinTokens};
