//! Managed policies: made once (`CreatePolicy`), attached to roles (`AttachRolePolicy`), and
//! evaluated with a role's inline policies. One version each, as a policy's default version.

use super::*;
use crate::clock::rfc3339;
use crate::model::Document;
use crate::store::StoreError;
use roles::{aws_id, check_identity_policy, url_encode};
use serde_json::{json, Value};

pub(super) const KIND_POLICY: &str = "iam_policy";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub name: String,
    pub path: String,
    pub policy_id: String,
    pub document: String,
    #[serde(default)]
    pub description: Option<String>,
    pub created_at: i64,
}

impl ManagedPolicy {
    pub fn arn(&self, account_id: &str) -> String {
        format!("arn:aws:iam::{account_id}:policy{}{}", self.path, self.name)
    }
}

/// The policy name in a managed policy ARN (`arn:aws:iam::<account>:policy/<path/><name>`).
fn policy_name_of(arn: &str) -> Option<&str> {
    iam_name_of(arn, "policy/")
}

impl Iam {
    fn policy_json(&self, p: &ManagedPolicy, attachments: usize) -> Value {
        json!({
            "PolicyName": p.name,
            "PolicyId": p.policy_id,
            "Arn": p.arn(&self.kernel.config.aws.account_id),
            "Path": p.path,
            "DefaultVersionId": "v1",
            "AttachmentCount": attachments,
            "IsAttachable": true,
            "Description": p.description,
            "CreateDate": rfc3339(p.created_at),
            "UpdateDate": rfc3339(p.created_at),
        })
    }

    pub(crate) async fn managed_policy(&self, arn: &str, call: &mut Call) -> Result<ManagedPolicy, Refusal> {
        let missing = |call: &mut Call| {
            call.refuse_plainly(
                Reason::NotFound,
                "policy",
                format!("Policy {arn} does not exist or is not attachable."),
            )
        };
        let Some(name) = policy_name_of(arn) else { return Err(missing(call)) };
        match self.kernel.store.get_document(KIND_POLICY, name).await? {
            Some(d) => {
                let p: ManagedPolicy = serde_json::from_value(d.body).map_err(Refusal::storage)?;
                if p.arn(&self.kernel.config.aws.account_id) == arn {
                    Ok(p)
                } else {
                    Err(missing(call))
                }
            }
            None => Err(missing(call)),
        }
    }

    /// A role's identity policies, inline then attached: `(name, document)`.
    #[crate::entry_point]
    pub async fn role_policies(&self, role: &Role) -> Result<Vec<(String, String)>, Refusal> {
        let mut out: Vec<(String, String)> = role.inline_policies.iter().map(|(n, d)| (n.clone(), d.clone())).collect();
        for arn in &role.attached_policies {
            let p = self.managed_policy(arn, &mut Call::default()).await?;
            out.push((p.name.clone(), p.document));
        }
        Ok(out)
    }

    async fn attachments(&self, arn: &str) -> Result<usize, Refusal> {
        let roles = self.kernel.store.list_documents(KIND_ROLE, None, None, u32::MAX).await?;
        Ok(roles
            .into_iter()
            .filter_map(|d| serde_json::from_value::<Role>(d.body).ok())
            .filter(|r| r.attached_policies.iter().any(|a| a == arn))
            .count())
    }

    pub(crate) async fn managed_dispatch(
        &self,
        action: &str,
        p: &BTreeMap<String, String>,
        call: &mut Call,
    ) -> Result<Option<Value>, Refusal> {
        Ok(Some(match action {
            "CreatePolicy" => {
                let name = required(p, "PolicyName", call)?.to_string();
                let doc = required(p, "PolicyDocument", call)?.to_string();
                check_identity_policy(&name, &doc, call)?;
                let path = p.get("Path").cloned().unwrap_or_else(|| "/".into());
                let policy = ManagedPolicy {
                    name: name.clone(),
                    path,
                    policy_id: aws_id("ANPA"),
                    document: doc,
                    description: p.get("Description").cloned(),
                    created_at: self.kernel.now(),
                };
                let d = Document::new(KIND_POLICY, &name, "", &policy, policy.created_at, policy.created_at);
                match self.kernel.store.insert_document(&d).await {
                    Err(StoreError::Conflict(_)) => {
                        return Err(call.refuse_plainly(
                            Reason::AlreadyExists,
                            "policy",
                            format!("A policy called {name} already exists. Duplicate names are not allowed."),
                        ))
                    }
                    other => other?,
                }
                call.trail.pass("create", format!("managed policy {name}"));
                json!({ "Policy": self.policy_json(&policy, 0) })
            }
            "GetPolicy" => {
                let arn = required(p, "PolicyArn", call)?.to_string();
                let policy = self.managed_policy(&arn, call).await?;
                json!({ "Policy": self.policy_json(&policy, self.attachments(&arn).await?) })
            }
            "GetPolicyVersion" => {
                let policy = self.managed_policy(required(p, "PolicyArn", call)?, call).await?;
                if required(p, "VersionId", call)? != "v1" {
                    return Err(call.refuse_plainly(Reason::NotFound, "version", "Policy version does not exist."));
                }
                json!({ "PolicyVersion": { "Document": url_encode(&policy.document), "VersionId": "v1", "IsDefaultVersion": true, "CreateDate": rfc3339(policy.created_at) } })
            }
            "DeletePolicy" => {
                let arn = required(p, "PolicyArn", call)?.to_string();
                let policy = self.managed_policy(&arn, call).await?;
                if self.attachments(&arn).await? > 0 {
                    return Err(call.refuse_plainly(
                        Reason::InUse,
                        "policy",
                        "Cannot delete a policy attached to entities.",
                    ));
                }
                self.kernel.store.delete_document(KIND_POLICY, &policy.name).await?;
                json!({})
            }
            "AttachRolePolicy" | "DetachRolePolicy" => {
                let role_name = required(p, "RoleName", call)?.to_string();
                self.role(&role_name, call).await?;
                let arn = required(p, "PolicyArn", call)?.to_string();
                self.managed_policy(&arn, call).await?;
                let (role, ()) = self
                    .update_role(&role_name, call, |role, call| {
                        let attached = role.attached_policies.iter().any(|a| a == &arn);
                        if action == "AttachRolePolicy" {
                            if !attached {
                                role.attached_policies.push(arn.clone());
                            }
                        } else if !attached {
                            return Err(call.refuse_plainly(
                                Reason::NotFound,
                                "policy",
                                format!("Policy {arn} was not found."),
                            ));
                        } else {
                            role.attached_policies.retain(|a| a != &arn);
                        }
                        Ok(())
                    })
                    .await?;
                call.trail.pass(
                    "policy",
                    format!(
                        "{arn} {} role {}",
                        if action == "AttachRolePolicy" { "attached to" } else { "detached from" },
                        role.name
                    ),
                );
                json!({})
            }
            "ListAttachedRolePolicies" => {
                let role = self.role(required(p, "RoleName", call)?, call).await?;
                let list: Vec<Value> = role
                    .attached_policies
                    .iter()
                    .map(|a| json!({ "PolicyName": policy_name_of(a).unwrap_or_default(), "PolicyArn": a }))
                    .collect();
                json!({ "AttachedPolicies": list, "IsTruncated": false })
            }
            _ => return Ok(None),
        }))
    }
}
