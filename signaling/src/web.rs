//! The browser pages (lawyer, booth, landing) as static assets compiled into the binary.
//!
//! Plain ES modules, no build step. The server serves [`ASSETS`] as they are,
//! each at its `path` with its `content_type`, and should send
//! [`CONTENT_SECURITY_POLICY`] with them: the pages use no inline scripts, no
//! inline styles and no external URLs, so the strict policy costs nothing.
//!
//! What the pages expect from the server (same origin, HTTPS):
//! `POST /api/lawyer/login`, `GET /api/lawyer/visits`,
//! `POST /api/lawyer/visits/{id}/join-token` (Bearer session token),
//! `GET|POST /api/lawyer/requests`, `POST /api/lawyer/requests/{id}/cancel`,
//! `POST /api/lawyer/visits/{id}/extend`, `GET /api/lawyer/complaint-contact`,
//! `GET|POST /api/lawyer/complaints`,
//! `GET /api/booth/visit`, `POST /api/booth/visits/{id}/join-token`,
//! `POST /api/booth/visits/{id}/room-attestation` (booth
//! client certificate), errors as JSON `{"code","message"}`, and the WebSocket
//! at [`crate::WS_PATH`] speaking this crate's protocol.
//!
//! The pages never record: no `MediaRecorder`, no canvas capture, no
//! snapshots. A test below keeps it that way.

/// One file served to browsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The URL path it is served at, e.g. `/lawyer` or `/web/confer.js`.
    pub path: &'static str,
    /// Its file in `signaling/web/`, e.g. `lawyer.html`.
    pub file: &'static str,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The bytes served (for an HTML page: the file with its integrity attributes and
    /// import map added).
    pub body: &'static str,
    /// Lower-case hex SHA-256 of [`Asset::body`] (`confer version --assets`, receipts).
    pub sha256: &'static str,
    /// The same hash as a Subresource Integrity value, `sha256-<base64>`.
    pub integrity: &'static str,
}

#[cfg(test)]
const HTML: &str = "text/html; charset=utf-8";
#[cfg(test)]
const JS: &str = "text/javascript; charset=utf-8";

// `ASSETS`, `IMPORT_MAP` and `CONTENT_SECURITY_POLICY`, generated from `web/` by
// `build.rs`: every file there is served, with its hash.
include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The `Permissions-Policy` for the pages: camera and microphone for this
/// origin only, nothing else.
pub const PERMISSIONS_POLICY: &str =
    "camera=(self), microphone=(self), display-capture=(), geolocation=()";

/// The asset served at `path`, if any.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(path: &str) -> &'static str {
        asset(path)
            .unwrap_or_else(|| panic!("no asset at {path}"))
            .body
    }

    fn html_pages() -> impl Iterator<Item = &'static Asset> {
        ASSETS.iter().filter(|a| a.content_type == HTML)
    }

    /// Every value of `attr="..."` in `text`.
    fn attribute_values<'a>(text: &'a str, attr: &str) -> Vec<&'a str> {
        let needle = format!(" {attr}=\"");
        text.match_indices(&needle)
            .filter_map(|(i, _)| {
                let rest = &text[i + needle.len()..];
                rest.find('"').map(|end| &rest[..end])
            })
            .collect()
    }

    /// Whether `html` has an attribute like ` onclick=`.
    fn has_event_handler_attribute(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    #[test]
    fn the_promised_paths_are_all_served_once() {
        let promised = [
            "/",
            "/lawyer",
            "/booth",
            "/web/confer.js",
            "/web/lawyer.js",
            "/web/booth.js",
            "/web/style.css",
        ];
        for path in promised {
            assert!(asset(path).is_some(), "{path}");
        }
        let mut paths: Vec<_> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len(), "duplicate paths");
    }

    #[test]
    fn pages_link_only_to_assets_that_exist() {
        for page in html_pages() {
            let links = attribute_values(page.body, "src")
                .into_iter()
                .chain(attribute_values(page.body, "href"));
            for link in links {
                assert!(asset(link).is_some(), "{} links to {link}", page.path);
            }
        }
        for module in ASSETS.iter().filter(|a| a.content_type == JS) {
            for (i, _) in module.body.match_indices("from './") {
                let rest = &module.body[i + "from './".len()..];
                let name = &rest[..rest.find('\'').unwrap()];
                assert!(
                    asset(&format!("/web/{name}")).is_some(),
                    "{} imports {name}",
                    module.path
                );
            }
        }
    }

    #[test]
    fn pages_work_under_a_strict_content_security_policy() {
        for page in html_pages() {
            let b = page.body;
            assert!(!b.contains("<style"), "{}: inline <style>", page.path);
            assert!(
                !b.contains(" style="),
                "{}: inline style attribute",
                page.path
            );
            assert!(
                !has_event_handler_attribute(b),
                "{}: inline event handler",
                page.path
            );
            // The one inline script is the import map, allowed by its hash.
            let map = format!("<script type=\"importmap\">{IMPORT_MAP}</script>");
            let b = &b.replace(&map, "");
            for (i, _) in b.match_indices("<script") {
                let tag = &b[i..i + b[i..].find('>').unwrap()];
                assert!(
                    tag.contains(" src=\"/web/"),
                    "{}: inline script {tag}",
                    page.path
                );
                assert!(
                    b[i..].starts_with(&format!("{tag}></script>")),
                    "{}: script has content",
                    page.path
                );
            }
        }
        for a in ASSETS {
            assert!(!a.body.contains("eval("), "{}", a.path);
            assert!(!a.body.contains("new Function"), "{}", a.path);
            assert!(
                !a.body.contains(".innerHTML"),
                "{}: build DOM nodes instead",
                a.path
            );
            assert!(
                !a.body.contains(".style."),
                "{}: use classes, not inline styles",
                a.path
            );
        }
    }

    #[test]
    fn pages_load_nothing_from_other_origins() {
        for a in ASSETS {
            // The SVG namespace is a name, not something fetched.
            let body = a.body.replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
            for scheme in ["http://", "https://", "//cdn", "url(", "@import"] {
                assert!(!body.contains(scheme), "{} contains {scheme}", a.path);
            }
        }
    }

    #[test]
    fn pages_never_record_or_capture_media() {
        // docs/DESIGN.md invariant 2: no recording, ever, on the client side either.
        for a in ASSETS {
            for api in [
                "MediaRecorder",
                "captureStream",
                "ImageCapture",
                "canvas",
                "toDataURL",
                "toBlob",
                "getImageData",
                "getDisplayMedia",
                "localStorage",
                "indexedDB",
            ] {
                // The one exception: the page language chosen on this device (i18n.js).
                if api == "localStorage" && a.path == "/web/i18n.js" {
                    continue;
                }
                assert!(!a.body.contains(api), "{} uses {api}", a.path);
            }
        }
        // i18n.js keeps nothing in localStorage but the language choice.
        let i18n = body("/web/i18n.js");
        assert_eq!(i18n.matches("localStorage.setItem(").count(), 1);
        assert!(i18n.contains("localStorage.setItem(STORE_KEY, next)"));
        assert!(i18n.contains("const STORE_KEY = 'confer-lang';"));
    }

    #[test]
    fn page_globals_are_set_only_under_the_test_hooks_marker() {
        // R-PRIV-1: production pages expose no globals; hooks.js reads the marker that
        // only a `test-hooks` build puts into the pages (web_marker.rs).
        let hooks = body("/web/hooks.js");
        assert!(hooks.contains(r#"meta[name="confer-test-hooks"]"#));
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let mut guarded_block = false;
            for line in a.body.lines() {
                let l = line.trim();
                if l.starts_with("if (TEST_HOOKS) {") {
                    guarded_block = true;
                } else if guarded_block && l == "}" {
                    guarded_block = false;
                }
                if let Some(i) = l.find("window.confer") {
                    if l.starts_with("//") || l.starts_with('*') || l.starts_with("/*") {
                        continue;
                    }
                    let after = l[i + "window.confer".len()..]
                        .trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
                        .trim_start();
                    if after.starts_with('=') && !after.starts_with("==") {
                        assert!(
                            guarded_block || l.starts_with("if (TEST_HOOKS) "),
                            "{}: `{l}` sets a global outside the test-hooks marker",
                            a.path
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_figures_switch_that_leaves_e2ee_out_exists_only_under_the_test_hooks_marker() {
        // R-PRIV-1: end-to-end encryption is mandatory. The "without" arm of its figures
        // (tests/e2ee_figures_browser.rs) is a switch that is false unless the page carries
        // the test-hooks marker, which only a `test-hooks` build serves (web_marker.rs).
        let hooks = body("/web/hooks.js");
        assert!(
            hooks.contains("export const TEST_E2EE_OFF = TEST_HOOKS\n  && "),
            "{hooks}"
        );
        let e2ee = body("/web/e2ee.js");
        assert_eq!(
            e2ee.matches("if (TEST_E2EE_OFF) return; // test builds only")
                .count(),
            2,
            "only the two transforms are left out"
        );
        for a in ASSETS {
            if a.body.contains("TEST_E2EE_OFF") {
                assert!(
                    ["/web/hooks.js", "/web/e2ee.js"].contains(&a.path),
                    "{} uses the figures' switch",
                    a.path
                );
            }
        }
    }

    #[test]
    fn videos_autoplay_inline_and_the_local_one_is_muted() {
        for path in ["/lawyer", "/booth"] {
            let b = body(path);
            assert!(
                b.contains(r#"<video id="remote-video" autoplay playsinline>"#),
                "{path}"
            );
            assert!(
                b.contains(r#"<video id="local-video" autoplay playsinline muted>"#),
                "{path}"
            );
        }
    }

    #[test]
    fn hooks_for_automated_tests_are_present() {
        let lawyer = body("/lawyer");
        for id in ["username", "password", "sign-in"] {
            assert!(
                lawyer.contains(&format!("id=\"{id}\"")),
                "lawyer page lacks #{id}"
            );
        }
        let lawyer_js = body("/web/lawyer.js");
        assert!(lawyer_js.contains("join.className = 'join'"));
        assert!(lawyer_js.contains("join.dataset.visitId"));
        let shared = body("/web/confer.js");
        assert!(shared.contains("window.conferState = state"));
        assert!(shared.contains("window.conferPc = pc"));
        for key in ["phase:", "connectionState:", "lastError:"] {
            assert!(shared.contains(key), "conferState lacks {key}");
        }
    }

    #[test]
    fn status_is_announced_and_inputs_are_labelled() {
        for path in ["/lawyer", "/booth"] {
            assert!(body(path).contains(r#"id="status""#));
            assert!(body(path).contains("aria-live=\"polite\""), "{path}");
            assert!(body(path).contains("role=\"alert\""), "{path}");
        }
        let lawyer = body("/lawyer");
        for id in ["username", "password"] {
            assert!(
                lawyer.contains(&format!("<label for=\"{id}\"")),
                "#{id} has no label"
            );
        }
        for page in html_pages() {
            assert!(
                page.body
                    .starts_with("<!doctype html>\n<html lang=\"zh-CN\">"),
                "{}",
                page.path
            );
        }
    }

    #[test]
    fn the_browser_speaks_the_same_protocol_version() {
        let shared = body("/web/confer.js");
        let line = format!(
            "export const PROTOCOL_VERSION = {};",
            crate::PROTOCOL_VERSION
        );
        assert!(shared.contains(&line));
        for ty in ["'hello'", "'join'", "'offer'", "'leave'", "'ping'"] {
            assert!(
                shared.contains(&format!("type: {ty}")),
                "confer.js never sends {ty}"
            );
        }
        for kind in crate::VisitNotice::KINDS {
            assert!(
                shared.contains(&format!("case '{kind}':")),
                "confer.js ignores {kind}"
            );
        }
    }

    fn sha256_b64(bytes: &[u8]) -> String {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
    }

    #[test]
    fn every_script_and_stylesheet_a_page_loads_carries_the_hash_of_its_bytes() {
        // R-PRIV-1 page integrity: the browser runs only the bytes whose hash the page names.
        let mut checked = 0;
        for page in html_pages() {
            for tag in ["<script ", "<link rel=\"stylesheet\""] {
                for (i, _) in page.body.match_indices(tag) {
                    let t = &page.body[i..i + page.body[i..].find('>').unwrap()];
                    if t.contains("importmap") {
                        continue;
                    }
                    let target = attribute_values(t, "src")
                        .into_iter()
                        .chain(attribute_values(t, "href"))
                        .next()
                        .unwrap();
                    let served = asset(target).unwrap();
                    let want = format!("sha256-{}", sha256_b64(served.body.as_bytes()));
                    assert_eq!(attribute_values(t, "integrity"), [want.as_str()], "{t}");
                    assert!(t.contains(" crossorigin=\"anonymous\""), "{t}");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 4, "only {checked} tags checked");
        // Every module is in the import map with its hash, and the map is allowed by the
        // policy by its own hash and is the same on every page.
        for js in ASSETS.iter().filter(|a| a.content_type == JS) {
            let entry = format!(
                "\"{}\":\"sha256-{}\"",
                js.path,
                sha256_b64(js.body.as_bytes())
            );
            assert!(
                IMPORT_MAP.contains(&entry),
                "{} missing from the import map",
                js.path
            );
        }
        let policy_hash = format!("'sha256-{}'", sha256_b64(IMPORT_MAP.as_bytes()));
        assert!(CONTENT_SECURITY_POLICY.contains(&policy_hash));
        for path in ["/lawyer", "/booth"] {
            let b = body(path);
            let map = format!("<script type=\"importmap\">{IMPORT_MAP}</script>");
            let at = b
                .find(&map)
                .unwrap_or_else(|| panic!("{path} has no import map"));
            assert_eq!(
                b.find("<script"),
                Some(at),
                "{path}: the import map comes first"
            );
        }
    }

    #[test]
    fn asset_hashes_are_of_the_served_bytes() {
        use sha2::Digest;
        for a in ASSETS {
            let hex: String = sha2::Sha256::digest(a.body.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(a.sha256, hex, "{}", a.path);
            assert_eq!(
                a.integrity,
                format!("sha256-{}", sha256_b64(a.body.as_bytes()))
            );
        }
    }
}
