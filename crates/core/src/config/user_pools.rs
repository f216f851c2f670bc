//! User pools and their app clients made at start.

use super::{err, Config, ConfigError};
use serde::{Deserialize, Serialize};

/// How a pool's tokens name their issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IssuerForm {
    /// `<public-url>/<pool-id>`
    #[default]
    Local,
    /// `https://cognito-idp.<region>.amazonaws.com/<pool-id>`
    Aws,
}

/// A user pool created at start (kept if it exists).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPoolConfig {
    /// `<region>_<letters and digits>`.
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `local` (`<public_url>/<id>`, the default) or `aws` (`https://cognito-idp.<region>.amazonaws.com/<id>`).
    #[serde(default)]
    pub issuer: IssuerForm,
    #[serde(default)]
    pub clients: Vec<UserPoolClientConfig>,
    /// The pool's domain prefix: its hosted sign-in is served at `<public_url>/domains/<domain>/`
    /// and at `<domain>.<server.auth_domain_suffix>`.
    #[serde(default)]
    pub domain: Option<String>,
    /// SAML and OIDC identity providers of the pool (`[[user_pools.identity_providers]]`).
    #[serde(default)]
    pub identity_providers: Vec<IdentityProviderConfig>,
    /// Resource servers and their scopes (`[[user_pools.resource_servers]]`).
    #[serde(default)]
    pub resource_servers: Vec<ResourceServerConfig>,
}

/// `saml` or `oidc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityProviderKind {
    Saml,
    Oidc,
}

/// An identity provider of a configured pool, created at start when the pool lacks it. The
/// checks are the API's (`CreateIdentityProvider`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// ProviderName: 1 to 32 characters, not `Cognito`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: IdentityProviderKind,
    /// SAML: a file holding the IdP's metadata (read at start).
    #[serde(default)]
    pub metadata_file: Option<std::path::PathBuf>,
    /// SAML: where the IdP's metadata is fetched at start (https unless loopback).
    #[serde(default)]
    pub metadata_url: Option<String>,
    #[serde(default)]
    pub idp_signout: bool,
    #[serde(default)]
    pub idp_init: bool,
    #[serde(default)]
    pub encrypted_responses: bool,
    /// SAML: accept RSA-SHA1 signatures and SHA-1 digests from this provider (refused otherwise).
    #[serde(default)]
    pub allow_sha1_signatures: bool,
    /// SAML: `rsa-sha256` to sign AuthnRequests.
    #[serde(default)]
    pub request_signing_algorithm: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// OIDC: space-separated scopes.
    #[serde(default)]
    pub authorize_scopes: Option<String>,
    #[serde(default)]
    pub oidc_issuer: Option<String>,
    /// OIDC: `GET` (the default) or `POST`.
    #[serde(default)]
    pub attributes_request_method: Option<String>,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub attributes_url: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// User-pool attribute = provider attribute.
    #[serde(default)]
    pub attribute_mapping: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub idp_identifiers: Vec<String>,
}

/// A resource server of a configured pool, created at start when the pool lacks it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerConfig {
    pub identifier: String,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<ResourceServerScopeConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerScopeConfig {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPoolClientConfig {
    pub client_id: String,
    #[serde(default)]
    pub name: String,
    /// Makes the client confidential (SECRET_HASH required).
    #[serde(default)]
    pub secret: Option<String>,
    /// Upstream providers whose tokens answer CUSTOM_AUTH.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Where the hosted sign-in may send the browser back with a code (`CallbackURLs`).
    #[serde(default)]
    pub callback_urls: Vec<String>,
    /// Where `/logout` may send the browser (`LogoutURLs`).
    #[serde(default)]
    pub logout_urls: Vec<String>,
    /// `code` and `client_credentials` (`AllowedOAuthFlows`); none: no OAuth flow.
    #[serde(default)]
    pub allowed_oauth_flows: Vec<String>,
    /// `openid`, `email`, `profile`, `phone`, `aws.cognito.signin.user.admin` and resource-server
    /// scopes `<identifier>/<scope>` (`AllowedOAuthScopes`).
    #[serde(default)]
    pub allowed_oauth_scopes: Vec<String>,
}

/// The configured pools' app clients: ids, each defined once (among the OAuth clients too), and
/// the providers they name. The pool ids are checked by `userpool::validate_config`.
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut ids = std::collections::HashSet::new();
    for (i, p) in config.user_pools.iter().enumerate() {
        for (j, c) in p.clients.iter().enumerate() {
            let k = |f: &str| format!("user_pools[{i}].clients[{j}].{f}");
            if c.client_id.is_empty() || !c.client_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(err(k("client_id"), "must be letters and digits"));
            }
            if !ids.insert(c.client_id.as_str()) || config.clients.iter().any(|o| o.client_id == c.client_id) {
                return Err(err(k("client_id"), format!("{:?} is defined twice", c.client_id)));
            }
            for prov in &c.providers {
                let of_pool = p.identity_providers.iter().any(|x| &x.name == prov);
                if !of_pool && !config.providers.iter().any(|x| &x.name == prov) {
                    return Err(err(k("providers"), format!("no provider named {prov:?}")));
                }
            }
        }
    }
    Ok(())
}
