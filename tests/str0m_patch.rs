//! The vendored str0m's layout changes on the media hot path (vendor/str0m/CONFER-PATCH.md,
//! "Hot-path layout"): what they must keep and what they must give. str0m's own unit tests
//! are not part of this workspace, so what confer relies on is checked here.

use str0m::media::{Mid, Rid};
use str0m::rtp::{Extension, ExtensionMap, ExtensionSerializer, ExtensionValues};

/// The original conversion (str0m 0.25.0), kept here as the reference: map each character,
/// collect into a `String`, take the first `N` bytes, pad with spaces.
fn reference<const N: usize>(v: &str) -> [u8; N] {
    let v = v
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>();
    let bytes = &v.as_bytes()[..N.min(v.len())];
    let mut array = [b' '; N];
    array[..bytes.len()].copy_from_slice(bytes);
    array
}

fn as_array<const N: usize>(s: &str) -> [u8; N] {
    let mut a = [b' '; N];
    a[..s.len()].copy_from_slice(s.as_bytes());
    a
}

#[test]
fn a_mid_or_rid_from_a_header_reads_as_it_did_before_the_patch() {
    let cases = [
        "",
        "0",
        "1",
        "video",
        "a-b c",
        "ümlaut-é",
        "日本",
        "0123456789abcdefXYZ",
        "0123456789abcde€",
        "tab\tand\nnewline",
        "q",
        "hi",
        "low-resolution",
    ];
    for case in cases {
        let mid = Mid::from(case);
        let expected: [u8; 16] = reference(case);
        let text = std::str::from_utf8(&expected).unwrap().trim();
        assert_eq!(&*mid, text, "mid from {case:?}");
        assert_eq!(
            as_array::<16>(&mid),
            as_array::<16>(text),
            "mid from {case:?}"
        );

        let rid = Rid::from(case);
        let expected: [u8; 8] = reference(case);
        let text = std::str::from_utf8(&expected).unwrap().trim();
        assert_eq!(&*rid, text, "rid from {case:?}");
    }
}

#[test]
fn an_extension_is_two_words_and_a_map_six_cache_lines() {
    // Every RTP packet sent or received scans a leg's extension map (`id_of`, `lookup`,
    // `write_to`); among 100 legs it is read from memory, not from the caches. Boxing the
    // unknown-URI variant's parts keeps it small.
    assert!(std::mem::size_of::<Extension>() <= 16);
    assert!(std::mem::size_of::<ExtensionMap>() <= 6 * 64);
}

/// A user extension that writes nothing and reads nothing.
#[derive(Debug)]
struct Silent;

impl ExtensionSerializer for Silent {
    fn write_to(&self, _buf: &mut [u8], _ev: &ExtensionValues) -> usize {
        0
    }
    fn parse_value(&self, _buf: &[u8], _ev: &mut ExtensionValues) -> bool {
        true
    }
    fn is_video(&self) -> bool {
        true
    }
    fn is_audio(&self) -> bool {
        false
    }
}

#[test]
fn an_unknown_uri_still_maps_reads_and_compares_by_uri() {
    let mut map = ExtensionMap::empty();
    let ext = Extension::with_serializer("urn:example:confer-test", Silent);
    map.set(5, ext.clone());
    map.set(3, Extension::TransportSequenceNumber);
    assert_eq!(map.lookup(5), Some(&ext));
    assert_eq!(
        map.lookup(5).map(|e| e.as_uri()),
        Some("urn:example:confer-test")
    );
    let same_uri = Extension::with_serializer("urn:example:confer-test", Silent);
    assert_eq!(map.id_of(same_uri), Some(5));
    let other = Extension::with_serializer("urn:example:other", Silent);
    assert_eq!(map.id_of(other), None);
    assert_eq!(map.id_of(Extension::TransportSequenceNumber), Some(3));
    assert_eq!(
        map.iter_video().map(|(id, _)| id).collect::<Vec<_>>(),
        [3, 5]
    );
}
