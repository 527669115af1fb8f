//! The end-to-end encryption relay (R-PRIV-1): public keys and wrapped media keys between the
//! participants of one visit, and nothing else.
//!
//! Every participant's page makes an ECDH P-256 key pair for its connection, publishes the
//! public key (`e2ee_key`) and sends each other participant its media key wrapped under their
//! pairwise key (`e2ee_media_key`). The server relays the public keys to everyone in the same
//! visit (later joiners get the keys already published) and each wrapped key to its one
//! addressee, stamping who sent it (`from`, the connection's participant number, and its role):
//! a client cannot speak for another. It never sees a private key or a media key, so it cannot
//! decrypt what it forwards (`signaling/PROTOCOL.md`, "End-to-end encryption").
//!
//! Audit: each published key is recorded (`e2ee_key_published`: participant, role, SHA-256
//! fingerprint) and, whenever every present participant has published one, the check code the
//! screens show for that set (`e2ee_check_code`), computed with the same algorithm as the pages
//! ([`confer_signaling::e2ee::check_code`]). A failed append is logged loudly; relaying goes
//! on (the participants compare the codes themselves).

use crate::audit::{Actor, Audit, AuditRecord};
use crate::ids::{ParticipantId, Role, VisitId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use confer_signaling::{e2ee, ServerMessage};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// An uncompressed P-256 point: 0x04, then X and Y.
const PUBLIC_KEY_BYTES: usize = 65;
/// A wrapped media key: 12-byte IV, 16-byte key, 16-byte tag (see PROTOCOL.md).
const WRAPPED_KEY_BYTES: usize = 44;

/// The relay of every live visit's key messages. Cheap to clone; one per process.
#[derive(Clone)]
pub struct E2eeRelay {
    rooms: Arc<Mutex<HashMap<VisitId, BTreeMap<u64, Member>>>>,
    audit: Audit,
}

struct Member {
    role: Role,
    out: mpsc::UnboundedSender<ServerMessage>,
    /// The published public key: base64url as sent, and its fingerprint.
    key: Option<(String, String)>,
}

/// One connection's place in the relay; leaves it when dropped.
pub struct E2eeMember {
    relay: E2eeRelay,
    visit: VisitId,
    /// The connection's participant number (its seat), `from` on what it sends.
    number: u64,
    participant: ParticipantId,
    role: Role,
    /// The sending half of `inbox`, to tell this connection's entry from a later one of the
    /// same seat (a resume, R-REMOTE-2): leaving removes only its own entry.
    own: mpsc::UnboundedSender<ServerMessage>,
    /// Key messages for this connection.
    pub inbox: mpsc::UnboundedReceiver<ServerMessage>,
}

/// Why a key message was not relayed: an English sentence for the `malformed_message` error.
pub type RelayRefusal = &'static str;

impl E2eeRelay {
    pub fn new(audit: Audit) -> Self {
        E2eeRelay {
            rooms: Arc::default(),
            audit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<VisitId, BTreeMap<u64, Member>>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enter the relay of `visit` as participant `number`; the keys already published there
    /// are waiting in the inbox.
    pub fn enter(
        &self,
        visit: VisitId,
        number: u64,
        participant: ParticipantId,
        role: Role,
    ) -> E2eeMember {
        let (tx, inbox) = mpsc::unbounded_channel();
        let mut rooms = self.lock();
        let room = rooms.entry(visit).or_default();
        for (from, m) in room.iter() {
            if let Some((public_key, _)) = &m.key {
                let _ = tx.send(ServerMessage::E2eeKey {
                    from: *from,
                    role: super::wire_role(m.role),
                    public_key: public_key.clone(),
                });
            }
        }
        room.insert(
            number,
            Member {
                role,
                out: tx.clone(),
                key: None,
            },
        );
        E2eeMember {
            relay: self.clone(),
            visit,
            number,
            participant,
            role,
            own: tx,
            inbox,
        }
    }

    /// The check code of `visit` when every present participant (two or more) published a key.
    fn check_code(room: &BTreeMap<u64, Member>, visit: VisitId) -> Option<AuditRecord> {
        if room.len() < 2 {
            return None;
        }
        let fingerprints: Option<Vec<String>> = room
            .values()
            .map(|m| m.key.as_ref().map(|(_, f)| f.clone()))
            .collect();
        let mut participants = fingerprints?;
        participants.sort_unstable();
        Some(AuditRecord::E2eeCheckCode {
            visit,
            code: e2ee::check_code(visit.0, &participants),
            participants,
        })
    }

    async fn record(&self, visit: VisitId, records: Vec<AuditRecord>) {
        if records.is_empty() {
            return;
        }
        if let Err(e) = self.audit.append_all(Actor::System, records).await {
            tracing::error!(visit = %visit, error = %e, "AUDIT: cannot record an end-to-end encryption key or check code");
        }
    }
}

impl E2eeMember {
    /// The connection's participant number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Publish this connection's public key: relayed to everyone in the visit (this connection
    /// included), audited with its fingerprint, then the check code when every key is in.
    pub async fn publish(&self, public_key: &str) -> Result<(), RelayRefusal> {
        let raw = URL_SAFE_NO_PAD
            .decode(public_key)
            .map_err(|_| "The public key must be base64url without padding.")?;
        if raw.len() != PUBLIC_KEY_BYTES || raw[0] != 0x04 {
            return Err("The public key must be an uncompressed P-256 point (65 bytes).");
        }
        let fingerprint = e2ee::fingerprint(&raw);
        let mut records = Vec::new();
        {
            let mut rooms = self.relay.lock();
            let Some(room) = rooms.get_mut(&self.visit) else {
                return Err("This connection is not in a visit.");
            };
            let Some(me) = room.get_mut(&self.number) else {
                return Err("This connection is not in a visit.");
            };
            match &me.key {
                Some((k, _)) if k == public_key => return Ok(()),
                Some(_) => return Err("This connection already published another public key."),
                None => me.key = Some((public_key.to_owned(), fingerprint.clone())),
            }
            let msg = ServerMessage::E2eeKey {
                from: self.number,
                role: super::wire_role(self.role),
                public_key: public_key.to_owned(),
            };
            for m in room.values() {
                let _ = m.out.send(msg.clone());
            }
            records.push(AuditRecord::E2eeKeyPublished {
                visit: self.visit,
                participant: self.participant.clone(),
                role: self.role,
                fingerprint,
            });
            records.extend(E2eeRelay::check_code(room, self.visit));
        }
        self.relay.record(self.visit, records).await;
        Ok(())
    }

    /// Relay a wrapped media key to participant `to` of the same visit. The KID must be in this
    /// sender's own range ([`e2ee::key_id`]), so no one can announce keys under another's KIDs.
    pub fn send_media_key(&self, to: u64, kid: u64, wrapped: &str) -> Result<(), RelayRefusal> {
        let raw = URL_SAFE_NO_PAD
            .decode(wrapped)
            .map_err(|_| "The wrapped key must be base64url without padding.")?;
        if raw.len() != WRAPPED_KEY_BYTES {
            return Err("The wrapped key must be 44 bytes (IV, key, tag).");
        }
        if kid >> 16 != self.number {
            return Err("The key id must be in the sender's own range.");
        }
        let rooms = self.relay.lock();
        let target = rooms
            .get(&self.visit)
            .and_then(|room| room.get(&to))
            .filter(|_| to != self.number)
            .ok_or("There is no such participant in this visit.")?;
        let _ = target.out.send(ServerMessage::E2eeMediaKey {
            from: self.number,
            kid,
            wrapped: wrapped.to_owned(),
        });
        Ok(())
    }
}

impl Drop for E2eeMember {
    fn drop(&mut self) {
        let record = {
            let mut rooms = self.relay.lock();
            let Some(room) = rooms.get_mut(&self.visit) else {
                return;
            };
            // A resumed seat's new connection may already have taken this number.
            if !room
                .get(&self.number)
                .is_some_and(|m| m.out.same_channel(&self.own))
            {
                return;
            }
            let had_key = room.remove(&self.number).is_some_and(|m| m.key.is_some());
            let record = if had_key {
                E2eeRelay::check_code(room, self.visit)
            } else {
                None
            };
            if room.is_empty() {
                rooms.remove(&self.visit);
            }
            record
        };
        // The code the remaining screens show now (when it changed and can be computed).
        if let Some(record) = record {
            let relay = self.relay.clone();
            let visit = self.visit;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { relay.record(visit, vec![record]).await });
            }
        }
    }
}
