//! The tamper-evident audit log (docs/DESIGN.md invariant 3, "audit first").
//!
//! What it owns: the typed records ([`AuditRecord`], ids only), their canonical form and
//! hash chain ([`chain`]), signed checkpoints (Ed25519, key under `<data-dir>/keys/`), the
//! single writer task with group commit, the audit health flag, and offline verification
//! and export (`confer audit verify|export`). SQL is in `crate::store::audit`.
//!
//! What it does not do: decide anything (callers record their decisions, then act), store
//! names, licence numbers, addresses or content, or ever delete an entry (retention,
//! `[audit] retention_days`, only says how long entries must at least be kept).
//!
//! # Audit first
//!
//! [`Audit::append`] resolves only after the entry is durably committed (SQLite
//! `synchronous=FULL` transaction commit in `<data-dir>/audit.db`). A caller that is
//! about to admit media, stop a visit, or record a manual verification appends first and
//! acts only on `Ok`. When the append fails or takes longer than
//! `[audit] append_timeout_ms`, it returns an error, the audit health flag goes down and
//! `/healthz` answers 503 naming `audit`; the flag comes back with the next successful
//! commit. A timed-out entry may still be committed afterwards: the record then says
//! "decided", while the caller failed closed and did not act.
//!
//! # Group commit
//!
//! One tokio task owns the only writing connection. It takes every append waiting in its
//! queue (up to [`MAX_GROUP`]), seals them onto the chain in order, adds the checkpoints
//! that fall due (every `checkpoint_every_records` entries, and every
//! `checkpoint_every_secs` when there are unsigned entries), and commits the group in one
//! transaction: concurrent appends share one fsync. On a failed commit every append of
//! the group fails and the writer re-reads the chain head from disk before the next group.
//! On PostgreSQL (`[store] url`) several nodes each run such a task; the store seals each
//! group onto the head committed by any of them, under the chain's advisory lock
//! ([`AuditWriter::commit_sealed`], docs/DESIGN.md "The store's two backends").
//!
//! # Why a database of its own
//!
//! `audit.db` is separate from `confer.db`: the chain has exactly one writer (no other
//! statement can hold its write lock or interleave with a group), its fsyncs do not queue
//! behind the rest of the application, it can be copied, verified and archived on its own
//! (`confer audit verify` opens it read-only, without the server), and its failure is
//! detected and reported on its own. The price: an admission's audit entry and the join
//! token's "used" mark are not one transaction; the entry is written first.

pub mod chain;
pub mod record;
pub mod tally;

pub use chain::{Broken, Checkpoint, StoredEntry, Summary, Verifier};
pub use record::{
    hex, unhex, username_digest, AccountKind, Actor, AuditEntry, AuditRecord, ConfigChange,
    Subjects,
};

use crate::config::AuditSection;
use crate::store::audit::{AuditFilter, AuditHead, AuditLocation, AuditReader, AuditWriter};
use crate::store::StoreError;
use chrono::Utc;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Most appends committed in one transaction.
pub const MAX_GROUP: usize = 1024;
/// The checkpoint signing key (PKCS#8, 0600) and its public key (hex), under `<data-dir>/keys/`.
pub const KEY_FILE: &str = "audit-ed25519.pk8";
pub const PUBLIC_KEY_FILE: &str = "audit-ed25519.pub";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log cannot be written: {0}")]
    Store(#[from] StoreError),
    #[error("the audit log did not confirm the write within {0:?}")]
    Timeout(Duration),
    #[error("the audit log is closed")]
    Closed,
    #[error("the audit log refused the write (injected failure for tests)")]
    Injected,
    #[error("audit signing key {path}: {what}")]
    Key { path: PathBuf, what: String },
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Format(String),
}

/// Proof that appended entries are durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Sequence number of the last entry of this append.
    pub seq: u64,
    /// Chain hash after that entry.
    pub hash: [u8; 32],
}

struct Append {
    actor: Actor,
    records: Vec<AuditRecord>,
    /// Sign a checkpoint over the head right after these records (visit receipts).
    sign: bool,
    deadline: Instant,
    reply: oneshot::Sender<Result<Receipt, AuditError>>,
}

enum Command {
    Append(Append),
    Close(oneshot::Sender<()>),
}

struct Shared {
    healthy: AtomicBool,
    fail_appends: AtomicBool,
}

/// Handle to the audit log; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    reader: AuditReader,
    public_key: Arc<Vec<u8>>,
    /// The checkpoint key, shared with the writer task; it also signs visit receipts
    /// (R-PRIV-1), under their own domain ([`chain::receipt_message`]).
    key: Arc<Ed25519KeyPair>,
    timeout: Duration,
    /// Unauthenticated noise counted per class, reason and minute ([`tally`]), written by
    /// the flush task when each minute ends and by [`Audit::close`].
    noise: Arc<std::sync::Mutex<tally::Tally>>,
}

/// How often the counted noise of ended minutes is written.
const NOISE_FLUSH: Duration = Duration::from_secs(5);

impl Audit {
    /// Open `<data-dir>/audit.db` (creating it and the signing key on first start) and
    /// start the writer task.
    pub async fn open(data_dir: &Path, config: &AuditSection) -> Result<Audit, AuditError> {
        Audit::open_configured(data_dir, None, config).await
    }

    /// Open the chain where the store is: PostgreSQL at `store_url` when set (several
    /// nodes may append; `crate::store::audit` serialises their groups), else
    /// `<data-dir>/audit.db`. The signing key is under `<data-dir>/keys/` either way.
    pub async fn open_configured(
        data_dir: &Path,
        store_url: Option<&str>,
        config: &AuditSection,
    ) -> Result<Audit, AuditError> {
        let key = Arc::new(load_or_create_key(data_dir)?);
        let at = AuditLocation::configured(data_dir, store_url);
        let mut writer = AuditWriter::open_at(&at).await?;
        let head = writer.head().await?;
        let reader = AuditReader::open_at(&at, false).await?;
        let public_key = Arc::new(key.public_key().as_ref().to_vec());
        let shared = Arc::new(Shared {
            healthy: AtomicBool::new(true),
            fail_appends: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel(8 * MAX_GROUP);
        let task = WriterTask {
            writer,
            key: key.clone(),
            head,
            shared: shared.clone(),
            every_records: config.checkpoint_every_records.max(1),
            every: Duration::from_secs(config.checkpoint_every_secs.max(1)),
        };
        tokio::spawn(task.run(rx));
        let audit = Audit {
            tx,
            shared,
            reader,
            public_key,
            key,
            timeout: Duration::from_millis(config.append_timeout_ms.max(1)),
            noise: Arc::default(),
        };
        tokio::spawn(audit.clone().flush_noise_every_minute());
        Ok(audit)
    }

    /// Count one refused request from a party nobody identified (`class`: the record kind
    /// it would have had, `login_failed`, `join_token_rejected` or `certificate_rejected`;
    /// `reason`: its refusal code). No write now: the counts of each minute become one
    /// `unauthenticated_requests` entry per class and reason ([`tally`]), so a flood of
    /// them costs the chain a few entries a minute. Decisions about identified parties are
    /// appended one by one, never counted here.
    pub fn count_unauthenticated(&self, class: &'static str, reason: &str) {
        let now = Utc::now().timestamp_millis();
        self.noise
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .count(class, reason, now);
    }

    /// Write every count now, the current minute's included (shutdown does; the admin
    /// console's audit reader may, to see the latest counts).
    pub async fn flush_counted(&self) {
        self.flush_noise(true).await;
    }

    /// Write the counted noise (`all`: the current minute's too); what cannot be written is
    /// counted again.
    async fn flush_noise(&self, all: bool) {
        let records = {
            let mut t = self.noise.lock().unwrap_or_else(|e| e.into_inner());
            if all {
                t.take_all()
            } else {
                t.take_ended(Utc::now().timestamp_millis())
            }
        };
        if records.is_empty() {
            return;
        }
        if let Err(e) = self.append_all(Actor::Anonymous, records.clone()).await {
            tracing::error!(error = %e, "the counts of refused unauthenticated requests could not be written; kept for the next try");
            self.noise
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .restore(&records);
        }
    }

    async fn flush_noise_every_minute(self) {
        while !self.tx.is_closed() {
            tokio::time::sleep(NOISE_FLUSH).await;
            self.flush_noise(false).await;
        }
    }

    /// Append one record; resolves once it is durably committed.
    pub async fn append(&self, actor: Actor, record: AuditRecord) -> Result<Receipt, AuditError> {
        self.append_all(actor, vec![record]).await
    }

    /// Append records atomically (one transaction, consecutive seqs, in this order).
    pub async fn append_all(
        &self,
        actor: Actor,
        records: Vec<AuditRecord>,
    ) -> Result<Receipt, AuditError> {
        self.append_inner(actor, records, false).await
    }

    /// Append one record and sign a checkpoint over the chain head in the same
    /// transaction: when this resolves, every entry up to the record is covered by a
    /// signed checkpoint (a visit receipt names it, R-PRIV-1).
    pub async fn append_signed(
        &self,
        actor: Actor,
        record: AuditRecord,
    ) -> Result<Receipt, AuditError> {
        self.append_inner(actor, vec![record], true).await
    }

    async fn append_inner(
        &self,
        actor: Actor,
        records: Vec<AuditRecord>,
        sign: bool,
    ) -> Result<Receipt, AuditError> {
        let started = Instant::now();
        let (reply, rx) = oneshot::channel();
        let deadline = Instant::now() + self.timeout;
        let cmd = Command::Append(Append {
            actor,
            records,
            sign,
            deadline,
            reply,
        });
        let result = tokio::time::timeout(self.timeout, async {
            self.tx.send(cmd).await.map_err(|_| AuditError::Closed)?;
            rx.await.map_err(|_| AuditError::Closed)?
        })
        .await
        .unwrap_or(Err(AuditError::Timeout(self.timeout)));
        crate::metrics::audit_append(started.elapsed());
        if let Err(e) = &result {
            if !matches!(e, AuditError::Closed) {
                self.shared.healthy.store(false, Ordering::Release);
            }
            tracing::error!(error = %e, "AUDIT WRITE FAILED: the action it describes is refused");
        }
        result
    }

    /// Whether the last write succeeded (readiness).
    pub fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Acquire)
    }

    /// Test hook: while set, every append fails as a failed commit would (nothing is
    /// written, health goes down). Nothing in the server calls it; it exists only in test
    /// builds (`cfg(test)` or the `test-hooks` feature the test suite turns on).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn dangerous_fail_appends_for_tests(&self, fail: bool) {
        self.shared.fail_appends.store(fail, Ordering::Release);
    }

    /// The checkpoint verification key (raw Ed25519 public key).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Sign a visit receipt's canonical bytes with the checkpoint key, under the receipt
    /// domain ([`chain::receipt_message`]), so that no receipt can pass for a checkpoint.
    pub fn sign_receipt(&self, canonical: &[u8]) -> Vec<u8> {
        self.key
            .sign(&chain::receipt_message(canonical))
            .as_ref()
            .to_vec()
    }

    /// Every stored entry about `visit` (its `visit` subject), in seq order.
    pub async fn visit_entries(
        &self,
        visit: crate::ids::VisitId,
    ) -> Result<Vec<StoredEntry>, AuditError> {
        let mut out: Vec<StoredEntry> = Vec::new();
        loop {
            let filter = AuditFilter {
                visit: Some(visit),
                after_seq: out.last().map_or(0, |e| e.seq),
                limit: 5000,
                ..AuditFilter::default()
            };
            let page = self.reader.query(&filter).await?;
            let done = page.len() < 5000;
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// The first signed checkpoint that covers entry `seq` (count >= seq), if any yet.
    pub async fn checkpoint_covering(&self, seq: u64) -> Result<Option<Checkpoint>, AuditError> {
        Ok(self.reader.checkpoint_covering(seq).await?)
    }

    /// Entries for the staff API.
    pub async fn query(&self, filter: &AuditFilter) -> Result<Vec<EntryView>, AuditError> {
        Ok(self
            .reader
            .query(filter)
            .await?
            .iter()
            .map(EntryView::from_stored)
            .collect())
    }

    /// Commit what is queued, sign a final checkpoint, stop the writer (graceful shutdown).
    pub async fn close(&self) {
        self.flush_noise(true).await;
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Close(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
        self.reader.close().await;
    }
}

struct WriterTask {
    writer: AuditWriter,
    key: Arc<Ed25519KeyPair>,
    head: AuditHead,
    shared: Arc<Shared>,
    every_records: u64,
    every: Duration,
}

impl WriterTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(self.every.min(Duration::from_secs(60)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closing: Option<oneshot::Sender<()>> = None;
        loop {
            let mut group = Vec::new();
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Append(a)) => group.push(a),
                    Some(Command::Close(done)) => closing = Some(done),
                    None => break,
                },
                _ = tick.tick() => {}
            }
            while closing.is_none() && group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(Command::Append(a)) => group.push(a),
                    Ok(Command::Close(done)) => closing = Some(done),
                    Err(_) => break,
                }
            }
            if let Some(done) = closing.take() {
                // Drain whatever was queued before the close, then sign the head.
                while let Ok(Command::Append(a)) = rx.try_recv() {
                    group.push(a);
                }
                self.commit_group(group, true).await;
                self.writer.close().await;
                let _ = done.send(());
                return;
            }
            self.commit_group(group, false).await;
        }
        self.writer.close().await;
    }

    async fn commit_group(&mut self, group: Vec<Append>, final_checkpoint: bool) {
        let now = Instant::now();
        let (live, late): (Vec<Append>, Vec<Append>) =
            group.into_iter().partition(|a| a.deadline > now);
        for a in late {
            let _ = a.reply.send(Err(AuditError::Timeout(Duration::ZERO)));
        }
        let time_ms = Utc::now().timestamp_millis();
        if self.shared.fail_appends.load(Ordering::Acquire) {
            self.failed(live, AuditError::Injected, 0).await;
            return;
        }
        // The store hands `seal` the chain's head: this writer's own on SQLite, the one
        // committed by any node on PostgreSQL (read under the chain's lock).
        let sealer = Sealer {
            key: &self.key,
            every_records: self.every_records,
            every: self.every,
        };
        let result = self
            .writer
            .commit_sealed(&self.head, |head| {
                sealer.seal(head, &live, time_ms, final_checkpoint)
            })
            .await;
        match result {
            Ok((seen, (receipts, head))) => {
                let wrote = head.count != seen.count || head.checkpoints != seen.checkpoints;
                self.head = head;
                if wrote {
                    self.shared.healthy.store(true, Ordering::Release);
                }
                for (a, r) in live.into_iter().zip(receipts) {
                    let _ = a.reply.send(Ok(r));
                }
            }
            Err(e) => {
                let n = live.iter().map(|a| a.records.len()).sum();
                self.failed(live, AuditError::from(e), n).await;
            }
        }
    }

    async fn failed(&mut self, live: Vec<Append>, e: AuditError, entries: usize) {
        self.shared.healthy.store(false, Ordering::Release);
        tracing::error!(error = %e, entries, "AUDIT COMMIT FAILED");
        let text = e.to_string();
        for a in live {
            let _ = a.reply.send(Err(AuditError::Format(text.clone())));
        }
        // The commit's outcome on disk is unknown: start the next group from disk.
        match self.writer.head().await {
            Ok(h) => self.head = h,
            Err(e) => tracing::error!(error = %e, "cannot re-read the audit chain head"),
        }
    }
}

/// Seals a group onto a given head: the entries, the checkpoints that fall due, each
/// append's receipt, and the head after them.
struct Sealer<'a> {
    key: &'a Ed25519KeyPair,
    every_records: u64,
    every: Duration,
}

type Sealed = (Vec<StoredEntry>, Vec<Checkpoint>, (Vec<Receipt>, AuditHead));

impl Sealer<'_> {
    fn checkpoint(&self, n: u64, count: u64, head: &[u8], time_ms: i64) -> Checkpoint {
        let sig = self
            .key
            .sign(&chain::checkpoint_message(n, count, head, time_ms));
        Checkpoint {
            n,
            count,
            head_hash: head.to_vec(),
            time_ms,
            signature: sig.as_ref().to_vec(),
        }
    }

    fn seal(
        &self,
        head: &AuditHead,
        live: &[Append],
        time_ms: i64,
        final_checkpoint: bool,
    ) -> Sealed {
        let mut prev: [u8; 32] = match &head.hash {
            Some(h) if h.len() == 32 => h.as_slice().try_into().unwrap_or(chain::GENESIS),
            _ => chain::GENESIS,
        };
        let mut seq = head.count;
        let mut n = head.checkpoints;
        let mut last_cp = (head.last_checkpoint_count, head.last_checkpoint_ms);
        let mut entries = Vec::new();
        let mut checkpoints = Vec::new();
        let mut receipts = Vec::with_capacity(live.len());
        for a in live {
            for r in &a.records {
                seq += 1;
                let stored = chain::seal(
                    &AuditEntry::new(seq, time_ms, a.actor.clone(), r.clone()),
                    &prev,
                );
                prev.copy_from_slice(&stored.hash);
                entries.push(stored);
                if seq.is_multiple_of(self.every_records) {
                    n += 1;
                    checkpoints.push(self.checkpoint(n, seq, &prev, time_ms));
                    last_cp = (seq, Some(time_ms));
                }
            }
            receipts.push(Receipt { seq, hash: prev });
        }
        let due = last_cp
            .1
            .is_none_or(|t| time_ms - t >= self.every.as_millis() as i64);
        let asked = live.iter().any(|a| a.sign);
        if seq > last_cp.0 && (due || final_checkpoint || asked) {
            n += 1;
            checkpoints.push(self.checkpoint(n, seq, &prev, time_ms));
            last_cp = (seq, Some(time_ms));
        }
        let head = AuditHead {
            count: seq,
            hash: if seq == 0 {
                head.hash.clone()
            } else {
                Some(prev.to_vec())
            },
            checkpoints: n,
            last_checkpoint_count: last_cp.0,
            last_checkpoint_ms: last_cp.1,
        };
        (entries, checkpoints, (receipts, head))
    }
}

/// An entry as the staff API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryView {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub subjects: Subjects,
    pub record: serde_json::Value,
    pub hash: String,
}

impl EntryView {
    fn from_stored(e: &StoredEntry) -> EntryView {
        let record = serde_json::from_slice::<serde_json::Value>(&e.canonical)
            .ok()
            .and_then(|mut v| v.get_mut("record").map(serde_json::Value::take))
            .unwrap_or(serde_json::Value::Null);
        EntryView {
            seq: e.seq,
            time: ms_to_rfc3339(e.time_ms),
            actor: e.actor.clone(),
            subjects: e.subjects.clone(),
            record,
            hash: hex(&e.hash),
        }
    }
}

fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

// --- keys ---

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Read the checkpoint signing key, creating it (0600) and its public key on first start.
pub fn load_or_create_key(data_dir: &Path) -> Result<Ed25519KeyPair, AuditError> {
    let dir = data_dir.join("keys");
    crate::keyfile::private_dir(&dir).map_err(io_err(&dir))?;
    let path = dir.join(KEY_FILE);
    let pkcs8 = crate::keyfile::read_or_create(&path, || {
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| std::io::Error::other("cannot generate a key"))
    })
    .map_err(io_err(&path))?;
    let key = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| AuditError::Key {
        path: path.clone(),
        what: "not an Ed25519 PKCS#8 key".into(),
    })?;
    let pub_path = dir.join(PUBLIC_KEY_FILE);
    let text = format!("{}\n", hex(key.public_key().as_ref()));
    if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&pub_path, text).map_err(io_err(&pub_path))?;
    }
    Ok(key)
}

/// Read a public key file: 64 hex characters (what confer writes) or 32 raw bytes.
pub fn read_public_key(path: &Path) -> Result<Vec<u8>, AuditError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    if bytes.len() == 32 {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    unhex(text.trim())
        .filter(|k| k.len() == 32)
        .ok_or_else(|| AuditError::Key {
            path: path.to_path_buf(),
            what: "not an Ed25519 public key (64 hex digits)".into(),
        })
}

// --- offline verification and export (the CLI) ---

/// Why an offline verification could not conclude "intact".
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Broken(#[from] Broken),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<StoreError> for VerifyError {
    fn from(e: StoreError) -> Self {
        VerifyError::Audit(AuditError::Store(e))
    }
}

const VERIFY_PAGE: u32 = 20_000;

/// Verify `<data-dir>/audit.db` (read-only; the server need not run) against the
/// public key in `public_key`, or the data dir's own `keys/audit-ed25519.pub`.
pub async fn verify_data_dir(
    data_dir: &Path,
    public_key: Option<&Path>,
) -> Result<Summary, VerifyError> {
    verify_configured(data_dir, None, public_key).await
}

/// Verify the chain where the store is: PostgreSQL at `store_url` when set (read-only
/// transactions), else `<data-dir>/audit.db`.
pub async fn verify_configured(
    data_dir: &Path,
    store_url: Option<&str>,
    public_key: Option<&Path>,
) -> Result<Summary, VerifyError> {
    let key_path = public_key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join("keys").join(PUBLIC_KEY_FILE));
    let key = read_public_key(&key_path)?;
    let at = AuditLocation::configured(data_dir, store_url);
    let reader = AuditReader::open_at(&at, true).await?;
    let result = verify_reader(&reader, &key).await;
    reader.close().await;
    result
}

async fn verify_reader(reader: &AuditReader, key: &[u8]) -> Result<Summary, VerifyError> {
    let mut v = Verifier::whole(key, reader.checkpoints().await?);
    let page = VERIFY_PAGE as u64;
    let mut after = 0;
    let mut checking: Vec<StoredEntry> = Vec::new();
    loop {
        // Read two pages on two connections (the second one guessing that the first is
        // gapless) while checking the previous ones. The reads are polled first so that
        // they are under way before the (synchronous) check runs.
        let (a, b, checked) = tokio::join!(
            reader.entries_after(after, VERIFY_PAGE),
            reader.entries_after(after + page, VERIFY_PAGE),
            async { checking.iter().try_for_each(|e| v.push(e)) }
        );
        checked?;
        let (a, b) = (a?, b?);
        let Some(a_last) = a.last().map(|e| e.seq) else {
            break;
        };
        checking = a;
        if a_last == after + page {
            // `b` continues `a` exactly (keyset order), whatever the seqs look like.
            after = b.last().map(|e| e.seq).unwrap_or(a_last);
            checking.extend(b);
        } else {
            after = a_last;
        }
    }
    Ok(v.finish()?)
}

/// One line of an export file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExportLine {
    Header {
        format: String,
        from: String,
        to: String,
        public_key: String,
        first_seq: u64,
        last_seq: u64,
    },
    Entry {
        seq: u64,
        time_ms: i64,
        prev_hash: String,
        hash: String,
        leaf_hash: String,
        canonical: String,
    },
    Checkpoint {
        n: u64,
        count: u64,
        head_hash: String,
        time_ms: i64,
        signature: String,
    },
}

const EXPORT_FORMAT: &str = "confer-audit-export-v1";

/// Write the entries whose time is in `[from, to]`, widened to the checkpoints that
/// anchor them, with those checkpoints, as JSON lines. Returns the number of entries.
pub async fn export(
    data_dir: &Path,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    out: &mut dyn std::io::Write,
) -> Result<u64, VerifyError> {
    export_configured(data_dir, None, from, to, out).await
}

/// [`export`] from the chain where the store is (PostgreSQL at `store_url` when set).
pub async fn export_configured(
    data_dir: &Path,
    store_url: Option<&str>,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    out: &mut dyn std::io::Write,
) -> Result<u64, VerifyError> {
    let key = read_public_key(&data_dir.join("keys").join(PUBLIC_KEY_FILE))?;
    let at = AuditLocation::configured(data_dir, store_url);
    let reader = AuditReader::open_at(&at, true).await?;
    let range = reader
        .seq_range_in_time(from.timestamp_millis(), to.timestamp_millis())
        .await?;
    let checkpoints = reader.checkpoints().await?;
    let (lo, hi) = range.unwrap_or((1, 0));
    // Start right after the newest checkpoint before the range, end at the first
    // checkpoint at or after it (or at the chain's end, which is then unsigned).
    let start_cp = checkpoints
        .iter()
        .filter(|c| c.count < lo)
        .max_by_key(|c| c.n);
    let end_cp = checkpoints
        .iter()
        .filter(|c| c.count >= hi)
        .min_by_key(|c| c.n);
    let first = start_cp.map(|c| c.count + 1).unwrap_or(1);
    let last = match end_cp {
        Some(c) => c.count,
        None => i64::MAX as u64,
    };
    let entries = if range.is_some() {
        reader.entries_between(first, last).await?
    } else {
        Vec::new()
    };
    reader.close().await;
    let wanted: Vec<&Checkpoint> = checkpoints
        .iter()
        .filter(|c| start_cp.is_some_and(|s| s.n == c.n) || (c.count >= first && c.count <= last))
        .collect();
    let io = |e: std::io::Error| {
        VerifyError::Audit(AuditError::Format(format!("cannot write the export: {e}")))
    };
    let mut line = |l: &ExportLine| -> Result<(), VerifyError> {
        let text = serde_json::to_string(l)
            .map_err(|e| VerifyError::Audit(AuditError::Format(e.to_string())))?;
        writeln!(out, "{text}").map_err(io)
    };
    line(&ExportLine::Header {
        format: EXPORT_FORMAT.into(),
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        public_key: hex(&key),
        first_seq: entries.first().map(|e| e.seq).unwrap_or(0),
        last_seq: entries.last().map(|e| e.seq).unwrap_or(0),
    })?;
    for c in wanted {
        line(&ExportLine::Checkpoint {
            n: c.n,
            count: c.count,
            head_hash: hex(&c.head_hash),
            time_ms: c.time_ms,
            signature: hex(&c.signature),
        })?;
    }
    for e in &entries {
        line(&ExportLine::Entry {
            seq: e.seq,
            time_ms: e.time_ms,
            prev_hash: hex(&e.prev_hash),
            hash: hex(&e.hash),
            leaf_hash: hex(&e.leaf_hash),
            canonical: String::from_utf8_lossy(&e.canonical).into_owned(),
        })?;
    }
    Ok(entries.len() as u64)
}

/// Verify an export file against a public key the auditor trusts (not the one the
/// export names).
pub fn verify_export(export: &Path, public_key: &Path) -> Result<Summary, VerifyError> {
    let key = read_public_key(public_key)?;
    let text = std::fs::read_to_string(export).map_err(|e| AuditError::Io {
        path: export.to_path_buf(),
        source: e,
    })?;
    let bad = |what: String| VerifyError::Audit(AuditError::Format(what));
    let mut checkpoints = Vec::new();
    let mut entries = Vec::new();
    for (i, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line: ExportLine =
            serde_json::from_str(l).map_err(|e| bad(format!("line {}: {e}", i + 1)))?;
        let h = |s: &str| unhex(s).ok_or_else(|| bad(format!("line {}: not hex", i + 1)));
        match line {
            ExportLine::Header { format, .. } if format == EXPORT_FORMAT => {}
            ExportLine::Header { format, .. } => {
                return Err(bad(format!("unknown export format {format}")))
            }
            ExportLine::Checkpoint {
                n,
                count,
                head_hash,
                time_ms,
                signature,
            } => checkpoints.push(Checkpoint {
                n,
                count,
                head_hash: h(&head_hash)?,
                time_ms,
                signature: h(&signature)?,
            }),
            ExportLine::Entry {
                seq,
                time_ms,
                prev_hash,
                hash,
                leaf_hash,
                canonical,
            } => {
                let canonical = canonical.into_bytes();
                let head: record::EntryHead = serde_json::from_slice(&canonical)
                    .map_err(|_| bad(format!("line {}: unreadable entry", i + 1)))?;
                // An export line has no index columns of its own but `time_ms`: the
                // others are read from the hashed bytes.
                entries.push(StoredEntry {
                    seq,
                    time_ms,
                    kind: head.record.kind,
                    actor: head.actor.label(),
                    subjects: head.subjects,
                    canonical,
                    leaf_hash: h(&leaf_hash)?,
                    prev_hash: h(&prev_hash)?,
                    hash: h(&hash)?,
                })
            }
        }
    }
    let Some(first) = entries.first() else {
        return Err(bad("the export holds no entries".into()));
    };
    let prev: [u8; 32] = first
        .prev_hash
        .as_slice()
        .try_into()
        .map_err(|_| bad("bad prev_hash".into()))?;
    let mut v = Verifier::slice(&key, first.seq, prev, checkpoints);
    for e in &entries {
        v.push(e)?;
    }
    Ok(v.finish()?)
}

#[cfg(test)]
mod tests;
