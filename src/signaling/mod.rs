//! signaling: being written (issue 2).
