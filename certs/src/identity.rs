//! The spelling of a booth's identity inside its certificate, shared by the issuer
//! (this crate) and the verifier (`confer::auth::booth`).

/// Every booth certificate carries exactly one SAN URI starting with this prefix,
/// followed by `<facility>:<booth>`.
pub const BOOTH_URI_PREFIX: &str = "urn:confer:booth:";

/// Whether `id` is a valid facility or booth id: `[a-z0-9-]{1,64}`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The SAN URI naming a booth, `urn:confer:booth:<facility>:<booth>`.
/// The caller validates the ids first (see [`is_valid_id`]).
pub fn booth_uri(facility: &str, booth: &str) -> String {
    format!("{BOOTH_URI_PREFIX}{facility}:{booth}")
}

/// Parses `urn:confer:booth:<facility>:<booth>` into `(facility, booth)`.
///
/// Returns `None` for anything else, including ids that are not `[a-z0-9-]{1,64}`
/// and extra `:`-separated parts. Never panics, whatever the input.
pub fn parse_booth_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix(BOOTH_URI_PREFIX)?;
    let (facility, booth) = rest.split_once(':')?;
    (is_valid_id(facility) && is_valid_id(booth)).then_some((facility, booth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_ascii_digits_and_dashes_up_to_64() {
        assert!(is_valid_id("demo-booth-1"));
        assert!(is_valid_id(&"a".repeat(64)));
        for bad in ["", "Booth", "booth_1", "booth:1", "böoth", " booth", "a/b"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        assert!(!is_valid_id(&"a".repeat(65)));
    }

    #[test]
    fn booth_uri_round_trips_and_rejects_malformed_uris() {
        let uri = booth_uri("demo-facility", "demo-booth-1");
        assert_eq!(uri, "urn:confer:booth:demo-facility:demo-booth-1");
        assert_eq!(
            parse_booth_uri(&uri),
            Some(("demo-facility", "demo-booth-1"))
        );
        for bad in [
            "urn:confer:booth:demo-facility",
            "urn:confer:booth:demo-facility:",
            "urn:confer:booth::b",
            "urn:confer:booth:f:b:extra",
            "urn:confer:booth:F:b",
            "urn:confer:lawyer:f:b",
            "https://example.org/",
        ] {
            assert_eq!(parse_booth_uri(bad), None, "{bad:?}");
        }
    }
}
