//! A pool's resource servers (Create/Describe/List/Update/DeleteResourceServer): an identifier,
//! a name and the scopes it defines. Each is one record per (pool, identifier), made by
//! insert-if-absent and changed by an updater in the store's transaction; the hosted sign-in asks
//! [`UserPools::resource_server_scopes`] whether `<identifier>/<scope>` exists.

use super::*;
use crate::excerpt::excerpt;

const KIND_RESOURCE_SERVER: &str = "pool_resource_server";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceServerScope {
    pub scope_name: String,
    pub scope_description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceServer {
    pub pool_id: String,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ResourceServerScope>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutResourceServer {
    user_pool_id: String,
    identifier: String,
    name: String,
    #[serde(default)]
    scopes: Vec<ResourceServerScope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ResourceServerRef {
    user_pool_id: String,
    identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ResourceServerPage {
    user_pool_id: String,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

fn rs_id(pool_id: &str, identifier: &str) -> String {
    format!("{pool_id}/{identifier}")
}

/// Cognito's rules for a resource server: its identifier (printable ASCII without `"` or `\`),
/// its name, and each scope's name (the same without `/`) and description, names distinct.
pub(crate) fn check_resource_server(
    identifier: &str,
    name: &str,
    scopes: &[ResourceServerScope],
) -> Result<(), String> {
    let printable = |s: &str, extra: &[char]| {
        s.chars().all(|c| ('!'..='~').contains(&c) && c != '"' && c != '\\' && !extra.contains(&c))
    };
    if !(1..=256).contains(&identifier.len()) || !printable(identifier, &[]) {
        return Err(format!(
            "Identifier {} must be 1 to 256 printable characters without '\"' or '\\'",
            excerpt(identifier)
        ));
    }
    let name_ok = |c: char| c.is_alphanumeric() || c == '_' || c.is_whitespace() || "+=,.@-".contains(c);
    if !(1..=256).contains(&name.chars().count()) || !name.chars().all(name_ok) {
        return Err(format!("Name {} must be 1 to 256 letters, digits, spaces or _+=,.@-", excerpt(name)));
    }
    if scopes.len() > 100 {
        return Err("At most 100 scopes.".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in scopes {
        if !(1..=256).contains(&s.scope_name.len()) || !printable(&s.scope_name, &['/']) {
            return Err(format!(
                "ScopeName {} must be 1 to 256 printable characters without '\"', '\\' or '/'",
                excerpt(&s.scope_name)
            ));
        }
        if !(1..=256).contains(&s.scope_description.chars().count()) {
            return Err(format!("ScopeDescription of {} must be 1 to 256 characters", s.scope_name));
        }
        if !seen.insert(s.scope_name.as_str()) {
            return Err(format!("ScopeName {} is given twice", s.scope_name));
        }
    }
    Ok(())
}

impl UserPools {
    fn resource_server_json(r: &ResourceServer) -> Value {
        json!({ "UserPoolId": r.pool_id, "Identifier": r.identifier, "Name": r.name, "Scopes": r.scopes })
    }

    async fn resource_server(&self, pool_id: &str, identifier: &str) -> Result<Option<ResourceServer>, Refusal> {
        match self.kernel.store.get_document(KIND_RESOURCE_SERVER, &rs_id(pool_id, identifier)).await? {
            Some(d) => from_doc(d).map(Some),
            None => Ok(None),
        }
    }

    /// The scope names `identifier` defines in the pool (`None`: no such resource server), for
    /// the hosted sign-in's check of `<identifier>/<scope>`.
    #[crate::entry_point]
    pub async fn resource_server_scopes(
        &self,
        pool_id: &str,
        identifier: &str,
    ) -> Result<Option<Vec<String>>, Refusal> {
        Ok(self
            .resource_server(pool_id, identifier)
            .await?
            .map(|r| r.scopes.into_iter().map(|s| s.scope_name).collect()))
    }

    /// Creates a resource server; `Ok(false)` when the pool has one with that identifier.
    pub(crate) async fn insert_resource_server(&self, r: &ResourceServer) -> Result<bool, Refusal> {
        let doc = Document::new(
            KIND_RESOURCE_SERVER,
            &rs_id(&r.pool_id, &r.identifier),
            &r.pool_id,
            r,
            r.created_at,
            r.updated_at,
        );
        match self.kernel.store.insert_document(&doc).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn create_resource_server(
        &self,
        req: PutResourceServer,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        if let Err(m) = check_resource_server(&req.identifier, &req.name, &req.scopes) {
            return Err(call.refuse_plainly(Reason::InvalidParameter, "resource server", m));
        }
        let now = self.kernel.now();
        let r = ResourceServer {
            pool_id: pool.id.clone(),
            identifier: req.identifier,
            name: req.name,
            scopes: req.scopes,
            created_at: now,
            updated_at: now,
        };
        if !self.insert_resource_server(&r).await? {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "resource server",
                format!(
                    "A resource server with identifier {} already exists in this user pool.",
                    excerpt(&r.identifier)
                ),
            ));
        }
        call.trail.pass("create", format!("resource server {} of pool {}", excerpt(&r.identifier), pool.id));
        Ok(json!({ "ResourceServer": Self::resource_server_json(&r) }))
    }

    fn no_resource_server(call: &mut Call, identifier: &str) -> Refusal {
        call.refuse_plainly(
            Reason::NotFound,
            "resource server",
            format!("Resource server {} does not exist.", excerpt(identifier)),
        )
    }

    pub(crate) async fn describe_resource_server(
        &self,
        req: ResourceServerRef,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        match self.resource_server(&req.user_pool_id, &req.identifier).await? {
            Some(r) => Ok(json!({ "ResourceServer": Self::resource_server_json(&r) })),
            None => Err(Self::no_resource_server(call, &req.identifier)),
        }
    }

    pub(crate) async fn list_resource_servers(
        &self,
        req: ResourceServerPage,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let limit = match req.max_results {
            None => 50,
            Some(n) if (1..=50).contains(&n) => n as u32,
            Some(n) => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "request",
                    format!("MaxResults {n} must be 1 to 50."),
                ))
            }
        };
        let after = parse_page_token(call, req.next_token.as_deref())?;
        let docs =
            self.kernel.store.list_documents(KIND_RESOURCE_SERVER, Some(&pool.id), after.as_deref(), limit + 1).await?;
        let more = docs.len() > limit as usize;
        let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        let servers: Vec<ResourceServer> =
            docs.into_iter().take(limit as usize).map(from_doc).collect::<Result<_, _>>()?;
        let next = more.then(|| page_token(&ids[limit as usize - 1]));
        Ok(
            json!({ "ResourceServers": servers.iter().map(Self::resource_server_json).collect::<Vec<_>>(), "NextToken": next }),
        )
    }

    pub(crate) async fn update_resource_server(
        &self,
        req: PutResourceServer,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        if let Err(m) = check_resource_server(&req.identifier, &req.name, &req.scopes) {
            return Err(call.refuse_plainly(Reason::InvalidParameter, "resource server", m));
        }
        let updated = self
            .kernel
            .store
            .update_record::<ResourceServer, _>(
                KIND_RESOURCE_SERVER,
                &rs_id(&req.user_pool_id, &req.identifier),
                &req.user_pool_id,
                self.kernel.now(),
                |r| match r {
                    Some(mut r) => {
                        r.name = req.name.clone();
                        r.scopes = req.scopes.clone();
                        r.updated_at = self.kernel.now();
                        (Change::Put(r.clone()), Some(r))
                    }
                    None => (Change::Keep, None),
                },
            )
            .await?;
        let Some(r) = updated else { return Err(Self::no_resource_server(call, &req.identifier)) };
        call.trail.pass("update", format!("resource server {} of pool {}", excerpt(&r.identifier), r.pool_id));
        Ok(json!({ "ResourceServer": Self::resource_server_json(&r) }))
    }

    pub(crate) async fn delete_resource_server(
        &self,
        req: ResourceServerRef,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        if !self.kernel.store.delete_document(KIND_RESOURCE_SERVER, &rs_id(&req.user_pool_id, &req.identifier)).await? {
            return Err(Self::no_resource_server(call, &req.identifier));
        }
        call.trail.pass("delete", format!("resource server {} of pool {}", excerpt(&req.identifier), req.user_pool_id));
        Ok(json!({}))
    }

    /// Makes the pool's resource server what the configuration declares (its name and scopes):
    /// the configuration is the source of truth for the ones it names.
    #[crate::entry_point]
    pub async fn ensure_resource_server(
        &self,
        pool_id: &str,
        identifier: &str,
        name: &str,
        scopes: &[ResourceServerScope],
    ) -> anyhow::Result<()> {
        check_resource_server(identifier, name, scopes)
            .map_err(|m| anyhow::anyhow!("resource server of pool {pool_id}: {m}"))?;
        let now = self.kernel.now();
        let r = ResourceServer {
            pool_id: pool_id.into(),
            identifier: identifier.into(),
            name: name.into(),
            scopes: scopes.to_vec(),
            created_at: now,
            updated_at: now,
        };
        // One updater: created when absent, made as declared when it differs, kept otherwise.
        self.kernel
            .store
            .update_record::<ResourceServer, _>(
                KIND_RESOURCE_SERVER,
                &rs_id(pool_id, identifier),
                pool_id,
                now,
                |stored| match stored {
                    Some(s) if s.name == r.name && s.scopes == r.scopes => (Change::Keep, ()),
                    Some(s) => (Change::Put(ResourceServer { created_at: s.created_at, ..r.clone() }), ()),
                    None => (Change::Put(r.clone()), ()),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("resource server {identifier} of pool {pool_id}: {e}"))?;
        Ok(())
    }
}
