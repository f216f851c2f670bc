//! The configuration this domain checks: pool ids, and the region they start with; domains and
//! the app clients' OAuth settings, by the rules the API checks them with.

use super::{check_domain, is_pool_id, ClientOAuth};
use crate::config::{Config, ConfigError, UserPoolClientConfig};

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
