//! config: being written (issue 2).
