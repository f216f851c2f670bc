//! The configuration this domain checks: the identity pools the console offers.

use super::is_identity_id;
use crate::config::{Config, ConfigError};

/// Every `console.identity_pool_ids` entry is an identity pool id.
pub fn validate_config(config: &Config) -> Result<(), ConfigError> {
    for (i, id) in config.console.identity_pool_ids.iter().enumerate() {
        if !is_identity_id(id) {
            return Err(ConfigError::new(
                format!("console.identity_pool_ids[{i}]"),
                format!("{id:?} must be <region>:<uuid>"),
            ));
        }
    }
    Ok(())
}
