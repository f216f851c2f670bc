//! A pool's domain: the prefix its hosted sign-in is served under (Cognito's
//! `<prefix>.auth.<region>.amazoncognito.com`). `CreateUserPoolDomain`,
//! `DescribeUserPoolDomain`, `UpdateUserPoolDomain`, `DeleteUserPoolDomain`, and the lookup
//! the hosted sign-in makes by domain. A domain names one pool and a pool has one domain: the
//! domain's record is inserted if absent (unique across the server), then the pool takes it in
//! one atomic update, so two creations racing for one pool leave one domain.

use super::*;

const KIND_DOMAIN: &str = "pool_domain";
/// Words Cognito keeps out of domain prefixes.
const RESERVED: &[&str] = &["aws", "amazon", "cognito"];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PoolDomain {
    domain: String,
    pool_id: String,
    created_at: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DomainOfPool {
    domain: String,
    user_pool_id: String,
    #[serde(default)]
    custom_domain_config: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DomainRef {
    domain: String,
}

/// Cognito's rule for a prefix: `^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?$`, no reserved word.
pub fn check_domain(domain: &str) -> Result<(), String> {
    let b = domain.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let shaped = !b.is_empty() && b.len() <= 63 && b.iter().all(inner) && edge(&b[0]) && edge(&b[b.len() - 1]);
    if !shaped {
        return Err(format!(
            "1 validation error detected: Value '{}' at 'domain' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: ^[a-z0-9](?:[a-z0-9\\-]{{0,61}}[a-z0-9])?$",
            crate::excerpt::excerpt(domain)
        ));
    }
    if let Some(w) = RESERVED.iter().find(|w| domain.contains(*w)) {
        return Err(format!("Domain cannot contain reserved word: {w}"));
    }
    Ok(())
}

impl UserPools {
    /// The pool `domain` names, if any (the hosted sign-in's first question).
    pub(crate) async fn domain_pool(&self, domain: &str) -> Result<Option<UserPool>, Refusal> {
        if check_domain(domain).is_err() {
            return Ok(None);
        }
        let Some(d) = self.kernel.store.get_document(KIND_DOMAIN, domain).await? else { return Ok(None) };
        let record: PoolDomain = from_doc(d)?;
        match self.kernel.store.get_document(KIND_POOL, &record.pool_id).await? {
            Some(p) => Ok(Some(from_doc(p)?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn create_pool_domain(&self, req: DomainOfPool, call: &mut Call) -> Result<Value, Refusal> {
        if req.custom_domain_config.is_some() {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "domain",
                "Custom domains (CustomDomainConfig) are not supported: give a prefix domain, served by this server.",
            ));
        }
        check_domain(&req.domain).map_err(|m| call.refuse_plainly(Reason::InvalidParameter, "domain", m))?;
        let pool = self.pool(&req.user_pool_id, call).await?;
        self.attach_domain(&pool.id, &req.domain, call).await?;
        call.trail.pass("create", format!("domain {} of pool {}", req.domain, pool.id));
        Ok(json!({}))
    }

    /// Inserts the domain's record, then gives it to the pool unless the pool has one already.
    async fn attach_domain(&self, pool_id: &str, domain: &str, call: &mut Call) -> Result<(), Refusal> {
        let now = self.kernel.now();
        let record = PoolDomain { domain: domain.into(), pool_id: pool_id.into(), created_at: now };
        match self.kernel.store.insert_document(&Document::new(KIND_DOMAIN, domain, pool_id, &record, now, now)).await {
            Err(StoreError::Conflict(_)) => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "domain",
                    "Domain already associated with another user pool.",
                ))
            }
            other => other?,
        }
        let earlier = self
            .kernel
            .store
            .update_record::<UserPool, _>(KIND_POOL, pool_id, pool_id, now, |p| match p {
                Some(mut p) if p.domain.is_none() => {
                    p.domain = Some(domain.to_string());
                    p.updated_at = now;
                    (Change::Put(p), Ok(()))
                }
                Some(p) => (Change::Keep, Err(p.domain)),
                None => (Change::Keep, Err(None)),
            })
            .await?;
        if let Err(had) = earlier {
            self.kernel.store.delete_document(KIND_DOMAIN, domain).await?;
            let message = match had {
                Some(_) => format!("User pool {pool_id} already has a domain configured."),
                None => format!("User pool {pool_id} does not exist."),
            };
            return Err(call.refuse_plainly(Reason::InvalidParameter, "domain", message));
        }
        Ok(())
    }

    pub(crate) async fn describe_pool_domain(&self, req: DomainRef, call: &mut Call) -> Result<Value, Refusal> {
        check_domain(&req.domain).map_err(|m| call.refuse_plainly(Reason::InvalidParameter, "domain", m))?;
        // An unknown domain is described as empty, as AWS answers it.
        let Some(d) = self.kernel.store.get_document(KIND_DOMAIN, &req.domain).await? else {
            call.trail.pass("domain", format!("no domain {}", req.domain));
            return Ok(json!({ "DomainDescription": {} }));
        };
        let record: PoolDomain = from_doc(d)?;
        Ok(json!({ "DomainDescription": {
            "UserPoolId": record.pool_id,
            "AWSAccountId": self.kernel.config.aws.account_id,
            "Domain": record.domain,
            "CloudFrontDistribution": format!("{}.{}", record.domain, self.kernel.config.server.auth_domain_suffix),
            "Version": record.created_at.to_string(),
            "Status": "ACTIVE",
        } }))
    }

    /// Only a custom domain's certificate can change on AWS; there are none here.
    pub(crate) async fn update_pool_domain(&self, req: DomainOfPool, call: &mut Call) -> Result<Value, Refusal> {
        self.owned_domain(&req, call).await?;
        if req.custom_domain_config.is_some() {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "domain",
                "Custom domains (CustomDomainConfig) are not supported: a prefix domain has nothing to update.",
            ));
        }
        Ok(json!({}))
    }

    pub(crate) async fn delete_pool_domain(&self, req: DomainOfPool, call: &mut Call) -> Result<Value, Refusal> {
        self.owned_domain(&req, call).await?;
        let now = self.kernel.now();
        self.kernel
            .store
            .update_record::<UserPool, _>(KIND_POOL, &req.user_pool_id, &req.user_pool_id, now, |p| match p {
                Some(mut p) if p.domain.as_deref() == Some(req.domain.as_str()) => {
                    p.domain = None;
                    p.updated_at = now;
                    (Change::Put(p), ())
                }
                _ => (Change::Keep, ()),
            })
            .await?;
        self.kernel.store.delete_document(KIND_DOMAIN, &req.domain).await?;
        call.trail.pass("delete", format!("domain {} of pool {}", req.domain, req.user_pool_id));
        Ok(json!({}))
    }

    /// The domain, when it is this pool's.
    async fn owned_domain(&self, req: &DomainOfPool, call: &mut Call) -> Result<(), Refusal> {
        check_domain(&req.domain).map_err(|m| call.refuse_plainly(Reason::InvalidParameter, "domain", m))?;
        self.pool(&req.user_pool_id, call).await?;
        let owner = match self.kernel.store.get_document(KIND_DOMAIN, &req.domain).await? {
            Some(d) => Some(from_doc::<PoolDomain>(d)?.pool_id),
            None => None,
        };
        if owner.as_deref() != Some(req.user_pool_id.as_str()) {
            return Err(call.refuse_plainly(Reason::InvalidParameter, "domain", "No such domain or user pool exists."));
        }
        Ok(())
    }

    /// Gives a pool the domain the configuration names (kept when it has it already).
    #[crate::entry_point]
    pub async fn ensure_pool_domain(&self, pool_id: &str, domain: &str) -> anyhow::Result<()> {
        check_domain(domain).map_err(|m| anyhow::anyhow!("user pool {pool_id}: domain {domain:?}: {m}"))?;
        let Some(d) = self.kernel.store.get_document(KIND_POOL, pool_id).await? else {
            anyhow::bail!("user pool {pool_id} does not exist");
        };
        let pool: UserPool = serde_json::from_value(d.body)?;
        match pool.domain.as_deref() {
            Some(d) if d == domain => Ok(()),
            Some(other) => anyhow::bail!("user pool {pool_id} has the domain {other:?} already (not {domain:?})"),
            None => {
                let mut call = Call::default();
                let Err(e) = self.attach_domain(pool_id, domain, &mut call).await else { return Ok(()) };
                // Another instance starting on the same store gave this pool the domain first.
                let owner = match self.kernel.store.get_document(KIND_DOMAIN, domain).await? {
                    Some(d) => Some(serde_json::from_value::<PoolDomain>(d.body)?.pool_id),
                    None => None,
                };
                match owner {
                    Some(owner) if owner == pool_id => Ok(()),
                    _ => anyhow::bail!("user pool {pool_id}: domain {domain:?}: {}", e.message),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_as_cognito_takes_them() {
        assert!(check_domain("my-app").is_ok());
        assert!(check_domain("a").is_ok());
        assert!(check_domain("a1-b2").is_ok());
        for bad in ["", "-app", "app-", "My-App", "app.example", "a_b", &"x".repeat(64)] {
            assert!(check_domain(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_domain("my-cognito-app").unwrap_err(), "Domain cannot contain reserved word: cognito");
        assert!(check_domain("awsome").is_err());
    }
}
