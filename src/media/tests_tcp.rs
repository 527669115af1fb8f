//! placeholder (filled in below)
