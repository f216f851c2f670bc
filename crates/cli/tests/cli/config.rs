//! The example configuration loads, validates and boots; bad configurations stop `serve` with an
//! error naming the key and the reason.

use crate::common::*;
use std::path::{Path, PathBuf};
use tokenbridge_core::config::{Config, LinkTarget};
use tokenbridge_core::Engine;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tokenbridge.toml")
}

fn example_text() -> String {
    std::fs::read_to_string(example_path()).expect("examples/tokenbridge.toml")
}

#[test]
fn example_config_loads_and_validates() {
    let cfg = Config::load(&example_path()).unwrap_or_else(|e| panic!("examples/tokenbridge.toml: {e}"));
    Engine::validate_config(&cfg).unwrap_or_else(|e| panic!("examples/tokenbridge.toml: {e}"));

    assert_eq!(cfg.issuer.algorithm, "RS256");
    assert_eq!(cfg.storage.data_dir.as_deref(), Some(Path::new("/var/lib/tokenbridge")));
    assert!(cfg.rate_limits.per_ip_per_second > 0 && cfg.rate_limits.burst > 0);

    let [sf, google] = &cfg.providers[..] else { panic!("two providers expected") };
    assert_eq!((sf.name.as_str(), sf.issuer.as_str()), ("salesforce", "https://login.salesforce.com"));
    assert!(sf.discovery && sf.one_time_use);
    assert_eq!(sf.link_to, LinkTarget::Email);
    assert_eq!(
        sf.condition.as_deref(),
        Some(r#"assertion.email_verified == true && assertion.organization_id == "00D5g000000XXXX""#)
    );
    assert_eq!(sf.default_client.as_deref(), Some("web-portal"));
    assert_eq!(sf.audiences.len(), 1);
    assert_eq!((google.name.as_str(), google.issuer.as_str()), ("google", "https://accounts.google.com"));
    assert!(google.discovery);

    let names: Vec<_> = cfg.authorizer.routes.iter().filter_map(|r| r.name.as_deref()).collect();
    assert_eq!(names, ["read orders", "place orders", "exchange", "health"]);
    assert_eq!(cfg.authorizer.routes[2].providers, ["google", "salesforce"]);

    assert_eq!(cfg.aws.region, "ap-northeast-1");
    assert_eq!(cfg.aws.admin_credentials.len(), 1);
    let [pool] = &cfg.user_pools[..] else { panic!("one user pool expected") };
    assert_eq!(pool.id, "ap-northeast-1_Portal");
    assert_eq!(pool.clients[0].providers, ["google"]);

    let [browser, backend] = &cfg.clients[..] else { panic!("two clients expected") };
    assert!(browser.secret.is_none() && browser.secret_sha256.is_none(), "the browser client is public");
    assert!(!browser.allowed_origins.is_empty());
    assert!(backend.secret_sha256.as_ref().is_some_and(|h| h.len() == 64), "the server client is confidential");
    assert!(backend.allowed_origins.is_empty());
}

/// The example starts as it is (discovery is lazy, so no network is needed) with only the data
/// directory and address overridden, and serves its own issuer.
#[tokio::test]
async fn example_config_boots() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start_serve(
        &example_path(),
        &format!("http://127.0.0.1:{port}"),
        &["--data-dir", tmp.path().to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")],
    )
    .await;
    let doc: serde_json::Value = http()
        .get(format!("{}/.well-known/openid-configuration", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], "https://auth.example.com");
    assert!(tmp.path().join("tokenbridge.db").exists());
    // The configured user pool exists, with its own issuer.
    let pool: serde_json::Value = http()
        .get(format!("{}/ap-northeast-1_Portal/.well-known/openid-configuration", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pool["issuer"], "https://auth.example.com/ap-northeast-1_Portal");
    // So does the configured role, with its policy (read without the configuration, so this is
    // what the server made).
    let mut c = tb();
    c.arg("--data-dir").arg(tmp.path()).args(["roles", "show", "portal-app"]);
    let role: serde_json::Value = serde_json::from_str(&ok(c, None)).unwrap();
    assert_eq!(role["RoleName"], "portal-app");
    assert_eq!(role["AssumeRolePolicyDocument"]["Statement"][0]["Sid"], "PortalWebUsers", "{role}");
    assert_eq!(role["RolePolicyList"][0]["PolicyName"], "AllowGraphQL", "{role}");
    assert_eq!(role["RolePolicyList"][0]["PolicyDocument"]["Statement"][0]["Action"], "appsync:GraphQL", "{role}");
}

#[test]
fn bad_user_pool_settings_are_named() {
    let text = example_text();
    let bad = replace_once(&text, "id = \"ap-northeast-1_Portal\"", "id = \"Portal\"");
    serve_rejects(&bad, &["error: user_pools[0].id: ", "<region>_<letters and digits>"]);
    let bad = replace_once(&text, "providers = [\"google\"]\n", "providers = [\"okta\"]\n");
    serve_rejects(&bad, &["error: user_pools[0].clients[0].providers: ", "no provider named \"okta\""]);
    let bad = replace_once(&text, "account_id = \"123456789012\"", "account_id = \"12\"");
    serve_rejects(&bad, &["error: aws.account_id: must be 12 digits"]);
}

/// `serve --config` on a variant of the example: exits 1 before doing anything, and stderr names
/// the key and the reason.
#[track_caller]
fn serve_rejects(text: &str, expected: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let mut c = tb();
    c.arg("serve").arg("--config").arg(&path);
    let err = fails(c, None);
    for e in expected {
        assert!(err.contains(e), "stderr should contain {e:?}:\n{err}");
    }
}

#[track_caller]
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} should occur once in the example");
    text.replacen(from, to, 1)
}

#[test]
fn bad_cel_condition_names_the_provider_condition() {
    let bad = replace_once(
        &example_text(),
        r#"condition = 'assertion.email_verified == true && assertion.organization_id == "00D5g000000XXXX"'"#,
        r#"condition = 'assertion.email_verified == true &&'"#,
    );
    serve_rejects(&bad, &["error: providers[0].condition: ", "not a valid CEL expression"]);
    // A variable other than `assertion`.
    let bad = replace_once(
        &example_text(),
        "condition = 'assertion.email_verified == true'\n",
        "condition = 'claims.email_verified == true'\n",
    );
    serve_rejects(&bad, &["error: providers[1].condition: ", "unknown variable", "claims"]);
}

#[test]
fn typod_keys_are_named() {
    // In a provider, with the line it is on.
    let text = example_text();
    let bad = replace_once(&text, "leeway_seconds = 60", "leway_seconds = 60");
    serve_rejects(&bad, &["unknown field `leway_seconds`", "(line "]);
    // At the top of a table.
    let bad = replace_once(&text, "listen = \"127.0.0.1:8080\"", "lisen = \"127.0.0.1:8080\"");
    serve_rejects(&bad, &["unknown field `lisen`", "expected one of"]);
    // A whole table.
    let bad = replace_once(&text, "[rate_limits]", "[rate_limit]");
    serve_rejects(&bad, &["unknown field `rate_limit`"]);
}

/// The line given for a misspelt key is the key's own line.
#[test]
fn typod_key_line_number_is_exact() {
    let bad = replace_once(&example_text(), "leeway_seconds = 60", "leway_seconds = 60");
    let line = bad.lines().position(|l| l.starts_with("leway_seconds")).unwrap() + 1;
    serve_rejects(&bad, &["unknown field `leway_seconds`", &format!("(line {line})")]);
}

#[test]
fn plain_http_upstream_urls_are_refused_unless_loopback() {
    let text = example_text();
    let bad = replace_once(
        &text,
        "issuer = \"https://accounts.google.com\"\n",
        "issuer = \"https://accounts.google.com\"\njwks_uri = \"http://10.0.0.1/oauth2/v3/certs\"\n",
    );
    serve_rejects(&bad, &["error: providers[1].jwks_uri: ", "must be https://"]);
    let bad = replace_once(
        &text,
        "issuer = \"https://login.salesforce.com\"",
        "issuer = \"https://login.salesforce.com\"\nuserinfo_endpoint = \"http://login.salesforce.com/services/oauth2/userinfo\"",
    );
    serve_rejects(&bad, &["error: providers[0].userinfo_endpoint: ", "must be https://"]);
    // A discovered issuer must be HTTPS too.
    let bad =
        replace_once(&text, "issuer = \"https://accounts.google.com\"", "issuer = \"http://accounts.google.com\"");
    serve_rejects(&bad, &["error: providers[1].issuer: ", "must be https://"]);
    // Loopback is fine (a local test provider).
    let ok_text = replace_once(
        &text,
        "issuer = \"https://accounts.google.com\"\n",
        "issuer = \"https://accounts.google.com\"\njwks_uri = \"http://127.0.0.1:9999/jwks\"\n",
    );
    Engine::validate_config(&Config::from_toml(&ok_text).unwrap()).unwrap();
}

#[test]
fn other_semantic_errors_name_the_key() {
    let text = example_text();
    serve_rejects(
        &replace_once(&text, "default_client = \"web-portal\"\n# Timeout", "default_client = \"nope\"\n# Timeout"),
        &["error: providers[0].default_client: ", "no client named \"nope\""],
    );
    serve_rejects(
        &replace_once(&text, "providers = [\"salesforce\", \"google\"]", "providers = [\"salesforce\", \"gogle\"]"),
        &["error: clients[0].providers: ", "no provider named \"gogle\""],
    );
    serve_rejects(
        &replace_once(&text, "algorithm = \"RS256\"", "algorithm = \"HS256\""),
        &["error: issuer.algorithm: ", "\"HS256\""],
    );
    serve_rejects(
        &replace_once(&text, "grant_types = [\"token_exchange\"]\n", "grant_types = [\"client_credentials\"]\n"),
        &["error: clients[1].grant_types: ", "client_credentials"],
    );
    serve_rejects(
        &replace_once(&text, "listen = \"127.0.0.1:8080\"", "listen = \"localhost\""),
        &["error: server.listen: "],
    );
}

#[test]
fn unreadable_config_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.toml");
    let mut c = tb();
    c.arg("serve").arg("--config").arg(&missing);
    let err = fails(c, None);
    assert!(err.contains("--config") && err.contains("nope.toml"), "{err}");
    // The same through TOKENBRIDGE_CONFIG.
    let mut c = tb();
    c.env("TOKENBRIDGE_CONFIG", &missing).args(["users", "list"]);
    let err = fails(c, None);
    assert!(err.contains("nope.toml"), "{err}");
}

/// The example's role: its trust policy admits the Portal pool's web client, its one inline
/// policy allows the GraphQL API; both documents parse as the IAM API would check them.
#[test]
fn example_role_loads() {
    use tokenbridge_core::policy::{Policy, PolicyKind};
    let cfg = Config::load(&example_path()).unwrap();
    Engine::validate_config(&cfg).unwrap();
    let [role] = &cfg.roles[..] else { panic!("one role expected") };
    assert_eq!(role.name, "portal-app");
    let trust: serde_json::Value = serde_json::from_str(&role.trust_policy).unwrap();
    let statement = &trust["Statement"][0];
    assert_eq!(
        statement["Principal"]["Federated"],
        "arn:aws:iam::123456789012:oidc-provider/auth.example.com/ap-northeast-1_Portal"
    );
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(
        statement["Condition"]["StringEquals"]["auth.example.com/ap-northeast-1_Portal:aud"],
        cfg.user_pools[0].clients[0].client_id.as_str()
    );
    Policy::parse(&role.trust_policy, PolicyKind::Trust).unwrap();
    assert_eq!(role.policies.keys().collect::<Vec<_>>(), ["AllowGraphQL"]);
    let policy = Policy::parse(&role.policies["AllowGraphQL"], PolicyKind::Identity).unwrap();
    assert_eq!(policy.statements().len(), 1);
    // Where each document starts in the file, for errors.
    let text = example_text();
    let first = text.lines().position(|l| l.starts_with("AllowGraphQL = '''")).unwrap() + 2;
    assert_eq!(role.source_lines.get("policies.AllowGraphQL"), Some(&first));
}

/// A malformed document in the example's role stops `serve`: the error names the document's key,
/// the fault, and its line and column in the document and the line in the file.
#[test]
fn bad_role_policy_is_named_with_its_key_and_line() {
    let text = example_text();
    let bad = replace_once(
        &text,
        "\"Effect\": \"Allow\",\n    \"Action\": \"appsync:GraphQL\"",
        "\"Effect\": \"Permit\",\n    \"Action\": \"appsync:GraphQL\"",
    );
    let file_line = bad.lines().position(|l| l.contains("\"Effect\": \"Permit\"")).unwrap() + 1;
    let doc_first = bad.lines().position(|l| l.starts_with("AllowGraphQL = '''")).unwrap() + 2;
    let column = bad.lines().nth(file_line - 1).unwrap().find("\"Permit\"").unwrap() + 1;
    serve_rejects(
        &bad,
        &[&format!(
            "error: roles[0].policies.AllowGraphQL: Statement[0].Effect: Effect is \"Allow\" or \"Deny\", not \
             \"Permit\" (line {}, column {column} of the document; line {file_line} of the file)",
            file_line - doc_first + 1
        )],
    );
    // The trust policy, by its own key.
    let bad = replace_once(&text, "\"Action\": \"sts:AssumeRoleWithWebIdentity\",", "\"Action\": 42,");
    let file_line = bad.lines().position(|l| l.contains("\"Action\": 42")).unwrap() + 1;
    serve_rejects(
        &bad,
        &["error: roles[0].trust_policy: Statement[0].Action: ", &format!("line {file_line} of the file)")],
    );
    // Not JSON at all: still the line.
    let bad = replace_once(&text, "\"Sid\": \"AllowGraphQL\",", "\"Sid\": \"AllowGraphQL\"");
    serve_rejects(&bad, &["error: roles[0].policies.AllowGraphQL: not valid JSON: ", " of the file)"]);
    // A role name IAM would refuse, and a role defined twice.
    let bad = replace_once(&text, "name = \"portal-app\"", "name = \"portal app\"");
    serve_rejects(&bad, &["error: roles[0].name: ", "letters, digits and +=,.@_-"]);
    let start = text.find("[[roles]]").unwrap();
    let twice = format!("{text}\n{}", &text[start..].replace("name = \"portal-app\"", "name = \"Portal-App\""));
    serve_rejects(&twice, &["error: roles[1].name: \"Portal-App\" is defined twice"]);
}

/// The configuration is authoritative: at start a role of the same name is replaced by the
/// configured one, with exactly the configured policies.
#[tokio::test]
async fn configured_role_replaces_the_stored_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let trust = d.join("trust.json");
    std::fs::write(
        &trust,
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"}}"#,
    )
    .unwrap();
    let extra = d.join("extra.json");
    std::fs::write(&extra, r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#).unwrap();
    let mut c = tb();
    c.arg("--data-dir").arg(d).args(["roles", "put", "portal-app", "--trust-policy"]).arg(&trust);
    c.arg("--policy").arg(format!("Everything={}", extra.display()));
    ok(c, None);
    // A start with the configuration puts the configured role back. Only `serve` writes the
    // configuration into the store; the CLI's commands open the engine without writing it.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = start_serve(
        &example_path(),
        &format!("http://{listen}"),
        &["--data-dir", d.to_str().unwrap(), "--listen", &listen],
    )
    .await;
    drop(server);
    let mut c = tb();
    c.arg("--config").arg(example_path()).arg("--data-dir").arg(d).args(["roles", "show", "portal-app"]);
    let role: serde_json::Value = serde_json::from_str(&ok(c, None)).unwrap();
    assert_eq!(role["Arn"], "arn:aws:iam::123456789012:role/portal-app");
    assert_eq!(role["AssumeRolePolicyDocument"]["Statement"][0]["Sid"], "PortalWebUsers", "{role}");
    let policies: Vec<&str> =
        role["RolePolicyList"].as_array().unwrap().iter().map(|p| p["PolicyName"].as_str().unwrap()).collect();
    assert_eq!(policies, ["AllowGraphQL"]);
}

#[test]
fn example_console_settings_load() {
    let cfg = Config::load(&example_path()).unwrap();
    let login = cfg.providers[0].login.as_ref().expect("salesforce has [providers.login]");
    assert_eq!(login.token_endpoint, "https://login.salesforce.com/services/oauth2/token");
    assert_eq!(login.scope, "openid email profile");
    assert!(cfg.providers[1].login.is_none());
    assert!(cfg.console.enabled && !cfg.console.explain_to_caller);
    assert_eq!(cfg.console.oauth_client_id.as_deref(), Some("web-portal"));
    assert_eq!(cfg.console.user_pool_id.as_deref(), Some("ap-northeast-1_Portal"));
}

#[test]
fn bad_console_settings_are_named() {
    let text = example_text();
    // A plain-http login endpoint off loopback.
    let bad = replace_once(
        &text,
        "token_endpoint = \"https://login.salesforce.com/services/oauth2/token\"",
        "token_endpoint = \"http://login.salesforce.com/services/oauth2/token\"",
    );
    serve_rejects(&bad, &["error: providers[0].login.token_endpoint: ", "must be https://"]);
    let bad = replace_once(
        &text,
        "authorization_endpoint = \"https://login.salesforce.com/services/oauth2/authorize\"",
        "authorization_endpoint = \"login.salesforce.com/services/oauth2/authorize\"",
    );
    serve_rejects(&bad, &["error: providers[0].login.authorization_endpoint: ", "not a URL"]);
    // The console's client must be public.
    let bad = replace_once(&text, "oauth_client_id = \"web-portal\"", "oauth_client_id = \"reporting-backend\"");
    serve_rejects(&bad, &["error: console.oauth_client_id: ", "has a secret"]);
    let bad = replace_once(&text, "identity_pool_ids = []", "identity_pool_ids = [\"pool-1\"]");
    serve_rejects(&bad, &["error: console.identity_pool_ids[0]: ", "<region>:<uuid>"]);
    let bad = replace_once(&text, "[console]\n", "[console]\nexplain_to_everyone = true\n");
    serve_rejects(&bad, &["unknown field `explain_to_everyone`"]);
}

/// `metrics.listen` serves `/metrics` on its own address; the main address then serves it only
/// with `metrics.token` (here from `TOKENBRIDGE_METRICS_TOKEN`), and not at all without one. An
/// old file's `trust_forwarded_for` is refused, naming what replaces it.
#[tokio::test]
async fn metrics_on_their_own_address() {
    let tmp = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let config = tmp.path().join("tokenbridge.toml");
    let text = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n");
    std::fs::write(&config, &text).unwrap();
    let data = ["--data-dir", tmp.path().to_str().unwrap()];
    let base = format!("http://127.0.0.1:{port}");
    let token = "scraper-token-0123456789";
    let server = start_serve_with_env(&config, &base, &data, &[("TOKENBRIDGE_METRICS_TOKEN", token)]).await;
    async fn get(url: String, bearer: Option<&str>) -> (u16, String) {
        let mut req = http().get(url);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
    let (status, body) = get(format!("http://127.0.0.1:{metrics_port}/metrics"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tokenbridge_"), "{body}");
    assert_eq!(get(format!("http://127.0.0.1:{metrics_port}/healthz"), None).await.0, 404, "only /metrics there");
    assert_eq!(get(format!("{base}/metrics"), None).await.0, 401);
    assert_eq!(get(format!("{base}/metrics"), Some(token)).await.0, 200);
    drop(server);
    // No token: the main address does not serve metrics.
    let server = start_serve(&config, &base, &data).await;
    let (status, body) = get(format!("{base}/metrics"), Some(token)).await;
    assert_eq!(status, 404, "{body}");
    drop(server);

    serve_rejects(&format!("{text}token = \"short\"\n"), &["error: metrics.token: "]);
    serve_rejects(
        &text.replace("[server]\n", "[server]\ntrust_forwarded_for = true\n"),
        &["error: server.trust_forwarded_for: was removed", "server.trusted_proxies"],
    );
}

/// Opening the engine writes nothing: with a configuration that declares a client, a user pool
/// and a role, the CLI's commands leave the store without them (and without a signing key) until
/// `serve` starts with it and writes them.
#[tokio::test]
async fn only_serve_writes_the_configuration_into_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = tmp.path().join("tokenbridge.toml");
    let data = tmp.path().join("data").display().to_string();
    let trust = r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRoleWithWebIdentity"}}"#;
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\ndata_dir = {data:?}\n\n\
             [[clients]]\nclient_id = \"declared-client\"\n\n\
             [[user_pools]]\nid = \"us-east-1_Declared\"\n\n\
             [[roles]]\nname = \"declared-role\"\ntrust_policy = '{trust}'\n"
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut c = tb();
        c.arg("--config").arg(&config).args(args);
        ok(c, None)
    };
    cli(&["users", "add", "nora"]);
    assert_eq!(cli(&["clients", "list"]), "", "a CLI command wrote the configured client");
    assert_eq!(cli(&["user-pools", "list"]), "", "a CLI command wrote the configured user pool");
    assert_eq!(cli(&["roles", "list"]), "", "a CLI command wrote the configured role");
    assert_eq!(cli(&["keys", "list"]), "", "a CLI command made a signing key");

    drop(start_serve(&config, &format!("http://127.0.0.1:{port}"), &[]).await);
    assert!(cli(&["clients", "list"]).contains("\"declared-client\""));
    assert!(cli(&["user-pools", "list"]).contains("\"us-east-1_Declared\""));
    assert!(cli(&["roles", "list"]).contains("\"declared-role\""));
    assert_eq!(cli(&["keys", "list"]).lines().count(), 1, "serve made the first signing key");
}
