//! The demo's protected GraphQL API (`POST /demo/graphql`) over real HTTP, AppSync-shaped: roles
//! made with `Iam::put_role`, temporary credentials from STS `AssumeRoleWithWebIdentity`
//! (form POST `/`) with a user-pool id token, and requests signed by the small SigV4 signer
//! below (written from the specification, independent of the server's verifier). Denials are
//! 401 `UnauthorizedException` with `x-amzn-RequestId`, and that id finds the audit record
//! whose trail explains them.

use crate::common::*;
use serde_json::{json, Value};
use tokenbridge_core::audit::Explanation;
use tokenbridge_core::model::AuditRecord;
use tokenbridge_demo::graphql::{DEMO_API_ID, GRAPHQL_PATH};

/// The demo exactly as `tokenbridge demo` builds it (its router mounts the GraphQL API), with
/// what the tests need to know of it.
struct Gql {
    s: Server,
    base: String,
    /// `127.0.0.1:<port>`, the signed `host` header.
    host: String,
    region: String,
    account: String,
    pool_client_id: String,
    /// The user pool's issuer without its scheme: the OIDC provider's name in IAM.
    provider: String,
}

impl Gql {
    async fn start() -> Self {
        let s = Server::demo().await;
        let issuer = s.demo_cognito("issuer");
        Self {
            base: s.base.clone(),
            host: s.base.trim_start_matches("http://").to_string(),
            region: s.engine.config().aws.region.clone(),
            account: s.engine.config().aws.account_id.clone(),
            pool_client_id: s.demo_cognito("client_id"),
            provider: issuer.trim_start_matches("http://").trim_start_matches("https://").to_string(),
            s,
        }
    }

    fn api_arn(&self, api: &str) -> String {
        format!("arn:aws:appsync:{}:{}:apis/{api}", self.region, self.account)
    }

    fn field_arn(&self, type_name: &str, field: &str) -> String {
        format!("{}/types/{type_name}/fields/{field}", self.api_arn(DEMO_API_ID))
    }

    fn role_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.account)
    }

    /// A role that the demo user pool's tokens (of its public client) may assume through STS.
    async fn role(&self, name: &str, policies: &[(&str, Value)]) {
        let trust = web_identity_trust("DemoUserPool", &self.account, &self.provider, &self.pool_client_id);
        let policies: Vec<(String, String)> = policies.iter().map(|(n, p)| (n.to_string(), p.to_string())).collect();
        self.s.engine.iam().put_role(name, &trust.to_string(), &policies).await.expect("put_role");
    }

    /// The role `GraphqlUser`, allowed every field of the demo API (statement `AllowGraphQL`).
    async fn role_allowing_every_field(&self) {
        let all = format!("{}/*", self.api_arn(DEMO_API_ID));
        self.role("GraphqlUser", &[("GraphQL", policy(json!([allow_graphql(&all)])))]).await;
    }

    /// USER_PASSWORD_AUTH at the user-pool door: `(access token, id token)`.
    async fn pool_tokens(&self, username: &str, password: &str) -> (String, String) {
        let a = self.s.pool_auth(&self.pool_client_id, username, password).await;
        (a["AccessToken"].as_str().unwrap().to_string(), a["IdToken"].as_str().unwrap().to_string())
    }

    /// STS `AssumeRoleWithWebIdentity` over HTTP with alice's user-pool id token.
    async fn assume(&self, role: &str, session: &str, session_policy: Option<&Value>) -> Creds {
        let (_, id_token) = self.pool_tokens("alice", "alice-local-pw").await;
        let role_arn = self.role_arn(role);
        let mut form = vec![
            ("Action", "AssumeRoleWithWebIdentity".to_string()),
            ("Version", "2011-06-15".to_string()),
            ("RoleArn", role_arn),
            ("RoleSessionName", session.to_string()),
            ("WebIdentityToken", id_token),
        ];
        if let Some(p) = session_policy {
            form.push(("Policy", p.to_string()));
        }
        let r = self.s.send(self.s.http.post(format!("{}/", self.base)).form(&form)).await;
        assert_eq!(r.status, 200, "AssumeRoleWithWebIdentity: {}", r.text);
        Creds {
            access_key_id: xml_text(&r.text, "AccessKeyId"),
            secret_access_key: xml_text(&r.text, "SecretAccessKey"),
            session_token: Some(xml_text(&r.text, "SessionToken")),
        }
    }

    fn request(query: &str, variables: Value) -> Vec<u8> {
        json!({ "query": query, "variables": variables }).to_string().into_bytes()
    }

    /// A GraphQL request signed with `creds` (service `appsync`) at the server's clock.
    async fn signed(&self, creds: &Creds, query: &str, variables: Value) -> Resp {
        let body = Self::request(query, variables);
        let headers = sign(creds, &self.host, GRAPHQL_PATH, &body, &self.region, "appsync", self.s.now());
        self.post(&headers, body).await
    }

    async fn post(&self, headers: &[(String, String)], body: Vec<u8>) -> Resp {
        let mut req = self.s.http.post(format!("{}{GRAPHQL_PATH}", self.base));
        if !headers.iter().any(|(k, _)| k == "content-type") {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        self.s.send(req.body(body)).await
    }

    /// A GraphQL request with `Authorization: <token>` (AMAZON_COGNITO_USER_POOLS).
    async fn with_token(&self, token: &str, query: &str) -> Resp {
        let headers = vec![("authorization".to_string(), token.to_string())];
        self.post(&headers, Self::request(query, Value::Null)).await
    }

    /// The one audit record of a response's request id.
    async fn record(&self, r: &Resp) -> AuditRecord {
        let id = r.header("x-amzn-requestid").expect("x-amzn-RequestId");
        let mut records = self.s.audit_of(id).await;
        assert_eq!(records.len(), 1, "one audit record per request: {records:?}");
        records.remove(0)
    }
}

/// An AWS credential set.
#[derive(Clone)]
struct Creds {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

fn xml_text(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).expect("closing tag");
    xml[start..end].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"")
}

// --- SigV4 (the shared test signer) ---

/// The headers of a SigV4-signed `POST path` with a JSON body (content-type, x-amz-date, the
/// session token if any, authorization).
fn sign(
    creds: &Creds,
    host: &str,
    path: &str,
    body: &[u8],
    region: &str,
    service: &str,
    now: i64,
) -> Vec<(String, String)> {
    let key = sigv4::SigningKey {
        access_key_id: &creds.access_key_id,
        secret_access_key: &creds.secret_access_key,
        session_token: creds.session_token.as_deref(),
    };
    sigv4::sign_post(&key, host, path, "application/json", &[], body, (region, service), now)
}

// --- policies ---

fn policy(statements: Value) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

fn allow_graphql(resource: &str) -> Value {
    json!({ "Sid": "AllowGraphQL", "Effect": "Allow", "Action": "appsync:GraphQL", "Resource": resource })
}

const LIST: &str = "query List { listItems { id name owner createdAt } }";

fn list_body() -> Vec<u8> {
    Gql::request(LIST, Value::Null)
}

/// AppSync's refusal: 401, `UnauthorizedException`, the message, no data, our request id.
#[track_caller]
fn assert_unauthorized(r: &Resp, message: &str) {
    assert_eq!(r.status, 401, "{}", r.text);
    let e = &r.json["errors"][0];
    assert_eq!(e["errorType"], "UnauthorizedException", "{}", r.text);
    let m = e["message"].as_str().unwrap_or_default();
    assert!(m.contains(message), "message {m:?} does not contain {message:?}");
    assert!(r.json.get("data").is_none(), "{}", r.text);
    assert_eq!(r.header("x-amzn-requestid"), Some(r.request_id()), "x-amzn-RequestId is our request id");
    assert_eq!(r.header("x-amzn-errortype"), Some("UnauthorizedException"));
}

fn steps(rec: &AuditRecord) -> Vec<Value> {
    rec.record["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default()
}

fn first_failure(rec: &AuditRecord) -> Value {
    steps(rec).into_iter().find(|s| s["outcome"] == "fail").unwrap_or_else(|| panic!("no failing step: {rec:?}"))
}

#[tokio::test]
async fn signed_queries_and_mutations_are_allowed_and_audited() {
    let g = Gql::start().await;
    let resource = format!("{}/*", g.api_arn(DEMO_API_ID));
    let mut allow = allow_graphql(&resource);
    // Condition keys the API supplies: the caller's address.
    allow["Condition"] = json!({ "IpAddress": { "aws:SourceIp": "127.0.0.0/8" } });
    g.role("GraphqlUser", &[("GraphQL", policy(json!([allow])))]).await;
    let creds = g.assume("GraphqlUser", "alice-session", None).await;

    let r = g.signed(&creds, LIST, Value::Null).await;
    r.assert_ok();
    assert_eq!(r.header("x-amzn-requestid"), Some(r.request_id()));
    let items = r.json["data"]["listItems"].as_array().expect("items").clone();
    assert_eq!(items.len(), 2, "{}", r.text);
    assert_eq!(items[0]["id"], "item-1");
    assert_eq!(items[0]["owner"], "demo");
    // Only the requested fields, in the requested order.
    assert!(r.text.contains(r#"{"id":"item-1","name":"First demo item","owner":"demo","createdAt":""#), "{}", r.text);

    let rec = g.record(&r).await;
    assert_eq!(rec.event_name, "GraphQL");
    assert!(rec.error_code.is_none());
    let v = &rec.record;
    assert_eq!(v["eventSource"], "appsync.amazonaws.com");
    assert_eq!(v["readOnly"], true);
    assert_eq!(v["requestParameters"]["apiId"], DEMO_API_ID);
    assert_eq!(v["requestParameters"]["authorizationType"], "AWS_IAM");
    assert_eq!(v["requestParameters"]["operation"], "query");
    assert_eq!(v["requestParameters"]["operationName"], "List");
    assert_eq!(v["requestParameters"]["fields"], json!(["Query.listItems"]));
    assert_eq!(v["resources"][0]["ARN"], g.field_arn("Query", "listItems"));
    assert_eq!(v["userIdentity"]["type"], "AssumedRole");
    assert_eq!(v["userIdentity"]["accessKeyId"], creds.access_key_id);
    assert_eq!(v["userIdentity"]["arn"], format!("arn:aws:sts::{}:assumed-role/GraphqlUser/alice-session", g.account));
    assert_eq!(v["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"], g.role_arn("GraphqlUser"));
    let trail = serde_json::to_string(&steps(&rec)).unwrap();
    assert!(trail.contains(r#"allowed by statement \"AllowGraphQL\" of policy \"GraphQL\""#), "{trail}");
    assert!(trail.contains("aws:sourceip=127.0.0.1"), "{trail}");

    // A mutation with variables: the owner is the session (no identity pool here).
    let r = g
        .signed(
            &creds,
            "mutation Add($name: String!) { added: addItem(name: $name) { id name owner } }",
            json!({ "name": "Third" }),
        )
        .await;
    r.assert_ok();
    let added = &r.json["data"]["added"];
    assert_eq!(added["name"], "Third");
    assert!(added["owner"].as_str().unwrap().ends_with(":alice-session"), "{}", r.text);
    let id = added["id"].as_str().unwrap().to_string();
    assert_eq!(g.record(&r).await.record["readOnly"], false);

    let r = g.signed(&creds, "query($id: ID!) { getItem(id: $id) { name } }", json!({ "id": id })).await;
    r.assert_ok();
    assert_eq!(r.json, json!({ "data": { "getItem": { "name": "Third" } } }));
    let r = g.signed(&creds, "mutation { deleteItem(id: \"item-2\") { id } }", Value::Null).await;
    r.assert_ok();
    assert_eq!(r.json["data"]["deleteItem"]["id"], "item-2");
    let r = g.signed(&creds, "{ listItems { name } }", Value::Null).await;
    assert_eq!(r.json["data"]["listItems"], json!([{ "name": "First demo item" }, { "name": "Third" }]));

    // A query the schema does not have: refused as invalid once the caller is known.
    let r = g.signed(&creds, "{ listItems { password } }", Value::Null).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["errors"][0]["errorType"], "ValidationError");
    assert!(r.json["errors"][0]["message"].as_str().unwrap().contains("Field 'password' in type 'Item' is undefined"));
    assert_eq!(g.record(&r).await.error_code.as_deref(), Some("ValidationError"));
}

#[tokio::test]
async fn the_seeds_wrong_resource_is_denied_and_the_record_explains_it() {
    let g = Gql::start().await;
    let wrong = format!("{}/*", g.api_arn("abc"));
    g.role("GraphqlMisconfigured", &[("GraphQL", policy(json!([allow_graphql(&wrong)])))]).await;
    let creds = g.assume("GraphqlMisconfigured", "alice-session", None).await;

    let r = g.signed(&creds, LIST, Value::Null).await;
    assert_unauthorized(&r, "Not Authorized to access listItems on type Query");
    assert_eq!(r.json["errors"][0]["message"], "Not Authorized to access listItems on type Query");

    let rec = g.record(&r).await;
    assert_eq!(rec.error_code.as_deref(), Some("UnauthorizedException"));
    let expected = format!(
        "statement \"AllowGraphQL\" matches action appsync:GraphQL but its Resource {wrong} does not match {}",
        g.field_arn("Query", "listItems")
    );
    // The first failing check is that statement's Resource mismatch.
    let fail = first_failure(&rec);
    assert_eq!(fail["check"], "policy \"GraphQL\"");
    assert_eq!(fail["detail"], expected);
    // The whole chain: who signed, which session of which role, which policies.
    let trail = serde_json::to_string(&steps(&rec)).unwrap();
    assert!(trail.contains(&format!("temporary credentials {}", creds.access_key_id)), "{trail}");
    assert!(
        trail.contains(&format!("session alice-session of role {}", g.role_arn("GraphqlMisconfigured"))),
        "{trail}"
    );
    assert!(trail.contains("policies GraphQL"), "{trail}");
    assert!(trail.contains("not through an identity pool"), "{trail}");
    // ... and by which trust statement the role was assumed, from the STS request's record.
    let trust = steps(&rec).into_iter().find(|s| s["check"] == "trust").expect("trust step");
    let detail = trust["detail"].as_str().unwrap();
    assert!(detail.starts_with("role GraphqlMisconfigured assumed by request "), "{detail}");
    assert!(detail.contains("sts.amazonaws.com AssumeRoleWithWebIdentity"), "{detail}");
    assert!(detail.ends_with("allowed by statement \"DemoUserPool\" of policy \"trust policy\""), "{detail}");
    // What `tokenbridge audit explain <request-id>` prints.
    let explained = Explanation::from_record(&rec).render();
    assert!(explained.contains("GraphQL (appsync.amazonaws.com)"), "{explained}");
    assert!(explained.contains("DENIED (UnauthorizedException)"), "{explained}");
    assert!(explained.contains(&expected), "{explained}");
    assert!(explained.contains("denied implicitly: no statement allows appsync:GraphQL"), "{explained}");
    // The machine-readable explanation too.
    let eval = &rec.record["additionalEventData"]["policyEvaluations"][0];
    assert_eq!(eval["decision"], "ImplicitDeny");
    assert_eq!(eval["explanation"]["policies"][0]["statements"][0]["text"], expected);
    // errorMessage names the statement as well (what `audit lookup --denied` shows).
    assert!(rec.record["errorMessage"].as_str().unwrap().contains(&expected));
}

/// The seed's whole chain: a user-pool login, an identity pool's enhanced flow into a role with
/// the wrong `Resource`, a signed call refused; the record names the identity pool and identity.
#[tokio::test]
async fn identity_pool_credentials_carry_the_identity_into_the_decision() {
    let g = Gql::start().await;
    let pool_id = format!("{}:11111111-2222-4333-8444-555555555555", g.region);
    let trust = identity_pool_trust("IdentityPoolAuthenticated", &pool_id, "authenticated");
    let wrong = format!("{}/*", g.api_arn("abc"));
    let mine = policy(json!([{
        "Sid": "OwnItemsOnly",
        "Effect": "Allow",
        "Action": "appsync:GraphQL",
        "Resource": wrong,
        "Condition": { "StringLike": { "cognito-identity.amazonaws.com:sub": "${cognito-identity.amazonaws.com:sub}" } },
    }]));
    g.s.engine
        .iam()
        .put_role("IdentityPoolAuth", &trust.to_string(), &[("GraphQL".to_string(), mine.to_string())])
        .await
        .expect("role");
    g.s.engine
        .identity_pools()
        .ensure_identity_pool(&tokenbridge_core::identity_pool::IdentityPoolSpec {
            identity_pool_id: Some(pool_id.clone()),
            name: "graphql test pool".into(),
            user_pools: vec![(tokenbridge_demo::DEMO_POOL_ID.to_string(), g.pool_client_id.clone())],
            authenticated_role_arn: Some(g.role_arn("IdentityPoolAuth")),
            ..Default::default()
        })
        .await
        .expect("identity pool");
    let (_, id_token) = g.pool_tokens("alice", "alice-local-pw").await;
    let logins = json!({ g.provider.clone(): id_token });
    let ctx = crate::common::refusals::identity_pool_ctx();
    let got =
        g.s.engine
            .identity_pools()
            .identity_pool_action("GetId", &json!({ "IdentityPoolId": pool_id, "Logins": logins }), None, &ctx)
            .await
            .unwrap_or_else(|e| panic!("GetId: {e}"));
    let identity_id = got["IdentityId"].as_str().unwrap().to_string();
    let c =
        g.s.engine
            .identity_pools()
            .identity_pool_action(
                "GetCredentialsForIdentity",
                &json!({ "IdentityId": identity_id, "Logins": logins }),
                None,
                &ctx,
            )
            .await
            .unwrap_or_else(|e| panic!("GetCredentialsForIdentity: {e}"));
    let creds = Creds {
        access_key_id: c["Credentials"]["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: c["Credentials"]["SecretKey"].as_str().unwrap().into(),
        session_token: Some(c["Credentials"]["SessionToken"].as_str().unwrap().into()),
    };
    let r = g.signed(&creds, LIST, Value::Null).await;
    assert_unauthorized(&r, "Not Authorized to access listItems on type Query");
    let rec = g.record(&r).await;
    let explained = Explanation::from_record(&rec).render();
    let pool_step = format!("identity {identity_id} of identity pool {pool_id} (graphql test pool)");
    assert!(explained.contains(&pool_step), "{explained}");
    assert!(explained.contains("session CognitoIdentityCredentials of role"), "{explained}");
    assert!(explained.contains("allowed by statement \"IdentityPoolAuthenticated\""), "{explained}");
    assert!(explained.contains(&format!("cognito-identity.amazonaws.com:sub={identity_id}")), "{explained}");
    assert!(
        explained.contains(&format!(
            "statement \"OwnItemsOnly\" matches action appsync:GraphQL but its Resource {wrong} does not match {}",
            g.field_arn("Query", "listItems")
        )),
        "{explained}"
    );
}

#[tokio::test]
async fn an_explicit_deny_on_one_field_refuses_only_that_field() {
    let g = Gql::start().await;
    let deny = json!({
        "Sid": "NoDeletes",
        "Effect": "Deny",
        "Action": "appsync:GraphQL",
        "Resource": g.field_arn("Mutation", "deleteItem"),
    });
    let all = format!("{}/*", g.api_arn(DEMO_API_ID));
    g.role("GraphqlNoDeletes", &[("GraphQL", policy(json!([allow_graphql(&all), deny])))]).await;
    let creds = g.assume("GraphqlNoDeletes", "alice-session", None).await;

    let r = g.signed(&creds, "mutation { addItem(name: \"kept\") { name } }", Value::Null).await;
    r.assert_ok();
    let r = g.signed(&creds, "mutation { deleteItem(id: \"item-1\") { id } }", Value::Null).await;
    assert_unauthorized(&r, "Not Authorized to access deleteItem on type Mutation");
    let rec = g.record(&r).await;
    let fail = first_failure(&rec);
    assert!(fail["detail"].as_str().unwrap().starts_with("statement \"NoDeletes\" (Deny) matches"), "{fail}");
    let explained = Explanation::from_record(&rec).render();
    assert!(explained.contains("denied explicitly by statement \"NoDeletes\" of policy \"GraphQL\""), "{explained}");

    // One refused field refuses the request: nothing of it runs.
    let r = g
        .signed(&creds, "mutation { addItem(name: \"never\") { id } deleteItem(id: \"item-1\") { id } }", Value::Null)
        .await;
    assert_unauthorized(&r, "Not Authorized to access deleteItem on type Mutation");
    let r = g.signed(&creds, "{ listItems { name } }", Value::Null).await;
    assert_eq!(
        r.json["data"]["listItems"],
        json!([{ "name": "First demo item" }, { "name": "Second demo item" }, { "name": "kept" }])
    );
}

/// A field is authorized wherever the document names it: through a fragment, an inline
/// fragment, or under `@skip` / `@include`, whatever their condition; nothing of a refused
/// request runs.
#[tokio::test]
async fn fields_in_fragments_and_under_directives_are_authorized() {
    let g = Gql::start().await;
    let deny = json!({
        "Sid": "NoDeletes",
        "Effect": "Deny",
        "Action": "appsync:GraphQL",
        "Resource": g.field_arn("Mutation", "deleteItem"),
    });
    let all = format!("{}/*", g.api_arn(DEMO_API_ID));
    g.role("GraphqlNoDeletes", &[("GraphQL", policy(json!([allow_graphql(&all), deny])))]).await;
    let creds = g.assume("GraphqlNoDeletes", "alice-session", None).await;

    let through_fragment = "mutation { addItem(name: \"never\") { id } ...Deletes } \
                            fragment Deletes on Mutation { deleteItem(id: \"item-1\") { id } }";
    let r = g.signed(&creds, through_fragment, Value::Null).await;
    assert_unauthorized(&r, "Not Authorized to access deleteItem on type Mutation");
    assert_eq!(
        g.record(&r).await.record["requestParameters"]["fields"],
        json!(["Mutation.addItem", "Mutation.deleteItem"])
    );
    let inline = "mutation { ... on Mutation { deleteItem(id: \"item-1\") { id } } }";
    assert_unauthorized(&g.signed(&creds, inline, Value::Null).await, "deleteItem");
    let skipped = "mutation($no: Boolean = false) { addItem(name: \"never\") { id } \
                   deleteItem(id: \"item-1\") @include(if: $no) { id } }";
    assert_unauthorized(&g.signed(&creds, skipped, Value::Null).await, "deleteItem");

    // Nothing of them ran; the allowed fields run through fragments and directives as written.
    let q = "query($names: Boolean = true) { listItems { ...Item } } fragment Item on Item { id name @include(if: $names) }";
    let r = g.signed(&creds, q, Value::Null).await;
    r.assert_ok();
    assert_eq!(
        r.json["data"]["listItems"],
        json!([{ "id": "item-1", "name": "First demo item" }, { "id": "item-2", "name": "Second demo item" }])
    );
}

#[tokio::test]
async fn a_session_policy_limits_the_role() {
    let g = Gql::start().await;
    g.role_allowing_every_field().await;
    let queries_only = policy(json!([{
        "Sid": "QueriesOnly",
        "Effect": "Allow",
        "Action": "appsync:GraphQL",
        "Resource": format!("{}/types/Query/*", g.api_arn(DEMO_API_ID)),
    }]));
    let creds = g.assume("GraphqlUser", "limited", Some(&queries_only)).await;
    g.signed(&creds, LIST, Value::Null).await.assert_ok();
    let r = g.signed(&creds, "mutation { addItem(name: \"x\") { id } }", Value::Null).await;
    assert_unauthorized(&r, "Not Authorized to access addItem on type Mutation");
    let explained = Explanation::from_record(&g.record(&r).await).render();
    assert!(explained.contains("session policy: yes"), "{explained}");
    assert!(explained.contains("but no statement of the session policy does"), "{explained}");
}

#[tokio::test]
async fn user_pool_tokens_in_authorization_are_enough() {
    let g = Gql::start().await;
    let (access, id) = g.pool_tokens("alice", "alice-local-pw").await;
    let r = g.with_token(&access, LIST).await;
    r.assert_ok();
    assert_eq!(r.json["data"]["listItems"].as_array().unwrap().len(), 2);
    let rec = g.record(&r).await;
    assert_eq!(rec.record["requestParameters"]["authorizationType"], "AMAZON_COGNITO_USER_POOLS");
    assert_eq!(rec.username.as_deref(), Some("alice"));

    // The id token works too; the owner is the username.
    let r = g.with_token(&id, "mutation { addItem(name: \"mine\") { owner } }").await;
    r.assert_ok();
    assert_eq!(r.json["data"]["addItem"]["owner"], "alice");
    let r = g.with_token(&format!("Bearer {access}"), "{ listItems { id } }").await;
    r.assert_ok();

    // A tampered token: refused, and never echoed.
    let bad = flip_signature_byte(&access);
    let r = g.with_token(&bad, LIST).await;
    assert_unauthorized(&r, "the user-pool token failed the signature check");
    assert!(!r.text.contains(&bad[..40]));
    assert_eq!(first_failure(&g.record(&r).await)["check"], "signature");
    // An expired one.
    g.s.clock.advance(3601);
    let r = g.with_token(&access, LIST).await;
    assert_unauthorized(&r, "Token has expired.");
    // Not a token at all.
    let r = g.with_token("let-me-in", LIST).await;
    assert_unauthorized(&r, "Valid authorization header not provided");
}

#[tokio::test]
async fn missing_bad_and_admin_credentials_are_401() {
    let g = Gql::start().await;
    g.role_allowing_every_field().await;
    let creds = g.assume("GraphqlUser", "alice-session", None).await;

    // No credentials at all.
    let r = g.post(&[], list_body()).await;
    assert_unauthorized(&r, "Valid authorization header not provided");
    let rec = g.record(&r).await;
    assert_eq!(rec.error_code.as_deref(), Some("UnauthorizedException"));
    assert_eq!(first_failure(&rec)["check"], "authentication");
    // An unauthenticated caller learns nothing about the query's validity.
    let r = g.post(&[], b"not json".to_vec()).await;
    assert_unauthorized(&r, "Valid authorization header not provided");

    // A signature that does not match (the body changed after signing).
    let body = list_body();
    let headers = sign(&creds, &g.host, GRAPHQL_PATH, &body, &g.region, "appsync", g.s.now());
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let r = g.post(&headers, tampered).await;
    assert_unauthorized(&r, "");
    assert_eq!(first_failure(&g.record(&r).await)["check"], "sigv4.signature");
    // The wrong secret.
    let wrong = Creds { secret_access_key: "not-the-secret".into(), ..creds.clone() };
    let r = g.signed(&wrong, LIST, Value::Null).await;
    assert_unauthorized(&r, "The request signature we calculated does not match");
    // Signed for another service.
    let headers = sign(&creds, &g.host, GRAPHQL_PATH, &body, &g.region, "sts", g.s.now());
    let r = g.post(&headers, body.clone()).await;
    assert_unauthorized(&r, "Credential should be scoped to correct service: 'appsync'");
    // A session token that is not ours.
    let forged = Creds { session_token: Some("TBS1.forged".into()), ..creds.clone() };
    let r = g.signed(&forged, LIST, Value::Null).await;
    assert_unauthorized(&r, "");
    let detail = first_failure(&g.record(&r).await)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("the session token:"), "{detail}");

    // Admin credentials sign correctly but are no role.
    let admin = Creds {
        access_key_id: g.s.demo_cognito("admin_access_key_id"),
        secret_access_key: g.s.demo_cognito("admin_secret_access_key"),
        session_token: None,
    };
    let r = g.signed(&admin, LIST, Value::Null).await;
    assert_unauthorized(&r, "Not Authorized to access listItems on type Query");
    let fail = first_failure(&g.record(&r).await);
    assert_eq!(fail["check"], "role");
    assert!(fail["detail"].as_str().unwrap().contains("admin credentials are not a role session"), "{fail}");
    // None of this leaked the credentials.
    assert!(!r.text.contains(&admin.secret_access_key));
}

#[tokio::test]
async fn expired_credentials_are_401() {
    let g = Gql::start().await;
    g.role_allowing_every_field().await;
    let creds = g.assume("GraphqlUser", "alice-session", None).await;
    g.signed(&creds, LIST, Value::Null).await.assert_ok();
    // STS's default duration is an hour; sign with a current date, so only the session is old.
    g.s.clock.advance(3601);
    let r = g.signed(&creds, LIST, Value::Null).await;
    assert_unauthorized(&r, "The security token included in the request is expired");
    let fail = first_failure(&g.record(&r).await);
    assert_eq!(fail["check"], "sigv4.access_key");
    assert!(fail["detail"].as_str().unwrap().contains("the session expired"), "{fail}");
}
