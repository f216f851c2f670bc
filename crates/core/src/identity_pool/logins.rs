//! `Logins`: each token verified, its provider named as the key says and configured in the pool;
//! the identity a set of logins belongs to; and the role a pool gives them.

use super::*;
use crate::iam::{role_name_of, Role, WebIdentity, WebIdentityFor, COGNITO_IDENTITY_PROVIDER};
use crate::jose::UnverifiedJwt;

/// A verified login.
pub(crate) struct Login {
    /// The provider as AWS names it (for user pools `cognito-idp.<region>.amazonaws.com/<pool-id>`).
    pub provider: String,
    /// Every name of the provider (the token's `iss` without scheme, the AWS form).
    pub names: Vec<String>,
    pub web: WebIdentity,
}

const NOT_SUPPORTED: &str = "Token is not from a supported provider of this identity pool.";

fn not_authorized(call: &mut Call, check: &str, detail: impl Into<String>, message: &str) -> Refusal {
    call.refuse(Reason::NotAuthorized, check, detail, message)
}

/// The login table's key of a (pool, provider, subject).
fn login_doc_id(pool_id: &str, provider: &str, subject: &str) -> String {
    format!("{pool_id}|{provider}|{subject}")
}

impl IdentityPools {
    /// Verifies every login against the pool: the token (signature, issuer, expiry, by
    /// [`crate::iam::Iam::web_identity`]), that the key names the token's provider, and that the pool
    /// takes that provider (and, for a user pool, that app client).
    pub(crate) async fn verify_logins(
        &self,
        rec: &PoolRecord,
        logins: &BTreeMap<String, String>,
        call: &mut Call,
    ) -> Result<Vec<Login>, Refusal> {
        if logins.len() > 10 {
            return Err(invalid_parameter(
                call,
                "logins",
                "1 validation error detected: Value at 'logins' failed to satisfy constraint: Member must have length less than or equal to 10",
            ));
        }
        let mut out = Vec::new();
        for (key, token) in logins {
            let web = match self.iam.web_identity(token, WebIdentityFor::IdentityPool, call).await {
                Ok(w) => w,
                Err(e) => {
                    // Cognito's words where it has them; the trail keeps ours.
                    let reason = match e.trail.first_failure() {
                        Some(s) if s.check == "expiry" => "Token expired.".to_string(),
                        Some(s) if s.check == "session" => "Token has been revoked.".to_string(),
                        Some(s) if s.check == "token type" || s.check == "audience" => {
                            if UnverifiedJwt::parse(token).is_ok_and(|t| !t.claims.contains_key("aud")) {
                                "Missing a required claim: aud".to_string()
                            } else {
                                "Not a valid OpenId Connect identity token.".to_string()
                            }
                        }
                        Some(s) => upper_first(&s.detail),
                        None => e.message.clone(),
                    };
                    return Err(recode(e, Reason::NotAuthorized, format!("Invalid login token. {reason}")));
                }
            };
            let iss = web.claims.get("iss").and_then(Value::as_str).unwrap_or_default().to_string();
            let user_pool = user_pool_of(&web.provider)
                .filter(|_| crate::pool_names::is_pool_issuer(&self.kernel.issuer, &iss))
                .map(str::to_string);
            let mut names = vec![web.provider.clone()];
            let provider = match &user_pool {
                Some(pool_id) => {
                    let aws = user_pool_provider_name(pool_id);
                    if !names.contains(&aws) {
                        names.push(aws.clone());
                    }
                    aws
                }
                None => web.provider.clone(),
            };
            if !names.contains(key) {
                return Err(not_authorized(
                    call,
                    "login provider",
                    format!("the Logins key {key:?} does not name the token's provider (it is {})", names.join(" or ")),
                    "Invalid login token. Issuer doesn't match providerName",
                ));
            }
            if provider == COGNITO_IDENTITY_PROVIDER {
                return Err(not_authorized(
                    call,
                    "login provider",
                    "an identity pool's own OpenID token is not a login (it goes to STS AssumeRoleWithWebIdentity)",
                    NOT_SUPPORTED,
                ));
            }
            let pool = &rec.pool;
            if let Some(pool_id) = &user_pool {
                let named: Vec<&CognitoIdentityProvider> =
                    pool.cognito_identity_providers.iter().filter(|p| names.contains(&p.provider_name)).collect();
                let Some(p) = named.iter().find(|p| p.client_id.as_deref().is_none_or(|c| c == web.audience)) else {
                    let detail = if named.is_empty() {
                        format!("user pool {provider} is not among the identity pool's CognitoIdentityProviders")
                    } else {
                        format!(
                            "the token is for app client {:?}; the identity pool takes {} from {provider}",
                            web.audience,
                            named.iter().filter_map(|p| p.client_id.as_deref()).collect::<Vec<_>>().join(", ")
                        )
                    };
                    return Err(not_authorized(call, "login provider", detail, NOT_SUPPORTED));
                };
                if p.server_side_token_check {
                    self.server_side_token_check(pool_id, &web, call).await?;
                }
            } else {
                let oidc = pool
                    .open_id_connect_provider_arns
                    .iter()
                    .filter_map(|a| oidc_provider_of(a))
                    .any(|n| names.iter().any(|m| m == n));
                let supported = names
                    .iter()
                    .find_map(|n| pool.supported_login_providers.get(n))
                    .is_some_and(|app| app.split(',').map(str::trim).any(|a| a == web.audience));
                if !oidc && !supported {
                    return Err(not_authorized(
                        call,
                        "login provider",
                        format!(
                            "{provider} (audience {:?}) is neither among the identity pool's OpenIdConnectProviderARNs nor its SupportedLoginProviders",
                            web.audience
                        ),
                        NOT_SUPPORTED,
                    ));
                }
                if !supported {
                    self.oidc_provider_audience(&web, call).await?;
                }
            }
            let via = if *key == provider { String::new() } else { format!(" (Logins key {key})") };
            call.trail.pass("login", format!("subject {} of {provider}{via}, audience {}", web.subject, web.audience));
            out.push(Login { provider, names, web });
        }
        Ok(out)
    }

    /// An OIDC provider named by `OpenIdConnectProviderARNs` takes the tokens of the client ids
    /// its IAM OIDC provider lists, as on AWS. A configured upstream provider without one is
    /// held to its `audiences` (checked with the token); this server's own issuer has no other
    /// list, so without a registered provider its tokens are refused.
    async fn oidc_provider_audience(&self, web: &WebIdentity, call: &mut Call) -> Result<(), Refusal> {
        const AUDIENCE: &str = "Invalid login token. Incorrect token audience.";
        match self.iam.registered_audience(web).await {
            Ok(true) => {
                let detail = format!("client {:?} is listed by the IAM OIDC provider {}", web.audience, web.provider);
                call.trail.pass("audience", detail);
                Ok(())
            }
            Err((check, detail)) => Err(not_authorized(call, check, detail, AUDIENCE)),
            Ok(false) if web.claims.get("iss").and_then(Value::as_str) == Some(self.kernel.issuer.as_str()) => {
                Err(not_authorized(
                    call,
                    "audience",
                    format!(
                        "no IAM OIDC provider is registered for this server's issuer {}: its ClientIDList names the \
                         app clients whose id tokens identity pools take (CreateOpenIDConnectProvider)",
                        web.provider
                    ),
                    AUDIENCE,
                ))
            }
            Ok(false) => {
                let detail = format!("client {:?} is among the provider's configured audiences", web.audience);
                call.trail.pass("audience", detail);
                Ok(())
            }
        }
    }

    /// `ServerSideTokenCheck`: the token's user is still a member of the pool. That its user
    /// exists and is enabled and its session has not ended, [`crate::iam::Iam::web_identity`] checked for
    /// every pool (AWS checks that only with this setting).
    async fn server_side_token_check(&self, pool_id: &str, web: &WebIdentity, call: &mut Call) -> Result<(), Refusal> {
        if !self.user_pools.is_pool_member(pool_id, &web.subject).await? {
            return Err(not_authorized(
                call,
                "server-side token check",
                format!("user {} is not a member of user pool {pool_id}", web.subject),
                "Invalid login token. Token has been revoked.",
            ));
        }
        call.trail.pass("server-side token check", format!("user {} is a member of {pool_id}", web.subject));
        Ok(())
    }

    /// The identity of this pool a login is linked to, if any.
    pub(crate) async fn linked_identity(&self, pool_id: &str, login: &Login) -> Result<Option<String>, Refusal> {
        let id = login_doc_id(pool_id, &login.provider, &login.web.subject);
        Ok(self
            .kernel
            .store
            .get_document(KIND_LOGIN, &id)
            .await?
            .and_then(|d| d.body.get("identity_id").and_then(Value::as_str).map(str::to_string)))
    }

    /// Links a login to an identity unless it is linked already; returns the identity it is
    /// linked to (another one when a concurrent call linked it first).
    pub(crate) async fn link_login(&self, pool_id: &str, login: &Login, identity_id: &str) -> Result<String, Refusal> {
        let id = login_doc_id(pool_id, &login.provider, &login.web.subject);
        let now = self.kernel.now();
        let body = json!({ "identity_id": identity_id, "provider": login.provider, "subject": login.web.subject });
        match self.kernel.store.insert_document(&Document::new(KIND_LOGIN, &id, pool_id, &body, now, now)).await {
            Ok(()) => Ok(identity_id.to_string()),
            Err(StoreError::Conflict(_)) => Ok(self.linked_identity(pool_id, login).await?.unwrap_or_default()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn identity(&self, identity_id: &str, call: &mut Call) -> Result<Identity, Refusal> {
        match self.kernel.store.get_document(KIND_IDENTITY, identity_id).await? {
            Some(d) => from_doc(d),
            None => {
                Err(call.refuse_plainly(Reason::NotFound, "identity", format!("Identity '{identity_id}' not found.")))
            }
        }
    }

    pub(crate) async fn save_identity(&self, i: &Identity, insert: bool) -> Result<(), Refusal> {
        if insert {
            let d = Document::new(KIND_IDENTITY, &i.identity_id, &i.pool_id, i, i.created_at, self.kernel.now());
            self.kernel.store.insert_document(&d).await?;
            return Ok(());
        }
        // Logins are only ever added: `i`'s are merged into the identity as stored, in one atomic
        // update, so that logins a concurrent call linked are kept.
        let found = self
            .kernel
            .store
            .update_record::<Identity, _>(KIND_IDENTITY, &i.identity_id, &i.pool_id, self.kernel.now(), |stored| {
                let Some(mut stored) = stored else { return (Change::Keep, false) };
                for l in &i.logins {
                    if !stored.logins.contains(l) {
                        stored.logins.push(l.clone());
                    }
                }
                stored.updated_at = stored.updated_at.max(i.updated_at);
                (Change::Put(stored), true)
            })
            .await?;
        if !found {
            return Err(StoreError::NotFound(format!("identity {}", i.identity_id)).into());
        }
        Ok(())
    }

    /// An identity and its pool, checked against the presented logins: an authenticated
    /// identity needs one of its own logins; logins not linked yet are linked to it (an
    /// unauthenticated identity so becomes authenticated, as on AWS); a login linked to another
    /// identity is refused. Without logins the identity must be unauthenticated and the pool
    /// must allow that.
    pub(crate) async fn identity_with_logins(
        &self,
        identity_id: &str,
        logins: &BTreeMap<String, String>,
        call: &mut Call,
    ) -> Result<(PoolRecord, Identity, Vec<Login>), Refusal> {
        let mut identity = self.identity(identity_id, call).await?;
        let rec = self.pool_record(&identity.pool_id, call).await?;
        if logins.is_empty() {
            if let Some(l) = identity.logins.first() {
                return Err(not_authorized(
                    call,
                    "identity",
                    format!("identity {identity_id} is authenticated (by {}) and no login was presented", l.provider),
                    &format!("Access to Identity '{identity_id}' is forbidden."),
                ));
            }
            if !rec.pool.allow_unauthenticated_identities {
                return Err(not_authorized(
                    call,
                    "unauthenticated",
                    "the identity pool does not allow unauthenticated identities",
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
            call.trail.pass("identity", format!("{identity_id}, unauthenticated"));
            Self::identity_principal(call, identity_id, None);
            return Ok((rec, identity, Vec::new()));
        }
        let verified = self.verify_logins(&rec, logins, call).await?;
        let mut matched = false;
        let mut unlinked = Vec::new();
        for l in &verified {
            match self.linked_identity(&rec.pool.identity_pool_id, l).await? {
                Some(other) if other != identity_id => return Err(not_authorized(
                    call,
                    "identity",
                    format!(
                        "the login {} of {} belongs to identity {other}, not {identity_id}",
                        l.web.subject, l.provider
                    ),
                    "Logins don't match. Please include at least one valid login for this identity or identity pool.",
                )),
                Some(_) => matched = true,
                None => unlinked.push(l),
            }
        }
        if !matched && !identity.logins.is_empty() {
            return Err(not_authorized(
                call,
                "identity",
                format!(
                    "none of the presented logins is one of identity {identity_id}'s ({})",
                    identity.logins.iter().map(|l| l.provider.as_str()).collect::<Vec<_>>().join(", ")
                ),
                "Logins don't match. Please include at least one valid login for this identity or identity pool.",
            ));
        }
        if !unlinked.is_empty() {
            for l in unlinked {
                let owner = self.link_login(&rec.pool.identity_pool_id, l, identity_id).await?;
                if owner != identity_id {
                    return Err(not_authorized(
                        call,
                        "identity",
                        format!("the login {} of {} belongs to identity {owner}", l.web.subject, l.provider),
                        "Logins don't match. Please include at least one valid login for this identity or identity pool.",
                    ));
                }
                identity.logins.push(LinkedLogin { provider: l.provider.clone(), subject: l.web.subject.clone() });
                call.trail.pass("link", format!("{} linked to identity {identity_id}", l.provider));
            }
            identity.updated_at = self.kernel.now();
            self.save_identity(&identity, false).await?;
        }
        call.trail.pass("identity", format!("{identity_id}, authenticated"));
        Self::identity_principal(call, identity_id, verified.first());
        Ok((rec, identity, verified))
    }

    /// The role the pool gives these logins: a role mapping of a login's provider (by token
    /// claims or by rules), else the authenticated role; without logins the unauthenticated
    /// role. `custom` (`CustomRoleArn`) chooses among a token's `cognito:roles`.
    pub(crate) async fn choose_role(
        &self,
        rec: &PoolRecord,
        logins: &[Login],
        custom: Option<&str>,
        call: &mut Call,
    ) -> Result<String, Refusal> {
        let default_role = |call: &mut Call, which: &str| match rec.roles.get(which) {
            Some(arn) => {
                call.trail.pass("role", format!("the identity pool's {which} role {arn}"));
                Ok(arn.clone())
            }
            None => Err(call.refuse(
                Reason::InvalidPoolConfiguration,
                "role",
                format!("the identity pool has no {which} role"),
                INVALID_CONFIGURATION,
            )),
        };
        if logins.is_empty() {
            return default_role(call, "unauthenticated");
        }
        for l in logins {
            let Some((key, mapping)) = rec.role_mappings.iter().find(|(k, _)| {
                l.names.iter().any(|n| {
                    *k == n
                        || k.strip_prefix(n.as_str()).and_then(|r| r.strip_prefix(':')) == Some(l.web.audience.as_str())
                })
            }) else {
                continue;
            };
            let chosen = match mapping.kind {
                RoleMappingType::Token => {
                    let (roles, preferred) = self.token_roles(l).await?;
                    match (custom, preferred) {
                        (Some(c), _) if roles.iter().any(|r| r == c) => {
                            call.trail.pass(
                                "role mapping",
                                format!("{key} (Token): CustomRoleArn {c} is among the token's roles"),
                            );
                            Some(c.to_string())
                        }
                        (_, Some(p)) => {
                            call.trail.pass("role mapping", format!("{key} (Token): cognito:preferred_role {p}"));
                            Some(p)
                        }
                        _ if roles.len() == 1 => {
                            call.trail
                                .pass("role mapping", format!("{key} (Token): the token's one role {}", roles[0]));
                            Some(roles[0].clone())
                        }
                        _ => {
                            call.trail.skip(
                                "role mapping",
                                format!(
                                    "{key} (Token): no cognito:preferred_role and {} cognito:roles{}",
                                    roles.len(),
                                    custom
                                        .map(|c| format!(" (CustomRoleArn {c} is not among them)"))
                                        .unwrap_or_default()
                                ),
                            );
                            None
                        }
                    }
                }
                RoleMappingType::Rules => {
                    let rules = mapping.rules_configuration.as_ref().map(|r| r.rules.as_slice()).unwrap_or_default();
                    match rules.iter().position(|r| r.matches(&l.web.claims)) {
                        Some(i) => {
                            let r = &rules[i];
                            call.trail.pass(
                                "role mapping",
                                format!(
                                    "{key} (Rules): rule {} ({} {:?} {:?}) matches: {}",
                                    i + 1,
                                    r.claim,
                                    r.match_type,
                                    r.value,
                                    r.role_arn
                                ),
                            );
                            Some(r.role_arn.clone())
                        }
                        None => {
                            call.trail.skip(
                                "role mapping",
                                format!("{key} (Rules): none of {} rule(s) matches the token's claims", rules.len()),
                            );
                            None
                        }
                    }
                }
            };
            return match chosen {
                Some(arn) => Ok(arn),
                None => match mapping.ambiguous_role_resolution {
                    Some(AmbiguousRoleResolution::AuthenticatedRole) => default_role(call, "authenticated"),
                    _ => Err(not_authorized(
                        call,
                        "role mapping",
                        format!("{key}: no role matched and AmbiguousRoleResolution is Deny"),
                        "The ambiguous role mapping rules denied this request.",
                    )),
                },
            };
        }
        if let Some(c) = custom {
            call.trail.skip("custom role", format!("CustomRoleArn {c} is only used with a Token role mapping"));
        }
        default_role(call, "authenticated")
    }

    /// A token's `cognito:roles` and `cognito:preferred_role`; for a token of one of our user
    /// pools without them, the roles of its groups (`RoleArn`), the preferred one of the group
    /// with the lowest precedence, as Cognito puts them in id tokens.
    async fn token_roles(&self, l: &Login) -> Result<(Vec<String>, Option<String>), Refusal> {
        let c = &l.web.claims;
        let strings = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                Some(Value::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            }
        };
        let roles = strings(c.get("cognito:roles"));
        let preferred = c.get("cognito:preferred_role").and_then(Value::as_str).map(str::to_string);
        if !roles.is_empty() || preferred.is_some() {
            return Ok((roles, preferred));
        }
        let Some(pool_id) = user_pool_of(&l.provider) else { return Ok((Vec::new(), None)) };
        let with_roles = self.user_pools.group_roles(pool_id, &strings(c.get("cognito:groups"))).await?;
        let best = with_roles.iter().filter_map(|(p, _)| *p).min();
        let at_best: Vec<&String> =
            with_roles.iter().filter(|(p, _)| best.is_some() && *p == best).map(|(_, a)| a).collect();
        let preferred = match at_best.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        };
        let mut roles: Vec<String> = with_roles.into_iter().map(|(_, a)| a).collect();
        roles.dedup();
        Ok((roles, preferred))
    }

    /// The role an ARN names, or the pool's configuration error.
    pub(crate) async fn pool_role(&self, arn: &str, call: &mut Call) -> Result<Role, Refusal> {
        let missing = |call: &mut Call| {
            call.refuse(
                Reason::InvalidPoolConfiguration,
                "role",
                format!("role {arn} does not exist"),
                INVALID_CONFIGURATION,
            )
        };
        let Some(name) = role_name_of(arn) else { return Err(missing(call)) };
        match self.iam.stored_role(name).await? {
            Some(role) if role.arn(&self.kernel.config.aws.account_id) == arn => Ok(role),
            _ => Err(missing(call)),
        }
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
