//! The demo pool's hosted sign-in, as the seed's system B signs in: the pool has a domain, the
//! demo provider's SAML side is its SAML identity provider (made from the provider's own
//! metadata, as an administrator would paste Salesforce's), the seeded users are linked to their
//! SAML identities one to one by username (AdminLinkProviderForUser), and a public app client
//! allows the authorization-code flow with PKCE through the hosted pages, with the console as its
//! callback.

use crate::idp::DemoIdp;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::config::{IdentityProviderConfig, IdentityProviderKind, UserPoolClientConfig, UserPoolConfig};
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_core::userpool::{new_client_id, EVENT_SOURCE};
use tokenbridge_core::{Engine, Store};

/// The demo pool's domain prefix: its hosted sign-in is at `<base>/domains/tokenbridge-demo/…`
/// and at `tokenbridge-demo.<server.auth_domain_suffix>`.
pub const DEMO_DOMAIN: &str = "tokenbridge-demo";
/// The demo provider's SAML side, as the pool's identity provider is named.
pub const SAML_PROVIDER: &str = "DemoSAML";
/// What the hosted UI's app client may ask for.
pub const HOSTED_UI_SCOPES: [&str; 4] = ["openid", "email", "profile", "aws.cognito.signin.user.admin"];
/// The demo provider's SAML metadata, written into the data directory at every start: the pool's
/// provider is made from this file (`metadata_file`).
const METADATA_FILE: &str = "demo-saml-idp-metadata.xml";

pub(crate) struct HostedUi {
    client_id: String,
    metadata_file: PathBuf,
}

impl HostedUi {
    /// The app client's id (kept in the store, so every instance agrees) and the SAML metadata
    /// file, written from `idp`'s own document.
    pub(crate) async fn prepare(store: &Arc<dyn Store>, data_dir: &Path, idp: &DemoIdp) -> anyhow::Result<Self> {
        let client_id = store.put_setting_if_absent("demo.hosted_ui_client_id", &new_client_id()).await?;
        let metadata = idp.saml_metadata().ok_or_else(|| anyhow::anyhow!("the demo provider has no SAML side"))?;
        tokenbridge_store::private_dir(data_dir)?;
        let metadata_file = data_dir.join(METADATA_FILE);
        std::fs::write(&metadata_file, metadata)?;
        Ok(Self { client_id, metadata_file })
    }

    /// Where the hosted sign-in sends the browser back: the console, which redeems the code.
    pub(crate) fn redirect_uri(base_url: &str) -> String {
        format!("{base_url}/console/")
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The domain, the SAML provider and the public client, added to the demo pool.
    pub(crate) fn configure(&self, pool: &mut UserPoolConfig, base_url: &str) {
        pool.domain = Some(DEMO_DOMAIN.into());
        pool.identity_providers.push(IdentityProviderConfig {
            name: SAML_PROVIDER.into(),
            kind: IdentityProviderKind::Saml,
            metadata_file: Some(self.metadata_file.clone()),
            metadata_url: None,
            idp_signout: false,
            idp_init: false,
            encrypted_responses: false,
            request_signing_algorithm: None,
            client_id: None,
            client_secret: None,
            authorize_scopes: None,
            oidc_issuer: None,
            attributes_request_method: None,
            authorize_url: None,
            token_url: None,
            attributes_url: None,
            jwks_uri: None,
            attribute_mapping: [("email".to_string(), "email".to_string())].into_iter().collect(),
            idp_identifiers: Vec::new(),
        });
        let console = Self::redirect_uri(base_url);
        pool.clients.push(UserPoolClientConfig {
            client_id: self.client_id.clone(),
            name: "demo hosted UI (public)".into(),
            secret: None,
            providers: vec![SAML_PROVIDER.into()],
            callback_urls: vec![console.clone()],
            logout_urls: vec![console],
            allowed_oauth_flows: vec!["code".into()],
            allowed_oauth_scopes: HOSTED_UI_SCOPES.map(String::from).to_vec(),
        });
    }

    /// Links each `(pool username, SAML NameID)` one to one, through the same audited action
    /// an administrator calls; one already linked is left alone (a restart records nothing).
    pub(crate) async fn link_users<'a>(
        engine: &Engine,
        pool_id: &str,
        users: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<()> {
        let admin = CallerIdentity::Admin { access_key_id: "demo-seeding".into() };
        for (username, name_id) in users {
            if engine.user_pools().linked_user(pool_id, SAML_PROVIDER, name_id).await?.is_some() {
                continue;
            }
            let body = json!({
                "UserPoolId": pool_id,
                "DestinationUser": { "ProviderName": "Cognito", "ProviderAttributeValue": username },
                "SourceUser": {
                    "ProviderName": SAML_PROVIDER,
                    "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": name_id,
                },
            });
            let ctx = RequestContext::new(EVENT_SOURCE).named_by(tokenbridge_server::aws::cognito_error_code);
            engine
                .user_pools()
                .user_pool_action("AdminLinkProviderForUser", &body, Some(&admin), &ctx)
                .await
                .map_err(|e| anyhow::anyhow!("linking {username} to {SAML_PROVIDER}: {}", e.message))?;
        }
        Ok(())
    }

    /// demo.json's `hosted_ui`.
    pub(crate) fn info(&self, base_url: &str, pool_id: &str, idp: &DemoIdp) -> Value {
        json!({
            "discovery_url": format!("{base_url}/{pool_id}/.well-known/openid-configuration"),
            "domain": DEMO_DOMAIN,
            "domain_url": format!("{base_url}/domains/{DEMO_DOMAIN}"),
            "client_id": self.client_id,
            "redirect_uri": Self::redirect_uri(base_url),
            "scopes": HOSTED_UI_SCOPES,
            "saml_provider": SAML_PROVIDER,
            "idp_metadata_url": idp.saml().map(|(urls, _)| urls.metadata_url),
        })
    }
}
