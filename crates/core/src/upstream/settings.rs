//! The configuration this domain checks: the providers' URLs (HTTPS unless loopback), the
//! algorithms their tokens may use, and their CEL conditions and mappings.

use crate::claim_expressions::Expression;
use crate::config::{Config, ConfigError};

/// Whether the URL's host is `localhost` or a loopback address.
pub fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a URL may be used for an upstream: HTTPS, or HTTP only to a loopback host.
pub fn check_upstream_url(url: &str) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match u.scheme() {
        "https" => Ok(()),
        "http" => {
            if is_loopback(&u) {
                Ok(())
            } else {
                Err("must be https:// (plain http is allowed only for loopback hosts)".into())
            }
        }
        s => Err(format!("unsupported scheme {s:?}")),
    }
}

/// Each provider's issuer and endpoints are URLs this server may call, its algorithms are ones it
/// verifies, and its condition and mappings compile.
pub fn validate_config(config: &Config) -> Result<(), ConfigError> {
    let err = ConfigError::new;
    for (i, p) in config.providers.iter().enumerate() {
        let k = |f: &str| format!("providers[{i}].{f}");
        url::Url::parse(&p.issuer).map_err(|e| err(k("issuer"), format!("not a URL: {e}")))?;
        if p.discovery {
            check_upstream_url(&p.issuer).map_err(|r| err(k("issuer"), r))?;
        }
        for (f, v) in [
            ("jwks_uri", &p.jwks_uri),
            ("userinfo_endpoint", &p.userinfo_endpoint),
            ("introspection_endpoint", &p.introspection_endpoint),
        ] {
            if let Some(u) = v {
                check_upstream_url(u).map_err(|r| err(k(f), r))?;
            }
        }
        for a in &p.algorithms {
            if !crate::jose::SUPPORTED_VERIFY_ALGS.contains(&a.as_str()) {
                return Err(err(
                    k("algorithms"),
                    format!("{a:?} is not allowed (supported: {})", crate::jose::SUPPORTED_VERIFY_ALGS.join(", ")),
                ));
            }
        }
        if let Some(c) = &p.condition {
            Expression::compile(c).map_err(|r| err(k("condition"), r))?;
        }
        for (name, m) in &p.mappings {
            Expression::compile(m).map_err(|r| err(k(&format!("mappings.{name}")), r))?;
        }
        if let Some(l) = &p.login {
            for (f, u) in [("authorization_endpoint", &l.authorization_endpoint), ("token_endpoint", &l.token_endpoint)]
            {
                check_upstream_url(u).map_err(|r| err(k(&format!("login.{f}")), r))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_must_be_https_unless_loopback() {
        assert!(check_upstream_url("https://x.example/jwks").is_ok());
        assert!(check_upstream_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_upstream_url("http://localhost/jwks").is_ok());
        assert!(check_upstream_url("http://10.0.0.1/jwks").is_err());
    }
}
