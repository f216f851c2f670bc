//! The demo pool's hosted sign-in, as the seed's system B signs in: the pool has a domain, the
//! demo provider's SAML side is its SAML identity provider (made from the provider's own
//! metadata, as an administrator would paste Salesforce's) and its OIDC side its OIDC identity
//! provider (a client registered at the provider for the pool), the seeded users are linked to
//! their SAML and OIDC identities one to one (AdminLinkProviderForUser), and a public app client
//! allows the authorization-code flow with PKCE through the hosted pages, with the console as its
//! callback.

use crate::idp::{DemoClient, DemoIdp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::config::{IdentityProviderConfig, IdentityProviderKind, UserPoolClientConfig, UserPoolConfig};
use tokenbridge_core::hosted_signin::IDP_RESPONSE_PATH;
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_core::userpool::{new_client_id, EVENT_SOURCE};
use tokenbridge_core::{Engine, Store};

/// The demo pool's domain prefix: its hosted sign-in is at `<base>/domains/tokenbridge-demo/…`
/// and at `tokenbridge-demo.<server.auth_domain_suffix>`.
pub const DEMO_DOMAIN: &str = "tokenbridge-demo";
/// The demo provider's SAML side, as the pool's identity provider is named.
pub const SAML_PROVIDER: &str = "DemoSAML";
/// The demo provider's OIDC side, as the pool's identity provider is named.
pub const OIDC_PROVIDER: &str = "DemoOIDC";
/// The client the demo provider has registered for the pool's OIDC identity provider.
pub const OIDC_CLIENT_ID: &str = "tokenbridge-demo-pool";
/// What the pool's OIDC identity provider asks the demo provider for.
pub const OIDC_SCOPES: &str = "openid email profile";
/// What the hosted UI's app client may ask for.
pub const HOSTED_UI_SCOPES: [&str; 4] = ["openid", "email", "profile", "aws.cognito.signin.user.admin"];
/// The demo provider's SAML metadata, written into the data directory at every start: the pool's
/// provider is made from this file (`metadata_file`).
const METADATA_FILE: &str = "demo-saml-idp-metadata.xml";

pub(crate) struct HostedUi {
    client_id: String,
    /// The secret of [`OIDC_CLIENT_ID`] at the demo provider (kept in the store, so every
    /// instance agrees and a restart declares the provider as it was).
    oidc_client_secret: String,
    metadata_file: PathBuf,
}

impl HostedUi {
    /// The app client's id and the OIDC client's secret, kept in the store.
    pub(crate) async fn prepare(store: &Arc<dyn Store>, data_dir: &Path) -> anyhow::Result<Self> {
        let client_id = store.put_setting_if_absent("demo.hosted_ui_client_id", &new_client_id()).await?;
        let oidc_client_secret = crate::shared_secret(store, "demo.oidc_provider_client_secret").await?;
        Ok(Self { client_id, oidc_client_secret, metadata_file: data_dir.join(METADATA_FILE) })
    }

    /// The client the demo provider registers for the pool's OIDC identity provider: it sends
    /// the browser back to the domain's `/oauth2/idpresponse`.
    pub(crate) fn demo_idp_client(&self, base_url: &str) -> DemoClient {
        DemoClient {
            client_id: OIDC_CLIENT_ID.into(),
            client_secret: self.oidc_client_secret.clone(),
            redirect_uris: vec![format!("{base_url}/domains/{DEMO_DOMAIN}{IDP_RESPONSE_PATH}")],
        }
    }

    /// Writes `idp`'s own SAML metadata into the data directory, for the SAML provider.
    pub(crate) fn write_metadata(&self, data_dir: &Path, idp: &DemoIdp) -> anyhow::Result<()> {
        let metadata = idp.saml_metadata().ok_or_else(|| anyhow::anyhow!("the demo provider has no SAML side"))?;
        tokenbridge_store::private_dir(data_dir)?;
        std::fs::write(&self.metadata_file, metadata)?;
        Ok(())
    }

    /// Where the hosted sign-in sends the browser back: the console, which redeems the code.
    pub(crate) fn redirect_uri(base_url: &str) -> String {
        format!("{base_url}/console/")
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The domain, the SAML and OIDC providers and the public client, added to the demo pool.
    pub(crate) fn configure(&self, pool: &mut UserPoolConfig, base_url: &str, idp: &DemoIdp) {
        pool.domain = Some(DEMO_DOMAIN.into());
        let provider = |name: &str, kind| IdentityProviderConfig {
            name: name.into(),
            kind,
            metadata_file: None,
            metadata_url: None,
            idp_signout: false,
            idp_init: false,
            encrypted_responses: false,
            allow_sha1_signatures: false,
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
        };
        pool.identity_providers.push(IdentityProviderConfig {
            metadata_file: Some(self.metadata_file.clone()),
            ..provider(SAML_PROVIDER, IdentityProviderKind::Saml)
        });
        // Its endpoints come from the provider's discovery document.
        pool.identity_providers.push(IdentityProviderConfig {
            client_id: Some(OIDC_CLIENT_ID.into()),
            client_secret: Some(self.oidc_client_secret.clone()),
            authorize_scopes: Some(OIDC_SCOPES.into()),
            oidc_issuer: Some(idp.issuer().to_string()),
            ..provider(OIDC_PROVIDER, IdentityProviderKind::Oidc)
        });
        let console = Self::redirect_uri(base_url);
        pool.clients.push(UserPoolClientConfig {
            client_id: self.client_id.clone(),
            name: "demo hosted UI (public)".into(),
            secret: None,
            providers: vec![SAML_PROVIDER.into(), OIDC_PROVIDER.into()],
            callback_urls: vec![console.clone()],
            logout_urls: vec![console],
            allowed_oauth_flows: vec!["code".into()],
            allowed_oauth_scopes: HOSTED_UI_SCOPES.map(String::from).to_vec(),
        });
    }

    /// Links each `(pool username, subject at provider)` one to one (for the SAML provider the
    /// subject is the NameID, for the OIDC provider the `sub`), through the same audited action
    /// an administrator calls; one already linked is left alone (a restart records nothing).
    pub(crate) async fn link_users<'a>(
        engine: &Engine,
        pool_id: &str,
        provider: &str,
        users: impl IntoIterator<Item = (&'a str, String)>,
    ) -> anyhow::Result<()> {
        let admin = CallerIdentity::Admin { access_key_id: "demo-seeding".into() };
        for (username, subject) in users {
            if engine.user_pools().linked_user(pool_id, provider, &subject).await?.is_some() {
                continue;
            }
            let body = json!({
                "UserPoolId": pool_id,
                "DestinationUser": { "ProviderName": "Cognito", "ProviderAttributeValue": username },
                "SourceUser": {
                    "ProviderName": provider,
                    "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": subject,
                },
            });
            let ctx = RequestContext::new(EVENT_SOURCE).named_by(tokenbridge_server::aws::cognito_error_code);
            engine
                .user_pools()
                .user_pool_action("AdminLinkProviderForUser", &body, Some(&admin), &ctx)
                .await
                .map_err(|e| anyhow::anyhow!("linking {username} to {provider}: {}", e.message))?;
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
            "oidc_provider": OIDC_PROVIDER,
            "idp_metadata_url": idp.saml().map(|(urls, _)| urls.metadata_url),
        })
    }
}
