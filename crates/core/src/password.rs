//! Password hashing with argon2id, run off the async threads with bounded concurrency so a burst
//! of logins cannot starve token issuance.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;
use tokio::sync::Semaphore;

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

static HASHING_SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)));

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid params"),
    )
}

pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt =
        SaltString::encode_b64(&crate::secrets::random_bytes::<16>()).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

pub fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

#[crate::entry_point]
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _slot = HASHING_SLOTS.acquire().await?;
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

#[crate::entry_point]
pub async fn verify(password: String, phc: String) -> bool {
    let Ok(_slot) = HASHING_SLOTS.acquire().await else { return false };
    tokio::task::spawn_blocking(move || verify_blocking(&password, &phc)).await.unwrap_or(false)
}

/// Verifies once a hashing slot is free, after `precheck` (awaited with the slot held) still
/// allows it: an account locked while this waited in the queue spends no hashing. The
/// precheck's error is returned as it is.
pub async fn verify_after<E>(
    password: String,
    phc: String,
    precheck: impl std::future::Future<Output = Result<(), E>>,
) -> Result<bool, E> {
    let Ok(_slot) = HASHING_SLOTS.acquire().await else { return Ok(false) };
    precheck.await?;
    Ok(tokio::task::spawn_blocking(move || verify_blocking(&password, &phc)).await.unwrap_or(false))
}

/// Minimal policy: at least 8 characters. Returns why a password is refused.
pub fn check_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < 8 {
        return Err("password must be at least 8 characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_and_verify() {
        let h = super::hash_blocking("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify_blocking("correct horse", &h));
        assert!(!super::verify_blocking("wrong horse", &h));
    }
}
