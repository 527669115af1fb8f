//! TURN relay credentials (R-REMOTE-2): lawyers on networks that let only TLS to port 443
//! out reach the SFU through coturn, a TURN server confer configures (`conf`) but does not
//! embed. confer hands each admitted participant, with its `joined` answer, a TURN REST
//! credential (`credentials`) that names the visit and the participant and expires at the
//! slot end plus the reconnect grace; coturn checks it against the shared secret and
//! relays only towards confer's media addresses.
//!
//! [`Turn`] is the service: it holds the shared secret (a 0600 key file, created on first
//! start) and records, audit first, which participant got credentials for which visit
//! (never the password). It is asked only after an admitted join (`src/signaling/`).
//!
//! Does not: relay media, talk to coturn, or log a credential.

pub mod conf;
pub mod credentials;

use crate::audit::{Actor, Audit, AuditRecord};
use crate::config::TurnSection;
use crate::ids::{ParticipantId, VisitId};
use chrono::{DateTime, Utc};
use credentials::TurnCredential;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Hands TURN credentials to admitted participants. Cheap to clone.
#[derive(Clone)]
pub struct Turn {
    inner: Arc<Inner>,
}

struct Inner {
    urls: Vec<String>,
    secret: String,
    /// Credentials outlive the slot end by this much (the reconnect grace).
    grace: chrono::Duration,
    audit: Audit,
}

/// Why no credential was handed out.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("the audit log cannot be written: {0}")]
    Audit(String),
    #[error("the slot is over")]
    SlotOver,
}

/// The shared secret in `path`, created (64 hex digits, 0600) when missing. The secret is
/// the file's text without surrounding whitespace.
pub fn load_secret(path: &Path) -> std::io::Result<String> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            crate::keyfile::private_dir(dir)?;
        }
    }
    let bytes = crate::keyfile::read_or_create(path, || {
        Ok(crate::audit::hex(&crate::keyfile::random::<32>()?).into_bytes())
    })?;
    let secret = String::from_utf8(bytes)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if !credentials::valid_secret(&secret) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} must hold at least {} letters or digits (the TURN shared secret)",
                path.display(),
                credentials::MIN_SECRET_LEN
            ),
        ));
    }
    Ok(secret)
}

/// Write coturn's configuration for `config` to `out` (0600, replacing it): the shared
/// secret is read, or created on first use, from `[turn] secret_file`.
pub fn write_coturn_config(config: &crate::config::Config, out: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let secret_path = config.turn.secret_path(&config.data_dir);
    let secret = load_secret(&secret_path)
        .with_context(|| format!("cannot read or create {}", secret_path.display()))?;
    let (cert, key) = conf::tls_paths(config);
    let text = conf::render(config, &secret, &cert, &key).map_err(anyhow::Error::msg)?;
    let tmp = out.with_extension("confer-tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

impl Turn {
    /// The service when `[turn] enabled`, reading (or creating) the shared secret.
    pub fn open(
        section: &TurnSection,
        data_dir: &Path,
        grace: Duration,
        audit: Audit,
    ) -> std::io::Result<Option<Turn>> {
        if !section.enabled {
            return Ok(None);
        }
        let secret = load_secret(&section.secret_path(data_dir))?;
        Ok(Some(Turn {
            inner: Arc::new(Inner {
                urls: section.urls.clone(),
                secret,
                grace: chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::zero()),
                audit,
            }),
        }))
    }

    /// A credential for an admitted `participant` of `visit` whose slot ends at
    /// `slot_end`: valid until the slot end plus the reconnect grace. Recorded in the
    /// audit log before it is returned (no record, no credential).
    pub async fn issue(
        &self,
        visit: VisitId,
        participant: &ParticipantId,
        slot_end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<TurnCredential, TurnError> {
        if slot_end <= now {
            return Err(TurnError::SlotOver);
        }
        // Whole seconds (the username carries Unix seconds), rounded up: never before the
        // slot end plus the grace.
        let end = slot_end + self.inner.grace;
        let secs = end.timestamp() + i64::from(end.timestamp_subsec_nanos() > 0);
        let expires_at = DateTime::from_timestamp(secs, 0).unwrap_or(end);
        let actor = match participant {
            ParticipantId::Lawyer(id)
            | ParticipantId::Assistant(id)
            | ParticipantId::Interpreter(id) => Actor::Lawyer(*id),
            ParticipantId::Booth(b) => Actor::Booth(b.clone()),
        };
        self.inner
            .audit
            .append(
                actor,
                AuditRecord::TurnCredentialsIssued {
                    visit,
                    participant: participant.clone(),
                    expires_at_ms: expires_at.timestamp_millis(),
                },
            )
            .await
            .map_err(|e| TurnError::Audit(e.to_string()))?;
        Ok(credentials::credential(
            &self.inner.secret,
            &self.inner.urls,
            expires_at,
            visit,
            participant,
        ))
    }
}
