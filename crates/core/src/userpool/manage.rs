//! User pools and groups: creation, description, listing, deletion (app clients: `clients.rs`).

use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateUserPool {
    pool_name: String,
    #[serde(default)]
    policies: Option<Value>,
    #[serde(default)]
    auto_verified_attributes: Vec<String>,
    #[serde(default)]
    mfa_configuration: Option<String>,
    #[serde(default)]
    admin_create_user_config: Option<Value>,
    #[serde(default)]
    user_pool_tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PoolRef {
    user_pool_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Page {
    #[serde(default)]
    pub(super) user_pool_id: Option<String>,
    #[serde(default, alias = "Limit")]
    pub(super) max_results: Option<i64>,
    #[serde(default)]
    pub(super) next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateGroup {
    user_pool_id: String,
    group_name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    precedence: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupRef {
    user_pool_id: String,
    group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserGroup {
    user_pool_id: String,
    username: String,
    group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserPage {
    user_pool_id: String,
    username: String,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

pub(super) fn page_size(call: &mut Call, v: Option<i64>, max: i64, default: i64) -> Result<u32, Refusal> {
    match v {
        None => Ok(default as u32),
        Some(n) if (1..=max).contains(&n) => Ok(n as u32),
        Some(n) => Err(call.refuse_plainly(Reason::InvalidParameter, "request",
            format!("1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {max}"),
        )),
    }
}

impl UserPools {
    pub(crate) fn pool_json(&self, p: &UserPool, users: Option<usize>) -> Value {
        json!({
            "Id": p.id,
            "Name": p.name,
            "Arn": p.arn(&self.kernel.config.aws.account_id),
            "CreationDate": ts(p.created_at),
            "LastModifiedDate": ts(p.updated_at),
            "Policies": { "PasswordPolicy": {
                "MinimumLength": p.password_min_length.max(6),
                "RequireUppercase": p.password_classes.require_uppercase,
                "RequireLowercase": p.password_classes.require_lowercase,
                "RequireNumbers": p.password_classes.require_numbers,
                "RequireSymbols": p.password_classes.require_symbols,
                "TemporaryPasswordValidityDays": 7
            } },
            "DeletionProtection": "INACTIVE",
            "LambdaConfig": {},
            "SchemaAttributes": [
                { "Name": "sub", "AttributeDataType": "String", "DeveloperOnlyAttribute": false, "Mutable": false, "Required": true,
                  "StringAttributeConstraints": { "MinLength": "1", "MaxLength": "2048" } },
                { "Name": "email", "AttributeDataType": "String", "DeveloperOnlyAttribute": false, "Mutable": true, "Required": false,
                  "StringAttributeConstraints": { "MinLength": "0", "MaxLength": "2048" } },
                { "Name": "email_verified", "AttributeDataType": "Boolean", "DeveloperOnlyAttribute": false, "Mutable": true, "Required": false }
            ],
            "AutoVerifiedAttributes": p.auto_verified_attributes,
            "MfaConfiguration": if p.mfa_configuration.is_empty() { "OFF" } else { p.mfa_configuration.as_str() },
            "EstimatedNumberOfUsers": users.unwrap_or(0),
            "AdminCreateUserConfig": { "AllowAdminCreateUserOnly": p.admin_create_user_only, "UnusedAccountValidityDays": 7 },
            "UserPoolTags": p.tags,
            "Domain": p.domain,
        })
    }

    pub(crate) async fn create_user_pool(&self, req: CreateUserPool, call: &mut Call) -> Result<Value, Refusal> {
        let name = req.pool_name.trim();
        if name.is_empty() || name.len() > 128 {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "request",
                "PoolName must be 1 to 128 characters.",
            ));
        }
        let issuer_form = match req.user_pool_tags.get(ISSUER_TAG).map(String::as_str) {
            None | Some("local") => IssuerForm::Local,
            Some("aws") => IssuerForm::Aws,
            Some(other) => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "request",
                    format!("tag {ISSUER_TAG} must be \"aws\" or \"local\", not {other:?}"),
                ))
            }
        };
        let min_len = req
            .policies
            .as_ref()
            .and_then(|p| p.pointer("/PasswordPolicy/MinimumLength"))
            .and_then(Value::as_u64)
            .unwrap_or(8) as u32;
        let password_classes = match req.policies.as_ref().and_then(|p| p.get("PasswordPolicy")) {
            Some(policy) => serde_json::from_value(policy.clone()).map_err(|e| {
                call.refuse_plainly(Reason::InvalidParameter, "password policy", format!("PasswordPolicy: {e}"))
            })?,
            None => PasswordClasses::default(),
        };
        // No second factor is asked for here: a pool that says MFA is required would sign users in
        // with a password alone, so it is refused rather than described as something it is not.
        let mfa = req.mfa_configuration.unwrap_or_default();
        if !matches!(mfa.as_str(), "" | "OFF") {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "mfa",
                format!(
                    "MfaConfiguration {} is not supported: no second factor is offered, so it must be OFF",
                    crate::excerpt::excerpt(&mfa)
                ),
            ));
        }
        let now = self.kernel.now();
        let pool = UserPool {
            id: new_pool_id(&self.kernel.config.aws.region),
            name: name.to_string(),
            region: self.kernel.config.aws.region.clone(),
            issuer_form,
            tags: req.user_pool_tags,
            auto_verified_attributes: req.auto_verified_attributes,
            mfa_configuration: mfa,
            password_min_length: min_len,
            password_classes,
            admin_create_user_only: req
                .admin_create_user_config
                .as_ref()
                .and_then(|c| c.get("AllowAdminCreateUserOnly"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            domain: None,
            created_at: now,
            updated_at: now,
        };
        self.kernel.store.insert_document(&Document::new(KIND_POOL, &pool.id, &pool.id, &pool, now, now)).await?;
        call.trail.pass("create", format!("user pool {} ({})", pool.id, pool.name));
        Ok(json!({ "UserPool": self.pool_json(&pool, Some(0)) }))
    }

    /// Creates a pool with a given id (configuration and the demo); an existing one is kept.
    #[crate::entry_point]
    pub async fn ensure_user_pool(&self, id: &str, name: &str, issuer_form: IssuerForm) -> anyhow::Result<UserPool> {
        if let Some(d) = self.kernel.store.get_document(KIND_POOL, id).await? {
            return Ok(serde_json::from_value(d.body)?);
        }
        anyhow::ensure!(is_pool_id(id), "user pool id {id:?} must look like <region>_<letters and digits>");
        let now = self.kernel.now();
        let pool = UserPool {
            id: id.into(),
            name: name.into(),
            region: id.split('_').next().unwrap_or_default().into(),
            issuer_form,
            tags: BTreeMap::new(),
            auto_verified_attributes: vec!["email".into()],
            mfa_configuration: String::new(),
            password_min_length: 8,
            password_classes: PasswordClasses::default(),
            admin_create_user_only: false,
            domain: None,
            created_at: now,
            updated_at: now,
        };
        match self.kernel.store.insert_document(&Document::new(KIND_POOL, id, id, &pool, now, now)).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(pool),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn describe_user_pool(&self, req: PoolRef, call: &mut Call) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let users = self.kernel.store.list_documents(KIND_MEMBER, Some(&pool.id), None, 100_000).await?.len();
        Ok(json!({ "UserPool": self.pool_json(&pool, Some(users)) }))
    }

    pub(crate) async fn list_user_pools(&self, req: Page, call: &mut Call) -> Result<Value, Refusal> {
        let Some(max) = req.max_results else {
            return Err(call.refuse_plainly(Reason::InvalidParameter, "request", "MaxResults is required."));
        };
        let limit = page_size(call, Some(max), 60, 60)?;
        let after = parse_page_token(call, req.next_token.as_deref())?;
        let docs = self.kernel.store.list_documents(KIND_POOL, None, after.as_deref(), limit + 1).await?;
        let more = docs.len() > limit as usize;
        let pools: Vec<UserPool> = docs.into_iter().take(limit as usize).map(from_doc).collect::<Result<_, _>>()?;
        let next = more.then(|| page_token(&pools.last().expect("page").id));
        let out: Vec<Value> = pools
            .iter()
            .map(|p| json!({ "Id": p.id, "Name": p.name, "LambdaConfig": {}, "Status": "Enabled", "LastModifiedDate": ts(p.updated_at), "CreationDate": ts(p.created_at) }))
            .collect();
        Ok(json!({ "UserPools": out, "NextToken": next }))
    }

    /// Deletes the pool with its clients, groups and members (users of the pool are the pool's).
    pub(crate) async fn delete_user_pool(&self, req: PoolRef, call: &mut Call) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        for d in self.kernel.store.list_documents(KIND_MEMBER, Some(&pool.id), None, u32::MAX).await? {
            self.kernel.store.revoke_user_sessions(&d.id).await?;
            self.kernel.store.delete_user(&d.id).await?;
        }
        for d in self.kernel.store.list_documents(KIND_CLIENT, Some(&pool.id), None, u32::MAX).await? {
            self.tokens.remove_client(&d.id).await.map_err(Refusal::storage)?;
        }
        let n = self.kernel.store.delete_pool_documents(&pool.id).await?;
        call.trail.pass("delete", format!("user pool {} and {n} object(s) deleted", pool.id));
        Ok(json!({}))
    }

    // --- groups ---

    fn group_json(g: &PoolGroup) -> Value {
        json!({
            "GroupName": g.name,
            "UserPoolId": g.pool_id,
            "Description": g.description,
            "RoleArn": g.role_arn,
            "Precedence": g.precedence,
            "LastModifiedDate": ts(g.updated_at),
            "CreationDate": ts(g.created_at),
        })
    }

    async fn group(&self, pool_id: &str, name: &str, call: &mut Call) -> Result<PoolGroup, Refusal> {
        match self.kernel.store.get_document(KIND_GROUP, &format!("{pool_id}/{name}")).await? {
            Some(d) => from_doc(d),
            None => Err(call.refuse_plainly(Reason::NotFound, "group", "Group not found.")),
        }
    }

    pub(crate) async fn create_group(&self, req: CreateGroup, call: &mut Call) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let name = req.group_name.trim();
        if name.is_empty() || name.len() > 128 || name.contains('/') {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "request",
                "GroupName must be 1 to 128 characters, without '/'.",
            ));
        }
        let now = self.kernel.now();
        let group = PoolGroup {
            pool_id: pool.id.clone(),
            name: name.to_string(),
            description: req.description,
            precedence: req.precedence,
            role_arn: req.role_arn,
            created_at: now,
            updated_at: now,
        };
        match self
            .kernel
            .store
            .insert_document(&Document::new(KIND_GROUP, &format!("{}/{name}", pool.id), &pool.id, &group, now, now))
            .await
        {
            Err(StoreError::Conflict(_)) => {
                return Err(call.refuse_plainly(Reason::GroupExists, "group", "A group with the name already exists."))
            }
            other => other?,
        }
        call.trail.pass("create", format!("group {name:?} in {}", pool.id));
        Ok(json!({ "Group": Self::group_json(&group) }))
    }

    /// Creates a group if the pool lacks it (configuration and the demo).
    #[crate::entry_point]
    pub async fn ensure_pool_group(&self, pool_id: &str, name: &str) -> anyhow::Result<()> {
        Ok(self.insert_group_if_absent(pool_id, name, None, self.kernel.now()).await?)
    }

    /// Creates group `name` of `pool_id` unless it exists (one insert-if-absent).
    pub(crate) async fn insert_group_if_absent(
        &self,
        pool_id: &str,
        name: &str,
        description: Option<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        let group = PoolGroup {
            pool_id: pool_id.into(),
            name: name.into(),
            description,
            precedence: None,
            role_arn: None,
            created_at: now,
            updated_at: now,
        };
        match self
            .kernel
            .store
            .insert_document(&Document::new(KIND_GROUP, &format!("{pool_id}/{name}"), pool_id, &group, now, now))
            .await
        {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn get_group(&self, req: GroupRef, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let g = self.group(&req.user_pool_id, &req.group_name, call).await?;
        Ok(json!({ "Group": Self::group_json(&g) }))
    }

    pub(crate) async fn list_groups(&self, req: Page, call: &mut Call) -> Result<Value, Refusal> {
        let pool = self.pool(req.user_pool_id.as_deref().unwrap_or_default(), call).await?;
        let limit = page_size(call, req.max_results, 60, 60)?;
        let after = parse_page_token(call, req.next_token.as_deref())?;
        let docs = self.kernel.store.list_documents(KIND_GROUP, Some(&pool.id), after.as_deref(), limit + 1).await?;
        let more = docs.len() > limit as usize;
        let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        let groups: Vec<PoolGroup> = docs.into_iter().take(limit as usize).map(from_doc).collect::<Result<_, _>>()?;
        let next = more.then(|| page_token(&ids[limit as usize - 1]));
        Ok(json!({ "Groups": groups.iter().map(Self::group_json).collect::<Vec<_>>(), "NextToken": next }))
    }

    pub(crate) async fn delete_group(&self, req: GroupRef, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let g = self.group(&req.user_pool_id, &req.group_name, call).await?;
        for d in self.kernel.store.list_documents(KIND_MEMBER, Some(&g.pool_id), None, u32::MAX).await? {
            if let Some(u) = self.kernel.store.get_user(&d.id).await? {
                if u.groups.iter().any(|x| x == &g.name) {
                    self.kernel
                        .store
                        .update_user_record(&u.id, self.kernel.now(), |u| u.groups.retain(|x| x != &g.name))
                        .await?;
                }
            }
        }
        self.kernel.store.delete_document(KIND_GROUP, &format!("{}/{}", g.pool_id, g.name)).await?;
        call.trail.pass("delete", format!("group {:?}", g.name));
        Ok(json!({}))
    }

    pub(crate) async fn admin_add_user_to_group(
        &self,
        req: UserGroup,
        call: &mut Call,
        add: bool,
    ) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let g = self.group(&req.user_pool_id, &req.group_name, call).await?;
        let (user, _) = self.existing_member(&req.user_pool_id, &req.username, call).await?;
        // On the user as stored, in one atomic update: concurrent group changes are all kept.
        self.kernel
            .store
            .update_user_record(&user.id, self.kernel.now(), |u| {
                let has = u.groups.iter().any(|x| x == &g.name);
                if add && !has {
                    u.groups.push(g.name.clone());
                } else if !add && has {
                    u.groups.retain(|x| x != &g.name);
                }
            })
            .await?;
        call.trail.pass(
            "groups",
            format!("{:?} {} group {:?}", user.username, if add { "added to" } else { "removed from" }, g.name),
        );
        Ok(json!({}))
    }

    pub(crate) async fn admin_list_groups_for_user(&self, req: UserPage, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let (user, _) = self.existing_member(&req.user_pool_id, &req.username, call).await?;
        let limit = page_size(call, req.limit, 60, 60)? as usize;
        let after = parse_page_token(call, req.next_token.as_deref())?;
        let mut names = user.groups.clone();
        names.sort();
        let names: Vec<String> =
            names.into_iter().filter(|n| after.as_deref().is_none_or(|a| n.as_str() > a)).collect();
        let mut groups = Vec::new();
        for n in names.iter().take(limit) {
            if let Some(d) = self.kernel.store.get_document(KIND_GROUP, &format!("{}/{n}", req.user_pool_id)).await? {
                groups.push(Self::group_json(&from_doc(d)?));
            }
        }
        let next = (names.len() > limit).then(|| page_token(&names[limit - 1]));
        Ok(json!({ "Groups": groups, "NextToken": next }))
    }
}
