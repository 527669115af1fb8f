//! The violation-report outbox (R-CONDUCT-2): a tokio task that POSTs each pending report
//! as JSON to its recipient's webhook (`[oversight] law_firm_url`, `justice_bureau_url`,
//! `bar_association_url`), until the recipient answers 2xx.
//!
//! Durable: the queue is the `violation_deliveries` table; a row stays pending until it
//! is delivered, so reports survive a restart (the worker picks them up on start). A failed
//! attempt (transport error or non-2xx) waits `retry_base_ms × 2^(attempts-1)`, at most
//! `retry_max_ms`, before the next. A recipient without a URL keeps its rows pending and is
//! looked at again every `retry_max_ms` (so within that time of a restart that configures
//! its URL).
//! Each delivery carries `Idempotency-Key: violation-ID-RECIPIENT`, so a receiver can drop
//! a duplicate (a crash between its 2xx and our commit sends the report again).
//!
//! TLS: rustls with the ring provider, trusting only `[oversight] ca_file`; no built-in
//! roots, no redirects. A delivery is recorded in the audit log (`violation_report_delivered`).
//! Logs name the violation id and the recipient kind, never the report's text.
//!
//! Owns the worker and its wake-up handle ([`Outbox`]); has no routes. Does not decide
//! what is reported or to whom (the stop route queues the rows, [`super::violations`]).

use crate::audit::{Actor, Audit, AuditRecord};
use crate::config::OversightSection;
use crate::store::oversight::DeliveryRow;
use crate::store::Store;
use chrono::Utc;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The longest the worker sleeps with nothing due: it renews its lease (held 15 s) on
/// every wake-up, so another node takes over only when this one is gone.
const LEASE_RENEW: Duration = Duration::from_secs(5);

/// The outbox's lease: held this long after each renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// One delivery attempt's time limit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Wakes the worker when a report is queued. Cheap to clone.
#[derive(Clone, Default)]
pub struct Outbox {
    notify: Arc<Notify>,
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox::default()
    }

    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// How long to wait after the `attempts`-th failed attempt (1-based). Pure.
pub fn backoff(config: &OversightSection, attempts: u32) -> Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    Duration::from_millis(
        config
            .retry_base_ms
            .saturating_mul(factor)
            .min(config.retry_max_ms),
    )
}

fn client(config: &OversightSection) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &config.ca_file {
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| anyhow::anyhow!("oversight.ca_file {}: {e}", path.display()))?
        {
            roots.add(cert.map_err(|e| anyhow::anyhow!("oversight.ca_file: {e}"))?)?;
        }
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(ATTEMPT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("confer/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

fn url_of<'a>(config: &'a OversightSection, recipient: &str) -> Option<&'a str> {
    match recipient {
        "law_firm" => config.law_firm_url.as_deref(),
        "justice_bureau" => config.justice_bureau_url.as_deref(),
        "bar_association" => config.bar_association_url.as_deref(),
        _ => None,
    }
}

/// What the worker uses.
struct Worker {
    store: Store,
    audit: Audit,
}

/// Run until `stop` resolves: deliver what is due, then sleep until the next row is due,
/// `outbox` is woken, or at most 5 s (the lease's renewal). On a cluster, only the node
/// holding the `outbox` lease delivers.
pub async fn run(
    outbox: Outbox,
    store: Store,
    audit: Audit,
    config: OversightSection,
    lease: crate::cluster::lease::Lease,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let state = Worker { store, audit };
    let http = match client(&config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "violation reports cannot be sent: the webhook client cannot be built");
            return;
        }
    };
    loop {
        let notified = outbox.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // One node of the cluster delivers at a time; the others look again shortly (and
        // take over once the holder's lease has expired).
        if !lease.held().await {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(LEASE_RENEW) => {}
            }
            continue;
        }
        match state.store.due_deliveries(Utc::now(), 32).await {
            Ok(due) => {
                for d in due {
                    deliver(&state, &http, &config, d).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "violation outbox: cannot read pending reports"),
        }
        let wait = match state.store.next_delivery_due().await {
            Ok(Some(t)) => (t - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(LEASE_RENEW),
            _ => LEASE_RENEW,
        };
        tokio::select! {
            _ = &mut stop => return,
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
        }
    }
}

async fn deliver(
    state: &Worker,
    http: &reqwest::Client,
    config: &OversightSection,
    d: DeliveryRow,
) {
    let now = Utc::now();
    let Some(url) = url_of(config, &d.recipient) else {
        let later = now + chrono::Duration::milliseconds(config.retry_max_ms as i64);
        if let Err(e) = state
            .store
            .postpone_delivery(d.violation, &d.recipient, later)
            .await
        {
            tracing::error!(error = %e, "violation outbox: cannot postpone a report");
        }
        tracing::warn!(violation = d.violation, recipient = %d.recipient, "violation report waits: no webhook configured for this recipient");
        return;
    };
    let payload = match report(state, d.violation, &d.recipient).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::error!(
                violation = d.violation,
                "violation outbox: the violation is gone"
            );
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "violation outbox: cannot build a report");
            return;
        }
    };
    let sent = http
        .post(url)
        .header(
            "Idempotency-Key",
            format!("violation-{}-{}", d.violation, d.recipient),
        )
        .json(&payload)
        .send()
        .await;
    let failure = match sent {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Some(e.without_url().to_string()),
    };
    match failure {
        None => {
            let record = AuditRecord::ViolationReportDelivered {
                violation: d.violation,
                recipient: d.recipient.clone(),
            };
            if let Err(e) = state.audit.append(Actor::System, record).await {
                tracing::error!(violation = d.violation, error = %e, "AUDIT: a delivered violation report could not be recorded");
            }
            if let Err(e) = state
                .store
                .mark_delivered(d.violation, &d.recipient, Utc::now())
                .await
            {
                tracing::error!(error = %e, "violation outbox: cannot mark a report delivered (it will be sent again)");
            }
            crate::metrics::violation_delivery("delivered");
            tracing::info!(violation = d.violation, recipient = %d.recipient, "violation report delivered");
        }
        Some(error) => {
            let attempts = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
            let wait = backoff(config, attempts);
            let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            if let Err(e) = state
                .store
                .mark_delivery_failed(d.violation, &d.recipient, &error, next)
                .await
            {
                tracing::error!(error = %e, "violation outbox: cannot record a failed attempt");
            }
            crate::metrics::violation_delivery("failed");
            tracing::warn!(violation = d.violation, recipient = %d.recipient, attempts, retry_in_ms = wait.as_millis() as u64, %error, "violation report not delivered; will retry");
        }
    }
}

/// The JSON a recipient receives.
async fn report(
    state: &Worker,
    violation: i64,
    recipient: &str,
) -> Result<Option<serde_json::Value>, crate::store::StoreError> {
    let Some(v) = state.store.violation(violation).await? else {
        return Ok(None);
    };
    let visit = state.store.visit(v.visit).await?;
    let lawyer = state.store.reported_lawyer(v.lawyer).await?;
    let category = crate::model::violation::Category::parse(&v.category);
    Ok(Some(serde_json::json!({
        "kind": "violation_report",
        "violation_id": v.id,
        "recipient": recipient,
        "visit_id": v.visit,
        "facility": visit.as_ref().map(|r| serde_json::json!({"id": r.facility, "name": r.facility_name})),
        "lawyer": lawyer,
        "category": v.category,
        "category_text": category.map(|c| c.describe()),
        "reason": v.reason,
        "stopped_by_staff_id": v.stopped_by,
        "stopped_at": crate::model::time::rfc3339(v.stopped_at),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let c = OversightSection {
            retry_base_ms: 1000,
            retry_max_ms: 10_000,
            ..OversightSection::default()
        };
        let ms = |n| backoff(&c, n).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5), ms(40)],
            [1000, 2000, 4000, 8000, 10_000, 10_000]
        );
    }
}
