//! The sign-in failure budget cannot be raced (docs/DESIGN.md invariant 3 keeps every
//! attempt in the audit log): parallel guesses are reserved against the budget before any
//! password is checked, so at most the budget is ever checked, and the right password sent
//! after the budget is spent is refused like any other guess.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app, Identity};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_guesses_check_at_most_the_budget_and_the_right_password_after_it_is_refused(
) {
    let app = spawn_app().await;
    let budget = app.running.state.config.auth.login_max_failures as usize;
    let client = app.client(&Identity::None);
    let url = app.url("/api/lawyer/login");
    let guesses = (0..50).map(|i| {
        let client = client.clone();
        let url = url.clone();
        let username = app.lawyer_username.clone();
        async move {
            let resp = client
                .post(url)
                .json(&json!({"username": username, "password": format!("guess-{i}")}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or("").to_owned())
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|(s, c)| *s == 401 && c == "bad_credentials")
        .count();
    let refused = answers
        .iter()
        .filter(|(s, c)| *s == 429 && c == "too_many_attempts")
        .count();
    assert_eq!(checked + refused, 50, "{answers:?}");
    assert!(
        checked <= budget,
        "{checked} passwords checked with a budget of {budget}"
    );
    eprintln!("50 parallel guesses: {checked} checked, {refused} refused before any check");

    // The right password, after the budget is spent, is refused too.
    let resp = client
        .post(&url)
        .json(&json!({"username": app.lawyer_username, "password": app.lawyer_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    app.running.shutdown().await;
}
