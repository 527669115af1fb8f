//! Resume credentials (R-REMOTE-2): a participant whose connection was lost takes its kept
//! seat back on a new signalling connection without a new admission round.
//!
//! ```text
//! joined (a join or a resume)  -> issue: random 256-bit credential, only its SHA-256 kept,
//!                                 bound to (visit, seat, participant, device)
//! resume {token} on a new connection
//!   -> known hash? (resume_invalid) -> unused? (resume_replayed; used now, single use)
//!   -> same device? (resume_wrong_device) -> visit row, fresh: ended? slot over?
//!   -> seat still kept, with its media peer? (resume_expired)
//!   -> a registry-verified lawyer: the licence asked again (withdrawn: the visit ends)
//!   -> audit participant_resumed (first) -> the hub hands the seat over -> a new credential
//! ```
//!
//! The device: a booth (or a police-station terminal) is its client certificate, so the
//! binding is the SHA-256 of the certificate the connection presented; a lawyer's browser
//! tab is the random `device` id the page keeps in `sessionStorage` and sends in `hello`. A
//! connection that names no device and presents no certificate gets no credential. The
//! credential itself is the secret (only the tab that was sent `joined` holds it); the
//! device binding makes a copied credential useless elsewhere.
//!
//! Lifetime: single use (every successful resume issues the next one, the old one dies);
//! at the latest the slot end; in effect as long as the hub keeps the seat (a grace period
//! that ends, `leave`, a new join that replaces the seat, or the end of the visit let it go,
//! and the credential with it). The raw credential is never stored or logged (only its
//! SHA-256).
//!
//! A seat that went away with its node: every credential is also written to the store
//! (`resume_credentials`, hash, visit, participant, device, node) so that when the node
//! that holds a visit dies (the cluster) or restarts, the participant's resume reaches a
//! node with no seat for it. That node asks the placement where the visit is now: on a
//! node that is alive elsewhere, the client is sent there (`moved`, the credential not
//! spent); here, the credential is spent in the store (one node wins) and the participant
//! is admitted again through the whole gate (`Admission::readmit`: booth certificate,
//! licence asked again, policy, audit first) into a new seat with a new media peer; the
//! `joined` answer says `renegotiate`, and the client makes a new peer connection.
//!
//! Every refusal is audited (`resume_refused` with the reason) before it is answered; a
//! resume is audited as `participant_resumed`, never as an admission (the seat's admission
//! stands, and its `Admitted` proof already made its media peer, which the seat keeps).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use confer_signaling::ErrorCode;
use rand::RngCore as _;
use tokio::sync::mpsc;

use super::evidence::Gate;
use super::hub::{HubError, Seat, VisitHub};
use super::lifecycle::{EndReason, Notice, SeatNo};
use crate::audit::{Actor, Audit, AuditRecord};
use crate::ids::{ParticipantId, VisitId};
use crate::policy::LicenceBasis;
use crate::store::Store;

/// Entries kept at most (used ones are kept until the slot end, to tell a replay).
const MAX_ENTRIES: usize = 20_000;

/// The device a credential is bound to (R-REMOTE-2): a hash of the client certificate the
/// connection presented and of the device id it sent in `hello`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DeviceBinding([u8; 32]);

impl std::fmt::Debug for DeviceBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceBinding(..)")
    }
}

impl DeviceBinding {
    /// `certificate`: the DER of the leaf certificate the connection presented, if any;
    /// `device`: the id from `hello`, if any. `None` when there is neither.
    pub fn new(certificate: Option<&[u8]>, device: Option<&str>) -> Option<DeviceBinding> {
        if certificate.is_none() && device.is_none() {
            return None;
        }
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"confer-device-binding/1\0");
        for part in [certificate, device.map(str::as_bytes)] {
            match part {
                Some(bytes) => {
                    ctx.update(&[1]);
                    ctx.update(&(bytes.len() as u64).to_be_bytes());
                    ctx.update(bytes);
                }
                None => ctx.update(&[0]),
            }
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Some(DeviceBinding(out))
    }
}

/// Whether a device id from `hello` is acceptable: 1 to 128 of `A-Z a-z 0-9 - _`.
pub fn valid_device_id(device: &str) -> bool {
    (1..=128).contains(&device.len())
        && device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A credential handed to the participant with `joined`.
pub struct Grant {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A seat taken back: the seat, its notices and the next credential.
pub struct Resumed {
    pub seat: Seat,
    pub notices: mpsc::UnboundedReceiver<Notice>,
    pub grant: Grant,
    /// The seat is new (its node went away): the client makes a new peer connection.
    pub renegotiate: bool,
}

/// What a node needs to give a seat back that its node lost: the admission service (the
/// whole gate again) and where each visit lives.
#[derive(Clone)]
pub struct Failover {
    pub admission: super::admission::Admission,
    pub placement: crate::cluster::placement::Placement,
}

/// Why a resume was refused: the audit reason, the wire code and the sentences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeRefusal {
    /// Not a credential this server issued (or the server restarted since).
    Invalid,
    /// Used before.
    Replayed,
    /// Issued to another device.
    WrongDevice,
    /// The seat is no longer kept (grace period over, left, replaced, media gone).
    Expired,
    /// The slot is over.
    SlotOver,
    /// Staff stopped the visit, or it ended otherwise (`end_reason` code).
    VisitEnded(String),
    /// The registry no longer shows the lawyer's licence in good standing.
    LicenceWithdrawn,
    /// The resume cannot be recorded in the audit log (fail closed).
    Unavailable,
    /// The seat went away with its node and the gate, run again here, refused (already
    /// audited by the admission service).
    Readmission(super::admission::Refusal),
    /// The visit lives on another node now: resume there (not a refusal; not audited,
    /// the credential not spent).
    Moved(String),
}

impl ResumeRefusal {
    /// The reason recorded in the audit log.
    pub fn code(&self) -> String {
        match self {
            ResumeRefusal::Invalid => "resume_invalid".into(),
            ResumeRefusal::Replayed => "resume_replayed".into(),
            ResumeRefusal::WrongDevice => "resume_wrong_device".into(),
            ResumeRefusal::Expired => "resume_expired".into(),
            ResumeRefusal::SlotOver => "slot_over".into(),
            ResumeRefusal::VisitEnded(reason) => reason.clone(),
            ResumeRefusal::LicenceWithdrawn => "licence_withdrawn".into(),
            ResumeRefusal::Unavailable => "audit_unavailable".into(),
            ResumeRefusal::Readmission(r) => r.code().into(),
            ResumeRefusal::Moved(_) => "moved".into(),
        }
    }

    /// The signalling protocol's error code.
    pub fn wire(&self) -> ErrorCode {
        match self {
            ResumeRefusal::Invalid => ErrorCode::ResumeInvalid,
            ResumeRefusal::Replayed => ErrorCode::ResumeReplayed,
            ResumeRefusal::WrongDevice => ErrorCode::ResumeWrongDevice,
            ResumeRefusal::Expired => ErrorCode::ResumeExpired,
            ResumeRefusal::SlotOver => ErrorCode::SlotOver,
            ResumeRefusal::VisitEnded(_) => ErrorCode::VisitEnded,
            ResumeRefusal::LicenceWithdrawn => ErrorCode::LicenceNotVerified,
            ResumeRefusal::Unavailable | ResumeRefusal::Moved(_) => ErrorCode::Unavailable,
            ResumeRefusal::Readmission(r) => r.wire(),
        }
    }

    /// What the person reads, in English.
    pub fn message_en(&self) -> String {
        match self {
            ResumeRefusal::VisitEnded(r) if r == "stopped_by_staff" => {
                "Facility staff ended this visit, so it cannot be resumed.".into()
            }
            ResumeRefusal::VisitEnded(_) => "This visit has ended, so it cannot be resumed.".into(),
            ResumeRefusal::SlotOver => {
                "The booked time for this visit is over, so it cannot be resumed.".into()
            }
            ResumeRefusal::LicenceWithdrawn => {
                "The lawyer registry no longer shows the lawyer's licence in good standing, so the visit has ended.".into()
            }
            ResumeRefusal::Readmission(r) => r.message_en(),
            other => other.wire().default_message().into(),
        }
    }

    /// The same sentence in Simplified Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            ResumeRefusal::Invalid => "无法用此凭证恢复连接，请重新加入会见。".into(),
            ResumeRefusal::Replayed => "此重连凭证已被使用过，请重新加入会见。".into(),
            ResumeRefusal::WrongDevice => "此重连凭证属于另一台设备，不能在此使用。".into(),
            ResumeRefusal::Expired => "您离开的时间过长，会见席位未能保留，请重新加入会见。".into(),
            ResumeRefusal::SlotOver => "本次会见的时段已结束，无法恢复。".into(),
            ResumeRefusal::VisitEnded(r) if r == "stopped_by_staff" => {
                "工作人员已结束本次会见，无法恢复。".into()
            }
            ResumeRefusal::VisitEnded(_) => "本次会见已结束，无法恢复。".into(),
            ResumeRefusal::LicenceWithdrawn => {
                "律师执业信息平台显示该律师执业证已不再有效，会见已结束。".into()
            }
            ResumeRefusal::Unavailable => "审计日志暂时无法写入，无法恢复连接；请稍后再试。".into(),
            ResumeRefusal::Readmission(r) => r.message_zh(),
            ResumeRefusal::Moved(_) => "本次会见由本单位的另一台服务器承载，正在转接。".into(),
        }
    }
}

/// One issued credential (keyed by its SHA-256).
struct Entry {
    visit: VisitId,
    seat: SeatNo,
    /// Shared by every credential of the participant ([`Entries::who`]).
    participant: Arc<ParticipantId>,
    licence: LicenceBasis,
    device: DeviceBinding,
    expires_at: DateTime<Utc>,
    used: bool,
}

struct Inner {
    /// This node's id: the node whose seats this node's credentials take back.
    node: String,
    failover: Option<Failover>,
    store: Store,
    audit: Audit,
    hub: VisitHub,
    gate: Gate,
    /// A std `Mutex`, never held across an `.await`.
    entries: Mutex<Entries>,
}

/// The credentials this node issued, by SHA-256, and the participants they name.
///
/// A credential outlives its seat (it is kept until the slot end, to tell a replay or a
/// credential whose seat is gone from an unknown one), so a busy day keeps thousands. Each
/// names its participant, and a booth's id is a heap string: one copy per credential would
/// leave thousands of small blocks allocated during the day's joins, one in each of as many
/// heap pages, and those pages could not go back to the system after the visits end. So a
/// participant is kept once, shared by its credentials, and dropped with the last of them.
#[derive(Default)]
struct Entries {
    by_hash: HashMap<[u8; 32], Entry>,
    who: HashSet<Arc<ParticipantId>>,
}

impl Entries {
    /// The one shared copy of `participant`.
    fn participant(&mut self, participant: &ParticipantId) -> Arc<ParticipantId> {
        if let Some(p) = self.who.get(participant) {
            return Arc::clone(p);
        }
        let p = Arc::new(participant.clone());
        self.who.insert(Arc::clone(&p));
        p
    }

    /// Keep only the credentials `keep` says; participants no credential names go too.
    fn retain(&mut self, keep: impl FnMut(&[u8; 32], &mut Entry) -> bool) {
        self.by_hash.retain(keep);
        self.who.retain(|p| Arc::strong_count(p) > 1);
    }
}

/// The resume service. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Resumes {
    inner: Arc<Inner>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    out
}

fn actor(p: &ParticipantId) -> Actor {
    match p {
        ParticipantId::Lawyer(id)
        | ParticipantId::Assistant(id)
        | ParticipantId::Interpreter(id) => Actor::Lawyer(*id),
        ParticipantId::Booth(b) => Actor::Booth(b.clone()),
    }
}

impl Resumes {
    pub fn new(store: Store, audit: Audit, hub: VisitHub, gate: Gate) -> Resumes {
        Resumes::on_node(String::new(), None, store, audit, hub, gate)
    }

    /// The resume service of node `node`; with `failover`, seats lost with their node are
    /// given back here (see the module docs).
    pub fn on_node(
        node: String,
        failover: Option<Failover>,
        store: Store,
        audit: Audit,
        hub: VisitHub,
        gate: Gate,
    ) -> Resumes {
        Resumes {
            inner: Arc::new(Inner {
                node,
                failover,
                store,
                audit,
                hub,
                gate,
                entries: Mutex::new(Entries::default()),
            }),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node is going away: the seats it holds go with it. A resume that still reaches
    /// it is then treated as one whose node went away (the store and the placement decide
    /// where the seat comes back).
    pub fn forget_seats(&self) {
        *self.entries() = Entries::default();
    }

    /// A new credential for `seat`, bound to `device`; every older credential of the seat
    /// dies (single use, rotated). Written to the store as well, for a node that takes the
    /// visit over (a credential that cannot be written still works on this node; logged).
    pub async fn issue(&self, seat: &Seat, device: DeviceBinding, now: DateTime<Utc>) -> Grant {
        let grant = self.issue_here(seat, device, now);
        if self.inner.failover.is_some() {
            let row = crate::store::resume::ResumeCredentialRow {
                visit: seat.visit,
                participant: seat.participant.clone(),
                device: hex(&device.0),
                node: self.inner.node.clone(),
                expires_at: grant.expires_at,
                used: false,
            };
            let key = hex(&hash(&grant.token));
            if let Err(e) = self
                .inner
                .store
                .record_resume_credential(&key, &row, now)
                .await
            {
                tracing::warn!(visit = %seat.visit, error = %e, "a resume credential could not be written to the store; it works on this node only");
            }
        }
        grant
    }

    fn issue_here(&self, seat: &Seat, device: DeviceBinding, now: DateTime<Utc>) -> Grant {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let expires_at = seat.slot_end;
        let mut entries = self.entries();
        entries.retain(|_, e| e.expires_at > now);
        for e in entries.by_hash.values_mut() {
            if e.visit == seat.visit && e.seat == seat.seat {
                e.used = true;
            }
        }
        if entries.by_hash.len() >= MAX_ENTRIES {
            entries.retain(|_, e| !e.used);
        }
        let participant = entries.participant(&seat.participant);
        entries.by_hash.insert(
            hash(&token),
            Entry {
                visit: seat.visit,
                seat: seat.seat,
                participant,
                licence: seat.licence,
                device,
                expires_at,
                used: false,
            },
        );
        Grant { token, expires_at }
    }

    /// Take a kept seat back with `token` from a connection of `device` (see the module
    /// docs for the checks, in order). Audited either way before it is answered.
    pub async fn resume<C>(
        &self,
        token: &str,
        device: Option<DeviceBinding>,
        chain: &C,
        now: DateTime<Utc>,
    ) -> Result<Resumed, ResumeRefusal>
    where
        C: AsRef<[rustls::pki_types::CertificateDer<'static>]> + ?Sized,
    {
        // Single use: the credential is spent by the first resume that names it from its
        // own device, whatever the later checks say.
        let claimed = {
            let mut entries = self.entries();
            match entries.by_hash.get_mut(&hash(token)) {
                None => Err(None),
                Some(e) if e.used => Err(Some((
                    Some((e.visit, ParticipantId::clone(&e.participant))),
                    ResumeRefusal::Replayed,
                ))),
                Some(e) if Some(e.device) != device => Err(Some((
                    Some((e.visit, ParticipantId::clone(&e.participant))),
                    ResumeRefusal::WrongDevice,
                ))),
                Some(e) => {
                    e.used = true;
                    let participant = ParticipantId::clone(&e.participant);
                    Ok((e.visit, e.seat, participant, e.licence, e.device))
                }
            }
        };
        let (visit, seat, participant, licence, device) = match claimed {
            Ok(c) => c,
            Err(Some((who, refusal))) => return Err(self.refused(who, refusal).await),
            // Not a seat of this node (now): perhaps one its node lost.
            Err(None) => return self.resume_lost_seat(token, device, chain, now).await,
        };
        let who = Some((visit, participant.clone()));
        if let Err(refusal) = self
            .live_checks(visit, seat, &participant, licence, now)
            .await
        {
            return Err(self.refused(who, refusal).await);
        }
        // Audit first: the resume is durable before the seat changes hands.
        let record = AuditRecord::ParticipantResumed {
            visit,
            participant: participant.clone(),
        };
        if let Err(e) = self.inner.audit.append(actor(&participant), record).await {
            tracing::error!(visit = %visit, error = %e, "resume refused: the audit log cannot be written");
            return Err(ResumeRefusal::Unavailable);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let seat = match self.inner.hub.resume(visit, seat, &participant, tx, now) {
            Ok(seat) => seat,
            // Lost a race with the end of the visit or of the grace period.
            Err(e) => return Err(self.refused(who, hub_refusal(e)).await),
        };
        tracing::info!(visit = %visit, role = seat.role.as_str(), "participant resumed");
        let grant = self.issue(&seat, device, now).await;
        Ok(Resumed {
            seat,
            notices: rx,
            grant,
            renegotiate: false,
        })
    }

    /// A credential this node does not hold: a seat that went away with its node (module
    /// docs). Without the failover handles (or the store row), it is simply unknown.
    async fn resume_lost_seat<C>(
        &self,
        token: &str,
        device: Option<DeviceBinding>,
        chain: &C,
        now: DateTime<Utc>,
    ) -> Result<Resumed, ResumeRefusal>
    where
        C: AsRef<[rustls::pki_types::CertificateDer<'static>]> + ?Sized,
    {
        let Some(failover) = self.inner.failover.clone() else {
            return Err(self.refused(None, ResumeRefusal::Invalid).await);
        };
        let key = hex(&hash(token));
        let row = match self.inner.store.resume_credential(&key).await {
            Ok(Some(row)) => row,
            Ok(None) => return Err(self.refused(None, ResumeRefusal::Invalid).await),
            Err(e) => {
                tracing::error!(error = %e, "cannot read a resume credential");
                return Err(ResumeRefusal::Unavailable);
            }
        };
        let who = Some((row.visit, row.participant.clone()));
        if row.used {
            return Err(self.refused(who, ResumeRefusal::Replayed).await);
        }
        let Some(device) = device.filter(|d| hex(&d.0) == row.device) else {
            return Err(self.refused(who, ResumeRefusal::WrongDevice).await);
        };
        if now >= row.expires_at {
            return Err(self.refused(who, ResumeRefusal::SlotOver).await);
        }
        // Where the visit lives now: a node that is alive elsewhere still holds the seat.
        let live = self.inner.hub.is_live(row.visit);
        match failover.placement.locate(row.visit, live, now).await {
            Ok(crate::cluster::placement::Located::Here) => {}
            Ok(crate::cluster::placement::Located::Elsewhere { ws_url }) => {
                return Err(ResumeRefusal::Moved(ws_url));
            }
            // This node is going away and no other is alive: try again later.
            Ok(crate::cluster::placement::Located::Nowhere) => {
                return Err(ResumeRefusal::Unavailable);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read or write the visit's placement");
                return Err(ResumeRefusal::Unavailable);
            }
        }
        match self.inner.store.claim_resume_credential(&key).await {
            Ok(true) => {}
            Ok(false) => return Err(self.refused(who, ResumeRefusal::Replayed).await),
            Err(e) => {
                tracing::error!(error = %e, "cannot spend a resume credential");
                return Err(ResumeRefusal::Unavailable);
            }
        }
        let joined = failover
            .admission
            .readmit(row.visit, &row.participant, chain, now)
            .await
            .map_err(ResumeRefusal::Readmission)?;
        tracing::info!(visit = %row.visit, role = joined.seat.role.as_str(), from = %row.node, "participant resumed on a new seat after its node went away");
        let grant = self.issue(&joined.seat, device, now).await;
        Ok(Resumed {
            seat: joined.seat,
            notices: joined.notices,
            grant,
            renegotiate: true,
        })
    }

    /// The cheap live checks of a resume: the visit (read fresh), the seat in the hub, and
    /// for a lawyer admitted on the registry's word, the licence asked again (a withdrawal
    /// ends the visit; an outage does not, docs/DESIGN.md invariant 4).
    async fn live_checks(
        &self,
        visit: VisitId,
        seat: SeatNo,
        participant: &ParticipantId,
        licence: LicenceBasis,
        now: DateTime<Utc>,
    ) -> Result<(), ResumeRefusal> {
        let row = match self.inner.store.visit(visit).await {
            Ok(Some(row)) => row,
            Ok(None) => return Err(ResumeRefusal::VisitEnded("visit_ended".into())),
            Err(e) => {
                tracing::error!(visit = %visit, error = %e, "cannot read a visit for a resume");
                return Err(ResumeRefusal::Unavailable);
            }
        };
        if row.ended_at.is_some() {
            return Err(match row.end_reason.as_deref() {
                Some("licence_withdrawn") => ResumeRefusal::LicenceWithdrawn,
                Some("slot_over") => ResumeRefusal::SlotOver,
                other => ResumeRefusal::VisitEnded(other.unwrap_or("visit_ended").to_owned()),
            });
        }
        if now >= row.ends_at {
            return Err(ResumeRefusal::SlotOver);
        }
        self.inner
            .hub
            .can_resume(visit, seat, participant, now)
            .map_err(hub_refusal)?;
        if let ParticipantId::Lawyer(lawyer) = participant {
            if self
                .inner
                .gate
                .recheck_live(&self.inner.hub, visit, *lawyer, licence, now)
                .await
                .is_some()
            {
                return Err(ResumeRefusal::LicenceWithdrawn);
            }
        }
        Ok(())
    }

    /// Record a refused resume, then hand back the refusal (it stands even when the record
    /// cannot be written: refusing is the safe direction; logged loudly).
    async fn refused(
        &self,
        who: Option<(VisitId, ParticipantId)>,
        refusal: ResumeRefusal,
    ) -> ResumeRefusal {
        let (visit, participant) = match who {
            Some((v, p)) => (Some(v), Some(p)),
            None => (None, None),
        };
        tracing::info!(visit = ?visit.map(|v| v.0), code = %refusal.code(), "resume refused");
        let actor = participant.as_ref().map(actor).unwrap_or(Actor::Anonymous);
        let record = AuditRecord::ResumeRefused {
            visit,
            participant,
            reason: refusal.code(),
        };
        if let Err(e) = self.inner.audit.append(actor, record).await {
            tracing::error!(error = %e, code = %refusal.code(), "AUDIT: a refused resume could not be recorded");
        }
        refusal
    }
}

fn hub_refusal(e: HubError) -> ResumeRefusal {
    match e {
        HubError::Ended(EndReason::SlotOver) => ResumeRefusal::SlotOver,
        HubError::Ended(EndReason::LicenceWithdrawn(_)) => ResumeRefusal::LicenceWithdrawn,
        HubError::Ended(r) => ResumeRefusal::VisitEnded(r.code().into()),
        _ => ResumeRefusal::Expired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_binding_tells_certificates_and_device_ids_apart() {
        let a = DeviceBinding::new(None, Some("tab-a")).unwrap();
        assert_eq!(Some(a), DeviceBinding::new(None, Some("tab-a")));
        assert_ne!(Some(a), DeviceBinding::new(None, Some("tab-b")));
        assert_ne!(Some(a), DeviceBinding::new(Some(b"tab-a"), None));
        assert_ne!(
            DeviceBinding::new(Some(b"cert"), Some("x")),
            DeviceBinding::new(Some(b"cert"), None)
        );
        assert_eq!(DeviceBinding::new(None, None), None);
    }

    /// R-REMOTE-2: credentials outlive their seats until the slot end; they must not each
    /// hold their own copy of a booth's id (one small heap block per credential, pinning a
    /// heap page each after the visits end).
    #[test]
    fn credentials_of_one_participant_share_one_copy_that_goes_with_the_last() {
        use crate::ids::BoothId;
        let booth = ParticipantId::Booth(BoothId("booth-7".into()));
        let other = ParticipantId::Booth(BoothId("booth-8".into()));
        let device = DeviceBinding::new(None, Some("tab-a")).unwrap();
        let mut entries = Entries::default();
        for (i, who) in [&booth, &booth, &other, &booth].into_iter().enumerate() {
            let participant = entries.participant(who);
            let entry = Entry {
                visit: VisitId(1),
                seat: SeatNo(i as u64),
                participant,
                licence: LicenceBasis::NotApplicable,
                device,
                expires_at: Utc::now(),
                used: false,
            };
            entries.by_hash.insert([i as u8; 32], entry);
        }
        assert_eq!(entries.who.len(), 2);
        let shared = |k: u8| Arc::clone(&entries.by_hash[&[k; 32]].participant);
        assert!(Arc::ptr_eq(&shared(0), &shared(1)) && Arc::ptr_eq(&shared(0), &shared(3)));
        assert_eq!(*shared(0), booth);
        assert_eq!(*shared(2), other);

        // The last credential naming `other` goes, and `other` with it; `booth` stays.
        entries.retain(|k, _| k[0] != 2);
        assert_eq!(entries.who.len(), 1);
        assert!(entries.who.contains(&booth));
        entries.retain(|k, _| k[0] == 3);
        assert_eq!(entries.who.len(), 1);
        entries.retain(|_, _| false);
        assert!(entries.who.is_empty() && entries.by_hash.is_empty());
    }

    #[test]
    fn device_ids_are_short_plain_tokens() {
        assert!(valid_device_id("3f2a-B_9"));
        assert!(!valid_device_id(""));
        assert!(!valid_device_id(&"a".repeat(129)));
        assert!(!valid_device_id("tab 1"));
        assert!(!valid_device_id("tab\u{e9}"));
    }

    #[test]
    fn every_refusal_has_a_code_and_two_sentences() {
        for r in [
            ResumeRefusal::Invalid,
            ResumeRefusal::Replayed,
            ResumeRefusal::WrongDevice,
            ResumeRefusal::Expired,
            ResumeRefusal::SlotOver,
            ResumeRefusal::VisitEnded("stopped_by_staff".into()),
            ResumeRefusal::LicenceWithdrawn,
            ResumeRefusal::Unavailable,
        ] {
            assert!(!r.code().is_empty());
            assert!(r.message_en().ends_with('.'), "{r:?}");
            assert!(r.message_zh().ends_with('。'), "{r:?}");
        }
    }
}
