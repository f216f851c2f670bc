//! The configuration this domain checks: the roles made at start, whose documents are parsed by
//! the IAM policy language as the IAM API parses them.

use crate::config::{Config, ConfigError};

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(key, reason)
}

/// Role names as IAM allows them, each defined once, and every policy document checked as the
/// IAM API checks it when written: an error gives the document's key and the fault's line and
/// column in the document (and in the file, when known).
pub fn validate_config(config: &Config) -> Result<(), ConfigError> {
    use crate::policy::{Policy, PolicyError, PolicyKind};
    let name_ok = |n: &str, max: usize| {
        (1..=max).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    };
    let describe = |e: PolicyError, first_line: Option<&usize>| {
        let at = match first_line {
            Some(first) => {
                format!("line {}, column {} of the document; line {} of the file", e.line, e.column, first + e.line - 1)
            }
            None => format!("line {}, column {}", e.line, e.column),
        };
        if e.path.is_empty() {
            format!("{} ({at})", e.reason)
        } else {
            format!("{}: {} ({at})", e.path, e.reason)
        }
    };
    let mut names = std::collections::HashSet::new();
    for (i, r) in config.roles.iter().enumerate() {
        let k = |f: &str| format!("roles[{i}].{f}");
        if !name_ok(&r.name, 64) {
            return Err(err(k("name"), format!("{:?} must be 1 to 64 of letters, digits and +=,.@_-", r.name)));
        }
        if !names.insert(r.name.to_ascii_lowercase()) {
            return Err(err(k("name"), format!("{:?} is defined twice (role names ignore case, as IAM's)", r.name)));
        }
        Policy::parse(&r.trust_policy, PolicyKind::Trust)
            .map_err(|e| err(k("trust_policy"), describe(e, r.source_lines.get("trust_policy"))))?;
        for (name, text) in &r.policies {
            let key = k(&format!("policies.{name}"));
            if !name_ok(name, 128) {
                return Err(err(key, "a policy name is 1 to 128 of letters, digits and +=,.@_-"));
            }
            Policy::parse(text, PolicyKind::Identity)
                .map_err(|e| err(key.clone(), describe(e, r.source_lines.get(&format!("policies.{name}")))))?;
        }
    }
    Ok(())
}
