//! What the console keeps between requests, sealed with AES-256-GCM (the master key's sealing,
//! [`MasterKey`]): the pending sign-in in a cookie, under a server key shared by every instance
//! through the store; and the sign-in's outcome in the store, under a key only the browser's
//! cookie holds. Each sealed value starts with its purpose, so one never opens as another.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tokenbridge_core::jose::{b64url, b64url_decode, sha256_hex};
use tokenbridge_core::model::AuthSession;
use tokenbridge_core::secrets::{random_bytes, MasterKey};
use tokenbridge_core::store::StoreResult;
use tokenbridge_core::Engine;

/// Purposes: a pending sign-in (cookie) and a finished one (store).
pub(super) const PENDING: &str = "tokenbridge console pending sign-in v1";
pub(super) const OUTCOME: &str = "tokenbridge console sign-in outcome v1";

/// The store setting that holds the pending-sign-in key.
const KEY_SETTING: &str = tokenbridge_core::secrets::CONSOLE_KEY_SETTING;

/// The `kind` of an outcome's row among the store's short-lived auth sessions.
const OUTCOME_KIND: &str = "console.upstream";

/// The server's key for pending sign-ins: made once, shared by every instance through the store
/// (sealed with the master key when one is configured).
pub(crate) async fn pending_key(engine: &Engine) -> anyhow::Result<MasterKey> {
    engine.server_key(KEY_SETTING).await
}

/// `payload` sealed for `purpose`, as base64url.
pub(crate) fn seal(key: &MasterKey, purpose: &str, payload: &impl Serialize) -> String {
    let mut plain = format!("{purpose}\n").into_bytes();
    plain.extend(serde_json::to_vec(payload).expect("serializable"));
    b64url(&key.seal(&plain))
}

/// The payload, if `sealed` opens with `key` and was sealed for `purpose`.
pub(crate) fn open<T: DeserializeOwned>(key: &MasterKey, purpose: &str, sealed: &str) -> Option<T> {
    let plain = key.open(&b64url_decode(sealed).ok()?).ok()?;
    let json = plain.strip_prefix(format!("{purpose}\n").as_bytes())?;
    serde_json::from_slice(json).ok()
}

/// The row id of an outcome: a hash of the cookie, so the store alone finds nothing to open.
fn outcome_id(handle: &str) -> String {
    sha256_hex(format!("{OUTCOME}|{handle}").as_bytes())
}

/// Keeps a sign-in's outcome for `ttl` seconds; returns the cookie value that finds and opens it.
/// In the store (not in memory), so the page may pick it up from any instance.
pub(super) async fn put_outcome(engine: &Engine, outcome: &Value, ttl: i64) -> StoreResult<String> {
    let handle = b64url(&random_bytes::<32>());
    let key = MasterKey::from_base64(&handle).expect("32 random bytes make a key");
    let session = AuthSession {
        id_hash: outcome_id(&handle),
        body: json!({ "kind": OUTCOME_KIND, "sealed": seal(&key, OUTCOME, outcome) }),
        attempts: 0,
        expires_at: engine.now() + ttl,
    };
    engine.put_auth_session(&session).await?;
    Ok(handle)
}

/// The outcome `handle` names, once: the first pickup removes it.
pub(super) async fn take_outcome(engine: &Engine, handle: &str) -> StoreResult<Option<Value>> {
    // Only the shape `put_outcome` makes; anything else is not a key, and not looked up.
    let key = match MasterKey::from_base64(handle) {
        Ok(k) if handle.len() == 43 => k,
        _ => return Ok(None),
    };
    let id = outcome_id(handle);
    let Some(row) = engine.auth_session(&id).await? else { return Ok(None) };
    if row.body["kind"] != OUTCOME_KIND || row.expires_at <= engine.now() {
        return Ok(None);
    }
    // Of two pickups at once, only the one that removes the row gets the outcome.
    if !engine.take_auth_session(&id).await? {
        return Ok(None);
    }
    Ok(row.body["sealed"].as_str().and_then(|s| open(&key, OUTCOME, s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_purpose_and_key() {
        let key = MasterKey::from_base64(&b64url(&[1u8; 32])).unwrap();
        let other = MasterKey::from_base64(&b64url(&[2u8; 32])).unwrap();
        let sealed = seal(&key, PENDING, &json!({ "state": "s" }));
        assert_eq!(open::<Value>(&key, PENDING, &sealed), Some(json!({ "state": "s" })));
        assert_eq!(open::<Value>(&key, OUTCOME, &sealed), None);
        assert_eq!(open::<Value>(&other, PENDING, &sealed), None);
        assert_eq!(open::<Value>(&key, PENDING, &sealed[1..]), None);
        assert!(!sealed.contains('=') && !sealed.contains('+') && !sealed.contains('/'), "cookie-safe");
    }
}
