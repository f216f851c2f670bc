//! USER_PASSWORD_AUTH and the lockout: wrong passwords are refused alike whether the user exists
//! or not, five in a row lock the name for a second (doubling from there), a right password is
//! refused while locked, and wrong passwords sent at once count as the same sent one by one.

use crate::support::*;
use std::sync::Arc;

const WRONG: &str = "Incorrect username or password.";
const LOCKED: &str = "Password attempts exceeded";

#[tokio::test]
async fn wrong_passwords_are_refused_alike_and_the_trail_says_which_it_was() {
    let b = Broker::with_passwords().await;
    let e = b.refused(b.password_auth("bob", "wrong-password").await, "password", "does not match").await;
    assert_eq!((reason(&e), message(&e).as_str()), (Reason::NotAuthorized, WRONG));
    let e = b.refused(b.password_auth("nobody-here", "wrong-password").await, "user", "no user \"nobody-here\"").await;
    assert_eq!(message(&e), WRONG, "an unknown user looks the same to the caller");
    let e = b.refused(b.password_auth("erin", "anything-at-all").await, "password", "upstream sign-in only").await;
    assert_eq!(message(&e), WRONG);
    let tokens = b.pool_tokens("bob").await;
    assert!(tokens["IdToken"].is_string() && tokens["RefreshToken"].is_string(), "{tokens}");
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_name_and_the_right_one_is_refused_while_locked() {
    let b = Broker::with_passwords().await;
    for n in 1..=5 {
        let e = b.refused(b.password_auth("bob", "wrong-password").await, "password", "does not match").await;
        assert!(failed_detail(&e).ends_with(&format!("{n} in a row")) || n == 5, "{}", failed_detail(&e));
    }
    let f = b.engine.user_pools().sign_in_failures(POOL, "bob").await.unwrap();
    assert_eq!((f.failures, f.locked_until), (5, b.now() + 1));

    let e = b.refused(b.password_auth("bob", "bob-local-pw").await, "lockout", "5 wrong passwords in a row").await;
    assert_eq!((reason(&e), message(&e).as_str()), (Reason::LockedOut, LOCKED));
    // A wrong one while locked is refused as locked, and not counted.
    b.refused(b.password_auth("bob", "wrong-password").await, "lockout", "locked for 1 more s").await;
    assert_eq!(b.engine.user_pools().sign_in_failures(POOL, "bob").await.unwrap().failures, 5);

    // The lock ends; the next wrong one locks again, for twice as long.
    b.clock.advance(1);
    b.refused(b.password_auth("bob", "wrong-password").await, "password", "6 in a row, locked for 2 s").await;
    b.clock.advance(2);
    b.pool_tokens("bob").await;
    // The right password forgets the failures.
    assert_eq!(b.engine.user_pools().sign_in_failures(POOL, "bob").await.unwrap().failures, 0);
}

#[tokio::test]
async fn unknown_names_lock_like_known_ones() {
    let b = Broker::with_passwords().await;
    for _ in 0..5 {
        b.refused(b.password_auth("nobody-here", "guess").await, "user", "no user").await;
    }
    let e = b.refused(b.password_auth("nobody-here", "guess").await, "lockout", "in a row").await;
    assert_eq!(message(&e), LOCKED);
    // Another name is not affected.
    b.pool_tokens("alice").await;
}

/// Sent at once, eight wrong passwords count exactly as one after another: five are counted and
/// lock the name, the rest arrive while it is locked and are refused as locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_passwords_sent_at_once_count_as_sequential_ones() {
    let b = Arc::new(Broker::with_passwords().await);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let b = b.clone();
        set.spawn(async move { b.password_auth("alice", "wrong-password").await.result });
    }
    let mut checks = Vec::new();
    while let Some(r) = set.join_next().await {
        let e = r.unwrap().expect_err("a wrong password is refused");
        checks.push(failed_check(&e));
    }
    checks.sort();
    assert_eq!(checks.iter().filter(|c| *c == "password").count(), 5, "{checks:?}");
    assert_eq!(checks.iter().filter(|c| *c == "lockout").count(), 3, "{checks:?}");
    let f = b.engine.user_pools().sign_in_failures(POOL, "alice").await.unwrap();
    assert_eq!(f.failures, 5);
    b.refused(b.password_auth("alice", "alice-local-pw").await, "lockout", "locked").await;
}
