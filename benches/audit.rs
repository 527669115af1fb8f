//! Audit log benchmarks (docs/DESIGN.md invariant 3, audit first): durable appends per second with
//! 1, 8 and 64 concurrent writers, and the time `verify` takes for 1,000,000 entries.
//! Not a test: it prints a table. Run with `cargo bench --bench audit`
//! (`CONFER_BENCH_VERIFY_RECORDS=N` and `CONFER_BENCH_SECS=S` change the sizes).

use confer::audit::{Actor, Audit, AuditRecord};
use confer::config::AuditSection;
use confer::ids::{LawyerId, ParticipantId, VisitId};
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

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn appends_per_sec(writers: usize, secs: u64) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = Audit::open(dir.path(), &AuditSection::default())
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
        t.await.expect("writer");
    }
    let elapsed = started.elapsed().as_secs_f64();
    audit.close().await;
    let n = done.load(Ordering::Relaxed);
    (n as f64 / elapsed, n)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let secs = env_u64("CONFER_BENCH_SECS", 5);
    println!("durable audit appends (SQLite synchronous=FULL, group commit), {secs} s each");
    println!("| writers | appends | appends/s |");
    println!("|--------:|--------:|----------:|");
    for writers in [1, 8, 64] {
        let (rate, n) = rt.block_on(appends_per_sec(writers, secs));
        println!("| {writers:>7} | {n:>7} | {rate:>9.0} |");
    }

    let total = env_u64("CONFER_BENCH_VERIFY_RECORDS", 1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let fill = Instant::now();
    rt.block_on(async {
        let audit = Audit::open(dir.path(), &AuditSection::default())
            .await
            .expect("open audit");
        let mut i = 0;
        while i < total {
            let n = (total - i).min(10_000);
            audit
                .append_all(Actor::System, (i..i + n).map(record).collect())
                .await
                .expect("bulk append");
            i += n;
        }
        audit.close().await;
    });
    let fill = fill.elapsed();
    let db = std::fs::metadata(dir.path().join("audit.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let started = Instant::now();
    let summary = rt
        .block_on(confer::audit::verify_data_dir(dir.path(), None))
        .expect("intact");
    let took = started.elapsed();
    // The same pages read without checking: how much of verify is reading.
    let started = Instant::now();
    let read = rt.block_on(async {
        let path = dir.path().join(confer::store::audit::AUDIT_DB);
        let reader = confer::store::audit::AuditReader::open_read_only(&path)
            .await
            .expect("open");
        let (mut after, mut n) = (0, 0u64);
        loop {
            let page = reader.entries_after(after, 20_000).await.expect("read");
            let Some(last) = page.last() else { break };
            after = last.seq;
            n += page.len() as u64;
        }
        n
    });
    let read_took = started.elapsed();
    println!();
    println!("| verify | records | checkpoints | seconds | records/s | db size |");
    println!("|--------|--------:|------------:|--------:|----------:|--------:|");
    println!(
        "| whole chain | {} | {} | {:.2} | {:.0} | {} MiB |",
        summary.records,
        summary.checkpoints,
        took.as_secs_f64(),
        summary.records as f64 / took.as_secs_f64(),
        db / (1 << 20)
    );
    println!(
        "| reading only | {read} | - | {:.2} | {:.0} | |",
        read_took.as_secs_f64(),
        read as f64 / read_took.as_secs_f64()
    );
    println!(
        "(filling {total} entries in groups of 10,000 took {:.1} s)",
        fill.as_secs_f64()
    );
}
