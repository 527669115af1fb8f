//! Signing in: the password (argon2id, checked on a blocking thread), the staff second
//! factor (TOTP, each code used once), the failure limiter, the audit entry and the new
//! session, in that order, for lawyers and staff alike.
//!
//! Every outcome, success or failure, is appended to the audit log before it is answered
//! (docs/DESIGN.md invariant 3); if that entry cannot be written, nobody is signed in. An
//! unknown username costs the same hash as a known one (no account oracle by timing).
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
            SignInError::BadCredentials => "bad_credentials",
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
        let outcome = self.check_lawyer(&keys, username, password).await;
        let outcome = self.settle(&self.lawyers, &keys, username, client, outcome);
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
        let outcome = self.check_staff(&keys, username, password, code).await;
        let outcome = self.settle(&self.staff, &keys, username, client, outcome);
        let staff = match outcome {
            Ok(a) => a,
            Err(e) => return Err(self.audit_failure(AccountKind::Staff, username, e).await),
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

    /// Tell the limiter how the attempt went (a refusal by the limiter itself is not a
    /// new failure).
    fn settle<T>(
        &self,
        limiter: &LoginLimiter,
        keys: &Keys,
        username: &str,
        client: IpAddr,
        outcome: Result<T, SignInError>,
    ) -> Result<T, SignInError> {
        match &outcome {
            Ok(_) => limiter.record_success(&keys.both()[..1]),
            Err(SignInError::TooManyAttempts(_) | SignInError::Store(_)) => {}
            Err(e) => {
                limiter.record_failure(&keys.both(), Instant::now());
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
        if matches!(e, SignInError::Store(_)) {
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
        keys: &Keys,
        username: &str,
        password: &str,
    ) -> Result<AccountRow, SignInError> {
        self.lawyers
            .check(&keys.both(), Instant::now())
            .map_err(SignInError::TooManyAttempts)?;
        let account = self.store.lawyer_by_username(username).await?;
        let hash = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| password::dummy_hash().to_owned());
        let ok = password::verify_async(password.to_owned(), hash).await;
        match account {
            Some(a) if ok => Ok(a),
            _ => Err(SignInError::BadCredentials),
        }
    }

    async fn check_staff(
        &self,
        keys: &Keys,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<StaffRow, SignInError> {
        self.staff
            .check(&keys.both(), Instant::now())
            .map_err(SignInError::TooManyAttempts)?;
        let account = self.store.staff_by_username(username).await?;
        let hash = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| password::dummy_hash().to_owned());
        let password_ok = password::verify_async(password.to_owned(), hash).await;
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
