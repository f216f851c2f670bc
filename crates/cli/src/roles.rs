//! `tokenbridge roles`: IAM roles and their inline policies. Every read and change goes through
//! the IAM actions of the query API (`Iam::query_action`, as the administrator), so documents
//! are checked as when the API writes them and every call is audited (event source
//! `iam.amazonaws.com`, user agent `tokenbridge-cli/<version>`).

use crate::cli::RolesCommand;
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::iam::{CallerIdentity, QueryService};
use tokenbridge_core::policy::{Policy, PolicyKind};
use tokenbridge_core::{Engine, Reason, Refusal};
use tokenbridge_server::query::{error_code, query_words};

/// Who the CLI's calls are made as: the administrator (whoever can open the data is one), named
/// by an access key id no signature can present.
pub(crate) const CLI_ACCESS_KEY_ID: &str = "tokenbridge-cli";

/// Runs one IAM action as the administrator.
async fn call(engine: &Engine, name: &str, params: &[(&str, &str)]) -> Result<Value, Refusal> {
    let params: BTreeMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut ctx = RequestContext::new(tokenbridge_core::iam::IAM_EVENT_SOURCE).named_by(error_code);
    ctx.user_agent = format!("tokenbridge-cli/{}", env!("CARGO_PKG_VERSION"));
    let caller = CallerIdentity::Admin { access_key_id: CLI_ACCESS_KEY_ID.into() };
    engine.iam().query_action(QueryService::Iam, name, &params, Some(&caller), &ctx).await
}

/// [`call`], an IAM error becoming `<Code>: <message>` (printed as `error: …`, exit code 1).
async fn action(engine: &Engine, name: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
    call(engine, name, params).await.map_err(error)
}

/// A refusal as `<Code>: <message>`, in IAM's words.
pub(crate) fn error(e: Refusal) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", query_words(e.reason).0, e.message)
}

/// Percent-decoding of the documents IAM returns URL-encoded.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A returned policy document as JSON (its text, if it somehow is not JSON).
fn document(v: &Value) -> Value {
    match v.as_str() {
        Some(s) => {
            let text = url_decode(s);
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        None => v.clone(),
    }
}

/// A role as IAM describes it, absent members left out and the trust policy decoded.
fn role_view(role: &Value) -> Value {
    let mut r = tokenbridge_server::aws::without_nulls(role.clone());
    if let Some(doc) = r.get("AssumeRolePolicyDocument").map(document) {
        r["AssumeRolePolicyDocument"] = doc;
    }
    r
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The names of a role's inline policies.
async fn policy_names(engine: &Engine, role: &str) -> anyhow::Result<Vec<String>> {
    let out = action(engine, "ListRolePolicies", &[("RoleName", role)]).await?;
    Ok(out["PolicyNames"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect())
}

#[tokenbridge_core::entry_point(?Send)]
pub async fn run(engine: Arc<Engine>, c: RolesCommand) -> anyhow::Result<()> {
    match c {
        RolesCommand::Put { name, trust_policy, policies } => {
            let trust = read(&trust_policy)?;
            let mut docs: Vec<(String, String)> = Vec::new();
            for spec in &policies {
                let (policy, file) =
                    spec.split_once('=').with_context(|| format!("--policy {spec:?}: expected NAME=FILE"))?;
                anyhow::ensure!(!docs.iter().any(|(n, _)| n == policy), "--policy {policy}: given twice");
                docs.push((policy.to_string(), read(Path::new(file))?));
            }
            println!("{}", put(&engine, &name, &trust, docs).await?);
        }
        RolesCommand::List => {
            let mut marker: Option<String> = None;
            loop {
                let mut params = vec![("MaxItems", "100")];
                if let Some(m) = &marker {
                    params.push(("Marker", m));
                }
                let page = action(&engine, "ListRoles", &params).await?;
                for r in page["Roles"].as_array().into_iter().flatten() {
                    println!("{}", role_view(r));
                }
                match page["Marker"].as_str() {
                    Some(m) if page["IsTruncated"] == true && !m.is_empty() => marker = Some(m.to_string()),
                    _ => break,
                }
            }
        }
        RolesCommand::Show { name } => {
            let out = action(&engine, "GetRole", &[("RoleName", &name)]).await?;
            let mut role = role_view(&out["Role"]);
            let mut list = Vec::new();
            for policy in policy_names(&engine, &name).await? {
                let p = action(&engine, "GetRolePolicy", &[("RoleName", &name), ("PolicyName", &policy)]).await?;
                list.push(json!({ "PolicyName": policy, "PolicyDocument": document(&p["PolicyDocument"]) }));
            }
            role["RolePolicyList"] = Value::Array(list);
            println!("{}", serde_json::to_string_pretty(&role)?);
        }
        RolesCommand::Delete { name } => {
            // As IAM requires: the inline policies first, then the role.
            for policy in policy_names(&engine, &name).await? {
                action(&engine, "DeleteRolePolicy", &[("RoleName", &name), ("PolicyName", &policy)]).await?;
            }
            action(&engine, "DeleteRole", &[("RoleName", &name)]).await?;
            println!("deleted {name}");
        }
        RolesCommand::DeletePolicy { name, policy } => {
            action(&engine, "DeleteRolePolicy", &[("RoleName", &name), ("PolicyName", &policy)]).await?;
            println!("deleted policy {policy} of role {name}");
        }
    }
    Ok(())
}

/// Creates the role, or replaces its trust policy, and puts the inline policies; returns its ARN.
/// A refused document changes nothing: on an existing role the documents the engine will refuse
/// are sent first (each action checks its document before it writes), and a role this call
/// created is deleted again when one of its policies is refused.
async fn put(engine: &Engine, name: &str, trust: &str, docs: Vec<(String, String)>) -> anyhow::Result<String> {
    // Policies IAM will refuse (a name it does not allow, a document that does not parse) go
    // first, so their refusal ends the command before any write.
    let refused = |(n, d): &(String, String)| {
        let name_ok =
            (1..=128).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        !name_ok || Policy::parse(d, PolicyKind::Identity).is_err()
    };
    let (mut ordered, good): (Vec<_>, Vec<_>) = docs.into_iter().partition(refused);
    ordered.extend(good);
    let existing = match call(engine, "GetRole", &[("RoleName", name)]).await {
        Ok(out) => Some(out),
        Err(e) if e.reason == Reason::NotFound => None,
        Err(e) => return Err(error(e)),
    };
    let arn = match existing {
        Some(out) => {
            let update = [("RoleName", name), ("PolicyDocument", trust)];
            let trust_first = Policy::parse(trust, PolicyKind::Trust).is_err();
            if trust_first {
                action(engine, "UpdateAssumeRolePolicy", &update).await?;
            }
            for (policy, doc) in &ordered {
                let params = [("RoleName", name), ("PolicyName", policy.as_str()), ("PolicyDocument", doc.as_str())];
                action(engine, "PutRolePolicy", &params).await?;
            }
            if !trust_first {
                action(engine, "UpdateAssumeRolePolicy", &update).await?;
            }
            out["Role"]["Arn"].as_str().unwrap_or_default().to_string()
        }
        None => {
            let out = action(engine, "CreateRole", &[("RoleName", name), ("AssumeRolePolicyDocument", trust)]).await?;
            let mut put: Vec<&str> = Vec::new();
            for (policy, doc) in &ordered {
                let params = [("RoleName", name), ("PolicyName", policy.as_str()), ("PolicyDocument", doc.as_str())];
                if let Err(e) = call(engine, "PutRolePolicy", &params).await {
                    // Leave no half-made role behind.
                    for p in put {
                        let _ = call(engine, "DeleteRolePolicy", &[("RoleName", name), ("PolicyName", p)]).await;
                    }
                    let _ = call(engine, "DeleteRole", &[("RoleName", name)]).await;
                    return Err(error(e));
                }
                put.push(policy.as_str());
            }
            out["Role"]["Arn"].as_str().unwrap_or_default().to_string()
        }
    };
    Ok(arn)
}
