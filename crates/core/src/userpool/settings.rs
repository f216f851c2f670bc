//! The configuration this domain checks: pool ids, and the region they start with.

use super::is_pool_id;
use crate::config::{Config, ConfigError};

/// `aws.region`, every `user_pools[i].id` and `console.user_pool_id` are pool-id shaped.
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
