//! app: being written (issue 2).
