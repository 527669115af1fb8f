//! Congestion control's pure rules (R-REMOTE-2): how much video one receiving leg may get,
//! which video frames it is spared when its downlink is weaker than the sender's rate, and
//! how often the bitrate cap (REMB) is told to a sender. No I/O, no clock (instants are
//! arguments), so every rule is unit-tested here. The design is in docs/DESIGN.md,
//! "Congestion control".
//!
//! - Each receiving leg's `Rtc` estimates the leg's available bitrate from the receiver's
//!   transport-wide congestion control feedback (str0m's BWE, `peer`).
//! - [`video_budget`] turns that estimate into a video budget: audio is reserved first.
//! - [`VideoGate`] (one per outgoing video m-line, held by the forwarding table) forwards or
//!   drops whole frames against that budget (a token bucket); after a drop it forwards
//!   nothing until a key frame (the receiver could not decode the frames in between) and asks
//!   the source for one once the budget has recovered. Audio never passes a gate.
//! - [`remb_share`] and [`RembThrottle`]: the sender is told the weakest of its receivers'
//!   estimates (REMB), so a browser lowers its own bitrate rather than the SFU dropping.

use std::time::{Duration, Instant};

/// Bitrate reserved for each audio m-line forwarded to a leg (Opus at its usual 32-40 kbit/s
/// plus RTP/SRTP/UDP/IP overhead at 50 packets a second).
pub(crate) const AUDIO_RESERVE_BPS: u64 = 64_000;

/// A leg's video budget never goes below this: a last, small picture rather than none.
pub(crate) const MIN_VIDEO_BPS: u64 = 30_000;

/// The token bucket holds this much of the budget: a key frame several times the size of a
/// delta frame passes when the bucket is full.
const BUCKET: Duration = Duration::from_secs(1);

/// Frames are dropped only once the leg is this far (a share of the bucket) over its budget:
/// a sustained overload, not a short dip of the estimate or a key frame, since every drop
/// costs the receiver the picture until the next key frame.
const DROP_DEFICIT: f64 = 0.5;

/// After a drop, forwarding resumes (at a key frame) once the bucket is at least this full.
const RESUME_FILL: f64 = 0.5;

/// A key frame is asked for again after this long without one (the source's own keyframe
/// throttle in `peer` is shorter; this keeps a waiting leg from asking on every frame).
const KEYFRAME_ASK_INTERVAL: Duration = Duration::from_secs(1);

/// REMB: a decrease of at least this fraction is told at once (after [`REMB_MIN_INTERVAL`]).
const REMB_DECREASE: f64 = 0.03;
const REMB_MIN_INTERVAL: Duration = Duration::from_millis(200);
/// REMB: otherwise the current value is repeated this often (a browser keeps the last cap).
pub(crate) const REMB_INTERVAL: Duration = Duration::from_secs(1);

/// The video budget of a receiving leg: its estimate minus the audio reserve, shared equally
/// among the `video_slots` video m-lines that carry a source, never below [`MIN_VIDEO_BPS`].
pub(crate) fn video_budget(estimate_bps: u64, audio_slots: usize, video_slots: usize) -> u64 {
    let audio = AUDIO_RESERVE_BPS.saturating_mul(audio_slots as u64);
    let video = estimate_bps.saturating_sub(audio) / video_slots.max(1) as u64;
    video.max(MIN_VIDEO_BPS)
}

/// What one receiver's estimate allows one of the video sources it receives to send (the
/// REMB towards that source is the minimum of this over its receivers). REMB caps a sender's
/// whole transport, so the audio it sends is inside this figure.
pub(crate) fn remb_share(estimate_bps: u64, video_sources: usize) -> u64 {
    estimate_bps / video_sources.max(1) as u64
}

/// What the gate does with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Forward it with the next sequence number.
    Forward,
    /// Forward it, and renumber from here: frames were dropped before it.
    Resume,
    /// Drop it (its frame is not forwarded on this leg).
    Drop,
    /// Drop it, and ask the source for a key frame: the budget allows video again.
    DropAskKeyframe,
}

/// Frame-level pacing of one outgoing video m-line against its leg's budget.
#[derive(Debug, Clone, Default)]
pub(crate) struct VideoGate {
    /// The budget in bit/s; `None`: no estimate, nothing is dropped.
    rate_bps: Option<u64>,
    /// Bytes the leg may still send; may go negative (a frame once started is forwarded).
    tokens: f64,
    refilled_at: Option<Instant>,
    /// The RTP timestamp of the current frame and whether it is forwarded.
    frame_ts: Option<u32>,
    forwarding: bool,
    /// Frames were dropped: nothing is forwarded until a key frame.
    waiting_keyframe: bool,
    asked_at: Option<Instant>,
    /// Frames this gate dropped (for the stats).
    pub dropped_frames: u64,
}

impl VideoGate {
    /// Set or clear the budget (bit/s) from the leg's latest estimate.
    pub(crate) fn set_rate(&mut self, rate_bps: Option<u64>) {
        if self.rate_bps.is_none() {
            // A new budget starts with a full bucket.
            if let Some(rate) = rate_bps {
                self.tokens = capacity(rate);
            }
        }
        self.rate_bps = rate_bps;
    }

    pub(crate) fn rate_bps(&self) -> Option<u64> {
        self.rate_bps
    }

    /// Decide on one video packet of `bytes` with RTP timestamp `ts`; `keyframe`: it is the
    /// first packet of a key frame.
    pub(crate) fn admit(&mut self, now: Instant, ts: u32, bytes: usize, keyframe: bool) -> Verdict {
        // The common case: no limit and nothing dropped.
        if self.rate_bps.is_none() && !self.waiting_keyframe {
            self.frame_ts = Some(ts);
            self.forwarding = true;
            return Verdict::Forward;
        }
        self.refill(now);
        let mut resumed = false;
        let mut ask = false;
        if self.frame_ts != Some(ts) {
            self.frame_ts = Some(ts);
            let full = self.fill();
            if self.waiting_keyframe {
                if keyframe && full >= RESUME_FILL {
                    self.waiting_keyframe = false;
                    self.forwarding = true;
                    resumed = true;
                } else {
                    self.forwarding = false;
                    ask = full >= RESUME_FILL
                        && self.asked_at.is_none_or(|at| {
                            now.saturating_duration_since(at) >= KEYFRAME_ASK_INTERVAL
                        });
                    if ask {
                        self.asked_at = Some(now);
                    }
                }
            } else if full >= -DROP_DEFICIT {
                self.forwarding = true;
            } else {
                self.forwarding = false;
                self.waiting_keyframe = true;
                self.asked_at = None;
            }
            if !self.forwarding {
                self.dropped_frames += 1;
            }
        }
        if !self.forwarding {
            return if ask {
                Verdict::DropAskKeyframe
            } else {
                Verdict::Drop
            };
        }
        if let Some(rate) = self.rate_bps {
            self.tokens = (self.tokens - bytes as f64).max(-capacity(rate));
        }
        if resumed {
            Verdict::Resume
        } else {
            Verdict::Forward
        }
    }

    fn refill(&mut self, now: Instant) {
        if let (Some(rate), Some(at)) = (self.rate_bps, self.refilled_at) {
            let dt = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + rate as f64 / 8.0 * dt).min(capacity(rate));
        }
        self.refilled_at = Some(now);
    }

    /// How full the bucket is, 0..=1 (1 without a budget).
    fn fill(&self) -> f64 {
        match self.rate_bps {
            Some(rate) => self.tokens / capacity(rate),
            None => 1.0,
        }
    }
}

/// Bytes the bucket holds at `rate` bit/s.
fn capacity(rate_bps: u64) -> f64 {
    rate_bps as f64 / 8.0 * BUCKET.as_secs_f64()
}

/// When to send a REMB to a sender: a notable decrease at once, otherwise once a second.
#[derive(Debug, Clone, Default)]
pub(crate) struct RembThrottle {
    last: Option<(Instant, u64)>,
}

impl RembThrottle {
    /// Whether `bps` should be sent now; if so it is recorded as sent.
    pub(crate) fn should_send(&mut self, now: Instant, bps: u64) -> bool {
        let send = match self.last {
            None => true,
            Some((at, last)) => {
                let since = now.saturating_duration_since(at);
                since >= REMB_INTERVAL
                    || (since >= REMB_MIN_INTERVAL
                        && (bps as f64) < last as f64 * (1.0 - REMB_DECREASE))
            }
        };
        if send {
            self.last = Some((now, bps));
        }
        send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn budget_reserves_audio_and_shares_video() {
        assert_eq!(video_budget(1_000_000, 1, 1), 936_000);
        assert_eq!(video_budget(1_000_000, 2, 2), 436_000);
        assert_eq!(video_budget(50_000, 1, 1), MIN_VIDEO_BPS);
        assert_eq!(video_budget(500_000, 1, 0), 436_000);
        assert_eq!(remb_share(300_000, 2), 150_000);
        assert_eq!(remb_share(300_000, 0), 300_000);
    }

    // R-REMOTE-2: without an estimate every frame passes.
    #[test]
    fn no_budget_forwards_everything() {
        let mut g = VideoGate::default();
        let t0 = Instant::now();
        for i in 0..1000u32 {
            assert_eq!(g.admit(t0 + MS * i, i / 3, 1200, false), Verdict::Forward);
        }
        assert_eq!(g.dropped_frames, 0);
    }

    /// Feed `secs` of 30 fps video of `frame_bytes` per frame (3 packets a frame, a key frame
    /// every `key_every` frames); returns the verdicts per frame.
    fn run(
        g: &mut VideoGate,
        start: Instant,
        first_frame: u32,
        frames: u32,
        frame_bytes: usize,
        key_every: u32,
    ) -> Vec<Vec<Verdict>> {
        (first_frame..first_frame + frames)
            .map(|f| {
                let at = start + Duration::from_micros(u64::from(f) * 33_333);
                let ts = f * 3000;
                (0..3)
                    .map(|p| g.admit(at, ts, frame_bytes / 3, p == 0 && f % key_every == 0))
                    .collect()
            })
            .collect()
    }

    // R-REMOTE-2: within the budget nothing is dropped.
    #[test]
    fn within_budget_nothing_is_dropped() {
        let mut g = VideoGate::default();
        g.set_rate(Some(500_000));
        // 30 fps x 1500 bytes = 360 kbit/s.
        let frames = run(&mut g, Instant::now(), 0, 300, 1500, 1000);
        assert!(frames.iter().flatten().all(|v| *v == Verdict::Forward));
        assert_eq!(g.dropped_frames, 0);
    }

    // R-REMOTE-2: over the budget whole frames are dropped (never part of one), forwarding
    // resumes only at a key frame, which is asked for, and the forwarded rate stays near
    // the budget.
    #[test]
    fn over_budget_drops_whole_frames_until_a_keyframe() {
        let mut g = VideoGate::default();
        g.set_rate(Some(200_000));
        let t0 = Instant::now();
        // 30 fps x 2400 bytes = 576 kbit/s for 10 s, a key frame every 60 frames.
        let frames = run(&mut g, t0, 0, 300, 2400, 60);
        let mut forwarded_bytes = 0usize;
        let mut waiting = false;
        let mut asked = 0;
        for (f, verdicts) in frames.iter().enumerate() {
            let fwd = matches!(verdicts[0], Verdict::Forward | Verdict::Resume);
            // A frame is all or nothing.
            for v in &verdicts[1..] {
                assert_eq!(
                    matches!(v, Verdict::Forward | Verdict::Resume),
                    fwd,
                    "frame {f} was cut"
                );
                assert!(!matches!(v, Verdict::Resume | Verdict::DropAskKeyframe));
            }
            if verdicts[0] == Verdict::DropAskKeyframe {
                asked += 1;
            }
            if fwd {
                forwarded_bytes += 2400;
                if waiting {
                    assert_eq!(verdicts[0], Verdict::Resume, "frame {f}");
                    assert_eq!(f % 60, 0, "frame {f}: resumed on a delta frame");
                    waiting = false;
                }
            } else {
                waiting = true;
            }
        }
        assert!(g.dropped_frames > 100, "dropped {}", g.dropped_frames);
        assert!(asked >= 1);
        // The budget plus the initial bucket, over 10 s.
        let allowed = 200_000 / 8 * 10 + 25_000 + 12_500 + 2400;
        assert!(forwarded_bytes <= allowed, "{forwarded_bytes} > {allowed}");
        assert!(forwarded_bytes > allowed / 3, "{forwarded_bytes}");
    }

    // R-REMOTE-2: a key frame is asked for at most once a second while the leg waits.
    #[test]
    fn keyframe_requests_are_throttled() {
        let mut g = VideoGate::default();
        g.set_rate(Some(100_000));
        let t0 = Instant::now();
        // Never a key frame after the first: 4 s of 30 fps at 40 kbit/s after an overload.
        let _ = run(&mut g, t0, 0, 30, 6000, 1_000_000);
        let frames = run(&mut g, t0, 30, 120, 150, 1_000_000);
        let asks = frames
            .iter()
            .filter(|v| v[0] == Verdict::DropAskKeyframe)
            .count();
        assert!((2..=5).contains(&asks), "{asks} requests in 4 s");
    }

    // Removing the budget while waiting for a key frame still waits for one (the receiver
    // cannot decode without it) and asks for one.
    #[test]
    fn cleared_budget_still_waits_for_a_keyframe() {
        let mut g = VideoGate::default();
        g.set_rate(Some(50_000));
        let t0 = Instant::now();
        let _ = run(&mut g, t0, 0, 30, 9000, 1_000_000);
        assert!(g.dropped_frames > 0);
        g.set_rate(None);
        let frames = run(&mut g, t0, 30, 40, 900, 1_000_000);
        assert!(frames
            .iter()
            .flatten()
            .all(|v| matches!(v, Verdict::Drop | Verdict::DropAskKeyframe)));
        assert!(frames.iter().any(|v| v[0] == Verdict::DropAskKeyframe));
        let frames = run(&mut g, t0, 70, 1, 900, 70);
        assert_eq!(frames[0][0], Verdict::Resume);
        assert_eq!(frames[0][1], Verdict::Forward);
    }

    #[test]
    fn remb_throttle_sends_decreases_soon_and_repeats_each_second() {
        let mut r = RembThrottle::default();
        let t0 = Instant::now();
        assert!(r.should_send(t0, 1_000_000));
        assert!(!r.should_send(t0 + MS * 100, 500_000), "too soon");
        assert!(r.should_send(t0 + MS * 250, 500_000), "a decrease");
        assert!(
            !r.should_send(t0 + MS * 500, 499_000),
            "a small decrease waits"
        );
        assert!(!r.should_send(t0 + MS * 600, 900_000), "an increase waits");
        assert!(r.should_send(t0 + MS * 1250, 900_000), "the repeat");
    }
}
