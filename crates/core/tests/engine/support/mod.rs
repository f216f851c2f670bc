//! The engine as the doors call it, without the doors: opened on a real SQLite store in a
//! temporary directory (behind [`AuditSwitch`], which can make audit writes fail), on a manual
//! clock, with a small configuration, three local users in one user pool, and two upstream
//! providers whose keys are static JWKS files. Each test opens its own.
#![allow(dead_code)]

mod audit_switch;
mod iam;
mod refusal;
mod upstream;

pub use audit_switch::AuditSwitch;
pub use iam::*;
pub use refusal::*;
pub use tokenbridge_core::Reason;
pub use upstream::*;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tempfile::TempDir;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::config::Config;
use tokenbridge_core::directory::NewUser;
use tokenbridge_core::engine::{ClientCredentials, ExchangeRequest, TokenSet};
use tokenbridge_core::iam::{CallerIdentity, QueryService};
use tokenbridge_core::jose::Signer;
use tokenbridge_core::model::{AuditQuery, AuditRecord, KeyAlgorithm, SigningKeyRecord};
use tokenbridge_core::upstream::SubjectTokenType;
use tokenbridge_core::{Clock, Engine, ManualClock, Refusal, Store, SystemClock};

/// This broker's public URL: the `iss` of its own tokens.
pub const ISSUER: &str = "https://broker.test";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// The confidential client of both providers, and the default client of `upstream`.
pub const WEB: &str = "web";
pub const WEB_SECRET: &str = "web-secret";
/// A client that accepts only the `partner` provider.
pub const PARTNER_ONLY: &str = "partner-only";
pub const PARTNER_ONLY_SECRET: &str = "partner-only-secret";
pub const WEB_SCOPES: &str = "openid email profile orders:read";

/// The RS256 provider (one-time use, a claim condition, default client `web`).
pub const UPSTREAM: &str = "upstream";
pub const UPSTREAM_ISSUER: &str = "https://upstream.test";
/// The ES256 provider.
pub const PARTNER: &str = "partner";
pub const PARTNER_ISSUER: &str = "https://partner.test";

/// The user pool (local issuer form) and its public app client, whose CUSTOM_AUTH is answered
/// with `upstream` tokens.
pub const POOL: &str = "us-east-1_EngineTests";
pub const POOL_CLIENT: &str = "enginetestsclient000000000";

/// The doors' CloudTrail event sources, as the server sets them.
pub const OAUTH2: &str = "oauth2.tokenbridge";
pub const EXCHANGE: &str = "exchange.tokenbridge";

/// A local user: member of the pool, linked to the upstream by email.
pub struct Person {
    pub username: &'static str,
    pub email: &'static str,
    pub groups: &'static [&'static str],
    /// The local password (erin has none: she signs in upstream only), set only by
    /// [`Broker::with_passwords`] (argon2id is slow in a debug build).
    pub password: Option<&'static str>,
}

pub const PEOPLE: &[Person] = &[
    Person {
        username: "alice",
        email: "alice@example.com",
        groups: &["admins", "readers"],
        password: Some("alice-local-pw"),
    },
    Person { username: "bob", email: "bob@example.com", groups: &["readers"], password: Some("bob-local-pw") },
    Person { username: "erin", email: "erin@example.com", groups: &[], password: None },
];

/// Known upstream only: no local user has this email.
pub const CAROL: &str = "carol@example.com";

pub fn person(username: &str) -> &'static Person {
    PEOPLE.iter().find(|p| p.username == username).unwrap_or_else(|| panic!("no person {username}"))
}

/// A request's context as a door makes it: a fresh request id, the door's event source.
/// Who signed a door's request: the admin credentials.
pub fn admin() -> CallerIdentity {
    CallerIdentity::Admin { access_key_id: "AKIAENGINETESTS00001".into() }
}

/// A user-pool action signed by the admin credentials, with its refusal kept.
pub async fn admin_call(b: &Broker, action: &str, body: Value) -> Called<Value> {
    let ctx = request_to(tokenbridge_core::userpool::EVENT_SOURCE);
    let result = b.engine.user_pools().user_pool_action(action, &body, Some(&admin()), &ctx).await;
    Called { result, request_id: ctx.request_id }
}

pub fn request_to(event_source: &str) -> RequestContext {
    RequestContext {
        source_ip: "192.0.2.10".into(),
        user_agent: "engine-tests".into(),
        ..RequestContext::new(event_source)
    }
}

/// The web client's credentials, as HTTP Basic carries them.
pub fn web() -> ClientCredentials {
    ClientCredentials { client_id: Some(WEB.into()), client_secret: Some(WEB_SECRET.into()) }
}

pub fn creds(id: &str, secret: Option<&str>) -> ClientCredentials {
    ClientCredentials { client_id: Some(id.into()), client_secret: secret.map(str::to_string) }
}

/// One engine call: its result and the request id its audit record is filed under.
pub struct Called<T> {
    pub result: Result<T, Refusal>,
    pub request_id: String,
}

impl<T: std::fmt::Debug> Called<T> {
    /// The answer; panics with the refusal's failing check when there is none.
    #[track_caller]
    pub fn ok(self) -> T {
        match self.result {
            Ok(v) => v,
            Err(e) => panic!("refused at {:?}: {} ({e:?})", failed_check(&e), message(&e)),
        }
    }

    /// The refusal; panics when the call answered.
    #[track_caller]
    pub fn err(self) -> Refusal {
        match self.result {
            Ok(v) => panic!("expected a refusal, got {v:?}"),
            Err(e) => e,
        }
    }
}

/// A change to the configuration, applied before the engine opens.
pub type Configure = Box<dyn FnOnce(&mut Config)>;

/// How to open a [`Broker`].
#[derive(Default)]
pub struct Setup {
    /// Give the people their local passwords.
    pub passwords: bool,
    /// Last word on the configuration.
    pub configure: Option<Configure>,
}

pub struct Broker {
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    /// The store under the engine, with its audit switch.
    pub store: Arc<AuditSwitch>,
    pub upstream: Upstream,
    pub partner: Upstream,
    _dir: TempDir,
}

/// The configuration: two clients, two providers with static keys, one user pool.
fn config(upstream: &Upstream, partner: &Upstream) -> Config {
    let path = |u: &Upstream| toml_string(&u.jwks_file.display().to_string());
    let text = format!(
        r#"
[server]
public_url = "{ISSUER}"

[aws]
region = "{REGION}"
account_id = "{ACCOUNT}"

[[clients]]
client_id = "{WEB}"
name = "web app"
secret = "{WEB_SECRET}"
grant_types = ["token_exchange", "refresh_token"]
providers = ["{UPSTREAM}", "{PARTNER}"]
scopes = ["openid", "email", "profile", "orders:read"]

[[clients]]
client_id = "{PARTNER_ONLY}"
name = "partner app"
secret = "{PARTNER_ONLY_SECRET}"
providers = ["{PARTNER}"]
scopes = ["openid", "email"]

[[providers]]
name = "{UPSTREAM}"
issuer = "{}"
jwks_file = {}
audiences = ["{UPSTREAM_AUDIENCE}"]
algorithms = ["RS256"]
condition = "assertion.email_verified == true"
one_time_use = true
default_client = "{WEB}"

[[providers]]
name = "{PARTNER}"
issuer = "{}"
jwks_file = {}
audiences = ["{UPSTREAM_AUDIENCE}"]
algorithms = ["ES256"]
one_time_use = true

[[user_pools]]
id = "{POOL}"
name = "engine tests"

[[user_pools.clients]]
client_id = "{POOL_CLIENT}"
name = "engine tests (public)"
providers = ["{UPSTREAM}"]
"#,
        upstream.issuer,
        path(upstream),
        partner.issuer,
        path(partner),
    );
    Config::from_toml(&text).unwrap_or_else(|e| panic!("engine test configuration: {e}"))
}

/// A TOML basic string of `s`.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// Stores this broker's signing key before the engine opens, as a restart finds it.
async fn preseed_signing_key(store: &dyn Store, now: i64) {
    let kid = "broker-k1".to_string();
    let pkcs8 = broker_key_pkcs8();
    let signer = Signer::from_pkcs8(KeyAlgorithm::RS256, kid.clone(), pkcs8).expect("key");
    store
        .insert_signing_key(&SigningKeyRecord {
            kid: kid.clone(),
            alg: KeyAlgorithm::RS256,
            private_pkcs8: pkcs8.to_vec(),
            public_jwk: serde_json::to_string(&signer.public_jwk()).expect("jwk"),
            created_at: now,
            active: false,
            publish_until: None,
        })
        .await
        .expect("insert signing key");
    store.activate_signing_key(&kid, now).await.expect("activate signing key");
}

impl Broker {
    pub async fn open() -> Self {
        Self::open_with(Setup::default()).await
    }

    /// With the people's local passwords (USER_PASSWORD_AUTH).
    pub async fn with_passwords() -> Self {
        Self::open_with(Setup { passwords: true, ..Default::default() }).await
    }

    pub async fn configured(configure: impl FnOnce(&mut Config) + 'static) -> Self {
        Self::open_with(Setup { configure: Some(Box::new(configure)), ..Default::default() }).await
    }

    pub async fn open_with(setup: Setup) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let upstream = Upstream::rs256(dir.path(), UPSTREAM, UPSTREAM_ISSUER);
        let partner = Upstream::es256(dir.path(), PARTNER, PARTNER_ISSUER);
        let mut cfg = config(&upstream, &partner);
        if let Some(configure) = setup.configure {
            configure(&mut cfg);
        }
        let sqlite = tokenbridge_store::open(&dir.path().join("tokenbridge.db").display().to_string())
            .await
            .expect("SQLite store");
        let store = Arc::new(AuditSwitch::new(sqlite));
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        preseed_signing_key(store.as_ref(), clock.now()).await;
        let engine = Engine::open(cfg, store.clone(), clock.clone(), None).await.expect("engine");
        engine.provision().await.expect("provision");
        for p in PEOPLE {
            let password = p.password.filter(|_| setup.passwords);
            let user = engine
                .directory()
                .create_user(NewUser {
                    username: p.username.into(),
                    email: Some(p.email.into()),
                    email_verified: true,
                    password: password.map(str::to_string),
                    groups: p.groups.iter().map(|g| g.to_string()).collect(),
                    attributes: Default::default(),
                    enabled: true,
                })
                .await
                .expect("create user");
            engine.user_pools().add_pool_member(POOL, &user, password).await.expect("pool member");
            for g in p.groups {
                engine.user_pools().ensure_pool_group(POOL, g).await.expect("pool group");
            }
        }
        Self { engine, clock, store, upstream, partner, _dir: dir }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    // --- token exchange and sessions (the OAuth doors) ---

    /// An RFC 8693 exchange of `token` (an id token) by the web client, as `/oauth2/token` builds it.
    pub fn exchange_request(&self, token: &str) -> ExchangeRequest {
        ExchangeRequest {
            client: web(),
            client_optional: false,
            subject_token: token.into(),
            subject_token_type: SubjectTokenType::IdToken,
            provider: None,
            audience: None,
            scope: None,
            requested_token_type: None,
        }
    }

    /// `/auth/exchange` as its door builds it: the bearer token, no client named.
    pub fn bearer_exchange_request(&self, token: &str) -> ExchangeRequest {
        ExchangeRequest {
            client: ClientCredentials::default(),
            client_optional: true,
            subject_token_type: SubjectTokenType::Unspecified,
            ..self.exchange_request(token)
        }
    }

    pub async fn exchange(&self, req: ExchangeRequest) -> Called<TokenSet> {
        let ctx = request_to(OAUTH2);
        Called { result: self.engine.tokens().exchange(req, &ctx).await, request_id: ctx.request_id }
    }

    /// A fresh upstream id token of `email`, one second later than the last.
    pub fn upstream_token(&self, email: &str) -> String {
        self.clock.advance(1);
        self.upstream.token(email, self.now())
    }

    /// Exchanges a fresh upstream token of `username` by the web client; asserts it answers.
    pub async fn sign_in(&self, username: &str) -> TokenSet {
        let token = self.upstream_token(person(username).email);
        self.exchange(self.exchange_request(&token)).await.ok()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Called<TokenSet> {
        self.refresh_as(&web(), refresh_token).await
    }

    pub async fn refresh_as(&self, client: &ClientCredentials, refresh_token: &str) -> Called<TokenSet> {
        let ctx = request_to(OAUTH2);
        Called { result: self.engine.tokens().refresh(client, refresh_token, &ctx).await, request_id: ctx.request_id }
    }

    pub async fn revoke(&self, client: &ClientCredentials, token: &str) -> Called<()> {
        let ctx = request_to(OAUTH2);
        Called { result: self.engine.tokens().revoke(client, token, &ctx).await, request_id: ctx.request_id }
    }

    pub async fn introspect(&self, token: &str) -> Called<Value> {
        let ctx = request_to(OAUTH2);
        Called { result: self.engine.tokens().introspect(&web(), token, &ctx).await, request_id: ctx.request_id }
    }

    /// Whether introspection by the web client calls `token` active.
    pub async fn active(&self, token: &str) -> bool {
        self.introspect(token).await.ok()["active"] == true
    }

    pub async fn userinfo(&self, access_token: &str) -> Called<Value> {
        let ctx = request_to(OAUTH2);
        Called { result: self.engine.tokens().userinfo(access_token, &ctx).await, request_id: ctx.request_id }
    }

    // --- the user pool (AWS JSON door) ---

    /// An unsigned user-pool action, as browsers make them.
    pub async fn pool(&self, action: &str, body: Value) -> Called<Value> {
        let ctx = request_to(tokenbridge_core::userpool::EVENT_SOURCE);
        Called {
            result: self.engine.user_pools().user_pool_action(action, &body, None, &ctx).await,
            request_id: ctx.request_id,
        }
    }

    /// A user-pool action signed by admin credentials; panics on a refusal.
    pub async fn pool_admin(&self, action: &str, body: Value) -> Value {
        let ctx = request_to(tokenbridge_core::userpool::EVENT_SOURCE);
        let r = self.engine.user_pools().user_pool_action(action, &body, Some(&admin()), &ctx).await;
        Called { result: r, request_id: ctx.request_id }.ok()
    }

    /// USER_PASSWORD_AUTH at the pool's public client.
    pub async fn password_auth(&self, username: &str, password: &str) -> Called<Value> {
        let body = json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": POOL_CLIENT,
            "AuthParameters": { "USERNAME": username, "PASSWORD": password } });
        self.pool("InitiateAuth", body).await
    }

    /// A person's `AuthenticationResult` by USER_PASSWORD_AUTH (a broker [`Self::with_passwords`]).
    pub async fn pool_tokens(&self, username: &str) -> Value {
        let password = person(username).password.expect("a local password");
        let r = self.password_auth(username, password).await.ok();
        r["AuthenticationResult"].clone()
    }

    /// A person's `AuthenticationResult` by CUSTOM_AUTH, answered with a fresh upstream token (no
    /// local password needed).
    pub async fn pool_sign_in(&self, username: &str) -> Value {
        let body =
            json!({ "AuthFlow": "CUSTOM_AUTH", "ClientId": POOL_CLIENT, "AuthParameters": { "USERNAME": username } });
        let challenge = self.pool("InitiateAuth", body).await.ok();
        let answer = self.upstream_token(person(username).email);
        let body = json!({ "ClientId": POOL_CLIENT, "ChallengeName": "CUSTOM_CHALLENGE", "Session": challenge["Session"],
            "ChallengeResponses": { "USERNAME": username, "ANSWER": answer } });
        self.pool("RespondToAuthChallenge", body).await.ok()["AuthenticationResult"].clone()
    }

    // --- identity pools, STS and IAM ---

    /// An unsigned identity-pool action (GetId, GetCredentialsForIdentity, GetOpenIdToken).
    pub async fn identity(&self, action: &str, body: Value) -> Called<Value> {
        let ctx = request_to(tokenbridge_core::identity_pool::EVENT_SOURCE);
        let r = self.engine.identity_pools().identity_pool_action(action, &body, None, &ctx).await;
        Called { result: r, request_id: ctx.request_id }
    }

    /// An identity-pool action signed by admin credentials; panics on a refusal.
    pub async fn identity_admin(&self, action: &str, body: Value) -> Value {
        let ctx = request_to(tokenbridge_core::identity_pool::EVENT_SOURCE);
        let r = self.engine.identity_pools().identity_pool_action(action, &body, Some(&admin()), &ctx).await;
        Called { result: r, request_id: ctx.request_id }.ok()
    }

    /// An unsigned STS action (`AssumeRoleWithWebIdentity` needs no signature).
    pub async fn sts(&self, action: &str, pairs: &[(&str, &str)]) -> Called<Value> {
        self.query(QueryService::Sts, action, "2011-06-15", pairs, None).await
    }

    /// An IAM action signed by admin credentials.
    pub async fn iam(&self, action: &str, pairs: &[(&str, &str)]) -> Called<Value> {
        self.query(QueryService::Iam, action, "2010-05-08", pairs, Some(&admin())).await
    }

    async fn query(
        &self,
        service: QueryService,
        action: &str,
        version: &str,
        pairs: &[(&str, &str)],
        caller: Option<&CallerIdentity>,
    ) -> Called<Value> {
        let mut params: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        params.insert("Action".into(), action.into());
        params.insert("Version".into(), version.into());
        let ctx = request_to(tokenbridge_core::iam::STS_EVENT_SOURCE);
        let r = self.engine.iam().query_action(service, action, &params, caller, &ctx).await;
        Called { result: r, request_id: ctx.request_id }
    }

    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    // --- the audit ---

    /// The audit records filed under a request id.
    pub async fn records(&self, request_id: &str) -> Vec<AuditRecord> {
        let q = AuditQuery { request_id: Some(request_id.into()), ..Default::default() };
        self.store.lookup_audit(&q).await.expect("audit lookup")
    }

    /// The one record of a call.
    pub async fn record<T>(&self, called: &Called<T>) -> AuditRecord {
        let mut records = self.records(&called.request_id).await;
        assert_eq!(records.len(), 1, "one audit record per call: {records:?}");
        records.remove(0)
    }

    /// Asserts the call was refused at `check`, with `needle` in its message or in the failing
    /// check's detail, and that the refusal's audit record names the same failing check.
    /// Returns the refusal.
    pub async fn refused<T: std::fmt::Debug>(&self, called: Called<T>, check: &str, needle: &str) -> Refusal {
        let request_id = called.request_id.clone();
        let e = match called.result {
            Ok(v) => panic!("expected a refusal at {check:?}, got {v:?}"),
            Err(e) => e,
        };
        assert_eq!(failed_check(&e), check, "the failing check of {e:?}");
        assert!(
            message(&e).contains(needle) || failed_detail(&e).contains(needle),
            "neither the message {:?} nor the detail {:?} says {needle:?}",
            message(&e),
            failed_detail(&e)
        );
        let records = self.records(&request_id).await;
        let recorded = records.iter().filter(|r| r.error_code.is_some()).map(recorded_failure).collect::<Vec<_>>();
        assert!(
            recorded.iter().any(|(c, _)| c == check),
            "no audit record of request {request_id} names the failing check {check:?}: {recorded:?}"
        );
        e
    }
}

/// The first failing step of a record's decision trail: (check, detail).
pub fn recorded_failure(rec: &AuditRecord) -> (String, String) {
    let steps = rec.record["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default();
    let fail = steps.iter().find(|s| s["outcome"] == "fail").cloned().unwrap_or_default();
    (fail["check"].as_str().unwrap_or_default().into(), fail["detail"].as_str().unwrap_or_default().into())
}

/// A record's decision trail as `check: outcome: detail` lines.
pub fn trail_lines(rec: &AuditRecord) -> Vec<String> {
    let steps = rec.record["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default();
    steps
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            format!("{}: {}: {}", f("check"), f("outcome"), f("detail"))
        })
        .collect()
}
