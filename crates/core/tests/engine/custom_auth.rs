//! CUSTOM_AUTH: the pool's challenge is answered with this user's upstream token, validated as
//! an exchange validates it (one-time use included); the session is bound to its user and
//! client, lives three minutes, takes three answers and signs in once.

use crate::support::*;
use serde_json::{json, Value};
use tokenbridge_core::issuer::verify_own;

const WRONG: &str = "Incorrect username or password.";
const INVALID_SESSION: &str = "Invalid session for the user.";

/// InitiateAuth CUSTOM_AUTH for `username`: the challenge's answer.
async fn challenge(b: &Broker, username: &str) -> Value {
    let body =
        json!({ "AuthFlow": "CUSTOM_AUTH", "ClientId": POOL_CLIENT, "AuthParameters": { "USERNAME": username } });
    b.pool("InitiateAuth", body).await.ok()
}

async fn session(b: &Broker, username: &str) -> String {
    challenge(b, username).await["Session"].as_str().expect("Session").to_string()
}

async fn answer(b: &Broker, session: &str, username: &str, answer: &str) -> Called<Value> {
    let body = json!({ "ClientId": POOL_CLIENT, "ChallengeName": "CUSTOM_CHALLENGE", "Session": session,
        "ChallengeResponses": { "USERNAME": username, "ANSWER": answer } });
    b.pool("RespondToAuthChallenge", body).await
}

#[tokio::test]
async fn the_challenge_is_answered_with_this_users_upstream_token_once() {
    let b = Broker::open().await;
    let c = challenge(&b, "erin").await;
    assert_eq!(c["ChallengeName"], "CUSTOM_CHALLENGE");
    assert_eq!(c["ChallengeParameters"]["USERNAME"], "erin");
    assert_eq!(c["ChallengeParameters"]["providers"], UPSTREAM);
    assert_eq!(c["ChallengeParameters"]["issuers"], UPSTREAM_ISSUER);
    let s = c["Session"].as_str().unwrap().to_string();

    // Another user's valid upstream token does not answer erin's challenge.
    let bobs = b.upstream_token("bob@example.com");
    let e = b.refused(answer(&b, &s, "erin", &bobs).await, "user", "not the challenged user's").await;
    assert_eq!((reason(&e), message(&e).as_str()), (Reason::NotAuthorized, WRONG));
    assert!(!failed_detail(&e).contains(&bobs));

    // Erin's own does, on the same session (its second answer).
    let erins = b.upstream_token("erin@example.com");
    let called = answer(&b, &s, "erin", &erins).await;
    let rec = b.record(&called).await;
    let result = called.ok()["AuthenticationResult"].clone();
    let id =
        verify_own(b.engine.keys(), ISSUER, result["IdToken"].as_str().unwrap(), Some("id"), b.now()).await.unwrap();
    assert_eq!(id.str("cognito:username"), Some("erin"));
    assert_eq!(id.str("iss"), Some(format!("{ISSUER}/{POOL}").as_str()));
    assert_eq!(id.str("aud"), Some(POOL_CLIENT));
    assert!(result["RefreshToken"].is_string());
    assert_eq!(rec.record["userIdentity"]["type"], "WebIdentityUser");
    assert!(trail_lines(&rec).iter().any(|l| l.starts_with("one-time use: pass")), "{:?}", trail_lines(&rec));

    // The session is spent, and the upstream token too.
    let fresh = b.upstream_token("erin@example.com");
    let e = b.refused(answer(&b, &s, "erin", &fresh).await, "session", "unknown, used or ended session").await;
    assert_eq!(message(&e), INVALID_SESSION);
    let again = session(&b, "erin").await;
    let e = b.refused(answer(&b, &again, "erin", &erins).await, "one-time use", "already used").await;
    assert_eq!(message(&e), WRONG);
    // A token of a provider the client does not take, and a garbled session.
    let partners = b.partner.token("erin@example.com", b.now());
    b.refused(answer(&b, &again, "erin", &partners).await, "provider", "is not a provider of client").await;
    b.refused(answer(&b, "AAAA", "erin", &fresh).await, "session", "unknown, used or ended session").await;
}

#[tokio::test]
async fn sessions_expire_take_three_answers_and_belong_to_their_user() {
    let b = Broker::open().await;
    let s = session(&b, "alice").await;
    b.clock.advance(181);
    let up = b.upstream_token("alice@example.com");
    let e = b.refused(answer(&b, &s, "alice", &up).await, "session", "session expired").await;
    assert_eq!(message(&e), "Invalid session for the user, session is expired.");

    let s = session(&b, "alice").await;
    for _ in 0..3 {
        let e = b.refused(answer(&b, &s, "alice", "wrong").await, "format", "no UserInfo or introspection").await;
        assert_eq!(message(&e), WRONG);
    }
    let e = b.refused(answer(&b, &s, "alice", &up).await, "session", "").await;
    assert_eq!(message(&e), INVALID_SESSION);

    // Answered for someone else, a session is refused.
    let s = session(&b, "alice").await;
    let bobs = b.upstream_token("bob@example.com");
    let e = b.refused(answer(&b, &s, "bob", &bobs).await, "session", "another client or user").await;
    assert_eq!(message(&e), INVALID_SESSION);
    // Neither refusal consumed alice's token.
    let s = session(&b, "alice").await;
    answer(&b, &s, "alice", &up).await.ok();
}

#[tokio::test]
async fn a_disabled_user_cannot_answer() {
    let b = Broker::open().await;
    let s = session(&b, "erin").await;
    b.engine.directory().set_enabled("erin", false).await.unwrap();
    let up = b.upstream_token("erin@example.com");
    b.refused(answer(&b, &s, "erin", &up).await, "user enabled", "is disabled").await;
}

#[tokio::test]
async fn a_pools_refresh_token_refreshes_at_the_pool_only() {
    let b = Broker::open().await;
    let s = session(&b, "erin").await;
    let up = b.upstream_token("erin@example.com");
    let result = answer(&b, &s, "erin", &up).await.ok()["AuthenticationResult"].clone();
    let refresh = result["RefreshToken"].as_str().unwrap().to_string();

    let body = json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": POOL_CLIENT,
        "AuthParameters": { "REFRESH_TOKEN": refresh } });
    let again = b.pool("InitiateAuth", body).await.ok()["AuthenticationResult"].clone();
    assert!(again["RefreshToken"].is_null(), "REFRESH_TOKEN_AUTH returns no new refresh token: {again}");
    let old =
        verify_own(b.engine.keys(), ISSUER, result["AccessToken"].as_str().unwrap(), None, b.now()).await.unwrap();
    let new = verify_own(b.engine.keys(), ISSUER, again["AccessToken"].as_str().unwrap(), None, b.now()).await.unwrap();
    assert_eq!(new.str("origin_jti"), old.str("origin_jti"));

    // The OAuth refresh grant does not take it (it would change its issuer).
    let pool_client = creds(POOL_CLIENT, None);
    b.refused(b.refresh_as(&pool_client, &refresh).await, "refresh token", "REFRESH_TOKEN_AUTH").await;
}
