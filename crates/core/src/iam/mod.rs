//! Roles with trust and identity policies (an IAM-compatible subset of the query API), STS's
//! `AssumeRoleWithWebIdentity` and `GetCallerIdentity`, and the temporary credentials they hand
//! out. Answers are JSON trees the adapter renders as the query protocol's XML.

pub mod credentials;
mod lookup;
mod managed;
mod oidc;
mod roles;
mod settings;
mod sts;

use crate::kernel::Kernel;
use crate::operation::{Filing, Operation};
use crate::refusal::{Reason, Refusal};
use crate::sigv4::{Secret, SigV4Error, SignedRequest, Verifier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use credentials::{Credentials, SessionClaims, SessionKey};
pub use managed::ManagedPolicy;
pub use oidc::OidcProvider;
pub use settings::validate_config;
pub use sts::CallerIdentity;
pub(crate) use sts::{WebIdentity, WebIdentityFor};
pub use sts::{COGNITO_IDENTITY_ISSUER, COGNITO_IDENTITY_PROVIDER};

const KIND_ROLE: &str = "iam_role";

/// IAM and STS over their own records (roles, managed policies, OIDC providers) and the
/// session-token key that seals the temporary credentials STS hands out; signatures by admin
/// credentials or by those credentials are verified here.
pub struct Iam {
    kernel: Arc<Kernel>,
    session_key: tokio::sync::OnceCell<Arc<SessionKey>>,
}

impl Iam {
    pub(crate) fn new(kernel: Arc<Kernel>) -> Self {
        Self { kernel, session_key: tokio::sync::OnceCell::new() }
    }
}
pub const IAM_EVENT_SOURCE: &str = "iam.amazonaws.com";
pub const STS_EVENT_SOURCE: &str = "sts.amazonaws.com";

/// A role: who may assume it (trust policy) and what its sessions may do (inline policies).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub path: String,
    pub role_id: String,
    pub trust_policy: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: i64,
    #[serde(default)]
    pub inline_policies: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached_policies: Vec<String>,
    pub created_at: i64,
}

impl Role {
    pub fn arn(&self, account_id: &str) -> String {
        format!("arn:aws:iam::{account_id}:role{}{}", self.path, self.name)
    }
}

/// The role name in a role ARN (`arn:aws:iam::<account>:role/<path/><name>`).
pub fn role_name_of(arn: &str) -> Option<&str> {
    iam_name_of(arn, "role/")
}

/// The name in an IAM ARN of one resource type (`arn:aws:iam::<account>:<type>/<path/><name>`):
/// roles and managed policies are named alike, the path dropped.
pub(crate) fn iam_name_of<'a>(arn: &'a str, resource_type: &str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (_, resource) = rest.split_once(':')?;
    let path_and_name = resource.strip_prefix(resource_type)?;
    path_and_name.rsplit('/').next().filter(|n| !n.is_empty())
}

pub(crate) use crate::operation::Call;

/// A required query parameter, or the validation error naming it.
pub(crate) fn required<'a>(p: &'a BTreeMap<String, String>, name: &str, call: &mut Call) -> Result<&'a str, Refusal> {
    p.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
        call.refuse_plainly(
            Reason::InvalidParameter,
            "request",
            format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ),
        )
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_from_arns() {
        assert_eq!(role_name_of("arn:aws:iam::123456789012:role/app"), Some("app"));
        assert_eq!(role_name_of("arn:aws:iam::123456789012:role/service-role/app"), Some("app"));
        assert_eq!(role_name_of("arn:aws:iam::123456789012:user/app"), None);
        assert_eq!(role_name_of("app"), None);
    }
}

/// The two query-protocol services of the `POST /` door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    Iam,
    Sts,
}

impl QueryService {
    /// By the `Version` parameter, as the two APIs are told apart on one endpoint.
    pub fn by_version(version: &str) -> Option<Self> {
        match version {
            "2010-05-08" => Some(Self::Iam),
            "2011-06-15" => Some(Self::Sts),
            _ => None,
        }
    }
    pub fn signing_name(self) -> &'static str {
        match self {
            Self::Iam => "iam",
            Self::Sts => "sts",
        }
    }
    pub fn namespace(self) -> &'static str {
        match self {
            Self::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            Self::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
        }
    }
    fn event_source(self) -> &'static str {
        match self {
            Self::Iam => IAM_EVENT_SOURCE,
            Self::Sts => STS_EVENT_SOURCE,
        }
    }
}

/// Query parameters never kept in audit records.
const HIDDEN_PARAMS: &[&str] = &["WebIdentityToken", "Policy", "SAMLAssertion"];

fn camel(name: &str) -> String {
    lower_first(name)
}

impl Iam {
    /// The server's session-token key (made once, shared by every instance through the store).
    #[crate::entry_point]
    pub async fn session_key(&self) -> Result<std::sync::Arc<SessionKey>, Refusal> {
        self.session_key
            .get_or_try_init(|| async {
                SessionKey::load(self.kernel.store.as_ref(), self.kernel.master.as_deref())
                    .await
                    .map(std::sync::Arc::new)
            })
            .await
            .cloned()
            .map_err(Refusal::storage)
    }

    /// The session behind a presented session token, if it is ours and unexpired: else
    /// [`Reason::ExpiredToken`], [`Reason::UnknownCredentials`] (not a token of ours) or
    /// [`Reason::Unavailable`], the message saying which.
    #[crate::entry_point]
    pub async fn open_session_token(&self, token: &str) -> Result<SessionClaims, Refusal> {
        let key = self.session_key().await?;
        let claims = key.open(token).map_err(|why| Refusal::new(Reason::UnknownCredentials, why))?;
        let now = self.kernel.now();
        if claims.expires_at <= now {
            let why = format!("the session expired {} s ago", now - claims.expires_at);
            return Err(Refusal::new(Reason::ExpiredToken, why));
        }
        Ok(claims)
    }

    /// The secret of the admin credentials `access_key_id` names (compared in constant time).
    fn admin_secret(&self, access_key_id: &str) -> Option<Secret> {
        self.kernel
            .config
            .aws
            .admin_credentials
            .iter()
            .find(|c| crate::secrets::constant_time_eq(c.access_key_id.as_bytes(), access_key_id.as_bytes()))
            .map(|c| Secret::new(c.secret_access_key.clone()))
    }

    /// Verifies a request's SigV4 signature: by admin credentials, scoped to `service`.
    pub fn verify_admin_signature(
        &self,
        service: &str,
        request: &SignedRequest<'_>,
    ) -> Result<CallerIdentity, SigV4Error> {
        let caller = Verifier::new([service]).verify(request, |id| self.admin_secret(id), self.kernel.now())?;
        Ok(CallerIdentity::Admin { access_key_id: caller.access_key_id })
    }

    /// Verifies a SigV4 signature scoped to `service` by admin credentials or by temporary
    /// credentials this server issued (their session token names their secret), and says who signed.
    #[crate::entry_point]
    pub async fn verify_caller(
        &self,
        service: &str,
        request: &SignedRequest<'_>,
    ) -> Result<CallerIdentity, SigV4Error> {
        let pending = Verifier::new([service]).check(request, self.kernel.now())?;
        let key_id = pending.access_key_id().to_string();
        if let Some(token) = pending.session_token().map(str::to_string) {
            let claims = self
                .open_session_token(&token)
                .await
                .ok()
                .filter(|c| crate::secrets::constant_time_eq(c.access_key_id.as_bytes(), key_id.as_bytes()));
            let secret = claims.as_ref().map(|c| Secret::new(c.secret_access_key.clone()).with_session_token(token));
            pending.finish(secret.as_ref())?;
            return Ok(CallerIdentity::Session(Box::new(claims.expect("finish succeeded with a secret"))));
        }
        pending.finish(self.admin_secret(&key_id).as_ref())?;
        Ok(CallerIdentity::Admin { access_key_id: key_id })
    }

    /// Runs one IAM or STS action; `caller` is who signed the request (the adapter verified it).
    /// IAM needs the admin credentials; `AssumeRoleWithWebIdentity` needs no signature (the
    /// token is the credential). Every call is audited in CloudTrail's shape.
    #[crate::entry_point]
    pub async fn query_action(
        &self,
        service: QueryService,
        action: &str,
        params: &BTreeMap<String, String>,
        caller: Option<&CallerIdentity>,
        ctx: &crate::audit::RequestContext,
    ) -> Result<serde_json::Value, Refusal> {
        let decide = async |call: &mut Call| {
            if action == "AssumeRoleWithWebIdentity" {
                call.event_data.insert("identityProviderConnectionVerificationMethod".into(), "IAMTrustStore".into());
            }
            match (service, caller) {
                (QueryService::Iam, Some(CallerIdentity::Admin { .. })) => {
                    self.iam_dispatch(action, params, call).await
                }
                (QueryService::Iam, _) => Err(call.refuse(
                    Reason::AccessDenied,
                    "signature",
                    format!("{action} needs a signature by admin credentials"),
                    format!("User is not authorized to perform: iam:{action}"),
                )),
                (QueryService::Sts, caller) => self.sts_dispatch(action, params, caller, call).await,
            }
        };
        let request_parameters: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "Action" | "Version"))
            .map(|(k, v)| {
                let v = if HIDDEN_PARAMS.contains(&k.as_str()) {
                    "HIDDEN_DUE_TO_SECURITY_REASONS".to_string()
                } else {
                    v.clone()
                };
                (camel(k), serde_json::Value::String(v))
            })
            .collect();
        let read_only = matches!(
            action,
            "GetRole"
                | "ListRoles"
                | "GetRolePolicy"
                | "ListRolePolicies"
                | "GetOpenIDConnectProvider"
                | "ListOpenIDConnectProviders"
                | "GetCallerIdentity"
                | "AssumeRoleWithWebIdentity"
        );
        let op = Operation::new(action, ctx, serde_json::Value::Object(request_parameters))
            .read_only(read_only)
            .source(service.event_source())
            .filed(Filing::Management);
        self.kernel.run(op, decide, |v| sts::audit_response(action, v)).await
    }
}

/// The answer of `tokenbridge policy simulate`: the decision and, per statement, why.
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub allowed: bool,
    pub decision: String,
    pub role_arn: String,
    pub explanation: String,
}

impl Iam {
    /// Would a session of `role` (name or ARN) be allowed `action` on `resource`, given context
    /// keys? The same evaluation and explanation as a live request, before anything is deployed.
    /// An unknown role is a [`Refusal`] inside the error.
    #[crate::entry_point]
    pub async fn simulate_policy(
        &self,
        role: &str,
        action: &str,
        resource: &str,
        context: &[(String, String)],
        session_policy: Option<&str>,
    ) -> anyhow::Result<Simulation> {
        let name = role_name_of(role).unwrap_or(role);
        // A refusal stays one (its reason for the CLI to name as IAM does).
        let role = self.role(name, &mut Call::default()).await?;
        let documents = self.role_policies(&role).await?;
        let parsed: Vec<(String, crate::policy::Policy)> = documents
            .iter()
            .map(|(n, text)| {
                crate::policy::Policy::parse(text, crate::policy::PolicyKind::Identity)
                    .map(|p| (n.clone(), p))
                    .map_err(|e| anyhow::anyhow!("policy {n} of role {}: {e}", role.name))
            })
            .collect::<Result<_, _>>()?;
        let session = session_policy
            .map(|t| crate::policy::Policy::parse(t, crate::policy::PolicyKind::Identity))
            .transpose()
            .map_err(|e| anyhow::anyhow!("session policy: {e}"))?;
        let mut req = crate::policy::Request::new(action, resource);
        for (k, v) in context {
            req.context.push(k, v.clone());
        }
        let refs: Vec<crate::policy::PolicyRef<'_>> =
            parsed.iter().map(|(n, p)| crate::policy::PolicyRef::new(n, p)).collect();
        let session_ref = session.as_ref().map(|p| crate::policy::PolicyRef::new("session policy", p));
        let evaluation = crate::policy::evaluate(&refs, session_ref, &req);
        let explanation = crate::policy::explain(&refs, session_ref, &req).render();
        Ok(Simulation {
            allowed: evaluation.is_allowed(),
            decision: evaluation.decision.to_string(),
            role_arn: role.arn(&self.kernel.config.aws.account_id),
            explanation,
        })
    }
}
