//! The configuration this domain checks: its routes, compiled as they will be served, and the
//! trusted proxies, which are networks as routes name them.

use super::compile_routes;
use super::rules::Network;
use crate::config::{Config, ConfigError};

/// The routes compile (paths, methods, hosts, networks) and `server.trusted_proxies` are
/// addresses or CIDR blocks.
pub fn validate_config(config: &Config) -> Result<(), ConfigError> {
    for (i, p) in config.server.trusted_proxies.iter().enumerate() {
        Network::parse(p).map_err(|e| ConfigError::new(format!("server.trusted_proxies[{i}]"), e))?;
    }
    compile_routes(&config.authorizer).map_err(|(key, e)| ConfigError::new(key, e))?;
    Ok(())
}
