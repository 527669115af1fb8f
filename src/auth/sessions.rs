//! Sign-in sessions of lawyers and staff, as a handle the edges receive: start one, find
//! the account behind a bearer token (refreshing its idle timer), end one.
//!
//! The client holds the token; the store holds only its digest. A lawyer's session ends
//! after `auth.session_idle_secs` without use, a staff session after
//! `admin.session_idle_secs` (shorter by default: MLPS level 3 asks for it); both end at
//! `auth.session_max_secs` whatever their use.
//!
//! Does not: check passwords or second factors ([`super::signin`]), decide what a role
//! may do (the edges' extractors in `http::extract`).

use chrono::{DateTime, Duration, Utc};

use super::SessionToken;
use crate::config::Config;
use crate::ids::{AdminId, LawyerId};
use crate::model::staff::StaffRole;
use crate::store::{SessionKind, Store, StoreError};

/// Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    lawyer_idle: Duration,
    staff_idle: Duration,
    max: Duration,
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

impl Sessions {
    pub fn new(store: Store, config: &Config) -> Sessions {
        Sessions {
            store,
            lawyer_idle: secs(config.auth.session_idle_secs),
            staff_idle: secs(config.admin.session_idle_secs),
            max: secs(config.auth.session_max_secs),
        }
    }

    /// Start a session for an account; the client receives the token, the store its digest.
    pub async fn start(
        &self,
        kind: SessionKind,
        account: i64,
        now: DateTime<Utc>,
    ) -> Result<SessionToken, StoreError> {
        let token = SessionToken::generate();
        self.store
            .insert_session(&token.digest(), kind, account, now, now + self.max)
            .await?;
        Ok(token)
    }

    /// The lawyer-side account behind a live session.
    pub async fn lawyer(
        &self,
        token: &SessionToken,
        now: DateTime<Utc>,
    ) -> Result<Option<LawyerId>, StoreError> {
        Ok(self
            .store
            .touch_session(
                &token.digest(),
                SessionKind::Lawyer,
                now,
                now - self.lawyer_idle,
            )
            .await?
            .map(LawyerId))
    }

    /// The staff member behind a live staff session, with their one role.
    pub async fn staff(
        &self,
        token: &SessionToken,
        now: DateTime<Utc>,
    ) -> Result<Option<(AdminId, StaffRole)>, StoreError> {
        let Some(id) = self
            .store
            .touch_session(
                &token.digest(),
                SessionKind::Admin,
                now,
                now - self.staff_idle,
            )
            .await?
        else {
            return Ok(None);
        };
        let id = AdminId(id);
        Ok(self.store.staff_role(id).await?.map(|role| (id, role)))
    }

    /// End a session (sign-out).
    pub async fn end(&self, token: &SessionToken) -> Result<(), StoreError> {
        self.store.delete_session(&token.digest()).await
    }
}
