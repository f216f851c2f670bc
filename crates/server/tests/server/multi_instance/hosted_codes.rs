//! A pool's hosted sign-in across instances: an authorization code redeemed at both instances at
//! once is spent once, and what that one redemption issued is revoked by the others.

use super::*;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::hosted_signin::{pkce_challenge_of, AuthorizeRequest, SignedIn};
use tokenbridge_core::userpool::ClientOAuth;

const POOL: &str = "us-east-1_SharedHosted1";
const CLIENT: &str = "sharedhostedclient00000000";
const DOMAIN: &str = "shared-hosted";
const CALLBACK: &str = "https://app.example/cb";
const VERIFIER: &str = "multi-instance-hosted-sign-in-verifier-0123456789";
const PASSWORD: &str = "the-racers-password";
const RACERS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_authorization_code_is_redeemed_once_across_instances() {
    let schema = TestSchema::create("an_authorization_code_is_redeemed_once_across_instances").await;
    let c = Cluster::start(&schema, Build::Unthrottled, false).await;
    let pools = c.a.engine.user_pools();
    pools.ensure_user_pool(POOL, "shared hosted", tokenbridge_core::userpool::IssuerForm::Local).await.expect("pool");
    pools.ensure_pool_client(POOL, CLIENT, "shared hosted", None, &[]).await.expect("client");
    let oauth = ClientOAuth {
        callback_urls: vec![CALLBACK.into()],
        allowed_oauth_flows: vec!["code".into()],
        allowed_oauth_scopes: vec!["openid".into()],
        allowed_oauth_flows_user_pool_client: true,
        ..Default::default()
    };
    pools.configure_client_oauth(CLIENT, oauth).await.expect("oauth settings");
    pools.ensure_pool_domain(POOL, DOMAIN).await.expect("domain");
    let new =
        NewUser { username: "racer".into(), password: Some(PASSWORD.into()), enabled: true, ..Default::default() };
    let user = c.a.engine.directory().create_user(new).await.expect("user");
    pools.add_pool_member(POOL, &user, Some(PASSWORD)).await.expect("member");

    // Signed in at A's pages (the engine call the sign-in form makes).
    let req = AuthorizeRequest {
        domain: DOMAIN.into(),
        response_type: Some("code".into()),
        client_id: Some(CLIENT.into()),
        redirect_uri: Some(CALLBACK.into()),
        code_challenge: Some(pkce_challenge_of(VERIFIER)),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    };
    let ctx = RequestContext::new(tokenbridge_core::hosted_signin::EVENT_SOURCE);
    let location = match c.a.engine.hosted_signin().sign_in(&req, "racer", PASSWORD, &ctx).await {
        Ok(SignedIn::Redirect { location, .. }) => location,
        other => panic!("expected a code, got {other:?}"),
    };
    let url = reqwest::Url::parse(&location).expect("location");
    let code = url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.to_string()).expect("code");

    let results = storm(RACERS, RACERS, |i| {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ];
        let r = c.http.post(c.pick(i).url(&format!("/domains/{DOMAIN}/oauth2/token"))).form(&form);
        async move { send(r).await }
    })
    .await;
    assert_no_server_errors(&results);
    let answered: Vec<&Resp> = results.iter().filter(|r| r.status == 200).collect();
    assert!(answered.len() <= 1, "a code answers once at most:\n{}", summarize(&results));
    for r in results.iter().filter(|r| r.status != 200) {
        assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);
    }
    // The redemption that answered (if any) was ended by the others: its refresh token is revoked
    // on both instances.
    for r in answered {
        let body = serde_json::json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": CLIENT,
            "AuthParameters": { "REFRESH_TOKEN": r.json["refresh_token"] } });
        for at in [&c.a, &c.b] {
            let refreshed = send(
                c.http
                    .post(at.url("/"))
                    .header("content-type", "application/x-amz-json-1.1")
                    .header("x-amz-target", "AWSCognitoIdentityProviderService.InitiateAuth")
                    .body(body.to_string()),
            )
            .await;
            assert_eq!(
                refreshed.json["message"], "Refresh Token has been revoked",
                "at {}: {}",
                at.name, refreshed.text
            );
        }
    }
}
