//! The admin actions: identity pools (create, describe, update, list, delete), their roles and
//! role mappings, and `DescribeIdentity`. Configuration is checked when written.

use super::*;
use crate::iam::role_name_of;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PoolInput {
    identity_pool_id: Option<String>,
    identity_pool_name: Option<String>,
    allow_unauthenticated_identities: Option<bool>,
    allow_classic_flow: Option<bool>,
    #[serde(default)]
    supported_login_providers: BTreeMap<String, String>,
    developer_provider_name: Option<String>,
    #[serde(default, rename = "OpenIdConnectProviderARNs")]
    open_id_connect_provider_arns: Vec<String>,
    #[serde(default)]
    cognito_identity_providers: Vec<CognitoIdentityProvider>,
    #[serde(default, rename = "SamlProviderARNs")]
    saml_provider_arns: Vec<String>,
    #[serde(default)]
    identity_pool_tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PoolIdInput {
    identity_pool_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListInput {
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RolesInput {
    identity_pool_id: Option<String>,
    roles: Option<BTreeMap<String, String>>,
    #[serde(default)]
    role_mappings: BTreeMap<String, RoleMapping>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct IdentityIdInput {
    identity_id: Option<String>,
}

fn valid_pool_name(n: &str) -> bool {
    (1..=128).contains(&n.chars().count())
        && n.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_+=,.@-".contains(c))
}

fn valid_client_id(c: &str) -> bool {
    (1..=128).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks a pool's configuration as the API takes it.
pub(crate) fn check_pool(p: &IdentityPool, call: &mut Call) -> Result<(), Refusal> {
    if !valid_pool_name(&p.identity_pool_name) {
        return Err(invalid_parameter(
            call,
            "pool name",
            format!(
                "1 validation error detected: Value '{}' at 'identityPoolName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w\\s+=,.@-]+",
                p.identity_pool_name
            ),
        ));
    }
    if !p.saml_provider_arns.is_empty() {
        return Err(invalid_parameter(call, "providers", "SAML providers are not supported by this server."));
    }
    if p.developer_provider_name.is_some() {
        return Err(invalid_parameter(
            call,
            "providers",
            "Developer-authenticated identities are not supported by this server.",
        ));
    }
    for c in &p.cognito_identity_providers {
        if user_pool_of(&c.provider_name).is_none() {
            return Err(invalid_parameter(
                call,
                "providers",
                format!(
                    "Invalid Cognito Identity Provider {:?}: expected cognito-idp.<region>.amazonaws.com/<user-pool-id> or the user pool's issuer without its scheme.",
                    c.provider_name
                ),
            ));
        }
        if let Some(id) = &c.client_id {
            if !valid_client_id(id) {
                return Err(invalid_parameter(
                    call,
                    "providers",
                    format!("Invalid ClientId {id:?} for {}.", c.provider_name),
                ));
            }
        }
    }
    for arn in &p.open_id_connect_provider_arns {
        if oidc_provider_of(arn).is_none() {
            return Err(invalid_parameter(
                call,
                "providers",
                format!("Invalid OpenIdConnectProviderARN {arn:?}: expected arn:aws:iam::<account>:oidc-provider/<issuer without scheme>."),
            ));
        }
    }
    for (k, v) in &p.supported_login_providers {
        if k.is_empty() || k.len() > 128 || v.is_empty() || v.len() > 128 {
            return Err(invalid_parameter(call, "providers", format!("Invalid SupportedLoginProviders entry {k:?}.")));
        }
    }
    Ok(())
}

/// Whether a role-mapping key names one of the pool's providers (a user pool as
/// `<provider name>` or `<provider name>:<app client id>`, in either form).
fn is_configured_provider(p: &IdentityPool, key: &str) -> bool {
    let cognito = p.cognito_identity_providers.iter().any(|c| {
        let base = c.client_id.as_deref().and_then(|id| key.strip_suffix(&format!(":{id}"))).unwrap_or(key);
        base == c.provider_name
            || (user_pool_of(base).is_some() && user_pool_of(base) == user_pool_of(&c.provider_name))
    });
    cognito
        || p.open_id_connect_provider_arns.iter().filter_map(|a| oidc_provider_of(a)).any(|n| n == key)
        || p.supported_login_providers.contains_key(key)
}

/// Checks a pool's roles and role mappings.
pub(crate) fn check_roles(r: &PoolRecord, call: &mut Call) -> Result<(), Refusal> {
    for (k, arn) in &r.roles {
        if k != "authenticated" && k != "unauthenticated" {
            return Err(invalid_parameter(
                call,
                "roles",
                format!("1 validation error detected: Value '{k}' at 'roles' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: (un)?authenticated]"),
            ));
        }
        if role_name_of(arn).is_none() {
            return Err(invalid_parameter(call, "roles", format!("Invalid {k} role ARN {arn:?}.")));
        }
    }
    if r.role_mappings.len() > 10 {
        return Err(invalid_parameter(call, "role mappings", "At most 10 role mappings may be given."));
    }
    for (key, m) in &r.role_mappings {
        if !is_configured_provider(&r.pool, key) {
            return Err(invalid_parameter(
                call,
                "role mappings",
                format!("{key} is not a valid RoleMapping ProviderName or is not a configured provider."),
            ));
        }
        if m.ambiguous_role_resolution.is_none() {
            return Err(invalid_parameter(
                call,
                "role mappings",
                format!("AmbiguousRoleResolution must be specified for the role mapping of {key} (Type {:?}).", m.kind),
            ));
        }
        if m.kind == RoleMappingType::Rules {
            let rules = m.rules_configuration.as_ref().map(|c| c.rules.as_slice()).unwrap_or_default();
            if rules.is_empty() || rules.len() > 25 {
                return Err(invalid_parameter(
                    call,
                    "role mappings",
                    format!(
                        "The role mapping of {key} has Type Rules and needs RulesConfiguration with 1 to 25 rules."
                    ),
                ));
            }
            for rule in rules {
                if !(1..=64).contains(&rule.claim.len()) || !(1..=128).contains(&rule.value.len()) {
                    return Err(invalid_parameter(
                        call,
                        "role mappings",
                        format!("A rule of {key} needs a Claim of 1 to 64 and a Value of 1 to 128 characters."),
                    ));
                }
                if role_name_of(&rule.role_arn).is_none() {
                    return Err(invalid_parameter(
                        call,
                        "role mappings",
                        format!("Invalid RoleARN {:?} in a rule of {key}.", rule.role_arn),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn page_token(last: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(last.as_bytes())
}

fn parse_page_token(t: &str) -> Option<String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(t).ok().and_then(|b| String::from_utf8(b).ok())
}

impl IdentityPools {
    fn pool_from_input(&self, req: PoolInput, id: String, call: &mut Call) -> Result<IdentityPool, Refusal> {
        let name = need(&req.identity_pool_name, "IdentityPoolName", call)?.to_string();
        let Some(allow_unauth) = req.allow_unauthenticated_identities else {
            return Err(invalid_parameter(
                call,
                "request",
                "1 validation error detected: Value null at 'allowUnauthenticatedIdentities' failed to satisfy constraint: Member must not be null",
            ));
        };
        let pool = IdentityPool {
            identity_pool_id: id,
            identity_pool_name: name,
            allow_unauthenticated_identities: allow_unauth,
            allow_classic_flow: req.allow_classic_flow.unwrap_or(false),
            supported_login_providers: req.supported_login_providers,
            developer_provider_name: req.developer_provider_name,
            open_id_connect_provider_arns: req.open_id_connect_provider_arns,
            cognito_identity_providers: req.cognito_identity_providers,
            saml_provider_arns: req.saml_provider_arns,
            identity_pool_tags: req.identity_pool_tags,
        };
        check_pool(&pool, call)?;
        Ok(pool)
    }

    pub(crate) async fn create_identity_pool(&self, req: PoolInput, call: &mut Call) -> Result<Value, Refusal> {
        let id = new_id(&self.kernel.config.aws.region);
        let pool = self.pool_from_input(req, id.clone(), call)?;
        let now = self.kernel.now();
        let record = PoolRecord { pool, roles: BTreeMap::new(), role_mappings: BTreeMap::new(), created_at: now };
        self.kernel.store.insert_document(&Document::new(KIND_POOL, &id, &id, &record, now, now)).await?;
        call.resources.push(json!({
            "accountId": self.kernel.config.aws.account_id,
            "type": "AWS::Cognito::IdentityPool",
            "ARN": self.identity_pool_arn(&id),
        }));
        call.trail.pass("create", format!("identity pool {id} ({:?})", record.pool.identity_pool_name));
        Ok(serde_json::to_value(&record.pool).expect("serializable"))
    }

    pub(crate) async fn describe_identity_pool(&self, req: PoolIdInput, call: &mut Call) -> Result<Value, Refusal> {
        let id = need(&req.identity_pool_id, "IdentityPoolId", call)?;
        let rec = self.pool_record(id, call).await?;
        Ok(serde_json::to_value(&rec.pool).expect("serializable"))
    }

    pub(crate) async fn update_identity_pool(&self, req: PoolInput, call: &mut Call) -> Result<Value, Refusal> {
        let id = need(&req.identity_pool_id, "IdentityPoolId", call)?.to_string();
        self.pool_record(&id, call).await?;
        let pool = self.pool_from_input(req, id.clone(), call)?;
        let rec = self
            .update_pool_record(&id, call, |rec, call| {
                rec.pool = pool.clone();
                // Role mappings must still name configured providers.
                check_roles(rec, call)
            })
            .await?;
        call.trail.pass("update", format!("identity pool {id}"));
        Ok(serde_json::to_value(&rec.pool).expect("serializable"))
    }

    pub(crate) async fn list_identity_pools(&self, req: ListInput, call: &mut Call) -> Result<Value, Refusal> {
        let max = match req.max_results {
            Some(n @ 1..=60) => n as u32,
            Some(n) => {
                return Err(invalid_parameter(
                    call,
                    "request",
                    format!("1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 60"),
                ))
            }
            None => {
                return Err(invalid_parameter(
                    call,
                    "request",
                    "1 validation error detected: Value null at 'maxResults' failed to satisfy constraint: Member must not be null",
                ))
            }
        };
        let after = match req.next_token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => Some(
                parse_page_token(t)
                    .ok_or_else(|| invalid_parameter(call, "pagination", "Invalid pagination token."))?,
            ),
            None => None,
        };
        let docs = self.kernel.store.list_documents(KIND_POOL, None, after.as_deref(), max + 1).await?;
        let more = docs.len() > max as usize;
        let mut pools = Vec::new();
        let mut last = None;
        for d in docs.into_iter().take(max as usize) {
            last = Some(d.id.clone());
            let r: PoolRecord = from_doc(d)?;
            pools.push(
                json!({ "IdentityPoolId": r.pool.identity_pool_id, "IdentityPoolName": r.pool.identity_pool_name }),
            );
        }
        let next = if more { last.map(|l| page_token(&l)) } else { None };
        Ok(json!({ "IdentityPools": pools, "NextToken": next }))
    }

    pub(crate) async fn delete_identity_pool(&self, req: PoolIdInput, call: &mut Call) -> Result<Value, Refusal> {
        let id = need(&req.identity_pool_id, "IdentityPoolId", call)?.to_string();
        self.pool_record(&id, call).await?;
        let n = self.kernel.store.delete_pool_documents(&id).await?;
        call.trail.pass("delete", format!("identity pool {id} with its identities and logins ({n} record(s))"));
        Ok(json!({}))
    }

    pub(crate) async fn set_identity_pool_roles(&self, req: RolesInput, call: &mut Call) -> Result<Value, Refusal> {
        let id = need(&req.identity_pool_id, "IdentityPoolId", call)?.to_string();
        let Some(roles) = req.roles else {
            return Err(invalid_parameter(
                call,
                "request",
                "1 validation error detected: Value null at 'roles' failed to satisfy constraint: Member must not be null",
            ));
        };
        let mut rec = self.pool_record(&id, call).await?;
        rec.roles = roles;
        rec.role_mappings = req.role_mappings;
        check_roles(&rec, call)?;
        let mut arns: Vec<&String> = rec.roles.values().collect();
        arns.extend(
            rec.role_mappings
                .values()
                .flat_map(|m| m.rules_configuration.iter().flat_map(|c| c.rules.iter().map(|r| &r.role_arn))),
        );
        for arn in arns {
            let exists = match role_name_of(arn) {
                Some(n) => self.iam.stored_role(n).await?.is_some(),
                None => false,
            };
            if exists {
                call.trail.pass("role", format!("{arn} exists"));
            } else {
                call.trail.skip("role", format!("{arn} does not exist (yet): credentials for it will be refused"));
            }
        }
        let rec = self
            .update_pool_record(&id, call, |stored, call| {
                stored.roles = rec.roles.clone();
                stored.role_mappings = rec.role_mappings.clone();
                check_roles(stored, call)
            })
            .await?;
        call.trail.pass(
            "roles",
            format!("identity pool {id}: {} role(s), {} role mapping(s)", rec.roles.len(), rec.role_mappings.len()),
        );
        Ok(json!({}))
    }

    pub(crate) async fn get_identity_pool_roles(&self, req: PoolIdInput, call: &mut Call) -> Result<Value, Refusal> {
        let id = need(&req.identity_pool_id, "IdentityPoolId", call)?;
        let rec = self.pool_record(id, call).await?;
        Ok(json!({
            "IdentityPoolId": rec.pool.identity_pool_id,
            "Roles": rec.roles,
            "RoleMappings": if rec.role_mappings.is_empty() { Value::Null } else { json!(rec.role_mappings) },
        }))
    }

    pub(crate) async fn describe_identity(&self, req: IdentityIdInput, call: &mut Call) -> Result<Value, Refusal> {
        let id = need(&req.identity_id, "IdentityId", call)?;
        let identity = self.identity(id, call).await?;
        let mut providers: Vec<&str> = identity.logins.iter().map(|l| l.provider.as_str()).collect();
        providers.dedup();
        Ok(json!({
            "IdentityId": identity.identity_id,
            "Logins": if providers.is_empty() { Value::Null } else { json!(providers) },
            "CreationDate": identity.created_at,
            "LastModifiedDate": identity.updated_at,
        }))
    }
}
