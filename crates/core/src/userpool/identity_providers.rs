//! A pool's identity providers (SAML 2.0 and OIDC), as Cognito's Create/Describe/Update/Delete/
//! ListIdentityProviders and GetIdentityProviderByIdentifier keep them: one record per
//! (pool, ProviderName), made by insert-if-absent and changed by an updater inside the store's
//! transaction. A SAML provider's metadata is parsed (and fetched, for MetadataURL) when it is
//! created or updated, and what was read is kept with it; an OIDC provider's client secret is
//! sealed with the master key as app-client secrets are.

use super::provider_records::ProviderWrite;
use super::*;
use crate::excerpt::excerpt;
use tokenbridge_saml::IdpMetadata;

pub(super) const KIND_IDP: &str = "pool_idp";
/// An IdpIdentifier's claim: one per (pool, identifier), naming its provider.
pub(super) const KIND_IDP_IDENTIFIER: &str = "pool_idp_identifier";

/// The user-pool attributes a provider's attributes may be mapped to (besides `custom:*`).
const STANDARD_ATTRIBUTES: &[&str] = &[
    "address",
    "birthdate",
    "email",
    "email_verified",
    "family_name",
    "gender",
    "given_name",
    "locale",
    "middle_name",
    "name",
    "nickname",
    "phone_number",
    "phone_number_verified",
    "picture",
    "preferred_username",
    "profile",
    "updated_at",
    "website",
    "zoneinfo",
];
/// `AllowSHA1Signatures` is this broker's own: SHA-1 signatures and digests are refused unless
/// a provider that can sign no other way has it set to `"true"`.
const SAML_KEYS: &[&str] = &[
    "MetadataFile",
    "MetadataURL",
    "IDPSignout",
    "IDPInit",
    "RequestSigningAlgorithm",
    "EncryptedResponses",
    "AllowSHA1Signatures",
];
/// What Cognito adds to a SAML provider's details: accepted back (as Describe gave them) and
/// derived anew.
const SAML_DERIVED: &[&str] = &["SSORedirectBindingURI", "SLORedirectBindingURI", "ActiveEncryptionCertificate"];
const OIDC_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "authorize_scopes",
    "oidc_issuer",
    "attributes_request_method",
    "authorize_url",
    "token_url",
    "attributes_url",
    "jwks_uri",
    "attributes_url_add_attributes",
];
/// The largest metadata document fetched from a MetadataURL, and how long the fetch may take.
const MAX_METADATA_BYTES: usize = 1024 * 1024;
const METADATA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderType {
    #[serde(rename = "SAML")]
    Saml,
    #[serde(rename = "OIDC")]
    Oidc,
}

impl ProviderType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saml => "SAML",
            Self::Oidc => "OIDC",
        }
    }
}

/// What was read from a SAML provider's metadata when it was created or last updated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SamlFacts {
    pub entity_id: String,
    pub sso_redirect: String,
    #[serde(default)]
    pub slo_redirect: Option<String>,
    /// The IdP's signing certificates, base64 DER.
    pub signing_certificates: Vec<String>,
    /// The metadata document itself (fetched, for MetadataURL), for the sign-in to read again.
    pub metadata: String,
}

/// One identity provider of a pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityProvider {
    pub pool_id: String,
    pub name: String,
    pub provider_type: ProviderType,
    /// ProviderDetails as given (without the derived keys); an OIDC `client_secret` is sealed.
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub attribute_mapping: BTreeMap<String, String>,
    #[serde(default)]
    pub idp_identifiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlFacts>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A provider as a request or the configuration gives it, before its checks.
#[derive(Debug, Clone, Default)]
pub struct ProviderSpec {
    pub name: String,
    pub provider_type: String,
    pub details: BTreeMap<String, String>,
    pub attribute_mapping: BTreeMap<String, String>,
    pub idp_identifiers: Vec<String>,
}

/// A failed check: its name and what is wrong (an InvalidParameterException's message).
pub(crate) type Invalid = (&'static str, String);

fn invalid(check: &'static str, message: impl Into<String>) -> Invalid {
    (check, message.into())
}

/// Cognito's ProviderName rules: 1 to 32 characters, no `_` or space first or from the third
/// on, and not a name Cognito keeps for itself.
pub(crate) fn check_provider_name(name: &str) -> Result<(), Invalid> {
    let n = name.chars().count();
    if !(1..=32).contains(&n) {
        return Err(invalid("provider name", format!("ProviderName must be 1 to 32 characters, not {n}.")));
    }
    let bad = |i: usize, c: char| {
        c.is_control() || ((i != 1) && (c == '_' || c.is_whitespace())) || (i == 1 && c.is_whitespace())
    };
    if n < 2 || name.chars().enumerate().any(|(i, c)| bad(i, c)) {
        return Err(invalid(
            "provider name",
            format!(
                "ProviderName {} must be at least 2 characters without spaces or control characters, '_' only as its second",
                excerpt(name)
            ),
        ));
    }
    if name.eq_ignore_ascii_case("cognito") {
        return Err(invalid("provider name", format!("ProviderName {name} is reserved.")));
    }
    Ok(())
}

fn check_flag(details: &BTreeMap<String, String>, key: &str) -> Result<bool, Invalid> {
    match details.get(key).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => {
            Err(invalid("provider details", format!("{key} must be \"true\" or \"false\", not {}", excerpt(other))))
        }
    }
}

fn check_url(key: &str, value: &str) -> Result<(), Invalid> {
    crate::upstream::check_upstream_url(value)
        .map_err(|e| invalid("provider details", format!("{key} {}: {e}", excerpt(value))))
}

/// The checks that need no network: names, keys, flags, URLs, the mapping and identifiers.
/// Returns the details to keep (the derived SAML keys dropped) and the type.
pub(crate) fn check_spec(spec: &ProviderSpec) -> Result<(ProviderType, BTreeMap<String, String>), Invalid> {
    check_provider_name(&spec.name)?;
    let kind = match spec.provider_type.as_str() {
        "SAML" => ProviderType::Saml,
        "OIDC" => ProviderType::Oidc,
        "Facebook" | "Google" | "LoginWithAmazon" | "SignInWithApple" => {
            return Err(invalid(
                "provider type",
                format!("ProviderType {} is not supported here: use SAML or OIDC", spec.provider_type),
            ))
        }
        other => {
            return Err(invalid("provider type", format!("ProviderType {} is not a provider type", excerpt(other))))
        }
    };
    let mut details = spec.details.clone();
    let known: &[&str] = match kind {
        ProviderType::Saml => {
            details.retain(|k, _| !SAML_DERIVED.contains(&k.as_str()));
            SAML_KEYS
        }
        ProviderType::Oidc => OIDC_KEYS,
    };
    if let Some(k) = details.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            "provider details",
            format!("ProviderDetails has {} which a {} provider does not take", excerpt(k), kind.as_str()),
        ));
    }
    match kind {
        ProviderType::Saml => {
            match (details.get("MetadataFile"), details.get("MetadataURL")) {
                (Some(_), Some(_)) => {
                    return Err(invalid("provider details", "Give either MetadataFile or MetadataURL, not both."))
                }
                (None, None) => return Err(invalid("provider details", "MetadataFile or MetadataURL is required.")),
                (None, Some(url)) => check_url("MetadataURL", url)?,
                (Some(_), None) => {}
            }
            for flag in ["IDPSignout", "IDPInit", "EncryptedResponses", "AllowSHA1Signatures"] {
                check_flag(&details, flag)?;
            }
            if let Some(alg) = details.get("RequestSigningAlgorithm") {
                if alg != "rsa-sha256" {
                    return Err(invalid(
                        "provider details",
                        format!("RequestSigningAlgorithm must be rsa-sha256, not {}", excerpt(alg)),
                    ));
                }
            }
        }
        ProviderType::Oidc => {
            for required in ["client_id", "authorize_scopes", "oidc_issuer"] {
                if details.get(required).is_none_or(|v| v.trim().is_empty()) {
                    return Err(invalid("provider details", format!("ProviderDetails {required} is required.")));
                }
            }
            let method = details.entry("attributes_request_method".into()).or_insert_with(|| "GET".into());
            if method != "GET" && method != "POST" {
                return Err(invalid(
                    "provider details",
                    format!("attributes_request_method must be GET or POST, not {}", excerpt(method)),
                ));
            }
            for key in ["oidc_issuer", "authorize_url", "token_url", "attributes_url", "jwks_uri"] {
                if let Some(v) = details.get(key) {
                    check_url(key, v)?;
                }
            }
            if let Some(v) = details.get("attributes_url_add_attributes") {
                check_flag(&details, "attributes_url_add_attributes").map(|_| ()).map_err(|_| {
                    invalid(
                        "provider details",
                        format!("attributes_url_add_attributes must be true or false, not {}", excerpt(v)),
                    )
                })?;
            }
        }
    }
    for (attribute, from) in &spec.attribute_mapping {
        let ok = STANDARD_ATTRIBUTES.contains(&attribute.as_str())
            || attribute.strip_prefix("custom:").is_some_and(|c| !c.is_empty() && c.len() <= 20)
            || (attribute == "username" && kind == ProviderType::Oidc);
        if !ok {
            return Err(invalid(
                "attribute mapping",
                format!("AttributeMapping names {} which is not an attribute of the user pool", excerpt(attribute)),
            ));
        }
        if from.is_empty() || from.len() > 131_072 {
            return Err(invalid(
                "attribute mapping",
                format!("AttributeMapping of {attribute} names no provider attribute"),
            ));
        }
    }
    if spec.idp_identifiers.len() > 50 {
        return Err(invalid("idp identifiers", "At most 50 IdpIdentifiers."));
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in &spec.idp_identifiers {
        let ok = (1..=40).contains(&id.chars().count())
            && id.chars().all(|c| c.is_alphanumeric() || c == '_' || c.is_whitespace() || "+=.@-".contains(c));
        if !ok {
            return Err(invalid(
                "idp identifiers",
                format!("IdpIdentifier {} must be 1 to 40 of letters, digits and _+=.@- or spaces", excerpt(id)),
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(invalid("idp identifiers", format!("IdpIdentifier {id} is given twice.")));
        }
    }
    Ok((kind, details))
}

/// Reads a SAML provider's metadata: the given file, or the document at its URL fetched through
/// the outbound client (HTTPS unless loopback, no redirects, bounded in size and time).
pub(crate) async fn saml_facts(details: &BTreeMap<String, String>) -> Result<SamlFacts, Invalid> {
    let text = match (details.get("MetadataFile"), details.get("MetadataURL")) {
        (Some(file), _) => file.clone(),
        (None, Some(url)) => fetch_metadata(url).await?,
        (None, None) => return Err(invalid("provider details", "MetadataFile or MetadataURL is required.")),
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if !trimmed.starts_with('<') {
        return Err(invalid("saml metadata", "The SAML metadata is not XML."));
    }
    if trimmed.contains("<!DOCTYPE") || trimmed.contains("<!ENTITY") {
        return Err(invalid("saml metadata", "The SAML metadata has a DOCTYPE: markup declarations are refused."));
    }
    let metadata =
        IdpMetadata::parse(&text).map_err(|e| invalid("saml metadata", format!("Invalid SAML metadata: {e}")))?;
    let Some(sso) = metadata.sso_redirect() else {
        return Err(invalid(
            "saml metadata",
            "Invalid SAML metadata: no SingleSignOnService with the HTTP-Redirect binding (no SSO redirect location)",
        ));
    };
    Ok(SamlFacts {
        entity_id: metadata.entity_id.clone(),
        sso_redirect: sso.to_string(),
        slo_redirect: metadata.slo_redirect().map(str::to_string),
        signing_certificates: metadata.signing_certificates.iter().map(|c| c.base64()).collect(),
        metadata: text,
    })
}

async fn fetch_metadata(url: &str) -> Result<String, Invalid> {
    check_url("MetadataURL", url)?;
    let failed =
        |e: String| invalid("saml metadata url", format!("MetadataURL {} could not be read: {e}", excerpt(url)));
    let client =
        crate::upstream::outbound_client().timeout(METADATA_TIMEOUT).build().map_err(|e| failed(e.to_string()))?;
    let mut resp = client.get(url).send().await.map_err(|e| failed(e.without_url().to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("HTTP {}", resp.status().as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e.without_url().to_string()))? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(failed(format!("the document is larger than {MAX_METADATA_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| failed("the document is not UTF-8".into()))
}

pub(super) fn idp_id(pool_id: &str, name: &str) -> String {
    format!("{pool_id}/{name}")
}

/// What an OIDC client secret is sealed to: its pool and provider.
fn secret_binding(pool_id: &str, name: &str) -> String {
    format!("idp {pool_id}/{name}")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateProvider {
    user_pool_id: String,
    provider_name: String,
    provider_type: String,
    provider_details: BTreeMap<String, String>,
    #[serde(default)]
    attribute_mapping: BTreeMap<String, String>,
    #[serde(default)]
    idp_identifiers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateProvider {
    user_pool_id: String,
    provider_name: String,
    #[serde(default)]
    provider_details: Option<BTreeMap<String, String>>,
    #[serde(default)]
    attribute_mapping: Option<BTreeMap<String, String>>,
    #[serde(default)]
    idp_identifiers: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProviderRef {
    user_pool_id: String,
    provider_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct IdentifierRef {
    user_pool_id: String,
    idp_identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProviderPage {
    user_pool_id: String,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

impl UserPools {
    fn refuse_invalid(call: &mut Call, (check, message): Invalid) -> Refusal {
        call.refuse_plainly(Reason::InvalidParameter, check, message)
    }

    /// The checked record of `spec` for `pool_id` (metadata read, secret sealed), not stored.
    pub(crate) async fn provider_record(
        &self,
        pool_id: &str,
        spec: &ProviderSpec,
        now: i64,
    ) -> Result<IdentityProvider, Invalid> {
        let (kind, mut details) = check_spec(spec)?;
        let saml = match kind {
            ProviderType::Saml => Some(saml_facts(&details).await?),
            ProviderType::Oidc => None,
        };
        if let Some(secret) = details.get_mut("client_secret") {
            *secret = seal_secret(self.kernel.master.as_deref(), &secret_binding(pool_id, &spec.name), secret);
        }
        if saml.as_ref().is_some() && details.get("EncryptedResponses").is_some_and(|v| v == "true") {
            // The pool's SP key pair exists before anyone is told its certificate.
            self.sp_key(pool_id, now).await.map_err(|e| invalid("sp key", e))?;
        }
        Ok(IdentityProvider {
            pool_id: pool_id.into(),
            name: spec.name.clone(),
            provider_type: kind,
            details,
            attribute_mapping: spec.attribute_mapping.clone(),
            idp_identifiers: spec.idp_identifiers.clone(),
            saml,
            created_at: now,
            updated_at: now,
        })
    }

    /// An OIDC provider's client secret, opened (for its token endpoint); `None` when it has none.
    pub(crate) fn oidc_client_secret(&self, p: &IdentityProvider) -> Result<Option<String>, Refusal> {
        match p.details.get("client_secret").filter(|s| !s.is_empty()) {
            Some(sealed) => open_secret(self.kernel.master.as_deref(), &secret_binding(&p.pool_id, &p.name), sealed)
                .map(Some)
                .map_err(|e| Refusal::storage(format!("identity provider {}: {e}", p.name))),
            None => Ok(None),
        }
    }

    /// ProviderDetails as Cognito describes them: the given keys (the OIDC secret in clear) and,
    /// for SAML, the SSO and SLO redirect locations read from the metadata and, with
    /// EncryptedResponses, the pool's encryption certificate.
    async fn provider_json(&self, p: &IdentityProvider) -> Result<Value, Refusal> {
        let mut details = p.details.clone();
        if let Some(secret) = details.get_mut("client_secret") {
            *secret = open_secret(self.kernel.master.as_deref(), &secret_binding(&p.pool_id, &p.name), secret)
                .map_err(|e| Refusal::storage(format!("identity provider {}: {e}", p.name)))?;
        }
        if let Some(saml) = &p.saml {
            details.insert("SSORedirectBindingURI".into(), saml.sso_redirect.clone());
            if let Some(slo) = &saml.slo_redirect {
                details.insert("SLORedirectBindingURI".into(), slo.clone());
            }
            if details.get("EncryptedResponses").is_some_and(|v| v == "true") {
                let key = self.sp_key(&p.pool_id, p.updated_at).await.map_err(Refusal::storage)?;
                details.insert("ActiveEncryptionCertificate".into(), key.certificate);
            }
        }
        Ok(json!({
            "UserPoolId": p.pool_id,
            "ProviderName": p.name,
            "ProviderType": p.provider_type.as_str(),
            "ProviderDetails": details,
            "AttributeMapping": p.attribute_mapping,
            "IdpIdentifiers": p.idp_identifiers,
            "LastModifiedDate": ts(p.updated_at),
            "CreationDate": ts(p.created_at),
        }))
    }

    async fn identifier_holder(&self, pool_id: &str, id: &str) -> Result<Option<String>, Refusal> {
        Ok(self
            .kernel
            .store
            .get_document(KIND_IDP_IDENTIFIER, &idp_id(pool_id, id))
            .await?
            .and_then(|d| d.body.get("provider").and_then(Value::as_str).map(str::to_string)))
    }

    /// The refusal of a provider change that did not happen (what [`ProviderWrite`] reports
    /// besides `Done`).
    fn refuse_write(call: &mut Call, name: &str, written: ProviderWrite) -> Refusal {
        match written {
            ProviderWrite::NameTaken => call.refuse_plainly(
                Reason::DuplicateProvider,
                "identity provider",
                format!("A provider with the name {name} already exists in this user pool."),
            ),
            ProviderWrite::IdentifierTaken(taken) => call.refuse_plainly(
                Reason::DuplicateProvider,
                "idp identifiers",
                format!("IdpIdentifier {taken} is already used by another provider of the pool."),
            ),
            ProviderWrite::Missing | ProviderWrite::Done(_) => call.refuse_plainly(
                Reason::NotFound,
                "identity provider",
                format!("Identity provider {name} does not exist."),
            ),
        }
    }

    /// A pool's identity provider by name.
    #[crate::entry_point]
    pub async fn provider(&self, pool_id: &str, name: &str) -> Result<Option<IdentityProvider>, Refusal> {
        match self.kernel.store.get_document(KIND_IDP, &idp_id(pool_id, name)).await? {
            Some(d) => from_doc(d).map(Some),
            None => Ok(None),
        }
    }

    /// Whether any SAML provider of the pool has AuthnRequests signed (RequestSigningAlgorithm):
    /// the SP metadata then names the signing certificate (and says AuthnRequestsSigned).
    #[crate::entry_point]
    pub async fn pool_signs_saml_requests(&self, pool_id: &str) -> Result<bool, Refusal> {
        let mut after: Option<String> = None;
        loop {
            let docs = self.kernel.store.list_documents(KIND_IDP, Some(pool_id), after.as_deref(), 100).await?;
            for d in &docs {
                if d.body.get("details").and_then(|x| x.get("RequestSigningAlgorithm")).is_some() {
                    return Ok(true);
                }
            }
            match docs.last() {
                Some(last) if docs.len() == 100 => after = Some(last.id.clone()),
                _ => return Ok(false),
            }
        }
    }

    /// The pool's identity provider holding IdpIdentifier `id` (`idp_identifier` at /oauth2/authorize).
    #[crate::entry_point]
    pub async fn provider_by_identifier(&self, pool_id: &str, id: &str) -> Result<Option<IdentityProvider>, Refusal> {
        match self.identifier_holder(pool_id, id).await? {
            Some(name) => {
                Ok(self.provider(pool_id, &name).await?.filter(|p| p.idp_identifiers.iter().any(|i| i == id)))
            }
            None => Ok(None),
        }
    }

    async fn existing_provider(&self, pool_id: &str, name: &str, call: &mut Call) -> Result<IdentityProvider, Refusal> {
        self.provider(pool_id, name).await?.ok_or_else(|| {
            call.refuse_plainly(
                Reason::NotFound,
                "identity provider",
                format!("Identity provider {name} does not exist."),
            )
        })
    }

    /// Whether the pool has an identity provider of that name (app clients' SupportedIdentityProviders).
    pub(crate) async fn has_provider(&self, pool_id: &str, name: &str) -> Result<bool, Refusal> {
        Ok(self.kernel.store.get_document(KIND_IDP, &idp_id(pool_id, name)).await?.is_some())
    }

    /// An app client's SupportedIdentityProviders: `COGNITO`, an identity provider of the pool,
    /// or an upstream provider of the configuration (whose tokens answer CUSTOM_AUTH).
    pub(crate) async fn check_supported_providers(
        &self,
        pool_id: &str,
        providers: &[String],
        call: &mut Call,
    ) -> Result<(), Refusal> {
        for p in providers {
            if p == "COGNITO" || self.kernel.upstreams.by_name(p).is_some() || self.has_provider(pool_id, p).await? {
                continue;
            }
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "supported identity providers",
                format!("The provider {} does not exist for User Pool {pool_id}", excerpt(p)),
            ));
        }
        Ok(())
    }

    pub(crate) async fn create_identity_provider(
        &self,
        req: CreateProvider,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let spec = ProviderSpec {
            name: req.provider_name,
            provider_type: req.provider_type,
            details: req.provider_details,
            attribute_mapping: req.attribute_mapping,
            idp_identifiers: req.idp_identifiers,
        };
        let p = match self.provider_record(&pool.id, &spec, self.kernel.now()).await {
            Ok(p) => p,
            Err(e) => return Err(Self::refuse_invalid(call, e)),
        };
        let p = match self.create_provider_records(&p).await? {
            ProviderWrite::Done(p) => *p,
            other => return Err(Self::refuse_write(call, &p.name, other)),
        };
        call.trail
            .pass("create", format!("{} identity provider {} of pool {}", p.provider_type.as_str(), p.name, pool.id));
        Ok(json!({ "IdentityProvider": self.provider_json(&p).await? }))
    }

    pub(crate) async fn describe_identity_provider(&self, req: ProviderRef, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let p = self.existing_provider(&req.user_pool_id, &req.provider_name, call).await?;
        Ok(json!({ "IdentityProvider": self.provider_json(&p).await? }))
    }

    pub(crate) async fn get_identity_provider_by_identifier(
        &self,
        req: IdentifierRef,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let holder = self.identifier_holder(&req.user_pool_id, &req.idp_identifier).await?;
        let found = match holder {
            Some(name) => self
                .provider(&req.user_pool_id, &name)
                .await?
                .filter(|p| p.idp_identifiers.contains(&req.idp_identifier)),
            None => None,
        };
        let p = found.ok_or_else(|| {
            call.refuse_plainly(
                Reason::NotFound,
                "idp identifier",
                format!("Identity provider with identifier {} does not exist.", excerpt(&req.idp_identifier)),
            )
        })?;
        Ok(json!({ "IdentityProvider": self.provider_json(&p).await? }))
    }

    pub(crate) async fn list_identity_providers(&self, req: ProviderPage, call: &mut Call) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let limit = match req.max_results {
            None | Some(0) => 60,
            Some(n) if (1..=60).contains(&n) => n as u32,
            Some(n) => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "request",
                    format!("MaxResults {n} must be 0 to 60."),
                ))
            }
        };
        let after = parse_page_token(call, req.next_token.as_deref())?;
        let docs = self.kernel.store.list_documents(KIND_IDP, Some(&pool.id), after.as_deref(), limit + 1).await?;
        let more = docs.len() > limit as usize;
        let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        let providers: Vec<IdentityProvider> =
            docs.into_iter().take(limit as usize).map(from_doc).collect::<Result<_, _>>()?;
        let next = more.then(|| page_token(&ids[limit as usize - 1]));
        let out: Vec<Value> = providers
            .iter()
            .map(|p| json!({ "ProviderName": p.name, "ProviderType": p.provider_type.as_str(), "LastModifiedDate": ts(p.updated_at), "CreationDate": ts(p.created_at) }))
            .collect();
        Ok(json!({ "Providers": out, "NextToken": next }))
    }

    pub(crate) async fn update_identity_provider(
        &self,
        req: UpdateProvider,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let current = self.existing_provider(&req.user_pool_id, &req.provider_name, call).await?;
        // The new state is checked (and its metadata fetched) outside the store's transaction;
        // the updater then puts it onto the record as it stands.
        let mut details = req.provider_details.clone().unwrap_or_else(|| current.details.clone());
        let secret_given = details.contains_key("client_secret");
        if req.provider_details.is_none() {
            details.remove("client_secret");
        }
        let spec = ProviderSpec {
            name: current.name.clone(),
            provider_type: current.provider_type.as_str().into(),
            details,
            attribute_mapping: req.attribute_mapping.clone().unwrap_or_else(|| current.attribute_mapping.clone()),
            idp_identifiers: req.idp_identifiers.clone().unwrap_or_else(|| current.idp_identifiers.clone()),
        };
        let next = match self.provider_record(&current.pool_id, &spec, self.kernel.now()).await {
            Ok(p) => p,
            Err(e) => return Err(Self::refuse_invalid(call, e)),
        };
        let keep_secret = !(secret_given && req.provider_details.is_some());
        let after = match self.update_provider_records(&next, &current.idp_identifiers, keep_secret).await? {
            ProviderWrite::Done(p) => *p,
            other => return Err(Self::refuse_write(call, &current.name, other)),
        };
        call.trail.pass("update", format!("identity provider {} of pool {}", after.name, after.pool_id));
        Ok(json!({ "IdentityProvider": self.provider_json(&after).await? }))
    }

    pub(crate) async fn delete_identity_provider(&self, req: ProviderRef, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let p = self.existing_provider(&req.user_pool_id, &req.provider_name, call).await?;
        if let other @ (ProviderWrite::Missing | ProviderWrite::NameTaken | ProviderWrite::IdentifierTaken(_)) =
            self.delete_provider_records(&p).await?
        {
            return Err(Self::refuse_write(call, &p.name, other));
        }
        call.trail.pass(
            "delete",
            format!(
                "identity provider {} of pool {}, with its identifiers, links and app-client entries",
                p.name, p.pool_id
            ),
        );
        Ok(json!({}))
    }

    /// Makes the pool's provider what the configuration declares: created when the pool lacks
    /// it, replaced when it differs (the configuration is the source of truth for the providers
    /// it names; one it stopped naming is left as it is).
    #[crate::entry_point]
    pub async fn ensure_identity_provider(&self, pool_id: &str, spec: &ProviderSpec) -> anyhow::Result<()> {
        let failed = |m: String| anyhow::anyhow!("identity provider {} of pool {pool_id}: {m}", spec.name);
        let stored = self.provider(pool_id, &spec.name).await.map_err(|e| failed(e.message))?;
        if let Some(stored) = &stored {
            if self.declared_as(stored, spec).map_err(|e| failed(e.message))? {
                return Ok(());
            }
        }
        let p = self
            .provider_record(pool_id, spec, self.kernel.now())
            .await
            .map_err(|(check, m)| failed(format!("{check}: {m}")))?;
        let written = match &stored {
            None => self.create_provider_records(&p).await,
            Some(s) => self.update_provider_records(&p, &s.idp_identifiers, false).await,
        };
        match written.map_err(|e| failed(e.message))? {
            ProviderWrite::Done(_) => Ok(()),
            ProviderWrite::IdentifierTaken(id) => {
                Err(failed(format!("IdpIdentifier {id} is already used by another provider of the pool")))
            }
            ProviderWrite::NameTaken | ProviderWrite::Missing => {
                // Another instance starting on the same store wrote it first: as declared, it is done.
                let now_stored = self.provider(pool_id, &spec.name).await.map_err(|e| failed(e.message))?;
                match now_stored {
                    Some(p) if self.declared_as(&p, spec).map_err(|e| failed(e.message))? => Ok(()),
                    _ => Err(failed("changed by another instance while it was provisioned".into())),
                }
            }
        }
    }

    /// Whether a stored provider is as `spec` declares it (its sealed secret compared opened).
    fn declared_as(&self, stored: &IdentityProvider, spec: &ProviderSpec) -> Result<bool, Refusal> {
        let Ok((kind, details)) = check_spec(spec) else { return Ok(false) };
        let mut stored_details = stored.details.clone();
        if let Some(secret) = stored_details.get_mut("client_secret") {
            *secret =
                open_secret(self.kernel.master.as_deref(), &secret_binding(&stored.pool_id, &stored.name), secret)
                    .map_err(|e| Refusal::storage(format!("identity provider {}: {e}", stored.name)))?;
        }
        Ok(stored.provider_type == kind
            && stored_details == details
            && stored.attribute_mapping == spec.attribute_mapping
            && stored.idp_identifiers == spec.idp_identifiers)
    }
}
