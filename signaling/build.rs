//! Page integrity (R-PRIV-1, R-VERIFY-4): every file in `web/` becomes a served asset,
//! with the SHA-256 of the exact bytes served, and the HTML pages carry Subresource
//! Integrity hashes of the scripts and stylesheets they load.
//!
//! For each file of `web/` (sorted by name; names starting with `.` are skipped):
//! - `NAME.html` is served at `/NAME` (`index.html` at `/`), every other file at
//!   `/web/NAME`; the content type follows the extension (an unknown extension fails the
//!   build, so nothing is served with a guessed type);
//! - in an HTML page, every `<script ... src="/web/X.js">` and `<link ... href="/web/X.css">`
//!   gets `integrity="sha256-..." crossorigin="anonymous"`, and a page that loads a script
//!   gets, first in its `<head>`, one import map (`<script type="importmap">`) whose
//!   `integrity` section names the hash of every script, so that modules imported by other
//!   modules (`import ... from './confer.js'`) are checked too;
//! - the content security policy allows that import map by its hash and nothing else
//!   inline.
//!
//! A new file in `web/` is picked up by this script alone: no list to edit.

#[path = "src/web_marker.rs"]
#[allow(dead_code)]
mod web_marker;

use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::Path;

struct File {
    name: String,
    path: String,
    content_type: &'static str,
    text: String,
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => panic!(
            "signaling/web/{name}: unknown file type; add its extension and content type to signaling/build.rs"
        ),
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn sri(bytes: &[u8]) -> String {
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(sha256(bytes))
    )
}

/// Add `integrity` and `crossorigin` to every tag of `tag` whose `attr` names a served file.
fn add_integrity(
    html: &str,
    tag: &str,
    attr: &str,
    sri_of: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(html.len() + 512);
    let mut rest = html;
    let open = format!("<{tag} ");
    while let Some(i) = rest.find(&open) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find('>').expect("unclosed tag");
        let t = &rest[..end];
        let needle = format!(" {attr}=\"");
        let target = t.find(&needle).map(|j| {
            let v = &t[j + needle.len()..];
            &v[..v.find('"').expect("unclosed attribute")]
        });
        match target.and_then(sri_of) {
            Some(hash) if !t.contains(" integrity=") => {
                out.push_str(t);
                write!(out, " integrity=\"{hash}\" crossorigin=\"anonymous\"").unwrap();
            }
            _ => out.push_str(t),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn main() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("web");
    println!("cargo:rerun-if-changed=web");
    println!("cargo:rerun-if-changed=build.rs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("signaling/web")
        .map(|e| e.expect("directory entry"))
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().into_string().expect("UTF-8 file name"))
        .filter(|n| !n.starts_with('.') && !n.ends_with('~'))
        .collect();
    names.sort();
    let mut files: Vec<File> = names
        .iter()
        .map(|name| {
            println!("cargo:rerun-if-changed=web/{name}");
            let text = std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("signaling/web/{name}: {e} (assets are UTF-8 text)"));
            let path = match name.strip_suffix(".html") {
                Some("index") => "/".to_owned(),
                Some(page) => format!("/{page}"),
                None => format!("/web/{name}"),
            };
            File {
                content_type: content_type(name),
                name: name.clone(),
                path,
                text,
            }
        })
        .collect();

    // Hashes of the files pages load (everything but the pages themselves).
    let loaded: Vec<(String, String)> = files
        .iter()
        .filter(|f| !f.name.ends_with(".html"))
        .map(|f| (f.path.clone(), sri(f.text.as_bytes())))
        .collect();
    let sri_of = |p: &str| loaded.iter().find(|(q, _)| q == p).map(|(_, h)| h.clone());
    let mut map = String::from("{\"integrity\":{");
    let scripts: Vec<&(String, String)> = loaded
        .iter()
        .filter(|(p, _)| p.ends_with(".js") || p.ends_with(".mjs"))
        .collect();
    for (i, (p, h)) in scripts.iter().enumerate() {
        if i > 0 {
            map.push(',');
        }
        write!(map, "\"{p}\":\"{h}\"").unwrap();
    }
    map.push_str("}}");
    let import_map = format!("<script type=\"importmap\">{map}</script>");
    for f in files.iter_mut().filter(|f| f.name.ends_with(".html")) {
        let mut html = add_integrity(&f.text, "script", "src", &sri_of);
        html = add_integrity(&html, "link", "href", &|p: &str| {
            p.ends_with(".css").then(|| sri_of(p)).flatten()
        });
        // The test-hooks marker (src/web_marker.rs) only in a `test-hooks` build.
        html = web_marker::mark_test_hooks(
            &html,
            std::env::var_os("CARGO_FEATURE_TEST_HOOKS").is_some(),
        );
        if let Some(i) = html.find("<script ") {
            // The import map comes before the first module script (it must).
            html.insert_str(i, &format!("{import_map}\n  "));
        }
        f.text = html;
    }
    let csp = format!(
        "default-src 'none'; script-src 'self' '{}'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        sri(map.as_bytes())
    );

    let mut out = String::new();
    out.push_str(
        "/// Every asset, by file name (generated by `signaling/build.rs` from `web/`).\n",
    );
    out.push_str("pub const ASSETS: &[Asset] = &[\n");
    for f in &files {
        writeln!(
            out,
            "    Asset {{ path: {:?}, file: {:?}, content_type: {:?}, body: {:?}, sha256: {:?}, integrity: {:?} }},",
            f.path,
            f.name,
            f.content_type,
            f.text,
            hex(&sha256(f.text.as_bytes())),
            sri(f.text.as_bytes()),
        )
        .unwrap();
    }
    out.push_str("];\n\n");
    writeln!(
        out,
        "/// The import map every page with scripts carries (its `integrity` section).\npub const IMPORT_MAP: &str = {map:?};\n"
    )
    .unwrap();
    writeln!(
        out,
        "/// The `Content-Security-Policy` the pages are served with: no inline code but the\n/// import map, allowed by its hash; nothing from other origins.\npub const CONTENT_SECURITY_POLICY: &str = {csp:?};"
    )
    .unwrap();
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("web_assets.rs");
    std::fs::write(target, out).expect("write web_assets.rs");
}
