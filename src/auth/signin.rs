//! Signing in: the password (argon2id, checked on a blocking thread), the staff second
//! factor (TOTP, each code used once), the failure limiter, the audit entry and the new
//! session, in that order, for lawyers and staff alike.
//!
//! Every outcome, success or failure, is appended to the audit log before it is answered
//! (docs/DESIGN.md invariant 3); if that entry cannot be written, nobody is signed in. An
//! unknown username costs the same hash as a known one (no account oracle by timing).
//!
//! Guessing is bounded: each attempt is reserved against the failure budget (per account
//! and per client address) before its password is checked, so parallel guesses cannot
//! race past it; password checks run under a cap ([`MAX_WAITING`] may wait, then `busy`);
//! and staff are told one `bad_credentials` for a wrong password or a wrong, missing,
//! replayed or unenrolled code, so the second factor also hides whether the password was
//! right (the audit log keeps the precise reason).
//!
//! Does not: carry HTTP (the edges map [`SignInError`] to responses).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::totp::{self, TotpVault};
use super::{password, LoginLimiter, SessionToken, Sessions};
use crate::audit::{username_digest, AccountKind, Actor, Audit, AuditError, AuditRecord};
use crate::ids::LawyerId;
use crate::redact::Redacted;
use crate::store::staff::StaffRow;
use crate::store::{AccountRow, SessionKind, Store, StoreError};

/// Why a sign-in did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Too many failures for this username or client address: wait this long.
    #[error("Too many failed sign-ins. Please wait {} minutes and try again.", .0.as_secs().div_ceil(60))]
    TooManyAttempts(Duration),
    #[error("The username or password is wrong.")]
    BadCredentials,
    /// What staff are told for any wrong password or authenticator code, so that the
    /// second factor also protects the password (no oracle); the audit keeps the reason.
    #[error("The username, password or authenticator code is wrong.")]
    StaffBadCredentials,
    /// Too many password checks are waiting: try again in a moment.
    #[error("The server is busy checking sign-ins. Please try again in a moment.")]
    Busy,
    #[error("Enter the 6-digit code from your authenticator app as well as your password.")]
    TotpRequired,
    #[error("This account has no second factor yet. Ask the system administrator to enrol one (confer admin reset-totp).")]
    TotpNotEnrolled,
    #[error("The authenticator code is wrong. Check that your device's clock is right and enter the current 6-digit code.")]
    BadTotp,
    #[error("That authenticator code was already used. Wait for the next code (at most 30 seconds) and sign in with it.")]
    TotpReplayed,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl SignInError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SignInError::TooManyAttempts(_) => "too_many_attempts",
            SignInError::BadCredentials | SignInError::StaffBadCredentials => "bad_credentials",
            SignInError::Busy => "busy",
            SignInError::TotpRequired => "totp_required",
            SignInError::TotpNotEnrolled => "totp_not_enrolled",
            SignInError::BadTotp => "bad_totp",
            SignInError::TotpReplayed => "totp_replayed",
            SignInError::Store(_) => "internal",
            SignInError::Audit(_) => "audit_unavailable",
        }
    }
}

/// A lawyer who signed in.
pub struct LawyerSignedIn {
    pub token: SessionToken,
    pub account: AccountRow,
}

/// A staff member who signed in.
pub struct StaffSignedIn {
    pub token: SessionToken,
    pub staff: StaffRow,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct SignIn {
    store: Store,
    audit: Audit,
    sessions: Sessions,
    totp: TotpVault,
    lawyers: Arc<LoginLimiter>,
    staff: Arc<LoginLimiter>,
    hashing: Arc<HashingCap>,
}

/// At most [`HashingCap::permits`] password checks run at once (each argon2id check holds
/// about 19 MiB); at most [`MAX_WAITING`] more wait. Beyond that a sign-in is answered
/// `busy` (503, `Retry-After`) without a check, so a flood of sign-ins cannot exhaust
/// memory or starve everything else of CPU.
struct HashingCap {
    permits: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

/// Sign-ins that may wait for a password check before the next is answered `busy`.
pub const MAX_WAITING: usize = 64;

impl HashingCap {
    fn new() -> HashingCap {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashingCap {
            permits: tokio::sync::Semaphore::new(cores.clamp(2, 8)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Check `password` against `hash` within the cap; `None` when too many are waiting.
    async fn verify(&self, password: &str, hash: String) -> Option<bool> {
        use std::sync::atomic::Ordering;
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = permit.ok()?;
        let password = password.to_owned();
        // The check's 19 MiB is a mapping of its own (`memory::fix_mmap_threshold`), handed
        // back to the system when the check ends: nothing stays resident between sign-ins.
        let checked = tokio::task::spawn_blocking(move || {
            let mut memory = Vec::new();
            password::verify_in(&password, &hash, &mut memory)
        })
        .await;
        Some(checked.unwrap_or(false))
    }
}

/// The limiter's keys for one attempt: the username and the client's address.
struct Keys {
    user: String,
    ip: String,
}

impl Keys {
    fn new(username: &str, client: IpAddr) -> Keys {
        Keys {
            user: format!("user:{}", username.to_lowercase()),
            ip: format!("ip:{client}"),
        }
    }

    fn both(&self) -> [&str; 2] {
        [self.user.as_str(), self.ip.as_str()]
    }
}

impl SignIn {
    pub fn new(
        store: Store,
        audit: Audit,
        sessions: Sessions,
        totp: TotpVault,
        max_failures: u32,
        window: Duration,
    ) -> SignIn {
        SignIn {
            store,
            audit,
            sessions,
            totp,
            lawyers: Arc::new(LoginLimiter::new(max_failures, window)),
            staff: Arc::new(LoginLimiter::new(max_failures, window)),
            hashing: Arc::new(HashingCap::new()),
        }
    }

    /// Sign a lawyer-side account in (lawyer, assistant, interpreter).
    pub async fn lawyer(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<LawyerSignedIn, SignInError> {
        let keys = Keys::new(username, client);
        let outcome = match self.lawyers.reserve(&keys.both(), Instant::now()) {
            Err(wait) => Err(SignInError::TooManyAttempts(wait)),
            Ok(at) => {
                let outcome = self.check_lawyer(username, password).await;
                self.settle(&self.lawyers, &keys, at, username, client, outcome)
            }
        };
        let account = match outcome {
            Ok(a) => a,
            Err(e) => return Err(self.audit_failure(AccountKind::Lawyer, username, e).await),
        };
        self.audit
            .append(
                Actor::Lawyer(LawyerId(account.id)),
                AuditRecord::LoginSucceeded {
                    account_kind: AccountKind::Lawyer,
                    account_id: account.id,
                },
            )
            .await?;
        let token = self
            .sessions
            .start(SessionKind::Lawyer, account.id, Utc::now())
            .await?;
        Ok(LawyerSignedIn { token, account })
    }

    /// Sign a staff member in: password, then the authenticator's code.
    pub async fn staff(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
        client: IpAddr,
    ) -> Result<StaffSignedIn, SignInError> {
        let keys = Keys::new(username, client);
        let outcome = match self.staff.reserve(&keys.both(), Instant::now()) {
            Err(wait) => Err(SignInError::TooManyAttempts(wait)),
            Ok(at) => {
                let outcome = self.check_staff(username, password, code).await;
                self.settle(&self.staff, &keys, at, username, client, outcome)
            }
        };
        let staff = match outcome {
            Ok(a) => a,
            Err(e) => {
                // The audit keeps the precise reason; the answer does not tell a wrong
                // password from a wrong code.
                return Err(
                    match self.audit_failure(AccountKind::Staff, username, e).await {
                        SignInError::BadCredentials
                        | SignInError::TotpRequired
                        | SignInError::TotpNotEnrolled
                        | SignInError::BadTotp
                        | SignInError::TotpReplayed => SignInError::StaffBadCredentials,
                        other => other,
                    },
                );
            }
        };
        self.audit
            .append(
                Actor::Staff(staff.id),
                AuditRecord::LoginSucceeded {
                    account_kind: AccountKind::Staff,
                    account_id: staff.id.0,
                },
            )
            .await?;
        let token = self
            .sessions
            .start(SessionKind::Admin, staff.id.0, Utc::now())
            .await?;
        Ok(StaffSignedIn { token, staff })
    }

    /// Settle a reserved attempt: a success gives it back, a server-side failure (busy,
    /// database) releases it, a wrong credential keeps it counted.
    fn settle<T>(
        &self,
        limiter: &LoginLimiter,
        keys: &Keys,
        at: Instant,
        username: &str,
        client: IpAddr,
        outcome: Result<T, SignInError>,
    ) -> Result<T, SignInError> {
        match &outcome {
            Ok(_) => limiter.succeeded(&keys.user, &[keys.ip.as_str()], at),
            Err(SignInError::Busy | SignInError::Store(_)) => limiter.release(&keys.both(), at),
            Err(e) => {
                tracing::info!(user = %Redacted(username), client = %Redacted(client), code = e.code(), "failed sign-in");
            }
        }
        outcome
    }

    /// Record a failed sign-in, then hand the failure back (the audit failure wins).
    async fn audit_failure(
        &self,
        kind: AccountKind,
        username: &str,
        e: SignInError,
    ) -> SignInError {
        if matches!(e, SignInError::Store(_) | SignInError::Busy) {
            return e;
        }
        // An attempt refused before any check (the budget is spent) decides nothing about
        // anyone: counted, not one entry each (audit::tally).
        if matches!(e, SignInError::TooManyAttempts(_)) {
            self.audit.count_unauthenticated("login_failed", e.code());
            return e;
        }
        let record = AuditRecord::LoginFailed {
            account_kind: kind,
            username_sha256: username_digest(username),
            reason: e.code().into(),
        };
        match self.audit.append(Actor::Anonymous, record).await {
            Ok(_) => e,
            Err(a) => SignInError::Audit(a),
        }
    }

    async fn check_lawyer(
        &self,
        username: &str,
        password: &str,
    ) -> Result<AccountRow, SignInError> {
        let account = self.store.lawyer_by_username(username).await?;
        let hash = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| password::dummy_hash().to_owned());
        let ok = self
            .hashing
            .verify(password, hash)
            .await
            .ok_or(SignInError::Busy)?;
        match account {
            Some(a) if ok => Ok(a),
            _ => Err(SignInError::BadCredentials),
        }
    }

    async fn check_staff(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<StaffRow, SignInError> {
        let account = self.store.staff_by_username(username).await?;
        let hash = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| password::dummy_hash().to_owned());
        let password_ok = self
            .hashing
            .verify(password, hash)
            .await
            .ok_or(SignInError::Busy)?;
        let account = match account {
            Some(a) if password_ok => a,
            _ => return Err(SignInError::BadCredentials),
        };
        let code = code
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or(SignInError::TotpRequired)?;
        let secret = account
            .totp_sealed
            .as_deref()
            .and_then(|s| self.totp.unseal(s))
            .ok_or(SignInError::TotpNotEnrolled)?;
        let now_unix = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
        let step = totp::matching_step(&secret, code, now_unix).ok_or(SignInError::BadTotp)?;
        if !self.store.accept_totp_step(account.id, step).await? {
            return Err(SignInError::TotpReplayed);
        }
        Ok(account)
    }
}
