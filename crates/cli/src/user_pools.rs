//! `tokenbridge user-pools`: Cognito-compatible user pools, their app clients and users. Every
//! change goes through the same Cognito actions as the API (`UserPools::user_pool_action`), so it
//! is validated and audited the same way; the audit records name the CLI as their source.

use crate::cli::{
    PoolClientsCommand, PoolIdpCommand, PoolResourceServerCommand, PoolUsersCommand, ProviderIdentity, UserPoolsCommand,
};
use crate::commands::read_password;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::model::User;
use tokenbridge_core::userpool::{CodeSender, ISSUER_TAG};
use tokenbridge_core::Engine;
// Answers are printed as the API sends them: without `null` members, refusals in its words.
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_server::aws::{cognito_error_code, cognito_words, without_nulls};

/// The `eventSource` of the audit records these commands write.
pub const EVENT_SOURCE: &str = "cli.tokenbridge";

/// Page size of the list actions (the most AWS allows for each).
const PAGE: i64 = 60;

/// Runs one Cognito action as the administrator. A refusal becomes `<Exception>: <message>`,
/// in Cognito's words (printed as `error: …`, exit code 1).
async fn action(engine: &Engine, name: &str, input: Value) -> anyhow::Result<Value> {
    let mut ctx = RequestContext::new(EVENT_SOURCE).named_by(cognito_error_code);
    ctx.user_agent = format!("tokenbridge-cli/{}", env!("CARGO_PKG_VERSION"));
    let admin = CallerIdentity::Admin { access_key_id: crate::roles::CLI_ACCESS_KEY_ID.into() };
    match engine.user_pools().user_pool_action(name, &input, Some(&admin), &ctx).await {
        Ok(v) => Ok(without_nulls(v)),
        Err(e) => Err(anyhow::anyhow!("{}: {}", cognito_words(e.reason).0, e.message)),
    }
}

/// Every item of a paginated list action: `items` is the answer's list member, `token_in` and
/// `token_out` the names of its pagination token in the request and the answer.
async fn list_all(
    engine: &Engine,
    name: &str,
    mut input: Value,
    items: &str,
    token_in: &str,
    token_out: &str,
) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    loop {
        let page = action(engine, name, input.clone()).await?;
        if let Some(a) = page.get(items).and_then(Value::as_array) {
            out.extend(a.iter().cloned());
        }
        match page.get(token_out).and_then(Value::as_str) {
            Some(t) if !t.is_empty() => input[token_in] = json!(t),
            _ => return Ok(out),
        }
    }
}

/// Keeps the temporary password the engine makes for an admin-created user (its invitation):
/// the CLI prints it instead of mailing it.
#[derive(Default)]
struct Invitation(Mutex<Option<(String, String)>>);

impl CodeSender for Invitation {
    fn send(&self, _pool_id: &str, user: &User, purpose: &str, code: &str) {
        if purpose == "AdminCreateUser" {
            *self.0.lock().expect("invitation lock") = Some((user.username.clone(), code.to_string()));
        }
    }
}

#[tokenbridge_core::entry_point(?Send)]
pub async fn run(engine: Arc<Engine>, c: UserPoolsCommand) -> anyhow::Result<()> {
    match c {
        UserPoolsCommand::Create { name, issuer, json: as_json } => {
            let mut input = json!({ "PoolName": name });
            if let Some(form) = issuer {
                input["UserPoolTags"] = json!({ ISSUER_TAG: form });
            }
            let out = action(&engine, "CreateUserPool", input).await?;
            if as_json {
                println!("{}", out["UserPool"]);
            } else {
                println!("{}", out["UserPool"]["Id"].as_str().unwrap_or_default());
            }
        }
        UserPoolsCommand::List => {
            let pools = list_all(
                &engine,
                "ListUserPools",
                json!({ "MaxResults": PAGE }),
                "UserPools",
                "NextToken",
                "NextToken",
            )
            .await?;
            for p in pools {
                println!("{p}");
            }
        }
        UserPoolsCommand::Show { pool_id } => {
            let out = action(&engine, "DescribeUserPool", json!({ "UserPoolId": pool_id })).await?;
            println!("{}", serde_json::to_string_pretty(&out["UserPool"])?);
        }
        UserPoolsCommand::Delete { pool_id } => {
            action(&engine, "DeleteUserPool", json!({ "UserPoolId": pool_id })).await?;
            println!("deleted {pool_id}");
        }
        UserPoolsCommand::Clients(c) => clients(&engine, c).await?,
        UserPoolsCommand::Users(c) => users(&engine, c).await?,
        UserPoolsCommand::IdentityProviders(c) => identity_providers(&engine, c).await?,
        UserPoolsCommand::ResourceServers(c) => resource_servers(&engine, c).await?,
        UserPoolsCommand::LinkProvider { pool_id, user, source } => {
            let input = json!({ "UserPoolId": pool_id,
                "DestinationUser": { "ProviderName": "Cognito", "ProviderAttributeValue": user },
                "SourceUser": provider_identity(&source) });
            action(&engine, "AdminLinkProviderForUser", input).await?;
            println!("linked {} ({}={}) to {user}", source.provider, source.attribute, source.value);
        }
        UserPoolsCommand::DisableProvider { pool_id, source } => {
            let input = json!({ "UserPoolId": pool_id, "User": provider_identity(&source) });
            action(&engine, "AdminDisableProviderForUser", input).await?;
            println!("unlinked {} ({}={})", source.provider, source.attribute, source.value);
        }
    }
    Ok(())
}

async fn clients(engine: &Engine, c: PoolClientsCommand) -> anyhow::Result<()> {
    match c {
        PoolClientsCommand::Add { pool_id, name, secret, providers, flows, json: as_json } => {
            let mut input = json!({ "UserPoolId": pool_id, "ClientName": name, "GenerateSecret": secret });
            if !providers.is_empty() {
                let mut supported = vec!["COGNITO".to_string()];
                for p in providers {
                    if !supported.contains(&p) {
                        supported.push(p);
                    }
                }
                input["SupportedIdentityProviders"] = json!(supported);
            }
            let flows: Vec<String> = flows.iter().map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
            if !flows.is_empty() {
                input["ExplicitAuthFlows"] = json!(flows);
            }
            let out = action(engine, "CreateUserPoolClient", input).await?;
            let client = &out["UserPoolClient"];
            if as_json {
                println!("{client}");
            } else {
                println!("{}", client["ClientId"].as_str().unwrap_or_default());
                if let Some(s) = client["ClientSecret"].as_str() {
                    println!("{s}");
                }
            }
        }
        PoolClientsCommand::List { pool_id } => {
            let input = json!({ "UserPoolId": pool_id, "MaxResults": PAGE });
            for c in list_all(engine, "ListUserPoolClients", input, "UserPoolClients", "NextToken", "NextToken").await?
            {
                println!("{c}");
            }
        }
        PoolClientsCommand::Remove { pool_id, client_id } => {
            action(engine, "DeleteUserPoolClient", json!({ "UserPoolId": pool_id, "ClientId": client_id })).await?;
            println!("removed {client_id}");
        }
    }
    Ok(())
}

async fn users(engine: &Engine, c: PoolUsersCommand) -> anyhow::Result<()> {
    match c {
        PoolUsersCommand::Add { pool_id, username, email, email_verified, password_stdin, temporary_password: _ } => {
            let mut attributes = Vec::new();
            if let Some(e) = email {
                attributes.push(json!({ "Name": "email", "Value": e }));
            }
            if email_verified {
                attributes.push(json!({ "Name": "email_verified", "Value": "true" }));
            }
            let mut input = json!({ "UserPoolId": pool_id, "Username": username, "UserAttributes": attributes });
            if password_stdin {
                // Created with the password as its temporary one (so the policy is checked before
                // anything is stored), then made permanent: the user signs in with it as given.
                let password = read_password()?;
                input["TemporaryPassword"] = json!(password);
                input["MessageAction"] = json!("SUPPRESS");
                let mut out = action(engine, "AdminCreateUser", input).await?;
                let set =
                    json!({ "UserPoolId": pool_id, "Username": username, "Password": password, "Permanent": true });
                if let Err(e) = action(engine, "AdminSetUserPassword", set).await {
                    // Leave no user behind with a password nobody asked to be temporary.
                    let _ =
                        action(engine, "AdminDeleteUser", json!({ "UserPoolId": pool_id, "Username": username })).await;
                    return Err(e);
                }
                out["User"]["UserStatus"] = json!("CONFIRMED");
                println!("{}", out["User"]);
            } else {
                // The engine makes the temporary password and "sends" it: here, to standard output.
                let invitation = Arc::new(Invitation::default());
                engine.user_pools().set_code_sender(invitation.clone());
                let mut out = action(engine, "AdminCreateUser", input).await?;
                let sent = invitation.0.lock().expect("invitation lock").take();
                match sent {
                    Some((user, password)) if user == username => out["User"]["TemporaryPassword"] = json!(password),
                    _ => anyhow::bail!("user {username:?} was created but its temporary password was not issued"),
                }
                println!("{}", out["User"]);
            }
        }
        PoolUsersCommand::List { pool_id, filter } => {
            let mut input = json!({ "UserPoolId": pool_id, "Limit": PAGE });
            if let Some(f) = filter {
                input["Filter"] = json!(f);
            }
            for u in list_all(engine, "ListUsers", input, "Users", "PaginationToken", "PaginationToken").await? {
                println!("{u}");
            }
        }
    }
    Ok(())
}

/// `KEY=VALUE` pairs as a JSON object; `what` names the flag in the error.
fn pairs(items: &[String], what: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for item in items {
        let (k, v) = item.split_once('=').ok_or_else(|| anyhow::anyhow!("{what} {item:?} is not KEY=VALUE"))?;
        out.insert(k.to_string(), json!(v));
    }
    Ok(out)
}

async fn identity_providers(engine: &Engine, c: PoolIdpCommand) -> anyhow::Result<()> {
    match c {
        PoolIdpCommand::List { pool_id } => {
            let input = json!({ "UserPoolId": pool_id, "MaxResults": PAGE });
            for p in list_all(engine, "ListIdentityProviders", input, "Providers", "NextToken", "NextToken").await? {
                println!("{p}");
            }
        }
        PoolIdpCommand::Show { pool_id, name } => {
            let out =
                action(engine, "DescribeIdentityProvider", json!({ "UserPoolId": pool_id, "ProviderName": name }))
                    .await?;
            println!("{}", serde_json::to_string_pretty(&out["IdentityProvider"])?);
        }
        PoolIdpCommand::Create {
            pool_id,
            name,
            provider_type,
            metadata_file,
            metadata_url,
            details,
            mapping,
            identifiers,
        } => {
            let mut d = pairs(&details, "--detail")?;
            if let Some(path) = metadata_file {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                d.insert("MetadataFile".into(), json!(text));
            }
            if let Some(url) = metadata_url {
                d.insert("MetadataURL".into(), json!(url));
            }
            let input = json!({ "UserPoolId": pool_id, "ProviderName": name, "ProviderType": provider_type,
                "ProviderDetails": d, "AttributeMapping": pairs(&mapping, "--map")?, "IdpIdentifiers": identifiers });
            let out = action(engine, "CreateIdentityProvider", input).await?;
            println!("{}", serde_json::to_string_pretty(&out["IdentityProvider"])?);
        }
        PoolIdpCommand::Update {
            pool_id,
            name,
            metadata_file,
            metadata_url,
            details,
            mapping,
            identifiers,
            no_identifiers,
        } => {
            let mut input = json!({ "UserPoolId": pool_id, "ProviderName": name });
            if metadata_file.is_some() || metadata_url.is_some() || !details.is_empty() {
                let current =
                    action(engine, "DescribeIdentityProvider", json!({ "UserPoolId": pool_id, "ProviderName": name }))
                        .await?;
                let mut d = current["IdentityProvider"]["ProviderDetails"].as_object().cloned().unwrap_or_default();
                if let Some(path) = metadata_file {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    d.remove("MetadataURL");
                    d.insert("MetadataFile".into(), json!(text));
                }
                if let Some(url) = metadata_url {
                    d.remove("MetadataFile");
                    d.insert("MetadataURL".into(), json!(url));
                }
                d.extend(pairs(&details, "--detail")?);
                input["ProviderDetails"] = Value::Object(d);
            }
            if !mapping.is_empty() {
                input["AttributeMapping"] = Value::Object(pairs(&mapping, "--map")?);
            }
            if no_identifiers || !identifiers.is_empty() {
                input["IdpIdentifiers"] = json!(identifiers);
            }
            let out = action(engine, "UpdateIdentityProvider", input).await?;
            println!("{}", serde_json::to_string_pretty(&out["IdentityProvider"])?);
        }
        PoolIdpCommand::Delete { pool_id, name } => {
            action(engine, "DeleteIdentityProvider", json!({ "UserPoolId": pool_id, "ProviderName": name })).await?;
            println!("deleted {name}");
        }
    }
    Ok(())
}

/// A federated identity as the link actions name it.
fn provider_identity(p: &ProviderIdentity) -> Value {
    json!({ "ProviderName": p.provider, "ProviderAttributeName": p.attribute, "ProviderAttributeValue": p.value })
}

async fn resource_servers(engine: &Engine, c: PoolResourceServerCommand) -> anyhow::Result<()> {
    match c {
        PoolResourceServerCommand::List { pool_id } => {
            let input = json!({ "UserPoolId": pool_id, "MaxResults": 50 });
            for r in list_all(engine, "ListResourceServers", input, "ResourceServers", "NextToken", "NextToken").await?
            {
                println!("{r}");
            }
        }
        PoolResourceServerCommand::Show { pool_id, identifier } => {
            let input = json!({ "UserPoolId": pool_id, "Identifier": identifier });
            let out = action(engine, "DescribeResourceServer", input).await?;
            println!("{}", serde_json::to_string_pretty(&out["ResourceServer"])?);
        }
        PoolResourceServerCommand::Create { pool_id, identifier, name, scopes } => {
            let scopes: Vec<Value> = pairs(&scopes, "--scope")?
                .into_iter()
                .map(|(n, d)| json!({ "ScopeName": n, "ScopeDescription": d }))
                .collect();
            let input = json!({ "UserPoolId": pool_id, "Identifier": identifier, "Name": name, "Scopes": scopes });
            let out = action(engine, "CreateResourceServer", input).await?;
            println!("{}", serde_json::to_string_pretty(&out["ResourceServer"])?);
        }
        PoolResourceServerCommand::Delete { pool_id, identifier } => {
            action(engine, "DeleteResourceServer", json!({ "UserPoolId": pool_id, "Identifier": identifier })).await?;
            println!("deleted {identifier}");
        }
    }
    Ok(())
}
