//! 3. Limits that hold under concurrency.
//!
//! Wrong passwords and wrong confirmation codes sent all at once must count exactly as the same
//! attempts sent one after another: each request used to read the member, wait for argon2 (or
//! compare its code) and write back its own count, so concurrent attempts overwrote each other's
//! and the limit never came. The server's clock is frozen here, so "one after another" has one
//! answer: five wrong passwords lock the account for a second; five wrong codes spend the code.
//! ChangePassword's previous password is a guess too: it counts toward the same lock (it used
//! to be unlimited), and a locked name hears Cognito's LimitExceededException there.
//!
//! Proven elsewhere too: the store's atomic updates against racing writers, on both backends, in
//! the conformance suite (`crates/store/src/conformance/races.rs`: `concurrent_document_updates`,
//! `concurrent_document_creation`, `concurrent_bounded_counts`, `concurrent_user_updates`, run
//! by `crates/store/tests/conformance.rs` for SQLite and `crates/store/tests/postgres.rs` for
//! PostgreSQL, also across two stores on one database), and 400 concurrent wrong passwords
//! across two instances on one PostgreSQL in `crates/server/tests/server/multi_instance.rs`
//! (`concurrent_wrong_passwords_across_instances_lock_like_sequential_ones`).

use crate::common::*;
use serde_json::json;

const PASSWORD: &str = "pat-correct-password";
const RACERS: usize = 40;

fn password_request(s: &Server, username: &str, password: &str) -> reqwest::RequestBuilder {
    s.cognito_request(
        "InitiateAuth",
        &json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": GUARDED_CLIENT,
                 "AuthParameters": { "USERNAME": username, "PASSWORD": password } }),
    )
}

fn count(answers: &[Resp], message: &str) -> usize {
    answers.iter().filter(|r| r.json["message"] == message).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_lock_the_account_like_sequential_ones() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD))]).await;
    let answers = send_all((0..RACERS).map(|i| password_request(&s, "pat", &format!("wrong-{i}"))).collect()).await;
    for r in &answers {
        assert_eq!(r.json["__type"], "NotAuthorizedException", "{}", r.text);
    }
    // One after another, five wrong passwords are counted and lock the account; the others
    // arrive while it is locked and are refused as such, uncounted.
    let wrong = count(&answers, "Incorrect username or password.");
    let locked = count(&answers, "Password attempts exceeded");
    assert_eq!((wrong, locked), (5, RACERS - 5), "answers: {:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());

    // The right password, now, is refused: the account is locked.
    let r = s.send(password_request(&s, "pat", PASSWORD)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Password attempts exceeded");
    let (code, check, detail) = failing_check(&s, &r).await;
    assert_eq!((code.as_str(), check.as_str()), ("NotAuthorizedException", "lockout"));
    assert!(detail.contains("5 wrong passwords in a row"), "{detail}");

    // The lock after five is one second, as after five sequential wrong passwords; a sign-in
    // then forgets the failures, so one more wrong password does not lock again.
    s.clock.advance(1);
    s.send(password_request(&s, "pat", PASSWORD)).await.assert_ok();
    let r = s.send(password_request(&s, "pat", "wrong-again")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    s.send(password_request(&s, "pat", PASSWORD)).await.assert_ok();
}

/// A right password arriving while wrong ones are being counted never slips past a lock: it is
/// judged on the count as it stands after its own check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_right_password_racing_wrong_ones_is_refused_once_they_lock() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD))]).await;
    let mut requests: Vec<_> = (0..RACERS).map(|i| password_request(&s, "pat", &format!("wrong-{i}"))).collect();
    requests.push(password_request(&s, "pat", PASSWORD));
    let answers = send_all(requests).await;
    let right = answers.last().unwrap();
    let wrong = count(&answers[..RACERS], "Incorrect username or password.");
    if right.status == 200 {
        // It came before the lock: the failures before it were forgotten, and five more lock.
        assert!((5..=9).contains(&wrong), "{wrong} wrong passwords counted around a sign-in");
    } else {
        assert_cognito_error(right, "NotAuthorizedException", "Password attempts exceeded");
        assert_eq!(wrong, 5, "five counted, then the lock");
    }
    // Either way the account ends locked, and the right password is refused.
    let r = s.send(password_request(&s, "pat", PASSWORD)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Password attempts exceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_confirmation_codes_spend_the_code_after_five() {
    let (s, codes) = Server::with_pool(&[]).await;
    let r = s
        .cognito(
            "SignUp",
            &json!({ "ClientId": GUARDED_CLIENT, "Username": "quinn", "Password": "quinn-password",
                     "UserAttributes": [{ "Name": "email", "Value": "quinn@example.com" }] }),
        )
        .await;
    r.assert_ok();
    let code = codes.last("quinn", "SignUp");
    let wrong = |i: usize| format!("{:06}", (code.parse::<usize>().unwrap() + 1 + i) % 1_000_000);
    let confirm = |c: &str| {
        s.cognito_request(
            "ConfirmSignUp",
            &json!({ "ClientId": GUARDED_CLIENT, "Username": "quinn", "ConfirmationCode": c }),
        )
    };
    let answers = send_all((0..RACERS).map(|i| confirm(&wrong(i))).collect()).await;
    let mut details = Vec::new();
    for r in &answers {
        assert_cognito_error(r, "CodeMismatchException", "Invalid verification code provided, please try again.");
        details.push(failing_check(&s, r).await.2);
    }
    let counted = details.iter().filter(|d| d.starts_with("wrong SignUp code")).count();
    let spent = details.iter().filter(|d| d.contains("spent after 5 tries")).count();
    let gone = details.iter().filter(|d| d.contains("no SignUp code is pending")).count();
    assert_eq!((counted, spent, gone), (5, 1, RACERS - 5), "{details:?}");

    // The right code is spent with the others: it no longer confirms.
    let r = s.send(confirm(&code)).await;
    assert_cognito_error(&r, "CodeMismatchException", "Invalid verification code provided, please try again.");
    assert!(failing_check(&s, &r).await.2.contains("no SignUp code is pending"));
    let r = s.send(password_request(&s, "quinn", "quinn-password")).await;
    assert_cognito_error(&r, "UserNotConfirmedException", "User is not confirmed.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_right_codes_confirm_once() {
    let (s, codes) = Server::with_pool(&[("pat", Some(PASSWORD))]).await;
    s.cognito("ForgotPassword", &json!({ "ClientId": GUARDED_CLIENT, "Username": "pat" })).await.assert_ok();
    let code = codes.last("pat", "ForgotPassword");
    let answers = send_all(
        (0..8)
            .map(|i| {
                s.cognito_request(
                    "ConfirmForgotPassword",
                    &json!({ "ClientId": GUARDED_CLIENT, "Username": "pat", "ConfirmationCode": code,
                             "Password": format!("new-password-{i}") }),
                )
            })
            .collect(),
    )
    .await;
    let winners: Vec<usize> = (0..answers.len()).filter(|i| answers[*i].status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "one code, one new password: {:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    s.send(password_request(&s, "pat", &format!("new-password-{}", winners[0]))).await.assert_ok();
}

fn change_password_request(s: &Server, access: &str, previous: &str) -> reqwest::RequestBuilder {
    s.cognito_request(
        "ChangePassword",
        &json!({ "AccessToken": access, "PreviousPassword": previous, "ProposedPassword": "pat-new-password-1" }),
    )
}

const ATTEMPT_LIMIT: &str = "Attempt limit exceeded, please try after some time.";

/// ChangePassword's previous password is a password guess like a sign-in's: a stolen access
/// token used to try any number of them. Wrong ones now count toward the same lockout, atomically
/// (sent at once they count as one after another), and a locked name is answered as Cognito
/// does, LimitExceededException; the right password waits for the lock like a sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_previous_passwords_lock_like_sequential_ones() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD))]).await;
    let access = s.pool_auth(GUARDED_CLIENT, "pat", PASSWORD).await["AccessToken"].as_str().unwrap().to_string();
    let answers =
        send_all((0..RACERS).map(|i| change_password_request(&s, &access, &format!("wrong-{i}"))).collect()).await;
    let wrong = answers
        .iter()
        .filter(|r| {
            r.json["__type"] == "NotAuthorizedException" && r.json["message"] == "Incorrect username or password."
        })
        .count();
    let limited = answers.iter().filter(|r| r.json["__type"] == "LimitExceededException").count();
    assert_eq!((wrong, limited), (5, RACERS - 5), "answers: {:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    let r = answers.iter().find(|r| r.json["__type"] == "LimitExceededException").unwrap();
    assert_cognito_error(r, "LimitExceededException", ATTEMPT_LIMIT);
    assert!(!r.text.contains(&access[access.len() - 40..]));
    let (code, check, detail) = failing_check(&s, r).await;
    assert_eq!((code.as_str(), check.as_str()), ("LimitExceededException", "lockout"));
    assert!(detail.contains("5 wrong passwords in a row"), "{detail}");

    // The right previous password is refused while locked, and so is a sign-in: one lockout.
    let r = s.send(change_password_request(&s, &access, PASSWORD)).await;
    assert_cognito_error(&r, "LimitExceededException", ATTEMPT_LIMIT);
    let r = s.send(password_request(&s, "pat", PASSWORD)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Password attempts exceeded");

    // Locked for a second, as after five wrong passwords one after another.
    s.clock.advance(1);
    s.send(change_password_request(&s, &access, PASSWORD)).await.assert_ok();
    s.send(password_request(&s, "pat", "pat-new-password-1")).await.assert_ok();
}

/// Wrong sign-ins and wrong previous passwords add up: four of one and one of the other lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_previous_passwords_and_wrong_sign_ins_share_one_count() {
    let (s, _) = Server::with_pool(&[("pat", Some(PASSWORD))]).await;
    let access = s.pool_auth(GUARDED_CLIENT, "pat", PASSWORD).await["AccessToken"].as_str().unwrap().to_string();
    for i in 0..4 {
        let r = s.send(password_request(&s, "pat", &format!("wrong-{i}"))).await;
        assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    }
    let r = s.send(change_password_request(&s, &access, "wrong-4")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    let (_, check, detail) = failing_check(&s, &r).await;
    assert_eq!(check, "password");
    assert!(detail.contains("5 in a row, locked for 1 s"), "{detail}");
    let r = s.send(password_request(&s, "pat", PASSWORD)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Password attempts exceeded");
}
