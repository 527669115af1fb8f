//! store: being written (issue 2).
