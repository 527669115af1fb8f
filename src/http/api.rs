//! Transitional re-exports for the scheduler's routes while they move to the HTTP
//! convention (`http::extract`, `model::time`, `visit::http`). Removed when they have.

pub use super::extract::{json_body, LawyerSession};
pub use crate::model::time::rfc3339;
