//! Sign-in through a pool's SAML identity provider, as Cognito's hosted UI does it:
//!
//! - SP-initiated: an authorization request naming the provider (or its button on the page)
//!   sends the browser to the IdP's SSO URL with an AuthnRequest (HTTP-Redirect, signed with the
//!   pool's SP key when RequestSigningAlgorithm is set) naming the ACS `<domain>/saml2/idpresponse`.
//!   A pending record keeps the request (its ID, the authorization request, the provider, ten
//!   minutes) bound to the browser: the SHA-256 of a random binding the browser holds in a
//!   cookie. The RelayState is the AuthnRequest's ID.
//! - The ACS (`POST /saml2/idpresponse`): the pending record the RelayState names is read and
//!   checked (this pool, unanswered, unexpired, this browser's binding), the response verified
//!   by `tokenbridge_saml::verify_response` against the provider's metadata (InResponseTo = that
//!   request), then the record is marked answered by one atomic update (of two posts of one
//!   response, one wins) and kept as answered until it expires, and the assertion's ID goes into
//!   the one-time-use record (the replay markers `/auth/exchange` spends upstream tokens with).
//! - IdP-initiated, only with the provider's IDPInit on: the RelayState holds the authorization
//!   request's parameters (`client_id`, `redirect_uri`, `identity_provider` or `idp_identifier`,
//!   `scope`, `response_type`, …), checked as at `/oauth2/authorize`; no InResponseTo.
//!
//! Then the identity signs in as the pool's federated (or linked) user, and the sign-in ends as
//! a password sign-in does: a sign-in session and a code for the client.

use super::*;
use crate::excerpt::excerpt;
use crate::jose::sha256_hex;
use crate::model::Document;
use crate::secrets::constant_time_eq;
use crate::store::{Change, StoreError};
use crate::userpool::{FederatedIdentity, IdentityProvider, ProviderType};
use std::collections::BTreeMap;
use tokenbridge_saml::{
    sp_entity_id, verify_response, AuthnRequest, Certificate, Check, Expectations, SpMetadata, VerifiedAssertion,
    DEFAULT_MAX_SIZE, DEFAULT_SKEW,
};

/// The Assertion Consumer Service, under the domain.
pub const ACS_PATH: &str = "/saml2/idpresponse";
/// The SP metadata, under the domain.
pub const METADATA_PATH: &str = "/saml2/metadata";
/// How long an AuthnRequest waits for its answer.
pub const PENDING_SECONDS: i64 = 600;
const KIND_PENDING: &str = "saml_authn_request";

/// What the door knows of the browser, and where the browser reached the domain.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    /// The sign-in session secret its cookie holds.
    pub session: Option<String>,
    /// The random binding its SAML cookie holds: pending AuthnRequests are bound to it.
    pub binding: Option<String>,
    /// The domain's base URL as the browser reached it (`<public_url>/domains/<domain>` or
    /// `<scheme>://<domain>.<auth_domain_suffix>[:port]`): the ACS and metadata are under it.
    pub domain_url: Option<String>,
}

/// An HTTP-POST to the ACS.
#[derive(Debug, Clone, Default)]
pub struct SamlPost {
    pub domain: String,
    pub saml_response: Option<String>,
    pub relay_state: Option<String>,
}

/// An AuthnRequest waiting for its answer.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct PendingRequest {
    pool_id: String,
    provider: String,
    request_id: String,
    request: AuthorizeRequest,
    /// SHA-256 of the browser's binding.
    binding_sha256: String,
    acs_url: String,
    /// Where the AuthnRequest went (its Destination, the IdP's SSO URL) and whether it was
    /// signed: the ACS step's trail tells the whole round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
    #[serde(default)]
    signed: bool,
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answered_at: Option<i64>,
}

fn pending_id(request_id: &str) -> String {
    sha256_hex(format!("saml authn request|{request_id}").as_bytes())
}

/// Our AuthnRequest IDs: `_` and 40 hex digits. Anything else in a RelayState is an
/// IdP-initiated sign-in's authorization parameters.
fn is_request_id(relay_state: &str) -> bool {
    relay_state.len() == 41
        && relay_state.starts_with('_')
        && relay_state[1..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What marking a pending request answered came to.
enum Answer {
    First,
    Answered,
    OtherBrowser,
    Unknown,
}

impl HostedSignIn {
    /// Starts SP-initiated sign-in at `provider`: the pending record, and the IdP URL with the
    /// AuthnRequest for the browser to go to.
    pub(super) async fn saml_start(
        &self,
        checked: &Checked,
        provider: &IdentityProvider,
        req: &AuthorizeRequest,
        browser: &Browser,
        call: &mut Call,
    ) -> Result<String, Refusal> {
        let (Some(binding), Some(base), Some(facts)) =
            (browser.binding.as_deref(), browser.domain_url.as_deref(), provider.saml.as_ref())
        else {
            return Err(call.refuse(
                Reason::Unavailable,
                "saml request",
                "no browser binding, domain URL or SAML metadata to start the sign-in with",
                "Sign-in is unavailable for a moment.",
            ));
        };
        let now = self.kernel.now();
        let acs_url = format!("{base}{ACS_PATH}");
        let authn = AuthnRequest::new(&sp_entity_id(&checked.pool.id), &acs_url, &facts.sso_redirect, now);
        let key =
            match provider.details.get("RequestSigningAlgorithm") {
                Some(_) => Some(self.user_pools.sp_key(&checked.pool.id, now).await.map_err(|e| {
                    call.refuse(Reason::Unavailable, "sp key", e, "Sign-in is unavailable for a moment.")
                })?),
                None => None,
            };
        let pending = PendingRequest {
            pool_id: checked.pool.id.clone(),
            provider: provider.name.clone(),
            request_id: authn.id.clone(),
            request: req.clone(),
            binding_sha256: sha256_hex(binding.as_bytes()),
            acs_url: acs_url.clone(),
            destination: Some(facts.sso_redirect.clone()),
            signed: key.is_some(),
            expires_at: now + PENDING_SECONDS,
            answered_at: None,
        };
        let doc = Document::new(KIND_PENDING, &pending_id(&authn.id), &checked.pool.id, &pending, now, now)
            .expiring(pending.expires_at);
        // Insert-if-absent: a colliding ID (160 random bits) is refused rather than overwritten.
        match self.kernel.store.insert_document(&doc).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(call.refuse(
                    Reason::Unavailable,
                    "saml request",
                    format!("AuthnRequest ID {} is pending already", authn.id),
                    "Sign-in is unavailable for a moment.",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        call.trail.pass(
            "saml request",
            format!(
                "AuthnRequest {} to {} ({}), ACS {acs_url}, its answer bound to this browser for {PENDING_SECONDS} s",
                authn.id,
                excerpt(&facts.sso_redirect),
                signing(key.is_some())
            ),
        );
        Ok(authn.redirect_url(Some(&authn.id), key.as_ref().map(|k| &k.key)))
    }

    /// `POST /saml2/idpresponse`: the IdP's answer verified, the identity signed in as the pool's
    /// federated (or linked) user, a sign-in session and a code for the client.
    #[crate::entry_point]
    pub async fn saml_response(
        &self,
        post: &SamlPost,
        browser: &Browser,
        ctx: &RequestContext,
    ) -> Result<SessionStarted, AuthorizeRefusal> {
        let relay = post.relay_state.as_deref().unwrap_or_default();
        let params = json!({
            "domain": post.domain,
            "relay_state": if is_request_id(relay) { json!(relay) } else if relay.is_empty() { Value::Null } else { json!("authorization parameters (IdP-initiated)") },
            "saml_response_bytes": post.saml_response.as_deref().map(str::len),
            "has_browser_binding": browser.binding.is_some(),
        });
        let op = Operation::new("SamlResponse", ctx, params).source(EVENT_SOURCE);
        let mut told = Told { redirect: None, page: None };
        let decide = async |call: &mut Call| {
            let pool = self.domain_pool(&post.domain, call).await?;
            let Some(response) = post.saml_response.as_deref().filter(|r| !r.is_empty()) else {
                return Err(call.refuse_plainly(Reason::InvalidRequest, "saml response", "SAMLResponse is missing"));
            };
            let Some(base) = browser.domain_url.as_deref() else {
                return Err(call.refuse(
                    Reason::Unavailable,
                    "acs",
                    "the door gave no domain URL",
                    "Sign-in is unavailable for a moment.",
                ));
            };
            let acs_url = format!("{base}{ACS_PATH}");
            let (req, provider, pending) = if is_request_id(relay) {
                let pending = self.pending(&pool, relay, browser, call).await?;
                let provider = self.saml_provider(&pool, &pending.provider, call).await?;
                (pending.request.clone(), provider, Some(pending))
            } else {
                let req = idp_initiated_request(&post.domain, relay, call)?;
                let provider = self.named_saml_provider(&pool, &req, call).await?;
                (req, provider, None)
            };
            let verified = self
                .verify(&pool, &provider, response, &acs_url, pending.as_ref().map(|p| p.request_id.as_str()), call)
                .await?;
            if let Some(p) = &pending {
                self.answer(&pool, p, browser, call).await?;
            }
            let now = self.kernel.now();
            if !self.kernel.store.insert_replay_marker(&verified.replay_key(), verified.expires_at, now).await? {
                let r = verified.replayed();
                return Err(call.refuse(
                    Reason::AssertionReplayed,
                    r.check.as_str(),
                    r.detail,
                    "This sign-in answer was used already: sign in again.",
                ));
            }
            call.trail.pass(
                "replay",
                format!(
                    "assertion {} used once (remembered until {})",
                    excerpt(&verified.assertion_id),
                    verified.expires_at
                ),
            );
            let checked = self.check_request(&req, &mut told.redirect, call).await?;
            if checked.federate.as_ref().is_none_or(|p| p.name != provider.name) {
                return Err(call.refuse_plainly(
                    Reason::InvalidRequest,
                    "identity provider",
                    format!("the authorization request does not name provider {}", provider.name),
                ));
            }
            let identity = FederatedIdentity {
                provider: provider.name.clone(),
                provider_type: ProviderType::Saml,
                subject: verified.name_id.clone(),
                issuer: Some(verified.issuer.clone()),
                attributes: verified.attributes.clone(),
            };
            let (user, _) = self.user_pools.sign_in_federated(&pool.id, &identity, call).await?;
            self.signed_in(&checked, &user, req.state.as_deref(), SignInStep::new(ctx, "SamlResponse"), call).await
        };
        self.kernel.run(op, decide, session_answer).await.map_err(|refusal| told.refuse(refusal))
    }

    /// `GET /saml2/metadata`: the pool's SP metadata (entity id, ACS at `domain_url`, the SP
    /// certificate for encrypted assertions, and for signed requests when a provider gets them).
    #[crate::entry_point]
    pub async fn saml_metadata(&self, domain: &str, domain_url: &str, ctx: &RequestContext) -> Result<String, Refusal> {
        let op =
            Operation::new("GetSamlMetadata", ctx, json!({ "domain": domain })).source(EVENT_SOURCE).read_only(true);
        let decide = async |call: &mut Call| {
            let pool = self.domain_pool(domain, call).await?;
            let unavailable = |call: &mut Call, e: String| {
                call.refuse(Reason::Unavailable, "sp key", e, "The SAML metadata is unavailable for a moment.")
            };
            let key = match self.user_pools.sp_key(&pool.id, self.kernel.now()).await {
                Ok(k) => k,
                Err(e) => return Err(unavailable(call, e)),
            };
            let certificate = match Certificate::from_base64(&key.certificate) {
                Ok(c) => c,
                Err(e) => return Err(unavailable(call, e.to_string())),
            };
            // The signing certificate only when some provider gets signed requests: an IdP
            // reading AuthnRequestsSigned="true" would refuse the unsigned ones.
            let signs = self.user_pools.pool_signs_saml_requests(&pool.id).await?;
            let metadata = SpMetadata {
                entity_id: sp_entity_id(&pool.id),
                acs_url: format!("{domain_url}{ACS_PATH}"),
                signing_certificate: signs.then(|| certificate.clone()),
                encryption_certificate: Some(certificate),
                want_assertions_signed: true,
            };
            call.trail.pass("metadata", format!("SP {} with ACS {domain_url}{ACS_PATH}", metadata.entity_id));
            Ok(metadata.to_xml())
        };
        self.kernel.run(op, decide, |_| json!({})).await
    }

    /// The pending request the RelayState names: of this pool, unanswered, unexpired, and made
    /// in this browser.
    async fn pending(
        &self,
        pool: &UserPool,
        request_id: &str,
        browser: &Browser,
        call: &mut Call,
    ) -> Result<PendingRequest, Refusal> {
        let unknown = |call: &mut Call, detail: String| {
            call.refuse(
                Reason::SamlRequestUnknown,
                "in_response_to",
                detail,
                "This sign-in was not started in this browser, or it is finished or expired: sign in again.",
            )
        };
        let found = match self.kernel.store.get_document(KIND_PENDING, &pending_id(request_id)).await? {
            Some(d) => serde_json::from_value::<PendingRequest>(d.body)
                .map_err(|e| Refusal::storage(format!("stored AuthnRequest is malformed: {e}")))?,
            None => {
                return Err(unknown(
                    call,
                    format!("InResponseTo {request_id} unknown or already answered (no such pending AuthnRequest)"),
                ))
            }
        };
        if found.pool_id != pool.id {
            return Err(unknown(
                call,
                format!("InResponseTo {request_id} unknown or already answered (it is another pool's)"),
            ));
        }
        if let Some(at) = found.answered_at {
            return Err(unknown(
                call,
                format!("InResponseTo {request_id} unknown or already answered (answered at {at})"),
            ));
        }
        if found.expires_at <= self.kernel.now() {
            return Err(unknown(call, format!("AuthnRequest {request_id} expired at {}", found.expires_at)));
        }
        if !self.binds(&found, browser) {
            return Err(unknown(
                call,
                format!(
                    "AuthnRequest {request_id} was made in another browser (its binding cookie is absent or different)"
                ),
            ));
        }
        let sent = match &found.destination {
            Some(d) => format!(", sent to {} ({})", excerpt(d), signing(found.signed)),
            None => String::new(),
        };
        call.trail.pass(
            "pending request",
            format!("AuthnRequest {request_id} of this browser, to provider {}{sent}", found.provider),
        );
        Ok(found)
    }

    fn binds(&self, pending: &PendingRequest, browser: &Browser) -> bool {
        browser
            .binding
            .as_deref()
            .is_some_and(|b| constant_time_eq(sha256_hex(b.as_bytes()).as_bytes(), pending.binding_sha256.as_bytes()))
    }

    /// Marks the pending request answered, in one atomic update of its record as it stands: of
    /// two posts of one answer, one marks it and the other is refused. The record stays (as
    /// answered) until it expires, so a later post is told why.
    async fn answer(
        &self,
        pool: &UserPool,
        pending: &PendingRequest,
        browser: &Browser,
        call: &mut Call,
    ) -> Result<(), Refusal> {
        let now = self.kernel.now();
        let binding = browser.binding.as_deref().map(|b| sha256_hex(b.as_bytes()));
        let mut answer = Answer::Unknown;
        let mut updater = |current: Option<&Document>| -> Result<Change<Document>, StoreError> {
            let Some(d) = current else {
                answer = Answer::Unknown;
                return Ok(Change::Keep);
            };
            let mut p: PendingRequest =
                serde_json::from_value(d.body.clone()).map_err(|e| StoreError::Backend(e.to_string()))?;
            if p.answered_at.is_some() {
                answer = Answer::Answered;
                return Ok(Change::Keep);
            }
            if !binding.as_deref().is_some_and(|b| constant_time_eq(b.as_bytes(), p.binding_sha256.as_bytes())) {
                answer = Answer::OtherBrowser;
                return Ok(Change::Keep);
            }
            p.answered_at = Some(now);
            answer = Answer::First;
            let next = Document::new(KIND_PENDING, &d.id, &pool.id, &p, d.created_at, now).expiring(p.expires_at);
            Ok(Change::Put(next))
        };
        self.kernel.store.update_document_with(KIND_PENDING, &pending_id(&pending.request_id), &mut updater).await?;
        let id = &pending.request_id;
        let detail = match answer {
            Answer::First => {
                call.trail.pass("in_response_to", format!("AuthnRequest {id} answered now, once"));
                return Ok(());
            }
            Answer::Answered => {
                format!("InResponseTo {id} unknown or already answered (another post answered it first)")
            }
            Answer::OtherBrowser => format!("AuthnRequest {id} was made in another browser"),
            Answer::Unknown => {
                format!("InResponseTo {id} unknown or already answered (the pending AuthnRequest is gone)")
            }
        };
        Err(call.refuse(
            Reason::SamlRequestUnknown,
            "in_response_to",
            detail,
            "This sign-in was not started in this browser, or it is finished or expired: sign in again.",
        ))
    }

    /// The pool's SAML provider `name`, with its metadata.
    async fn saml_provider(&self, pool: &UserPool, name: &str, call: &mut Call) -> Result<IdentityProvider, Refusal> {
        match self.user_pools.provider(&pool.id, name).await? {
            Some(p) if p.provider_type == ProviderType::Saml && p.saml.is_some() => {
                call.trail.pass("identity provider", format!("SAML provider {name} of pool {}", pool.id));
                Ok(p)
            }
            _ => Err(call.refuse_plainly(
                Reason::NotFound,
                "identity provider",
                format!("{} is not a SAML identity provider of pool {}", excerpt(name), pool.id),
            )),
        }
    }

    /// The SAML provider an IdP-initiated RelayState names (`identity_provider` or `idp_identifier`).
    async fn named_saml_provider(
        &self,
        pool: &UserPool,
        req: &AuthorizeRequest,
        call: &mut Call,
    ) -> Result<IdentityProvider, Refusal> {
        let name = match (req.identity_provider.as_deref(), req.idp_identifier.as_deref()) {
            (Some(name), _) => name.to_string(),
            (None, Some(id)) => match self.user_pools.provider_by_identifier(&pool.id, id).await? {
                Some(p) => p.name,
                None => id.to_string(),
            },
            (None, None) => {
                return Err(call.refuse_plainly(
                    Reason::InvalidRequest,
                    "relay state",
                    "an IdP-initiated RelayState must name identity_provider or idp_identifier",
                ))
            }
        };
        self.saml_provider(pool, &name, call).await
    }

    /// The response verified against the provider's metadata, this ACS and this pool's SP entity
    /// id, InResponseTo the pending request (none: IdP-initiated, only with IDPInit on).
    async fn verify(
        &self,
        pool: &UserPool,
        provider: &IdentityProvider,
        response: &str,
        acs_url: &str,
        in_response_to: Option<&str>,
        call: &mut Call,
    ) -> Result<VerifiedAssertion, Refusal> {
        let Some(facts) = provider.saml.as_ref() else {
            return Err(call.refuse_plainly(
                Reason::NotFound,
                "identity provider",
                "the provider has no SAML metadata",
            ));
        };
        let flag = |key: &str| provider.details.get(key).is_some_and(|v| v == "true");
        let (idp_init, encrypted, allow_sha1) =
            (flag("IDPInit"), flag("EncryptedResponses"), flag("AllowSHA1Signatures"));
        let certificates: Vec<Certificate> =
            facts.signing_certificates.iter().filter_map(|c| Certificate::from_base64(c).ok()).collect();
        let now = self.kernel.now();
        let key = if encrypted {
            match self.user_pools.sp_key(&pool.id, now).await {
                Ok(k) => Some(k),
                Err(e) => {
                    return Err(call.refuse(Reason::Unavailable, "sp key", e, "Sign-in is unavailable for a moment."))
                }
            }
        } else {
            None
        };
        let sp = sp_entity_id(&pool.id);
        let expect = Expectations {
            idp_entity_id: &facts.entity_id,
            idp_certificates: &certificates,
            allow_sha1,
            sp_entity_id: &sp,
            acs_url,
            now,
            skew: DEFAULT_SKEW,
            in_response_to,
            allow_unsolicited: in_response_to.is_none() && idp_init,
            decryption_key: key.as_ref().map(|k| &k.key),
            max_size: DEFAULT_MAX_SIZE,
        };
        let verified = match verify_response(response, &expect) {
            Ok(v) => v,
            Err(r) => {
                let (reason, message) = match r.check {
                    Check::InResponseTo => (
                        Reason::SamlRequestUnknown,
                        "This sign-in was not started in this browser, or it is finished or expired: sign in again.",
                    ),
                    Check::Unsolicited => (
                        Reason::UnsolicitedResponse,
                        "Sign-in started at this identity provider is not allowed: start it from the application.",
                    ),
                    Check::Replay => {
                        (Reason::AssertionReplayed, "This sign-in answer was used already: sign in again.")
                    }
                    _ => (Reason::SamlRejected, "The identity provider's answer was refused."),
                };
                return Err(call.refuse(reason, r.check.as_str(), r.detail, message));
            }
        };
        if encrypted && !verified.encrypted {
            return Err(call.refuse(
                Reason::SamlRejected,
                Check::Decryption.as_str(),
                format!("EncryptedResponses is on for provider {}, yet the assertion came unencrypted", provider.name),
                "The identity provider's answer was refused.",
            ));
        }
        let signed: Vec<String> = verified
            .signed
            .iter()
            .map(|s| {
                format!(
                    "{} #{}",
                    if s.kind == tokenbridge_saml::SignedKind::Response { "response" } else { "assertion" },
                    excerpt(&s.id)
                )
            })
            .collect();
        call.trail.pass(
            "signature",
            format!(
                "{} verified with the metadata certificate sha256:{}{}",
                signed.join(" and "),
                verified.certificate_fingerprint,
                if verified.encrypted { " (assertion decrypted with the pool's SP key)" } else { "" }
            ),
        );
        call.trail.pass(
            "assertion",
            format!(
                "Issuer {}, Audience {sp}, Destination and Recipient {acs_url}, within its times; NameID {}",
                excerpt(&verified.issuer),
                excerpt(&verified.name_id)
            ),
        );
        match &verified.in_response_to {
            Some(id) => call.trail.pass("in_response_to", format!("answers AuthnRequest {}", excerpt(id))),
            None => call.trail.pass("in_response_to", format!("IdP-initiated (IDPInit is on for {})", provider.name)),
        }
        call.trail.pass("attributes", received_attributes(&verified.attributes));
        Ok(verified)
    }
}

/// How an AuthnRequest went, as trails say it.
fn signing(signed: bool) -> &'static str {
    if signed {
        "signed RSA-SHA256 with the pool's SP key"
    } else {
        "unsigned"
    }
}

/// Most attributes, and values of one, a trail lists.
const LISTED_ATTRIBUTES: usize = 32;
const LISTED_VALUES: usize = 8;
/// Characters of one listed value.
const VALUE_CHARS: usize = 120;

/// The assertion's attributes as received, for the trail: each name with its values quoted
/// (bounded in number and length; the assertion itself is never kept).
fn received_attributes(attributes: &BTreeMap<String, Vec<String>>) -> String {
    let clip = |v: &str| -> String {
        let one_line: String = v.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        match one_line.char_indices().nth(VALUE_CHARS) {
            Some((at, _)) => format!("{}…", &one_line[..at]),
            None => one_line,
        }
    };
    let listed: Vec<String> = attributes
        .iter()
        .take(LISTED_ATTRIBUTES)
        .map(|(name, values)| {
            let mut shown: Vec<String> =
                values.iter().take(LISTED_VALUES).map(|v| Value::String(clip(v)).to_string()).collect();
            if values.len() > LISTED_VALUES {
                shown.push(format!("… {} more", values.len() - LISTED_VALUES));
            }
            format!("{} = [{}]", clip(name), shown.join(", "))
        })
        .collect();
    let more = attributes.len().saturating_sub(LISTED_ATTRIBUTES);
    let tail = if more > 0 { format!("; … {more} more") } else { String::new() };
    format!("{} attribute(s) as received: {}{tail}", attributes.len(), listed.join("; "))
}

/// An IdP-initiated RelayState: the authorization request's parameters, as a query string.
fn idp_initiated_request(domain: &str, relay_state: &str, call: &mut Call) -> Result<AuthorizeRequest, Refusal> {
    if relay_state.is_empty() {
        return Err(call.refuse_plainly(
            Reason::InvalidRequest,
            "relay state",
            "RelayState is missing: an IdP-initiated response names the client_id, redirect_uri and identity_provider in it",
        ));
    }
    let mut pairs: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(relay_state.trim_start_matches('?').as_bytes()) {
        if pairs.insert(k.to_string(), v.to_string()).is_some() {
            return Err(call.refuse_plainly(
                Reason::InvalidRequest,
                "relay state",
                format!("RelayState names {} twice", excerpt(&k)),
            ));
        }
    }
    let get = |k: &str| pairs.get(k).cloned();
    if get("client_id").is_none() {
        return Err(call.refuse_plainly(
            Reason::InvalidRequest,
            "relay state",
            "RelayState is neither a pending AuthnRequest nor authorization parameters with a client_id",
        ));
    }
    call.trail.pass("relay state", "authorization parameters of an IdP-initiated sign-in");
    Ok(AuthorizeRequest {
        domain: domain.to_string(),
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scope: get("scope"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        identity_provider: get("identity_provider"),
        idp_identifier: get("idp_identifier"),
        prompt: None,
        login_hint: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_listed_bounded() {
        let mut a = BTreeMap::new();
        a.insert("email".to_string(), vec!["bob@example.com".to_string()]);
        a.insert("groups".to_string(), vec!["a b".to_string(), "c\"d".to_string()]);
        a.insert("long".to_string(), vec!["x".repeat(500)]);
        let text = received_attributes(&a);
        assert!(text
            .starts_with("3 attribute(s) as received: email = [\"bob@example.com\"]; groups = [\"a b\", \"c\\\"d\"]"));
        assert!(text.contains(&format!("long = [\"{}…\"]", "x".repeat(VALUE_CHARS))), "{text}");
        let many: BTreeMap<String, Vec<String>> =
            (0..40).map(|i| (format!("a{i:02}"), vec!["v".to_string(); 10])).collect();
        let text = received_attributes(&many);
        assert!(text.ends_with("; … 8 more"), "{text}");
        assert!(text.contains("\"v\", … 2 more]"), "{text}");
    }

    #[test]
    fn relay_states_are_told_apart() {
        assert!(is_request_id(&format!("_{}", "a1".repeat(20))));
        assert!(!is_request_id("_short"));
        assert!(!is_request_id("client_id=abc&identity_provider=Corp"));
        assert!(!is_request_id(&format!("_{}", "A1".repeat(20))));
    }
}
