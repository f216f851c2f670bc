//! Cognito-compatible identity pools (`X-Amz-Target: AWSCognitoIdentityService.*`, AWS JSON 1.1):
//! pools and their roles, identities (one stable id per pool and login), and the two ways from a
//! login to temporary credentials:
//!
//! - the enhanced flow, `GetCredentialsForIdentity`: the logins are verified, the pool picks the
//!   role (a role mapping by token or by rules on claims, else the authenticated role), that
//!   role's trust policy is evaluated for the principal `cognito-identity.amazonaws.com` with the
//!   condition keys `cognito-identity.amazonaws.com:aud` (the pool id), `:sub` (the identity id)
//!   and `:amr`, and credentials are issued as STS issues them. Like AWS it also writes an
//!   `AssumeRoleWithWebIdentity` audit record (event source `sts.amazonaws.com`);
//! - the basic flow, `GetOpenIdToken`: an OpenID token of `https://cognito-identity.amazonaws.com`
//!   signed by this server's keys, which STS `AssumeRoleWithWebIdentity` then takes.
//!
//! `Logins` keys name the token's provider as AWS forms it: the token's `iss` without its scheme,
//! and for user pools also `cognito-idp.<region>.amazonaws.com/<pool-id>`. Admin actions need a
//! SigV4 signature by admin credentials (verified by the adapter); `GetId`,
//! `GetCredentialsForIdentity` and `GetOpenIdToken` need none, as on AWS. Every call is audited
//! (event source `cognito-identity.amazonaws.com`) with its decision trail.

mod flows;
mod logins;
mod lookup;
mod pools;
mod settings;

use crate::audit::{Principal, RequestContext};
use crate::iam::{Call, CallerIdentity, Iam};
use crate::kernel::Kernel;
use crate::model::Document;
use crate::operation::{Filing, Operation};
use crate::refusal::{Reason, Refusal};
use crate::store::{Change, StoreError};
use crate::userpool::UserPools;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use settings::validate_config;

/// Cognito-compatible identity pools over their own records (pools, identities and their
/// logins). Logins are verified and roles assumed by asking IAM; a user pool login's membership
/// and group roles are asked of user pools.
pub struct IdentityPools {
    kernel: Arc<Kernel>,
    iam: Arc<Iam>,
    user_pools: Arc<UserPools>,
}

impl IdentityPools {
    pub(crate) fn new(kernel: Arc<Kernel>, iam: Arc<Iam>, user_pools: Arc<UserPools>) -> Self {
        Self { kernel, iam, user_pools }
    }
}

/// The `eventSource` of this door's audit records, as CloudTrail names Cognito identity's.
pub const EVENT_SOURCE: &str = "cognito-identity.amazonaws.com";
/// The SigV4 signing name admin requests must be scoped to.
pub const SIGNING_NAME: &str = "cognito-identity";
/// The `X-Amz-Target` prefix of the API.
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";
/// The role session name of the enhanced flow's credentials, as AWS names it.
pub const SESSION_NAME: &str = "CognitoIdentityCredentials";
/// AWS's answer when the pool's roles cannot be used (missing, unknown, or not trusting the pool).
pub const INVALID_CONFIGURATION: &str = "Invalid identity pool configuration. Check assigned IAM roles for this pool.";
/// Lifetime of `GetOpenIdToken` tokens (AWS: 10 minutes).
pub const OPEN_ID_TOKEN_TTL: i64 = 600;

/// Actions that need no signature, as on AWS (the logins are the credential).
pub const PUBLIC_ACTIONS: &[&str] = &["GetId", "GetCredentialsForIdentity", "GetOpenIdToken"];

/// Every action this door implements.
pub const ACTIONS: &[&str] = &[
    "CreateIdentityPool",
    "DescribeIdentityPool",
    "UpdateIdentityPool",
    "ListIdentityPools",
    "DeleteIdentityPool",
    "SetIdentityPoolRoles",
    "GetIdentityPoolRoles",
    "DescribeIdentity",
    "GetId",
    "GetCredentialsForIdentity",
    "GetOpenIdToken",
];

const KIND_POOL: &str = "identity_pool";
const KIND_IDENTITY: &str = "identity_pool_identity";
const KIND_LOGIN: &str = "identity_pool_login";

// --- the API's shapes ---

/// A user pool (and app client) whose id tokens an identity pool takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CognitoIdentityProvider {
    /// `cognito-idp.<region>.amazonaws.com/<pool-id>`, or the pool's issuer without its scheme.
    #[serde(default)]
    pub provider_name: String,
    /// The app client the tokens must be for (`aud`); absent: any client of the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Also checks that the user still exists, is enabled and has not been signed out.
    #[serde(default)]
    pub server_side_token_check: bool,
}

/// An identity pool, in the API's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityPool {
    pub identity_pool_id: String,
    pub identity_pool_name: String,
    pub allow_unauthenticated_identities: bool,
    #[serde(default)]
    pub allow_classic_flow: bool,
    /// Provider name (`iss` without scheme) → the app id its tokens are for (`aud`).
    #[serde(default)]
    pub supported_login_providers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_provider_name: Option<String>,
    #[serde(default, rename = "OpenIdConnectProviderARNs")]
    pub open_id_connect_provider_arns: Vec<String>,
    #[serde(default)]
    pub cognito_identity_providers: Vec<CognitoIdentityProvider>,
    #[serde(default, rename = "SamlProviderARNs")]
    pub saml_provider_arns: Vec<String>,
    #[serde(default)]
    pub identity_pool_tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoleMappingType {
    /// The role from the token's `cognito:preferred_role` / `cognito:roles` claims.
    Token,
    /// The role of the first rule whose claim matches.
    Rules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AmbiguousRoleResolution {
    AuthenticatedRole,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    NotEqual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRule {
    #[serde(rename = "Claim")]
    pub claim: String,
    #[serde(rename = "MatchType")]
    pub match_type: MatchType,
    #[serde(rename = "Value")]
    pub value: String,
    #[serde(rename = "RoleARN")]
    pub role_arn: String,
}

impl MappingRule {
    /// Whether the rule matches the claims: a list claim (`cognito:groups`) matches when any
    /// of its values does (`NotEqual`: when none equals); an absent claim matches nothing.
    pub fn matches(&self, claims: &Map<String, Value>) -> bool {
        let values: Vec<String> = match claims.get(&self.claim) {
            None | Some(Value::Null) => return false,
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            Some(other) => vec![other.to_string()],
        };
        let v = self.value.as_str();
        match self.match_type {
            MatchType::Equals => values.iter().any(|x| x == v),
            MatchType::Contains => values.iter().any(|x| x.contains(v)),
            MatchType::StartsWith => values.iter().any(|x| x.starts_with(v)),
            MatchType::NotEqual => !values.is_empty() && values.iter().all(|x| x != v),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RulesConfiguration {
    pub rules: Vec<MappingRule>,
}

/// How the users of one provider are given roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleMapping {
    #[serde(rename = "Type")]
    pub kind: RoleMappingType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_role_resolution: Option<AmbiguousRoleResolution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_configuration: Option<RulesConfiguration>,
}

/// What is stored of a pool: its API shape and its roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PoolRecord {
    pub pool: IdentityPool,
    /// `authenticated` / `unauthenticated` → role ARN.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// Provider name (optionally `:<client id>` for user pools) → mapping.
    #[serde(default)]
    pub role_mappings: BTreeMap<String, RoleMapping>,
    pub created_at: i64,
}

/// A login linked to an identity: the provider as AWS names it and the token's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LinkedLogin {
    pub provider: String,
    pub subject: String,
}

/// An identity of a pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub identity_id: String,
    pub pool_id: String,
    #[serde(default)]
    pub logins: Vec<LinkedLogin>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What [`IdentityPools::ensure_identity_pool`] makes (the demo's identity pools, configuration).
#[derive(Debug, Clone, Default)]
pub struct IdentityPoolSpec {
    /// The pool's id (`<region>:<uuid>`), when the caller chose it (so that several instances
    /// agree); else the pool is found by `name`, or made with a new id.
    pub identity_pool_id: Option<String>,
    pub name: String,
    pub allow_unauthenticated: bool,
    /// `(user pool id, app client id)`: the user pools whose id tokens the pool takes (named
    /// `cognito-idp.<region>.amazonaws.com/<pool-id>`, server-side token check on).
    pub user_pools: Vec<(String, String)>,
    /// `arn:aws:iam::<account>:oidc-provider/<issuer without scheme>` of configured upstream providers.
    pub open_id_connect_provider_arns: Vec<String>,
    pub authenticated_role_arn: Option<String>,
    pub unauthenticated_role_arn: Option<String>,
    pub role_mappings: BTreeMap<String, RoleMapping>,
}

// --- ids and names ---

/// `<region>:<uuid>`, the shape of identity pool and identity ids.
pub(crate) fn new_id(region: &str) -> String {
    format!("{region}:{}", crate::secrets::uuid_v4())
}

/// Whether `id` has the shape AWS gives identity pool and identity ids (`[\w-]+:[0-9a-f-]+`).
pub fn is_identity_id(id: &str) -> bool {
    let Some((region, rest)) = id.split_once(':') else { return false };
    (1..=55).contains(&id.len())
        && !region.is_empty()
        && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
}

/// The provider name AWS gives a user pool: `cognito-idp.<region>.amazonaws.com/<pool-id>`.
pub fn user_pool_provider_name(user_pool_id: &str) -> String {
    let region = user_pool_id.split('_').next().unwrap_or_default();
    format!("cognito-idp.{region}.amazonaws.com/{user_pool_id}")
}

/// The user pool id a provider name (either form) or issuer names, if it names one.
pub(crate) fn user_pool_of(name: &str) -> Option<&str> {
    let last = name.trim_end_matches('/').rsplit('/').next()?;
    (name.contains('/') && crate::pool_names::is_pool_id(last)).then_some(last)
}

/// The OIDC provider an IAM OIDC provider ARN names (`arn:aws:iam::<account>:oidc-provider/<name>`).
pub(crate) fn oidc_provider_of(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (_, resource) = rest.split_once(':')?;
    resource.strip_prefix("oidc-provider/").filter(|n| !n.is_empty())
}

// --- plumbing shared by the actions ---

pub(crate) fn invalid_parameter(call: &mut Call, check: &str, message: impl Into<String>) -> Refusal {
    call.refuse_plainly(Reason::InvalidParameter, check, message)
}

/// Keeps a refusal's trail (the checks that led to it) under another reason and message.
pub(crate) fn recode(mut e: Refusal, reason: Reason, message: impl Into<String>) -> Refusal {
    e.reason = reason;
    e.message = message.into();
    e
}

/// Parses an action's input, naming what is wrong.
pub(crate) fn input<T: DeserializeOwned>(body: &Value, call: &mut Call) -> Result<T, Refusal> {
    serde_json::from_value(body.clone())
        .map_err(|e| invalid_parameter(call, "request", format!("1 validation error detected: {e}")))
}

/// A required member, or AWS's validation message naming it.
pub(crate) fn need<'a>(v: &'a Option<String>, member: &str, call: &mut Call) -> Result<&'a str, Refusal> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => {
            let mut name = member.to_string();
            if let Some(f) = name.get_mut(0..1) {
                f.make_ascii_lowercase();
            }
            Err(invalid_parameter(
                call,
                "request",
                format!(
                    "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
                ),
            ))
        }
    }
}

pub(crate) fn from_doc<T: DeserializeOwned>(d: Document) -> Result<T, Refusal> {
    serde_json::from_value(d.body)
        .map_err(|e| Refusal::new(Reason::Unavailable, format!("stored {} {:?} is malformed: {e}", d.kind, d.id)))
}

/// The request as the audit keeps it: login tokens hidden, their providers kept.
fn redact(body: &Value) -> Value {
    let mut v = body.clone();
    if let Some(Value::Object(logins)) = v.get_mut("Logins") {
        for t in logins.values_mut() {
            *t = json!("HIDDEN_DUE_TO_SECURITY_REASONS");
        }
    }
    v
}

/// What the audit keeps of an answer: ids, an access key id and expiry; never a secret or token.
fn audit_response(action: &str, v: &Value) -> Value {
    match action {
        "GetId" | "GetOpenIdToken" => json!({ "identityId": v["IdentityId"] }),
        "GetCredentialsForIdentity" => json!({
            "identityId": v["IdentityId"],
            "credentials": { "accessKeyId": v["Credentials"]["AccessKeyId"], "expiration": v["Credentials"]["Expiration"] },
        }),
        "CreateIdentityPool" | "UpdateIdentityPool" => {
            json!({ "identityPoolId": v["IdentityPoolId"], "identityPoolName": v["IdentityPoolName"] })
        }
        _ => Value::Null,
    }
}

impl IdentityPools {
    /// Runs one identity-pool action. `caller` is who signed the request (service
    /// `cognito-identity`, [`crate::iam::Iam::verify_admin_signature`]); actions other than
    /// [`PUBLIC_ACTIONS`] need the admin credentials. Every call is audited with its trail.
    #[crate::entry_point]
    pub async fn identity_pool_action(
        &self,
        action: &str,
        body: &Value,
        caller: Option<&CallerIdentity>,
        ctx: &RequestContext,
    ) -> Result<Value, Refusal> {
        let admin = matches!(caller, Some(CallerIdentity::Admin { .. }));
        let ctx = RequestContext { event_source: EVENT_SOURCE.into(), ..ctx.clone() };
        let read_only = action.starts_with("Describe")
            || action.starts_with("List")
            || matches!(action, "GetIdentityPoolRoles" | "GetCredentialsForIdentity" | "GetOpenIdToken");
        let op = Operation::new(action, &ctx, redact(body)).read_only(read_only).filed(Filing::Management);
        let decide = async |call: &mut Call| {
            call.admit_action(action, ACTIONS, PUBLIC_ACTIONS, admin)?;
            if !body.is_object() {
                Err(call.refuse_plainly(
                    Reason::MalformedRequest,
                    "request",
                    "Start of structure or map found where not expected.",
                ))
            } else {
                self.identity_dispatch(action, body, call, &ctx).await
            }
        };
        self.kernel.run(op, decide, |v| audit_response(action, v)).await
    }

    async fn identity_dispatch(
        &self,
        action: &str,
        body: &Value,
        call: &mut Call,
        ctx: &RequestContext,
    ) -> Result<Value, Refusal> {
        match action {
            "CreateIdentityPool" => self.create_identity_pool(input(body, call)?, call).await,
            "DescribeIdentityPool" => self.describe_identity_pool(input(body, call)?, call).await,
            "UpdateIdentityPool" => self.update_identity_pool(input(body, call)?, call).await,
            "ListIdentityPools" => self.list_identity_pools(input(body, call)?, call).await,
            "DeleteIdentityPool" => self.delete_identity_pool(input(body, call)?, call).await,
            "SetIdentityPoolRoles" => self.set_identity_pool_roles(input(body, call)?, call).await,
            "GetIdentityPoolRoles" => self.get_identity_pool_roles(input(body, call)?, call).await,
            "DescribeIdentity" => self.describe_identity(input(body, call)?, call).await,
            "GetId" => self.get_id(input(body, call)?, call).await,
            "GetCredentialsForIdentity" => self.get_credentials_for_identity(input(body, call)?, call, ctx).await,
            "GetOpenIdToken" => self.get_open_id_token(input(body, call)?, call).await,
            other => Err(call.refuse(
                Reason::UnknownOperation,
                "action",
                format!("action {other:?} is not implemented"),
                "Unknown operation",
            )),
        }
    }

    /// The ARN CloudTrail names an identity pool by.
    pub fn identity_pool_arn(&self, pool_id: &str) -> String {
        let region = pool_id.split(':').next().unwrap_or(&self.kernel.config.aws.region);
        format!("arn:aws:cognito-identity:{region}:{}:identitypool/{pool_id}", self.kernel.config.aws.account_id)
    }

    /// An identity pool by id.
    #[crate::entry_point]
    pub async fn identity_pool(&self, pool_id: &str) -> Result<Option<IdentityPool>, StoreError> {
        match self.kernel.store.get_document(KIND_POOL, pool_id).await? {
            Some(d) => serde_json::from_value::<PoolRecord>(d.body)
                .map(|r| Some(r.pool))
                .map_err(|e| StoreError::Backend(e.to_string())),
            None => Ok(None),
        }
    }

    /// Makes (or, when it exists, brings up to date) an identity pool with its providers and
    /// roles, as the demo and configuration want it, with the same checks as the API. The pool
    /// is the one of `spec.identity_pool_id` when given, else the one named `spec.name`.
    #[crate::entry_point]
    pub async fn ensure_identity_pool(&self, spec: &IdentityPoolSpec) -> anyhow::Result<IdentityPool> {
        let mut existing: Option<PoolRecord> = None;
        if let Some(id) = &spec.identity_pool_id {
            anyhow::ensure!(is_identity_id(id), "identity pool id {id:?} must be <region>:<uuid>");
            if let Some(d) = self.kernel.store.get_document(KIND_POOL, id).await? {
                existing = Some(serde_json::from_value(d.body)?);
            }
        } else {
            let mut after: Option<String> = None;
            'pages: loop {
                let docs = self.kernel.store.list_documents(KIND_POOL, None, after.as_deref(), 100).await?;
                let Some(last) = docs.last() else { break };
                after = Some(last.id.clone());
                for d in docs {
                    let r: PoolRecord = serde_json::from_value(d.body)?;
                    if r.pool.identity_pool_name == spec.name {
                        existing = Some(r);
                        break 'pages;
                    }
                }
            }
        }
        let now = self.kernel.now();
        let pool = IdentityPool {
            identity_pool_id: existing
                .as_ref()
                .map(|r| r.pool.identity_pool_id.clone())
                .or_else(|| spec.identity_pool_id.clone())
                .unwrap_or_else(|| new_id(&self.kernel.config.aws.region)),
            identity_pool_name: spec.name.clone(),
            allow_unauthenticated_identities: spec.allow_unauthenticated,
            allow_classic_flow: true,
            supported_login_providers: BTreeMap::new(),
            developer_provider_name: None,
            open_id_connect_provider_arns: spec.open_id_connect_provider_arns.clone(),
            cognito_identity_providers: spec
                .user_pools
                .iter()
                .map(|(pool, client)| CognitoIdentityProvider {
                    provider_name: user_pool_provider_name(pool),
                    client_id: Some(client.clone()),
                    server_side_token_check: true,
                })
                .collect(),
            saml_provider_arns: Vec::new(),
            identity_pool_tags: existing.as_ref().map(|r| r.pool.identity_pool_tags.clone()).unwrap_or_default(),
        };
        let mut roles = BTreeMap::new();
        if let Some(a) = &spec.authenticated_role_arn {
            roles.insert("authenticated".to_string(), a.clone());
        }
        if let Some(u) = &spec.unauthenticated_role_arn {
            roles.insert("unauthenticated".to_string(), u.clone());
        }
        let record = PoolRecord {
            pool,
            roles,
            role_mappings: spec.role_mappings.clone(),
            created_at: existing.as_ref().map(|r| r.created_at).unwrap_or(now),
        };
        let mut call = Call::default();
        pools::check_pool(&record.pool, &mut call)
            .map_err(|e| anyhow::anyhow!("identity pool {}: {}", spec.name, e.message))?;
        pools::check_roles(&record, &mut call)
            .map_err(|e| anyhow::anyhow!("identity pool {}: {}", spec.name, e.message))?;
        // One atomic update (also when another instance makes the same pool at the same time):
        // what the API set since (its tags, its age) is kept from the pool as stored.
        let id = record.pool.identity_pool_id.clone();
        let record = self
            .kernel
            .store
            .update_record::<PoolRecord, _>(KIND_POOL, &id, &id, now, |stored| {
                let mut r = record.clone();
                if let Some(stored) = stored {
                    r.pool.identity_pool_tags = stored.pool.identity_pool_tags;
                    r.created_at = stored.created_at;
                }
                (Change::Put(r.clone()), r)
            })
            .await?;
        Ok(record.pool)
    }

    pub(crate) async fn pool_record(&self, pool_id: &str, call: &mut Call) -> Result<PoolRecord, Refusal> {
        call.resources.push(json!({
            "accountId": self.kernel.config.aws.account_id,
            "type": "AWS::Cognito::IdentityPool",
            "ARN": self.identity_pool_arn(pool_id),
        }));
        match self.kernel.store.get_document(KIND_POOL, pool_id).await? {
            Some(d) => from_doc(d),
            None => Err(call.refuse_plainly(
                Reason::NotFound,
                "identity pool",
                format!("IdentityPool '{pool_id}' not found."),
            )),
        }
    }

    /// Edits the stored pool `pool_id` in one atomic store update (concurrent edits of its other
    /// parts are kept); an error from `change` leaves it as it was.
    pub(crate) async fn update_pool_record(
        &self,
        pool_id: &str,
        call: &mut Call,
        mut change: impl FnMut(&mut PoolRecord, &mut Call) -> Result<(), Refusal> + Send,
    ) -> Result<PoolRecord, Refusal> {
        let outcome = self
            .kernel
            .store
            .update_record::<PoolRecord, _>(KIND_POOL, pool_id, pool_id, self.kernel.now(), |stored| match stored {
                None => (Change::Keep, None),
                Some(mut r) => match change(&mut r, call) {
                    Ok(()) => (Change::Put(r.clone()), Some(Ok(r))),
                    Err(e) => (Change::Keep, Some(Err(e))),
                },
            })
            .await?;
        outcome.unwrap_or_else(|| {
            Err(call.refuse_plainly(Reason::NotFound, "identity pool", format!("IdentityPool '{pool_id}' not found.")))
        })
    }

    /// Who the audit record of a call is about: the identity, known by its first login's user.
    pub(crate) fn identity_principal(call: &mut Call, identity_id: &str, login: Option<&logins::Login>) {
        call.principal = Some(match login {
            Some(l) => {
                let claims = &l.web.claims;
                let username = ["cognito:username", "username", "preferred_username", "email"]
                    .iter()
                    .find_map(|k| claims.get(*k).and_then(Value::as_str))
                    .unwrap_or(&l.web.subject);
                Principal {
                    user_id: identity_id.to_string(),
                    username: username.to_string(),
                    identity_provider: Some(l.provider.clone()),
                }
            }
            None => Principal {
                user_id: identity_id.to_string(),
                username: identity_id.to_string(),
                identity_provider: Some(crate::iam::COGNITO_IDENTITY_PROVIDER.to_string()),
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(claim: &str, m: MatchType, value: &str) -> MappingRule {
        MappingRule {
            claim: claim.into(),
            match_type: m,
            value: value.into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
        }
    }

    #[test]
    fn rules_match_claims_and_lists_of_claims() {
        let claims = json!({"cognito:groups": ["admins", "readers"], "email": "alice@example.com", "n": 3});
        let claims = claims.as_object().unwrap();
        assert!(rule("cognito:groups", MatchType::Contains, "admins").matches(claims));
        assert!(rule("cognito:groups", MatchType::Contains, "admin").matches(claims));
        assert!(rule("cognito:groups", MatchType::Equals, "readers").matches(claims));
        assert!(!rule("cognito:groups", MatchType::Equals, "admin").matches(claims));
        assert!(rule("cognito:groups", MatchType::StartsWith, "read").matches(claims));
        assert!(rule("cognito:groups", MatchType::NotEqual, "writers").matches(claims));
        assert!(!rule("cognito:groups", MatchType::NotEqual, "admins").matches(claims));
        assert!(rule("email", MatchType::Contains, "@example.com").matches(claims));
        assert!(rule("n", MatchType::Equals, "3").matches(claims));
        assert!(!rule("missing", MatchType::NotEqual, "x").matches(claims));
        assert!(!rule("missing", MatchType::Equals, "x").matches(claims));
    }

    #[test]
    fn ids_and_provider_names() {
        let id = new_id("ap-northeast-1");
        assert!(is_identity_id(&id), "{id}");
        assert!(!is_identity_id("ap-northeast-1_abc"));
        assert!(!is_identity_id("us-east-1:XYZ"));
        assert_eq!(
            user_pool_provider_name("ap-northeast-1_TbDemoPool"),
            "cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_TbDemoPool"
        );
        assert_eq!(
            user_pool_of("cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_Tb"),
            Some("ap-northeast-1_Tb")
        );
        assert_eq!(user_pool_of("127.0.0.1:8080/ap-northeast-1_Tb"), Some("ap-northeast-1_Tb"));
        assert_eq!(user_pool_of("127.0.0.1:8080/demo-idp"), None);
        assert_eq!(user_pool_of("ap-northeast-1_Tb"), None);
        assert_eq!(
            oidc_provider_of("arn:aws:iam::123456789012:oidc-provider/idp.example.com/x"),
            Some("idp.example.com/x")
        );
        assert_eq!(oidc_provider_of("arn:aws:iam::123456789012:role/x"), None);
    }

    #[test]
    fn pools_serialize_in_the_api_shape() {
        let p = IdentityPool {
            identity_pool_id: "us-east-1:0f".into(),
            identity_pool_name: "p".into(),
            allow_unauthenticated_identities: false,
            allow_classic_flow: false,
            supported_login_providers: BTreeMap::new(),
            developer_provider_name: None,
            open_id_connect_provider_arns: vec!["arn:aws:iam::1:oidc-provider/x".into()],
            cognito_identity_providers: vec![CognitoIdentityProvider {
                provider_name: "n".into(),
                client_id: Some("c".into()),
                server_side_token_check: false,
            }],
            saml_provider_arns: Vec::new(),
            identity_pool_tags: BTreeMap::new(),
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["OpenIdConnectProviderARNs"][0], "arn:aws:iam::1:oidc-provider/x");
        assert_eq!(v["CognitoIdentityProviders"][0]["ProviderName"], "n");
        assert_eq!(v["CognitoIdentityProviders"][0]["ServerSideTokenCheck"], false);
        let m: RoleMapping = serde_json::from_value(json!({
            "Type": "Rules", "AmbiguousRoleResolution": "Deny",
            "RulesConfiguration": {"Rules": [{"Claim": "c", "MatchType": "Equals", "Value": "v", "RoleARN": "arn"}]}
        }))
        .unwrap();
        assert_eq!(m.kind, RoleMappingType::Rules);
        assert_eq!(m.rules_configuration.unwrap().rules[0].role_arn, "arn");
    }
}
