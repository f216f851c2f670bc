//! Provider links (AdminLinkProviderForUser, AdminDisableProviderForUser): a federated identity
//! (a provider of the pool and the value of one of its attributes, `Cognito_Subject` for its
//! subject) signs in as an existing native user. One source identity links to exactly one user:
//! the link is one record keyed by the source, made by insert-if-absent.

use super::identity_providers::{idp_id, IdentityProvider, KIND_IDP};
use super::*;
use crate::excerpt::excerpt;

pub(super) const KIND_LINK: &str = "pool_provider_link";
/// The attribute name that means the provider's subject (a SAML NameID, an OIDC `sub`).
pub const SUBJECT_ATTRIBUTE: &str = "Cognito_Subject";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ProviderLink {
    pool_id: String,
    pub(super) provider: String,
    attribute_name: String,
    attribute_value: String,
    user_id: String,
    username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProviderUser {
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    provider_attribute_name: Option<String>,
    #[serde(default)]
    provider_attribute_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LinkProvider {
    user_pool_id: String,
    destination_user: ProviderUser,
    source_user: ProviderUser,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DisableProvider {
    user_pool_id: String,
    user: ProviderUser,
}

/// What making a link came to.
enum LinkOutcome {
    /// Made, or already there for the same user.
    Linked,
    /// The source identity is linked to another user.
    Taken,
    /// The provider is gone.
    NoProvider,
}

/// A link's id: a hash of its source, so any provider name or value makes a well-formed id.
fn link_id(pool_id: &str, provider: &str, attribute_name: &str, value: &str) -> String {
    let key = serde_json::to_vec(&[pool_id, provider, attribute_name, value]).expect("serializable");
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &key).as_ref())
}

impl UserPools {
    /// The source identity named by `u`: an identity provider of the pool, an attribute name and
    /// a value, all present.
    async fn source_identity(
        &self,
        pool_id: &str,
        u: &ProviderUser,
        member: &str,
        call: &mut Call,
    ) -> Result<(IdentityProvider, String, String), Refusal> {
        let provider = u.provider_name.clone().unwrap_or_default();
        if provider.is_empty() || provider.eq_ignore_ascii_case("cognito") {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "source user",
                format!("{member}.ProviderName must name an identity provider of the pool, not {}", excerpt(&provider)),
            ));
        }
        let Some(idp) = self.provider(pool_id, &provider).await? else {
            return Err(call.refuse_plainly(
                Reason::NotFound,
                "identity provider",
                format!("Identity provider {} does not exist.", excerpt(&provider)),
            ));
        };
        let name = u.provider_attribute_name.clone().unwrap_or_else(|| SUBJECT_ATTRIBUTE.into());
        let value = u.provider_attribute_value.clone().unwrap_or_default();
        if name.is_empty() || value.is_empty() {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "source user",
                format!("{member} needs a ProviderAttributeName and a ProviderAttributeValue."),
            ));
        }
        Ok((idp, name, value))
    }

    pub(crate) async fn admin_link_provider_for_user(
        &self,
        req: LinkProvider,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let d = &req.destination_user;
        if !d.provider_name.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("cognito")) {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "destination user",
                "DestinationUser.ProviderName must be Cognito: links go to a native user.",
            ));
        }
        let username = d.provider_attribute_value.clone().unwrap_or_default();
        let (user, _) = self.existing_member(&pool.id, &username, call).await?;
        let (idp, name, value) = self.source_identity(&pool.id, &req.source_user, "SourceUser", call).await?;
        let link = ProviderLink {
            pool_id: pool.id.clone(),
            provider: idp.name.clone(),
            attribute_name: name.clone(),
            attribute_value: value.clone(),
            user_id: user.id.clone(),
            username: user.username.clone(),
        };
        let id = link_id(&pool.id, &idp.name, &name, &value);
        let now = self.kernel.now();
        let doc = Document::new(KIND_LINK, &id, &pool.id, &link, now, now);
        // Made only while the provider exists, in one step with reading it, so a link never
        // outlives a provider's deletion (which removes the provider's links).
        let keys = vec![(KIND_IDP.to_string(), idp_id(&pool.id, &idp.name)), (KIND_LINK.to_string(), id.clone())];
        let mut outcome = None;
        let mut updater = |docs: &[Option<Document>]| -> Result<Vec<Change<Document>>, StoreError> {
            let keep = vec![Change::Keep, Change::Keep];
            let (provider, existing) = (&docs[0], &docs[1]);
            if provider.is_none() {
                outcome = Some(LinkOutcome::NoProvider);
                return Ok(keep);
            }
            match existing {
                Some(d) => {
                    let same = d.body.get("user_id").and_then(Value::as_str) == Some(user.id.as_str());
                    outcome = Some(if same { LinkOutcome::Linked } else { LinkOutcome::Taken });
                    Ok(keep)
                }
                None => {
                    outcome = Some(LinkOutcome::Linked);
                    Ok(vec![Change::Keep, Change::Put(doc.clone())])
                }
            }
        };
        self.kernel.store.update_documents_with(&keys, &mut updater).await?;
        match outcome {
            Some(LinkOutcome::Linked) => {}
            Some(LinkOutcome::Taken) => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "source user",
                    format!("The source user of provider {} is already linked to another user.", idp.name),
                ))
            }
            Some(LinkOutcome::NoProvider) | None => {
                return Err(call.refuse_plainly(
                    Reason::NotFound,
                    "identity provider",
                    format!("Identity provider {} does not exist.", idp.name),
                ))
            }
        }
        call.trail.pass("link", format!("{} user ({name}) linked to {:?}", idp.name, user.username));
        Ok(json!({}))
    }

    pub(crate) async fn admin_disable_provider_for_user(
        &self,
        req: DisableProvider,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let (idp, name, value) = self.source_identity(&pool.id, &req.user, "User", call).await?;
        let removed =
            self.kernel.store.delete_document(KIND_LINK, &link_id(&pool.id, &idp.name, &name, &value)).await?;
        call.trail.pass(
            "disable",
            format!("{} user ({name}): {}", idp.name, if removed { "link removed" } else { "no link" }),
        );
        Ok(json!({}))
    }

    /// The native user a federated identity signs in as (`subject` is the provider's subject,
    /// `Cognito_Subject`), when it is linked to one still in the pool.
    #[crate::entry_point]
    pub async fn linked_user(&self, pool_id: &str, provider: &str, subject: &str) -> Result<Option<User>, StoreError> {
        let Some(d) =
            self.kernel.store.get_document(KIND_LINK, &link_id(pool_id, provider, SUBJECT_ATTRIBUTE, subject)).await?
        else {
            return Ok(None);
        };
        let link: ProviderLink = serde_json::from_value(d.body).map_err(|e| StoreError::Backend(e.to_string()))?;
        let Some(user) = self.kernel.store.get_user(&link.user_id).await? else { return Ok(None) };
        let member = self.kernel.store.get_document(KIND_MEMBER, &user.id).await?;
        Ok(member.filter(|m| m.pool_id == pool_id).map(|_| user))
    }
}
