//! `tokenbridge demo`: the broker, the built-in demo upstream provider, a demo client and seeded
//! users, all on one listener and one data directory. Seeding is idempotent and the secrets the
//! demo's parts need back are kept in the store, so a second demo process on the same database
//! shares them; the admin token is kept there only as a hash (see [`demo_admin_token`]).
//!
//! The demo's parts are served beside the product's doors (crates/server), never inside them:
//! the upstream provider ([`idp`]), the sample REST API ([`rest_api`]) and the sample GraphQL
//! API ([`graphql`]).

pub mod graphql;
pub mod hosted_ui;
#[cfg(test)]
mod hosted_ui_round_trip;
pub mod idp;
pub mod rest_api;
pub mod saml_key;
pub mod tls;

use crate::hosted_ui::HostedUi;
use crate::idp::{DemoIdp, DemoIdpConfig, DemoSamlConfig, DemoUser};
use crate::tls::DemoCertificate;
use axum::Router;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokenbridge_core::authorizer::rules::{RouteConfig, TokenKind};
use tokenbridge_core::config::{
    AwsCredentialConfig, ClientConfig, Config, LinkTarget, ProviderConfig, ProviderLogin, RateLimits, TlsConfig,
    UserPoolClientConfig, UserPoolConfig,
};
use tokenbridge_core::directory::NewUser;
use tokenbridge_core::engine::ADMIN_TOKEN_SETTING;
use tokenbridge_core::identity_pool::IdentityPoolSpec;
use tokenbridge_core::jose::sha256_hex;
use tokenbridge_core::secrets::{matches_sha256, random_secret, uuid_v4};
use tokenbridge_core::store::StoreError;
use tokenbridge_core::userpool::{new_client_id, IssuerForm, LogCodeSender};
use tokenbridge_core::{Clock, Engine, Store, SystemClock};
use tokenbridge_server::AppState;

pub const DEMO_CLIENT_ID: &str = "demo-web";
/// The console's public OAuth client (no secret: it runs in the browser).
pub const CONSOLE_CLIENT_ID: &str = "tokenbridge-console";
pub const UPSTREAM_NAME: &str = "demo";
pub const UPSTREAM_CLIENT_ID: &str = "tokenbridge-demo";
pub const DEMO_REGION: &str = "ap-northeast-1";
/// The demo's user pool: a fixed id, so every demo run (and every instance) finds the same pool.
pub const DEMO_POOL_ID: &str = "ap-northeast-1_TbDemoPool";
/// The demo's account id in ARNs.
pub const DEMO_ACCOUNT_ID: &str = "123456789012";
/// The GraphQL sample API's id, in its ARN.
pub const DEMO_GRAPHQL_API_ID: &str = crate::graphql::DEMO_API_ID;
/// The API the misconfigured role's policy names instead: the seed's mistake.
pub const OTHER_GRAPHQL_API_ID: &str = "otherapi";
pub const DEMO_ROLE: &str = "demo-authenticated";
pub const MISCONFIGURED_ROLE: &str = "demo-misconfigured";

/// One seeded person, as `demo.json` lists them.
struct Seed {
    username: &'static str,
    email: &'static str,
    upstream_username: &'static str,
    upstream_password: &'static str,
    /// Local password, for users who also sign in directly.
    password: Option<&'static str>,
    /// `linked`, `unlinked` (known only upstream) or `unverified` (upstream email not verified).
    expect: &'static str,
    groups: &'static [&'static str],
}

const SEEDS: &[Seed] = &[
    Seed {
        username: "alice",
        email: "alice@example.com",
        upstream_username: "alice@demo-upstream.example",
        upstream_password: "alice-upstream-pw",
        password: Some("alice-local-pw"),
        expect: "linked",
        groups: &["admins", "readers"],
    },
    Seed {
        username: "bob",
        email: "bob@example.com",
        upstream_username: "bob@demo-upstream.example",
        upstream_password: "bob-upstream-pw",
        password: Some("bob-local-pw"),
        expect: "linked",
        groups: &["readers"],
    },
    Seed {
        username: "erin",
        email: "erin@example.com",
        upstream_username: "erin@demo-upstream.example",
        upstream_password: "erin-upstream-pw",
        password: None,
        expect: "linked",
        groups: &[],
    },
    Seed {
        username: "carol",
        email: "carol@example.com",
        upstream_username: "carol@demo-upstream.example",
        upstream_password: "carol-upstream-pw",
        password: None,
        expect: "unlinked",
        groups: &[],
    },
    Seed {
        username: "dave",
        email: "dave@example.com",
        upstream_username: "dave@demo-upstream.example",
        upstream_password: "dave-upstream-pw",
        password: Some("dave-local-pw"),
        expect: "unverified",
        groups: &[],
    },
];

pub struct Demo {
    pub base_url: String,
    pub data_dir: PathBuf,
    pub engine: Arc<Engine>,
    pub idp: DemoIdp,
    pub app: Router,
    /// The app's rate-limit buckets, for the housekeeping that drops idle ones.
    pub limits: Arc<tokenbridge_server::ratelimit::Limits>,
    /// What `demo.json` holds.
    pub info: Value,
    /// The admin token, printed at start; `None` when another instance on the same store made
    /// it (its demo.json holds it).
    pub admin_token: Option<String>,
}

async fn shared_secret(store: &Arc<dyn Store>, key: &str) -> anyhow::Result<String> {
    Ok(store.put_setting_if_absent(key, &random_secret()).await?)
}

/// The demo client's scopes (the console's client has the same).
const DEMO_SCOPES: [&str; 5] = ["openid", "email", "profile", "orders:read", "orders:write"];

/// The demo's configuration for a broker reachable at `base_url`.
pub fn demo_config(base_url: &str, client_secret: &str, admin_token: &str, algorithm: &str) -> Config {
    let mut cfg = Config::default();
    cfg.server.public_url = Some(base_url.to_string());
    cfg.issuer.algorithm = algorithm.to_string();
    cfg.admin.token = Some(admin_token.to_string());
    // A local load test must not be throttled.
    cfg.rate_limits = RateLimits { per_ip_per_second: 1_000_000, per_client_per_second: 1_000_000, burst: 1_000_000 };
    cfg.clients.push(demo_client(
        DEMO_CLIENT_ID,
        "Demo web app",
        Some(client_secret),
        vec![base_url.to_string(), "http://localhost:3000".into()],
    ));
    cfg.providers.push(ProviderConfig {
        name: UPSTREAM_NAME.into(),
        issuer: format!("{base_url}/demo-idp"),
        issuer_aliases: Vec::new(),
        discovery: true,
        jwks_uri: None,
        jwks_file: None,
        ca_file: None,
        userinfo_endpoint: None,
        introspection_endpoint: None,
        introspection_client_id: None,
        introspection_client_secret: None,
        audiences: vec![UPSTREAM_CLIENT_ID.into()],
        algorithms: vec!["RS256".into()],
        leeway_seconds: 60,
        link_claim: "email".into(),
        link_to: LinkTarget::Email,
        condition: Some("assertion.email_verified == true".into()),
        mappings: Default::default(),
        max_token_age_seconds: None,
        one_time_use: true,
        opaque_token_ttl_seconds: 3600,
        jit: false,
        default_client: Some(DEMO_CLIENT_ID.into()),
        timeout_ms: 3000,
        login: None,
        opaque_checks: Default::default(),
    });
    cfg.authorizer.routes = demo_routes();
    cfg
}

/// A demo OAuth client exchanging the demo upstream's tokens: public without a secret.
fn demo_client(client_id: &str, name: &str, secret: Option<&str>, allowed_origins: Vec<String>) -> ClientConfig {
    ClientConfig {
        client_id: client_id.into(),
        name: name.into(),
        secret: secret.map(str::to_string),
        secret_sha256: None,
        grant_types: vec!["token_exchange".into(), "refresh_token".into()],
        providers: vec![UPSTREAM_NAME.into()],
        scopes: DEMO_SCOPES.map(String::from).to_vec(),
        access_token_ttl: 3600,
        id_token_ttl: 3600,
        refresh_token_ttl: 30 * 24 * 3600,
        allowed_origins,
    }
}

/// The sample API's routes: who may call what.
fn demo_routes() -> Vec<RouteConfig> {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        RouteConfig {
            name: Some("demo hello".into()),
            path: "/demo/api/hello".into(),
            methods: strings(&["GET"]),
            ..Default::default()
        },
        RouteConfig {
            name: Some("demo place order".into()),
            path: "/demo/api/orders".into(),
            methods: strings(&["POST"]),
            scopes: strings(&["orders:write"]),
            groups: strings(&["admins"]),
            ..Default::default()
        },
        RouteConfig {
            name: Some("demo list orders".into()),
            path: "/demo/api/orders".into(),
            methods: strings(&["GET"]),
            scopes: strings(&["orders:read"]),
            ..Default::default()
        },
        // The exchange endpoint as the first seed fronts it: an authorizer that checks the upstream token.
        RouteConfig {
            name: Some("exchange (upstream token)".into()),
            path: "/auth/exchange".into(),
            methods: strings(&["POST"]),
            token: TokenKind::Upstream,
            providers: strings(&[UPSTREAM_NAME]),
            ..Default::default()
        },
        RouteConfig {
            name: Some("health".into()),
            path: "/healthz".into(),
            token: TokenKind::None,
            ..Default::default()
        },
    ]
}

/// Builds the demo around an already-bound address; the caller serves `app` (over TLS with
/// `tls`'s certificate when given: `base_url` is then https). Uses the system clock; tests that
/// move time call [`prepare_with_clock`].
#[tokenbridge_core::entry_point]
pub async fn prepare(
    base_url: &str,
    data_dir: &Path,
    store: Arc<dyn Store>,
    algorithm: &str,
    tls: Option<&DemoCertificate>,
) -> anyhow::Result<Demo> {
    prepare_with(base_url, data_dir, store, algorithm, Arc::new(SystemClock), tls).await
}

/// [`prepare`] on plain HTTP with the given clock.
#[tokenbridge_core::entry_point]
pub async fn prepare_with_clock(
    base_url: &str,
    data_dir: &Path,
    store: Arc<dyn Store>,
    algorithm: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Demo> {
    prepare_with(base_url, data_dir, store, algorithm, clock, None).await
}

/// [`prepare`] with the given clock.
#[tokenbridge_core::entry_point]
pub async fn prepare_with(
    base_url: &str,
    data_dir: &Path,
    store: Arc<dyn Store>,
    algorithm: &str,
    clock: Arc<dyn Clock>,
    tls: Option<&DemoCertificate>,
) -> anyhow::Result<Demo> {
    let client_secret = shared_secret(&store, "demo.client_secret").await?;
    let upstream_secret = shared_secret(&store, "demo.upstream_client_secret").await?;
    let admin_token = demo_admin_token(&store, data_dir).await?;
    let metrics_token = shared_secret(&store, "demo.metrics_token").await?;

    let pool = DemoPool {
        client_id: shared_value(&store, "demo.pool_client_id", new_client_id).await?,
        secret_client_id: shared_value(&store, "demo.pool_secret_client_id", new_client_id).await?,
        secret_client_secret: shared_secret(&store, "demo.pool_client_secret").await?,
        access_key_id: shared_value(&store, "demo.aws_access_key_id", || {
            format!("AKIA{}", new_client_id()[..16].to_uppercase())
        })
        .await?,
        secret_access_key: shared_secret(&store, "demo.aws_secret_access_key").await?,
    };

    let identity_pools = IdentityPoolIds::shared(&store).await?;

    let hosted_ui = HostedUi::prepare(&store, data_dir).await?;
    // The SAML IdP answers this server's own ACS (tokenbridge's /saml2/idpresponse). Opened
    // before the engine: the demo pool's SAML provider is made from its metadata, and its OIDC
    // provider is a client registered here.
    let saml_key = saml_key::ensure_shared(data_dir, store.as_ref(), clock.now()).await?;
    let saml = DemoSamlConfig {
        key: saml_key.key,
        certificate: saml_key.certificate,
        sp_base_urls: vec![base_url.to_string()],
        sp_certificates: Vec::new(),
    };
    let idp = DemoIdp::open_with_saml(
        DemoIdpConfig {
            issuer: format!("{base_url}/demo-idp"),
            client_id: UPSTREAM_CLIENT_ID.into(),
            client_secret: upstream_secret.clone(),
            redirect_uris: console_redirect_uris(base_url),
            users: SEEDS
                .iter()
                .map(|s| DemoUser {
                    username: s.upstream_username.into(),
                    password: s.upstream_password.into(),
                    email: s.email.into(),
                    email_verified: s.expect != "unverified",
                    name: capitalize(s.username),
                    organization_id: "00D000000000DEMO".into(),
                })
                .collect(),
            other_clients: vec![hosted_ui.demo_idp_client(base_url)],
            id_token_ttl: 3600,
            access_token_ttl: 3600,
        },
        Some(saml),
        store.clone(),
        clock.clone(),
    )
    .await?;

    hosted_ui.write_metadata(data_dir, &idp)?;

    let mut config = demo_config(base_url, &client_secret, admin_token.as_deref().unwrap_or_default(), algorithm);
    config.admin.token = admin_token.clone();
    demo_user_pool(&mut config, &pool);
    hosted_ui.configure(&mut config.user_pools[0], base_url, &idp);
    demo_console(&mut config, base_url, &upstream_secret, &pool, &identity_pools);
    config.console.hosted_ui_client_id = Some(hosted_ui.client_id().to_string());
    config.apply_authorizer_env();
    config.apply_aws_env();
    config.apply_proxy_env();
    config.metrics.token = Some(metrics_token.clone());
    if let Some(cert) = tls {
        config.server.tls = Some(TlsConfig { cert_file: cert.cert_file.clone(), key_file: cert.key_file.clone() });
        // The demo upstream is served on this listener: calls to it must trust its certificate.
        for p in config.providers.iter_mut().filter(|p| p.name == UPSTREAM_NAME) {
            p.ca_file = Some(cert.cert_file.clone());
        }
    }
    let engine = Engine::open(config, store.clone(), clock.clone(), None).await?;
    engine.provision().await?;
    engine.ensure_admin_token().await?;
    seed_users(&engine).await?;
    // Collected first: a lazy iterator of closures held across an await is not `Send` in general.
    let linked = || SEEDS.iter().filter(|s| s.expect == "linked");
    let name_ids: Vec<_> = linked().map(|s| (s.username, s.upstream_username.to_string())).collect();
    HostedUi::link_users(&engine, DEMO_POOL_ID, hosted_ui::SAML_PROVIDER, name_ids).await?;
    let subjects: Vec<_> = linked().filter_map(|s| Some((s.username, idp.subject_of(s.upstream_username)?))).collect();
    HostedUi::link_users(&engine, DEMO_POOL_ID, hosted_ui::OIDC_PROVIDER, subjects).await?;
    let identity = demo_roles(&engine, base_url, identity_pools, &pool.client_id).await?;
    engine.user_pools().set_code_sender(Arc::new(LogCodeSender { file: Some(data_dir.join("codes.jsonl")) }));

    let mut state = AppState::new(engine.clone()).await?;
    state.sample_apis = Some(Arc::new(sample_apis()));
    state.origins.spawn_refresh(&engine, std::time::Duration::from_secs(15));
    let extra = Router::new()
        .nest("/demo-idp", idp.router())
        .merge(rest_api::routes(state.clone()))
        .merge(graphql::routes(state.clone()));
    let limits = state.limits.clone();
    let app = tokenbridge_server::router(state, Some(extra));

    let mut info = json!({
        "base_url": base_url,
        "admin_token": admin_token,
        "metrics_token": metrics_token,
        "client": { "client_id": DEMO_CLIENT_ID, "client_secret": client_secret },
        "console": {
            "url": format!("{base_url}/console?client_id={}", pool.client_id),
            "oauth_client_id": CONSOLE_CLIENT_ID,
        },
        "upstream": {
            "name": UPSTREAM_NAME,
            "issuer": format!("{base_url}/demo-idp"),
            "token_endpoint": format!("{base_url}/demo-idp/token"),
            "authorization_endpoint": format!("{base_url}/demo-idp/authorize"),
            "client_id": UPSTREAM_CLIENT_ID,
            "client_secret": upstream_secret,
        },
        "cognito": {
            "region": DEMO_REGION,
            "endpoint": base_url,
            "user_pool_id": DEMO_POOL_ID,
            "client_id": pool.client_id,
            "secret_client_id": pool.secret_client_id,
            "secret_client_secret": pool.secret_client_secret,
            "admin_access_key_id": pool.access_key_id,
            "admin_secret_access_key": pool.secret_access_key,
            "issuer": format!("{base_url}/{DEMO_POOL_ID}"),
            "session_seconds": engine.config().aws.session_seconds.unwrap_or(180),
            "providers": [UPSTREAM_NAME],
        },
        "identity": {
            "region": DEMO_REGION,
            "account_id": DEMO_ACCOUNT_ID,
            "identity_pool_id": identity.identity_pool_id,
            "misconfigured_identity_pool_id": identity.misconfigured_identity_pool_id,
            "graphql_url": format!("{base_url}/demo/graphql"),
            "graphql_api_arn": identity.api_arn,
            "role_arn": identity.role_arn,
            "misconfigured_role_arn": identity.misconfigured_role_arn,
        },
        "users": SEEDS.iter().map(|s| json!({
            "username": s.username,
            "email": s.email,
            "upstream_username": s.upstream_username,
            "upstream_password": s.upstream_password,
            "password": s.password,
            "expect": s.expect,
        })).collect::<Vec<_>>(),
    });
    info["hosted_ui"] = hosted_ui.info(base_url, DEMO_POOL_ID, &idp);
    if let Some((urls, certificate)) = idp.saml() {
        info["saml_idp"] = json!({
            "entity_id": urls.entity_id,
            "metadata_url": urls.metadata_url,
            "sso_url": urls.sso_url,
            "idp_init_url": urls.idp_init_url,
            "certificate_fingerprint": certificate.fingerprint(),
        });
    }
    if let Some(cert) = tls {
        info["tls"] = json!({
            "cert_file": cert.cert_file,
            "key_file": cert.key_file,
            "sha256_fingerprint": cert.fingerprint,
        });
    }
    tokenbridge_store::private_dir(data_dir)?;
    write_private(&data_dir.join(DEMO_JSON), &serde_json::to_string_pretty(&info)?)?;
    Ok(Demo { base_url: base_url.into(), data_dir: data_dir.into(), engine, idp, app, limits, info, admin_token })
}

/// The file in the data directory holding every secret a script needs (the admin token too).
const DEMO_JSON: &str = "demo.json";

/// Where demos before this version kept the admin token in plain text in the store.
const LEGACY_ADMIN_TOKEN: &str = "demo.admin_token";

/// The demo's admin token. The store keeps only its hash, as any deployment's; the token itself
/// is in this data directory's demo.json (0600), where scripts read it. It is, in order:
/// `TOKENBRIDGE_ADMIN_TOKEN` when set (so several instances on one store can share one); the
/// token demo.json holds, or an older demo kept in the store (erased from there now), while it is
/// still the store's admin token; a new one when the store has none. When the store has another
/// (another instance on the same store made it; its demo.json holds it), this one is `None`.
async fn demo_admin_token(store: &Arc<dyn Store>, data_dir: &Path) -> anyhow::Result<Option<String>> {
    if let Some(t) = std::env::var("TOKENBRIDGE_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()) {
        return Ok(Some(t));
    }
    let legacy = store.get_setting(LEGACY_ADMIN_TOKEN).await?.filter(|t| !t.is_empty());
    if legacy.is_some() {
        store.put_setting(LEGACY_ADMIN_TOKEN, "").await?;
    }
    let written = std::fs::read_to_string(data_dir.join(DEMO_JSON))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|info| info["admin_token"].as_str().map(str::to_string));
    if let Some(hash) = store.get_setting(ADMIN_TOKEN_SETTING).await? {
        if let Some(t) = [written, legacy].into_iter().flatten().find(|t| matches_sha256(t, &hash)) {
            return Ok(Some(t));
        }
    }
    let fresh = random_secret();
    let hash = sha256_hex(fresh.as_bytes());
    Ok((store.put_setting_if_absent(ADMIN_TOKEN_SETTING, &hash).await? == hash).then_some(fresh))
}

/// demo.json holds secrets: readable by its owner only, from the moment it exists (an existing
/// file is made private before anything is written to it).
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.set_len(0)?;
    file.write_all(text.as_bytes())
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The demo pool's app clients and admin credentials (kept in the store, like every demo secret).
struct DemoPool {
    client_id: String,
    secret_client_id: String,
    secret_client_secret: String,
    access_key_id: String,
    secret_access_key: String,
}

async fn shared_value(store: &Arc<dyn Store>, key: &str, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    Ok(store.put_setting_if_absent(key, &make()).await?)
}

/// One pool holding the demo users; a public client allowing every flow (CUSTOM_AUTH with the
/// demo upstream) and a confidential one (SECRET_HASH); admin credentials for SigV4.
fn demo_user_pool(cfg: &mut Config, pool: &DemoPool) {
    cfg.aws.region = DEMO_REGION.into();
    cfg.aws.account_id = DEMO_ACCOUNT_ID.into();
    cfg.aws.admin_credentials.push(AwsCredentialConfig {
        access_key_id: pool.access_key_id.clone(),
        secret_access_key: pool.secret_access_key.clone(),
    });
    cfg.user_pools.push(UserPoolConfig {
        id: DEMO_POOL_ID.into(),
        name: "tokenbridge demo".into(),
        issuer: IssuerForm::Local,
        clients: vec![
            UserPoolClientConfig {
                client_id: pool.client_id.clone(),
                name: "demo web (public)".into(),
                secret: None,
                providers: vec![UPSTREAM_NAME.into()],
                callback_urls: Vec::new(),
                logout_urls: Vec::new(),
                allowed_oauth_flows: Vec::new(),
                allowed_oauth_scopes: Vec::new(),
            },
            UserPoolClientConfig {
                client_id: pool.secret_client_id.clone(),
                name: "demo server (confidential)".into(),
                secret: Some(pool.secret_client_secret.clone()),
                providers: vec![UPSTREAM_NAME.into()],
                callback_urls: Vec::new(),
                logout_urls: Vec::new(),
                allowed_oauth_flows: Vec::new(),
                allowed_oauth_scopes: Vec::new(),
            },
        ],
        domain: None,
        identity_providers: Vec::new(),
        resource_servers: Vec::new(),
    });
}

/// The web console: the demo upstream signs users in by the authorization-code flow (this
/// server holds the upstream secret), a public OAuth client for the page, and the page's
/// settings (the demo pool, both identity pools, explanations for the caller; the sample APIs are
/// listed by [`sample_apis`]).
fn demo_console(cfg: &mut Config, base_url: &str, upstream_secret: &str, pool: &DemoPool, ids: &IdentityPoolIds) {
    if let Some(p) = cfg.providers.iter_mut().find(|p| p.name == UPSTREAM_NAME) {
        p.login = Some(ProviderLogin {
            authorization_endpoint: format!("{base_url}/demo-idp/authorize"),
            token_endpoint: format!("{base_url}/demo-idp/token"),
            client_id: UPSTREAM_CLIENT_ID.into(),
            client_secret: Some(upstream_secret.to_string()),
            scope: "openid email profile".into(),
        });
    }
    cfg.clients.push(demo_client(CONSOLE_CLIENT_ID, "tokenbridge console (browser)", None, vec![base_url.to_string()]));
    let c = &mut cfg.console;
    c.oauth_client_id = Some(CONSOLE_CLIENT_ID.into());
    c.user_pool_id = Some(DEMO_POOL_ID.into());
    c.user_pool_client_id = Some(pool.client_id.clone());
    c.identity_pool_ids = vec![ids.normal.clone(), ids.misconfigured.clone()];
    c.explain_to_caller = true;
}

/// What the console's `config.json` lists as the sample APIs to call (its `demo`).
fn sample_apis() -> Value {
    json!({
        "rest": rest_api::ENDPOINTS,
        "graphql_endpoint": graphql::GRAPHQL_PATH,
        "graphql_api_id": graphql::DEMO_API_ID,
    })
}

/// Where the demo provider may send a browser back, spelled exactly: the console's callback, and
/// the server's root for the README's by-hand authorization-code flow.
fn console_redirect_uris(base_url: &str) -> Vec<String> {
    vec![format!("{base_url}/console/callback"), format!("{base_url}/")]
}

/// The ids of the demo's two identity pools, kept in the store so every instance agrees.
struct IdentityPoolIds {
    normal: String,
    misconfigured: String,
}

impl IdentityPoolIds {
    async fn shared(store: &Arc<dyn Store>) -> anyhow::Result<Self> {
        let new = || format!("{DEMO_REGION}:{}", uuid_v4());
        Ok(Self {
            normal: shared_value(store, "demo.identity_pool_id", new).await?,
            misconfigured: shared_value(store, "demo.misconfigured_identity_pool_id", new).await?,
        })
    }
}

/// What the demo's identity side is made of (written to demo.json as `identity`).
struct DemoIdentity {
    identity_pool_id: String,
    misconfigured_identity_pool_id: String,
    api_arn: String,
    role_arn: String,
    misconfigured_role_arn: String,
}

/// Two roles for the GraphQL sample API: one that allows it, and one with the seed's mistake
/// (`appsync:GraphQL` on another API's ARN). Both trust their identity pool; the correct one also
/// trusts the demo user pool's id tokens through STS directly. The correct pool also takes this
/// issuer's own id tokens (from `/auth/exchange`), so a console user signed in by token exchange
/// gets credentials too.
async fn demo_roles(
    engine: &Engine,
    base_url: &str,
    ids: IdentityPoolIds,
    pool_client_id: &str,
) -> anyhow::Result<DemoIdentity> {
    let region = DEMO_REGION;
    let IdentityPoolIds { normal: pool_id, misconfigured: wrong_pool_id } = ids;
    let api_arn = |api: &str| format!("arn:aws:appsync:{region}:{DEMO_ACCOUNT_ID}:apis/{api}");
    let own_provider = base_url.split_once("://").map(|(_, r)| r).unwrap_or(base_url);
    let user_pool_provider = format!("{own_provider}/{DEMO_POOL_ID}");
    let identity_pool_trust = |aud: &str| {
        json!({
            "Sid": "IdentityPool",
            "Effect": "Allow",
            "Principal": { "Federated": "cognito-identity.amazonaws.com" },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { "cognito-identity.amazonaws.com:aud": aud },
                "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": "authenticated" }
            }
        })
    };
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [
            identity_pool_trust(&pool_id),
            {
                "Sid": "UserPoolTokens",
                "Effect": "Allow",
                "Principal": { "Federated": format!("arn:aws:iam::{DEMO_ACCOUNT_ID}:oidc-provider/{user_pool_provider}") },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": { "StringEquals": { format!("{user_pool_provider}:aud"): pool_client_id } }
            }
        ]
    });
    let allow_graphql = |api: &str| {
        json!({
            "Version": "2012-10-17",
            "Statement": [{ "Sid": "AllowGraphQL", "Effect": "Allow", "Action": "appsync:GraphQL", "Resource": format!("{}/*", api_arn(api)) }]
        })
        .to_string()
    };
    let role = engine
        .iam()
        .put_role(DEMO_ROLE, &trust.to_string(), &[("AllowGraphQL".into(), allow_graphql(DEMO_GRAPHQL_API_ID))])
        .await?;
    let wrong_trust = json!({ "Version": "2012-10-17", "Statement": [identity_pool_trust(&wrong_pool_id)] });
    let wrong = engine
        .iam()
        .put_role(
            MISCONFIGURED_ROLE,
            &wrong_trust.to_string(),
            &[("AllowGraphQL".into(), allow_graphql(OTHER_GRAPHQL_API_ID))],
        )
        .await?;
    // The demo identity pool takes this issuer's id tokens of the demo's and the console's
    // clients: its IAM OIDC provider lists them (as on AWS, any other client's are refused).
    let own_issuer = vec![
        engine.iam().put_oidc_provider(base_url, &[DEMO_CLIENT_ID.to_string(), CONSOLE_CLIENT_ID.to_string()]).await?,
    ];
    for (id, name, role_arn, oidc) in [
        (&pool_id, "demo identity pool", role.arn(DEMO_ACCOUNT_ID), own_issuer),
        (&wrong_pool_id, "demo identity pool, misconfigured role", wrong.arn(DEMO_ACCOUNT_ID), Vec::new()),
    ] {
        engine
            .identity_pools()
            .ensure_identity_pool(&IdentityPoolSpec {
                identity_pool_id: Some(id.clone()),
                name: name.into(),
                allow_unauthenticated: false,
                user_pools: vec![(DEMO_POOL_ID.into(), pool_client_id.into())],
                open_id_connect_provider_arns: oidc,
                authenticated_role_arn: Some(role_arn),
                unauthenticated_role_arn: None,
                role_mappings: Default::default(),
            })
            .await?;
    }
    Ok(DemoIdentity {
        identity_pool_id: pool_id,
        misconfigured_identity_pool_id: wrong_pool_id,
        api_arn: api_arn(DEMO_GRAPHQL_API_ID),
        role_arn: role.arn(DEMO_ACCOUNT_ID),
        misconfigured_role_arn: wrong.arn(DEMO_ACCOUNT_ID),
    })
}

async fn seed_users(engine: &Engine) -> anyhow::Result<()> {
    for s in SEEDS.iter().filter(|s| s.expect != "unlinked") {
        let new = NewUser {
            username: s.username.into(),
            email: Some(s.email.into()),
            email_verified: true,
            password: s.password.map(str::to_string),
            groups: s.groups.iter().map(|g| g.to_string()).collect(),
            attributes: Default::default(),
            enabled: true,
        };
        let user = match engine.directory().create_user(new).await {
            Ok(u) => u,
            Err(tokenbridge_core::directory::DirectoryError::Store(StoreError::Conflict(_))) => {
                engine.directory().find(s.username).await?
            }
            Err(e) => return Err(e.into()),
        };
        engine.user_pools().add_pool_member(DEMO_POOL_ID, &user, s.password).await?;
        for g in s.groups {
            engine.user_pools().ensure_pool_group(DEMO_POOL_ID, g).await?;
        }
    }
    Ok(())
}
