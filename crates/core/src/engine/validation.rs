//! The whole configuration check: the values' own (`Config::validate_values`), then each domain's
//! on what only its parser can read.

use super::Engine;
use crate::config::{Config, ConfigError};

impl Engine {
    /// Everything that can be checked without the network: names, URLs, grants, CEL, policy
    /// documents, routes, references. `Engine::open` runs it first; the CLI runs it as it loads the
    /// configuration, so a bad file stops any command before it touches the store.
    pub fn validate_config(config: &Config) -> Result<(), ConfigError> {
        config.validate_values()?;
        crate::upstream::validate_config(config)?;
        crate::userpool::validate_config(config)?;
        crate::identity_pool::validate_config(config)?;
        crate::iam::validate_config(config)?;
        crate::authorizer::validate_config(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{split_list, LinkTarget, OpaqueCheckLimits};

    /// Every check, as the engine runs them at start.
    trait Validate {
        fn validate(&self) -> Result<(), ConfigError>;
    }

    impl Validate for Config {
        fn validate(&self) -> Result<(), ConfigError> {
            Engine::validate_config(self)
        }
    }

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:9000"

[[clients]]
client_id = "web"
providers = ["sf"]
allowed_origins = ["http://localhost:3000"]

[[providers]]
name = "sf"
issuer = "https://login.salesforce.com"
discovery = true
audiences = ["3MVG"]
condition = 'assertion.email_verified == true'
"#;

    #[test]
    fn good_config_validates() {
        let c = Config::from_toml(GOOD).unwrap();
        c.validate().unwrap();
        assert_eq!(c.providers[0].link_to, LinkTarget::Email);
        assert_eq!(c.clients[0].refresh_token_ttl, 30 * 24 * 3600);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = GOOD.replace("assertion.email_verified == true", "assertion.email_verified ==");
        let e = Config::from_toml(&bad).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "providers[0].condition");
        let bad = GOOD.replace("https://login.salesforce.com", "http://idp.example.com");
        assert_eq!(Config::from_toml(&bad).unwrap().validate().unwrap_err().key, "providers[0].issuer");
        let bad = GOOD.replace("listen =", "lisen =");
        assert!(Config::from_toml(&bad).unwrap_err().to_string().contains("lisen"));
    }

    #[test]
    fn opaque_check_limits_have_safe_defaults_and_bounds() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(
            c.providers[0].opaque_checks,
            OpaqueCheckLimits { per_second: 20, burst: 40, refusal_cache_seconds: 60, refusal_cache_entries: 10_000 }
        );
        let with = |table: &str| Config::from_toml(&format!("{GOOD}\n[providers.opaque_checks]\n{table}\n"));
        let c = with("per_second = 5\nburst = 10\nrefusal_cache_seconds = 0").unwrap();
        c.validate().unwrap();
        assert_eq!((c.providers[0].opaque_checks.per_second, c.providers[0].opaque_checks.burst), (5, 10));
        for (table, key) in [
            ("per_second = 0", "providers[0].opaque_checks.per_second"),
            ("burst = 0", "providers[0].opaque_checks.burst"),
            ("refusal_cache_seconds = 3601", "providers[0].opaque_checks.refusal_cache_seconds"),
            ("refusal_cache_entries = 1000001", "providers[0].opaque_checks.refusal_cache_entries"),
        ] {
            assert_eq!(with(table).unwrap().validate().unwrap_err().key, key);
        }
        assert!(with("per_minute = 1").unwrap_err().to_string().contains("per_minute"));
    }

    #[test]
    fn refresh_reuse_grace_is_bounded() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.issuer.refresh_reuse_grace_seconds, 30);
        for (v, ok) in [(0, true), (300, true), (301, false), (-1, false)] {
            let text = format!("[issuer]\nrefresh_reuse_grace_seconds = {v}\n{GOOD}");
            let r = Config::from_toml(&text).unwrap().validate();
            assert_eq!(r.is_ok(), ok, "{v}: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.key, "issuer.refresh_reuse_grace_seconds");
            }
        }
    }

    #[test]
    fn role_documents_are_checked_at_load_with_their_place() {
        const TRUST: &str = r#"trust_policy = '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRoleWithWebIdentity"}}'"#;
        let role = |policy: &str| format!("[[roles]]\nname = \"app\"\n{TRUST}\n[roles.policies]\n{policy}\n");
        let good = role(r#"Read = '{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}'"#);
        let c = Config::from_toml(&good).unwrap();
        c.validate().unwrap();
        assert_eq!(c.roles[0].source_lines.get("trust_policy"), Some(&3));
        assert_eq!(c.roles[0].source_lines.get("policies.Read"), Some(&5));
        // A multi-line literal string: the document's lines are the file's.
        let bad = role(
            r#"Read = '''
{
  "Statement": {"Effect": "Alow", "Action": "s3:GetObject", "Resource": "*"}
}'''"#,
        );
        let e = Config::from_toml(&bad).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "roles[0].policies.Read");
        assert!(e.reason.starts_with("Statement.Effect: "), "{e}");
        assert!(e.reason.ends_with("(line 2, column 27 of the document; line 7 of the file)"), "{e}");
        // Escapes in a basic string: the position in the document only.
        let e = Config::from_toml(&role(r#"Read = "{\"Statement\": 1}""#)).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "roles[0].policies.Read");
        assert!(e.reason.ends_with("(line 1, column 15)"), "{e}");
        // The trust policy is checked as one: it needs a Principal.
        let e = Config::from_toml(&good.replace(r#""Principal": "*", "#, "")).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "roles[0].trust_policy");
    }

    #[test]
    fn provider_login_endpoints_are_checked_and_its_secret_never_printed() {
        let login = |authorize: &str| {
            format!(
                "{GOOD}\n[providers.login]\nauthorization_endpoint = \"{authorize}\"\n\
                 token_endpoint = \"https://login.salesforce.com/services/oauth2/token\"\n\
                 client_id = \"3MVG\"\nclient_secret = \"s3cret-value\"\n"
            )
        };
        let c = Config::from_toml(&login("https://login.salesforce.com/services/oauth2/authorize")).unwrap();
        c.validate().unwrap();
        let l = c.providers[0].login.as_ref().expect("login");
        assert_eq!(l.scope, "openid email profile");
        assert_eq!(l.client_secret.as_deref(), Some("s3cret-value"));
        assert!(!format!("{c:?}").contains("s3cret-value"), "Debug shows the login secret");
        // Loopback may be plain http (a local provider); nothing else may.
        Config::from_toml(&login("http://127.0.0.1:8080/demo-idp/authorize")).unwrap().validate().unwrap();
        let e = Config::from_toml(&login("http://idp.example.com/authorize")).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "providers[0].login.authorization_endpoint");
        assert!(e.reason.contains("must be https://"), "{e}");
        let e = Config::from_toml(&login("/authorize")).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "providers[0].login.authorization_endpoint");
        let bad = login("https://idp.example.com/authorize").replace("client_id = \"3MVG\"", "client_id = \"\"");
        assert_eq!(Config::from_toml(&bad).unwrap().validate().unwrap_err().key, "providers[0].login.client_id");
    }

    #[test]
    fn console_settings_are_checked() {
        let c = Config::from_toml(GOOD).unwrap();
        assert!(c.console.enabled && !c.console.explain_to_caller && c.console.oauth_client_id.is_none());
        let with = |console: &str| Config::from_toml(&format!("[console]\n{console}\n{GOOD}")).unwrap().validate();
        with("oauth_client_id = \"web\"\nexplain_to_caller = true\nenabled = false").unwrap();
        // A client made later with the CLI is not known here: accepted.
        with("oauth_client_id = \"made-later\"").unwrap();
        let confidential = format!(
            "[console]\noauth_client_id = \"web\"\n{}",
            GOOD.replace("providers = [\"sf\"]", "providers = [\"sf\"]\nsecret = \"x\"")
        );
        let e = Config::from_toml(&confidential).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "console.oauth_client_id");
        assert!(e.reason.contains("public client"), "{e}");
        assert_eq!(with("user_pool_id = \"pool\"").unwrap_err().key, "console.user_pool_id");
        assert_eq!(with("user_pool_client_id = \"abc\"").unwrap_err().key, "console.user_pool_client_id");
        with("user_pool_id = \"eu-west-1_Pool\"\nuser_pool_client_id = \"abc\"").unwrap();
        assert_eq!(with("identity_pool_ids = [\"nope\"]").unwrap_err().key, "console.identity_pool_ids[0]");
        assert!(Config::from_toml(&format!("[console]\ndemo_apis = true\n{GOOD}")).is_err(), "demo_apis is not a key");
    }

    #[test]
    fn trusted_proxies_are_cidr_blocks_and_the_old_switch_names_them() {
        let with = |server: &str| Config::from_toml(&format!("[server]\n{server}\n")).unwrap().validate();
        with("trusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.0.2.7\"]").unwrap();
        let e = with("trusted_proxies = [\"10.0.0.0/8\", \"proxy.internal\"]").unwrap_err();
        assert_eq!(e.key, "server.trusted_proxies[1]");
        let e = with("trust_forwarded_for = true").unwrap_err();
        assert_eq!(e.key, "server.trust_forwarded_for");
        assert!(
            e.reason.contains("leftmost X-Forwarded-For entry") && e.reason.contains("server.trusted_proxies"),
            "{e}"
        );
        assert_eq!(split_list(" 10.0.0.0/8, ,::1 "), ["10.0.0.0/8", "::1"]);
    }

    #[test]
    fn metrics_settings_are_checked_and_the_token_never_printed() {
        let with = |m: &str| Config::from_toml(&format!("[metrics]\n{m}\n")).unwrap();
        let c = with("token = \"a-long-metrics-token\"\nlisten = \"127.0.0.1:9090\"");
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("a-long-metrics-token"), "Debug shows the metrics token");
        assert_eq!(with("token = \"short\"").validate().unwrap_err().key, "metrics.token");
        assert_eq!(with("listen = \"localhost\"").validate().unwrap_err().key, "metrics.listen");
        assert!(Config::default().metrics.token.is_none() && Config::default().metrics.listen.is_none());
    }
}
