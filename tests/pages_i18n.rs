//! The pages' message catalogues and test hooks, without a browser.
//!
//! - Chinese first, English second: one catalogue per language (`i18n-zh-CN.js`,
//!   `i18n-en.js`) with exactly the same keys and the same `{placeholders}`; every key a
//!   page uses (`data-i18n="..."` in the HTML, `t('...')` in the scripts) is in both; the
//!   Chinese catalogue really is Chinese.
//! - R-PRIV-1 (no page globals in production): this test build serves the pages with the
//!   test-hooks marker (the suite turns `test-hooks` on); a build without the feature
//!   serves them without it (`confer-signaling`'s unit tests, web_marker.rs, check that
//!   branch).

use std::collections::{BTreeMap, BTreeSet};

fn web(name: &str) -> String {
    let asset = confer_signaling::web::ASSETS
        .iter()
        .find(|a| a.file == name)
        .unwrap_or_else(|| panic!("no served asset {name}"));
    asset.body.to_owned()
}

/// `'key': 'text',` lines of a catalogue, as key -> text.
fn catalogue(name: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in web(name).lines() {
        let l = line.trim();
        let Some(rest) = l.strip_prefix('\'') else {
            continue;
        };
        let (key, value) = rest.split_once("': ").expect("one `'key': text,` per line");
        let value = value.trim_end_matches(',');
        let text = value[1..value.len() - 1].to_owned();
        assert!(
            out.insert(key.to_owned(), text).is_none(),
            "{name}: {key} twice"
        );
    }
    assert!(out.len() > 50, "{name}: only {} entries", out.len());
    out
}

fn placeholders(text: &str) -> BTreeSet<String> {
    text.split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_owned()))
        .collect()
}

/// Every value of `attr="..."` in `text`.
fn attribute_values(text: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    text.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &text[i + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// Every literal key of `t('...'` calls in `text`.
fn t_calls(text: &str) -> Vec<String> {
    text.match_indices("t('")
        .filter(|(i, _)| {
            *i == 0
                || !text.as_bytes()[i - 1].is_ascii_alphanumeric() && text.as_bytes()[i - 1] != b'_'
        })
        .filter_map(|(i, _)| {
            let rest = &text[i + 3..];
            rest.find('\'').map(|end| rest[..end].to_owned())
        })
        .collect()
}

#[test]
fn both_catalogues_have_the_same_keys_and_placeholders() {
    let zh = catalogue("i18n-zh-CN.js");
    let en = catalogue("i18n-en.js");
    let zh_keys: BTreeSet<_> = zh.keys().collect();
    let en_keys: BTreeSet<_> = en.keys().collect();
    assert_eq!(
        zh_keys.symmetric_difference(&en_keys).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "keys in one catalogue only"
    );
    for (key, text) in &zh {
        assert_eq!(placeholders(text), placeholders(&en[key]), "{key}");
        // Chinese first: every Chinese sentence has Chinese in it (not an English copy).
        assert!(
            text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) || key == "conn.new",
            "zh-CN {key} = {text:?} has no Chinese"
        );
    }
    println!("{} keys in each catalogue", zh.len());
}

#[test]
fn every_key_the_pages_use_is_in_the_catalogues() {
    let zh = catalogue("i18n-zh-CN.js");
    let mut used = BTreeSet::new();
    for a in confer_signaling::web::ASSETS {
        if a.file.ends_with(".html") {
            for attr in [
                "data-i18n",
                "data-i18n-aria-label",
                "data-i18n-title",
                "data-i18n-doc",
            ] {
                used.extend(attribute_values(a.body, attr));
            }
        } else if a.file.ends_with(".js") && !a.file.starts_with("i18n-") {
            used.extend(t_calls(a.body));
        }
    }
    assert!(used.len() > 40, "only {} keys found in use", used.len());
    for key in &used {
        assert!(
            zh.contains_key(key),
            "the pages use `{key}`, not in the catalogues"
        );
    }
}

#[test]
fn pages_declare_chinese_and_offer_the_switch() {
    for page in ["lawyer.html", "booth.html", "index.html"] {
        let html = web(page);
        assert!(html.contains("<html lang=\"zh-CN\">"), "{page}");
        assert!(
            html.contains("id=\"lang-switch\""),
            "{page}: no language switch"
        );
    }
}

#[test]
fn this_test_build_marks_its_pages_for_the_test_hooks() {
    // The suite depends on confer with `test-hooks`, which turns on confer-signaling's.
    const { assert!(confer_signaling::web_marker::PAGES_HAVE_TEST_HOOKS) };
    for page in ["lawyer.html", "booth.html"] {
        assert!(
            web(page).contains(confer_signaling::web_marker::TEST_HOOKS_META),
            "{page}"
        );
    }
}
