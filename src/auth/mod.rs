//! auth: being written (issue 2).
