//! `tokenbridge clients`: app clients registered in the store (clients in the config file are
//! written there at every start of `serve` and win over CLI changes to the same id).

use crate::cli::ClientsCommand;
use anyhow::bail;
use serde_json::json;
use std::sync::Arc;
use tokenbridge_core::config::canonical_grant;
use tokenbridge_core::model::Client;
use tokenbridge_core::Engine;

#[tokenbridge_core::entry_point(?Send)]
pub async fn run(engine: Arc<Engine>, c: ClientsCommand) -> anyhow::Result<()> {
    match c {
        ClientsCommand::Add {
            client_id,
            name,
            confidential,
            grants,
            providers,
            scopes,
            origins,
            access_token_ttl,
            id_token_ttl,
            refresh_token_ttl,
        } => {
            let mut grant_types = Vec::new();
            for g in &grants {
                match canonical_grant(g) {
                    Some(g) => grant_types.push(g.to_string()),
                    None => bail!("--grant {g:?} is not one of token_exchange, refresh_token, password"),
                }
            }
            for p in &providers {
                if p != "*" && engine.upstream(p).is_none() {
                    eprintln!("warning: no provider named {p:?} in the configuration");
                }
            }
            for o in &origins {
                if o != "*" && !(o.starts_with("https://") || o.starts_with("http://")) {
                    bail!("--origin {o:?} is not an origin like https://app.example.com");
                }
            }
            if [access_token_ttl, id_token_ttl, refresh_token_ttl].iter().any(|t| *t <= 0) {
                bail!("token lifetimes must be positive seconds");
            }
            let client = Client {
                client_id: client_id.clone(),
                name,
                secret_sha256: None,
                grant_types,
                providers,
                scopes,
                access_token_ttl,
                id_token_ttl,
                refresh_token_ttl,
                allowed_origins: origins,
            };
            let secret = engine.tokens().put_client(client, confidential).await?;
            println!("{}", json!({"client_id": client_id, "client_secret": secret}));
        }
        ClientsCommand::List => {
            for c in engine.tokens().list_clients().await? {
                println!(
                    "{}",
                    json!({
                        "client_id": c.client_id, "name": c.name, "confidential": c.secret_sha256.is_some(),
                        "grant_types": c.grant_types, "providers": c.providers, "scopes": c.scopes,
                        "allowed_origins": c.allowed_origins, "access_token_ttl": c.access_token_ttl,
                        "id_token_ttl": c.id_token_ttl, "refresh_token_ttl": c.refresh_token_ttl,
                    })
                );
            }
        }
        ClientsCommand::Remove { client_id } => {
            if !engine.tokens().remove_client(&client_id).await? {
                bail!("no client {client_id:?}");
            }
            println!("removed {client_id}");
        }
    }
    Ok(())
}
