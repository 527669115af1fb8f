//! The pure core of the live health view: [`evaluate`] joins the visit hub's live visits
//! with the media plane's published snapshot, keeps per-participant alert episodes in a
//! [`HealthState`], and returns the view (the exact JSON the console reads) and the alerts
//! raised or cleared by this evaluation. No I/O, no clock: `now` is an argument.
//!
//! Alerts (live visit health), each raised once per episode and cleared when its condition ends:
//! - `loss`: packet loss above `loss_pct` for `loss_window_secs` without a break. The loss
//!   of a participant is the worse of what the SFU misses of what it sends (sequence gaps)
//!   and what it reports missing of what the SFU sends it (RTCP receiver reports).
//! - `rtt`: round-trip time above `rtt_ms` (unknown RTT keeps the alert as it is).
//! - `no_media`: a connected participant from whom no RTP arrived for `no_media_secs`
//!   (counted from the connection when nothing arrived at all).
//! - `reconnecting`: a participant's connection dropped (until it is connected again; each
//!   return counts in `reconnects`). A drop and return between two evaluations (a new peer
//!   connection seen connected at once) is raised and cleared in the same evaluation.
//!
//! A participant is keyed internally by visit and [`ParticipantId`] (so that a reconnect is
//! recognised) but the view shows the role and device kind only: no name, licence number,
//! account id, address or port (docs/DESIGN.md invariant 6, R-PRIV-1).

use crate::config::HealthSection;
use crate::ids::{ParticipantId, Role, VisitId};
use crate::media::{MediaSnapshot, PeerId, PeerStats};
use crate::model::time::rfc3339;
use crate::visit::hub::{LiveSeatView, LiveVisitView};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Loss,
    Rtt,
    NoMedia,
    Reconnecting,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Loss => "loss",
            AlertKind::Rtt => "rtt",
            AlertKind::NoMedia => "no_media",
            AlertKind::Reconnecting => "reconnecting",
        }
    }
}

/// The thresholds, from `[admin.health]`.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub loss_pct: f64,
    pub loss_window: Duration,
    pub rtt_ms: f64,
    pub no_media: Duration,
}

impl From<&HealthSection> for Thresholds {
    fn from(h: &HealthSection) -> Thresholds {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        Thresholds {
            loss_pct: h.loss_pct,
            loss_window: secs(h.loss_window_secs),
            rtt_ms: h.rtt_ms,
            no_media: secs(h.no_media_secs),
        }
    }
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds::from(&HealthSection::default())
    }
}

/// One live visit as the evaluation needs it: the hub's view and the booth's label.
#[derive(Debug, Clone)]
pub struct VisitInput {
    pub live: LiveVisitView,
    pub booth: String,
}

/// Alert episodes and reconnect counts carried from one evaluation to the next.
#[derive(Debug, Default)]
pub struct HealthState {
    parts: HashMap<(VisitId, ParticipantId), PartState>,
}

impl HealthState {
    /// Alerts active now, over every visit.
    pub fn alerts_active(&self) -> usize {
        self.parts.values().map(|p| p.active.len()).sum()
    }
}

#[derive(Debug, Default)]
struct PartState {
    active: BTreeMap<AlertKind, DateTime<Utc>>,
    loss_above_since: Option<DateTime<Utc>>,
    /// The peer last seen connected, and since when (by this model's clock).
    peer: Option<PeerId>,
    connected_since: Option<DateTime<Utc>>,
    ever_connected: bool,
    reconnects: u32,
}

// --- the view: exactly the JSON the console reads (see the module doc of `health`) ---

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveView {
    pub at: String,
    pub visits: Vec<VisitHealth>,
    pub alerts_active: usize,
    /// Alerts about the server itself, not a visit: `disk_space` (the data dir is below its
    /// free-space watermark, `src/disk.rs`). Set by the feed task.
    pub system_alerts: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitHealth {
    pub visit_id: String,
    pub booth: String,
    /// `live` once two participants are connected, else `waiting`.
    pub state: &'static str,
    pub slot_end: Option<String>,
    pub time_left_s: Option<i64>,
    pub warnings_sent: Vec<i64>,
    pub participants: Vec<ParticipantHealth>,
    pub alerts: Vec<AlertView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantHealth {
    pub role: &'static str,
    pub device: &'static str,
    pub connection: &'static str,
    pub candidate_type: Option<&'static str>,
    pub transport: Option<&'static str>,
    pub inbound: Kbps,
    pub outbound: Kbps,
    pub loss_pct: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub video: Option<VideoHealth>,
    pub last_media_ms_ago: Option<i64>,
    pub reconnects: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Kbps {
    pub audio_kbps: f64,
    pub video_kbps: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VideoHealth {
    pub fps: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    pub kind: AlertKind,
    pub role: &'static str,
    pub since: String,
}

/// An alert raised or cleared (the SSE `alert` event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEvent {
    pub visit_id: String,
    pub kind: AlertKind,
    pub role: &'static str,
    /// `raised` or `cleared`.
    pub status: &'static str,
    pub since: String,
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Connecting,
    Connected,
    Disconnected,
}

impl Connection {
    fn as_str(self) -> &'static str {
        match self {
            Connection::Connecting => "connecting",
            Connection::Connected => "connected",
            Connection::Disconnected => "disconnected",
        }
    }
}

fn device(role: Role) -> &'static str {
    match role {
        Role::Booth => "booth",
        _ => "browser",
    }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Raise or clear one alert of one participant, recording the change.
struct Alerts<'a> {
    visit: VisitId,
    role: Role,
    now: DateTime<Utc>,
    events: &'a mut Vec<AlertEvent>,
}

impl Alerts<'_> {
    fn set(&mut self, st: &mut PartState, kind: AlertKind, cond: bool) {
        match (cond, st.active.get(&kind).copied()) {
            (true, None) => {
                st.active.insert(kind, self.now);
                self.push(kind, "raised", self.now);
            }
            (false, Some(since)) => {
                st.active.remove(&kind);
                self.push(kind, "cleared", since);
            }
            _ => {}
        }
    }

    fn push(&mut self, kind: AlertKind, status: &'static str, since: DateTime<Utc>) {
        self.events.push(AlertEvent {
            visit_id: self.visit.to_string(),
            kind,
            role: self.role.as_str(),
            status,
            since: rfc3339(since),
            at: rfc3339(self.now),
        });
    }
}

/// One seat per participant: a live seat wins over a dropped one of the same participant
/// (the moment between a reconnect's new seat and the old one's removal).
fn one_seat_each(seats: &[LiveSeatView]) -> Vec<&LiveSeatView> {
    let mut out: Vec<&LiveSeatView> = Vec::new();
    for s in seats {
        match out.iter_mut().find(|x| x.participant == s.participant) {
            Some(x) => {
                if x.dropped && !s.dropped {
                    *x = s;
                }
            }
            None => out.push(s),
        }
    }
    out
}

/// Evaluate the live visits against the media snapshot at `now`: the view, and the alerts
/// raised or cleared since the previous evaluation (in `state`).
pub fn evaluate(
    state: &mut HealthState,
    visits: &[VisitInput],
    media: &MediaSnapshot,
    th: &Thresholds,
    now: DateTime<Utc>,
) -> (LiveView, Vec<AlertEvent>) {
    let by_peer: HashMap<PeerId, &PeerStats> = media
        .peers
        .iter()
        .filter_map(|(_, _, s)| s.peer.map(|p| (p, s)))
        .collect();
    // How old the snapshot is now (its ages are as of when it was taken).
    let snap_age = media
        .taken_at
        .map(|t| (now - t).max(Duration::zero()))
        .unwrap_or_default();
    let mut events = Vec::new();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(visits.len());
    for v in visits {
        let visit = v.live.visit;
        let mut participants = Vec::new();
        let mut alerts = Vec::new();
        let mut connected = 0;
        for seat in one_seat_each(&v.live.seats) {
            let role = seat.participant.role();
            let key = (visit, seat.participant.clone());
            let st = state.parts.entry(key.clone()).or_default();
            seen.insert(key);
            let stats = seat.peer.and_then(|p| by_peer.get(&p).copied());
            let connection = if seat.dropped {
                Connection::Disconnected
            } else if stats.is_some_and(|s| s.connected) {
                Connection::Connected
            } else {
                Connection::Connecting
            };
            let mut alerter = Alerts {
                visit,
                role,
                now,
                events: &mut events,
            };
            // Reconnects: a participant seen connected on a new peer after an earlier one.
            if connection == Connection::Connected {
                connected += 1;
                if st.peer != seat.peer {
                    if st.ever_connected {
                        st.reconnects += 1;
                        // Dropped and back between two evaluations: still an episode.
                        alerter.set(st, AlertKind::Reconnecting, true);
                    }
                    st.peer = seat.peer;
                    st.connected_since = Some(now);
                }
                st.ever_connected = true;
            }
            let reconnecting = connection == Connection::Disconnected
                || (connection == Connection::Connecting && st.ever_connected);
            alerter.set(st, AlertKind::Reconnecting, reconnecting);

            let h = stats.map(|s| &s.health);
            let is_up = connection == Connection::Connected;
            let media_age = h
                .and_then(|h| h.last_media_age)
                .map(|a| Duration::from_std(a).unwrap_or(Duration::days(365)) + snap_age);
            let silent_for = media_age.or_else(|| st.connected_since.map(|c| now - c));
            alerter.set(
                st,
                AlertKind::NoMedia,
                is_up && silent_for.is_some_and(|s| s > th.no_media),
            );

            let loss = h.and_then(|h| match (h.inbound_loss, h.outbound_loss) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            });
            let loss_pct = loss.map(|l| round(l * 100.0, 2));
            let lossy = is_up && loss_pct.is_some_and(|p| p > th.loss_pct);
            if lossy {
                let since = *st.loss_above_since.get_or_insert(now);
                alerter.set(st, AlertKind::Loss, now - since >= th.loss_window);
            } else {
                st.loss_above_since = None;
                alerter.set(st, AlertKind::Loss, false);
            }

            let rtt_ms = h.and_then(|h| h.rtt_ms).map(|r| round(r, 1));
            let slow = match rtt_ms {
                Some(r) => is_up && r > th.rtt_ms,
                None => is_up && st.active.contains_key(&AlertKind::Rtt),
            };
            alerter.set(st, AlertKind::Rtt, slow);

            for (kind, since) in &st.active {
                alerts.push(AlertView {
                    kind: *kind,
                    role: role.as_str(),
                    since: rfc3339(*since),
                });
            }
            let kbps = |r: crate::media::KindRates| Kbps {
                audio_kbps: round(r.audio_kbps, 1),
                video_kbps: round(r.video_kbps, 1),
            };
            participants.push(ParticipantHealth {
                role: role.as_str(),
                device: device(role),
                connection: connection.as_str(),
                candidate_type: h.and_then(|h| h.candidate_type).map(|c| c.as_str()),
                transport: h.and_then(|h| h.transport),
                inbound: kbps(h.map(|h| h.inbound).unwrap_or_default()),
                outbound: kbps(h.map(|h| h.outbound).unwrap_or_default()),
                loss_pct,
                jitter_ms: h.and_then(|h| h.jitter_ms).map(|j| round(j, 1)),
                rtt_ms,
                video: h.filter(|h| h.video_seen).map(|h| VideoHealth {
                    fps: round(h.video_fps, 1),
                    width: h.video_size.map(|s| s.0),
                    height: h.video_size.map(|s| s.1),
                }),
                last_media_ms_ago: media_age.map(|a| a.num_milliseconds()),
                reconnects: st.reconnects,
            });
        }
        let slot_end = v.live.slot_end;
        out.push(VisitHealth {
            visit_id: visit.to_string(),
            booth: v.booth.clone(),
            state: if connected >= 2 { "live" } else { "waiting" },
            slot_end: Some(rfc3339(slot_end)),
            time_left_s: Some((slot_end - now).num_seconds().max(0)),
            warnings_sent: v.live.warnings_sent.clone(),
            participants,
            alerts,
        });
    }
    // Participants gone (left, or their visit ended): their episodes end.
    let gone: Vec<(VisitId, ParticipantId)> = state
        .parts
        .keys()
        .filter(|k| !seen.contains(*k))
        .cloned()
        .collect();
    for key in gone {
        if let Some(mut st) = state.parts.remove(&key) {
            let mut alerter = Alerts {
                visit: key.0,
                role: key.1.role(),
                now,
                events: &mut events,
            };
            let kinds: Vec<AlertKind> = st.active.keys().copied().collect();
            for kind in kinds {
                alerter.set(&mut st, kind, false);
            }
        }
    }
    let view = LiveView {
        at: rfc3339(now),
        visits: out,
        alerts_active: state.alerts_active(),
        system_alerts: Vec::new(),
    };
    (view, events)
}

#[cfg(test)]
mod tests;
