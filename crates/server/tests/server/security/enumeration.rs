//! 5. User enumeration.
//!
//! Whether a username exists must not show in any public answer, as with Cognito's
//! `PreventUserExistenceErrors = ENABLED`: an unknown user gets an SRP challenge with a salt as
//! stable as a real user's (derived from a server key kept in the store), the same lockout
//! answer after the same number of wrong passwords, and the same work (an argon2id check against
//! a stand-in hash, also for a user without a local password); ForgotPassword,
//! ResendConfirmationCode, ConfirmSignUp, ConfirmForgotPassword and CUSTOM_AUTH answer an
//! unknown user as they answer some real one. (SignUp of a taken username says so, as Cognito's
//! does; admin actions are signed and may say "User does not exist.")
//!
//! Everything is proven here; the engine's unit tests cover the derivations.

use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PASSWORD: &str = "pat-correct-password";

fn srp_start(s: &Server, username: &str) -> reqwest::RequestBuilder {
    // Any A not ≡ 0 mod N starts the flow; the proof is never completed here.
    s.cognito_request(
        "InitiateAuth",
        &json!({ "AuthFlow": "USER_SRP_AUTH", "ClientId": GUARDED_CLIENT,
                 "AuthParameters": { "USERNAME": username, "SRP_A": "0b".repeat(384) } }),
    )
}

fn password_request(s: &Server, username: &str, password: &str) -> reqwest::RequestBuilder {
    s.cognito_request(
        "InitiateAuth",
        &json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": GUARDED_CLIENT,
                 "AuthParameters": { "USERNAME": username, "PASSWORD": password } }),
    )
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A random value of `bytes` bytes as the clients' padHex writes it: minimal big-endian hex with a
/// zero byte in front when the top bit is set, so usually `2 * bytes` or `2 * bytes + 2` digits
/// and, once in 256 values, shorter (a top byte of zero is dropped).
fn pad_hex_form(s: &str, bytes: usize) -> bool {
    let canonical = match s.strip_prefix("00") {
        Some(rest) => rest.starts_with(|c: char| c >= '8'),
        None => !s.starts_with(|c: char| c >= '8'),
    };
    // Four zero top bytes (2^-32) would be shorter still: not seen, so not allowed.
    is_hex(s) && s.len() & 1 == 0 && canonical && (2 * (bytes - 4)..=2 * bytes + 2).contains(&s.len())
}

/// The challenge parameters of an SRP start, checked for the shape a real user's have.
#[track_caller]
fn challenge(r: &Resp, username: &str) -> Value {
    r.assert_ok();
    assert_eq!(r.json["ChallengeName"], "PASSWORD_VERIFIER", "{}", r.text);
    let p = r.json["ChallengeParameters"].clone();
    let salt = p["SALT"].as_str().expect("SALT");
    assert!(pad_hex_form(salt, 16), "salt {salt:?} of {username}");
    let b = p["SRP_B"].as_str().expect("SRP_B");
    assert!(pad_hex_form(b, 384), "SRP_B of {username} has {} hex digits: {b}", b.len());
    assert_eq!(p["USERNAME"], username);
    assert_eq!(p["USER_ID_FOR_SRP"], username);
    assert!(p["SECRET_BLOCK"].as_str().is_some_and(|b| !b.is_empty()));
    let mut keys: Vec<&String> = p.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["SALT", "SECRET_BLOCK", "SRP_B", "USERNAME", "USER_ID_FOR_SRP"]);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn srp_challenges_of_unknown_users_are_stable_and_shaped_like_real_ones() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD)), ("erin", None)]).await;
    let mut salts = Vec::new();
    for username in ["pat", "erin", "ghost-of-nobody", "another-ghost"] {
        let first = challenge(&s.send(srp_start(&s, username)).await, username);
        let again = challenge(&s.send(srp_start(&s, username)).await, username);
        assert_eq!(first["SALT"], again["SALT"], "the salt of {username} is stable across calls");
        assert_ne!(first["SRP_B"], again["SRP_B"], "B is fresh for every challenge of {username}");
        salts.push(first["SALT"].as_str().unwrap().to_string());
    }
    salts.sort();
    salts.dedup();
    assert_eq!(salts.len(), 4, "each username has a salt of its own");

    // Answering an unknown user's challenge does the proof's work and is refused as a wrong
    // password, exactly as for a real user.
    for username in ["pat", "ghost-of-nobody"] {
        let start = s.send(srp_start(&s, username)).await;
        let session = start.str("Session").to_string();
        let r = s
            .send(s.cognito_request(
                "RespondToAuthChallenge",
                &json!({ "ClientId": GUARDED_CLIENT, "ChallengeName": "PASSWORD_VERIFIER", "Session": session,
                         "ChallengeResponses": { "USERNAME": username, "PASSWORD_CLAIM_SECRET_BLOCK": session,
                             "PASSWORD_CLAIM_SIGNATURE": "c2lnbmF0dXJl",
                             "TIMESTAMP": tokenbridge_core::srp::cognito_timestamp(s.now()) } }),
            ))
            .await;
        assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
        let trail = trail_of(&s, &r).await;
        assert!(trail.iter().any(|t| t.contains("SRP proof refused")), "{username}: {trail:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_users_lock_out_after_the_same_number_of_attempts() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD)), ("erin", None)]).await;
    let mut answers: Vec<Vec<String>> = Vec::new();
    for username in ["pat", "erin", "ghost-of-nobody"] {
        let mut seen = Vec::new();
        for i in 0..7 {
            let r = s.send(password_request(&s, username, &format!("wrong-{i}"))).await;
            assert_eq!(r.json["__type"], "NotAuthorizedException", "{}", r.text);
            seen.push(r.json["message"].as_str().unwrap().to_string());
        }
        // The SRP flow's first step answers a locked name the same way.
        let r = s.send(srp_start(&s, username)).await;
        seen.push(r.json["message"].as_str().unwrap_or("challenge issued").to_string());
        answers.push(seen);
    }
    let expected: Vec<String> = ["Incorrect username or password."; 5]
        .into_iter()
        .chain(["Password attempts exceeded"; 3])
        .map(str::to_string)
        .collect();
    for (username, seen) in ["pat", "erin", "ghost-of-nobody"].iter().zip(&answers) {
        assert_eq!(seen, &expected, "answers for {username}");
    }
    // The lock ends alike too: one second after the fifth failure.
    s.clock.advance(1);
    for username in ["pat", "erin", "ghost-of-nobody"] {
        let r = s.send(password_request(&s, username, "wrong-again")).await;
        assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// An unknown user, a user without a local password and a real user with a wrong password cost
/// the same: each answer comes after an argon2id verification (its trail says so), and their
/// median times are within a factor of each other (measured interleaved, so a loaded machine
/// slows all three alike; before, the user without a password answered ten times faster).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_users_and_users_without_a_password_cost_the_same_work() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD)), ("erin", None)]).await;
    let users = ["pat", "erin", "ghost-of-nobody"];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); users.len()];
    let mut trails = Vec::new();
    for round in 0..7 {
        // Past any lock, so every attempt reaches the password check.
        s.clock.advance(1000);
        for (i, username) in users.iter().enumerate() {
            let started = Instant::now();
            let r = s.send(password_request(&s, username, &format!("wrong-{round}"))).await;
            times[i].push(started.elapsed());
            assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
            if round == 0 {
                trails.push((username, trail_of(&s, &r).await));
            }
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    eprintln!("median answer times: pat {:?}, erin {:?}, unknown {:?}", medians[0], medians[1], medians[2]);
    let real = medians[0].as_secs_f64();
    for (username, m) in users.iter().zip(&medians).skip(1) {
        let ratio = m.as_secs_f64() / real;
        assert!((1.0 / 3.0..=3.0).contains(&ratio), "{username} answers in {m:?}, a real user in {:?}", medians[0]);
    }
    for (username, trail) in trails {
        assert!(trail.iter().any(|t| t.contains("argon2id")), "{username}: no argon2id check in {trail:?}");
    }
}

/// Cognito's answers with PreventUserExistenceErrors: the account-recovery and confirmation
/// actions answer an unknown user as they answer some real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recovery_and_confirmation_answer_unknown_users_like_real_ones() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD)), ("erin", None), ("dana", Some(PASSWORD))]).await;
    s.engine.directory().set_enabled("dana", false).await.expect("disable dana");
    // A member without an email address.
    let e = &s.engine;
    let user = e
        .directory()
        .create_user(tokenbridge_core::directory::NewUser {
            username: "nomail".into(),
            enabled: true,
            ..Default::default()
        })
        .await
        .expect("user without email");
    e.user_pools().add_pool_member(GUARDED_POOL, &user, None).await.expect("member");
    let call = |action: &str, body: Value| s.cognito_request(action, &body);

    // ForgotPassword: a delivery (simulated where nothing is sent) for every name.
    for username in ["pat", "dana", "nomail", "ghost-of-nobody"] {
        let r = s.send(call("ForgotPassword", json!({ "ClientId": GUARDED_CLIENT, "Username": username }))).await;
        r.assert_ok();
        let d = &r.json["CodeDeliveryDetails"];
        assert_eq!((d["DeliveryMedium"].as_str(), d["AttributeName"].as_str()), (Some("EMAIL"), Some("email")));
        let dest = d["Destination"].as_str().unwrap();
        assert!(dest.len() == 9 && dest.contains("***@") && dest.ends_with("***"), "{username}: {dest}");
    }

    // ConfirmForgotPassword: the password policy first, then a wrong code, for everyone.
    for username in ["pat", "dana", "ghost-of-nobody"] {
        let r = s
            .send(call(
                "ConfirmForgotPassword",
                json!({ "ClientId": GUARDED_CLIENT, "Username": username, "ConfirmationCode": "123456", "Password": "x" }),
            ))
            .await;
        assert_cognito_error(
            &r,
            "InvalidPasswordException",
            "Password did not conform with policy: Password not long enough",
        );
        let r = s
            .send(call(
                "ConfirmForgotPassword",
                json!({ "ClientId": GUARDED_CLIENT, "Username": username, "ConfirmationCode": "123456",
                        "Password": "a-long-enough-password" }),
            ))
            .await;
        assert_cognito_error(&r, "CodeMismatchException", "Invalid verification code provided, please try again.");
    }

    // ResendConfirmationCode and ConfirmSignUp: an unknown name answers as a confirmed user
    // or as an unconfirmed one would, the same way every time; never "not found".
    let (resent, confirmed) = (
        s.send(call("ResendConfirmationCode", json!({ "ClientId": GUARDED_CLIENT, "Username": "pat" }))).await,
        s.send(call(
            "ConfirmSignUp",
            json!({ "ClientId": GUARDED_CLIENT, "Username": "pat", "ConfirmationCode": "123456" }),
        ))
        .await,
    );
    assert_cognito_error(&resent, "InvalidParameterException", "User is already confirmed.");
    assert_cognito_error(&confirmed, "NotAuthorizedException", "User cannot be confirmed. Current status is CONFIRMED");
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..16 {
        let username = format!("ghost-{i}");
        let mut answers = Vec::new();
        for _ in 0..2 {
            let resend = s
                .send(call("ResendConfirmationCode", json!({ "ClientId": GUARDED_CLIENT, "Username": username })))
                .await;
            let confirm = s
                .send(call(
                    "ConfirmSignUp",
                    json!({ "ClientId": GUARDED_CLIENT, "Username": username, "ConfirmationCode": "123456" }),
                ))
                .await;
            answers.push((
                resend.json["__type"].clone(),
                resend.json["CodeDeliveryDetails"].clone(),
                confirm.text.clone(),
            ));
            let kind = match (resend.status, confirm.json["__type"].as_str()) {
                (200, Some("CodeMismatchException")) => "unconfirmed",
                (400, Some("NotAuthorizedException")) => {
                    assert_eq!(resend.json["message"], "User is already confirmed.");
                    assert_eq!(confirm.json["message"], "User cannot be confirmed. Current status is CONFIRMED");
                    "confirmed"
                }
                other => panic!("{username}: answers like no real user: {other:?} {} {}", resend.text, confirm.text),
            };
            kinds.insert(kind);
        }
        assert_eq!(answers[0], answers[1], "{username} is answered the same way each time");
    }
    assert_eq!(kinds.len(), 2, "unknown names answer as confirmed and as unconfirmed users alike");
}

/// Sign-in answers that could tell a name apart: a disabled user with a wrong password, and
/// CUSTOM_AUTH for an unknown user (challenged, then refused, as a real user answering with
/// someone else's upstream token).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disabled_and_custom_auth_answers_do_not_tell_names_apart() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD)), ("dana", Some(PASSWORD))]).await;
    s.engine.directory().set_enabled("dana", false).await.expect("disable dana");
    let r = s.send(password_request(&s, "dana", "wrong-password")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    // Only the right password reveals the account is disabled, as on Cognito.
    let r = s.send(password_request(&s, "dana", PASSWORD)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "User is disabled.");

    for username in ["pat", "ghost-of-nobody"] {
        let r = s
            .send(s.cognito_request(
                "InitiateAuth",
                &json!({ "AuthFlow": "CUSTOM_AUTH", "ClientId": GUARDED_CLIENT, "AuthParameters": { "USERNAME": username } }),
            ))
            .await;
        r.assert_ok();
        assert_eq!(r.json["ChallengeName"], "CUSTOM_CHALLENGE");
        assert_eq!(r.json["ChallengeParameters"]["USERNAME"], username);
        let session = r.str("Session").to_string();
        // alice's upstream token is valid, and linked to alice, not to the challenged name.
        let token = s.fresh_id_token("alice");
        let r = s
            .send(s.cognito_request(
                "RespondToAuthChallenge",
                &json!({ "ClientId": GUARDED_CLIENT, "ChallengeName": "CUSTOM_CHALLENGE", "Session": session,
                         "ChallengeResponses": { "USERNAME": username, "ANSWER": token } }),
            ))
            .await;
        assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
        let (_, check, detail) = failing_check(&s, &r).await;
        assert_eq!(check, "user", "{username}: {detail}");
        assert!(detail.contains("alice"), "the token was validated for {username} too: {detail}");
    }
}

/// ForgotPassword and ResendConfirmationCode send at most five codes per name an hour (a
/// mailbox cannot be flooded through them), and an unknown name spends its budget and is
/// refused the same way, so the limit tells no names apart either.
#[tokio::test]
async fn codes_asked_for_are_budgeted_per_name_for_real_and_unknown_names_alike() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD)), ("lee", Some(PASSWORD))]).await;
    let ask = |action: &str, username: &str| {
        s.cognito_request(action, &json!({ "ClientId": GUARDED_CLIENT, "Username": username }))
    };
    for username in ["pat", "ghost-of-nobody"] {
        for _ in 0..5 {
            s.send(ask("ForgotPassword", username)).await.assert_ok();
        }
        let r = s.send(ask("ForgotPassword", username)).await;
        assert_cognito_error(&r, "LimitExceededException", "Attempt limit exceeded, please try after some time.");
        let (code, check, detail) = failing_check(&s, &r).await;
        assert_eq!((code.as_str(), check.as_str()), ("LimitExceededException", "code budget"), "{detail}");
        // One budget for both ways of asking for a code.
        let r = s.send(ask("ResendConfirmationCode", username)).await;
        assert_cognito_error(&r, "LimitExceededException", "Attempt limit exceeded, please try after some time.");
    }
    // Another name's budget is its own, and an hour later pat's is whole again.
    s.send(ask("ForgotPassword", "lee")).await.assert_ok();
    s.clock.advance(3601);
    s.send(ask("ForgotPassword", "pat")).await.assert_ok();
}
