//! The admission service: the one sequence that lets a participant into a visit, for the
//! join-token request (HTTP) and the join itself (signalling). The edges only map what it
//! returns: a token or a seat, or one typed [`Refusal`].
//!
//! ```text
//! token request (lawyer session | booth certificate)
//!   -> visit row -> booth matches the visit (booths) -> terminal (R-REMOTE-1)
//!   -> evidence (Gate::applicant) -> policy::admit -> audit (token issued | refused)
//!   -> token; the evidence is kept for the token's lifetime
//! join (token, connection's certificate chain)
//!   -> verify token -> booth certificate matches the token (booths)
//!   -> consume the token (single use, durable) -> visit row (fresh)
//!   -> the token's evidence (gathered again only if the server restarted since)
//!   -> policy::admit (now) -> audit first (token used + admission granted)
//!   -> seat in the hub
//! ```
//!
//! Every refusal is appended to the audit log before it is returned; a refusal is the safe
//! direction, so it stands even when that record cannot be written (logged loudly). An
//! admission that cannot be recorded is refused with `audit_unavailable` and no media is
//! possible (docs/DESIGN.md invariant 3). `policy::admit` is called here and nowhere else
//! (docs/DESIGN.md invariant 1: only policy makes an `Admitted`).
//!
//! Does not: speak HTTP or WebSocket (the edges map [`Refusal`]), authenticate accounts
//! (`auth`), or gather evidence itself ([`super::evidence::Gate`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use confer_signaling::ErrorCode;
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;

use super::evidence::{Gate, GateError};
use super::hub::{HubError, Seat, VisitHub};
use super::lifecycle::{is_companion, EndReason, Notice};
use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::{BoothIdentity, BoothRefusal, Booths, JoinTokenError, JoinTokens};
use crate::ids::{LawyerId, ParticipantId, VisitId};
use crate::policy::{self, Applicant, Deny, LicenceBasis};
use crate::store::{Store, VisitRow};

/// Why someone is not let in: one table for the code, the HTTP status, the wire code and
/// the sentences in Chinese and English (see [`Refusal::row`] and the messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The join token is not one this server issued (or was altered).
    InvalidToken,
    /// The join token's short life is over.
    TokenExpired,
    /// The join token was used before (single use).
    TokenReplayed,
    /// A lawyer-side session whose account no longer exists.
    NotSignedIn,
    /// The connection's client certificate is missing, invalid, or names an unknown booth.
    BoothCertificate { code: &'static str, message: String },
    /// The booth's certificate is not the booth of this visit (or of this token).
    BoothMismatch,
    /// No such visit.
    VisitNotFound,
    /// Policy refused (R-VERIFY-*, R-ARRANGE-*, R-PRIV-2, R-REMOTE-1).
    Policy(Deny),
    /// The visit's slot is over (found when taking the seat).
    SlotOver,
    /// The visit has ended (found when taking the seat).
    VisitEnded,
    /// The same participant is already connected from another device (R-VERIFY-4).
    AlreadyConnected,
    /// An assistant or interpreter while the visit's lawyer is not present (R-VERIFY-4).
    LawyerNotPresent,
    /// The audit log cannot be written: nothing is admitted (fail closed).
    AuditUnavailable,
    /// The database or another dependency failed: nothing is admitted (fail closed).
    Unavailable,
    /// This node is draining and the visit is not live on it: join on another node.
    NodeDraining,
    /// The visit's media lives on another node: join there (its signalling URL). Not a
    /// refusal of the person: nothing is audited, the token is not used.
    Moved(String),
}

/// One row of the refusal table.
struct Row {
    code: &'static str,
    status: StatusCode,
    wire: ErrorCode,
}

impl Refusal {
    fn row(&self) -> Row {
        let row = |code, status, wire| Row { code, status, wire };
        use StatusCode as S;
        match self {
            Refusal::InvalidToken => row("invalid_token", S::UNAUTHORIZED, ErrorCode::InvalidToken),
            Refusal::TokenExpired => row("token_expired", S::UNAUTHORIZED, ErrorCode::TokenExpired),
            Refusal::TokenReplayed => row("token_replayed", S::CONFLICT, ErrorCode::TokenReplayed),
            Refusal::NotSignedIn => row("not_signed_in", S::UNAUTHORIZED, ErrorCode::InvalidToken),
            Refusal::BoothCertificate { code, .. } => {
                let status = if *code == crate::auth::BoothCertError::NoCertificate.code() {
                    S::UNAUTHORIZED
                } else {
                    S::FORBIDDEN
                };
                if *code == crate::auth::BoothRefusal::Revoked.code() {
                    row(code, status, ErrorCode::CertificateRevoked)
                } else {
                    row(code, status, ErrorCode::BoothCertificateRequired)
                }
            }
            Refusal::BoothMismatch => row("booth_mismatch", S::FORBIDDEN, ErrorCode::BoothMismatch),
            Refusal::VisitNotFound => row("not_found", S::NOT_FOUND, ErrorCode::VisitEnded),
            Refusal::Policy(d) => {
                let status = match d {
                    Deny::NotAParticipant => S::FORBIDDEN,
                    Deny::Licence(r) if r.is_registry_outage() => S::SERVICE_UNAVAILABLE,
                    _ => S::CONFLICT,
                };
                let wire = match d {
                    Deny::NotAParticipant
                    | Deny::CompanionNotApproved
                    | Deny::CompanionNotInvited
                    | Deny::RemoteBoothRequired => ErrorCode::NotAParticipant,
                    Deny::TooEarly => ErrorCode::TooEarly,
                    Deny::SlotOver => ErrorCode::SlotOver,
                    Deny::VisitEnded => ErrorCode::VisitEnded,
                    Deny::AccountLocked => ErrorCode::AccountLocked,
                    Deny::Licence(_) => ErrorCode::LicenceNotVerified,
                    Deny::NoCase | Deny::NoEngagement | Deny::Documents(_) => {
                        ErrorCode::DocumentsIncomplete
                    }
                    Deny::PermissionMissing | Deny::PermissionRefused => {
                        ErrorCode::PermissionRequired
                    }
                    Deny::RoomConsentMissing | Deny::RoomNotAttested => ErrorCode::RoomNotReady,
                };
                row(d.code(), status, wire)
            }
            Refusal::SlotOver => row("slot_over", S::CONFLICT, ErrorCode::SlotOver),
            Refusal::VisitEnded => row("visit_ended", S::CONFLICT, ErrorCode::VisitEnded),
            Refusal::AlreadyConnected => row(
                "already_connected",
                S::CONFLICT,
                ErrorCode::AlreadyConnected,
            ),
            Refusal::LawyerNotPresent => row(
                "lawyer_not_present",
                S::CONFLICT,
                ErrorCode::LawyerNotPresent,
            ),
            Refusal::AuditUnavailable => row(
                "audit_unavailable",
                S::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
            ),
            Refusal::Unavailable => row(
                "unavailable",
                S::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
            ),
            Refusal::NodeDraining => row(
                "node_draining",
                S::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
            ),
            Refusal::Moved(_) => row("moved", S::CONFLICT, ErrorCode::Unavailable),
        }
    }

    /// The stable machine-readable code (API responses, audit, metrics labels).
    pub fn code(&self) -> &'static str {
        self.row().code
    }

    /// The HTTP status the API answers with.
    pub fn status(&self) -> StatusCode {
        self.row().status
    }

    /// The signalling protocol's error code.
    pub fn wire(&self) -> ErrorCode {
        self.row().wire
    }

    /// What the person reads, in English.
    pub fn message_en(&self) -> String {
        match self {
            Refusal::Policy(d) => d.message_en(),
            Refusal::BoothCertificate { message, .. } => message.clone(),
            Refusal::NotSignedIn => {
                "Please sign in again: your session is missing or has expired.".into()
            }
            Refusal::VisitNotFound => "This visit was not found.".into(),
            Refusal::BoothMismatch => {
                "This visit is booked for another booth; this terminal cannot join it.".into()
            }
            Refusal::AuditUnavailable => "The visit cannot start because the audit log cannot be written; staff have been alerted. Please try again later.".into(),
            Refusal::LawyerNotPresent => "The lawyer is not in the visit now: an assistant or interpreter may join only while the lawyer is present. Please join after the lawyer has joined.".into(),
            Refusal::NodeDraining => "This server is being taken out of service and starts no new visit; please join again in a moment.".into(),
            Refusal::Moved(_) => "This visit is served by another server of the facility; connecting there.".into(),
            other => other.wire().default_message().into(),
        }
    }

    /// The same sentence in Simplified Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            Refusal::Policy(d) => d.message_zh(),
            Refusal::InvalidToken => "入会凭证无效，请返回会见页面重新加入。".into(),
            Refusal::TokenExpired => "入会凭证已过期，请返回会见页面重新加入。".into(),
            Refusal::TokenReplayed => "该入会凭证已被使用过，请返回会见页面重新加入。".into(),
            Refusal::NotSignedIn => "登录已失效，请重新登录。".into(),
            Refusal::BoothCertificate { code, .. }
                if *code == crate::auth::BoothRefusal::Revoked.code() =>
            {
                "本终端的会见终端证书已被吊销，无法加入会见。请向看守所申请新的证书。".into()
            }
            Refusal::BoothCertificate { .. } => {
                "本终端的证书无效或未登记，无法作为会见终端加入。请联系看守所工作人员。".into()
            }
            Refusal::BoothMismatch => "此会见预约在另一台会见终端，本终端不能加入。".into(),
            Refusal::VisitNotFound => "未找到此会见。".into(),
            Refusal::SlotOver => "本次会见的时段已结束。".into(),
            Refusal::VisitEnded => "本次会见已结束。".into(),
            Refusal::AlreadyConnected => {
                "您已在另一台设备上加入本次会见；请先在那台设备上离开。".into()
            }
            Refusal::AuditUnavailable => {
                "审计日志暂时无法写入，会见无法开始；已通知工作人员，请稍后再试。".into()
            }
            Refusal::Unavailable => "服务暂时不可用，请稍后再试。".into(),
            Refusal::NodeDraining => {
                "该服务器即将停止服务，不再开始新的会见，请稍后重新加入。".into()
            }
            Refusal::Moved(_) => "本次会见由本单位的另一台服务器承载，正在转接。".into(),
            Refusal::LawyerNotPresent => {
                "律师目前不在会见中：助理和翻译人员只能在律师在场时加入，请在律师加入后再加入。"
                    .into()
            }
        }
    }

    fn from_booth(e: BoothRefusal) -> Refusal {
        match e {
            BoothRefusal::Audit(_) => Refusal::AuditUnavailable,
            BoothRefusal::Store(_) => Refusal::Unavailable,
            other => Refusal::BoothCertificate {
                code: other.code(),
                message: other.to_string(),
            },
        }
    }

    fn from_gate(visit: VisitId, e: GateError) -> Refusal {
        tracing::error!(visit = %visit, error = %e, "admission gate failed; admitting nobody");
        match e {
            GateError::Audit(_) => Refusal::AuditUnavailable,
            GateError::Store(_) => Refusal::Unavailable,
        }
    }
}

/// A join token handed to a participant.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A participant let into a visit: the seat, and the notices for it.
pub struct Joined {
    pub seat: Seat,
    pub notices: mpsc::UnboundedReceiver<Notice>,
    /// Who was admitted (for the TURN credential, R-REMOTE-2).
    pub participant: ParticipantId,
}

/// The evidence gathered at a token request, kept until the token's use or expiry.
struct Kept {
    applicant: Applicant,
    expires_at: DateTime<Utc>,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Admission {
    store: Store,
    audit: Audit,
    tokens: JoinTokens,
    booths: Booths,
    gate: Gate,
    hub: VisitHub,
    /// Evidence by join-token id. A std `Mutex`, never held across an `.await`.
    kept: Arc<Mutex<HashMap<String, Kept>>>,
    /// This node is draining: no visit that is not live here starts here.
    draining: crate::cluster::Draining,
    /// Where each visit's media lives in the cluster; `None`: everything is here.
    placement: Option<crate::cluster::placement::Placement>,
}

/// Kept evidence beyond this many tokens is not kept (the join then gathers it again).
const MAX_KEPT: usize = 10_000;

impl Admission {
    pub fn new(
        store: Store,
        audit: Audit,
        tokens: JoinTokens,
        booths: Booths,
        gate: Gate,
        hub: VisitHub,
    ) -> Admission {
        Admission {
            store,
            audit,
            tokens,
            booths,
            gate,
            hub,
            kept: Arc::new(Mutex::new(HashMap::new())),
            draining: crate::cluster::Draining::default(),
            placement: None,
        }
    }

    /// Send participants of a visit placed on another node there (`Refusal::Moved`,
    /// before the join token is used, so the same token works there).
    pub fn with_placement(mut self, placement: crate::cluster::placement::Placement) -> Admission {
        self.placement = Some(placement);
        self
    }

    /// Follow this node's draining (`confer node drain`): while it is set, a join to a visit
    /// that is not live on this node is refused with `node_draining` before its token is
    /// used, so the token still works on another node.
    pub fn with_draining(mut self, draining: crate::cluster::Draining) -> Admission {
        self.draining = draining;
        self
    }

    /// A join token for a lawyer-side account (lawyer, assistant or interpreter, as the
    /// account says, never as the request says). `chain` is the connection's client
    /// certificate chain: a visit arranged from a remote police-station booth admits its
    /// lawyer only through that terminal (R-REMOTE-1).
    pub async fn token_for_lawyer<C>(
        &self,
        account: LawyerId,
        visit: VisitId,
        chain: &C,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, Refusal>
    where
        C: AsRef<[CertificateDer<'static>]> + ?Sized,
    {
        let participant = self
            .gate
            .lawyer_side_participant(account)
            .await
            .map_err(|e| Refusal::from_gate(visit, e))?
            .ok_or(Refusal::NotSignedIn)?;
        let row = self.visit_row(visit).await?;
        let terminal = self
            .booths
            .terminal(chain, row.lawyer_booth.is_some())
            .await;
        self.issue(&row, participant, Actor::Lawyer(account), terminal, now)
            .await
    }

    /// A join token for a booth terminal proven by its certificate, for its own visit.
    pub async fn token_for_booth(
        &self,
        me: &BoothIdentity,
        visit: VisitId,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, Refusal> {
        let row = self.visit_row(visit).await?;
        if &row.booth != me.booth() {
            return Err(Refusal::BoothMismatch);
        }
        let booth = me.booth().clone();
        self.issue(
            &row,
            ParticipantId::Booth(booth.clone()),
            Actor::Booth(booth),
            None,
            now,
        )
        .await
    }

    async fn visit_row(&self, visit: VisitId) -> Result<VisitRow, Refusal> {
        match self.store.visit(visit).await {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(Refusal::VisitNotFound),
            Err(e) => {
                tracing::error!(visit = %visit, error = %e, "cannot read a visit");
                Err(Refusal::Unavailable)
            }
        }
    }

    /// The same gate the join will pass, so that a refusal is explained before the browser
    /// opens its camera. Token and refusal are both audited before they are answered.
    async fn issue(
        &self,
        row: &VisitRow,
        participant: ParticipantId,
        actor: Actor,
        terminal: Option<crate::ids::BoothId>,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, Refusal> {
        let visit = row.id;
        let applicant = match self
            .gate
            .applicant(row, &participant, terminal.as_ref(), now)
            .await
            .map_err(|e| Refusal::from_gate(visit, e))?
        {
            Ok(a) => a,
            Err(d) => return Err(self.refuse_token(actor, visit, &participant, d).await),
        };
        if let Err(d) = self.decide(row, &applicant, now).await? {
            return Err(self.refuse_token(actor, visit, &participant, d).await);
        }
        // R-VERIFY-4: told before the camera opens; the join checks it again, in the hub.
        if is_companion(participant.role()) && !self.hub.lawyer_present(visit) {
            let refusal = Refusal::LawyerNotPresent;
            let record = AuditRecord::AdmissionRefused {
                visit: Some(visit),
                participant: Some(participant.clone()),
                reason: refusal.code().into(),
            };
            return Err(self.refused(actor, vec![record], refusal).await);
        }
        let (token, claims) = self.tokens.issue(visit, participant.clone(), now);
        let record = AuditRecord::JoinTokenIssued {
            visit,
            participant,
            token_id: claims.jti.clone(),
        };
        if self.audit.append(actor, record).await.is_err() {
            return Err(Refusal::AuditUnavailable);
        }
        self.keep(claims.jti.clone(), applicant, claims.expires_at(), now);
        Ok(IssuedToken {
            token,
            expires_at: claims.expires_at(),
        })
    }

    /// A refused token request, audited (fail closed: no record, no answer but 503).
    async fn refuse_token(
        &self,
        actor: Actor,
        visit: VisitId,
        participant: &ParticipantId,
        d: Deny,
    ) -> Refusal {
        let record = AuditRecord::AdmissionRefused {
            visit: Some(visit),
            participant: Some(participant.clone()),
            reason: d.code().into(),
        };
        match self.audit.append(actor, record).await {
            Ok(_) => Refusal::Policy(d),
            Err(_) => Refusal::AuditUnavailable,
        }
    }

    /// Ask policy (the only call of `policy::admit`), and alert staff when a lawyer's
    /// refusal may be impersonation (R-VERIFY-3).
    async fn decide(
        &self,
        row: &VisitRow,
        applicant: &Applicant,
        now: DateTime<Utc>,
    ) -> Result<Result<policy::Admitted, Deny>, Refusal> {
        let decision = policy::admit(&row.terms(), applicant, now);
        if let (Err(deny), Applicant::Lawyer(id, _)) = (&decision, applicant) {
            if deny.is_possible_impersonation() {
                self.gate
                    .raise_impersonation_alert(*id, Some(row.id), deny.code(), now)
                    .await
                    .map_err(|e| Refusal::from_gate(row.id, e))?;
            }
        }
        Ok(decision)
    }

    fn keep(
        &self,
        jti: String,
        applicant: Applicant,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|_, k| k.expires_at > now);
        if kept.len() < MAX_KEPT {
            kept.insert(
                jti,
                Kept {
                    applicant,
                    expires_at,
                },
            );
        }
    }

    fn take_kept(&self, jti: &str, now: DateTime<Utc>) -> Option<Applicant> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.remove(jti)
            .filter(|k| k.expires_at > now)
            .map(|k| k.applicant)
    }

    /// Read the account's lock again (kept evidence may be up to a token's life old).
    async fn refresh_lock(
        &self,
        applicant: &mut Applicant,
    ) -> Result<(), crate::store::StoreError> {
        let (id, locked) = match applicant {
            Applicant::Booth(_) => return Ok(()),
            Applicant::Lawyer(id, evidence) => (*id, &mut evidence.account_locked),
            Applicant::Companion {
                account,
                account_locked,
                ..
            } => (*account, account_locked),
        };
        let now_locked = self
            .store
            .lawyer_account(id)
            .await?
            .is_none_or(|a| a.locked);
        *locked |= now_locked;
        Ok(())
    }

    /// Check a join token and take a seat in its visit. `chain` is the connection's client
    /// certificate chain: a booth's identity comes from it, never from the token alone.
    pub async fn join<C>(
        &self,
        token: &str,
        chain: &C,
        now: DateTime<Utc>,
    ) -> Result<Joined, Refusal>
    where
        C: AsRef<[CertificateDer<'static>]> + ?Sized,
    {
        let claims = match self.tokens.verify(token, now) {
            Ok(c) => c,
            Err(e) => {
                let refusal = match e {
                    JoinTokenError::Invalid => Refusal::InvalidToken,
                    JoinTokenError::Expired => Refusal::TokenExpired,
                };
                // A token that does not verify identifies nobody: counted per minute, not
                // one entry each (audit::tally).
                self.audit
                    .count_unauthenticated("join_token_rejected", refusal.code());
                return Err(refusal);
            }
        };
        let visit = claims.visit;
        let participant = claims.participant.clone();
        let refusal_record = |code: &str| AuditRecord::AdmissionRefused {
            visit: Some(visit),
            participant: Some(participant.clone()),
            reason: code.to_owned(),
        };
        let (actor, device_cert_sha256) = self.identify(visit, &participant, chain).await?;
        // The cluster: a visit's media lives on one node; a participant who reached another
        // is sent there with the token unused.
        if let Some(placement) = &self.placement {
            match placement.locate(visit, self.hub.is_live(visit), now).await {
                Ok(crate::cluster::placement::Located::Here) => {}
                Ok(crate::cluster::placement::Located::Elsewhere { ws_url }) => {
                    tracing::info!(%visit, "visit placed on another node; sending the participant there");
                    return Err(Refusal::Moved(ws_url));
                }
                // This node is shutting down and no other is alive: try again later.
                Ok(crate::cluster::placement::Located::Nowhere) => {
                    return Err(Refusal::Unavailable);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read or write the visit's placement");
                    return Err(Refusal::Unavailable);
                }
            }
        }
        // A draining node starts no new visit; the token is not used, so it still works on
        // another node.
        if self.draining.get() && !self.hub.is_live(visit) {
            let refusal = Refusal::NodeDraining;
            let records = vec![refusal_record(refusal.code())];
            return Err(self.refused(actor, records, refusal).await);
        }
        let first_use = self
            .store
            .consume_join_token(&claims.jti, now, claims.expires_at())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot record a join token's use");
                Refusal::Unavailable
            })?;
        if !first_use {
            tracing::warn!(visit = %visit, role = participant.role().as_str(), "join token replayed");
            let refusal = Refusal::TokenReplayed;
            let records = vec![
                AuditRecord::JoinTokenRejected {
                    visit: Some(visit),
                    reason: refusal.code().into(),
                },
                refusal_record(refusal.code()),
            ];
            return Err(self.refused(actor, records, refusal).await);
        }
        let lead = vec![AuditRecord::JoinTokenUsed {
            visit,
            participant: participant.clone(),
            token_id: claims.jti.clone(),
        }];
        let kept = self.take_kept(&claims.jti, now);
        self.seat(
            visit,
            participant,
            actor,
            chain,
            device_cert_sha256,
            kept,
            lead,
            Vec::new(),
            now,
        )
        .await
    }

    /// A new seat on this node for a participant whose seat went away with its node (the
    /// cluster's failover, or this node's restart), on the resume credential they hold
    /// (R-REMOTE-2; the caller checked and spent it). The whole gate runs again, as for a
    /// join without kept evidence: the visit read fresh, the booth's certificate, the
    /// lawyer's licence asked again, the policy; audited `admission_granted` and
    /// `participant_resumed` before the seat exists.
    pub async fn readmit<C>(
        &self,
        visit: VisitId,
        participant: &ParticipantId,
        chain: &C,
        now: DateTime<Utc>,
    ) -> Result<Joined, Refusal>
    where
        C: AsRef<[CertificateDer<'static>]> + ?Sized,
    {
        let participant = participant.clone();
        let (actor, device_cert_sha256) = self.identify(visit, &participant, chain).await?;
        if self.draining.get() && !self.hub.is_live(visit) {
            return Err(Refusal::NodeDraining);
        }
        let tail = vec![AuditRecord::ParticipantResumed {
            visit,
            participant: participant.clone(),
        }];
        self.seat(
            visit,
            participant,
            actor,
            chain,
            device_cert_sha256,
            None,
            Vec::new(),
            tail,
            now,
        )
        .await
    }

    /// Who is asking, for the audit, and a booth's device: the certificate its connection
    /// presented, verified and naming the same booth (R-VERIFY-4, the visit receipt). A
    /// refusal is audited before it is answered (`Booths::verify` records a refused
    /// certificate itself).
    async fn identify<C>(
        &self,
        visit: VisitId,
        participant: &ParticipantId,
        chain: &C,
    ) -> Result<(Actor, Option<String>), Refusal>
    where
        C: AsRef<[CertificateDer<'static>]> + ?Sized,
    {
        let booth = match participant {
            ParticipantId::Lawyer(id)
            | ParticipantId::Assistant(id)
            | ParticipantId::Interpreter(id) => return Ok((Actor::Lawyer(*id), None)),
            ParticipantId::Booth(booth) => booth,
        };
        let refused = |refusal: Refusal, actor: Actor| async move {
            let records = vec![AuditRecord::AdmissionRefused {
                visit: Some(visit),
                participant: Some(participant.clone()),
                reason: refusal.code().to_owned(),
            }];
            self.refused(actor, records, refusal).await
        };
        let me = match self.booths.verify(chain).await {
            Ok(me) => me,
            Err(BoothRefusal::Audit(_)) => return Err(Refusal::AuditUnavailable),
            Err(e) => return Err(refused(Refusal::from_booth(e), Actor::Anonymous).await),
        };
        if me.booth() != booth {
            let actor = Actor::Booth(me.booth().clone());
            return Err(refused(Refusal::BoothMismatch, actor).await);
        }
        let device = me.certificate_sha256().to_owned();
        Ok((Actor::Booth(booth.clone()), Some(device)))
    }

    /// The shared end of a join and of a re-admission: the visit read fresh, the evidence
    /// (`kept` from the token request, else gathered now), the decision, the audit
    /// (`lead`, `admission_granted`, `tail`) and then the seat.
    #[allow(clippy::too_many_arguments)]
    async fn seat<C>(
        &self,
        visit: VisitId,
        participant: ParticipantId,
        actor: Actor,
        chain: &C,
        device_cert_sha256: Option<String>,
        kept: Option<Applicant>,
        lead: Vec<AuditRecord>,
        tail: Vec<AuditRecord>,
        now: DateTime<Utc>,
    ) -> Result<Joined, Refusal>
    where
        C: AsRef<[CertificateDer<'static>]> + ?Sized,
    {
        let refusal_record = |code: &str| AuditRecord::AdmissionRefused {
            visit: Some(visit),
            participant: Some(participant.clone()),
            reason: code.to_owned(),
        };
        let row = match self.visit_row(visit).await {
            Ok(row) => row,
            Err(Refusal::VisitNotFound) => {
                let refusal = Refusal::VisitEnded;
                let records = vec![refusal_record(refusal.code())];
                return Err(self.refused(actor, records, refusal).await);
            }
            Err(other) => return Err(other),
        };
        // The terminal is a fact about this connection, not the token (R-REMOTE-1): a
        // token taken at a police-station terminal does not work from elsewhere.
        let terminal = match participant {
            ParticipantId::Booth(_) => None,
            _ => {
                self.booths
                    .terminal(chain, row.lawyer_booth.is_some())
                    .await
            }
        };
        // The rest of the evidence was gathered when the token was issued; only after a
        // restart is it gathered again. The row (ended, slot, room) and the account's lock
        // are always read fresh: a lock set since the token was issued still holds.
        let applicant = match kept {
            Some(mut a) => {
                self.refresh_lock(&mut a)
                    .await
                    .map_err(|e| Refusal::from_gate(visit, e.into()))?;
                if let Applicant::Lawyer(_, evidence) = &mut a {
                    evidence.terminal = terminal;
                }
                a
            }
            None => {
                match self
                    .gate
                    .applicant(&row, &participant, terminal.as_ref(), now)
                    .await
                    .map_err(|e| Refusal::from_gate(visit, e))?
                {
                    Ok(a) => a,
                    Err(d) => {
                        let records = vec![refusal_record(d.code())];
                        return Err(self.refused(actor, records, Refusal::Policy(d)).await);
                    }
                }
            }
        };
        let admitted = match self.decide(&row, &applicant, now).await? {
            Ok(a) => a,
            Err(d) => {
                let records = vec![refusal_record(d.code())];
                return Err(self.refused(actor, records, Refusal::Policy(d)).await);
            }
        };
        let licence = match admitted.licence() {
            LicenceBasis::NotApplicable => None,
            LicenceBasis::Registry => Some("registry".to_owned()),
            LicenceBasis::Manual => Some("manual".to_owned()),
        };
        // Audit first: the admission is durable before the seat (and so media) exists.
        let mut granted = lead;
        granted.push(AuditRecord::AdmissionGranted {
            visit,
            participant: participant.clone(),
            licence,
            device_cert_sha256,
        });
        granted.extend(tail);
        if let Err(e) = self.audit.append_all(actor.clone(), granted).await {
            tracing::error!(visit = %visit, error = %e, "admission refused: the audit log cannot be written");
            return Err(Refusal::AuditUnavailable);
        }
        let label = self.label(&row, &participant).await;
        let (tx, rx) = mpsc::unbounded_channel();
        let seat = match self.hub.enter(admitted, label, tx, now) {
            Ok(seat) => seat,
            Err(e) => {
                let refusal = match e {
                    HubError::Ended(EndReason::SlotOver) => Refusal::SlotOver,
                    HubError::AlreadyConnected => Refusal::AlreadyConnected,
                    HubError::LawyerAbsent => Refusal::LawyerNotPresent,
                    _ => Refusal::VisitEnded,
                };
                let records = vec![refusal_record(refusal.code())];
                return Err(self.refused(actor, records, refusal).await);
            }
        };
        tracing::info!(visit = %seat.visit, role = seat.role.as_str(), "participant joined");
        Ok(Joined {
            seat,
            notices: rx,
            participant,
        })
    }

    /// What the others' rosters show for `participant` (R-VERIFY-4): the booth's label, or
    /// the account's display name; nothing else about the person.
    async fn label(&self, row: &VisitRow, participant: &ParticipantId) -> String {
        match participant {
            ParticipantId::Booth(_) => row.booth_label.clone(),
            ParticipantId::Lawyer(id)
            | ParticipantId::Assistant(id)
            | ParticipantId::Interpreter(id) => match self.store.lawyer_account(*id).await {
                Ok(Some(a)) => a.display_name,
                _ => participant.role().as_str().to_owned(),
            },
        }
    }

    /// Record a refused join, then hand back the refusal. A refusal is the safe direction:
    /// it stands even when the record cannot be written (logged loudly).
    async fn refused(&self, actor: Actor, records: Vec<AuditRecord>, refusal: Refusal) -> Refusal {
        if let Err(e) = self.audit.append_all(actor, records).await {
            tracing::error!(error = %e, code = refusal.code(), "AUDIT: a refused join could not be recorded");
        }
        refusal
    }
}

#[cfg(test)]
mod tests;
