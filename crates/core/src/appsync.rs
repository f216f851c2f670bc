//! AppSync-style authorization of GraphQL requests: each requested top-level field is the
//! resource `arn:aws:appsync:<region>:<account>:apis/<api-id>/types/<Type>/fields/<field>` of
//! the action `appsync:GraphQL`.
//!
//! Two ways in, as AppSync allows them:
//! - `AWS_IAM`: a SigV4 signature by temporary credentials (the adapter verifies it). The
//!   session's role supplies the identity policies (its inline policies) and the session its
//!   session policy; every field must be allowed by [`crate::policy::evaluate`]. Admin
//!   credentials are refused: they are not a role.
//! - `AMAZON_COGNITO_USER_POOLS`: a user-pool JWT (access or id token) in `Authorization`,
//!   verified here; any valid token of one of this server's user pools may call every field.
//!
//! Each request writes exactly one CloudTrail-shaped record (`GraphQL` from
//! `appsync.amazonaws.com`) whose trail holds the whole chain: who signed, which session of
//! which role (and identity pool identity), which policies were evaluated, and, for a denied
//! field, every statement with why it did or did not match.

use crate::audit::{Principal, RequestContext};
use crate::clock::rfc3339;
use crate::iam::{role_name_of, Iam, SessionClaims};
use crate::identity_pool::IdentityPools;
use crate::jose::{looks_like_jwt, token_label, UnverifiedJwt};
use crate::kernel::Kernel;
use crate::model::AuditQuery;
use crate::operation::{Call, Filing, Operation};
use crate::policy::{self, Decision, Effect, Policy, PolicyRef, PolicyScope, Request};
use crate::refusal::{Reason, Refusal};
use crate::trail::{Outcome, Step, Trail};
use crate::userpool::UserPools;
use serde_json::{json, Value};
use std::sync::Arc;

/// The CloudTrail `eventSource` of GraphQL records.
pub const EVENT_SOURCE: &str = "appsync.amazonaws.com";
/// The CloudTrail `eventName` of GraphQL records.
pub const EVENT_NAME: &str = "GraphQL";
/// The IAM action every field is authorized as.
pub const ACTION: &str = "appsync:GraphQL";
/// The web identity provider of identity pool sessions (and their OpenID tokens).
const COGNITO_IDENTITY_PROVIDER: &str = "cognito-identity.amazonaws.com";

/// AppSync's authorization of GraphQL fields. It keeps no records of its own: a session's role
/// and policies are asked of IAM, a user-pool token's pool of user pools, an identity's pool of
/// identity pools.
pub struct AppSync {
    kernel: Arc<Kernel>,
    iam: Arc<Iam>,
    user_pools: Arc<UserPools>,
    identity_pools: Arc<IdentityPools>,
}

impl AppSync {
    pub(crate) fn new(
        kernel: Arc<Kernel>,
        iam: Arc<Iam>,
        user_pools: Arc<UserPools>,
        identity_pools: Arc<IdentityPools>,
    ) -> Self {
        Self { kernel, iam, user_pools, identity_pools }
    }
}

/// Who sent a GraphQL request, as the adapter found it.
#[derive(Debug, Clone)]
pub enum GraphqlCaller {
    /// A SigV4 signature (service `appsync`) by temporary credentials, already verified.
    Session(Box<SessionClaims>),
    /// A SigV4 signature by admin credentials, already verified: refused, as they are no role.
    Admin { access_key_id: String },
    /// The `Authorization` header's value when it is not a SigV4 signature: a user-pool JWT
    /// (verified here; an optional `Bearer ` prefix is allowed).
    UserPoolToken(String),
    /// No credentials, or credentials that did not verify. `check` and `detail` go into the
    /// trail; `message` is what the client is told (never a token).
    Unauthenticated { check: String, detail: String, message: String },
}

/// `query` or `mutation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Query => "query",
            OperationKind::Mutation => "mutation",
        }
    }
    /// The root type its top-level fields belong to.
    pub fn type_name(self) -> &'static str {
        match self {
            OperationKind::Query => "Query",
            OperationKind::Mutation => "Mutation",
        }
    }
}

/// A parsed and validated GraphQL operation: what is asked, for authorization.
#[derive(Debug, Clone)]
pub struct GraphqlOperation {
    /// The API's id in its ARN (`apis/<api-id>`).
    pub api_id: String,
    pub kind: OperationKind,
    pub name: Option<String>,
    /// The requested top-level fields as (type, field), each once, in request order.
    pub fields: Vec<(String, String)>,
}

/// A request the adapter could not read as a valid operation (malformed body, syntax error,
/// a field the schema does not have): refused for `reason` once the caller is known.
#[derive(Debug, Clone)]
pub struct GraphqlRejection {
    /// [`Reason::MalformedRequest`] or [`Reason::InvalidParameter`].
    pub reason: Reason,
    pub message: String,
}

/// How the caller was authorized, in AppSync's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationType {
    AwsIam,
    UserPools,
}

impl AuthorizationType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationType::AwsIam => "AWS_IAM",
            AuthorizationType::UserPools => "AMAZON_COGNITO_USER_POOLS",
        }
    }
}

/// Every requested field is allowed.
#[derive(Debug, Clone)]
pub struct GraphqlAllowed {
    pub authorization_type: AuthorizationType,
    /// Who the caller is for the API's data (an item's `owner`): the user-pool username; for a
    /// role session the identity pool identity id, else `<role id>:<session name>`.
    pub owner: String,
    /// The request id the record was written under.
    pub request_id: String,
}

/// AppSync's message for a field the caller may not use.
pub fn not_authorized(type_name: &str, field: &str) -> String {
    format!("Not Authorized to access {field} on type {type_name}")
}

/// The message for a caller who may call nothing: AppSync names the first requested field.
fn refusal(operation: Result<&GraphqlOperation, &GraphqlRejection>) -> String {
    match operation.ok().and_then(|o| o.fields.first()) {
        Some((t, f)) => not_authorized(t, f),
        None => "You are not authorized to make this call.".to_string(),
    }
}

/// Refuses the call: `check` and `detail` go to the trail and to the record's message (the
/// denying statement), `message` to the client (it names only the field).
fn deny(call: &mut Call, reason: Reason, check: &str, detail: String, message: String) -> Refusal {
    let mut refusal = call.refuse(reason, check, detail.clone(), message);
    refusal.recorded_message = Some(detail);
    refusal
}

/// A refusal whose trail already holds its failing steps; `detail` is the record's message.
fn refused_with(reason: Reason, trail: Trail, detail: String, message: String) -> Refusal {
    Refusal { reason, message, trail, recorded_message: Some(detail) }
}

/// The call authenticates by `kind`, as its record says (`authorizationType`).
fn authorized_by(call: &mut Call, kind: AuthorizationType) {
    call.params.insert("authorizationType".into(), json!(kind.as_str()));
}

/// One field's policy evaluation, for the record's `additionalEventData.policyEvaluations`.
fn evaluated(call: &mut Call, evaluation: Value) {
    match call.event_data.entry("policyEvaluations").or_insert_with(|| json!([])) {
        Value::Array(all) => all.push(evaluation),
        other => *other = json!([evaluation]),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

impl AppSync {
    /// The ARN of a GraphQL API of this account and region.
    pub fn graphql_api_arn(&self, api_id: &str) -> String {
        format!("arn:aws:appsync:{}:{}:apis/{api_id}", self.kernel.config.aws.region, self.kernel.config.aws.account_id)
    }

    /// The ARN a field is authorized on: `<api arn>/types/<Type>/fields/<field>`.
    pub fn graphql_field_arn(&self, api_id: &str, type_name: &str, field: &str) -> String {
        format!("{}/types/{type_name}/fields/{field}", self.graphql_api_arn(api_id))
    }

    /// Decides one GraphQL request: authenticates `caller`, then (for a valid `operation`)
    /// authorizes each top-level field. Writes one audit record, allowed or not.
    #[crate::entry_point]
    pub async fn authorize_graphql(
        &self,
        caller: &GraphqlCaller,
        operation: Result<&GraphqlOperation, &GraphqlRejection>,
        ctx: &RequestContext,
    ) -> Result<GraphqlAllowed, Refusal> {
        let ctx = RequestContext { event_source: EVENT_SOURCE.into(), ..ctx.clone() };
        let op = operation.ok();
        let field_names: Vec<String> =
            op.map(|o| o.fields.iter().map(|(t, f)| format!("{t}.{f}")).collect()).unwrap_or_default();
        let mut request_parameters = json!({
            "apiId": op.map(|o| o.api_id.as_str()),
            "operation": op.map(|o| o.kind.as_str()),
            "operationName": op.and_then(|o| o.name.as_deref()),
            "fields": field_names,
        });
        if let GraphqlCaller::UserPoolToken(t) = caller {
            request_parameters["authorization"] = json!(token_label(t));
        }
        let read_only = op.is_some_and(|o| o.kind == OperationKind::Query);
        let record = Operation::new(EVENT_NAME, &ctx, request_parameters).read_only(read_only).filed(Filing::Data);
        let decide = async |call: &mut Call| {
            call.params.insert("authorizationType".into(), Value::Null);
            let result = self.graphql_decide(caller, operation, &ctx, call).await;
            let decision = if result.is_ok() { "allow" } else { "deny" };
            metrics::counter!("tokenbridge_graphql_decisions_total", "decision" => decision).increment(1);
            call.resources = op
                .map(|o| {
                    o.fields
                        .iter()
                        .map(|(t, f)| {
                            json!({
                                "accountId": self.kernel.config.aws.account_id,
                                "type": "AWS::AppSync::GraphQLApi",
                                "ARN": self.graphql_field_arn(&o.api_id, t, f),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            result
        };
        let mut allowed = self.kernel.run(record, decide, |_| Value::Null).await?;
        allowed.request_id = ctx.request_id.clone();
        Ok(allowed)
    }

    async fn graphql_decide(
        &self,
        caller: &GraphqlCaller,
        operation: Result<&GraphqlOperation, &GraphqlRejection>,
        ctx: &RequestContext,
        call: &mut Call,
    ) -> Result<GraphqlAllowed, Refusal> {
        let refused = || refusal(operation);
        match caller {
            GraphqlCaller::Unauthenticated { check, detail, message } => {
                Err(deny(call, Reason::NotAuthorized, check, detail.clone(), message.clone()))
            }
            GraphqlCaller::Admin { access_key_id } => {
                authorized_by(call, AuthorizationType::AwsIam);
                call.principal = Some(Principal {
                    user_id: access_key_id.clone(),
                    username: "tokenbridge-admin".into(),
                    identity_provider: None,
                });
                call.trail
                    .pass("authentication", format!("AWS_IAM: SigV4 signature by admin credentials {access_key_id}"));
                Err(deny(
                    call,
                    Reason::AccessDenied,
                    "role",
                    "admin credentials are not a role session: AWS_IAM authorization needs the temporary \
                     credentials of a role (STS AssumeRoleWithWebIdentity or an identity pool)"
                        .into(),
                    refused(),
                ))
            }
            GraphqlCaller::UserPoolToken(token) => {
                authorized_by(call, AuthorizationType::UserPools);
                let owner = self.graphql_user_pool_caller(token, call).await?;
                let op = self.graphql_operation(operation, call)?;
                for (t, f) in &op.fields {
                    call.trail.pass(
                        &format!("{t}.{f}"),
                        "allowed: any valid token of the user pool may call it (AMAZON_COGNITO_USER_POOLS, no IAM policy)",
                    );
                }
                Ok(GraphqlAllowed {
                    authorization_type: AuthorizationType::UserPools,
                    owner,
                    request_id: String::new(),
                })
            }
            GraphqlCaller::Session(claims) => {
                authorized_by(call, AuthorizationType::AwsIam);
                self.graphql_session(claims, operation, ctx, call).await
            }
        }
    }

    /// Verifies a user-pool token; returns the username.
    async fn graphql_user_pool_caller(&self, header: &str, call: &mut Call) -> Result<String, Refusal> {
        let token = header.strip_prefix("Bearer ").unwrap_or(header).trim();
        let invalid = |call: &mut Call, check: &str, detail: String| {
            let message = if check == "expiry" {
                "Token has expired.".to_string()
            } else {
                format!("Valid authorization header not provided: the user-pool token failed the {check} check")
            };
            deny(call, Reason::InvalidToken, check, detail, message)
        };
        if !looks_like_jwt(token) {
            return Err(deny(
                call,
                Reason::InvalidToken,
                "authentication",
                "the Authorization header is neither a SigV4 signature nor a JWT".into(),
                "Valid authorization header not provided: expected a SigV4 signature or a user-pool token".into(),
            ));
        }
        let jwt = UnverifiedJwt::parse(token).map_err(|e| invalid(call, e.check, e.detail))?;
        let iss = jwt.claim_str("iss").unwrap_or_default().to_string();
        if !crate::pool_names::is_pool_issuer(&self.kernel.issuer, &iss) {
            return Err(invalid(
                call,
                "issuer",
                format!("issuer {iss:?} is not a user pool of this server (AMAZON_COGNITO_USER_POOLS takes user-pool tokens)"),
            ));
        }
        let t = crate::issuer::verify_own_parsed(&self.kernel.keys, &self.kernel.issuer, jwt, None, self.kernel.now())
            .await
            .map_err(|(check, detail)| invalid(call, check, detail))?;
        let token_use = t.str("token_use").unwrap_or_default().to_string();
        let username = match token_use.as_str() {
            "access" => t.str("username"),
            "id" => t.str("cognito:username"),
            _ => None,
        }
        .unwrap_or_default()
        .to_string();
        if username.is_empty() {
            return Err(invalid(
                call,
                "token_use",
                format!("token_use {token_use:?} is neither an access nor an id token of a user pool"),
            ));
        }
        let pool_id = iss.rsplit('/').next().unwrap_or_default();
        match self.user_pools.user_pool(pool_id).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(invalid(call, "user pool", format!("user pool {pool_id} does not exist"))),
            Err(e) => {
                let detail = format!("storage is unavailable: {e}");
                return Err(deny(call, Reason::Unavailable, "user pool", detail.clone(), detail));
            }
        }
        if let Some(family) = t.str("origin_jti") {
            match self.kernel.store.refresh_family_active(family).await {
                Ok(true) => {}
                Ok(false) => return Err(invalid(call, "revocation", "the token's session was revoked".into())),
                Err(e) => {
                    let detail = format!("storage is unavailable: {e}");
                    return Err(deny(call, Reason::Unavailable, "revocation", detail.clone(), detail));
                }
            }
        }
        let sub = t.str("sub").unwrap_or_default().to_string();
        let client = t.str("client_id").or_else(|| t.str("aud")).unwrap_or_default();
        call.trail.pass(
            "authentication",
            format!(
                "AMAZON_COGNITO_USER_POOLS: {token_use} token of user pool {pool_id} (client {client}) signed by {}",
                t.kid
            ),
        );
        let groups: Vec<String> = t
            .claims
            .get("cognito:groups")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        call.trail.pass("user", format!("{username} (sub {sub}), groups: {}", list_or_none(&groups)));
        let provider = iss.strip_prefix("https://").or_else(|| iss.strip_prefix("http://")).unwrap_or(&iss);
        call.principal =
            Some(Principal { user_id: sub, username: username.clone(), identity_provider: Some(provider.to_string()) });
        Ok(username)
    }

    /// The operation, once the caller is known: an invalid one is refused now.
    fn graphql_operation<'o>(
        &self,
        operation: Result<&'o GraphqlOperation, &GraphqlRejection>,
        call: &mut Call,
    ) -> Result<&'o GraphqlOperation, Refusal> {
        match operation {
            Ok(op) => {
                let name = op.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
                let fields: Vec<String> = op.fields.iter().map(|(t, f)| format!("{t}.{f}")).collect();
                call.trail.pass(
                    "operation",
                    format!("{}{name} on API {}: fields {}", op.kind.as_str(), op.api_id, list_or_none(&fields)),
                );
                Ok(op)
            }
            Err(r) => Err(deny(call, r.reason, "operation", r.message.clone(), r.message.clone())),
        }
    }

    async fn graphql_session(
        &self,
        claims: &SessionClaims,
        operation: Result<&GraphqlOperation, &GraphqlRejection>,
        ctx: &RequestContext,
        call: &mut Call,
    ) -> Result<GraphqlAllowed, Refusal> {
        let account = self.kernel.config.aws.account_id.clone();
        let role_name = role_name_of(&claims.role_arn).unwrap_or_default().to_string();
        let user_id = format!("{}:{}", claims.role_id, claims.session_name);
        call.principal = Some(Principal {
            user_id: user_id.clone(),
            username: claims.session_name.clone(),
            identity_provider: None,
        });
        call.user_identity = Some(json!({
            "type": "AssumedRole",
            "principalId": user_id,
            "arn": claims.assumed_role_arn,
            "accountId": account,
            "accessKeyId": claims.access_key_id,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": claims.role_id,
                    "arn": claims.role_arn,
                    "accountId": account,
                    "userName": role_name,
                },
                "webIdFederationData": {
                    "federatedProvider": claims.provider,
                    "attributes": {},
                },
                "attributes": {
                    "creationDate": rfc3339(claims.issued_at),
                    "mfaAuthenticated": "false",
                },
            },
        }));
        if let Some(s) = &claims.source_identity {
            call.user_identity.as_mut().expect("set above")["sessionContext"]["sourceIdentity"] = json!(s);
        }
        let refused = || refusal(operation);

        call.trail.pass(
            "authentication",
            format!(
                "AWS_IAM: SigV4 signature by temporary credentials {} of {}",
                claims.access_key_id, claims.assumed_role_arn
            ),
        );
        let now = self.kernel.now();
        if claims.expires_at <= now {
            let detail =
                format!("the session expired at {} ({} s ago)", rfc3339(claims.expires_at), now - claims.expires_at);
            return Err(deny(
                call,
                Reason::ExpiredToken,
                "session",
                detail,
                "The security token included in the request is expired".into(),
            ));
        }
        call.trail.pass(
            "session",
            format!(
                "session {} of role {}, issued {}, expires {}",
                claims.session_name,
                claims.role_arn,
                rfc3339(claims.issued_at),
                rfc3339(claims.expires_at)
            ),
        );
        let source = claims.source_identity.as_deref().map(|s| format!(", source identity {s}")).unwrap_or_default();
        call.trail
            .pass("web identity", format!("subject {} from provider {}{source}", claims.subject, claims.provider));
        // The enhanced flow records the identity; the basic flow's OpenID token has it as subject.
        let identity_id = claims
            .identity_id
            .clone()
            .or_else(|| (claims.provider == COGNITO_IDENTITY_PROVIDER).then(|| claims.subject.clone()));
        let identity_pool_at = call.trail.steps.len();
        match &identity_id {
            Some(id) => call.trail.pass("identity pool", format!("identity {id} (cognito-identity.amazonaws.com:sub)")),
            None => call.trail.skip(
                "identity pool",
                "the credentials came from STS AssumeRoleWithWebIdentity directly, not through an identity pool",
            ),
        }

        // The role as it is now: its inline policies are the identity policies.
        if role_name.is_empty() {
            let detail = format!("{:?} is not a role ARN", claims.role_arn);
            return Err(deny(call, Reason::AccessDenied, "role", detail, refused()));
        }
        // The lookup's own trail is not this decision's: a missing role is told below.
        let mut lookup = Call::default();
        let role = match self.iam.role(&role_name, &mut lookup).await {
            Ok(r) => r,
            Err(e) if e.reason == Reason::Unavailable => {
                return Err(deny(call, Reason::Unavailable, "role", e.message.clone(), e.message));
            }
            Err(_) => {
                let detail = format!("role {role_name} no longer exists");
                return Err(deny(call, Reason::AccessDenied, "role", detail, refused()));
            }
        };
        if role.role_id != claims.role_id || role.arn(&account) != claims.role_arn {
            let detail = format!(
                "role {role_name} was deleted and created again since this session began (role id {} now, {} then)",
                role.role_id, claims.role_id
            );
            return Err(deny(call, Reason::AccessDenied, "role", detail, refused()));
        }
        let documents = match self.iam.role_policies(&role).await {
            Ok(d) => d,
            Err(e) => {
                let detail = format!("policies of role {role_name}: {}", e.message);
                return Err(deny(call, Reason::AccessDenied, "policies", detail, refused()));
            }
        };
        let mut identity: Vec<(String, Policy)> = Vec::with_capacity(documents.len());
        for (name, text) in &documents {
            match Policy::parse_identity(text) {
                Ok(p) => identity.push((name.clone(), p)),
                Err(e) => {
                    let detail = format!("inline policy {name} of role {role_name} does not parse: {e}");
                    return Err(deny(call, Reason::AccessDenied, "policies", detail, refused()));
                }
            }
        }
        let session_policy = match claims.session_policy.as_deref().map(Policy::parse_identity) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                let detail = format!("the session policy does not parse: {e}");
                return Err(deny(call, Reason::AccessDenied, "policies", detail, refused()));
            }
        };
        let names: Vec<String> = identity.iter().map(|(n, _)| n.clone()).collect();
        call.trail.pass(
            "role",
            format!(
                "role {role_name} ({}): policies {}; session policy: {}",
                role.role_id,
                list_or_none(&names),
                if session_policy.is_some() { "yes (it limits the role's)" } else { "none" }
            ),
        );

        let op = self.graphql_operation(operation, call)?;
        let mut context = policy::Context::new();
        context.insert("aws:username", [claims.session_name.as_str()]);
        context.insert("aws:userid", [user_id.as_str()]);
        context.insert("aws:PrincipalArn", [claims.role_arn.as_str()]);
        context.insert("aws:PrincipalAccount", [account.as_str()]);
        context.insert("aws:PrincipalType", ["AssumedRole"]);
        context.insert("aws:FederatedProvider", [claims.provider.as_str()]);
        context.insert("aws:TokenIssueTime", [rfc3339(claims.issued_at)]);
        if let Some(id) = &identity_id {
            context.insert("cognito-identity.amazonaws.com:sub", [id.as_str()]);
        }
        if let Some(s) = &claims.source_identity {
            context.insert("aws:SourceIdentity", [s.as_str()]);
        }
        for (k, v) in &claims.tags {
            context.insert(format!("aws:PrincipalTag/{k}"), [v.as_str()]);
        }
        if !ctx.source_ip.is_empty() {
            context.insert("aws:SourceIp", [ctx.source_ip.as_str()]);
        }
        context.insert("aws:CurrentTime", [rfc3339(now)]);
        context.insert("aws:EpochTime", [now.to_string()]);
        let mut keys: Vec<String> = context.iter().map(|(k, v)| format!("{k}={}", v.join("|"))).collect();
        keys.sort();
        call.trail.pass("context", format!("condition keys: {}", keys.join(", ")));

        let refs: Vec<PolicyRef<'_>> = identity.iter().map(|(n, p)| PolicyRef::new(n, p)).collect();
        let session_ref = session_policy.as_ref().map(|p| PolicyRef::new("", p));
        let principal = policy::Principal::Aws(claims.assumed_role_arn.clone());
        let mut denied: Option<(String, String, String)> = None;
        for (type_name, field) in &op.fields {
            let resource = self.graphql_field_arn(&op.api_id, type_name, field);
            let request = Request {
                action: ACTION.into(),
                resource: resource.clone(),
                principal: Some(principal.clone()),
                context: context.clone(),
            };
            let check = format!("{type_name}.{field}");
            let evaluation = policy::evaluate(&refs, session_ref, &request);
            if evaluation.is_allowed() {
                let by = evaluation.statement.map(|id| statement_name(&refs, session_ref, id)).unwrap_or_default();
                call.trail.pass(&check, format!("allowed by {by} ({ACTION} on {resource})"));
                evaluated(call, json!({ "field": check, "resource": resource, "decision": "Allow" }));
                continue;
            }
            let explanation = policy::explain(&refs, session_ref, &request);
            let mut reason = None;
            for p in &explanation.policies {
                let scope = match p.scope {
                    PolicyScope::Identity => format!("policy \"{}\"", p.name),
                    PolicyScope::Session => "session policy".to_string(),
                };
                if p.statements.is_empty() {
                    call.trail.skip(&scope, "has no statements");
                }
                for st in &p.statements {
                    // What stands in the way: the Deny that applies, or every Allow that does not.
                    let outcome = match (explanation.decision, st.effect, st.applies) {
                        (Decision::ExplicitDeny, Effect::Deny, true) => Outcome::Fail,
                        (Decision::ImplicitDeny, Effect::Allow, false) => Outcome::Fail,
                        (_, _, true) => Outcome::Pass,
                        _ => Outcome::Skip,
                    };
                    if outcome == Outcome::Fail && reason.is_none() {
                        reason = Some(st.text.clone());
                    }
                    match outcome {
                        Outcome::Fail => call.trail.fail(&scope, st.text.clone()),
                        Outcome::Pass => call.trail.pass(&scope, st.text.clone()),
                        Outcome::Skip => call.trail.skip(&scope, st.text.clone()),
                    }
                }
            }
            if refs.is_empty() {
                call.trail
                    .fail("policies", format!("role {role_name} has no inline policies: nothing allows anything"));
            }
            let summary = if explanation.summary.contains(&resource) {
                explanation.summary.clone()
            } else {
                format!("{} ({ACTION} on {resource})", explanation.summary)
            };
            call.trail.fail(&check, summary.clone());
            evaluated(
                call,
                json!({
                    "field": check,
                    "resource": resource,
                    "decision": match explanation.decision {
                        Decision::ExplicitDeny => "ExplicitDeny",
                        _ => "ImplicitDeny",
                    },
                    "explanation": explanation,
                }),
            );
            if denied.is_none() {
                let why = match reason {
                    Some(r) if explanation.decision == Decision::ImplicitDeny => format!("{summary}; {r}"),
                    _ => summary,
                };
                denied = Some((type_name.clone(), field.clone(), why));
            }
        }
        if let Some((type_name, field, why)) = denied {
            // Only now (a denial is rare, an allow is not) the rest of the chain: the identity's
            // pool, and the request that issued these credentials with the trust statement.
            let trust_step = self.graphql_issuance(claims).await;
            if let Some(id) = &identity_id {
                if let Some(pool) = self.identity_pools.identity_pool_of(id).await {
                    call.trail.steps[identity_pool_at].detail = format!("identity {id} of identity pool {pool}");
                }
            }
            call.trail.steps.insert(identity_pool_at + 1, trust_step);
            let message = not_authorized(&type_name, &field);
            let trail = std::mem::take(&mut call.trail);
            return Err(refused_with(Reason::AccessDenied, trail, format!("{message}: {why}"), message));
        }
        Ok(GraphqlAllowed {
            authorization_type: AuthorizationType::AwsIam,
            owner: identity_id.unwrap_or(user_id),
            request_id: String::new(),
        })
    }
}

impl AppSync {
    /// The step telling which request issued a session's credentials and which statement of
    /// the role's trust policy admitted it, from that request's audit record.
    async fn graphql_issuance(&self, claims: &SessionClaims) -> Step {
        let q = AuditQuery {
            event_name: Some("AssumeRoleWithWebIdentity".into()),
            resource_name: Some(claims.role_arn.clone()),
            start_time: Some(claims.issued_at - 1),
            end_time: Some(claims.issued_at + 1),
            denied: Some(false),
            limit: Some(100),
            ..Default::default()
        };
        let records = self.kernel.store.lookup_audit(&q).await.unwrap_or_default();
        let issued = records.iter().find(|r| {
            r.record.pointer("/responseElements/credentials/accessKeyId").and_then(Value::as_str)
                == Some(claims.access_key_id.as_str())
        });
        let Some(r) = issued else {
            return Step {
                check: "trust".into(),
                outcome: Outcome::Skip,
                detail: format!(
                    "no audit record of the AssumeRoleWithWebIdentity that issued {} was found (retention?)",
                    claims.access_key_id
                ),
            };
        };
        let trust = r
            .record
            .pointer("/additionalEventData/decisionTrail")
            .and_then(Value::as_array)
            .and_then(|steps| steps.iter().find(|s| s["check"] == "trust"))
            .and_then(|s| s["detail"].as_str())
            .map(|d| d.lines().last().unwrap_or(d).to_string())
            .unwrap_or_else(|| "its trust decision is not recorded".into());
        Step {
            check: "trust".into(),
            outcome: Outcome::Pass,
            detail: format!(
                "role {} assumed by request {} ({} AssumeRoleWithWebIdentity at {}): trust policy {trust}",
                role_name_of(&claims.role_arn).unwrap_or_default(),
                r.request_id,
                r.record["eventSource"].as_str().unwrap_or_default(),
                rfc3339(r.event_time),
            ),
        }
    }
}

/// `statement "Sid" of policy "name"` (or `Statement[i]`, or of the session policy).
fn statement_name(identity: &[PolicyRef<'_>], session: Option<PolicyRef<'_>>, id: policy::StatementId) -> String {
    let (p, of) = match id.scope {
        PolicyScope::Identity => (identity[id.policy], format!(" of policy \"{}\"", identity[id.policy].name)),
        PolicyScope::Session => match session {
            Some(s) => (s, " of the session policy".to_string()),
            None => return "a statement".into(),
        },
    };
    match p.policy.statements().get(id.statement).and_then(|s| s.sid()) {
        Some(sid) => format!("statement \"{sid}\"{of}"),
        None => format!("Statement[{}]{of}", id.statement),
    }
}
