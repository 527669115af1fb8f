//! R-REMOTE-1: the other side is told of a mute or a camera turned off. A participant says
//! its own microphone / camera state with `media_state`; the server validates it (two
//! booleans, only once joined), keeps it on the seat and shows it in everyone's roster as
//! `audio_muted` / `video_off`, and trusts it for nothing else. With the Rust client.

#[path = "support/app.rs"]
mod app;

use confer_signaling::{ClientMessage, ErrorCode, Role, Roster, ServerMessage, SignalingClient};
use std::time::Duration;

/// Generous: a loaded 2-core CI machine.
const WAIT: Duration = Duration::from_secs(20);

async fn joined(app: &app::TestApp, identity: &app::Identity, token: &str) -> SignalingClient {
    let mut sig = app.signaling(identity).await;
    sig.hello().await.unwrap();
    sig.join(token).await.unwrap();
    sig
}

/// The demo visit's lawyer and booth, both joined.
async fn demo_visit_joined(app: &app::TestApp) -> (SignalingClient, SignalingClient) {
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let lawyer = joined(
        app,
        &app::Identity::None,
        &app.demo_lawyer_token(visit).await,
    )
    .await;
    let booth = joined(app, &app.demo_booth(), &app.demo_booth_token(visit).await).await;
    (lawyer, booth)
}

fn lawyer_of(r: &Roster) -> Option<&confer_signaling::RosterEntry> {
    r.participants.iter().find(|p| p.role == Role::Lawyer)
}

fn lawyer_is(r: &Roster, muted: bool, off: bool) -> bool {
    lawyer_of(r).is_some_and(|p| p.audio_muted == muted && p.video_off == off)
}

/// The next `error` the connection receives (other messages skipped).
async fn next_error(sig: &mut SignalingClient) -> ErrorCode {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match sig.recv_timeout(left).await.expect("an error answer") {
            ServerMessage::Error { code, .. } => return code,
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_and_a_camera_turned_off_reach_everyones_roster() {
    let app = app::spawn_app().await;
    let (mut lawyer, mut booth) = demo_visit_joined(&app).await;

    // Both present, both on: nothing said, nothing shown (and nothing on the wire).
    let r = booth
        .wait_roster(WAIT, |r| r.participants.len() == 2)
        .await
        .unwrap();
    assert!(lawyer_is(&r, false, false), "{r:?}");
    let text = serde_json::to_string(&ServerMessage::Roster(r)).unwrap();
    assert!(!text.contains("audio_muted") && !text.contains("video_off"));

    // The lawyer mutes: the booth's roster says so, and so does the lawyer's own.
    lawyer
        .send(&ClientMessage::MediaState {
            audio: false,
            video: true,
        })
        .await
        .unwrap();
    booth
        .wait_roster(WAIT, |r| lawyer_is(r, true, false))
        .await
        .expect("the booth sees the lawyer muted");
    let own = lawyer
        .wait_roster(WAIT, |r| lawyer_is(r, true, false))
        .await
        .expect("the lawyer sees its own state");
    assert!(lawyer_of(&own).unwrap().you);
    // The booth's own entry is untouched.
    let booth_entry = own
        .participants
        .iter()
        .find(|p| p.role == Role::Booth)
        .unwrap();
    assert!(!booth_entry.audio_muted && !booth_entry.video_off);

    // Camera off as well, then both back on.
    lawyer
        .send(&ClientMessage::MediaState {
            audio: false,
            video: false,
        })
        .await
        .unwrap();
    booth
        .wait_roster(WAIT, |r| lawyer_is(r, true, true))
        .await
        .expect("the booth sees the camera off");
    lawyer
        .send(&ClientMessage::MediaState {
            audio: true,
            video: true,
        })
        .await
        .unwrap();
    booth
        .wait_roster(WAIT, |r| lawyer_is(r, false, false))
        .await
        .expect("the booth sees the lawyer back on");

    // Validated: anything but two booleans is refused and changes nothing.
    lawyer
        .send_raw(r#"{"type":"media_state","audio":"off","video":true}"#)
        .await
        .unwrap();
    assert_eq!(next_error(&mut lawyer).await, ErrorCode::MalformedMessage);
    lawyer
        .send_raw(r#"{"type":"media_state","audio":false,"video":true,"role":"booth"}"#)
        .await
        .unwrap();
    assert_eq!(next_error(&mut lawyer).await, ErrorCode::MalformedMessage);
    // A booth's claim is about the booth only: the lawyer's entry stays as it is.
    booth
        .send(&ClientMessage::MediaState {
            audio: true,
            video: false,
        })
        .await
        .unwrap();
    let r = lawyer
        .wait_roster(WAIT, |r| {
            r.participants
                .iter()
                .any(|p| p.role == Role::Booth && p.video_off)
        })
        .await
        .expect("the lawyer sees the booth's camera off");
    assert!(lawyer_is(&r, false, false), "{r:?}");

    // Not before joining: out of order.
    let mut early = app.signaling(&app::Identity::None).await;
    early.hello().await.unwrap();
    early
        .send(&ClientMessage::MediaState {
            audio: false,
            video: false,
        })
        .await
        .unwrap();
    assert_eq!(next_error(&mut early).await, ErrorCode::OutOfOrder);
}

// R-REMOTE-1: a client that says its state very often (a bouncing button, a hostile script)
// cannot make the server flood the others with rosters: changes are merged, at most one
// roster change every 250 ms, and the last state said always wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_media_states_is_merged_and_the_last_one_wins() {
    let app = app::spawn_app().await;
    let (mut lawyer, mut booth) = demo_visit_joined(&app).await;
    booth
        .wait_roster(WAIT, |r| r.participants.len() == 2)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    const BURST: usize = 200;
    for i in 0..BURST {
        lawyer
            .send(&ClientMessage::MediaState {
                audio: i % 2 == 1,
                video: true,
            })
            .await
            .unwrap();
    }
    // Then the last word: microphone and camera off.
    lawyer
        .send(&ClientMessage::MediaState {
            audio: false,
            video: false,
        })
        .await
        .unwrap();
    let sent_in = started.elapsed();
    // Count the booth's rosters until it shows the last state, then for a second longer.
    let before = booth.rosters_received();
    let last = booth
        .wait_roster(WAIT, |r| lawyer_is(r, true, true))
        .await
        .expect("the booth sees the last state said");
    let _ = booth.recv_timeout(Duration::from_secs(1)).await;
    let rosters = (booth.rosters_received() - before) as usize;
    let last = booth.roster().cloned().or(Some(last));
    let elapsed = started.elapsed();
    println!(
        "{} media_state messages sent in {sent_in:?}; the booth received {rosters} rosters in {elapsed:?}",
        BURST + 1
    );
    assert!(lawyer_is(last.as_ref().unwrap(), true, true), "{last:?}");
    // One roster per 250 ms at most (plus the first at once and the merged last one).
    let bound = (elapsed.as_millis() / 250) as usize + 2;
    assert!(
        rosters <= bound,
        "{rosters} rosters for {} media_state messages in {elapsed:?}: not merged (bound {bound})",
        BURST + 1
    );
    assert!(rosters < BURST / 2, "{rosters} rosters: not merged");
}
