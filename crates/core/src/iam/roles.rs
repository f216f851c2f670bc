//! The IAM query-API subset: CreateRole, GetRole, ListRoles, DeleteRole, UpdateAssumeRolePolicy,
//! PutRolePolicy, GetRolePolicy, ListRolePolicies, DeleteRolePolicy. Policies are checked when written: a
//! malformed one is refused with its position and reason.

use super::*;
use crate::clock::rfc3339;
use crate::model::Document;
use crate::store::{Change, StoreError};
use serde_json::{json, Value};

/// RFC 3986 percent-encoding of everything but the unreserved characters, as IAM returns policy
/// documents (botocore decodes them with `unquote`).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// IAM's names (roles, policies): 1 to `max` of letters, digits and `+=,.@_-`.
fn valid_iam_name(n: &str, max: usize) -> bool {
    (1..=max).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

fn valid_role_name(n: &str) -> bool {
    valid_iam_name(n, 64)
}

/// Checks an identity policy as it is written, inline (`PutRolePolicy`) or managed
/// (`CreatePolicy`): IAM refuses a bad name or document the same way for both.
pub(super) fn check_identity_policy(name: &str, doc: &str, call: &mut Call) -> Result<(), Refusal> {
    if !valid_iam_name(name, 128) {
        return Err(call.refuse_plainly(
            Reason::InvalidParameter,
            "policy name",
            format!("The specified value for policyName is invalid: {name}"),
        ));
    }
    if let Err(e) = crate::policy::Policy::parse(doc, crate::policy::PolicyKind::Identity) {
        return Err(call.refuse_plainly(Reason::MalformedPolicy, "policy", e.to_string()));
    }
    Ok(())
}

impl Iam {
    fn role_json(&self, r: &Role) -> Value {
        json!({
            "Path": r.path,
            "RoleName": r.name,
            "RoleId": r.role_id,
            "Arn": r.arn(&self.kernel.config.aws.account_id),
            "CreateDate": rfc3339(r.created_at),
            "AssumeRolePolicyDocument": url_encode(&r.trust_policy),
            "Description": r.description,
            "MaxSessionDuration": r.max_session_duration,
        })
    }

    pub(crate) async fn role(&self, name: &str, call: &mut Call) -> Result<Role, Refusal> {
        match self.kernel.store.get_document(KIND_ROLE, name).await? {
            Some(d) => {
                serde_json::from_value(d.body).map_err(|e| Refusal::storage(format!("stored role {name:?}: {e}")))
            }
            None => Err(call.refuse_plainly(
                Reason::NotFound,
                "role",
                format!("The role with name {name} cannot be found."),
            )),
        }
    }

    /// Edits the stored role `name` in one atomic store update, so concurrent edits of its other
    /// parts (another policy, the trust policy) are kept; an error from `change` leaves the role
    /// as it was. `NoSuchEntity` when there is no such role.
    pub(crate) async fn update_role<R: Send>(
        &self,
        name: &str,
        call: &mut Call,
        mut change: impl FnMut(&mut Role, &mut Call) -> Result<R, Refusal> + Send,
    ) -> Result<(Role, R), Refusal> {
        let outcome = self
            .kernel
            .store
            .update_record::<Role, _>(KIND_ROLE, name, "", self.kernel.now(), |current| match current {
                None => (Change::Keep, None),
                Some(mut role) => match change(&mut role, call) {
                    Ok(r) => (Change::Put(role.clone()), Some(Ok((role, r)))),
                    Err(e) => (Change::Keep, Some(Err(e))),
                },
            })
            .await?;
        outcome.unwrap_or_else(|| {
            Err(call.refuse_plainly(Reason::NotFound, "role", format!("The role with name {name} cannot be found.")))
        })
    }

    async fn insert_role(&self, r: &Role) -> Result<(), StoreError> {
        self.kernel
            .store
            .insert_document(&Document::new(KIND_ROLE, &r.name, "", r, r.created_at, self.kernel.now()))
            .await
    }

    /// Creates or replaces a role from configuration or the demo (policies checked as by the API).
    #[crate::entry_point]
    pub async fn put_role(
        &self,
        name: &str,
        trust_policy: &str,
        inline_policies: &[(String, String)],
    ) -> anyhow::Result<Role> {
        anyhow::ensure!(valid_role_name(name), "role name {name:?} must be 1 to 64 of letters, digits and +=,.@_-");
        crate::policy::Policy::parse(trust_policy, crate::policy::PolicyKind::Trust)
            .map_err(|e| anyhow::anyhow!("role {name}: trust policy: {e}"))?;
        for (p, text) in inline_policies {
            crate::policy::Policy::parse(text, crate::policy::PolicyKind::Identity)
                .map_err(|e| anyhow::anyhow!("role {name}: policy {p}: {e}"))?;
        }
        let now = self.kernel.now();
        // One atomic update: what the API changed since (managed policies attached, the role's
        // id and age) is kept from the role as stored.
        let role = self
            .kernel
            .store
            .update_record::<Role, _>(KIND_ROLE, name, "", now, |existing| {
                let role = Role {
                    name: name.into(),
                    path: "/".into(),
                    role_id: existing.as_ref().map(|r| r.role_id.clone()).unwrap_or_else(|| aws_id("AROA")),
                    trust_policy: trust_policy.into(),
                    description: None,
                    max_session_duration: 3600,
                    inline_policies: inline_policies.iter().cloned().collect(),
                    attached_policies: existing.as_ref().map(|r| r.attached_policies.clone()).unwrap_or_default(),
                    created_at: existing.as_ref().map_or(now, |r| r.created_at),
                };
                (Change::Put(role.clone()), role)
            })
            .await?;
        Ok(role)
    }

    pub(crate) async fn iam_dispatch(
        &self,
        action: &str,
        p: &BTreeMap<String, String>,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        match action {
            "CreateRole" => {
                let name = required(p, "RoleName", call)?.to_string();
                let trust = required(p, "AssumeRolePolicyDocument", call)?.to_string();
                if !valid_role_name(&name) {
                    return Err(call.refuse_plainly(
                        Reason::InvalidParameter,
                        "role name",
                        format!("The specified value for roleName is invalid: {name}"),
                    ));
                }
                if let Err(e) = crate::policy::Policy::parse(&trust, crate::policy::PolicyKind::Trust) {
                    return Err(call.refuse_plainly(Reason::MalformedPolicy, "trust policy", e.to_string()));
                }
                // A boundary caps what the role may do; a role made without it would be allowed
                // more than its creator asked for, so it is refused until boundaries are evaluated.
                if p.contains_key("PermissionsBoundary") {
                    return Err(call.refuse_plainly(
                        Reason::InvalidParameter,
                        "permissions boundary",
                        "PermissionsBoundary is not supported: a role is bounded only by its own policies here",
                    ));
                }
                let path = p.get("Path").cloned().unwrap_or_else(|| "/".into());
                if !path.starts_with('/') || !path.ends_with('/') {
                    return Err(call.refuse_plainly(
                        Reason::InvalidParameter,
                        "path",
                        "The specified value for path is invalid: it must begin and end with /.",
                    ));
                }
                let max = match p.get("MaxSessionDuration") {
                    Some(v) => v.parse::<i64>().ok().filter(|n| (3600..=43_200).contains(n)).ok_or_else(|| {
                        call.refuse_plainly(
                            Reason::InvalidParameter,
                            "request",
                            "MaxSessionDuration must be between 3600 and 43200 seconds.",
                        )
                    })?,
                    None => 3600,
                };
                let role = Role {
                    name: name.clone(),
                    path,
                    role_id: aws_id("AROA"),
                    trust_policy: trust,
                    description: p.get("Description").cloned(),
                    max_session_duration: max,
                    inline_policies: BTreeMap::new(),
                    attached_policies: Vec::new(),
                    created_at: self.kernel.now(),
                };
                match self.insert_role(&role).await {
                    Err(StoreError::Conflict(_)) => {
                        return Err(call.refuse_plainly(
                            Reason::AlreadyExists,
                            "role",
                            format!("Role with name {name} already exists."),
                        ))
                    }
                    other => other?,
                }
                call.trail.pass("create", format!("role {name}"));
                Ok(json!({ "Role": self.role_json(&role) }))
            }
            "GetRole" => {
                let role = self.role(required(p, "RoleName", call)?, call).await?;
                Ok(json!({ "Role": self.role_json(&role) }))
            }
            "DeleteRole" => {
                let role = self.role(required(p, "RoleName", call)?, call).await?;
                if !role.inline_policies.is_empty() || !role.attached_policies.is_empty() {
                    return Err(call.refuse_plainly(
                        Reason::InUse,
                        "role",
                        "Cannot delete entity, must delete policies first.",
                    ));
                }
                self.kernel.store.delete_document(KIND_ROLE, &role.name).await?;
                Ok(json!({}))
            }
            "UpdateAssumeRolePolicy" => {
                let name = required(p, "RoleName", call)?.to_string();
                self.role(&name, call).await?;
                let doc = required(p, "PolicyDocument", call)?.to_string();
                if let Err(e) = crate::policy::Policy::parse(&doc, crate::policy::PolicyKind::Trust) {
                    return Err(call.refuse_plainly(Reason::MalformedPolicy, "trust policy", e.to_string()));
                }
                self.update_role(&name, call, |role, _| {
                    role.trust_policy = doc.clone();
                    Ok(())
                })
                .await?;
                call.trail.pass("trust policy", format!("replaced on role {name}"));
                Ok(json!({}))
            }
            "ListRoles" => {
                let max = p.get("MaxItems").and_then(|v| v.parse::<u32>().ok()).unwrap_or(100).clamp(1, 1000);
                let prefix = p.get("PathPrefix").cloned().unwrap_or_else(|| "/".into());
                let docs = self
                    .kernel
                    .store
                    .list_documents(KIND_ROLE, None, p.get("Marker").map(String::as_str), u32::MAX)
                    .await?;
                let mut roles = Vec::new();
                let mut marker = None;
                for d in docs {
                    let r: Role = serde_json::from_value(d.body).map_err(Refusal::storage)?;
                    if !r.path.starts_with(&prefix) {
                        continue;
                    }
                    if roles.len() == max as usize {
                        marker = roles.last().and_then(|v: &Value| v["RoleName"].as_str().map(str::to_string));
                        break;
                    }
                    roles.push(self.role_json(&r));
                }
                Ok(json!({ "Roles": roles, "IsTruncated": marker.is_some(), "Marker": marker }))
            }
            "PutRolePolicy" => {
                let role_name = required(p, "RoleName", call)?.to_string();
                self.role(&role_name, call).await?;
                let name = required(p, "PolicyName", call)?.to_string();
                let doc = required(p, "PolicyDocument", call)?.to_string();
                check_identity_policy(&name, &doc, call)?;
                self.update_role(&role_name, call, |role, _| {
                    role.inline_policies.insert(name.clone(), doc.clone());
                    Ok(())
                })
                .await?;
                call.trail.pass("policy", format!("{name} put on role {role_name}"));
                Ok(json!({}))
            }
            "GetRolePolicy" => {
                let role = self.role(required(p, "RoleName", call)?, call).await?;
                let name = required(p, "PolicyName", call)?;
                let Some(doc) = role.inline_policies.get(name) else {
                    return Err(call.refuse_plainly(
                        Reason::NotFound,
                        "policy",
                        format!("The role policy with name {name} cannot be found."),
                    ));
                };
                Ok(json!({ "RoleName": role.name, "PolicyName": name, "PolicyDocument": url_encode(doc) }))
            }
            "ListRolePolicies" => {
                let role = self.role(required(p, "RoleName", call)?, call).await?;
                Ok(json!({ "PolicyNames": role.inline_policies.keys().collect::<Vec<_>>(), "IsTruncated": false }))
            }
            "DeleteRolePolicy" => {
                let role_name = required(p, "RoleName", call)?.to_string();
                self.role(&role_name, call).await?;
                let name = required(p, "PolicyName", call)?.to_string();
                self.update_role(&role_name, call, |role, call| {
                    if role.inline_policies.remove(&name).is_none() {
                        return Err(call.refuse_plainly(
                            Reason::NotFound,
                            "policy",
                            format!("The role policy with name {name} cannot be found."),
                        ));
                    }
                    Ok(())
                })
                .await?;
                Ok(json!({}))
            }
            other => match self.managed_dispatch(other, p, call).await? {
                Some(v) => Ok(v),
                None if let Some(v) = self.oidc_dispatch(other, p, call).await? => Ok(v),
                None => Err(call.refuse_plainly(
                    Reason::UnknownOperation,
                    "action",
                    format!("Could not find operation {other} for version 2010-05-08"),
                )),
            },
        }
    }
}

/// An AWS-style unique id: a four-letter prefix and 17 characters of AWS's key alphabet.
pub fn aws_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut s = prefix.to_string();
    for b in crate::secrets::random_bytes::<17>() {
        s.push(ALPHABET[(b & 31) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_percent_encoded_as_iam_returns_them() {
        assert_eq!(url_encode(r#"{"A": "b c"}"#), "%7B%22A%22%3A%20%22b%20c%22%7D");
        assert_eq!(url_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert!(aws_id("AROA").starts_with("AROA") && aws_id("AROA").len() == 21);
    }
}
