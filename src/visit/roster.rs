//! The roster: who is in a live visit, as each participant's screen must show it
//! (R-VERIFY-4, docs/DESIGN.md invariant 10: nobody unseen). Pure: built from the seats
//! the hub holds; the hub publishes one per seat on every change, and signalling sends it
//! as the `roster` message.
//!
//! Each receiver's roster is its own: `you` marks its own entry, and the m-line ids say on
//! which of *its* m-lines each other participant's audio and video arrive (the media plane
//! binds sources to a receiver's free m-lines, see `media::forward`; which one is a fact of
//! that receiver's connection, so the page can label one tile per remote participant).
//!
//! What a label may be: a lawyer-side account's display name or the booth's label, which
//! the participants of the visit are entitled to see; never a licence or identity number,
//! never an address.

use super::lifecycle::SeatNo;
use crate::ids::Role;
use crate::media::{PeerId, SlotBinding};

/// One receiver's view of the visit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterView {
    pub entries: Vec<RosterSeat>,
}

/// One participant, as one receiver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterSeat {
    /// The seat number: stable for the life of the participant's connection.
    pub id: u64,
    pub role: Role,
    pub label: String,
    /// Interrupted, keeping its place for the grace period (R-REMOTE-2).
    pub reconnecting: bool,
    /// This entry is the receiver itself.
    pub you: bool,
    /// The receiver's m-line carrying this participant's audio, if any.
    pub audio_mid: Option<String>,
    /// The receiver's m-line carrying this participant's video, if any.
    pub video_mid: Option<String>,
    /// The participant says its microphone is muted / its camera is off (R-REMOTE-1).
    /// The participant's own claim, for display only.
    pub audio_muted: bool,
    pub video_off: bool,
}

/// What the roster needs to know about one seat.
pub struct SeatFacts<'a> {
    pub seat: SeatNo,
    pub role: Role,
    pub label: &'a str,
    pub reconnecting: bool,
    /// The seat's media peer, once it has made its offer.
    pub peer: Option<PeerId>,
    /// What the participant last said of its own microphone and camera (R-REMOTE-1).
    pub media: MediaState,
}

/// A participant's own microphone and camera as it last said (`media_state`, R-REMOTE-1):
/// shown to the others, trusted for nothing else. Both on until it says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaState {
    pub audio_muted: bool,
    pub video_off: bool,
}

/// The roster for `receiver`: every seat in join order, with the receiver's own slots
/// (`slots`, as the media plane bound them) mapped to the participant whose media they carry.
pub fn view_for(receiver: SeatNo, seats: &[SeatFacts<'_>], slots: &[SlotBinding]) -> RosterView {
    let mid_of = |peer: Option<PeerId>, video: bool| {
        let peer = peer?;
        slots
            .iter()
            .find(|s| s.source == peer && s.video == video)
            .map(|s| s.mid.clone())
    };
    RosterView {
        entries: seats
            .iter()
            .map(|s| {
                let you = s.seat == receiver;
                RosterSeat {
                    id: s.seat.0,
                    role: s.role,
                    label: s.label.to_owned(),
                    reconnecting: s.reconnecting,
                    you,
                    audio_mid: if you { None } else { mid_of(s.peer, false) },
                    video_mid: if you { None } else { mid_of(s.peer, true) },
                    audio_muted: s.media.audio_muted,
                    video_off: s.media.video_off,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R-VERIFY-4: every seat is listed for every receiver, the receiver marked as itself,
    /// and each other participant's media named by the receiver's own m-lines.
    #[test]
    fn each_receiver_sees_everyone_with_its_own_m_lines() {
        let seats = [
            SeatFacts {
                seat: SeatNo(3),
                role: Role::Booth,
                label: "Booth 1",
                reconnecting: false,
                peer: Some(PeerId(30)),
                media: MediaState::default(),
            },
            SeatFacts {
                seat: SeatNo(4),
                role: Role::Lawyer,
                label: "王律师",
                reconnecting: false,
                peer: Some(PeerId(40)),
                media: MediaState {
                    audio_muted: true,
                    video_off: false,
                },
            },
            SeatFacts {
                seat: SeatNo(5),
                role: Role::Interpreter,
                label: "Interpreter",
                reconnecting: true,
                peer: None,
                media: MediaState::default(),
            },
        ];
        let slots = [
            SlotBinding {
                mid: "0".into(),
                video: false,
                source: PeerId(30),
            },
            SlotBinding {
                mid: "1".into(),
                video: true,
                source: PeerId(30),
            },
            SlotBinding {
                mid: "3".into(),
                video: true,
                source: PeerId(99),
            },
        ];
        let view = view_for(SeatNo(4), &seats, &slots);
        assert_eq!(view.entries.len(), 3);
        let booth = &view.entries[0];
        assert_eq!(
            (booth.audio_mid.as_deref(), booth.video_mid.as_deref()),
            (Some("0"), Some("1"))
        );
        assert!(view.entries[1].you && view.entries[1].audio_mid.is_none());
        // R-REMOTE-1: everyone, the receiver included, sees what a participant said of
        // its own microphone and camera.
        assert!(view.entries[1].audio_muted && !view.entries[1].video_off);
        assert!(!booth.audio_muted && !booth.video_off);
        let interpreter = &view.entries[2];
        assert!(interpreter.reconnecting && interpreter.video_mid.is_none());
    }
}
