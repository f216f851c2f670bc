//! The public actions: `GetId` (a stable identity per pool and login), `GetCredentialsForIdentity`
//! (the enhanced flow, with the `AssumeRoleWithWebIdentity` record AWS writes for it) and
//! `GetOpenIdToken` (the basic flow's token for STS).

use super::logins::Login;
use super::*;
use crate::clock::rfc3339;
use crate::iam::{WebIdentity, COGNITO_IDENTITY_ISSUER, COGNITO_IDENTITY_PROVIDER, STS_EVENT_SOURCE};
use crate::operation::Outcome;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetIdInput {
    identity_pool_id: Option<String>,
    #[serde(default)]
    logins: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct IdentityInput {
    identity_id: Option<String>,
    #[serde(default)]
    logins: BTreeMap<String, String>,
    custom_role_arn: Option<String>,
}

/// `amr` of an identity's tokens and sessions: `unauthenticated`, or `authenticated` and the
/// providers of its logins.
fn amr(logins: &[Login]) -> Vec<String> {
    if logins.is_empty() {
        return vec!["unauthenticated".into()];
    }
    let mut v = vec!["authenticated".to_string()];
    for l in logins {
        if !v.contains(&l.provider) {
            v.push(l.provider.clone());
        }
    }
    v
}

impl IdentityPools {
    pub(crate) async fn get_id(&self, req: GetIdInput, call: &mut Call) -> Result<Value, Refusal> {
        let pool_id = need(&req.identity_pool_id, "IdentityPoolId", call)?.to_string();
        let rec = self.pool_record(&pool_id, call).await?;
        let region = pool_id.split(':').next().unwrap_or(&self.kernel.config.aws.region).to_string();
        let now = self.kernel.now();
        if req.logins.is_empty() {
            if !rec.pool.allow_unauthenticated_identities {
                return Err(call.refuse(
                    Reason::NotAuthorized,
                    "unauthenticated",
                    "no Logins, and the identity pool does not allow unauthenticated identities",
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
            let identity_id = new_id(&region);
            let identity = Identity {
                identity_id: identity_id.clone(),
                pool_id: pool_id.clone(),
                logins: Vec::new(),
                created_at: now,
                updated_at: now,
            };
            self.save_identity(&identity, true).await?;
            call.trail.pass("identity", format!("new unauthenticated identity {identity_id}"));
            Self::identity_principal(call, &identity_id, None);
            return Ok(json!({ "IdentityId": identity_id }));
        }
        let logins = self.verify_logins(&rec, &req.logins, call).await?;
        let mut found = None;
        for l in &logins {
            if let Some(id) = self.linked_identity(&pool_id, l).await? {
                found = Some(id);
                break;
            }
        }
        let (identity_id, mut identity) = match found {
            Some(id) => {
                call.trail.pass("identity", format!("{id}, linked to the login"));
                let identity = self.identity(&id, call).await?;
                (id, identity)
            }
            None => {
                // The first login's link decides the id, so concurrent first calls agree.
                let fresh = new_id(&region);
                let owner = self.link_login(&pool_id, &logins[0], &fresh).await?;
                if owner == fresh {
                    let identity = Identity {
                        identity_id: fresh.clone(),
                        pool_id: pool_id.clone(),
                        logins: vec![LinkedLogin {
                            provider: logins[0].provider.clone(),
                            subject: logins[0].web.subject.clone(),
                        }],
                        created_at: now,
                        updated_at: now,
                    };
                    self.save_identity(&identity, true).await?;
                    call.trail.pass("identity", format!("new identity {fresh} for {}", logins[0].provider));
                    (fresh, identity)
                } else {
                    call.trail.pass("identity", format!("{owner}, linked to the login by a concurrent call"));
                    let identity = self.identity(&owner, call).await?;
                    (owner, identity)
                }
            }
        };
        // The other logins join the identity unless they belong to another one.
        let mut changed = false;
        for l in &logins {
            if identity.logins.iter().any(|x| x.provider == l.provider && x.subject == l.web.subject) {
                continue;
            }
            let owner = self.link_login(&pool_id, l, &identity_id).await?;
            if owner == identity_id {
                identity.logins.push(LinkedLogin { provider: l.provider.clone(), subject: l.web.subject.clone() });
                call.trail.pass("link", format!("{} linked to identity {identity_id}", l.provider));
                changed = true;
            } else {
                call.trail.skip("link", format!("{} is linked to identity {owner} already", l.provider));
            }
        }
        if changed {
            identity.updated_at = now;
            self.save_identity(&identity, false).await?;
        }
        Self::identity_principal(call, &identity_id, logins.first());
        Ok(json!({ "IdentityId": identity_id }))
    }

    pub(crate) async fn get_credentials_for_identity(
        &self,
        req: IdentityInput,
        call: &mut Call,
        ctx: &RequestContext,
    ) -> Result<Value, Refusal> {
        let identity_id = need(&req.identity_id, "IdentityId", call)?.to_string();
        let (rec, _, logins) = self.identity_with_logins(&identity_id, &req.logins, call).await?;
        let pool_id = rec.pool.identity_pool_id.clone();
        let role_arn = self.choose_role(&rec, &logins, req.custom_role_arn.as_deref(), call).await?;
        let role = self.pool_role(&role_arn, call).await?;
        let account = self.kernel.config.aws.account_id.clone();
        call.resources.push(json!({ "accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn }));
        let mut claims = Map::new();
        claims.insert("amr".into(), json!(amr(&logins)));
        let web = WebIdentity {
            provider: COGNITO_IDENTITY_PROVIDER.into(),
            subject: identity_id.clone(),
            audience: pool_id.clone(),
            claims,
        };
        // What STS would be asked: the record of it AWS writes for the enhanced flow.
        let sts = StsRecord {
            kernel: &self.kernel,
            ctx,
            role: &role,
            role_arn: &role_arn,
            pool_id: &pool_id,
            identity_id: &identity_id,
        };
        if let Err(why) = self.iam.trust_allows(&role, &web, call) {
            let mut trail = call.trail.clone();
            trail.fail("trust", why.clone());
            sts.write(&trail, Err("Not authorized to perform sts:AssumeRoleWithWebIdentity")).await;
            return Err(call.refuse(
                Reason::InvalidPoolConfiguration,
                "trust",
                format!("the trust policy of role {} does not admit this identity pool: {why}", role.name),
                INVALID_CONFIGURATION,
            ));
        }
        let duration = 3600.min(role.max_session_duration);
        let (creds, _) =
            self.iam.role_session(&role, &web, SESSION_NAME, duration, None, Some(identity_id.clone())).await?;
        call.trail.pass(
            "issue",
            format!("credentials {} for role {} until {}", creds.access_key_id, role.name, rfc3339(creds.expires_at)),
        );
        if !sts.write(&call.trail, Ok((&creds.access_key_id, creds.expires_at))).await {
            return Err(Refusal::new(
                Reason::Unavailable,
                "the AssumeRoleWithWebIdentity audit record could not be written",
            ));
        }
        Ok(json!({
            "IdentityId": identity_id,
            "Credentials": {
                "AccessKeyId": creds.access_key_id,
                "SecretKey": creds.secret_access_key,
                "SessionToken": creds.session_token,
                "Expiration": creds.expires_at,
            },
        }))
    }

    pub(crate) async fn get_open_id_token(&self, req: IdentityInput, call: &mut Call) -> Result<Value, Refusal> {
        let identity_id = need(&req.identity_id, "IdentityId", call)?.to_string();
        let (rec, _, logins) = self.identity_with_logins(&identity_id, &req.logins, call).await?;
        let now = self.kernel.now();
        let claims = json!({
            "iss": COGNITO_IDENTITY_ISSUER,
            "sub": identity_id,
            "aud": rec.pool.identity_pool_id,
            "amr": amr(&logins),
            "iat": now,
            "exp": now + OPEN_ID_TOKEN_TTL,
            "jti": crate::secrets::uuid_v4(),
            "https://cognito-identity.amazonaws.com/identity-pool-arn": self.identity_pool_arn(&rec.pool.identity_pool_id),
        });
        let token = self.kernel.keys.sign(&claims);
        call.trail.pass(
            "issue",
            format!("OpenID token for {identity_id} (aud {}), valid {OPEN_ID_TOKEN_TTL} s", rec.pool.identity_pool_id),
        );
        Ok(json!({ "IdentityId": identity_id, "Token": token }))
    }
}

/// The `AssumeRoleWithWebIdentity` event of the enhanced flow, as CloudTrail records it.
struct StsRecord<'a> {
    kernel: &'a Kernel,
    ctx: &'a RequestContext,
    role: &'a crate::iam::Role,
    role_arn: &'a str,
    pool_id: &'a str,
    identity_id: &'a str,
}

impl StsRecord<'_> {
    /// Writes the record: the issued credentials' key id and expiry, or the refusal.
    async fn write(&self, trail: &crate::trail::Trail, outcome: Result<(&str, i64), &str>) -> bool {
        let e = self.kernel;
        let account = &e.config.aws.account_id;
        let assumed_arn = format!("arn:aws:sts::{account}:assumed-role/{}/{SESSION_NAME}", self.role.name);
        let principal_id = format!("{COGNITO_IDENTITY_PROVIDER}:{}:{}", self.pool_id, self.identity_id);
        let (response, denial) = match outcome {
            Ok((key_id, expires_at)) => (
                json!({
                    "credentials": { "accessKeyId": key_id, "expiration": rfc3339(expires_at) },
                    "subjectFromWebIdentityToken": self.identity_id,
                    "assumedRoleUser": {
                        "assumedRoleId": format!("{}:{SESSION_NAME}", self.role.role_id),
                        "arn": assumed_arn,
                    },
                    "provider": COGNITO_IDENTITY_PROVIDER,
                    "audience": self.pool_id,
                }),
                None,
            ),
            Err(message) => (
                Value::Null,
                Some(Refusal {
                    reason: Reason::AccessDenied,
                    message: message.to_string(),
                    trail: trail.clone(),
                    recorded_message: None,
                }),
            ),
        };
        let record = Call {
            trail: trail.clone(),
            principal: Some(Principal {
                user_id: principal_id.clone(),
                username: self.identity_id.to_string(),
                identity_provider: Some(COGNITO_IDENTITY_PROVIDER.into()),
            }),
            resources: vec![json!({ "accountId": account, "type": "AWS::IAM::Role", "ARN": self.role_arn })],
            user_identity: Some(json!({
                "type": "WebIdentityUser",
                "principalId": principal_id,
                "userName": self.identity_id,
                "identityProvider": COGNITO_IDENTITY_PROVIDER,
            })),
            ..Call::default()
        };
        let params = json!({ "roleArn": self.role_arn, "roleSessionName": SESSION_NAME });
        let op = Operation::new("AssumeRoleWithWebIdentity", self.ctx, params)
            .read_only(true)
            .source(STS_EVENT_SOURCE)
            .filed(Filing::Management);
        let outcome = match &denial {
            Some(d) => Outcome::Refused(d),
            None => Outcome::Answered(response),
        };
        e.record(op, record, outcome).await
    }
}
