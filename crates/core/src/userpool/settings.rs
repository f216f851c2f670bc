//! The configuration this domain checks: pool ids, and the region they start with; domains and
//! the app clients' OAuth settings, by the rules the API checks them with.

use super::identity_providers::{check_spec, ProviderSpec};
use super::resource_servers::{check_resource_server, ResourceServerScope};
use super::{check_domain, is_pool_id, ClientOAuth};
use crate::config::{
    Config, ConfigError, IdentityProviderConfig, IdentityProviderKind, ResourceServerConfig, UserPoolClientConfig,
};
use std::collections::BTreeMap;

/// A configured identity provider as the API would be given it (`metadata_file` is read here).
pub fn provider_spec(c: &IdentityProviderConfig) -> Result<ProviderSpec, String> {
    let mut details = BTreeMap::new();
    let mut put = |k: &str, v: Option<&String>| {
        if let Some(v) = v {
            details.insert(k.to_string(), v.clone());
        }
    };
    let provider_type = match c.kind {
        IdentityProviderKind::Saml => {
            if let Some(path) = &c.metadata_file {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("metadata_file: cannot read {}: {e}", path.display()))?;
                put("MetadataFile", Some(&text));
            }
            put("MetadataURL", c.metadata_url.as_ref());
            put("RequestSigningAlgorithm", c.request_signing_algorithm.as_ref());
            for (k, on) in [
                ("IDPSignout", c.idp_signout),
                ("IDPInit", c.idp_init),
                ("EncryptedResponses", c.encrypted_responses),
                ("AllowSHA1Signatures", c.allow_sha1_signatures),
            ] {
                if on {
                    put(k, Some(&"true".to_string()));
                }
            }
            "SAML"
        }
        IdentityProviderKind::Oidc => {
            put("client_id", c.client_id.as_ref());
            put("client_secret", c.client_secret.as_ref());
            put("authorize_scopes", c.authorize_scopes.as_ref());
            put("oidc_issuer", c.oidc_issuer.as_ref());
            put("attributes_request_method", c.attributes_request_method.as_ref());
            put("authorize_url", c.authorize_url.as_ref());
            put("token_url", c.token_url.as_ref());
            put("attributes_url", c.attributes_url.as_ref());
            put("jwks_uri", c.jwks_uri.as_ref());
            "OIDC"
        }
    };
    Ok(ProviderSpec {
        name: c.name.clone(),
        provider_type: provider_type.into(),
        details,
        attribute_mapping: c.attribute_mapping.clone(),
        idp_identifiers: c.idp_identifiers.clone(),
    })
}

/// A configured resource server's scopes as the API takes them.
pub fn resource_server_scopes(r: &ResourceServerConfig) -> Vec<ResourceServerScope> {
    r.scopes
        .iter()
        .map(|s| ResourceServerScope { scope_name: s.name.clone(), scope_description: s.description.clone() })
        .collect()
}

/// An app client's OAuth settings as configured (`AllowedOAuthFlowsUserPoolClient` is on when it
/// names a flow).
pub fn client_oauth(c: &UserPoolClientConfig) -> ClientOAuth {
    ClientOAuth {
        callback_urls: c.callback_urls.clone(),
        logout_urls: c.logout_urls.clone(),
        default_redirect_uri: None,
        allowed_oauth_flows: c.allowed_oauth_flows.clone(),
        allowed_oauth_scopes: c.allowed_oauth_scopes.clone(),
        allowed_oauth_flows_user_pool_client: !c.allowed_oauth_flows.is_empty(),
    }
}

/// `aws.region`, every `user_pools[i].id` and `console.user_pool_id` are pool-id shaped; domains
/// are prefixes Cognito would take, each once; OAuth settings pass the API's checks.
pub fn validate_config(config: &Config) -> Result<(), ConfigError> {
    let region = &config.aws.region;
    if !is_pool_id(&format!("{region}_x")) {
        return Err(ConfigError::new("aws.region", format!("{region:?} is not a region name such as us-east-1")));
    }
    for (i, p) in config.user_pools.iter().enumerate() {
        if !is_pool_id(&p.id) {
            return Err(ConfigError::new(
                format!("user_pools[{i}].id"),
                format!("{:?} must look like <region>_<letters and digits>", p.id),
            ));
        }
        if let Some(d) = &p.domain {
            check_domain(d).map_err(|m| ConfigError::new(format!("user_pools[{i}].domain"), m))?;
            if config.user_pools[..i].iter().any(|o| o.domain.as_ref() == Some(d)) {
                return Err(ConfigError::new(format!("user_pools[{i}].domain"), format!("{d:?} is given twice")));
            }
        }
        for (j, idp) in p.identity_providers.iter().enumerate() {
            let key = format!("user_pools[{i}].identity_providers[{j}]");
            let spec = provider_spec(idp).map_err(|m| ConfigError::new(&key, m))?;
            check_spec(&spec).map_err(|(_, m)| ConfigError::new(&key, m))?;
            if p.identity_providers[..j].iter().any(|o| o.name == idp.name) {
                return Err(ConfigError::new(&key, format!("{:?} is given twice", idp.name)));
            }
        }
        for (j, r) in p.resource_servers.iter().enumerate() {
            let key = format!("user_pools[{i}].resource_servers[{j}]");
            check_resource_server(&r.identifier, &r.name, &resource_server_scopes(r))
                .map_err(|m| ConfigError::new(&key, m))?;
            if p.resource_servers[..j].iter().any(|o| o.identifier == r.identifier) {
                return Err(ConfigError::new(&key, format!("{:?} is given twice", r.identifier)));
            }
        }
        for (j, c) in p.clients.iter().enumerate() {
            client_oauth(c)
                .check(c.secret.is_some())
                .map_err(|(_, m)| ConfigError::new(format!("user_pools[{i}].clients[{j}]"), m))?;
        }
    }
    if let Some(pool_id) = &config.console.user_pool_id {
        if !is_pool_id(pool_id) {
            return Err(ConfigError::new(
                "console.user_pool_id",
                format!("{pool_id:?} must look like <region>_<letters and digits>"),
            ));
        }
    }
    Ok(())
}
