//! The layering of the crate, checked from its source (docs/DESIGN.md invariant 9: base <- store <- pure
//! cores <- services <- edges <- wiring).
//!
//! Owns: reading every `src/**/*.rs` file of the library, collecting the modules each file
//! refers to (`use` declarations, `crate::a::b` / `super::a` / `self::a` paths anywhere in
//! the code, and paths through a child module or a name a `use` brought in), and three
//! checks on that graph:
//! - no cycle between top-level modules (`store`, `policy`, `visit`, `http`, ...);
//! - no cycle between files;
//! - no reference from a module to one in a higher layer of [`LAYERS`] (longest prefix wins).
//!
//! Re-exports resolve as rustc resolves them: a name a module brings in with `pub use
//! path::Name` (or `pub use path::{A, B as C}`, any `pub(..)` visibility) and that is
//! written elsewhere as `module::Name` refers to the module `path` points to, not to
//! `module` (chains of re-exports are followed; a loop of them stops where it would repeat).
//! So a child writing `super::SessionToken`, where `auth/mod.rs` has `pub use
//! session::SessionToken;`, depends on `auth/session.rs`, and a façade `mod.rs` forms no cycle
//! with the children it shows. The `pub use` line itself still is an edge from the
//! re-exporting file to the target: a façade depends on what it shows.
//!
//! Every violation is printed on its own line before the test fails, so one run lists them
//! all. What it does not do: resolve every name the way rustc does. Glob re-exports
//! (`pub use x::*`) and private `use` lines are not followed (a path through them counts as a
//! reference to the module that has them), comments, strings and `#[cfg(test)]` items (and
//! the files of `#[cfg(test)] mod x;`) are ignored, a `use` of a module itself only names it
//! (the paths through it are what count), and anything not written as a path (a method call
//! on a value of another module's type) is invisible. `src/main.rs` is a separate crate that
//! reaches the library through `confer::`.
//!
//! Why a small test and not a tool: `cargo-modules` (or similar) would have to be installed
//! in CI, prints a graph rather than failing on a rule, and knows nothing of our layer
//! table; this file runs with `cargo test`, with no dependency beyond `std`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Module path prefix -> layer. Longest prefix (on `::` boundaries) wins.
const LAYERS: &[(&str, u8)] = &[
    // 0 base: shared value types and configuration; imports nothing of the crate above.
    ("ids", 0),
    ("config", 0),
    ("redact", 0),
    ("model", 0),
    ("keyfile", 0),
    // The data dir's free space (statvfs), read by readiness and the metrics.
    ("disk", 0),
    // The counters facade; its scrape route and sampler are the admin edge's.
    ("metrics", 0),
    // 1 store: the only module that sees SQL.
    ("store", 1),
    // 2 pure cores: decisions without I/O or clock.
    ("policy", 2),
    ("schedule", 2),
    ("schedule::timing", 2),
    ("visit::lifecycle", 2),
    ("visit::timing", 2),
    ("audit::chain", 2),
    ("audit::record", 2),
    // Counting unauthenticated noise per class, reason and minute.
    ("audit::tally", 2),
    ("licence::verify", 2),
    ("licence::breaker", 2),
    // Visit receipts: canonical form, building and verifying (R-PRIV-1).
    ("receipt", 2),
    // The cluster's decisions: node liveness and visit placement from the registry rows.
    ("cluster", 2),
    // This node's heartbeat into the registry (a service: store, clock, the hub's count).
    ("cluster::beat", 3),
    // Where a visit's media lives: reads the registry, writes placements.
    ("cluster::placement", 3),
    // Leases of the jobs that run on one node at a time.
    ("cluster::lease", 3),
    // 3 services: drive the cores, hold state, talk to the store and the network.
    ("audit", 3),
    ("auth", 3),
    ("documents", 3),
    ("health", 3),
    ("licence", 3),
    ("media", 3),
    // Hands the allocator's free memory back after visits end (reads the hub's count).
    ("memory", 3),
    ("schedule::service", 3),
    ("schedule::escalation", 3),
    ("schedule::refusal", 3),
    // The parts of the `Scheduler` handle, and the views it builds (plain data).
    ("schedule::calendar", 3),
    ("schedule::queues", 3),
    ("schedule::views", 3),
    // The health model is pure, but it reads the hub's and the media plane's snapshots.
    ("health::model", 3),
    ("visit", 3),
    ("visit::admission", 3),
    ("visit::evidence", 3),
    ("visit::hub", 3),
    ("receipt::service", 3),
    // TURN credentials (R-REMOTE-2): the service holds the secret and audits; the
    // credential scheme and coturn's configuration are pure.
    ("turn", 3),
    ("turn::credentials", 2),
    ("turn::conf", 2),
    ("visit::resume", 3),
    // Ends live visits whose booth certificate was revoked (R-VERIFY-4).
    ("visit::revocation", 3),
    ("visit::roster", 3),
    // 4 edges: HTTP and WebSocket routes, extractors, listeners.
    ("http", 4),
    ("signaling", 4),
    ("admin", 4),
    ("complaints", 4),
    ("health::ready", 4),
    ("health::http", 4),
    ("documents::http", 4),
    ("schedule::routes_lawyer", 4),
    ("schedule::routes_admin", 4),
    ("schedule::http", 4),
    ("visit::http", 4),
    ("visit::companions", 4),
    ("visit::room", 4),
    ("receipt::http", 4),
    // 5 wiring: builds everything and starts it.
    ("app", 5),
    ("routes", 5),
    ("demo", 5),
    ("services", 5),
    // The fuzz targets' entry points (feature `fuzzing`): they reach every layer's parsers.
    ("fuzzing", 5),
];

const LAYER_NAMES: [&str; 6] = ["base", "store", "core", "service", "edge", "wiring"];

/// The layer of a module path, by longest prefix.
fn layer_of(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| {
            module == *prefix
                || module
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|&(_, layer)| layer)
}

/// One reference from a file to a module of the crate.
#[derive(Debug, Clone)]
struct Reference {
    line: usize,
    /// The module referred to (`""` is the crate root).
    target: String,
    /// The path as written, for the report.
    written: String,
}

/// A library source file and what it refers to.
#[derive(Debug)]
struct SourceFile {
    /// `src/store/staff.rs`
    path: String,
    /// `store::staff` (`""` for `src/lib.rs`).
    module: String,
    references: Vec<Reference>,
}

// ---------------------------------------------------------------------------------------
// Reading the sources

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `store/staff.rs` -> `store::staff`, `store/mod.rs` -> `store`, `lib.rs` -> `""`.
fn module_of(relative: &str) -> String {
    let stem = relative.trim_end_matches(".rs");
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" {
        String::new()
    } else {
        stem.replace('/', "::")
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The code with comments, string and char literals blanked out (newlines kept, so that
/// positions keep their line numbers).
fn strip_comments_and_literals(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && is_ident_char(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if (c[i] == 'r' && (!prev_ident || (i >= 1 && c[i - 1] == 'b')))
            && matches!(c.get(i + 1), Some('"') | Some('#'))
            && {
                let hashes = c[i + 1..].iter().take_while(|&&h| h == '#').count();
                c.get(i + 1 + hashes) == Some(&'"')
            }
        {
            // Raw string r"..." / r#"..."#.
            let hashes = c[i + 1..].iter().take_while(|&&h| h == '#').count();
            let start = i;
            i += 2 + hashes;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '"'
                    && c[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            for &ch in &c[start..i.min(c.len())] {
                blank(&mut out, ch);
            }
        } else if c[i] == '"' {
            blank(&mut out, c[i]);
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' && i + 1 < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
            if i < c.len() {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            // An escaped char literal: '\n', '\'', '\u{..}'.
            let start = i;
            i += 3;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            for &ch in &c[start..i.min(c.len())] {
                blank(&mut out, ch);
            }
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            // Code, including a lifetime's quote.
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Index just past the bracket matching the one at `open` (`(`, `[` or `{`).
fn matching(code: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < code.len() {
        match code[i] {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    code.len()
}

fn skip_ws(code: &[char], mut i: usize) -> usize {
    while i < code.len() && code[i].is_whitespace() {
        i += 1;
    }
    i
}

fn word_at(code: &[char], i: usize) -> String {
    code[i..]
        .iter()
        .take_while(|&&ch| is_ident_char(ch))
        .collect()
}

/// Blank every `#[cfg(test)]` item; returns the names of `#[cfg(test)] mod x;` children.
fn remove_test_items(code: &str) -> (String, Vec<String>) {
    let mut c: Vec<char> = code.chars().collect();
    let needle: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut test_children = Vec::new();
    let mut i = 0;
    while i + needle.len() <= c.len() {
        if c[i..i + needle.len()] != needle[..] {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = skip_ws(&c, i + needle.len());
        // Further attributes on the same item.
        while c.get(j) == Some(&'#') && c.get(j + 1) == Some(&'[') {
            j = skip_ws(&c, matching(&c, j + 1));
        }
        // `mod x;` names a test-only file.
        let mut k = j;
        if word_at(&c, k) == "pub" {
            k = skip_ws(&c, k + 3);
            if c.get(k) == Some(&'(') {
                k = skip_ws(&c, matching(&c, k));
            }
        }
        if word_at(&c, k) == "mod" {
            let name_at = skip_ws(&c, k + 3);
            let name = word_at(&c, name_at);
            let after = skip_ws(&c, name_at + name.len());
            if c.get(after) == Some(&';') {
                test_children.push(name);
            }
        }
        // The item ends at its first top-level `;` or its body's closing brace.
        let mut end = j;
        while end < c.len() {
            match c[end] {
                ';' => {
                    end += 1;
                    break;
                }
                '{' => {
                    end = matching(&c, end);
                    break;
                }
                '(' | '[' => end = matching(&c, end),
                _ => end += 1,
            }
        }
        let end = end.min(c.len());
        for ch in &mut c[start..end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end;
    }
    (c.into_iter().collect(), test_children)
}

/// A `use` tree, flattened: every full path it names, with the name it binds and whether
/// it is a glob.
#[derive(Debug, PartialEq, Eq)]
struct UsePath {
    segments: Vec<String>,
    binds: Option<String>,
    glob: bool,
}

fn use_tokens(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            tokens.push("::".to_owned());
            i += 2;
        } else if is_ident_char(c[i]) || c[i] == '$' {
            let w: String = std::iter::once(c[i])
                .chain(
                    c[i + 1..]
                        .iter()
                        .copied()
                        .take_while(|&ch| is_ident_char(ch)),
                )
                .collect();
            i += w.chars().count();
            tokens.push(w);
        } else {
            tokens.push(c[i].to_string());
            i += 1;
        }
    }
    tokens
}

/// Flatten the use tree in `tokens[*at..]` under `prefix`.
fn parse_use_tree(tokens: &[String], at: &mut usize, prefix: &[String], out: &mut Vec<UsePath>) {
    let mut path = prefix.to_vec();
    let leading = *at;
    while *at < tokens.len() {
        let t = tokens[*at].as_str();
        match t {
            "::" => *at += 1,
            "{" => {
                *at += 1;
                while *at < tokens.len() && tokens[*at] != "}" {
                    parse_use_tree(tokens, at, &path, out);
                    if tokens.get(*at).map(String::as_str) == Some(",") {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            "*" => {
                *at += 1;
                out.push(UsePath {
                    segments: path,
                    binds: None,
                    glob: true,
                });
                return;
            }
            "," | "}" | ";" => break,
            "self" if *at > leading => {
                // `a::{self, ..}` names `a` itself.
                *at += 1;
                let binds = path.last().cloned();
                out.push(UsePath {
                    segments: path,
                    binds: as_alias(tokens, at).or(binds),
                    glob: false,
                });
                return;
            }
            word => {
                path.push(word.to_owned());
                *at += 1;
                if tokens.get(*at).map(String::as_str) != Some("::") {
                    let binds = as_alias(tokens, at).or_else(|| path.last().cloned());
                    out.push(UsePath {
                        segments: path,
                        binds,
                        glob: false,
                    });
                    return;
                }
            }
        }
    }
    if path.len() > prefix.len() {
        out.push(UsePath {
            binds: path.last().cloned(),
            segments: path,
            glob: false,
        });
    }
}

fn as_alias(tokens: &[String], at: &mut usize) -> Option<String> {
    if tokens.get(*at).map(String::as_str) == Some("as") {
        *at += 2;
        tokens.get(*at - 1).cloned()
    } else {
        None
    }
}

fn parse_use(text: &str) -> Vec<UsePath> {
    let tokens = use_tokens(text);
    let mut out = Vec::new();
    let mut at = 0;
    parse_use_tree(&tokens, &mut at, &[], &mut out);
    out
}

/// Resolves written paths to the crate's modules.
struct Resolver<'a> {
    modules: &'a BTreeSet<String>,
    /// `(module, name)` -> the absolute path a `pub use` in `module` binds `name` to.
    reexports: BTreeMap<(String, String), Vec<String>>,
}

impl Resolver<'_> {
    fn join(base: &str, seg: &str) -> String {
        if base.is_empty() {
            seg.to_owned()
        } else {
            format!("{base}::{seg}")
        }
    }

    fn parent(module: &str) -> String {
        module
            .rsplit_once("::")
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default()
    }

    /// The absolute module-path segments a path starts from, or `None` when it does not
    /// start inside the crate (an external crate, a local item, a primitive).
    fn absolute(
        &self,
        current: &str,
        segments: &[String],
        bindings: &BTreeMap<String, Option<Vec<String>>>,
    ) -> Option<Vec<String>> {
        let first = segments.first()?.as_str();
        let mut base = match first {
            "crate" | "$crate" => String::new(),
            "self" => current.to_owned(),
            "super" => Self::parent(current),
            _ => {
                if let Some(bound) = bindings.get(first) {
                    let mut full = bound.clone()?;
                    full.extend(segments[1..].iter().cloned());
                    return Some(full);
                }
                let child = Self::join(current, first);
                if !self.modules.contains(&child) {
                    return None;
                }
                let mut full: Vec<String> = split(current);
                full.extend(segments.iter().cloned());
                return Some(full);
            }
        };
        let mut rest = &segments[1..];
        while rest.first().map(String::as_str) == Some("super") {
            base = Self::parent(&base);
            rest = &rest[1..];
        }
        let mut full = split(&base);
        full.extend(rest.iter().cloned());
        Some(full)
    }

    /// The longest prefix of `full` that is a module of the crate, with its length.
    fn longest_module(&self, full: &[String]) -> (usize, String) {
        (0..=full.len())
            .rev()
            .map(|n| (n, full[..n].join("::")))
            .find(|(_, m)| self.modules.contains(m))
            .unwrap_or_default()
    }

    /// `full` with every re-exported name on it replaced by the path it re-exports, as
    /// rustc resolves it: `auth::SessionToken`, where `auth` has `pub use
    /// session::SessionToken;`, is `auth::session::SessionToken`. Chains are followed; a
    /// loop of re-exports stops where it would repeat.
    fn resolve(&self, full: &[String]) -> Vec<String> {
        let mut full = full.to_vec();
        let mut seen = BTreeSet::new();
        loop {
            let (n, module) = self.longest_module(&full);
            let Some(name) = full.get(n) else {
                return full;
            };
            let key = (module, name.clone());
            match self.reexports.get(&key) {
                Some(target) if seen.insert(key.clone()) => {
                    let mut next = target.clone();
                    next.extend(full[n + 1..].iter().cloned());
                    full = next;
                }
                _ => return full,
            }
        }
    }

    /// The module `full` refers to, after re-exports.
    fn module(&self, full: &[String]) -> String {
        self.longest_module(&self.resolve(full)).1
    }
}

fn split(module: &str) -> Vec<String> {
    if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    }
}

fn line_at(code: &[char], i: usize) -> usize {
    1 + code[..i].iter().filter(|&&ch| ch == '\n').count()
}

/// Where the visibility of the `use` at `i` starts, if it is `pub`, `pub(crate)`,
/// `pub(super)` or `pub(in ..)`.
fn pub_of_use(code: &[char], i: usize) -> Option<usize> {
    let mut k = i;
    while k > 0 && code[k - 1].is_whitespace() {
        k -= 1;
    }
    if k > 0 && code[k - 1] == ')' {
        let mut depth = 0usize;
        while k > 0 {
            k -= 1;
            match code[k] {
                ')' => depth += 1,
                '(' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        while k > 0 && code[k - 1].is_whitespace() {
            k -= 1;
        }
    }
    (k >= 3 && code[k - 3..k] == ['p', 'u', 'b'] && (k == 3 || !is_ident_char(code[k - 4])))
        .then(|| k - 3)
}

/// The references of one file's (stripped, test-free) code in module `current`.
fn references(code: &str, current: &str, resolver: &Resolver) -> Vec<Reference> {
    scan(code, current, resolver).0
}

/// A `pub use` of one file: the name it binds in the file's module and the absolute path
/// it binds it to.
type Reexport = (String, Vec<String>);

/// The references and the re-exports of one file's (stripped, test-free) code in module
/// `current`.
fn scan(code: &str, current: &str, resolver: &Resolver) -> (Vec<Reference>, Vec<Reexport>) {
    let mut c: Vec<char> = code.chars().collect();
    let mut refs = Vec::new();
    let mut reexports = Vec::new();
    let mut bindings: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    // 1. `use` declarations (then blanked, so that step 2 does not see them again).
    let mut i = 0;
    while i < c.len() {
        let starts_word = i == 0 || !is_ident_char(c[i - 1]);
        if !(starts_word
            && word_at(&c, i) == "use"
            && c.get(i + 3).is_some_and(|ch| ch.is_whitespace()))
        {
            i += 1;
            continue;
        }
        let end = c[i..]
            .iter()
            .position(|&ch| ch == ';')
            .map_or(c.len(), |p| i + p + 1);
        let text: String = c[i + 3..end.saturating_sub(1)].iter().collect();
        let line = line_at(&c, i);
        let visibility = pub_of_use(&c, i);
        let public = visibility.is_some();
        for u in parse_use(&text) {
            let absolute = resolver.absolute(current, &u.segments, &bindings);
            if let Some(name) = &u.binds {
                bindings.insert(name.clone(), absolute.clone());
                if let (true, Some(full)) = (public, &absolute) {
                    reexports.push((name.clone(), full.clone()));
                }
            }
            let Some(full) = absolute else { continue };
            let resolved = resolver.resolve(&full);
            let target = resolver.longest_module(&resolved).1;
            let names_module = target == resolved.join("::");
            if names_module && !u.glob {
                // `use crate::store;` only names the module; the paths through it count.
                continue;
            }
            refs.push(Reference {
                line,
                target,
                written: u.segments.join("::") + if u.glob { "::*" } else { "" },
            });
        }
        // Blank the visibility too, so that the next `use` does not take it for its own.
        for ch in &mut c[visibility.unwrap_or(i)..end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end;
    }
    // 2. Paths anywhere: `a::b::c` not preceded by `::`.
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if !(is_ident_char(ch) || ch == '$') || (i > 0 && is_ident_char(c[i - 1])) {
            i += 1;
            continue;
        }
        let before = c[..i].iter().rev().find(|ch| !ch.is_whitespace()).copied();
        let after_colons = before == Some(':');
        let start = i;
        let mut segments = Vec::new();
        let mut j = i;
        loop {
            let w: String = std::iter::once(c[j])
                .chain(
                    c[j + 1..]
                        .iter()
                        .copied()
                        .take_while(|&ch| is_ident_char(ch)),
                )
                .collect();
            j += w.chars().count();
            segments.push(w);
            let k = skip_ws(&c, j);
            if c.get(k) == Some(&':') && c.get(k + 1) == Some(&':') {
                let n = skip_ws(&c, k + 2);
                if c.get(n).is_some_and(|&ch| is_ident_char(ch) || ch == '$') {
                    j = n;
                    continue;
                }
            }
            break;
        }
        i = j;
        if after_colons || segments.len() < 2 {
            continue;
        }
        let Some(full) = resolver.absolute(current, &segments, &bindings) else {
            continue;
        };
        refs.push(Reference {
            line: line_at(&c, start),
            target: resolver.module(&full),
            written: segments.join("::"),
        });
    }
    (refs, reexports)
}

fn read_sources() -> Vec<SourceFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    collect_rs(&src, &mut paths);
    let mut files: Vec<(String, String, String)> = Vec::new();
    let mut test_only: BTreeSet<String> = BTreeSet::new();
    for p in &paths {
        let relative = p
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if relative == "main.rs" {
            continue;
        }
        let module = module_of(&relative);
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let (code, children) = remove_test_items(&strip_comments_and_literals(&text));
        for child in children {
            test_only.insert(Resolver::join(&module, &child));
        }
        files.push((format!("src/{relative}"), module, code));
    }
    let is_test_only = |m: &str| {
        test_only.iter().any(|t| {
            m == t
                || m.strip_prefix(t.as_str())
                    .is_some_and(|r| r.starts_with("::"))
        })
    };
    let files: Vec<_> = files
        .into_iter()
        .filter(|(_, m, _)| !is_test_only(m))
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(_, m, _)| m.clone()).collect();
    let mut resolver = Resolver {
        modules: &modules,
        reexports: BTreeMap::new(),
    };
    // First the re-exports of every file, then every file's references through them.
    let mut reexports = BTreeMap::new();
    for (_, module, code) in &files {
        for (name, full) in scan(code, module, &resolver).1 {
            reexports.insert((module.clone(), name), full);
        }
    }
    resolver.reexports = reexports;
    files
        .into_iter()
        .map(|(path, module, code)| {
            let references = references(&code, &module, &resolver);
            SourceFile {
                path,
                module,
                references,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Cycles

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every cycle needed to see why the graph is not acyclic: for each edge that lies on a
/// cycle, the shortest cycle through it (deduplicated, rotated to start at its smallest
/// node). Self-loops are ignored.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for (from, tos) in graph {
        for to in tos {
            if to == from {
                continue;
            }
            // Shortest path to -> from closes the cycle from -> to -> ... -> from.
            let mut back: BTreeMap<&String, &String> = BTreeMap::new();
            let mut queue = VecDeque::from([to]);
            let mut seen = BTreeSet::from([to]);
            while let Some(n) = queue.pop_front() {
                if n == from {
                    break;
                }
                for m in graph.get(n).into_iter().flatten() {
                    if seen.insert(m) {
                        back.insert(m, n);
                        queue.push_back(m);
                    }
                }
            }
            if !seen.contains(from) {
                continue;
            }
            let mut path = vec![from.clone()];
            let mut n = from;
            while n != to {
                n = back[n];
                path.push(n.clone());
            }
            path.reverse(); // to ... from
            path.rotate_right(1); // from, to, ...
            let smallest = (0..path.len()).min_by_key(|&k| &path[k]).unwrap_or(0);
            path.rotate_left(smallest);
            found.insert(path);
        }
    }
    found.into_iter().collect()
}

fn show_cycle(cycle: &[String]) -> String {
    let mut s = cycle.join(" -> ");
    s.push_str(" -> ");
    s.push_str(&cycle[0]);
    s
}

fn top_level(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

fn evidence(
    files: &[SourceFile],
    from: impl Fn(&SourceFile) -> bool,
    to: impl Fn(&str) -> bool,
) -> String {
    files
        .iter()
        .filter(|f| from(f))
        .flat_map(|f| f.references.iter().map(move |r| (f, r)))
        .find(|(_, r)| to(&r.target))
        .map(|(f, r)| format!("{}:{} {}", f.path, r.line, r.written))
        .unwrap_or_default()
}

/// Every violation of the three rules, one line each.
fn violations(files: &[SourceFile]) -> Vec<String> {
    let mut out = Vec::new();
    let file_of: BTreeMap<&str, &str> = files
        .iter()
        .map(|f| (f.module.as_str(), f.path.as_str()))
        .collect();

    // (a) top-level modules.
    let mut top: Graph = BTreeMap::new();
    for f in files.iter().filter(|f| !f.module.is_empty()) {
        for r in f.references.iter().filter(|r| !r.target.is_empty()) {
            let (a, b) = (top_level(&f.module), top_level(&r.target));
            if a != b {
                top.entry(a.to_owned()).or_default().insert(b.to_owned());
            }
        }
    }
    for cycle in cycles(&top) {
        let steps: Vec<String> = cycle
            .iter()
            .zip(cycle.iter().cycle().skip(1))
            .map(|(a, b)| {
                let e = evidence(files, |f| top_level(&f.module) == a, |t| top_level(t) == b);
                format!("  {a} -> {b}: {e}")
            })
            .collect();
        out.push(format!(
            "module cycle: {}\n{}",
            show_cycle(&cycle),
            steps.join("\n")
        ));
    }

    // (b) files.
    let mut by_file: Graph = BTreeMap::new();
    for f in files {
        for r in &f.references {
            if let Some(&target) = file_of.get(r.target.as_str()) {
                if target != f.path && !r.target.is_empty() {
                    by_file
                        .entry(f.path.clone())
                        .or_default()
                        .insert(target.to_owned());
                }
            }
        }
    }
    for cycle in cycles(&by_file) {
        out.push(format!("file cycle: {}", show_cycle(&cycle)));
    }

    // (c) layers.
    for f in files.iter().filter(|f| !f.module.is_empty()) {
        let Some(from) = layer_of(&f.module) else {
            out.push(format!(
                "unlayered: {} ({}) has no entry in LAYERS",
                f.module, f.path
            ));
            continue;
        };
        let mut reported = BTreeSet::new();
        for r in f.references.iter().filter(|r| !r.target.is_empty()) {
            let Some(to) = layer_of(&r.target) else {
                continue;
            };
            if to > from && reported.insert(r.target.clone()) {
                out.push(format!(
                    "upward: {}:{} -> {} ({} layer {from} -> {} layer {to})",
                    f.path, r.line, r.target, LAYER_NAMES[from as usize], LAYER_NAMES[to as usize]
                ));
            }
        }
    }
    out
}

#[test]
fn layering_holds() {
    let files = read_sources();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let found = violations(&files);
    for v in &found {
        println!("{v}");
    }
    assert!(
        found.is_empty(),
        "{} layering violations (listed above)",
        found.len()
    );
}

// ---------------------------------------------------------------------------------------
// Self-checks of the checker (not ignored).

fn graph(edges: &[(&str, &str)]) -> Graph {
    let mut g = Graph::new();
    for (a, b) in edges {
        g.entry((*a).to_owned())
            .or_default()
            .insert((*b).to_owned());
    }
    g
}

#[test]
fn cycle_finder_on_a_small_graph() {
    let g = graph(&[
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("c", "d"),
        ("d", "d"),
        ("e", "f"),
        ("f", "e"),
        ("x", "y"),
    ]);
    let found: Vec<String> = cycles(&g).iter().map(|c| show_cycle(c)).collect();
    assert_eq!(found, vec!["a -> b -> c -> a", "e -> f -> e"]);
    assert!(cycles(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
}

#[test]
fn layer_lookup_takes_the_longest_prefix() {
    assert_eq!(layer_of("schedule"), Some(2));
    assert_eq!(layer_of("schedule::routes_admin"), Some(4));
    assert_eq!(layer_of("store::staff"), Some(1));
    assert_eq!(layer_of("visit::lifecycle"), Some(2));
    assert_eq!(layer_of("visit::hub"), Some(3));
    assert_eq!(layer_of("storefront"), None);
}

#[test]
fn references_skip_comments_strings_and_tests_and_follow_bindings() {
    let modules: BTreeSet<String> = ["", "a", "a::b", "a::b::c", "d", "e"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let resolver = Resolver {
        modules: &modules,
        reexports: BTreeMap::new(),
    };
    let src = r#"
use super::b::c::Thing; // -> a::b::c
use crate::{d, e::X as Y};
use std::fmt;
// crate::e::in_a_comment
fn f() -> &'static str { let _ = '"'; d::go(); fmt::x(); self::c::z(); "crate::e::s" }
#[cfg(test)]
mod tests { use crate::e::Z; }
"#;
    let (code, _) = remove_test_items(&strip_comments_and_literals(src));
    let refs = references(&code, "a::b", &resolver);
    let got: Vec<(usize, &str)> = refs.iter().map(|r| (r.line, r.target.as_str())).collect();
    assert_eq!(
        got,
        vec![(2, "a::b::c"), (3, "e"), (6, "d"), (6, "a::b::c")]
    );
    let (_, children) = remove_test_items("#[cfg(test)]\nmod tests;\n");
    assert_eq!(children, vec!["tests".to_owned()]);
}

#[test]
fn references_follow_reexports_to_where_a_name_is_defined() {
    let modules: BTreeSet<String> = ["", "a", "a::b", "a::c", "d"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut resolver = Resolver {
        modules: &modules,
        reexports: BTreeMap::new(),
    };
    // The façade `a`: its `pub use` lines are edges to what it shows.
    let facade = r#"
pub mod b;
pub(crate) mod c;
pub use b::Thing;
pub(crate) use c::{One, Two as Deux};
pub use self::Loop2 as Loop1;
pub use crate::a::Loop1 as Loop2;
use b::Private;
"#;
    let (facade, _) = remove_test_items(&strip_comments_and_literals(facade));
    let (refs, found) = scan(&facade, "a", &resolver);
    let got: Vec<(usize, &str)> = refs.iter().map(|r| (r.line, r.target.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (4, "a::b"),
            (5, "a::c"),
            (5, "a::c"),
            (6, "a"),
            (7, "a"),
            (8, "a::b")
        ]
    );
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["Thing", "One", "Deux", "Loop1", "Loop2"]);
    for (name, full) in found {
        resolver.reexports.insert(("a".to_owned(), name), full);
    }
    // The crate root re-exports a re-export: chains are followed.
    let root = "pub use a::Thing as RootThing;\n";
    for (name, full) in scan(root, "", &resolver).1 {
        resolver.reexports.insert((String::new(), name), full);
    }
    let src = r#"
use super::Thing;
fn f() { super::Deux::new(); crate::a::One::x(); crate::RootThing::y(); }
fn g() { super::Loop1::z(); super::Private::w(); }
"#;
    let (code, _) = remove_test_items(&strip_comments_and_literals(src));
    let refs = references(&code, "a::c", &resolver);
    let got: Vec<(usize, &str)> = refs.iter().map(|r| (r.line, r.target.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (2, "a::b"),
            (3, "a::c"),
            (3, "a::c"),
            (3, "a::b"),
            // A loop of re-exports stops at the module that starts it; a private `use` is
            // not a re-export.
            (4, "a"),
            (4, "a"),
        ]
    );
}
