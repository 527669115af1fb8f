//! The test-hooks marker of the pages (R-PRIV-1: production pages expose no globals).
//!
//! The pages publish `window.conferState`, `window.conferPc` and `window.conferE2ee` for
//! automated tests only when the served HTML carries [`TEST_HOOKS_META`]
//! (`signaling/web/hooks.js` looks for it). `build.rs` adds it only when this crate is
//! built with its `test-hooks` feature, which `confer`'s own `test-hooks` feature turns
//! on (the test suite's self dev-dependency); a release build serves pages without it.
//! This file is also compiled into `build.rs` (`#[path]`), so the unit tests below test
//! the very function that marks the served pages.

/// The marker: a `<meta>` element right after `<head>`.
pub const TEST_HOOKS_META: &str = r#"<meta name="confer-test-hooks" content="on">"#;

/// `html` as served: with the marker after `<head>` when `test_hooks` is on, unchanged
/// otherwise (and unchanged when it has no `<head>`).
pub fn mark_test_hooks(html: &str, test_hooks: bool) -> String {
    if !test_hooks {
        return html.to_owned();
    }
    match html.find("<head>") {
        Some(i) => {
            let at = i + "<head>".len();
            format!("{}\n  {TEST_HOOKS_META}{}", &html[..at], &html[at..])
        }
        None => html.to_owned(),
    }
}

/// Whether this build's pages carry the marker (`test-hooks` feature).
pub const PAGES_HAVE_TEST_HOOKS: bool = cfg!(feature = "test-hooks");

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n  <meta charset=\"utf-8\">\n</head>\n<body></body>\n</html>\n";

    #[test]
    fn without_the_feature_the_page_is_served_unchanged() {
        assert_eq!(mark_test_hooks(PAGE, false), PAGE);
        assert!(!mark_test_hooks(PAGE, false).contains("confer-test-hooks"));
    }

    #[test]
    fn with_the_feature_the_marker_is_the_first_element_of_head() {
        let marked = mark_test_hooks(PAGE, true);
        assert!(
            marked.contains(&format!("<head>\n  {TEST_HOOKS_META}\n")),
            "{marked}"
        );
        assert_eq!(marked.matches("confer-test-hooks").count(), 1);
        assert_eq!(marked.replace(&format!("\n  {TEST_HOOKS_META}"), ""), PAGE);
    }

    #[test]
    fn served_pages_carry_the_marker_exactly_when_built_with_the_feature() {
        for a in crate::web::ASSETS
            .iter()
            .filter(|a| a.content_type.starts_with("text/html"))
        {
            assert_eq!(
                a.body.contains(TEST_HOOKS_META),
                PAGES_HAVE_TEST_HOOKS,
                "{}",
                a.path
            );
        }
    }
}
