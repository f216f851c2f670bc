//! STS: `AssumeRoleWithWebIdentity` (a web identity token, the role's trust policy, temporary
//! credentials) and `GetCallerIdentity` (who signed this request).

use super::*;
use crate::clock::rfc3339;
use crate::jose::{looks_like_jwt, UnverifiedJwt};
use crate::policy::{self, PolicyKind, PolicyRef, Principal};
use crate::upstream::SubjectTokenType;
use serde_json::{json, Map, Value};

/// Tokens from `GetOpenIdToken` name this issuer (as AWS's do); they are signed by our keys.
pub const COGNITO_IDENTITY_ISSUER: &str = "https://cognito-identity.amazonaws.com";
pub const COGNITO_IDENTITY_PROVIDER: &str = "cognito-identity.amazonaws.com";

/// Who signed a request: admin credentials, or a session's temporary ones.
#[derive(Debug, Clone)]
pub enum CallerIdentity {
    Admin { access_key_id: String },
    Session(Box<SessionClaims>),
}

/// A verified web identity: the provider as AWS names it, and its claims.
pub(crate) struct WebIdentity {
    /// `iss` without its scheme (`cognito-identity.amazonaws.com`, `auth.example.com/ap-northeast-1_X`).
    pub provider: String,
    pub subject: String,
    pub audience: String,
    pub claims: Map<String, Value>,
}

impl WebIdentity {
    /// Condition keys of a web identity, as IAM names them: `<provider>:aud`, `:sub`, `:amr`.
    pub fn condition_keys(&self) -> Vec<(String, Vec<String>)> {
        let mut keys = vec![
            (format!("{}:aud", self.provider), vec![self.audience.clone()]),
            (format!("{}:sub", self.provider), vec![self.subject.clone()]),
        ];
        if let Some(amr) = self.claims.get("amr") {
            let values = match amr {
                Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            keys.push((format!("{}:amr", self.provider), values));
        }
        keys
    }
}

fn without_scheme(iss: &str) -> &str {
    iss.strip_prefix("https://").or_else(|| iss.strip_prefix("http://")).unwrap_or(iss)
}

/// The token's `aud` (its first, when several): never `client_id`, which an access token
/// carries instead and which must not make it pass for an id token.
fn audience_of(claims: &Map<String, Value>) -> String {
    match claims.get("aud") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// Who asks for a web identity: what AWS takes differs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebIdentityFor {
    /// An identity pool's `Logins`: id tokens only (a user pool's, an OIDC provider's).
    IdentityPool,
    /// STS `AssumeRoleWithWebIdentity`: an id token, or a provider's JWT access token whose
    /// `aud` the provider lists (as IAM checks an OIDC provider's client ids).
    Sts,
}

fn valid_session_name(n: &str) -> bool {
    (2..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

impl Iam {
    /// Verifies a web identity token: this server's own (its issuer, a user pool's, or an
    /// identity pool's OpenID token) or a configured upstream provider's. Our own tokens must
    /// be id tokens of a sign-in session that has not ended; an upstream token must be an id
    /// token for an identity pool.
    pub(crate) async fn web_identity(
        &self,
        token: &str,
        asker: WebIdentityFor,
        call: &mut Call,
    ) -> Result<WebIdentity, Refusal> {
        let invalid = |call: &mut Call, check: &str, detail: String| {
            let reason = if check == "expiry" { Reason::ExpiredToken } else { Reason::InvalidIdentityToken };
            let message = if check == "expiry" {
                "Token expired".to_string()
            } else {
                format!("Couldn't verify the web identity token: {detail}")
            };
            call.refuse(reason, check, detail, message)
        };
        if !looks_like_jwt(token) {
            return Err(invalid(call, "format", "the web identity token is not a JWT".into()));
        }
        let jwt = UnverifiedJwt::parse(token).map_err(|e| invalid(call, e.check, e.detail))?;
        let iss = jwt.claim_str("iss").unwrap_or_default().to_string();
        let own = iss == self.kernel.issuer
            || iss == COGNITO_IDENTITY_ISSUER
            || crate::pool_names::is_pool_issuer(&self.kernel.issuer, &iss);
        let claims = if own {
            let base =
                if iss == COGNITO_IDENTITY_ISSUER { COGNITO_IDENTITY_ISSUER } else { self.kernel.issuer.as_str() };
            let t = crate::issuer::verify_own_parsed(&self.kernel.keys, base, jwt, None, self.kernel.now())
                .await
                .map_err(|(check, detail)| invalid(call, check, detail))?;
            call.trail.pass("web identity", format!("token of this server ({iss}) signed by {}", t.kid));
            if iss != COGNITO_IDENTITY_ISSUER {
                self.own_id_token_in_session(&t.claims, call)
                    .await
                    .map_err(|(check, detail)| invalid(call, check, detail))?;
            }
            t.claims
        } else {
            let Some(provider) = self.kernel.upstreams.by_issuer(&iss) else {
                return Err(invalid(call, "provider", format!("no configured provider has issuer {iss:?}")));
            };
            let declared = match asker {
                WebIdentityFor::IdentityPool => SubjectTokenType::IdToken,
                WebIdentityFor::Sts => SubjectTokenType::Unspecified,
            };
            let id = provider
                .validate(token, declared, self.kernel.now(), &mut call.trail)
                .await
                .map_err(|r| invalid(call, r.check, r.detail))?;
            match id.claims {
                Value::Object(m) => m,
                _ => Map::new(),
            }
        };
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
        if subject.is_empty() {
            return Err(invalid(call, "subject", "the token has no sub".into()));
        }
        let audience = audience_of(&claims);
        if audience.is_empty() {
            return Err(invalid(call, "audience", "the token has no aud".into()));
        }
        let web = WebIdentity { provider: without_scheme(&iss).to_string(), subject, audience, claims };
        // STS meets a registered IAM OIDC provider's client ids (identity pools check theirs
        // where the pool names the provider: `verify_logins`).
        if asker == WebIdentityFor::Sts {
            match self.registered_audience(&web).await {
                Ok(true) => call.trail.pass(
                    "audience",
                    format!("client {:?} is listed by the IAM OIDC provider {}", web.audience, web.provider),
                ),
                Ok(false) => {}
                Err((check, detail)) => return Err(invalid(call, check, detail)),
            }
        }
        Ok(web)
    }

    /// One of our user pools' or this issuer's tokens is good for AWS credentials only as an
    /// id token (as on AWS, whose access tokens carry `client_id`, no `aud`), and only while
    /// its sign-in session lasts: its user exists and is enabled, and its refresh family
    /// (`origin_jti`) was neither signed out (GlobalSignOut, AdminUserGlobalSignOut) nor revoked.
    /// AWS checks the session only with an identity pool's ServerSideTokenCheck; we know our
    /// sessions, so every door checks it. `Err` is (check, detail).
    async fn own_id_token_in_session(
        &self,
        claims: &Map<String, Value>,
        call: &mut Call,
    ) -> Result<(), (&'static str, String)> {
        let token_use = claims.get("token_use").and_then(Value::as_str).unwrap_or_default();
        if token_use != "id" {
            return Err((
                "token type",
                format!("an access token (token_use {token_use:?}), not an id token: AWS credentials are issued for id tokens only"),
            ));
        }
        let storage = |e: crate::store::StoreError| ("session", format!("storage is unavailable: {e}"));
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        if !self.kernel.store.get_user(sub).await.map_err(storage)?.is_some_and(|u| u.enabled) {
            return Err(("session", "the token's user is deleted or disabled: its sessions have ended".into()));
        }
        match claims.get("origin_jti").and_then(Value::as_str) {
            Some(family) if !self.kernel.store.refresh_family_active(family).await.map_err(storage)? => {
                Err(("session", "the token's sign-in session was signed out or revoked".into()))
            }
            Some(_) => {
                call.trail.pass("session", "the token's sign-in session is active");
                Ok(())
            }
            None => Err(("session", "the token names no sign-in session (origin_jti)".into())),
        }
    }

    /// Evaluates a role's trust policy for a web identity (`sts:AssumeRoleWithWebIdentity`).
    /// `Err` carries the explanation of the denial.
    pub(crate) fn trust_allows(&self, role: &Role, web: &WebIdentity, call: &mut Call) -> Result<(), String> {
        let doc = policy::Policy::parse(&role.trust_policy, PolicyKind::Trust)
            .map_err(|e| format!("trust policy of role {}: {e}", role.name))?;
        let account = &self.kernel.config.aws.account_id;
        // AWS names an OIDC provider by its IAM ARN; Cognito identity by its bare name.
        let principals = if web.provider == COGNITO_IDENTITY_PROVIDER {
            vec![web.provider.clone()]
        } else {
            vec![format!("arn:aws:iam::{account}:oidc-provider/{}", web.provider), web.provider.clone()]
        };
        let mut last = None;
        for principal in principals {
            let mut req = policy::Request::new("sts:AssumeRoleWithWebIdentity", role.arn(account))
                .with_principal(Principal::Federated(principal));
            for (k, v) in web.condition_keys() {
                req = req.with_context(&k, v);
            }
            let refs = [PolicyRef::new("trust policy", &doc)];
            let explanation = policy::explain(&refs, None, &req).render();
            if policy::evaluate(&refs, None, &req).is_allowed() {
                call.trail.pass("trust", explanation);
                return Ok(());
            }
            last.get_or_insert(explanation);
        }
        Err(last.unwrap_or_default())
    }

    /// Issues a session of `role` for a verified web identity (trust already evaluated).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn role_session(
        &self,
        role: &Role,
        web: &WebIdentity,
        session_name: &str,
        duration: i64,
        session_policy: Option<String>,
        identity_id: Option<String>,
    ) -> Result<(Credentials, SessionClaims), Refusal> {
        let key = self.session_key().await?;
        let now = self.kernel.now();
        let account = &self.kernel.config.aws.account_id;
        let tags = web
            .claims
            .get("https://aws.amazon.com/tags")
            .and_then(|t| t.get("principal_tags"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
                        v.as_str().map(|s| (k.clone(), s.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let claims = SessionClaims {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            role_arn: role.arn(account),
            role_id: role.role_id.clone(),
            session_name: session_name.into(),
            assumed_role_arn: format!("arn:aws:sts::{account}:assumed-role/{}/{session_name}", role.name),
            subject: web.subject.clone(),
            provider: web.provider.clone(),
            source_identity: web.claims.get("source_identity").and_then(Value::as_str).map(str::to_string),
            tags,
            identity_id,
            session_policy,
            issued_at: now,
            expires_at: now + duration,
        };
        let creds = key.issue(claims.clone());
        let mut claims = claims;
        claims.access_key_id = creds.access_key_id.clone();
        Ok((creds, claims))
    }

    pub(crate) async fn sts_dispatch(
        &self,
        action: &str,
        p: &BTreeMap<String, String>,
        caller: Option<&CallerIdentity>,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        match action {
            "AssumeRoleWithWebIdentity" => self.assume_role_with_web_identity(p, call).await,
            "GetCallerIdentity" => {
                let account = &self.kernel.config.aws.account_id;
                match caller {
                    Some(CallerIdentity::Session(s)) => Ok(json!({
                        "UserId": format!("{}:{}", s.role_id, s.session_name),
                        "Account": account,
                        "Arn": s.assumed_role_arn,
                    })),
                    Some(CallerIdentity::Admin { access_key_id }) => Ok(json!({
                        "UserId": access_key_id,
                        "Account": account,
                        "Arn": format!("arn:aws:iam::{account}:user/tokenbridge-admin"),
                    })),
                    None => Err(call.refuse_plainly(
                        Reason::MissingAuthentication,
                        "signature",
                        "Request is missing Authentication Token",
                    )),
                }
            }
            other => Err(call.refuse_plainly(
                Reason::UnknownOperation,
                "action",
                format!("Could not find operation {other} for version 2011-06-15"),
            )),
        }
    }

    async fn assume_role_with_web_identity(
        &self,
        p: &BTreeMap<String, String>,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let role_arn = required(p, "RoleArn", call)?.to_string();
        let session_name = required(p, "RoleSessionName", call)?.to_string();
        let token = required(p, "WebIdentityToken", call)?.to_string();
        if !valid_session_name(&session_name) {
            return Err(call.refuse_plainly(Reason::InvalidParameter, "request",
                format!("1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"),
            ));
        }
        // Managed session policies would narrow the session; ignoring them would grant more than
        // the caller asked for, so until they are honoured they are refused.
        if p.keys().any(|k| k.starts_with("PolicyArns.")) {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "session policy",
                "PolicyArns (managed session policies) are not supported; pass the session policy inline as Policy",
            ));
        }
        let session_policy = match p.get("Policy") {
            Some(text) => {
                policy::Policy::parse(text, PolicyKind::Identity)
                    .map_err(|e| call.refuse_plainly(Reason::MalformedPolicy, "session policy", e.to_string()))?;
                Some(text.clone())
            }
            None => None,
        };
        let web = self.web_identity(&token, WebIdentityFor::Sts, call).await?;
        call.user_identity = Some(json!({
            "type": "WebIdentityUser",
            "principalId": format!("{}:{}:{}", web.provider, web.audience, web.subject),
            "userName": web.subject,
            "identityProvider": web.provider,
        }));
        let denied = "Not authorized to perform sts:AssumeRoleWithWebIdentity";
        let Some(role_name) = role_name_of(&role_arn) else {
            return Err(call.refuse(
                Reason::InvalidParameter,
                "role",
                format!("{role_arn:?} is not a role ARN"),
                format!("{role_arn} is invalid"),
            ));
        };
        let role = match self.role(role_name, call).await {
            Ok(r) if r.arn(&self.kernel.config.aws.account_id) == role_arn => r,
            Ok(_) | Err(_) => {
                return Err(call.refuse(Reason::AccessDenied, "role", format!("no role {role_arn}"), denied));
            }
        };
        call.resources
            .push(json!({ "accountId": self.kernel.config.aws.account_id, "type": "AWS::IAM::Role", "ARN": role_arn }));
        let duration = match p.get("DurationSeconds") {
            Some(v) => match v.parse::<i64>() {
                Ok(d) if (900..=role.max_session_duration).contains(&d) => d,
                _ => {
                    return Err(call.refuse_plainly(
                        Reason::InvalidParameter,
                        "duration",
                        format!(
                        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role (900 to {}).",
                        role.max_session_duration
                    ),
                    ))
                }
            },
            None => 3600.min(role.max_session_duration),
        };
        if let Err(why) = self.trust_allows(&role, &web, call) {
            return Err(call.refuse(Reason::AccessDenied, "trust", why, denied));
        }
        let (creds, _) = self.role_session(&role, &web, &session_name, duration, session_policy, None).await?;
        call.trail.pass(
            "issue",
            format!("credentials {} for role {} until {}", creds.access_key_id, role.name, rfc3339(creds.expires_at)),
        );
        Ok(json!({
            "Credentials": {
                "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key,
                "SessionToken": creds.session_token,
                "Expiration": rfc3339(creds.expires_at),
            },
            "SubjectFromWebIdentityToken": web.subject,
            "AssumedRoleUser": {
                "Arn": format!("arn:aws:sts::{}:assumed-role/{}/{session_name}", self.kernel.config.aws.account_id, role.name),
                "AssumedRoleId": format!("{}:{session_name}", role.role_id),
            },
            "Provider": web.provider,
            "Audience": web.audience,
        }))
    }
}

/// What an audit record keeps of an answer, in CloudTrail's words: for
/// `AssumeRoleWithWebIdentity` the credentials' access key id and expiration only.
pub(crate) fn audit_response(action: &str, v: &Value) -> Value {
    if action != "AssumeRoleWithWebIdentity" {
        return Value::Null;
    }
    json!({
        "credentials": {
            "accessKeyId": v["Credentials"]["AccessKeyId"],
            "expiration": v["Credentials"]["Expiration"],
        },
        "subjectFromWebIdentityToken": v["SubjectFromWebIdentityToken"],
        "assumedRoleUser": {
            "assumedRoleId": v["AssumedRoleUser"]["AssumedRoleId"],
            "arn": v["AssumedRoleUser"]["Arn"],
        },
        "provider": v["Provider"],
        "audience": v["Audience"],
    })
}
