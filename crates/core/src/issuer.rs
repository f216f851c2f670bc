//! This system's signing keys and the tokens it mints.
//!
//! Keys live in the Store (sealed with the master key when one is configured) so every instance
//! signs with the same active key and publishes the same JWKS. Each instance keeps the parsed
//! keys in memory and reloads them at a bounded interval, or at once when it meets a `kid` it
//! does not know (a rotation made on another instance).

use crate::clock::Clock;
use crate::jose::{JwkSet, Signer, UnverifiedJwt, VerifyingKey};
use crate::model::{Client, KeyAlgorithm, SigningKeyRecord, User};
use crate::secrets::{is_bound, is_sealed, uuid_v4, MasterKey};
use crate::store::Store;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

struct KeySnapshot {
    /// None until the store has an active key this instance can open ([`KeyRing::prepare`]).
    active: Option<Arc<Signer>>,
    verifiers: HashMap<String, Arc<VerifyingKey>>,
    jwks: Arc<String>,
}

pub struct KeyRing {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    master: Option<Arc<MasterKey>>,
    algorithm: KeyAlgorithm,
    refresh_every: i64,
    /// Retired keys stay published this long (the longest JWT lifetime plus leeway).
    publish_for: i64,
    snapshot: RwLock<Arc<KeySnapshot>>,
    /// Set by [`KeyRing::prepare`]: from then on a reload must keep a signer or fail.
    signs: AtomicBool,
    loaded_at: AtomicI64,
    last_forced_reload: AtomicI64,
    reload_lock: tokio::sync::Mutex<()>,
}

impl KeyRing {
    /// Loads the key set as the store has it, writing nothing. The private key is opened when it
    /// can be; an engine opened to read (a CLI command) may have no key yet, or lack the master key
    /// it is sealed with, and still verifies with the public keys. [`KeyRing::prepare`] readies the
    /// ring to sign.
    #[crate::entry_point]
    pub async fn load(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master: Option<Arc<MasterKey>>,
        algorithm: KeyAlgorithm,
        refresh_every: i64,
        publish_for: i64,
    ) -> anyhow::Result<Self> {
        let snapshot = build_snapshot(&store, master.as_deref(), false).await?;
        let now = clock.now();
        Ok(Self {
            store,
            clock,
            master,
            algorithm,
            refresh_every,
            publish_for,
            snapshot: RwLock::new(Arc::new(snapshot)),
            signs: AtomicBool::new(false),
            loaded_at: AtomicI64::new(now),
            last_forced_reload: AtomicI64::new(0),
            reload_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn current(&self) -> Arc<KeySnapshot> {
        self.snapshot.read().expect("key snapshot lock").clone()
    }

    #[crate::entry_point]
    pub async fn reload(&self) -> anyhow::Result<()> {
        let snap = build_snapshot(&self.store, self.master.as_deref(), self.signs.load(Ordering::Relaxed)).await?;
        *self.snapshot.write().expect("key snapshot lock") = Arc::new(snap);
        self.loaded_at.store(self.clock.now(), Ordering::Relaxed);
        Ok(())
    }

    /// Reloads when the snapshot is older than the refresh interval (a cheap check per call).
    #[crate::entry_point]
    pub async fn reload_if_stale(&self) {
        if self.clock.now() - self.loaded_at.load(Ordering::Relaxed) >= self.refresh_every {
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "signing key reload failed; serving the keys already loaded");
            }
        }
    }

    /// Readies the ring to sign: creates and activates a first key when the store has none (of
    /// `first_algorithm`, or the configured one), seals the private keys with the master key (or
    /// names each unsealed one in a warning), and reloads, failing when the active key cannot be
    /// opened.
    #[crate::entry_point]
    pub async fn prepare(&self, first_algorithm: Option<KeyAlgorithm>) -> anyhow::Result<()> {
        let algorithm = first_algorithm.unwrap_or(self.algorithm);
        ensure_first_key(&self.store, &self.clock, self.master.as_deref(), algorithm, self.publish_for).await?;
        seal_at_rest(&self.store, self.master.as_deref()).await?;
        self.signs.store(true, Ordering::Relaxed);
        self.reload().await?;
        let active = self.active();
        if active.alg != algorithm {
            // Keys are shared state: a changed setting must not silently re-key every instance.
            tracing::warn!(
                active_kid = %active.kid,
                active_algorithm = active.alg.as_str(),
                configured_algorithm = algorithm.as_str(),
                "the active signing key does not use issuer.algorithm; tokens stay signed with it \
                 until `tokenbridge keys rotate` makes a key of the configured algorithm"
            );
        }
        Ok(())
    }

    /// The key tokens are signed with. A ring signs once prepared (`Engine::provision` prepares
    /// it); an engine opened only to read and manage state never signs.
    pub fn active(&self) -> Arc<Signer> {
        self.current().active.clone().expect("no signing key loaded: the engine signs only once provisioned")
    }

    /// Deletes retired keys whose publication has ended; returns how many.
    #[crate::entry_point]
    pub async fn purge_retired(&self) -> anyhow::Result<u64> {
        Ok(self.store.purge_retired_keys(self.clock.now()).await?)
    }

    /// The stored signing keys (private keys as stored), for listing.
    #[crate::entry_point]
    pub async fn records(&self) -> anyhow::Result<Vec<SigningKeyRecord>> {
        Ok(self.store.list_signing_keys().await?)
    }

    pub fn jwks_json(&self) -> Arc<String> {
        self.current().jwks.clone()
    }

    /// The verifying key for `kid`, reloading (at most once a second) if it is unknown: another
    /// instance may have rotated. Callers that miss while a reload runs wait for it.
    #[crate::entry_point]
    pub async fn verifier(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        if let Some(k) = self.current().verifiers.get(kid) {
            return Some(k.clone());
        }
        let _reloading = self.reload_lock.lock().await;
        if let Some(k) = self.current().verifiers.get(kid) {
            return Some(k.clone());
        }
        let now = self.clock.now();
        if now - self.last_forced_reload.load(Ordering::Relaxed) >= 1 {
            self.last_forced_reload.store(now, Ordering::Relaxed);
            let _ = self.reload().await;
        }
        self.current().verifiers.get(kid).cloned()
    }

    pub fn published_kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.current().verifiers.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// Makes a new active key; the old one stays published until its tokens have expired.
    #[crate::entry_point]
    pub async fn rotate(&self, algorithm: Option<KeyAlgorithm>) -> anyhow::Result<String> {
        let kid =
            new_key(&self.store, &self.clock, self.master.as_deref(), algorithm.unwrap_or(self.algorithm)).await?;
        self.store.activate_signing_key(&kid, self.clock.now() + self.publish_for).await?;
        self.store.purge_retired_keys(self.clock.now()).await?;
        self.reload().await?;
        Ok(kid)
    }

    pub fn sign(&self, claims: &impl Serialize) -> String {
        self.active().sign_jwt(claims, "JWT")
    }
}

/// Creates the first signing key exactly once, however many instances start together on an
/// empty database: one claims the job through an insert-if-absent setting, the others wait for
/// its key. A claim older than a minute with still no key (its instance died) is taken over.
async fn ensure_first_key(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    master: Option<&MasterKey>,
    algorithm: KeyAlgorithm,
    publish_for: i64,
) -> anyhow::Result<()> {
    let has_active = || async { Ok::<_, anyhow::Error>(store.list_signing_keys().await?.iter().any(|k| k.active)) };
    if has_active().await? {
        return Ok(());
    }
    let mine = format!("{}:{}", clock.now(), uuid_v4());
    let claim = store.put_setting_if_absent("issuer.first_key_claim", &mine).await?;
    let claimed_at: i64 = claim.split(':').next().and_then(|t| t.parse().ok()).unwrap_or(0);
    if claim != mine && clock.now() - claimed_at < 60 {
        // Another instance is creating it: wait (bounded) for its key to appear.
        for _ in 0..100 {
            if has_active().await? {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::bail!("another instance claimed the creation of the first signing key but none appeared; start again");
    }
    let kid = new_key(store, clock, master, algorithm).await?;
    store.activate_signing_key(&kid, clock.now() + publish_for).await?;
    Ok(())
}

async fn new_key(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    master: Option<&MasterKey>,
    alg: KeyAlgorithm,
) -> anyhow::Result<String> {
    // Short, unique, URL-safe kid.
    let kid = format!("{}-{}", alg.as_str().to_lowercase(), &uuid_v4()[..8]);
    let (signer, pkcs8) = {
        let kid = kid.clone();
        tokio::task::spawn_blocking(move || Signer::generate(alg, kid)).await??
    };
    let record = SigningKeyRecord {
        kid: kid.clone(),
        alg,
        private_pkcs8: match master {
            Some(m) => m.seal_for(&sealed_name(&kid), &pkcs8),
            None => pkcs8,
        },
        public_jwk: serde_json::to_string(&signer.public_jwk())?,
        created_at: clock.now(),
        active: false,
        publish_until: None,
    };
    store.insert_signing_key(&record).await?;
    Ok(kid)
}

/// What a signing key's sealed private key is bound to: its kid.
fn sealed_name(kid: &str) -> String {
    format!("signing key {kid}")
}

/// At start: with a master key, every private key stored unsealed or sealed in the older unbound
/// form is resealed bound to its kid, each by one compare-and-swap (of instances starting
/// together, one writes; the others find it done). Without one, each unsealed key is named in a
/// warning (its kid, never the key).
async fn seal_at_rest(store: &Arc<dyn Store>, master: Option<&MasterKey>) -> anyhow::Result<()> {
    for r in store.list_signing_keys().await? {
        let Some(m) = master else {
            if !is_sealed(&r.private_pkcs8) {
                tracing::warn!(
                    kid = %r.kid,
                    "signing key stored unsealed: anyone who reads the database can sign tokens; \
                     configure a master key (TOKENBRIDGE_MASTER_KEY or issuer.master_key_file) to seal it"
                );
            }
            continue;
        };
        if is_bound(&r.private_pkcs8) {
            continue;
        }
        let name = sealed_name(&r.kid);
        let pkcs8 = if is_sealed(&r.private_pkcs8) {
            m.open_for(&name, &r.private_pkcs8).map_err(|e| anyhow::anyhow!("signing key {}: {e}", r.kid))?
        } else {
            r.private_pkcs8.clone()
        };
        if store.replace_signing_key_private(&r.kid, &r.private_pkcs8, &m.seal_for(&name, &pkcs8)).await? {
            tracing::info!(kid = %r.kid, "signing key resealed with the master key, bound to its kid");
        }
    }
    Ok(())
}

/// The key set as stored. With `need_signer` the active key must be there and open; without, a
/// missing or unopenable active key leaves the snapshot without a signer.
async fn build_snapshot(
    store: &Arc<dyn Store>,
    master: Option<&MasterKey>,
    need_signer: bool,
) -> anyhow::Result<KeySnapshot> {
    let records = store.list_signing_keys().await?;
    let mut active = None;
    let mut verifiers = HashMap::new();
    let mut jwks = JwkSet::default();
    for r in &records {
        let jwk: crate::jose::Jwk = serde_json::from_str(&r.public_jwk)?;
        verifiers.insert(r.kid.clone(), Arc::new(VerifyingKey::from_jwk(&jwk).map_err(anyhow::Error::msg)?));
        jwks.keys.push(jwk.clone());
        if r.active {
            match open_signer(r, &jwk, master) {
                Ok(signer) => active = Some(Arc::new(signer)),
                Err(e) if need_signer => return Err(e),
                Err(_) => {}
            }
        }
    }
    if need_signer && active.is_none() {
        anyhow::bail!("no active signing key in storage");
    }
    Ok(KeySnapshot { active, verifiers, jwks: Arc::new(serde_json::to_string(&jwks)?) })
}

/// The active key's private half, opened with the master key when sealed.
fn open_signer(r: &SigningKeyRecord, jwk: &crate::jose::Jwk, master: Option<&MasterKey>) -> anyhow::Result<Signer> {
    let pkcs8 = match (master, is_sealed(&r.private_pkcs8)) {
        (Some(m), true) => m
            .open_for(&sealed_name(&r.kid), &r.private_pkcs8)
            .map_err(|e| anyhow::anyhow!("signing key {}: {e}", r.kid))?,
        (None, true) => {
            anyhow::bail!("signing key {} is sealed but no master key is configured (TOKENBRIDGE_MASTER_KEY)", r.kid)
        }
        (_, false) => r.private_pkcs8.clone(),
    };
    let signer = Signer::from_pkcs8(r.alg, r.kid.clone(), &pkcs8)?;
    // A private key stored under another key's record would sign tokens nobody verifies.
    if signer.public_jwk() != *jwk {
        anyhow::bail!("signing key {}: its private key does not match its public key in the JWKS", r.kid);
    }
    Ok(signer)
}

/// What a minted token set is made of, before signing.
pub struct Grant<'a> {
    pub user: &'a User,
    pub client: &'a Client,
    pub scope: &'a str,
    pub auth_time: i64,
    /// The refresh family's id; Cognito calls it `origin_jti`.
    pub origin_jti: &'a str,
    /// Extra claims for the id token (e.g. `identities` from the upstream provider).
    pub extra_id_claims: Map<String, Value>,
}

/// Cognito-shaped id token claims.
pub fn id_token_claims(issuer: &str, g: &Grant<'_>, now: i64) -> Value {
    let mut c = json!({
        "sub": g.user.id,
        "iss": issuer,
        "aud": g.client.client_id,
        "token_use": "id",
        "auth_time": g.auth_time,
        "iat": now,
        "exp": now + g.client.id_token_ttl,
        "jti": uuid_v4(),
        "origin_jti": g.origin_jti,
        "email_verified": g.user.email_verified,
        "cognito:username": g.user.username,
    });
    let m = c.as_object_mut().expect("object");
    if let Some(e) = &g.user.email {
        m.insert("email".into(), json!(e));
    }
    if !g.user.groups.is_empty() {
        m.insert("cognito:groups".into(), json!(g.user.groups));
    }
    // A federated user's `identities` attribute is JSON text; Cognito's id token carries it as
    // the array itself.
    if let Some(Ok(ids @ Value::Array(_))) = g.user.attributes.get("identities").map(|t| serde_json::from_str(t)) {
        m.insert("identities".into(), ids);
    }
    for (k, v) in &g.extra_id_claims {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    c
}

/// Cognito-shaped access token claims.
pub fn access_token_claims(issuer: &str, g: &Grant<'_>, now: i64) -> Value {
    let mut c = json!({
        "sub": g.user.id,
        "iss": issuer,
        "client_id": g.client.client_id,
        "token_use": "access",
        "scope": g.scope,
        "auth_time": g.auth_time,
        "iat": now,
        "exp": now + g.client.access_token_ttl,
        "jti": uuid_v4(),
        "origin_jti": g.origin_jti,
        "username": g.user.username,
    });
    if !g.user.groups.is_empty() {
        c.as_object_mut().expect("object").insert("cognito:groups".into(), json!(g.user.groups));
    }
    c
}

/// A verified token of this issuer.
#[derive(Debug, Clone)]
pub struct OwnToken {
    pub claims: Map<String, Value>,
    pub kid: String,
    pub alg: String,
}

impl OwnToken {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }
}

/// Verifies a token this system issued: signature against our JWKS, `iss`, `exp` (no leeway:
/// we minted it), and `token_use` when `expected_use` is given. Errors name the failed check.
#[crate::entry_point]
pub async fn verify_own(
    keys: &KeyRing,
    issuer: &str,
    token: &str,
    expected_use: Option<&str>,
    now: i64,
) -> Result<OwnToken, (&'static str, String)> {
    let jwt = UnverifiedJwt::parse(token).map_err(|e| (e.check, e.detail))?;
    verify_own_parsed(keys, issuer, jwt, expected_use, now).await
}

/// [`verify_own`] for a token the caller has already parsed (to read its `iss`, say).
#[crate::entry_point]
pub async fn verify_own_parsed(
    keys: &KeyRing,
    issuer: &str,
    jwt: UnverifiedJwt,
    expected_use: Option<&str>,
    now: i64,
) -> Result<OwnToken, (&'static str, String)> {
    let alg = jwt.header.alg.clone();
    if !matches!(alg.as_str(), "RS256" | "ES256" | "EdDSA") {
        return Err(("algorithm", format!("algorithm {alg:?} is not one this issuer signs with")));
    }
    let kid = jwt.header.kid.clone().ok_or(("kid", "token has no kid".to_string()))?;
    let key = keys
        .verifier(&kid)
        .await
        .ok_or(("kid", format!("token signed by kid {kid} which is not in the current JWKS")))?;
    key.verify(&jwt).map_err(|e| ("signature", e))?;
    let iss = jwt.claim_str("iss").unwrap_or("");
    if iss != issuer && !crate::pool_names::is_pool_issuer(issuer, iss) {
        return Err(("issuer", format!("issuer {:?} is not this server", jwt.claim_str("iss").unwrap_or(""))));
    }
    let exp = jwt.claim_i64("exp").ok_or(("expiry", "token has no exp".to_string()))?;
    if exp <= now {
        return Err(("expiry", format!("token expired {} s ago", now.saturating_sub(exp))));
    }
    if jwt.claim_str("sub").is_none_or(str::is_empty) {
        return Err(("subject", "token has no sub".to_string()));
    }
    if let Some(want) = expected_use {
        let got = jwt.claim_str("token_use").unwrap_or("");
        if got != want {
            return Err(("token_use", format!("token_use is {got:?}, expected {want:?}")));
        }
    }
    Ok(OwnToken { claims: jwt.claims, kid, alg })
}
