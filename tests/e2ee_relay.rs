//! The server's end-to-end encryption relay (R-PRIV-1), with the Rust signalling client: a
//! public key goes to everyone in the visit (its publisher included, which learns its
//! participant number so), a wrapped key to its one addressee stamped with who sent it; a
//! malformed key, a KID outside the sender's range or an unknown addressee is refused; and
//! `e2ee_check_failed` ends the visit for both with that reason.

#[path = "support/app.rs"]
mod app;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use confer_signaling::{
    ClientMessage, EndReason, ErrorCode, ServerMessage, SignalingClient, VisitNotice,
};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn joined(app: &app::TestApp, identity: &app::Identity, token: &str) -> SignalingClient {
    let mut sig = app.signaling(identity).await;
    sig.hello().await.unwrap();
    sig.join(token).await.unwrap();
    sig
}

/// The next message that is not a notice or a pong.
async fn next_key_message(sig: &mut SignalingClient) -> ServerMessage {
    loop {
        match sig.recv_timeout(WAIT).await.expect("a message") {
            ServerMessage::Notice { .. } | ServerMessage::Pong => continue,
            other => return other,
        }
    }
}

fn public_key() -> String {
    let rng = ring::rand::SystemRandom::new();
    let k =
        ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng).unwrap();
    URL_SAFE_NO_PAD.encode(k.compute_public_key().unwrap().as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_go_to_the_visit_wrapped_keys_to_their_addressee_and_codes_differ_ends_it() {
    let app = app::spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let mut lawyer = joined(
        &app,
        &app::Identity::None,
        &app.demo_lawyer_token(visit).await,
    )
    .await;
    let mut booth = joined(&app, &app.demo_booth(), &app.demo_booth_token(visit).await).await;

    let lawyer_key = public_key();
    lawyer
        .send(&ClientMessage::E2eeKey {
            public_key: lawyer_key.clone(),
        })
        .await
        .unwrap();
    let lawyer_number = match next_key_message(&mut lawyer).await {
        ServerMessage::E2eeKey {
            from,
            role,
            public_key,
        } => {
            assert_eq!(role, confer_signaling::Role::Lawyer);
            assert_eq!(
                public_key, lawyer_key,
                "the publisher gets its own key back"
            );
            from
        }
        other => panic!("{other:?}"),
    };
    match next_key_message(&mut booth).await {
        ServerMessage::E2eeKey {
            from,
            role,
            public_key,
        } => {
            assert_eq!(
                (from, role),
                (lawyer_number, confer_signaling::Role::Lawyer)
            );
            assert_eq!(public_key, lawyer_key);
        }
        other => panic!("{other:?}"),
    }
    let booth_key = public_key();
    booth
        .send(&ClientMessage::E2eeKey {
            public_key: booth_key.clone(),
        })
        .await
        .unwrap();
    let booth_number = match next_key_message(&mut booth).await {
        ServerMessage::E2eeKey { from, .. } => from,
        other => panic!("{other:?}"),
    };
    assert_ne!(booth_number, lawyer_number);
    assert!(matches!(
        next_key_message(&mut lawyer).await,
        ServerMessage::E2eeKey { from, .. } if from == booth_number
    ));

    // A wrapped key in the booth's own KID range goes to the lawyer alone, stamped "from".
    let wrapped = URL_SAFE_NO_PAD.encode([7u8; 44]);
    let kid = confer_signaling::e2ee::key_id(booth_number, 1);
    booth
        .send(&ClientMessage::E2eeMediaKey {
            to: lawyer_number,
            kid,
            wrapped: wrapped.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        next_key_message(&mut lawyer).await,
        ServerMessage::E2eeMediaKey {
            from: booth_number,
            kid,
            wrapped: wrapped.clone()
        }
    );

    // Refused: a KID in the lawyer's range, an unknown addressee, a key that is no P-256 point.
    for bad in [
        ClientMessage::E2eeMediaKey {
            to: lawyer_number,
            kid: confer_signaling::e2ee::key_id(lawyer_number, 1),
            wrapped: wrapped.clone(),
        },
        ClientMessage::E2eeMediaKey {
            to: 999_999,
            kid,
            wrapped: wrapped.clone(),
        },
        ClientMessage::E2eeMediaKey {
            to: lawyer_number,
            kid,
            wrapped: URL_SAFE_NO_PAD.encode([7u8; 16]),
        },
        ClientMessage::E2eeKey {
            public_key: URL_SAFE_NO_PAD.encode([4u8; 33]),
        },
    ] {
        booth.send(&bad).await.unwrap();
        match next_key_message(&mut booth).await {
            ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::MalformedMessage),
            other => panic!("{bad:?} was not refused: {other:?}"),
        }
    }

    // The codes differ: the visit ends for both, with that reason.
    booth.send(&ClientMessage::E2eeCheckFailed).await.unwrap();
    for sig in [&mut lawyer, &mut booth] {
        match sig.next_notice_timeout(WAIT).await.unwrap() {
            VisitNotice::VisitEnded { reason, .. } => {
                assert_eq!(reason, EndReason::E2eeCheckFailed)
            }
            other => panic!("{other:?}"),
        }
    }
    let (_, audit) = app.audit_read(&format!("?visit={visit}")).await;
    let text = audit.to_string();
    for needle in ["e2ee_key_published", "e2ee_check_code", "e2ee_check_failed"] {
        assert!(text.contains(needle), "{needle} audited: {audit}");
    }
    app.running.shutdown().await;
}
