//! visit: being written (issue 2).
