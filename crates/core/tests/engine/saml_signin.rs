//! Sign-in through a pool's SAML identity provider at the hosted sign-in, without HTTP: the
//! authorization request sends the browser to the IdP with an AuthnRequest bound to it, the
//! IdP's signed answer (made by `IdpSigner`) comes back to the ACS, the federated user is made
//! (or the linked native user found) and the code redeems for tokens with `identities`. Each
//! refusal by its reason and failing check, on the refusal and on its audit record; the races
//! (one answer posted at once many times, first sign-ins at once) on SQLite and PostgreSQL.

use crate::support::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tempfile::TempDir;
use tokenbridge_core::config::Config;
use tokenbridge_core::hosted_signin::{
    pkce_challenge_of, AuthorizeRefusal, AuthorizeRequest, Authorized, Browser, SamlPost, SessionStarted, TokenRequest,
    ACS_PATH, EVENT_SOURCE,
};
use tokenbridge_core::issuer::verify_own;
use tokenbridge_core::tokens::ClientCredentials;
use tokenbridge_core::{Clock, Engine, Store, SystemClock};
use tokenbridge_saml::{sp_entity_id, AssertionSpec, Certificate, DataEncryption, IdpSigner, ReceivedAuthnRequest};

const DOMAIN: &str = "engine-saml";
const BASE: &str = "https://broker.test/domains/engine-saml";
const APP: &str = "samlwebapp0000000000000000";
const CALLBACK: &str = "https://app.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const SSO: &str = "https://idp.example.com/sso";
/// IDPInit off.
const CORP: &str = "Corp";
/// IDPInit on.
const PORTAL: &str = "Portal";
/// EncryptedResponses on, AuthnRequests signed.
const VAULT: &str = "Vault";

/// The IdPs' keys and metadata files, for as long as the test runs.
struct Idps {
    corp: IdpSigner,
    portal: IdpSigner,
    vault: IdpSigner,
    dir: TempDir,
}

fn idps() -> Idps {
    let now = SystemClock.now();
    let dir = tempfile::tempdir().unwrap();
    let make = |entity: &str, file: &str| {
        let idp = IdpSigner::generate(entity, now).unwrap();
        std::fs::write(dir.path().join(file), idp.metadata_xml(SSO, None)).unwrap();
        idp
    };
    let corp = make("https://corp.example.com/idp", "corp.xml");
    let portal = make("https://portal.example.com/idp", "portal.xml");
    let vault = make("https://vault.example.com/idp", "vault.xml");
    Idps { corp, portal, vault, dir }
}

fn provider(name: &str, file: &std::path::Path, extra: Value) -> tokenbridge_core::config::IdentityProviderConfig {
    let mut v = json!({
        "name": name, "type": "saml", "metadata_file": file,
        "attribute_mapping": { "email": "email", "name": "displayName" },
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn configure(cfg: &mut Config, dir: &std::path::Path) {
    let pool = &mut cfg.user_pools[0];
    pool.domain = Some(DOMAIN.into());
    pool.identity_providers.push(provider(CORP, &dir.join("corp.xml"), json!({})));
    pool.identity_providers.push(provider(
        PORTAL,
        &dir.join("portal.xml"),
        json!({ "idp_init": true, "allow_sha1_signatures": true }),
    ));
    pool.identity_providers.push(provider(
        VAULT,
        &dir.join("vault.xml"),
        json!({ "encrypted_responses": true, "request_signing_algorithm": "rsa-sha256" }),
    ));
    pool.clients.push(tokenbridge_core::config::UserPoolClientConfig {
        client_id: APP.into(),
        name: "SAML web app".into(),
        secret: None,
        providers: vec![CORP.into(), PORTAL.into(), VAULT.into()],
        callback_urls: vec![CALLBACK.into()],
        logout_urls: vec![],
        allowed_oauth_flows: vec!["code".into()],
        allowed_oauth_scopes: vec!["openid".into(), "email".into(), "profile".into()],
    });
}

async fn broker(idps: &Idps) -> Broker {
    let dir = idps.dir.path().to_path_buf();
    Broker::open_with(Setup { passwords: true, configure: Some(Box::new(move |cfg| configure(cfg, &dir))) }).await
}

fn authorize_request(provider: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        domain: DOMAIN.into(),
        response_type: Some("code".into()),
        client_id: Some(APP.into()),
        redirect_uri: Some(CALLBACK.into()),
        state: Some("state-123".into()),
        scope: Some("openid email profile".into()),
        nonce: Some("nonce-456".into()),
        code_challenge: Some(pkce_challenge_of(VERIFIER)),
        code_challenge_method: Some("S256".into()),
        identity_provider: Some(provider.into()),
        ..Default::default()
    }
}

fn browser(binding: &str) -> Browser {
    Browser { session: None, binding: Some(binding.into()), domain_url: Some(BASE.into()) }
}

fn ctx() -> tokenbridge_core::audit::RequestContext {
    request_to(EVENT_SOURCE)
}

fn acs() -> String {
    format!("{BASE}{ACS_PATH}")
}

/// Sends the browser to `provider`: the AuthnRequest as the IdP reads it.
async fn start(engine: &Engine, provider: &str, binding: &str) -> ReceivedAuthnRequest {
    let location =
        match engine.hosted_signin().authorize_at(&authorize_request(provider), &browser(binding), &ctx()).await {
            Ok(Authorized::Federate { location }) => location,
            other => panic!("expected the IdP redirect, got {other:?}"),
        };
    let (sso, query) = location.split_once('?').expect("a query");
    assert_eq!(sso, SSO);
    let sp_cert = engine.user_pools().sp_key(POOL, SystemClock.now()).await.unwrap().certificate;
    let sp_cert = Certificate::from_base64(&sp_cert).unwrap();
    ReceivedAuthnRequest::from_redirect(query, Some(&sp_cert), false).expect("a readable AuthnRequest")
}

/// The IdP's answer for `name_id`, to this pool's ACS.
fn answer(now: i64, in_response_to: Option<&str>, name_id: &str) -> AssertionSpec {
    let mut spec = AssertionSpec::new(name_id, &sp_entity_id(POOL), &acs(), now)
        .attribute("email", &[name_id])
        .attribute("displayName", &["Carol Corp"]);
    spec.in_response_to = in_response_to.map(str::to_string);
    spec
}

async fn post(
    engine: &Engine,
    response: &str,
    relay: &str,
    binding: Option<&str>,
) -> (Result<SessionStarted, AuthorizeRefusal>, String) {
    let c = ctx();
    let post =
        SamlPost { domain: DOMAIN.into(), saml_response: Some(response.into()), relay_state: Some(relay.into()) };
    let b = Browser { session: None, binding: binding.map(str::to_string), domain_url: Some(BASE.into()) };
    (engine.hosted_signin().saml_response(&post, &b, &c).await, c.request_id)
}

fn called(r: (Result<SessionStarted, AuthorizeRefusal>, String)) -> Called<SessionStarted> {
    Called { result: r.0.map_err(|e| e.refusal), request_id: r.1 }
}

fn param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string())
}

/// Redeems the code of a redirect for the id token's claims.
async fn id_token_claims(b: &Broker, location: &str) -> serde_json::Map<String, Value> {
    assert_eq!(param(location, "state").as_deref(), Some("state-123"));
    let code = param(location, "code").expect("a code");
    let req = TokenRequest {
        domain: DOMAIN.into(),
        grant_type: Some("authorization_code".into()),
        code: Some(code),
        redirect_uri: Some(CALLBACK.into()),
        code_verifier: Some(VERIFIER.into()),
        scope: None,
        refresh_token: None,
        client: ClientCredentials { client_id: Some(APP.into()), client_secret: None },
    };
    let tokens = b.engine.hosted_signin().token(&req, &ctx()).await.expect("tokens");
    let pool_issuer = format!("{ISSUER}/{POOL}");
    let id = tokens.id_token.as_deref().expect("an id token");
    verify_own(b.engine.keys(), &pool_issuer, id, Some("id"), b.now()).await.expect("a valid id token").claims
}

fn signed_in(r: (Result<SessionStarted, AuthorizeRefusal>, String)) -> String {
    match r.0 {
        Ok(SessionStarted { location, .. }) => location,
        other => panic!("expected a redirect to the client, got {other:?}"),
    }
}

#[tokio::test]
async fn sp_initiated_sign_in_makes_the_federated_user_and_its_tokens_carry_identities() {
    let idps = idps();
    let b = broker(&idps).await;
    let request = start(&b.engine, CORP, "browser-one").await;
    assert_eq!(request.issuer, sp_entity_id(POOL));
    assert_eq!(request.acs_url.as_deref(), Some(acs().as_str()));
    assert_eq!(request.destination.as_deref(), Some(SSO));
    assert_eq!(request.relay_state.as_deref(), Some(request.id.as_str()), "the RelayState names the request");
    assert!(!request.signed, "Corp has no RequestSigningAlgorithm");

    let response = idps.corp.response_base64(&answer(b.now(), Some(&request.id), "carol@corp.example")).unwrap();
    let r = post(&b.engine, &response, &request.id, Some("browser-one")).await;
    let request_id = r.1.clone();
    let location = signed_in(r);
    assert!(location.starts_with(CALLBACK), "{location}");
    let claims = id_token_claims(&b, &location).await;
    assert_eq!(claims["cognito:username"], "Corp_carol@corp.example");
    assert_eq!(claims["email"], "carol@corp.example");
    assert_eq!(claims["nonce"], "nonce-456");
    let identities = claims["identities"].as_array().expect("identities, an array");
    assert_eq!(identities.len(), 1);
    let i = &identities[0];
    assert_eq!(i["userId"], "carol@corp.example");
    assert_eq!(i["providerName"], CORP);
    assert_eq!(i["providerType"], "SAML");
    assert_eq!(i["issuer"], "https://corp.example.com/idp");
    assert_eq!(i["primary"], "true");
    assert!(i["dateCreated"].as_str().unwrap().parse::<i64>().unwrap() > 1_600_000_000_000);

    // The record says which certificate verified it, and that the request was answered once.
    let lines = trail_lines(&b.records(&request_id).await[0]).join("\n");
    let fingerprint = idps.corp.certificate().fingerprint();
    assert!(lines.contains("signature: pass: assertion #") && lines.contains(fingerprint), "{lines}");
    assert!(
        lines.contains(&format!("in_response_to: pass: AuthnRequest {} answered now, once", request.id)),
        "{lines}"
    );
    assert!(lines.contains("federated user: pass: \"Corp_carol@corp.example\" created at first sign-in"), "{lines}");

    // A second sign-in is the same user, its attributes mapped again.
    let again = start(&b.engine, CORP, "browser-one").await;
    let mut spec = answer(b.now(), Some(&again.id), "carol@corp.example");
    spec.attributes[1].1 = vec!["Carol Renamed".into()];
    let location =
        signed_in(post(&b.engine, &idps.corp.response_base64(&spec).unwrap(), &again.id, Some("browser-one")).await);
    let claims2 = id_token_claims(&b, &location).await;
    assert_eq!(claims2["sub"], claims["sub"]);
    let user = b.engine.directory().find("Corp_carol@corp.example").await.unwrap();
    assert_eq!(user.attributes["name"], "Carol Renamed");
    assert!(user.password_hash.is_none());

    // As Cognito keeps them: status EXTERNAL_PROVIDER, in the group `<pool-id>_<ProviderName>`
    // it made at the first sign-in, which the tokens name.
    let group = format!("{POOL}_{CORP}");
    assert_eq!(claims["cognito:groups"], json!([group]));
    let got = admin_call(&b, "AdminGetUser", json!({ "UserPoolId": POOL, "Username": "Corp_carol@corp.example" }))
        .await
        .result
        .unwrap();
    assert_eq!(got["UserStatus"], "EXTERNAL_PROVIDER");
    let got = admin_call(&b, "GetGroup", json!({ "UserPoolId": POOL, "GroupName": group })).await.result.unwrap();
    assert_eq!(got["Group"]["Description"], "Autogenerated group for users who sign in using Corp");
    // Removed from it by an admin, the next sign-in puts it back.
    let body = json!({ "UserPoolId": POOL, "Username": "Corp_carol@corp.example", "GroupName": group });
    admin_call(&b, "AdminRemoveUserFromGroup", body).await.result.unwrap();
    let again = start(&b.engine, CORP, "browser-one").await;
    let spec = answer(b.now(), Some(&again.id), "carol@corp.example");
    let location =
        signed_in(post(&b.engine, &idps.corp.response_base64(&spec).unwrap(), &again.id, Some("browser-one")).await);
    assert_eq!(id_token_claims(&b, &location).await["cognito:groups"], json!([group]));
    let user = b.engine.directory().find("Corp_carol@corp.example").await.unwrap();
    assert_eq!(user.groups, vec![group]);
}

#[tokio::test]
async fn a_linked_identity_signs_in_as_the_native_user() {
    let idps = idps();
    let b = broker(&idps).await;
    b.pool_admin(
        "AdminLinkProviderForUser",
        json!({ "UserPoolId": POOL,
                "DestinationUser": { "ProviderName": "Cognito", "ProviderAttributeValue": "alice" },
                "SourceUser": { "ProviderName": CORP, "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": "alice@corp.example" } }),
    )
    .await;
    let request = start(&b.engine, CORP, "browser-a").await;
    let response = idps.corp.response_base64(&answer(b.now(), Some(&request.id), "alice@corp.example")).unwrap();
    let location = signed_in(post(&b.engine, &response, &request.id, Some("browser-a")).await);
    let claims = id_token_claims(&b, &location).await;
    assert_eq!(claims["cognito:username"], "alice");
    assert_eq!(claims["identities"][0]["providerName"], CORP);
    assert!(b.engine.directory().find("Corp_alice@corp.example").await.is_err(), "no federated user is made");
}

#[tokio::test]
async fn an_answer_is_taken_once_and_only_from_the_browser_that_asked() {
    let idps = idps();
    let b = broker(&idps).await;
    let request = start(&b.engine, CORP, "browser-one").await;
    let response = idps.corp.response_base64(&answer(b.now(), Some(&request.id), "carol@corp.example")).unwrap();

    // Another browser (no binding, another binding): refused, and the request is not spent.
    for other in [None, Some("browser-two")] {
        let e = b
            .refused(called(post(&b.engine, &response, &request.id, other).await), "in_response_to", "another browser")
            .await;
        assert_eq!(e.reason, Reason::SamlRequestUnknown);
    }
    signed_in(post(&b.engine, &response, &request.id, Some("browser-one")).await);

    // The same answer again: the request was answered.
    let e = b
        .refused(
            called(post(&b.engine, &response, &request.id, Some("browser-one")).await),
            "in_response_to",
            "already answered",
        )
        .await;
    assert_eq!(e.reason, Reason::SamlRequestUnknown);
    assert!(failed_detail(&e).contains(&format!("InResponseTo {} unknown or already answered", request.id)));

    // An answer to a request never made, under a pending request's RelayState.
    let pending = start(&b.engine, CORP, "browser-one").await;
    let forged = idps.corp.response_base64(&answer(b.now(), Some("_r7"), "carol@corp.example")).unwrap();
    let e = b
        .refused(
            called(post(&b.engine, &forged, &pending.id, Some("browser-one")).await),
            "in_response_to",
            "InResponseTo _r7 unknown or already answered",
        )
        .await;
    assert_eq!(e.reason, Reason::SamlRequestUnknown);
    // An unknown RelayState.
    let unknown = format!("_{}", "0".repeat(40));
    let e = b
        .refused(
            called(post(&b.engine, &forged, &unknown, Some("browser-one")).await),
            "in_response_to",
            "no such pending",
        )
        .await;
    assert_eq!(e.reason, Reason::SamlRequestUnknown);
    // Expired: ten minutes later.
    b.clock.advance(601);
    let e = b
        .refused(
            called(post(&b.engine, &response, &pending.id, Some("browser-one")).await),
            "in_response_to",
            "expired",
        )
        .await;
    assert_eq!(e.reason, Reason::SamlRequestUnknown);
}

#[tokio::test]
async fn idp_initiated_sign_in_only_with_idpinit_and_each_assertion_once() {
    let idps = idps();
    let b = broker(&idps).await;
    let relay = |provider: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", APP)
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("identity_provider", provider)
            .append_pair("scope", "openid email")
            .append_pair("state", "state-123")
            .append_pair("code_challenge", &pkce_challenge_of(VERIFIER))
            .append_pair("code_challenge_method", "S256")
            .finish()
    };
    // Corp has IDPInit off.
    let unsolicited = idps.corp.response_base64(&answer(b.now(), None, "carol@corp.example")).unwrap();
    let e = b
        .refused(
            called(post(&b.engine, &unsolicited, &relay(CORP), None).await),
            "unsolicited",
            "IdP-initiated sign-in is off",
        )
        .await;
    assert_eq!(e.reason, Reason::UnsolicitedResponse);

    // Portal has it on: the RelayState names the client and where to go.
    let response = idps.portal.response_base64(&answer(b.now(), None, "dana@portal.example")).unwrap();
    let location = signed_in(post(&b.engine, &response, &relay(PORTAL), None).await);
    let claims = id_token_claims(&b, &location).await;
    assert_eq!(claims["cognito:username"], "Portal_dana@portal.example");
    // The same assertion again: its ID is in the one-time-use record.
    let e =
        b.refused(called(post(&b.engine, &response, &relay(PORTAL), None).await), "replay", "already accepted").await;
    assert_eq!(e.reason, Reason::AssertionReplayed);
    // An IdP-initiated answer carrying an InResponseTo answers nothing pending.
    let stray = idps.portal.response_base64(&answer(b.now(), Some("_r9"), "dana@portal.example")).unwrap();
    let e = b
        .refused(
            called(post(&b.engine, &stray, &relay(PORTAL), None).await),
            "in_response_to",
            "InResponseTo _r9 unknown",
        )
        .await;
    assert_eq!(e.reason, Reason::SamlRequestUnknown);
    // A RelayState naming no client or provider.
    let e = b.refused(called(post(&b.engine, &response, "", None).await), "relay state", "RelayState is missing").await;
    assert_eq!(e.reason, Reason::InvalidRequest);
}

#[tokio::test]
async fn answers_breaking_a_rule_are_refused_by_that_rule() {
    let idps = idps();
    let b = broker(&idps).await;
    let impostor = IdpSigner::generate("https://corp.example.com/idp", b.now()).unwrap();
    type Edit = Box<dyn Fn(&mut AssertionSpec)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("audience", Box::new(|s| s.audience = "urn:x".into()), "urn:x"),
        ("recipient", Box::new(|s| s.recipient = "https://evil.example/acs".into()), "evil.example"),
        ("destination", Box::new(|s| s.destination = "https://evil.example/acs".into()), "evil.example"),
        ("time", Box::new(|s| s.not_on_or_after -= 3600), "NotOnOrAfter"),
    ];
    for (check, edit, needle) in cases {
        let request = start(&b.engine, CORP, "browser-one").await;
        let mut spec = answer(b.now(), Some(&request.id), "carol@corp.example");
        edit(&mut spec);
        let response = idps.corp.response_base64(&spec).unwrap();
        let e =
            b.refused(called(post(&b.engine, &response, &request.id, Some("browser-one")).await), check, needle).await;
        assert_eq!(e.reason, Reason::SamlRejected, "{check}");
        if check == "audience" {
            assert!(failed_detail(&e).contains(&format!("urn:x ≠ {}", sp_entity_id(POOL))), "{}", failed_detail(&e));
        }
    }
    // Signed by a key the metadata does not hold.
    let request = start(&b.engine, CORP, "browser-one").await;
    let response = impostor.response_base64(&answer(b.now(), Some(&request.id), "carol@corp.example")).unwrap();
    let e =
        b.refused(called(post(&b.engine, &response, &request.id, Some("browser-one")).await), "signature", "").await;
    assert_eq!(e.reason, Reason::SamlRejected);
    // RSA-SHA1.
    let request = start(&b.engine, CORP, "browser-one").await;
    let xml = idps.corp.response_xml(&answer(b.now(), Some(&request.id), "carol@corp.example")).unwrap();
    let sha1 =
        xml.replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2000/09/xmldsig#rsa-sha1");
    use base64::Engine as _;
    let response = base64::engine::general_purpose::STANDARD.encode(sha1);
    let e = b
        .refused(
            called(post(&b.engine, &response, &request.id, Some("browser-one")).await),
            "signature_profile",
            "SHA-1",
        )
        .await;
    assert_eq!(e.reason, Reason::SamlRejected);
    // The provider that allows SHA-1 hands the same answer to the signature check, which finds
    // the signature was not made with RSA-SHA1 (the crate's oracle tests accept real SHA-1 ones).
    let request = start(&b.engine, PORTAL, "browser-one").await;
    let xml = idps.portal.response_xml(&answer(b.now(), Some(&request.id), "carol@corp.example")).unwrap();
    let sha1 =
        xml.replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2000/09/xmldsig#rsa-sha1");
    let response = base64::engine::general_purpose::STANDARD.encode(sha1);
    let e =
        b.refused(called(post(&b.engine, &response, &request.id, Some("browser-one")).await), "signature", "").await;
    assert!(!failed_detail(&e).contains("SHA-1 is allowed only when configured"), "{}", failed_detail(&e));
    // A refused answer leaves nothing signed in: no federated user was made.
    assert!(b.engine.directory().find("Corp_carol@corp.example").await.is_err());
}

#[tokio::test]
async fn signed_requests_and_encrypted_answers_with_the_pools_sp_key() {
    let idps = idps();
    let b = broker(&idps).await;
    let request = start(&b.engine, VAULT, "browser-v").await;
    assert!(request.signed, "RequestSigningAlgorithm rsa-sha256: the AuthnRequest is signed with the SP key");
    let sp_cert =
        Certificate::from_base64(&b.engine.user_pools().sp_key(POOL, b.now()).await.unwrap().certificate).unwrap();
    let mut spec = answer(b.now(), Some(&request.id), "erin@vault.example");
    spec.encrypt_to = Some((sp_cert, DataEncryption::Aes256Gcm));
    let location =
        signed_in(post(&b.engine, &idps.vault.response_base64(&spec).unwrap(), &request.id, Some("browser-v")).await);
    assert_eq!(id_token_claims(&b, &location).await["cognito:username"], "Vault_erin@vault.example");
    // EncryptedResponses on: a plain assertion is refused.
    let request = start(&b.engine, VAULT, "browser-v").await;
    let plain = idps.vault.response_base64(&answer(b.now(), Some(&request.id), "erin@vault.example")).unwrap();
    let e = b
        .refused(called(post(&b.engine, &plain, &request.id, Some("browser-v")).await), "decryption", "unencrypted")
        .await;
    assert_eq!(e.reason, Reason::SamlRejected);
}

// --- races: on SQLite and on PostgreSQL, two engines over one store ---

const RACERS: usize = 8;

async fn two_engines(store: Arc<dyn Store>, dir: &std::path::Path) -> [Arc<Engine>; 2] {
    let text = format!(
        "[server]\npublic_url = \"{ISSUER}\"\n[aws]\nregion = \"{REGION}\"\naccount_id = \"{ACCOUNT}\"\n[[user_pools]]\nid = \"{POOL}\"\n"
    );
    let mut out = Vec::new();
    for _ in 0..2 {
        let mut cfg = Config::from_toml(&text).unwrap();
        configure(&mut cfg, dir);
        let engine =
            Engine::open(cfg, store.clone(), Arc::new(SystemClock) as Arc<dyn Clock>, None).await.expect("engine");
        engine.provision().await.expect("provision");
        out.push(engine);
    }
    [out[0].clone(), out[1].clone()]
}

async fn racing_answers(store: Arc<dyn Store>) {
    let idps = idps();
    let engines = two_engines(store, idps.dir.path()).await;
    // One answer posted at once, many times, to both instances: one sign-in.
    let request = start(&engines[0], CORP, "racer").await;
    let response =
        idps.corp.response_base64(&answer(SystemClock.now(), Some(&request.id), "frank@corp.example")).unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (engine, barrier, response, id) =
            (engines[i & 1].clone(), barrier.clone(), response.clone(), request.id.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            post(&engine, &response, &id, Some("racer")).await.0
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert!(
                matches!(e.refusal.reason, Reason::SamlRequestUnknown | Reason::AssertionReplayed),
                "{:?}",
                e.refusal
            ),
        }
    }
    assert_eq!(won, 1, "exactly one post of the answer signs in");

    // First sign-ins of one person at once (each its own request and answer): one user.
    let mut answers = Vec::new();
    for i in 0..RACERS {
        let binding = format!("racer-{i}");
        let request = start(&engines[i & 1], CORP, &binding).await;
        let response =
            idps.corp.response_base64(&answer(SystemClock.now(), Some(&request.id), "gina@corp.example")).unwrap();
        answers.push((binding, request.id, response));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for (i, (binding, id, response)) in answers.into_iter().enumerate() {
        let (engine, barrier) = (engines[i & 1].clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            post(&engine, &response, &id, Some(&binding)).await.0
        }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Ok(SessionStarted { .. })), "every first sign-in signs in");
    }
    let user = engines[0].directory().find("Corp_gina@corp.example").await.expect("one federated user");
    let pools = engines[1].user_pools();
    assert!(pools.user_pool(POOL).await.unwrap().is_some());
    let listed = engines[0].directory().list(None, 1000).await.unwrap();
    assert_eq!(listed.iter().filter(|u| u.username == "Corp_gina@corp.example").count(), 1);
    assert_eq!(listed.iter().find(|u| u.username == "Corp_gina@corp.example").unwrap().id, user.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_saml_answers_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = tokenbridge_store::open(&dir.path().join("race.db").display().to_string()).await.unwrap();
    racing_answers(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_saml_answers_on_postgresql() {
    let schema = tokenbridge_store::conformance::TestSchema::create("racing_saml_answers_on_postgresql").await;
    let store = tokenbridge_store::open(&schema.url).await.unwrap();
    racing_answers(store).await;
}
