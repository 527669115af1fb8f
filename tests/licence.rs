//! The lawyer registry, from the outside: importing the registry's export into the local
//! registry, and the HTTP registry client against a real registry server on loopback
//! (`support/registry.rs`), then the verdict a lawyer would get.
//! R-VERIFY-1 (every lawyer checked against the registry; fail closed),
//! R-VERIFY-3 (unknown, someone else's or revoked licences are flagged as impersonation).

#[path = "support/registry.rs"]
mod registry;

use chrono::{NaiveDate, Utc};
use confer::licence::breaker::{BreakerConfig, BreakerPhase};
use confer::licence::cache::CachedRegistry;
use confer::licence::import::{import_file, ImportError};
use confer::licence::local::LocalRegistry;
use confer::licence::remote::{HttpRegistry, HttpRegistryConfig};
use confer::licence::verify::{verify_lookup, HolderMismatch, LawyerClaim, Reason, Verdict};
use confer::licence::{
    HolderIdHash, LicenceNumber, LicenceRegistry, PractisingStatus, RegistryError,
};
use confer::store::Store;
use registry::{Behaviour, TestRegistry};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn licence(n: &str) -> LicenceNumber {
    n.parse().expect("licence number")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    (dir, store)
}

fn hash_of(n: u32) -> String {
    HolderIdHash::of_id_number(&registry::sample_id_number(n)).to_string()
}

const HEADER: &str =
    "licence_number,holder_name,holder_id_hash,law_firm,status,valid_until,data_as_of\n";

fn csv_row(licence: &str, status: &str, as_of: &str) -> String {
    format!(
        "{licence},张三,{},\"北京市明德律师事务所\",{status},2099-12-31,{as_of}\n",
        hash_of(1)
    )
}

// --- the local registry: import (`confer registry import`) ---

/// R-VERIFY-1: the registry's export becomes the local registry lawyers are checked against.
#[tokio::test]
async fn a_good_csv_export_fills_the_local_registry() {
    let (dir, store) = store().await;
    let text = format!(
        "{HEADER}{}{}",
        csv_row("11111111111111111", "practising", "2026-11-27T04:00:00Z"),
        csv_row("22222222222222222", "suspended", "2026-11-27T04:00:00Z")
    );
    let report = import_file(&store, &write(dir.path(), "export.csv", &text))
        .await
        .unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(report.counts.inserted, 2);
    let local = LocalRegistry::new(store.clone());
    let record = local
        .lookup(&licence("11111111111111111"))
        .await
        .unwrap()
        .expect("imported");
    assert_eq!(record.holder_name, "张三");
    assert_eq!(record.status, PractisingStatus::Practising);
    assert_eq!(
        local
            .lookup(&licence("22222222222222222"))
            .await
            .unwrap()
            .unwrap()
            .status,
        PractisingStatus::Suspended
    );
    assert_eq!(local.lookup(&licence("99999999999999999")).await, Ok(None));
}

#[tokio::test]
async fn a_good_json_lines_export_fills_the_local_registry() {
    let (dir, store) = store().await;
    // No extension: the format is recognised by its content.
    let path = write(dir.path(), "export", &registry::sample_jsonl());
    let report = import_file(&store, &path).await.unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(
        report.format,
        confer::licence::import::ImportFormat::JsonLines
    );
    let local = LocalRegistry::new(store);
    let revoked = local
        .lookup(&licence(registry::REVOKED))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.status, PractisingStatus::Revoked);
    assert_eq!(revoked.law_firm, registry::FIRM);
}

/// Nothing is half-imported: one bad row, and the store is as it was.
#[tokio::test]
async fn a_bad_csv_row_imports_nothing_and_names_its_line() {
    let (dir, store) = store().await;
    let text = format!(
        "{HEADER}{}{}{}",
        csv_row("11111111111111111", "practising", "2026-11-27T04:00:00Z"),
        csv_row("22222222222222222", "on holiday", "2026-11-27T04:00:00Z"),
        csv_row("3333", "practising", "2026-11-27T04:00:00Z"),
    );
    let err = import_file(&store, &write(dir.path(), "export.csv", &text))
        .await
        .unwrap_err();
    let ImportError::BadRows { rows, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4]);
    assert!(rows[0].reason.contains("status"), "{}", rows[0].reason);
    assert!(
        rows[1].reason.contains("licence_number"),
        "{}",
        rows[1].reason
    );
    let message = err.to_string();
    assert!(
        message.contains("line 3:")
            && message.contains("line 4:")
            && message.contains("nothing was imported")
    );
    assert_eq!(
        store.count_registry_records().await.unwrap(),
        0,
        "the good row was not imported either"
    );
}

#[tokio::test]
async fn a_bad_json_line_imports_nothing_and_names_its_line() {
    let (dir, store) = store().await;
    let text = format!(
        "{}{{\"licence_number\": \"12345678901234567\"}}\n",
        registry::sample_jsonl()
    );
    let err = import_file(&store, &write(dir.path(), "export.jsonl", &text))
        .await
        .unwrap_err();
    let ImportError::BadRows { rows, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 6);
    assert!(
        rows[0].reason.contains("holder_name is missing"),
        "{}",
        rows[0].reason
    );
    assert_eq!(store.count_registry_records().await.unwrap(), 0);
}

/// Re-importing a newer export updates statuses; a failed re-import changes nothing.
#[tokio::test]
async fn reimport_updates_statuses_and_a_failed_one_changes_nothing() {
    let (dir, store) = store().await;
    let first = format!(
        "{HEADER}{}{}",
        csv_row("11111111111111111", "practising", "2026-11-26T04:00:00Z"),
        csv_row("22222222222222222", "practising", "2026-11-26T04:00:00Z")
    );
    import_file(&store, &write(dir.path(), "first.csv", &first))
        .await
        .unwrap();

    let broken = format!(
        "{HEADER}{}{}",
        csv_row("11111111111111111", "revoked", "2026-11-27T04:00:00Z"),
        "22222222222222222,broken\n"
    );
    assert!(
        import_file(&store, &write(dir.path(), "broken.csv", &broken))
            .await
            .is_err()
    );
    let local = LocalRegistry::new(store.clone());
    assert_eq!(
        local
            .lookup(&licence("11111111111111111"))
            .await
            .unwrap()
            .unwrap()
            .status,
        PractisingStatus::Practising,
        "the failed import changed nothing"
    );

    let second = format!(
        "{HEADER}{}{}",
        csv_row("11111111111111111", "suspended", "2026-11-27T04:00:00Z"),
        csv_row("22222222222222222", "practising", "2026-11-27T04:00:00Z")
    );
    let report = import_file(&store, &write(dir.path(), "second.csv", &second))
        .await
        .unwrap();
    assert_eq!(
        (
            report.counts.inserted,
            report.counts.updated,
            report.counts.status_changed
        ),
        (0, 1, 1)
    );
    assert_eq!(report.counts.unchanged, 1);
    assert_eq!(
        local
            .lookup(&licence("11111111111111111"))
            .await
            .unwrap()
            .unwrap()
            .status,
        PractisingStatus::Suspended
    );

    // An older export cannot undo the suspension.
    let old = format!(
        "{HEADER}{}",
        csv_row("11111111111111111", "practising", "2026-11-20T04:00:00Z")
    );
    let report = import_file(&store, &write(dir.path(), "old.csv", &old))
        .await
        .unwrap();
    assert_eq!(report.counts.skipped_older, 1);
    assert_eq!(
        local
            .lookup(&licence("11111111111111111"))
            .await
            .unwrap()
            .unwrap()
            .status,
        PractisingStatus::Suspended
    );
}

#[tokio::test]
async fn empty_and_missing_exports_are_errors() {
    let (dir, store) = store().await;
    let empty = import_file(&store, &write(dir.path(), "empty.csv", HEADER)).await;
    assert!(matches!(empty, Err(ImportError::Empty { .. })), "{empty:?}");
    let missing = import_file(&store, &dir.path().join("nope.csv")).await;
    assert!(
        matches!(missing, Err(ImportError::Read { .. })),
        "{missing:?}"
    );
}

/// R-VERIFY-1 (fail closed): a local registry whose store cannot be read gives no answer,
/// never "unknown licence".
#[tokio::test]
async fn an_unreadable_local_registry_is_unavailable() {
    let (dir, store) = store().await;
    import_file(
        &store,
        &write(dir.path(), "export.jsonl", &registry::sample_jsonl()),
    )
    .await
    .unwrap();
    let local = LocalRegistry::new(store.clone());
    store.close().await;
    let got = local.lookup(&licence(registry::PRACTISING)).await;
    assert!(matches!(got, Err(RegistryError::Unavailable(_))), "{got:?}");
}

// --- the HTTP registry client against a real registry server ---

async fn registry_server() -> (tempfile::TempDir, TestRegistry) {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "registry.jsonl", &registry::sample_jsonl());
    let server = TestRegistry::start(&data).await;
    (dir, server)
}

fn client(config: HttpRegistryConfig) -> HttpRegistry {
    HttpRegistry::new(config).expect("registry client")
}

#[tokio::test]
async fn a_known_licence_is_answered_over_https() {
    let (_d, server) = registry_server().await;
    let registry = client(server.client_config());
    let record = registry
        .lookup(&licence(registry::PRACTISING))
        .await
        .unwrap()
        .expect("known");
    assert_eq!(record.licence, licence(registry::PRACTISING));
    assert_eq!(
        record.holder_name,
        registry::sample_name(registry::PRACTISING)
    );
    assert_eq!(record.holder_id_hash.to_string(), hash_of(1));
    assert_eq!(record.law_firm, registry::FIRM);
    assert_eq!(record.status, PractisingStatus::Practising);
    assert_eq!(
        record.valid_until,
        NaiveDate::from_ymd_opt(2099, 12, 31).unwrap()
    );
    assert_eq!(record.data_as_of.to_rfc3339(), "2026-11-27T04:00:00+00:00");
}

#[tokio::test]
async fn an_unknown_licence_is_a_definite_no() {
    let (_d, server) = registry_server().await;
    let registry = client(server.client_config());
    assert_eq!(registry.lookup(&licence(registry::UNKNOWN)).await, Ok(None));
}

#[tokio::test]
async fn a_status_change_at_the_registry_is_seen_by_the_next_lookup() {
    let (_d, server) = registry_server().await;
    let registry = client(server.client_config());
    server.set_status(registry::PRACTISING, "suspended");
    let record = registry
        .lookup(&licence(registry::PRACTISING))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, PractisingStatus::Suspended);
}

#[tokio::test]
async fn the_plain_http_registry_needs_the_dangerous_switch() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestRegistry::start_plain(&write(dir.path(), "r.jsonl", &registry::sample_jsonl())).await;
    let registry = client(server.client_config());
    assert!(registry
        .lookup(&licence(registry::PRACTISING))
        .await
        .unwrap()
        .is_some());
    let refused = HttpRegistry::new(HttpRegistryConfig {
        dangerous_plain_http: false,
        ..server.client_config()
    });
    assert!(refused.is_err());
}

/// R-VERIFY-1 (fail closed): a registry slower than the timeout gives no answer.
#[tokio::test]
async fn a_slow_registry_times_out() {
    let (_d, server) = registry_server().await;
    let registry = client(HttpRegistryConfig {
        timeout: Duration::from_millis(300),
        ..server.client_config()
    });
    server.set_behaviour(Behaviour::Slow(Duration::from_secs(30)));
    assert_eq!(
        registry.lookup(&licence(registry::PRACTISING)).await,
        Err(RegistryError::Timeout)
    );
    server.set_behaviour(Behaviour::Hang);
    assert_eq!(
        registry.lookup(&licence(registry::PRACTISING)).await,
        Err(RegistryError::Timeout)
    );
}

#[tokio::test]
async fn error_statuses_mean_unavailable_never_unknown() {
    let (_d, server) = registry_server().await;
    let registry = client(server.client_config());
    for code in [500, 502, 503, 429, 403, 302] {
        server.set_behaviour(Behaviour::Status(code));
        let got = registry.lookup(&licence(registry::PRACTISING)).await;
        assert!(
            matches!(got, Err(RegistryError::Unavailable(_))),
            "{code}: {got:?}"
        );
    }
    // A 404 that is not the registry's "unknown licence" (a wrong base URL) must not turn
    // lawyers into impostors.
    server.set_behaviour(Behaviour::BareNotFound);
    let got = registry.lookup(&licence(registry::PRACTISING)).await;
    assert!(matches!(got, Err(RegistryError::Unavailable(_))), "{got:?}");
}

#[tokio::test]
async fn garbage_answers_are_garbage_and_not_retried() {
    let (_d, server) = registry_server().await;
    let registry = client(HttpRegistryConfig {
        retries: 2,
        ..server.client_config()
    });
    server.set_behaviour(Behaviour::Garbage);
    let got = registry.lookup(&licence(registry::PRACTISING)).await;
    assert!(matches!(got, Err(RegistryError::Garbage(_))), "{got:?}");
    assert_eq!(server.requests(), 1);
    server.set_behaviour(Behaviour::WrongRecord);
    let got = registry.lookup(&licence(registry::PRACTISING)).await;
    assert!(
        matches!(got, Err(RegistryError::Garbage(_))),
        "a record of another licence: {got:?}"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let (_d, server) = registry_server().await;
    let registry = client(HttpRegistryConfig {
        retries: 2,
        ..server.client_config()
    });
    server.fail_next(2);
    assert!(registry
        .lookup(&licence(registry::PRACTISING))
        .await
        .unwrap()
        .is_some());
    assert_eq!(server.requests(), 3, "two failures, then the answer");
    server.fail_next(3);
    let got = registry.lookup(&licence(registry::PRACTISING)).await;
    assert!(
        matches!(got, Err(RegistryError::Unavailable(_))),
        "retries are bounded: {got:?}"
    );
    assert_eq!(server.requests(), 6);
}

#[tokio::test]
async fn a_registry_with_a_certificate_from_another_ca_is_unavailable() {
    let (_d, server) = registry_server().await;
    let other_ca = confer_certs::DevCa::generate("someone else").unwrap();
    let registry = client(HttpRegistryConfig {
        ca_pem: Some(other_ca.cert_pem().as_bytes().to_vec()),
        ..server.client_config()
    });
    let got = registry.lookup(&licence(registry::PRACTISING)).await;
    assert!(matches!(got, Err(RegistryError::Unavailable(_))), "{got:?}");
    assert_eq!(
        server.requests(),
        0,
        "no request without a trusted certificate"
    );
}

/// Polls `f` every 50 ms until it is true; gives up after 20 s (never asserts speed).
async fn eventually(mut f: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..400 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_and_half_opens_later() {
    let (_d, server) = registry_server().await;
    let registry = client(HttpRegistryConfig {
        breaker: BreakerConfig {
            failure_threshold: 2,
            open_for: Duration::from_secs(2),
        },
        ..server.client_config()
    });
    server.set_behaviour(Behaviour::Status(500));
    for _ in 0..2 {
        let got = registry.lookup(&licence(registry::PRACTISING)).await;
        assert!(matches!(got, Err(RegistryError::Unavailable(_))), "{got:?}");
    }
    assert_eq!(registry.breaker_phase(), BreakerPhase::Open);
    assert_eq!(
        registry.lookup(&licence(registry::PRACTISING)).await,
        Err(RegistryError::CircuitOpen)
    );
    assert_eq!(server.requests(), 2, "an open circuit sends nothing");

    // Half-open: one probe goes; it fails, and the circuit opens again.
    assert!(eventually(async || registry.breaker_phase() == BreakerPhase::HalfOpen).await);
    let got = registry.lookup(&licence(registry::PRACTISING)).await;
    assert!(
        matches!(got, Err(RegistryError::Unavailable(_))),
        "the probe reached the registry: {got:?}"
    );
    assert_eq!(server.requests(), 3);
    assert_eq!(registry.breaker_phase(), BreakerPhase::Open);

    // The registry recovers: the next probe closes the circuit.
    server.set_behaviour(Behaviour::Normal);
    assert!(eventually(async || registry.breaker_phase() == BreakerPhase::HalfOpen).await);
    assert!(registry
        .lookup(&licence(registry::PRACTISING))
        .await
        .unwrap()
        .is_some());
    assert_eq!(registry.breaker_phase(), BreakerPhase::Closed);
}

// --- verdicts: what the lawyer is told ---

fn claim(licence_number: &str, n: u32) -> LawyerClaim {
    LawyerClaim {
        licence: licence(licence_number),
        holder_name: registry::sample_name(licence_number),
        holder_id_hash: HolderIdHash::of_id_number(&registry::sample_id_number(n)),
        law_firm: registry::FIRM.to_owned(),
    }
}

/// R-VERIFY-1 and R-VERIFY-3 end to end: every verdict from answers of a real registry.
#[tokio::test]
async fn every_verdict_from_a_real_registry() {
    let (_d, server) = registry_server().await;
    let registry = client(server.client_config());
    let today = Utc::now().date_naive();
    let someone_else = LawyerClaim {
        holder_name: "冒名者".into(),
        ..claim(registry::PRACTISING, 1)
    };
    let other_firm = LawyerClaim {
        law_firm: "上海市另一律师事务所".into(),
        ..claim(registry::PRACTISING, 1)
    };
    let cases = [
        (claim(registry::PRACTISING, 1), None),
        (claim(registry::SUSPENDED, 2), Some(Reason::Suspended)),
        (claim(registry::REVOKED, 3), Some(Reason::Revoked)),
        (claim(registry::CANCELLED, 4), Some(Reason::Cancelled)),
        (claim(registry::EXPIRED, 5), Some(Reason::Expired)),
        (claim(registry::UNKNOWN, 6), Some(Reason::UnknownLicence)),
        (
            someone_else,
            Some(Reason::NotTheHolder(HolderMismatch::Name)),
        ),
        (
            claim(registry::PRACTISING, 7),
            Some(Reason::NotTheHolder(HolderMismatch::IdNumber)),
        ),
        (other_firm, Some(Reason::FirmMismatch)),
    ];
    for (claim, expect) in cases {
        let lookup = registry.lookup(&claim.licence).await;
        let verdict = verify_lookup(&lookup, &claim, today);
        assert_eq!(verdict.reason(), expect, "{claim:?}");
    }
    // R-VERIFY-3: these three are flagged for staff.
    for reason in [
        Reason::UnknownLicence,
        Reason::NotTheHolder(HolderMismatch::Name),
        Reason::Revoked,
    ] {
        assert!(reason.is_possible_impersonation());
    }
}

/// R-VERIFY-1: registry down means no automatic admission, and the lawyer is told that staff
/// can verify by hand.
#[tokio::test]
async fn registry_down_refuses_with_the_verify_by_hand_reason() {
    let (_d, server) = registry_server().await;
    let registry = client(server.client_config());
    server.set_behaviour(Behaviour::Status(503));
    let c = claim(registry::PRACTISING, 1);
    let verdict = verify_lookup(
        &registry.lookup(&c.licence).await,
        &c,
        Utc::now().date_naive(),
    );
    assert_eq!(verdict, Verdict::Refused(Reason::RegistryUnavailable));
    assert!(Reason::RegistryUnavailable
        .message_en()
        .contains("verify your licence by hand"));
    assert!(Reason::RegistryUnavailable
        .message_zh()
        .contains("人工核验"));
}

/// R-VERIFY-1: positive answers are cached for the TTL, and a suspension is seen once it passes.
#[tokio::test]
async fn a_suspension_reaches_a_cached_lookup_within_the_ttl() {
    let (_d, server) = registry_server().await;
    let ttl = Duration::from_millis(500);
    let registry = CachedRegistry::new(client(server.client_config()), ttl);
    let c = claim(registry::PRACTISING, 1);
    let today = Utc::now().date_naive();
    // The registry's data is current (set_status refreshes data_as_of), so its positive
    // answer may be reused; a second lookup within the TTL is answered from the cache.
    server.set_status(registry::PRACTISING, "practising");
    assert!(verify_lookup(&registry.lookup(&c.licence).await, &c, today).is_verified());
    assert!(verify_lookup(&registry.lookup(&c.licence).await, &c, today).is_verified());
    assert_eq!(server.requests(), 1);
    server.set_status(registry::PRACTISING, "suspended");
    assert!(
        eventually(async || {
            verify_lookup(&registry.lookup(&c.licence).await, &c, today)
                == Verdict::Refused(Reason::Suspended)
        })
        .await,
        "the suspension arrives once the cached answer expires"
    );
    let requests = server.requests();
    assert!(requests >= 2);
    // Negative answers are not cached: every lookup asks the registry again.
    registry.lookup(&c.licence).await.unwrap();
    assert_eq!(server.requests(), requests + 1);
}

/// R-VERIFY-1: a positive answer resting on registry data older than the maximum age is
/// never reused, so an outage cannot admit on it.
#[tokio::test]
async fn an_answer_on_stale_registry_data_is_not_reused_from_the_cache() {
    let (_d, server) = registry_server().await;
    let registry = CachedRegistry::new(client(server.client_config()), Duration::from_secs(600))
        .with_max_data_age(Duration::from_secs(3600));
    // The sample export's data_as_of is a fixed day in the past: older than one hour.
    let c = claim(registry::PRACTISING, 1);
    let today = Utc::now().date_naive();
    assert!(verify_lookup(&registry.lookup(&c.licence).await, &c, today).is_verified());
    assert!(verify_lookup(&registry.lookup(&c.licence).await, &c, today).is_verified());
    assert_eq!(
        server.requests(),
        2,
        "each lookup asked the registry itself"
    );
}
