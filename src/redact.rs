//! Redaction of personal data in logs: names, licence numbers and IP addresses
//! go through [`Redacted`], which prints a short stable fingerprint instead of the value.

use std::fmt;

/// Wraps a value whose `Display` must never reach a log in clear text.
pub struct Redacted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let d = digest.as_ref();
        write!(f, "[redacted:{:02x}{:02x}{:02x}]", d[0], d[1], d[2])
    }
}

impl<T: fmt::Display> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A database URL fit for logs and error messages: its password (if any) replaced by
/// `***` (a `[store] url` may carry one).
pub fn database_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(an unparsable URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_never_prints_the_value() {
        let shown = Redacted("203.0.113.9").to_string();
        assert!(!shown.contains("203.0.113.9"));
        assert!(shown.starts_with("[redacted:"));
        assert_eq!(
            shown,
            Redacted("203.0.113.9").to_string(),
            "stable fingerprint"
        );
    }
}
