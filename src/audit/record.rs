//! The typed audit records and their canonical form.
//!
//! A record carries ids only ([`VisitId`], [`LawyerId`], [`BoothId`], [`AdminId`]): never
//! a name, a licence number, an IP address, a password or a token. A failed sign-in names
//! the account by the SHA-256 of the (lower-cased) username it tried, so that repeated
//! attempts on one account can be correlated without storing what was typed.
//!
//! # Canonical form (version 1)
//!
//! The canonical bytes of an entry are the UTF-8 JSON that `serde_json::to_vec` produces
//! for [`AuditEntry`]: no whitespace, object keys in the declaration order of the
//! structs below (`v`, `seq`, `time_ms`, `actor`, `subjects`, `record`), every optional
//! field present (as `null` when absent), integers only (no floats), enums internally
//! tagged by `"kind"`. These bytes are stored as they were hashed; verification hashes
//! the stored bytes and never re-serializes, so a future serde version cannot break an
//! old chain. A change of shape gets a new `v`.

use crate::ids::{
    AdminId, BoothId, CaseId, DetaineeId, DocumentId, EngagementId, LawyerId, ParticipantId, Role,
    VisitId,
};
pub use crate::model::audit::Subjects;
use crate::model::documents::DocumentKind;
use serde::{Deserialize, Serialize};

/// Version of the canonical form written by this build.
pub const CANONICAL_VERSION: u32 = 1;

/// Who caused a record: the authenticated principal, the server itself, or nobody known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// The server on its own behalf (timers, shutdown, bootstrap).
    System,
    Lawyer(LawyerId),
    Booth(BoothId),
    Staff(AdminId),
    /// Someone not (yet) authenticated: a failed sign-in, a forged token.
    Anonymous,
}

/// Which kind of account a sign-in was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Lawyer,
    Staff,
}

/// A configuration change made by staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConfigChange {
    VisitCreated {
        visit: VisitId,
        lawyer: LawyerId,
        booth: BoothId,
        starts_at_ms: i64,
        ends_at_ms: i64,
    },
    LawyerCreated {
        lawyer: LawyerId,
    },
    /// A staff account was created with its role (staff roles).
    StaffCreated {
        staff: AdminId,
        role: String,
    },
}

/// One decision or event worth proving later. Reasons are the stable machine codes that
/// the person concerned was shown (`not_a_participant`, `token_replayed`, `slot_over`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuditRecord {
    /// `policy` admitted a participant; recorded before media may flow (invariant 3).
    AdmissionGranted {
        visit: VisitId,
        participant: ParticipantId,
        /// For a lawyer: how the licence was established, `registry` or `manual` (R-VERIFY-2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        licence: Option<String>,
        /// For a booth: the hex SHA-256 of the client certificate it joined with
        /// (R-VERIFY-4; the visit receipt names the device).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_cert_sha256: Option<String>,
    },
    /// A join was refused (policy denial, bad token, booth certificate, ...).
    AdmissionRefused {
        visit: Option<VisitId>,
        participant: Option<ParticipantId>,
        reason: String,
    },
    /// A join token was handed out. `token_id` is the token's random `jti`, never the token.
    JoinTokenIssued {
        visit: VisitId,
        participant: ParticipantId,
        token_id: String,
    },
    /// A join token was spent (first use).
    JoinTokenUsed {
        visit: VisitId,
        participant: ParticipantId,
        token_id: String,
    },
    /// A join token was refused: `invalid_token`, `token_expired`, `token_replayed`.
    JoinTokenRejected {
        visit: Option<VisitId>,
        reason: String,
    },
    ParticipantJoined {
        visit: VisitId,
        role: Role,
        /// Who (R-VERIFY-4: two companions of one role are told apart); absent in entries
        /// written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<ParticipantId>,
    },
    ParticipantLeft {
        visit: VisitId,
        role: Role,
        /// Who, as in `ParticipantJoined`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<ParticipantId>,
    },
    /// The first participant entered; the visit is live.
    VisitStarted {
        visit: VisitId,
    },
    /// A participant was warned that the slot ends soon (arrives with the warnings issue).
    VisitWarned {
        visit: VisitId,
        minutes_left: u32,
    },
    /// The visit ended: `slot_over`, `stopped_by_staff`, `server_shutdown`.
    VisitEnded {
        visit: VisitId,
        reason: String,
    },
    /// Staff stopped a visit (arrives with the admin console).
    StaffStop {
        visit: VisitId,
        staff: AdminId,
        reason: String,
    },
    /// Staff verified a lawyer's licence by hand (arrives with the licence issue).
    ManualLicenceVerification {
        lawyer: LawyerId,
        staff: AdminId,
        evidence_ref: String,
        /// The visit the verification admits the lawyer to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visit: Option<VisitId>,
    },
    ConfigurationChanged {
        change: ConfigChange,
    },
    LoginSucceeded {
        account_kind: AccountKind,
        account_id: i64,
    },
    /// `username_sha256`: hex SHA-256 of the lower-cased username tried, never the name.
    LoginFailed {
        account_kind: AccountKind,
        username_sha256: String,
        reason: String,
    },
    /// A booth's client certificate was refused (`booth_cert_expired`, `unknown_booth`, ...).
    CertificateRejected {
        code: String,
    },
    /// R-ARRANGE-1, R-BOOK-1..5: a scheduling decision or calendar change (`request_placed`,
    /// `request_queued`, `request_escalated`, `request_cancelled`, `request_declined`,
    /// `visit_extended`, `extension_offered`, `hours_set`, `session_approved`, ...).
    /// `detail` carries ids, times and codes only, never names.
    ScheduleEvent {
        event: String,
        request: Option<i64>,
        lawyer: Option<LawyerId>,
        visit: Option<VisitId>,
        booth: Option<BoothId>,
        detail: String,
    },
    /// A licence check looked like impersonation (unknown licence, someone else's, revoked;
    /// R-VERIFY-3): staff are alerted.
    ImpersonationSuspected {
        lawyer: LawyerId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visit: Option<VisitId>,
        reason: String,
    },
    /// The account was locked after repeated impersonation signals (R-VERIFY-3).
    AccountLocked {
        lawyer: LawyerId,
        reason: String,
    },
    AccountUnlocked {
        lawyer: LawyerId,
        staff: AdminId,
    },
    AlertAcknowledged {
        alert: i64,
        staff: AdminId,
    },
    /// The registry withdrew the licence of a lawyer in a running visit; the visit ends.
    LicenceWithdrawn {
        visit: VisitId,
        lawyer: LawyerId,
        reason: String,
    },
    /// Staff recorded the investigating unit's decision on a flagged case (R-ARRANGE-3).
    CasePermissionRecorded {
        case: CaseId,
        lawyer: LawyerId,
        staff: AdminId,
        granted: bool,
        document_ref: String,
    },
    /// Staff recorded the unit's approval of an assistant or interpreter for a case
    /// (R-VERIFY-4).
    CompanionApproved {
        case: CaseId,
        account: LawyerId,
        staff: AdminId,
    },
    /// A lawyer uploaded a document (R-ARRANGE-1); recorded before it is on record. The
    /// content is never recorded, only its SHA-256.
    DocumentUploaded {
        engagement: EngagementId,
        document: DocumentId,
        /// The document's kind (`kind` is the record's tag).
        document_kind: DocumentKind,
        sha256: String,
    },
    /// Staff accepted or rejected a document. The reason is not recorded here: it may
    /// name people; it is kept with the document for the lawyer.
    DocumentReviewed {
        document: DocumentId,
        staff: AdminId,
        accepted: bool,
    },
    /// A lawyer declared that they act for a detainee in a case.
    EngagementCreated {
        engagement: EngagementId,
        lawyer: LawyerId,
    },
    /// Staff registered a detainee (only the id is recorded, never the name).
    DetaineeCreated {
        detainee: DetaineeId,
    },
    /// Staff opened a case; `needs_unit_permission` marks R-ARRANGE-3 cases.
    CaseCreated {
        case: CaseId,
        needs_unit_permission: bool,
    },
    /// A staff member tried a route their role does not allow (MLPS role
    /// separation). `route` is the method and path (ids only); `needed` the allowed roles.
    StaffAccessRefused {
        staff: AdminId,
        role: String,
        needed: String,
        route: String,
    },
    /// A staff member read the audit log.
    AuditLogRead {
        staff: AdminId,
    },
    /// A violation report was filed for a visit (R-CONDUCT-2); `category` is its code.
    ViolationReported {
        visit: VisitId,
        violation: i64,
        category: String,
    },
    /// A violation report reached a recipient (`law_firm`, `justice_bureau`, `bar_association`).
    ViolationReportDelivered {
        violation: i64,
        recipient: String,
    },
    /// A recipient's findings on a violation were recorded by staff.
    ViolationFindingsRecorded {
        violation: i64,
        from: String,
    },
    /// A lawyer filed a complaint (R-COMPLAIN-1).
    ComplaintFiled {
        complaint: i64,
        lawyer: LawyerId,
        visit: Option<VisitId>,
    },
    /// Staff recorded progress (`progress`) or the outcome (`outcome`) of a complaint.
    ComplaintUpdated {
        complaint: i64,
        staff: AdminId,
        update: String,
    },
    /// Staff opened a document's contents (R-PRIV-3: who saw a privileged document).
    DocumentRead {
        document: DocumentId,
        staff: AdminId,
    },
    /// A borrowed interrogation room's recording and monitoring equipment was attested off
    /// for one visit (R-PRIV-2), at the booth (`via` = `booth`) or by an operator (`staff`).
    RoomAttested {
        visit: VisitId,
        booth: BoothId,
        via: String,
        /// The attesting officer's badge or staff number.
        officer: String,
    },
    /// A signed visit receipt was handed out (R-PRIV-1) to `to`: `lawyer`, `booth` or
    /// `staff` (the actor says who). Appended with a checkpoint that signs it.
    ReceiptIssued {
        visit: VisitId,
        to: String,
    },
    /// An admitted participant was given TURN relay credentials for this visit, valid until
    /// `expires_at_ms` (R-REMOTE-2). Never the password.
    TurnCredentialsIssued {
        visit: VisitId,
        participant: ParticipantId,
        expires_at_ms: i64,
    },
    /// A participant took its kept seat back with its resume credential after a lost
    /// connection (R-REMOTE-2). Not an admission: the seat's admission stands.
    ParticipantResumed {
        visit: VisitId,
        participant: ParticipantId,
    },
    /// A resume was refused: `resume_invalid`, `resume_replayed`, `resume_wrong_device`,
    /// `resume_expired`, `slot_over`, `visit_ended`, `licence_withdrawn`, ...
    ResumeRefused {
        visit: Option<VisitId>,
        participant: Option<ParticipantId>,
        reason: String,
    },
    /// A participant's media path was restarted (ICE restart on the same connection, after
    /// a network change; R-REMOTE-2). Health, not content.
    IceRestarted {
        visit: VisitId,
        role: Role,
    },
    /// The visit's lawyer invited an assistant or interpreter to the visit (R-VERIFY-4);
    /// only the lawyer can, never staff.
    CompanionInvited {
        visit: VisitId,
        lawyer: LawyerId,
        account: LawyerId,
    },
    /// An assistant or interpreter was let go while the visit went on (R-VERIFY-4), e.g.
    /// `lawyer_left`: companions take part only while the lawyer is present.
    CompanionRemoved {
        visit: VisitId,
        participant: ParticipantId,
        reason: String,
    },
    /// A participant published its end-to-end encryption public key for this visit (R-PRIV-1):
    /// `fingerprint` is the lower-case hex SHA-256 of the raw public key; the key itself and
    /// every media key stay with the participants.
    E2eeKeyPublished {
        visit: VisitId,
        participant: ParticipantId,
        role: Role,
        fingerprint: String,
    },
    /// The check code the participants' screens show for this set of public keys (R-PRIV-1),
    /// computed by the server from the keys it relayed; `participants` are their fingerprints.
    E2eeCheckCode {
        visit: VisitId,
        code: String,
        participants: Vec<String>,
    },
    /// The visit's lawyer withdrew an assistant's or interpreter's invitation (R-VERIFY-4);
    /// a companion in the visit at that moment is removed at once (`companion_removed`,
    /// reason `invitation_withdrawn`).
    CompanionWithdrawn {
        visit: VisitId,
        lawyer: LawyerId,
        account: LawyerId,
    },
    /// Unauthenticated requests refused in one minute, counted rather than written one
    /// entry each (`audit::noise`): `class` is the refused request's record kind
    /// (`login_failed`, `join_token_rejected`, `certificate_rejected`), `reason` its code,
    /// `minute_start_ms` the minute's start (Unix ms, UTC), `count` how many.
    UnauthenticatedRequests {
        class: String,
        reason: String,
        minute_start_ms: i64,
        count: u64,
    },
    /// A booth client certificate was put on the deny list (R-VERIFY-4): `serial` (hex)
    /// and/or `certificate_sha256` name it; `via` is `staff` (admin route) or
    /// `command_line` (`confer certs revoke`, recorded by the server when it sees the row).
    BoothCertificateRevoked {
        booth: BoothId,
        serial: Option<String>,
        certificate_sha256: Option<String>,
        via: String,
    },
}

/// What is hashed: one record with its place and time. See the module doc for the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub v: u32,
    pub seq: u64,
    pub time_ms: i64,
    pub actor: Actor,
    pub subjects: Subjects,
    pub record: AuditRecord,
}

/// The leading fields of an entry, read by `verify` without decoding the record.
#[derive(Debug, Deserialize)]
pub(crate) struct EntryHead {
    pub v: u32,
    pub seq: u64,
    pub time_ms: i64,
    pub actor: Actor,
    pub subjects: Subjects,
    pub record: RecordKind,
}

/// The `kind` tag of a record, read without decoding the rest of it.
#[derive(Debug, Deserialize)]
pub(crate) struct RecordKind {
    pub kind: String,
}

impl AuditRecord {
    /// Stable name of the variant (the `kind` tag), also stored as an index column.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditRecord::AdmissionGranted { .. } => "admission_granted",
            AuditRecord::AdmissionRefused { .. } => "admission_refused",
            AuditRecord::JoinTokenIssued { .. } => "join_token_issued",
            AuditRecord::JoinTokenUsed { .. } => "join_token_used",
            AuditRecord::JoinTokenRejected { .. } => "join_token_rejected",
            AuditRecord::ParticipantJoined { .. } => "participant_joined",
            AuditRecord::ParticipantLeft { .. } => "participant_left",
            AuditRecord::VisitStarted { .. } => "visit_started",
            AuditRecord::VisitWarned { .. } => "visit_warned",
            AuditRecord::VisitEnded { .. } => "visit_ended",
            AuditRecord::StaffStop { .. } => "staff_stop",
            AuditRecord::ManualLicenceVerification { .. } => "manual_licence_verification",
            AuditRecord::ConfigurationChanged { .. } => "configuration_changed",
            AuditRecord::LoginSucceeded { .. } => "login_succeeded",
            AuditRecord::LoginFailed { .. } => "login_failed",
            AuditRecord::CertificateRejected { .. } => "certificate_rejected",
            AuditRecord::ScheduleEvent { .. } => "schedule_event",
            AuditRecord::ImpersonationSuspected { .. } => "impersonation_suspected",
            AuditRecord::AccountLocked { .. } => "account_locked",
            AuditRecord::AccountUnlocked { .. } => "account_unlocked",
            AuditRecord::AlertAcknowledged { .. } => "alert_acknowledged",
            AuditRecord::LicenceWithdrawn { .. } => "licence_withdrawn",
            AuditRecord::CasePermissionRecorded { .. } => "case_permission_recorded",
            AuditRecord::CompanionApproved { .. } => "companion_approved",
            AuditRecord::DocumentUploaded { .. } => "document_uploaded",
            AuditRecord::DocumentReviewed { .. } => "document_reviewed",
            AuditRecord::EngagementCreated { .. } => "engagement_created",
            AuditRecord::DetaineeCreated { .. } => "detainee_created",
            AuditRecord::CaseCreated { .. } => "case_created",
            AuditRecord::StaffAccessRefused { .. } => "staff_access_refused",
            AuditRecord::AuditLogRead { .. } => "audit_log_read",
            AuditRecord::ViolationReported { .. } => "violation_reported",
            AuditRecord::ViolationReportDelivered { .. } => "violation_report_delivered",
            AuditRecord::ViolationFindingsRecorded { .. } => "violation_findings_recorded",
            AuditRecord::ComplaintFiled { .. } => "complaint_filed",
            AuditRecord::ComplaintUpdated { .. } => "complaint_updated",
            AuditRecord::DocumentRead { .. } => "document_read",
            AuditRecord::RoomAttested { .. } => "room_attested",
            AuditRecord::ReceiptIssued { .. } => "receipt_issued",
            AuditRecord::TurnCredentialsIssued { .. } => "turn_credentials_issued",
            AuditRecord::ParticipantResumed { .. } => "participant_resumed",
            AuditRecord::ResumeRefused { .. } => "resume_refused",
            AuditRecord::IceRestarted { .. } => "ice_restarted",
            AuditRecord::CompanionInvited { .. } => "companion_invited",
            AuditRecord::CompanionRemoved { .. } => "companion_removed",
            AuditRecord::E2eeKeyPublished { .. } => "e2ee_key_published",
            AuditRecord::E2eeCheckCode { .. } => "e2ee_check_code",
            AuditRecord::CompanionWithdrawn { .. } => "companion_withdrawn",
            AuditRecord::UnauthenticatedRequests { .. } => "unauthenticated_requests",
            AuditRecord::BoothCertificateRevoked { .. } => "booth_certificate_revoked",
        }
    }

    /// The ids this record names, merged with the actor's.
    pub fn subjects(&self, actor: &Actor) -> Subjects {
        let mut s = Subjects::default();
        let participant = |s: &mut Subjects, p: &ParticipantId| match p {
            ParticipantId::Lawyer(l) => s.lawyer = Some(*l),
            ParticipantId::Booth(b) => s.booth = Some(b.clone()),
            // Assistants and interpreters are lawyer-side accounts (table `lawyers`).
            ParticipantId::Assistant(l) | ParticipantId::Interpreter(l) => s.lawyer = Some(*l),
        };
        match self {
            AuditRecord::AdmissionGranted {
                visit,
                participant: p,
                ..
            }
            | AuditRecord::JoinTokenIssued {
                visit,
                participant: p,
                ..
            }
            | AuditRecord::JoinTokenUsed {
                visit,
                participant: p,
                ..
            }
            | AuditRecord::ParticipantResumed {
                visit,
                participant: p,
            } => {
                s.visit = Some(*visit);
                participant(&mut s, p);
            }
            AuditRecord::AdmissionRefused {
                visit,
                participant: p,
                ..
            }
            | AuditRecord::ResumeRefused {
                visit,
                participant: p,
                ..
            } => {
                s.visit = *visit;
                if let Some(p) = p {
                    participant(&mut s, p);
                }
            }
            AuditRecord::JoinTokenRejected { visit, .. } => s.visit = *visit,
            AuditRecord::ParticipantJoined { visit, .. }
            | AuditRecord::IceRestarted { visit, .. }
            | AuditRecord::ParticipantLeft { visit, .. }
            | AuditRecord::VisitStarted { visit }
            | AuditRecord::VisitWarned { visit, .. }
            | AuditRecord::VisitEnded { visit, .. } => s.visit = Some(*visit),
            AuditRecord::StaffStop { visit, staff, .. } => {
                s.visit = Some(*visit);
                s.staff = Some(*staff);
            }
            AuditRecord::ManualLicenceVerification {
                lawyer,
                staff,
                visit,
                ..
            } => {
                s.visit = *visit;
                s.lawyer = Some(*lawyer);
                s.staff = Some(*staff);
            }
            AuditRecord::ConfigurationChanged { change } => match change {
                ConfigChange::VisitCreated {
                    visit,
                    lawyer,
                    booth,
                    ..
                } => {
                    s.visit = Some(*visit);
                    s.lawyer = Some(*lawyer);
                    s.booth = Some(booth.clone());
                }
                ConfigChange::LawyerCreated { lawyer } => s.lawyer = Some(*lawyer),
                ConfigChange::StaffCreated { staff, .. } => s.staff = Some(*staff),
            },
            AuditRecord::LoginSucceeded {
                account_kind,
                account_id,
            } => match account_kind {
                AccountKind::Lawyer => s.lawyer = Some(LawyerId(*account_id)),
                AccountKind::Staff => s.staff = Some(AdminId(*account_id)),
            },
            AuditRecord::LoginFailed { .. }
            | AuditRecord::CertificateRejected { .. }
            | AuditRecord::UnauthenticatedRequests { .. } => {}
            AuditRecord::ScheduleEvent {
                lawyer,
                visit,
                booth,
                ..
            } => {
                s.visit = *visit;
                s.lawyer = *lawyer;
                s.booth = booth.clone();
            }
            AuditRecord::ImpersonationSuspected { lawyer, visit, .. } => {
                s.lawyer = Some(*lawyer);
                s.visit = *visit;
            }
            AuditRecord::AccountLocked { lawyer, .. } => s.lawyer = Some(*lawyer),
            AuditRecord::AccountUnlocked { lawyer, staff } => {
                s.lawyer = Some(*lawyer);
                s.staff = Some(*staff);
            }
            AuditRecord::AlertAcknowledged { staff, .. } => s.staff = Some(*staff),
            AuditRecord::LicenceWithdrawn { visit, lawyer, .. } => {
                s.visit = Some(*visit);
                s.lawyer = Some(*lawyer);
            }
            AuditRecord::CasePermissionRecorded { lawyer, staff, .. } => {
                s.lawyer = Some(*lawyer);
                s.staff = Some(*staff);
            }
            AuditRecord::CompanionApproved { account, staff, .. } => {
                s.lawyer = Some(*account);
                s.staff = Some(*staff);
            }
            AuditRecord::DocumentReviewed { staff, .. } => s.staff = Some(*staff),
            AuditRecord::EngagementCreated { lawyer, .. } => s.lawyer = Some(*lawyer),
            AuditRecord::DocumentUploaded { .. }
            | AuditRecord::DetaineeCreated { .. }
            | AuditRecord::CaseCreated { .. } => {}
            AuditRecord::StaffAccessRefused { staff, .. }
            | AuditRecord::AuditLogRead { staff }
            | AuditRecord::ComplaintUpdated { staff, .. }
            | AuditRecord::DocumentRead { staff, .. } => s.staff = Some(*staff),
            AuditRecord::ViolationReported { visit, .. } => s.visit = Some(*visit),
            AuditRecord::ViolationReportDelivered { .. }
            | AuditRecord::ViolationFindingsRecorded { .. } => {}
            AuditRecord::ComplaintFiled { lawyer, visit, .. } => {
                s.lawyer = Some(*lawyer);
                s.visit = *visit;
            }
            AuditRecord::RoomAttested { visit, booth, .. } => {
                s.visit = Some(*visit);
                s.booth = Some(booth.clone());
            }
            AuditRecord::ReceiptIssued { visit, .. } => s.visit = Some(*visit),
            AuditRecord::CompanionInvited { visit, lawyer, .. } => {
                s.visit = Some(*visit);
                s.lawyer = Some(*lawyer);
            }
            AuditRecord::TurnCredentialsIssued {
                visit,
                participant: p,
                ..
            }
            | AuditRecord::CompanionRemoved {
                visit,
                participant: p,
                ..
            }
            | AuditRecord::E2eeKeyPublished {
                visit,
                participant: p,
                ..
            } => {
                s.visit = Some(*visit);
                participant(&mut s, p);
            }
            AuditRecord::E2eeCheckCode { visit, .. } => s.visit = Some(*visit),
            AuditRecord::CompanionWithdrawn { visit, lawyer, .. } => {
                s.visit = Some(*visit);
                s.lawyer = Some(*lawyer);
            }
            AuditRecord::BoothCertificateRevoked { booth, .. } => s.booth = Some(booth.clone()),
        }
        match actor {
            Actor::Lawyer(l) => s.lawyer = s.lawyer.or(Some(*l)),
            Actor::Booth(b) if s.booth.is_none() => s.booth = Some(b.clone()),
            Actor::Staff(a) => s.staff = s.staff.or(Some(*a)),
            _ => {}
        }
        s
    }
}

impl Actor {
    /// Stable text for the index column (`lawyer:3`, `booth:demo-booth-1`, `system`, ...).
    pub fn label(&self) -> String {
        match self {
            Actor::System => "system".into(),
            Actor::Lawyer(l) => format!("lawyer:{l}"),
            Actor::Booth(b) => format!("booth:{b}"),
            Actor::Staff(a) => format!("staff:{a}"),
            Actor::Anonymous => "anonymous".into(),
        }
    }
}

impl AuditEntry {
    pub fn new(seq: u64, time_ms: i64, actor: Actor, record: AuditRecord) -> AuditEntry {
        let subjects = record.subjects(&actor);
        AuditEntry {
            v: CANONICAL_VERSION,
            seq,
            time_ms,
            actor,
            subjects,
            record,
        }
    }

    /// The canonical bytes (module doc). Serializing these types cannot fail: every
    /// field is a string, an integer, an option or a unit-tagged enum.
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Hex SHA-256 of a username as tried (lower-cased), for [`AuditRecord::LoginFailed`].
pub fn username_digest(username: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, username.to_lowercase().as_bytes()).as_ref())
}

/// Lower-case hex of `bytes` (hashes, keys and signatures in exports and views).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The bytes of a hex string, or `None` when it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_has_fixed_field_order_and_no_whitespace() {
        let e = AuditEntry::new(
            7,
            1_700_000_000_123,
            Actor::Lawyer(LawyerId(3)),
            AuditRecord::AdmissionGranted {
                visit: VisitId(9),
                participant: ParticipantId::Lawyer(LawyerId(3)),
                licence: None,
                device_cert_sha256: None,
            },
        );
        let text = String::from_utf8(e.canonical()).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"seq":7,"time_ms":1700000000123,"actor":{"kind":"lawyer","id":3},"subjects":{"visit":9,"lawyer":3,"booth":null,"staff":null},"record":{"kind":"admission_granted","visit":9,"participant":{"kind":"lawyer","id":3}}}"#
        );
        let back: AuditEntry = serde_json::from_slice(text.as_bytes()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn a_failed_sign_in_never_stores_the_username_in_clear() {
        // Audit log: logs redact PII; records store ids, not names.
        let r = AuditRecord::LoginFailed {
            account_kind: AccountKind::Lawyer,
            username_sha256: username_digest("Amy.Lawyer"),
            reason: "bad_credentials".into(),
        };
        let text =
            String::from_utf8(AuditEntry::new(1, 0, Actor::Anonymous, r).canonical()).unwrap();
        assert!(!text.to_lowercase().contains("amy"), "{text}");
        assert_eq!(username_digest("Amy.Lawyer"), username_digest("amy.lawyer"));
    }
}
