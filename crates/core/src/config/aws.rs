//! The AWS-compatible doors' settings (user pools, identity pools, IAM and STS, CloudTrail).

use super::{err, is_origin, Config, ConfigError};
use serde::{Deserialize, Serialize};

/// The AWS-compatible doors (the Cognito user-pool API): region, account, admin credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Region of user pools created through the API (their ids start with it).
    pub region: String,
    /// Account id in ARNs.
    pub account_id: String,
    /// A second mount point of the AWS JSON door besides `/` (e.g. `/aws`).
    pub path_prefix: Option<String>,
    /// Credentials whose SigV4 signatures admit admin actions.
    pub admin_credentials: Vec<AwsCredentialConfig>,
    /// Overrides every app client's AuthSessionValidity (seconds a challenge session lives).
    pub session_seconds: Option<i64>,
    /// Answers one challenge session accepts before it ends.
    pub max_challenge_answers: u32,
    /// Browser origins the AWS JSON door (`POST /`: user pools, identity pools, STS, CloudTrail)
    /// and the pools' discovery and JWKS answer CORS for: `["*"]` (any, as Cognito does; never
    /// with credentials), a list of origins, or `[]` (none).
    pub cors_allowed_origins: Vec<String>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            path_prefix: None,
            admin_credentials: Vec::new(),
            session_seconds: None,
            max_challenge_answers: 3,
            cors_allowed_origins: vec!["*".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentialConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Account, mount point, admin credentials, Cognito session bounds, CORS. The region is checked by
/// the user pools, whose ids start with it (`userpool::validate_config`).
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    let a = &config.aws;
    if a.account_id.len() != 12 || !a.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("aws.account_id", "must be 12 digits"));
    }
    if let Some(p) = &a.path_prefix {
        if !p.starts_with('/') || p.len() < 2 {
            return Err(err("aws.path_prefix", "must start with / and name a path (e.g. /aws)"));
        }
    }
    for (i, c) in a.admin_credentials.iter().enumerate() {
        if c.access_key_id.len() < 16 || !c.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err(
                format!("aws.admin_credentials[{i}].access_key_id"),
                "must be at least 16 letters and digits",
            ));
        }
        if c.secret_access_key.len() < 16 {
            return Err(err(format!("aws.admin_credentials[{i}].secret_access_key"), "must be at least 16 characters"));
        }
    }
    if a.session_seconds.is_some_and(|s| !(1..=900).contains(&s)) {
        return Err(err("aws.session_seconds", "must be between 1 and 900"));
    }
    if a.max_challenge_answers == 0 {
        return Err(err("aws.max_challenge_answers", "must be at least 1"));
    }
    for (i, o) in a.cors_allowed_origins.iter().enumerate() {
        if o != "*" && !is_origin(o) {
            return Err(err(
                format!("aws.cors_allowed_origins[{i}]"),
                format!("{o:?} is not \"*\" or an origin (scheme://host[:port], no path)"),
            ));
        }
    }
    Ok(())
}
