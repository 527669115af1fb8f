//! http: being written (issue 2).
