//! IAM OIDC providers: an issuer and the client ids (audiences) whose tokens AWS credentials may
//! be issued for. `CreateOpenIDConnectProvider`, `GetOpenIDConnectProvider`,
//! `ListOpenIDConnectProviders`, `DeleteOpenIDConnectProvider`,
//! `AddClientIDToOpenIDConnectProvider`, `RemoveClientIDFromOpenIDConnectProvider`.
//!
//! A registered provider's ClientIDList restricts the tokens of its issuer as IAM's does: STS
//! `AssumeRoleWithWebIdentity` and identity pools naming it under `OpenIdConnectProviderARNs`
//! take a token only when its `aud` is listed. This server's own issuer has no other list, so an
//! identity pool takes its tokens only through a registered provider. A configured upstream
//! provider's `audiences` are its list when none is registered.

use super::*;
use crate::clock::rfc3339;
use crate::model::Document;
use crate::store::{Change, StoreError};
use serde_json::{json, Value};

pub(super) const KIND_OIDC_PROVIDER: &str = "iam_oidc_provider";

/// A registered provider, kept under its name (the issuer without its scheme).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcProvider {
    /// The issuer URL as registered.
    pub url: String,
    #[serde(default)]
    pub client_ids: Vec<String>,
    #[serde(default)]
    pub thumbprints: Vec<String>,
    pub created_at: i64,
}

/// The provider's name in IAM: its URL without the scheme (and without a trailing `/`).
fn provider_name(url: &str) -> &str {
    url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or(url).trim_end_matches('/')
}

/// The `<prefix>.member.N` values of a query request, in order of N.
fn members(p: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    let mut found: Vec<(u32, String)> = p
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix(prefix)?.strip_prefix(".member.")?.parse().ok()?;
            Some((n, v.clone()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, v)| v).collect()
}

impl Iam {
    fn oidc_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:oidc-provider/{name}", self.kernel.config.aws.account_id)
    }

    /// The name in an ARN of this account's OIDC providers.
    fn oidc_name_of<'a>(&self, arn: &'a str) -> Option<&'a str> {
        let prefix = format!("arn:aws:iam::{}:oidc-provider/", self.kernel.config.aws.account_id);
        arn.strip_prefix(prefix.as_str()).filter(|n| !n.is_empty())
    }

    /// The client ids of the IAM OIDC provider registered for `name` (an issuer without its
    /// scheme), if one is.
    pub(crate) async fn oidc_client_ids(&self, name: &str) -> Result<Option<Vec<String>>, Refusal> {
        match self.kernel.store.get_document(KIND_OIDC_PROVIDER, name).await? {
            Some(d) => {
                let p: OidcProvider = serde_json::from_value(d.body).map_err(Refusal::storage)?;
                Ok(Some(p.client_ids))
            }
            None => Ok(None),
        }
    }

    /// Registers (or replaces) an IAM OIDC provider for `url` taking `client_ids` (the demo's
    /// seeding); returns its ARN.
    #[crate::entry_point]
    pub async fn put_oidc_provider(&self, url: &str, client_ids: &[String]) -> anyhow::Result<String> {
        let name = provider_name(url).to_string();
        anyhow::ensure!(!name.is_empty(), "an OIDC provider needs an issuer URL");
        let now = self.kernel.now();
        let ids = client_ids.to_vec();
        self.kernel
            .store
            .update_record::<OidcProvider, _>(KIND_OIDC_PROVIDER, &name, "", now, |current| {
                let created_at = current.as_ref().map_or(now, |p| p.created_at);
                let thumbprints = current.map(|p| p.thumbprints).unwrap_or_default();
                (
                    Change::Put(OidcProvider {
                        url: url.to_string(),
                        client_ids: ids.clone(),
                        thumbprints,
                        created_at,
                    }),
                    (),
                )
            })
            .await?;
        Ok(self.oidc_arn(&name))
    }

    async fn oidc_provider(&self, arn: &str, call: &mut Call) -> Result<(String, OidcProvider), Refusal> {
        let missing = |call: &mut Call| {
            call.refuse_plainly(
                Reason::NotFound,
                "oidc provider",
                format!("OpenIDConnect Provider not found for arn {arn}"),
            )
        };
        let Some(name) = self.oidc_name_of(arn) else { return Err(missing(call)) };
        match self.kernel.store.get_document(KIND_OIDC_PROVIDER, name).await? {
            Some(d) => Ok((name.to_string(), serde_json::from_value(d.body).map_err(Refusal::storage)?)),
            None => Err(missing(call)),
        }
    }

    pub(crate) async fn oidc_dispatch(
        &self,
        action: &str,
        p: &BTreeMap<String, String>,
        call: &mut Call,
    ) -> Result<Option<Value>, Refusal> {
        Ok(Some(match action {
            "CreateOpenIDConnectProvider" => {
                let url = required(p, "Url", call)?.to_string();
                let name = provider_name(&url).to_string();
                if !(url.starts_with("https://") || url.starts_with("http://")) || name.is_empty() || url.len() > 255 {
                    return Err(call.refuse_plainly(
                        Reason::InvalidParameter,
                        "url",
                        format!("The specified value for url is invalid: {url}"),
                    ));
                }
                let client_ids = members(p, "ClientIDList");
                if client_ids.iter().any(|c| c.is_empty() || c.len() > 255) {
                    return Err(call.refuse_plainly(
                        Reason::InvalidParameter,
                        "client id",
                        "Each client id must be 1 to 255 characters.",
                    ));
                }
                let now = self.kernel.now();
                let provider = OidcProvider {
                    url: url.clone(),
                    client_ids,
                    thumbprints: members(p, "ThumbprintList"),
                    created_at: now,
                };
                let d = Document::new(KIND_OIDC_PROVIDER, &name, "", &provider, now, now);
                match self.kernel.store.insert_document(&d).await {
                    Err(StoreError::Conflict(_)) => {
                        return Err(call.refuse_plainly(
                            Reason::AlreadyExists,
                            "oidc provider",
                            format!("Provider with url {url} already exists."),
                        ))
                    }
                    other => other?,
                }
                call.trail.pass(
                    "create",
                    format!("OIDC provider {name} taking client ids {}", provider.client_ids.join(", ")),
                );
                json!({ "OpenIDConnectProviderArn": self.oidc_arn(&name) })
            }
            "GetOpenIDConnectProvider" => {
                let (name, provider) = self.oidc_provider(required(p, "OpenIDConnectProviderArn", call)?, call).await?;
                json!({
                    "Url": name,
                    "ClientIDList": provider.client_ids,
                    "ThumbprintList": provider.thumbprints,
                    "CreateDate": rfc3339(provider.created_at),
                })
            }
            "ListOpenIDConnectProviders" => {
                let docs = self.kernel.store.list_documents(KIND_OIDC_PROVIDER, None, None, u32::MAX).await?;
                let list: Vec<Value> = docs.iter().map(|d| json!({ "Arn": self.oidc_arn(&d.id) })).collect();
                json!({ "OpenIDConnectProviderList": list })
            }
            "DeleteOpenIDConnectProvider" => {
                let (name, _) = self.oidc_provider(required(p, "OpenIDConnectProviderArn", call)?, call).await?;
                self.kernel.store.delete_document(KIND_OIDC_PROVIDER, &name).await?;
                call.trail.pass("delete", format!("OIDC provider {name}"));
                json!({})
            }
            "AddClientIDToOpenIDConnectProvider" | "RemoveClientIDFromOpenIDConnectProvider" => {
                let arn = required(p, "OpenIDConnectProviderArn", call)?.to_string();
                let client_id = required(p, "ClientID", call)?.to_string();
                let (name, _) = self.oidc_provider(&arn, call).await?;
                let add = action == "AddClientIDToOpenIDConnectProvider";
                // One atomic update: concurrent edits of the list keep each other's changes.
                let found = self
                    .kernel
                    .store
                    .update_record::<OidcProvider, _>(KIND_OIDC_PROVIDER, &name, "", self.kernel.now(), |current| {
                        let Some(mut provider) = current else { return (Change::Keep, false) };
                        let listed = provider.client_ids.contains(&client_id);
                        if add && !listed {
                            provider.client_ids.push(client_id.clone());
                        } else if !add && listed {
                            provider.client_ids.retain(|c| c != &client_id);
                        } else {
                            return (Change::Keep, true);
                        }
                        (Change::Put(provider), true)
                    })
                    .await?;
                if !found {
                    let missing = format!("OpenIDConnect Provider not found for arn {arn}");
                    return Err(call.refuse_plainly(Reason::NotFound, "oidc provider", missing));
                }
                call.trail.pass(
                    "client id",
                    format!("{client_id} {} OIDC provider {name}", if add { "added to" } else { "removed from" }),
                );
                json!({})
            }
            _ => return Ok(None),
        }))
    }

    /// IAM's check of an OIDC provider's audiences for a web identity: with a provider
    /// registered for the token's issuer, its `aud` must be one of the listed client ids.
    /// `Ok(false)`: none is registered. `Err` is (check, detail).
    pub(crate) async fn registered_audience(&self, web: &WebIdentity) -> Result<bool, (&'static str, String)> {
        let ids = self
            .oidc_client_ids(&web.provider)
            .await
            .map_err(|e| ("audience", format!("the IAM OIDC providers cannot be read: {}", e.message)))?;
        match ids {
            None => Ok(false),
            Some(ids) if ids.contains(&web.audience) => Ok(true),
            Some(ids) => Err((
                "audience",
                format!(
                    "the token's audience (client {:?}) is not among the client ids the IAM OIDC provider {} lists: {}",
                    web.audience,
                    web.provider,
                    if ids.is_empty() { "none".to_string() } else { ids.join(", ") }
                ),
            )),
        }
    }
}
