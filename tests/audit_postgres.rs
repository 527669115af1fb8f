//! The audit chain on PostgreSQL with several writers (docs/DESIGN.md invariant 3 and
//! "The store's two backends"): four `Audit` handles on one database stand for four
//! confer nodes, each with its own writer task and group commit; 64 writers append
//! through them at once. The deployment still has one gapless sequence and one hash
//! chain, every receipt names a distinct entry, and `confer audit verify --store-url`
//! finds the chain intact. Under `CI=true` a missing PostgreSQL fails.
//!
//! `audit_appends_per_second_on_postgres` (ignored) prints the figure for 1, 8 and 64
//! writers, the same shape as `cargo bench --bench audit` prints for SQLite:
//! `cargo test --release --test audit_postgres -- --ignored --nocapture`.

#[path = "support/pg.rs"]
mod pg;

use confer::audit::{Actor, Audit, AuditRecord};
use confer::config::AuditSection;
use confer::ids::{LawyerId, ParticipantId, VisitId};
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn record(i: u64) -> AuditRecord {
    AuditRecord::JoinTokenIssued {
        visit: VisitId((i % 1000) as i64),
        participant: ParticipantId::Lawyer(LawyerId((i % 97) as i64)),
        token_id: format!("{i:032x}"),
    }
}

fn config() -> AuditSection {
    AuditSection {
        // Checkpoints fall due in the middle of the run, from whichever node seals.
        checkpoint_every_records: 100,
        append_timeout_ms: 30_000,
        ..AuditSection::default()
    }
}

/// `nodes` audit handles on one PostgreSQL database (one signing key: one data dir).
async fn nodes(data_dir: &Path, url: &str, nodes: usize) -> Vec<Audit> {
    let mut out = Vec::new();
    for _ in 0..nodes {
        out.push(
            Audit::open_configured(data_dir, Some(url), &config())
                .await
                .expect("open the audit chain on PostgreSQL"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_writers_on_four_nodes_keep_one_gapless_chain() {
    let Some(url) = pg::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let audits = nodes(dir.path(), &url, 4).await;
    const WRITERS: u64 = 64;
    const EACH: u64 = 12;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let audit = audits[(w % 4) as usize].clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                // Some appends carry two records (one transaction, consecutive seqs).
                let receipt = if i % 4 == 0 {
                    audit
                        .append_all(
                            Actor::System,
                            vec![record(w * 1000 + i), record(w * 1000 + i + 500)],
                        )
                        .await
                } else {
                    audit.append(Actor::System, record(w * 1000 + i)).await
                }
                .expect("durable append");
                seqs.push(receipt.seq);
            }
            seqs
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for seq in t.await.unwrap() {
            assert!(seen.insert(seq), "two appends got receipt seq {seq}");
        }
    }
    for a in &audits {
        a.close().await;
    }
    let total = WRITERS * (EACH + EACH.div_ceil(4));
    // Verified offline, as an operator would: the binary, the data dir (the key) and the
    // store URL. Verify checks seq gaplessness, every hash link and every checkpoint.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path())
        .args(["--store-url", &url])
        .output()
        .expect("run confer audit verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "audit log intact: {total} records (seq 1..={total})"
        )),
        "{text}"
    );
    // The same through the library, with the summary's numbers.
    let s = confer::audit::verify_configured(dir.path(), Some(&url), None)
        .await
        .expect("intact");
    assert_eq!((s.first_seq, s.records), (1, total));
    assert!(s.checkpoints >= total / 100, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_continues_the_chain_another_node_extended() {
    let Some(url) = pg::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = nodes(dir.path(), &url, 1).await.remove(0);
    let b = nodes(dir.path(), &url, 1).await.remove(0);
    // `a` read the head at start; `b` then appends: `a` must seal onto b's entries.
    assert_eq!(a.append(Actor::System, record(1)).await.unwrap().seq, 1);
    assert_eq!(b.append(Actor::System, record(2)).await.unwrap().seq, 2);
    assert_eq!(b.append(Actor::System, record(3)).await.unwrap().seq, 3);
    let r = a.append(Actor::System, record(4)).await.unwrap();
    assert_eq!(r.seq, 4);
    a.close().await;
    b.close().await;
    let s = confer::audit::verify_configured(dir.path(), Some(&url), None)
        .await
        .expect("intact");
    assert_eq!((s.records, s.head_hash.to_vec()), (4, r.hash.to_vec()));
}

async fn appends_per_sec(url: &str, writers: usize, secs: u64) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let audit = Audit::open_configured(dir.path(), Some(url), &AuditSection::default())
        .await
        .expect("open audit");
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (audit, done) = (audit.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w as u64;
            while Instant::now() < stop {
                audit
                    .append(Actor::System, record(i))
                    .await
                    .expect("durable append");
                done.fetch_add(1, Ordering::Relaxed);
                i += writers as u64;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    audit.close().await;
    let n = done.load(Ordering::Relaxed);
    (n as f64 / elapsed, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure, not a test: run with --ignored --nocapture"]
async fn audit_appends_per_second_on_postgres() {
    let secs: u64 = std::env::var("CONFER_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    println!("audit appends on PostgreSQL (fsync on, one node, group commit), {secs} s each:");
    println!("{:>8} {:>14} {:>10}", "writers", "appends/s", "appends");
    for writers in [1, 8, 64] {
        let url = pg::database().await.expect("PostgreSQL");
        let (rate, n) = appends_per_sec(&url, writers, secs).await;
        println!("{writers:>8} {rate:>14.0} {n:>10}");
    }
}
