//! admin: being written (issue 2).
