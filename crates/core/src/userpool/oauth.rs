//! An app client's OAuth settings, the ones the pool's hosted sign-in obeys: where it may send
//! the browser back (`CallbackURLs`, `LogoutURLs`, `DefaultRedirectURI`), which flows it may use
//! (`AllowedOAuthFlows`: `code`, `client_credentials`) and which scopes it may ask for
//! (`AllowedOAuthScopes`), checked with Cognito's rules. The same checks hold for the API and
//! for the configuration (`[[user_pools.clients]]`).

use crate::refusal::Reason;
use serde::{Deserialize, Serialize};

/// The flows of the authorization server.
pub const FLOW_CODE: &str = "code";
pub const FLOW_IMPLICIT: &str = "implicit";
pub const FLOW_CLIENT_CREDENTIALS: &str = "client_credentials";

/// The scopes of OpenID Connect and Cognito a pool always knows.
pub const STANDARD_SCOPES: &[&str] = &["openid", "email", "profile", "phone", super::COGNITO_ADMIN_SCOPE];

/// An app client's OAuth settings, as `CreateUserPoolClient` names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOAuth {
    #[serde(default)]
    pub callback_urls: Vec<String>,
    #[serde(default)]
    pub logout_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_redirect_uri: Option<String>,
    #[serde(default)]
    pub allowed_oauth_flows: Vec<String>,
    #[serde(default)]
    pub allowed_oauth_scopes: Vec<String>,
    /// Whether the client may use the flows at all (`AllowedOAuthFlowsUserPoolClient`).
    #[serde(default)]
    pub allowed_oauth_flows_user_pool_client: bool,
}

/// A setting refused: the reason (Cognito's exception) and its message.
pub type Refused = (Reason, String);

fn invalid(message: impl Into<String>) -> Refused {
    (Reason::InvalidParameter, message.into())
}

impl ClientOAuth {
    /// Whether the client may use `flow` (`code`, `client_credentials`) now.
    pub fn allows_flow(&self, flow: &str) -> bool {
        self.allowed_oauth_flows_user_pool_client && self.allowed_oauth_flows.iter().any(|f| f == flow)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.allowed_oauth_scopes.iter().any(|s| s == scope)
    }

    /// Whether `uri` is one of the callback URLs, compared exactly (no prefix, no normalising).
    pub fn is_callback(&self, uri: &str) -> bool {
        self.callback_urls.iter().any(|c| c == uri)
    }

    pub fn is_logout_url(&self, uri: &str) -> bool {
        self.logout_urls.iter().any(|c| c == uri)
    }

    /// Cognito's checks of the settings of a client with (`has_secret`) or without a secret.
    pub fn check(&self, has_secret: bool) -> Result<(), Refused> {
        if self.callback_urls.len() > 100 || self.logout_urls.len() > 100 {
            return Err(invalid("CallbackURLs and LogoutURLs hold at most 100 URLs each."));
        }
        for (what, urls) in [("CallbackURLs", &self.callback_urls), ("LogoutURLs", &self.logout_urls)] {
            for u in urls {
                check_redirect_url(what, u)?;
            }
        }
        if let Some(d) = &self.default_redirect_uri {
            check_redirect_url("DefaultRedirectURI", d)?;
            if !self.is_callback(d) {
                return Err(invalid("DefaultRedirectURI must be one of the CallbackURLs."));
            }
        }
        if self.allowed_oauth_flows.len() > 3 || self.allowed_oauth_scopes.len() > 50 {
            return Err(invalid("AllowedOAuthFlows holds at most 3 flows, AllowedOAuthScopes at most 50 scopes."));
        }
        for f in &self.allowed_oauth_flows {
            match f.as_str() {
                FLOW_CODE | FLOW_CLIENT_CREDENTIALS => {}
                FLOW_IMPLICIT => {
                    return Err((
                        Reason::InvalidOAuthFlow,
                        "implicit flow is not supported here: tokens in a URL fragment leak; use code with PKCE".into(),
                    ))
                }
                other => {
                    return Err(invalid(format!(
                        "1 validation error detected: Value '[{other}]' at 'allowedOAuthFlows' failed to satisfy \
                         constraint: Member must satisfy enum value set: [implicit, client_credentials, code]"
                    )))
                }
            }
        }
        for s in &self.allowed_oauth_scopes {
            if !is_known_scope(s) {
                return Err((
                    Reason::ScopeDoesNotExist,
                    format!("Invalid scope requested: {}", crate::excerpt::excerpt(s)),
                ));
            }
        }
        let credentials = self.allowed_oauth_flows.iter().any(|f| f == FLOW_CLIENT_CREDENTIALS);
        let code = self.allowed_oauth_flows.iter().any(|f| f == FLOW_CODE);
        if credentials && code {
            return Err((
                Reason::InvalidOAuthFlow,
                "client_credentials flow can not be selected along with code flow or implicit flow.".into(),
            ));
        }
        if credentials && !has_secret {
            return Err((
                Reason::InvalidOAuthFlow,
                "client_credentials flow can not be selected if client does not have a client secret.".into(),
            ));
        }
        if credentials && self.allowed_oauth_scopes.iter().any(|s| !is_resource_scope(s)) {
            return Err((
                Reason::InvalidOAuthFlow,
                "client_credentials flow can only be used with resource server scopes (<identifier>/<scope>).".into(),
            ));
        }
        if self.allowed_oauth_flows_user_pool_client {
            if self.allowed_oauth_flows.is_empty() || self.allowed_oauth_scopes.is_empty() {
                return Err(invalid(
                    "AllowedOAuthFlows and AllowedOAuthScopes are required if user pool client is allowed to use \
                     OAuth flows.",
                ));
            }
            if code && self.callback_urls.is_empty() {
                return Err(invalid("CallbackURLs are required for the code flow."));
            }
        }
        Ok(())
    }
}

/// A scope a pool knows: a standard one, or a resource server's `<identifier>/<scope>`.
pub fn is_known_scope(s: &str) -> bool {
    STANDARD_SCOPES.contains(&s) || is_resource_scope(s)
}

/// `<identifier>/<scope>`, each part of Cognito's scope characters (visible ASCII but `"` `\`).
pub fn is_resource_scope(s: &str) -> bool {
    let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    s.len() <= 256 && s.rsplit_once('/').is_some_and(|(id, name)| ok(id) && ok(name) && !name.contains('/'))
}

/// A callback or logout URL as Cognito accepts it: absolute, no fragment, https (plain http only
/// to the local machine); an app's own scheme (`myapp://callback`) is allowed.
pub fn check_redirect_url(what: &str, u: &str) -> Result<(), Refused> {
    let shown = crate::excerpt::excerpt(u);
    if u.is_empty() || u.len() > 1024 {
        return Err(invalid(format!("{what}: a URL must be 1 to 1024 characters.")));
    }
    let url = url::Url::parse(u).map_err(|e| invalid(format!("{what}: {shown} is not an absolute URL ({e}).")))?;
    if url.fragment().is_some() {
        return Err(invalid(format!("{what}: {shown} must not have a fragment.")));
    }
    if url.scheme() == "http" && !url.host_str().is_some_and(is_local_host) {
        return Err(invalid(format!("{what}: {shown} must use https (http is allowed only for localhost).")));
    }
    if url.scheme() == "https" && url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("{what}: {shown} has no host.")));
    }
    Ok(())
}

/// The local machine, under the names browsers keep on it.
fn is_local_host(h: &str) -> bool {
    h == "localhost" || h.ends_with(".localhost") || h == "127.0.0.1" || h == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_client() -> ClientOAuth {
        ClientOAuth {
            callback_urls: vec!["https://app.example/cb".into(), "http://localhost:3000/".into()],
            logout_urls: vec!["https://app.example/bye".into()],
            default_redirect_uri: None,
            allowed_oauth_flows: vec![FLOW_CODE.into()],
            allowed_oauth_scopes: vec!["openid".into(), "email".into(), "api.example/read".into()],
            allowed_oauth_flows_user_pool_client: true,
        }
    }

    #[test]
    fn cognito_rules_for_urls_flows_and_scopes() {
        assert_eq!(code_client().check(false), Ok(()));
        let with = |f: fn(&mut ClientOAuth)| {
            let mut c = code_client();
            f(&mut c);
            c.check(false).unwrap_err()
        };
        assert_eq!(with(|c| c.callback_urls.push("http://app.example/cb".into())).0, Reason::InvalidParameter);
        assert_eq!(with(|c| c.callback_urls.push("https://app.example/cb#x".into())).0, Reason::InvalidParameter);
        assert_eq!(with(|c| c.callback_urls.push("/relative".into())).0, Reason::InvalidParameter);
        assert_eq!(
            with(|c| c.default_redirect_uri = Some("https://other.example/".into())).0,
            Reason::InvalidParameter
        );
        assert_eq!(with(|c| c.allowed_oauth_flows.push("implicit".into())).0, Reason::InvalidOAuthFlow);
        assert_eq!(with(|c| c.allowed_oauth_flows.push("device".into())).0, Reason::InvalidParameter);
        assert_eq!(with(|c| c.allowed_oauth_scopes.push("admin".into())).0, Reason::ScopeDoesNotExist);
        assert_eq!(with(|c| c.allowed_oauth_flows.push("client_credentials".into())).0, Reason::InvalidOAuthFlow);
        assert_eq!(with(|c| c.callback_urls.clear()).0, Reason::InvalidParameter);
        assert_eq!(with(|c| c.allowed_oauth_scopes.clear()).0, Reason::InvalidParameter);
        let mut app = code_client();
        app.callback_urls.push("myapp://callback".into());
        assert_eq!(app.check(false), Ok(()));
        // client_credentials: a secret and resource-server scopes only.
        let machine = ClientOAuth {
            allowed_oauth_flows: vec![FLOW_CLIENT_CREDENTIALS.into()],
            allowed_oauth_scopes: vec!["api.example/read".into()],
            allowed_oauth_flows_user_pool_client: true,
            ..Default::default()
        };
        assert_eq!(machine.check(true), Ok(()));
        assert_eq!(machine.check(false).unwrap_err().0, Reason::InvalidOAuthFlow);
        let mut m = machine.clone();
        m.allowed_oauth_scopes.push("openid".into());
        assert_eq!(m.check(true).unwrap_err().0, Reason::InvalidOAuthFlow);
        // Off: nothing is required, and no flow is allowed.
        assert_eq!(ClientOAuth::default().check(false), Ok(()));
        assert!(!ClientOAuth { allowed_oauth_flows_user_pool_client: false, ..code_client() }.allows_flow("code"));
        assert!(code_client().allows_flow("code"));
    }

    #[test]
    fn resource_scopes_have_an_identifier_and_a_name() {
        assert!(is_resource_scope("https://api.example/orders.read"));
        assert!(is_resource_scope("api/read"));
        assert!(!is_resource_scope("read"));
        assert!(!is_resource_scope("api/"));
        assert!(!is_resource_scope("/read"));
        assert!(!is_resource_scope("api/re\"ad"));
        assert!(is_known_scope("openid") && is_known_scope("aws.cognito.signin.user.admin"));
    }
}
