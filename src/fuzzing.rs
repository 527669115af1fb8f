//! Entry points for the fuzz targets (`fuzz/`) and their seed-corpus replay
//! (`tests/fuzz_replay.rs`): each takes arbitrary bytes and drives one input path of the
//! server the way the network or a facility file reaches it, with no socket and no store.
//! Only in builds with the `fuzzing` feature; not part of the production API.
//!
//! Every function must return for any input: a panic here is a finding (bad network or
//! file input never panics the server). Where the result has an invariant that holds for
//! any input (an encoded message decodes to itself), it is asserted.

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use ring::hmac;
use rustls::pki_types::{CertificateDer, UnixTime};

use crate::auth::booth::BoothVerifier;
use crate::auth::token::JoinTokens;
use crate::documents::content::{check_upload, MediaType};
use crate::licence::import::{detect_format, parse, ImportFormat};
use crate::model::licence::LicenceNumber;
use crate::visit::resume::{valid_device_id, DeviceBinding};

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name of their `fuzz/fuzz_targets/<name>.rs` and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("signaling_codec", signaling_codec),
    ("tokens", tokens),
    ("registry_answer", registry_answer),
    ("import_csv", import_csv),
    ("import_jsonl", import_jsonl),
    ("upload_sniff", upload_sniff),
    ("booth_cert", booth_cert),
    ("sdp_offer", sdp_offer),
];

/// The signalling codec (R-PRIV-1: what a client or server may send on `/ws`): decode as
/// either side; what decodes re-encodes to text that decodes to the same message.
pub fn signaling_codec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = confer_signaling::decode_client(text) {
        let again = confer_signaling::decode_client(&confer_signaling::encode_client(&msg))
            .expect("an encoded client message decodes");
        assert!(again == msg, "client message changed in a round trip");
    }
    if let Ok(msg) = confer_signaling::decode_server(text) {
        let again = confer_signaling::decode_server(&confer_signaling::encode_server(&msg))
            .expect("an encoded server message decodes");
        assert!(again == msg, "server message changed in a round trip");
    }
}

const TOKEN_KEY: [u8; 32] = [7; 32];

/// Join tokens as presented on `/ws` (the bytes as the token), and tokens carrying the bytes
/// as a correctly signed body (so the claims parse is reached past the HMAC); resume tokens'
/// device binding and device id check.
pub fn tokens(data: &[u8]) {
    let tokens = JoinTokens::new(&TOKEN_KEY, std::time::Duration::from_secs(120));
    let now = Utc
        .timestamp_opt(1_800_000_000, 0)
        .single()
        .expect("a valid time");
    let text = String::from_utf8_lossy(data);
    let _ = tokens.verify(&text, now);

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let signed = format!("v1.{}", URL_SAFE_NO_PAD.encode(data));
    let key = hmac::Key::new(hmac::HMAC_SHA256, &TOKEN_KEY);
    let tag = hmac::sign(&key, signed.as_bytes());
    let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    if let Ok(claims) = tokens.verify(&token, now) {
        assert!(claims.exp > now.timestamp(), "an expired token verified");
        let _ = claims.expires_at();
    }

    let _ = valid_device_id(&text);
    let _ = DeviceBinding::new(Some(data), Some(&text));
    let _ = DeviceBinding::new(None, Some(&text));
}

/// The licence registry's HTTP answer body (R-VERIFY-1), as an HTTP 200 and as a 404.
pub fn registry_answer(data: &[u8]) {
    let licence: LicenceNumber = "11010199010112345".parse().expect("a licence number");
    for not_found in [false, true] {
        if let Ok(Some(record)) = crate::licence::remote::parse_answer(not_found, data, &licence) {
            assert!(record.licence == licence, "a record of another licence");
        }
    }
}

/// The registry export import (R-VERIFY-1), CSV.
pub fn import_csv(data: &[u8]) {
    let _ = parse(data, ImportFormat::Csv);
    let _ = detect_format(std::path::Path::new("export.csv"), data);
}

/// The registry export import (R-VERIFY-1), JSON lines.
pub fn import_jsonl(data: &[u8]) {
    let _ = parse(data, ImportFormat::JsonLines);
    let _ = detect_format(std::path::Path::new("export.jsonl"), data);
}

/// Upload sniffing (R-ARRANGE-1): what is accepted is what the magic bytes say.
pub fn upload_sniff(data: &[u8]) {
    let sniffed = MediaType::sniff(data);
    if let Ok(kind) = check_upload(data) {
        assert_eq!(Some(kind), sniffed, "accepted as another type");
    }
}

/// A facility CA and a verifier of it, made once per process.
fn booth_verifier() -> &'static BoothVerifier {
    static VERIFIER: OnceLock<BoothVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let ca = confer_certs::DevCa::generate("fuzz facility CA").expect("a CA");
        BoothVerifier::from_ca_pem(ca.cert_pem().as_bytes()).expect("a verifier")
    })
}

/// Booth certificates (R-VERIFY-4): the bytes as a presented chain (split on a 0xFF 0x00
/// marker, end entity first) verified against a facility CA, the bytes as a facility CA file,
/// the identity read from the bytes as a certificate, and the bytes as a CRL file.
pub fn booth_cert(data: &[u8]) {
    let chain: Vec<CertificateDer<'static>> = split(data)
        .into_iter()
        .map(|part| CertificateDer::from(part.to_vec()))
        .collect();
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000));
    let _ = booth_verifier().verify(&chain, now);
    let _ = BoothVerifier::from_ca_pem(data);
    let _ = crate::auth::booth::fuzz_identity_of(data);
    let _ = crate::auth::revocation::crl_serials(data, &[]);
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(2).position(|w| w == [0xFF, 0x00]) {
        parts.push(&rest[..at]);
        rest = &rest[at + 2..];
    }
    parts.push(rest);
    parts
}

/// The SDP offer path into the media plane (R-REMOTE-2): str0m's parse and our answer.
pub fn sdp_offer(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(answer) = crate::media::answer_offer_for_fuzzing(text) {
        assert!(answer.starts_with("v=0"), "an answer that is not SDP");
    }
}
