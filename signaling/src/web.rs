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
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    pub body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every asset, by path.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        body: include_str!("../web/index.html"),
    },
    Asset {
        path: "/lawyer",
        content_type: HTML,
        body: include_str!("../web/lawyer.html"),
    },
    Asset {
        path: "/booth",
        content_type: HTML,
        body: include_str!("../web/booth.html"),
    },
    Asset {
        path: "/web/confer.js",
        content_type: JS,
        body: include_str!("../web/confer.js"),
    },
    Asset {
        path: "/web/lawyer.js",
        content_type: JS,
        body: include_str!("../web/lawyer.js"),
    },
    Asset {
        path: "/web/requests.js",
        content_type: JS,
        body: include_str!("../web/requests.js"),
    },
    Asset {
        path: "/web/complaints.js",
        content_type: JS,
        body: include_str!("../web/complaints.js"),
    },
    Asset {
        path: "/web/booth.js",
        content_type: JS,
        body: include_str!("../web/booth.js"),
    },
    Asset {
        path: "/web/e2ee.js",
        content_type: JS,
        body: include_str!("../web/e2ee.js"),
    },
    Asset {
        path: "/web/sframe.js",
        content_type: JS,
        body: include_str!("../web/sframe.js"),
    },
    Asset {
        path: "/web/sframe-worker.js",
        content_type: JS,
        body: include_str!("../web/sframe-worker.js"),
    },
    Asset {
        path: "/web/style.css",
        content_type: CSS,
        body: include_str!("../web/style.css"),
    },
    Asset {
        path: "/web/icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../web/icon.svg"),
    },
];

/// The `Content-Security-Policy` the pages are written for. `'self'` in
/// `connect-src` covers the same-origin `wss://` WebSocket; camera and
/// microphone streams need no media source.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

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
                assert!(!a.body.contains(api), "{} uses {api}", a.path);
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
                lawyer.contains(&format!("<label for=\"{id}\">")),
                "#{id} has no label"
            );
        }
        for page in html_pages() {
            assert!(
                page.body.starts_with("<!doctype html>\n<html lang=\"en\">"),
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
}
