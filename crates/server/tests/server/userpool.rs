//! The Cognito user-pool door over real HTTP (AWS JSON 1.1), on the demo exactly as
//! `tokenbridge demo` builds it: its pool, app clients, users and upstream provider. Admin setup
//! goes through the engine's own action dispatcher (signed); the SigV4 checks themselves are
//! exercised with signatures made by botocore in the interop suite.

use crate::common::*;
use serde_json::{json, Value};
use tokenbridge_core::userpool::secret_hash;

struct Pool<'a> {
    s: &'a Server,
    pool_id: String,
    client_id: String,
    secret_client_id: String,
    secret_client_secret: String,
}

impl<'a> Pool<'a> {
    fn of(s: &'a Server) -> Self {
        Self {
            s,
            pool_id: s.demo_cognito("user_pool_id"),
            client_id: s.demo_cognito("client_id"),
            secret_client_id: s.demo_cognito("secret_client_id"),
            secret_client_secret: s.demo_cognito("secret_client_secret"),
        }
    }

    /// An unsigned call, as browsers and the public flows make them.
    async fn call(&self, action: &str, body: Value) -> Resp {
        self.s.cognito(action, &body).await
    }

    /// An admin action through the engine's dispatcher, as the HTTP door runs it once the
    /// signature is verified.
    async fn admin(&self, action: &str, body: Value) -> Value {
        self.s.user_pool_admin(action, &body).await
    }

    async fn password_login(&self, username: &str, password: &str) -> Resp {
        self.s.password_auth(&self.client_id, username, password).await
    }

    /// REFRESH_TOKEN_AUTH at the public client.
    async fn refresh_login(&self, refresh_token: &str) -> Resp {
        self.call(
            "InitiateAuth",
            json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": self.client_id,
                    "AuthParameters": { "REFRESH_TOKEN": refresh_token } }),
        )
        .await
    }

    async fn custom_challenge(&self, username: &str) -> String {
        let r = self
            .call(
                "InitiateAuth",
                json!({ "AuthFlow": "CUSTOM_AUTH", "ClientId": self.client_id, "AuthParameters": { "USERNAME": username } }),
            )
            .await;
        r.assert_ok();
        assert_eq!(r.json["ChallengeName"], "CUSTOM_CHALLENGE", "{}", r.text);
        r.str("Session").to_string()
    }

    async fn answer(&self, session: &str, username: &str, answer: &str) -> Resp {
        self.call(
            "RespondToAuthChallenge",
            json!({ "ClientId": self.client_id, "ChallengeName": "CUSTOM_CHALLENGE", "Session": session,
                    "ChallengeResponses": { "USERNAME": username, "ANSWER": answer } }),
        )
        .await
    }
}

fn result(r: &Resp) -> &Value {
    &r.json["AuthenticationResult"]
}

#[tokio::test]
async fn password_login_refresh_and_the_same_user_everywhere() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let r = p.password_login("alice", "alice-local-pw").await;
    r.assert_ok();
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    let auth = result(&r);
    assert_eq!(auth["TokenType"], "Bearer");
    assert_eq!(auth["ExpiresIn"], 3600);
    let (access, id, refresh) = (
        auth["AccessToken"].as_str().unwrap(),
        auth["IdToken"].as_str().unwrap(),
        auth["RefreshToken"].as_str().unwrap(),
    );

    // The pool's discovery and JWKS are consistent with its tokens.
    let issuer = format!("{}/{}", s.base, p.pool_id);
    let disco = s.get(&format!("/{}/.well-known/openid-configuration", p.pool_id)).await;
    disco.assert_ok();
    assert_eq!(disco.json["issuer"], issuer);
    let jwks = s.get(&format!("/{}/.well-known/jwks.json", p.pool_id)).await;
    jwks.assert_ok();
    let id_jwt = verify_with_jwks(id, &jwks.json);
    assert_eq!(id_jwt.claim_str("iss"), Some(issuer.as_str()));
    assert_eq!(id_jwt.claim_str("aud"), Some(p.client_id.as_str()));
    assert_eq!(id_jwt.claim_str("token_use"), Some("id"));
    assert_eq!(id_jwt.claim_str("cognito:username"), Some("alice"));
    assert_eq!(id_jwt.claims["cognito:groups"], json!(["admins", "readers"]));
    assert!(id_jwt.claim_str("event_id").is_some());
    let access_jwt = verify_with_jwks(access, &jwks.json);
    assert_eq!(access_jwt.claim_str("client_id"), Some(p.client_id.as_str()));
    assert_eq!(access_jwt.claim_str("scope"), Some("aws.cognito.signin.user.admin"));
    assert_eq!(access_jwt.claim_str("username"), Some("alice"));
    assert_eq!(s.get("/ap-northeast-1_NoSuchPool/.well-known/jwks.json").await.status, 404);

    // REFRESH_TOKEN_AUTH: new access and id tokens, no new refresh token.
    let r = p.refresh_login(refresh).await;
    r.assert_ok();
    assert!(result(&r).get("RefreshToken").is_none(), "{}", r.text);
    let refreshed = result(&r)["AccessToken"].as_str().unwrap().to_string();
    assert_eq!(decode(&refreshed).claim_str("origin_jti"), access_jwt.claim_str("origin_jti"));

    // One user model: the pool's access token is the user's at GetUser, UserInfo and the authorizer.
    let r = p.call("GetUser", json!({ "AccessToken": refreshed })).await;
    r.assert_ok();
    assert_eq!(r.json["Username"], "alice");
    assert!(r.json["UserAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["Name"] == "email" && a["Value"] == "alice@example.com"));
    s.userinfo(&refreshed).await.assert_ok();
    let hello = s.send(s.http.get(s.url("/demo/api/hello")).bearer_auth(&refreshed)).await;
    hello.assert_ok();
    assert_eq!(hello.json["caller"]["username"], "alice", "{}", hello.text);

    // The OAuth refresh grant does not take a pool's refresh token (it would change its issuer).
    let r = s.refresh(refresh).await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[tokio::test]
async fn wrong_passwords_are_refused_alike_and_lock_the_account() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let r = p.password_login("bob", "wrong-password").await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    let (code, check, _) = failing_check(&s, &r).await;
    assert_eq!((code.as_str(), check.as_str()), ("NotAuthorizedException", "password"));
    // An unknown user looks the same to the caller; the audit trail says which it was.
    let r = p.password_login("nobody-here", "wrong-password").await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    assert_eq!(failing_check(&s, &r).await.1, "user");
    // A user without a local password (upstream sign-in only).
    let r = p.password_login("erin", "anything-at-all").await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");

    for _ in 0..4 {
        p.password_login("bob", "wrong-password").await;
    }
    let r = p.password_login("bob", "bob-local-pw").await;
    assert_cognito_error(&r, "NotAuthorizedException", "Password attempts exceeded");
    assert_eq!(failing_check(&s, &r).await.1, "lockout");
    s.clock.advance(2);
    p.password_login("bob", "bob-local-pw").await.assert_ok();
}

#[tokio::test]
async fn custom_auth_is_answered_with_this_users_upstream_token_once() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let r = p
        .call(
            "InitiateAuth",
            json!({ "AuthFlow": "CUSTOM_AUTH", "ClientId": p.client_id, "AuthParameters": { "USERNAME": "erin" } }),
        )
        .await;
    r.assert_ok();
    assert_eq!(r.json["ChallengeParameters"]["providers"], "demo");
    assert_eq!(r.json["ChallengeParameters"]["USERNAME"], "erin");
    let session = r.str("Session").to_string();

    // Another user's valid upstream token does not answer erin's challenge.
    let bobs = s.mint_id_token("bob");
    let r = p.answer(&session, "erin", &bobs).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    let (_, check, detail) = failing_check(&s, &r).await;
    assert_eq!(check, "user", "{detail}");
    assert!(!detail.contains(&bobs));

    // Erin's own token does, on the same session (its second answer).
    let erins = s.mint_id_token("erin");
    let r = p.answer(&session, "erin", &erins).await;
    r.assert_ok();
    let id = decode(result(&r)["IdToken"].as_str().unwrap());
    assert_eq!(id.claim_str("cognito:username"), Some("erin"));
    let records = s.audit_of(r.request_id()).await;
    assert_eq!(records[0].record["userIdentity"]["type"], "WebIdentityUser");

    // The session is spent, and the upstream token too.
    let r = p.answer(&session, "erin", &s.mint_id_token("erin")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid session for the user.");
    let again = p.custom_challenge("erin").await;
    let r = p.answer(&again, "erin", &erins).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    assert_eq!(failing_check(&s, &r).await.1, "one-time use");

    // Garbage and a garbled session.
    let r = p.answer(&again, "erin", "not-a-token").await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    let r = p.answer("AAAA", "erin", &s.mint_id_token("erin")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid session for the user.");
}

#[tokio::test]
async fn challenge_sessions_expire_and_allow_three_answers() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let session = p.custom_challenge("alice").await;
    s.clock.advance(181);
    let r = p.answer(&session, "alice", &s.mint_id_token("alice")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid session for the user, session is expired.");

    let session = p.custom_challenge("alice").await;
    for _ in 0..3 {
        let r = p.answer(&session, "alice", "wrong").await;
        assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    }
    let r = p.answer(&session, "alice", &s.mint_id_token("alice")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid session for the user.");

    // A session is bound to its user: answering it for someone else is refused.
    let session = p.custom_challenge("alice").await;
    let r = p.answer(&session, "bob", &s.mint_id_token("bob")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid session for the user.");
}

#[tokio::test]
async fn admin_created_users_must_choose_a_new_password() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let created = p
        .admin(
            "AdminCreateUser",
            json!({ "UserPoolId": p.pool_id, "Username": "frank", "TemporaryPassword": "Temp-pass-123",
                    "MessageAction": "SUPPRESS", "UserAttributes": [{ "Name": "email", "Value": "frank@example.com" }] }),
        )
        .await;
    assert_eq!(created["User"]["UserStatus"], "FORCE_CHANGE_PASSWORD");
    let r = p.password_login("frank", "Temp-pass-123").await;
    r.assert_ok();
    assert_eq!(r.json["ChallengeName"], "NEW_PASSWORD_REQUIRED", "{}", r.text);
    let session = r.str("Session").to_string();
    let r = p
        .call(
            "RespondToAuthChallenge",
            json!({ "ClientId": p.client_id, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": session,
                    "ChallengeResponses": { "USERNAME": "frank", "NEW_PASSWORD": "short" } }),
        )
        .await;
    assert_cognito_error(
        &r,
        "InvalidPasswordException",
        "Password did not conform with policy: Password not long enough",
    );
    let r = p
        .call(
            "RespondToAuthChallenge",
            json!({ "ClientId": p.client_id, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": session,
                    "ChallengeResponses": { "USERNAME": "frank", "NEW_PASSWORD": "a-new-password" } }),
        )
        .await;
    r.assert_ok();
    assert!(result(&r)["IdToken"].is_string());
    let got = p.admin("AdminGetUser", json!({ "UserPoolId": p.pool_id, "Username": "frank" })).await;
    assert_eq!(got["UserStatus"], "CONFIRMED");
    p.password_login("frank", "a-new-password").await.assert_ok();
    // The same user exists for the rest of the broker.
    assert!(s.engine.directory().find("frank").await.is_ok());
}

fn codes(s: &Server) -> Vec<Value> {
    std::fs::read_to_string(s.dir.path().join("codes.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn last_code(s: &Server, username: &str, purpose: &str) -> String {
    codes(s)
        .iter()
        .rev()
        .find(|c| c["username"] == username && c["purpose"] == purpose)
        .and_then(|c| c["code"].as_str())
        .unwrap_or_else(|| panic!("no {purpose} code for {username}"))
        .to_string()
}

#[tokio::test]
async fn sign_up_confirmation_and_password_reset_by_code() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let r = p
        .call(
            "SignUp",
            json!({ "ClientId": p.client_id, "Username": "grace", "Password": "grace-password",
                    "UserAttributes": [{ "Name": "email", "Value": "grace@example.com" }] }),
        )
        .await;
    r.assert_ok();
    assert_eq!(r.json["UserConfirmed"], false);
    assert_eq!(r.json["CodeDeliveryDetails"]["Destination"], "g***@e***");
    let r = p.password_login("grace", "grace-password").await;
    assert_cognito_error(&r, "UserNotConfirmedException", "User is not confirmed.");
    let code = last_code(&s, "grace", "SignUp");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = p
        .call("ConfirmSignUp", json!({ "ClientId": p.client_id, "Username": "grace", "ConfirmationCode": wrong }))
        .await;
    assert_cognito_error(&r, "CodeMismatchException", "Invalid verification code provided, please try again.");
    p.call("ConfirmSignUp", json!({ "ClientId": p.client_id, "Username": "grace", "ConfirmationCode": code }))
        .await
        .assert_ok();
    p.password_login("grace", "grace-password").await.assert_ok();
    let r =
        p.call("SignUp", json!({ "ClientId": p.client_id, "Username": "grace", "Password": "grace-password" })).await;
    assert_cognito_error(&r, "UsernameExistsException", "User already exists");

    // Forgot password: a code, then the new password; an hour later the code is expired.
    let r = p.call("ForgotPassword", json!({ "ClientId": p.client_id, "Username": "grace" })).await;
    r.assert_ok();
    let code = last_code(&s, "grace", "ForgotPassword");
    p.call(
        "ConfirmForgotPassword",
        json!({ "ClientId": p.client_id, "Username": "grace", "ConfirmationCode": code, "Password": "grace-new-password" }),
    )
    .await
    .assert_ok();
    p.password_login("grace", "grace-new-password").await.assert_ok();
    p.call("ForgotPassword", json!({ "ClientId": p.client_id, "Username": "grace" })).await.assert_ok();
    let code = last_code(&s, "grace", "ForgotPassword");
    s.clock.advance(3601);
    let r = p
        .call(
            "ConfirmForgotPassword",
            json!({ "ClientId": p.client_id, "Username": "grace", "ConfirmationCode": code, "Password": "another-password" }),
        )
        .await;
    assert_cognito_error(&r, "ExpiredCodeException", "Invalid code provided, please request a code again.");
    // Unknown users get an answer like a real one (user existence is not revealed).
    p.call("ForgotPassword", json!({ "ClientId": p.client_id, "Username": "nobody-at-all" })).await.assert_ok();
}

#[tokio::test]
async fn sign_out_and_revocation_end_the_session() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let r = p.password_login("alice", "alice-local-pw").await;
    let access = result(&r)["AccessToken"].as_str().unwrap().to_string();
    let refresh = result(&r)["RefreshToken"].as_str().unwrap().to_string();
    p.call("GlobalSignOut", json!({ "AccessToken": access })).await.assert_ok();
    let r = p.call("GetUser", json!({ "AccessToken": access })).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Access Token has been revoked");
    let r = p.refresh_login(&refresh).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Refresh Token has been revoked");

    let r = p.password_login("alice", "alice-local-pw").await;
    let refresh = result(&r)["RefreshToken"].as_str().unwrap().to_string();
    p.call("RevokeToken", json!({ "ClientId": p.client_id, "Token": refresh })).await.assert_ok();
    let r = p.refresh_login(&refresh).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Refresh Token has been revoked");

    // ChangePassword needs the previous password; the new one works at once.
    let r = p.password_login("alice", "alice-local-pw").await;
    let access = result(&r)["AccessToken"].as_str().unwrap().to_string();
    let r = p
        .call(
            "ChangePassword",
            json!({ "AccessToken": access, "PreviousPassword": "not-it", "ProposedPassword": "alice-next-pw" }),
        )
        .await;
    assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    p.call(
        "ChangePassword",
        json!({ "AccessToken": access, "PreviousPassword": "alice-local-pw", "ProposedPassword": "alice-next-pw" }),
    )
    .await
    .assert_ok();
    p.password_login("alice", "alice-next-pw").await.assert_ok();
}

#[tokio::test]
async fn confidential_clients_need_the_secret_hash() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let login = |hash: Option<String>| {
        let mut params = json!({ "USERNAME": "bob", "PASSWORD": "bob-local-pw" });
        if let Some(h) = hash {
            params["SECRET_HASH"] = json!(h);
        }
        p.call(
            "InitiateAuth",
            json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": p.secret_client_id, "AuthParameters": params }),
        )
    };
    let r = login(None).await;
    assert_cognito_error(
        &r,
        "NotAuthorizedException",
        &format!("Client {} is configured with secret but SECRET_HASH was not received", p.secret_client_id),
    );
    let r = login(Some(secret_hash("not-the-secret", "bob", &p.secret_client_id))).await;
    assert_cognito_error(
        &r,
        "NotAuthorizedException",
        &format!("Unable to verify secret hash for client {}", p.secret_client_id),
    );
    login(Some(secret_hash(&p.secret_client_secret, "bob", &p.secret_client_id))).await.assert_ok();
}

#[tokio::test]
async fn admin_actions_need_a_signature_and_errors_speak_aws() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let r = p.call("ListUserPools", json!({ "MaxResults": 10 })).await;
    assert_cognito_error(&r, "MissingAuthenticationTokenException", "Missing Authentication Token");
    let forged = s
        .send(
            s.aws_json_request("/", &format!("{USER_POOL_TARGET}ListUserPools"))
                .header("x-amz-date", "20261130T000000Z")
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIANOTCONFIGURED000/20261130/ap-northeast-1/cognito-idp/aws4_request, \
                     SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000",
                )
                .body(r#"{"MaxResults":10}"#),
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.text);
    assert!(forged.json["__type"].as_str().unwrap().ends_with("Exception"), "{}", forged.text);
    let (code, check, _) = failing_check(&s, &forged).await;
    assert_eq!(code, forged.json["__type"].as_str().unwrap());
    assert_eq!(check, "request");

    let r = p.call("NoSuchAction", json!({})).await;
    assert_eq!(r.json["__type"], "UnknownOperationException");
    let r = s.send(s.aws_json_request("/", &format!("{USER_POOL_TARGET}InitiateAuth")).body("[not json")).await;
    assert_eq!(r.json["__type"], "SerializationException");
    let r = p
        .call(
            "InitiateAuth",
            json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "nosuchclient", "AuthParameters": {} }),
        )
        .await;
    assert_cognito_error(&r, "ResourceNotFoundException", "User pool client nosuchclient does not exist.");
    let r = p.call("InitiateAuth", json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": p.client_id, "AuthParameters": { "USERNAME": "alice" } })).await;
    assert_cognito_error(&r, "InvalidParameterException", "Missing required parameter PASSWORD");
    let r = p
        .call(
            "InitiateAuth",
            json!({ "AuthFlow": "ADMIN_USER_PASSWORD_AUTH", "ClientId": p.client_id, "AuthParameters": {} }),
        )
        .await;
    assert_cognito_error(&r, "InvalidParameterException", "Initiate Auth method not supported.");
}

#[tokio::test]
async fn pools_clients_groups_and_listing_users() {
    let s = Server::demo().await;
    let p = Pool::of(&s);
    let pool = p
        .admin("CreateUserPool", json!({ "PoolName": "second", "UserPoolTags": { "tokenbridge:issuer": "aws" } }))
        .await;
    let id = pool["UserPool"]["Id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ap-northeast-1_"), "{id}");
    let client = p
        .admin(
            "CreateUserPoolClient",
            json!({ "UserPoolId": id, "ClientName": "c", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"] }),
        )
        .await;
    let client_id = client["UserPoolClient"]["ClientId"].as_str().unwrap().to_string();
    for i in 0..7 {
        p.admin(
            "AdminCreateUser",
            json!({ "UserPoolId": id, "Username": format!("user{i}"), "MessageAction": "SUPPRESS",
                    "UserAttributes": [{ "Name": "email", "Value": format!("user{i}@{}.example", if i % 2 == 0 { "even" } else { "odd" }) }] }),
        )
        .await;
    }
    p.admin(
        "AdminSetUserPassword",
        json!({ "UserPoolId": id, "Username": "user0", "Password": "user0-password", "Permanent": true }),
    )
    .await;
    let r = s.password_auth(&client_id, "user0", "user0-password").await;
    r.assert_ok();
    let iss = decode(result(&r)["IdToken"].as_str().unwrap()).claim_str("iss").unwrap().to_string();
    assert_eq!(iss, format!("https://cognito-idp.ap-northeast-1.amazonaws.com/{id}"));
    // A flow the client does not allow.
    let r = p
        .call(
            "InitiateAuth",
            json!({ "AuthFlow": "CUSTOM_AUTH", "ClientId": client_id, "AuthParameters": { "USERNAME": "user0" } }),
        )
        .await;
    assert_cognito_error(&r, "InvalidParameterException", "CUSTOM_AUTH flow not enabled for this client");

    // Pagination: pages of 3 cover every user once.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({ "UserPoolId": id, "Limit": 3 });
        if let Some(t) = &token {
            req["PaginationToken"] = json!(t);
        }
        let page = p.admin("ListUsers", req).await;
        let users = page["Users"].as_array().unwrap();
        assert!(users.len() <= 3);
        seen.extend(users.iter().map(|u| u["Username"].as_str().unwrap().to_string()));
        match page["PaginationToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("user{i}")).collect::<Vec<_>>());
    let odd = p.admin("ListUsers", json!({ "UserPoolId": id, "Filter": "email ^= \"user1@odd\"" })).await;
    assert_eq!(odd["Users"].as_array().unwrap().len(), 1);
    let exact = p.admin("ListUsers", json!({ "UserPoolId": id, "Filter": "username = \"user4\"" })).await;
    assert_eq!(exact["Users"][0]["Username"], "user4");
    let status =
        p.admin("ListUsers", json!({ "UserPoolId": id, "Filter": "cognito:user_status = \"CONFIRMED\"" })).await;
    assert_eq!(status["Users"].as_array().unwrap().len(), 1);
    let e = s
        .engine
        .user_pools()
        .user_pool_action(
            "ListUsers",
            &json!({ "UserPoolId": id, "Filter": "shoe_size = \"9\"" }),
            Some(&refusals::admin()),
            &refusals::user_pool_ctx(),
        )
        .await
        .map_err(refusals::CognitoError::from)
        .unwrap_err();
    assert_eq!(e.exception, "InvalidParameterException");

    // Groups reach the tokens.
    p.admin("CreateGroup", json!({ "UserPoolId": id, "GroupName": "editors", "Precedence": 1 })).await;
    p.admin("AdminAddUserToGroup", json!({ "UserPoolId": id, "Username": "user0", "GroupName": "editors" })).await;
    let groups = p.admin("AdminListGroupsForUser", json!({ "UserPoolId": id, "Username": "user0" })).await;
    assert_eq!(groups["Groups"][0]["GroupName"], "editors");
    let r = s.password_auth(&client_id, "user0", "user0-password").await;
    assert_eq!(decode(result(&r)["IdToken"].as_str().unwrap()).claims["cognito:groups"], json!(["editors"]));

    // Deleting the pool deletes its clients and users.
    p.admin("DeleteUserPool", json!({ "UserPoolId": id })).await;
    assert!(s.engine.directory().find("user0").await.is_err());
    let r = s.password_auth(&client_id, "user0", "user0-password").await;
    assert_eq!(r.json["__type"], "ResourceNotFoundException");
}

/// A custom server with one pool and a public client allowing every flow.
async fn custom_with_pool(opts: Opts) -> (Server, String) {
    let s = Server::custom(opts).await;
    s.engine
        .user_pools()
        .ensure_user_pool("us-east-1_Custom1", "custom", tokenbridge_core::userpool::IssuerForm::Local)
        .await
        .expect("pool");
    let client = "customclient00000000000000".to_string();
    s.engine.user_pools().ensure_pool_client("us-east-1_Custom1", &client, "c", None, &[]).await.expect("client");
    (s, client)
}

#[tokio::test]
async fn the_door_also_answers_under_the_configured_prefix() {
    let (s, client) = custom_with_pool(Opts {
        configure: Some(Box::new(|c| c.aws.path_prefix = Some("/aws".into()))),
        ..Default::default()
    })
    .await;
    for path in ["/aws", "/aws/", "/"] {
        let body = json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
                           "AuthParameters": { "USERNAME": "nobody", "PASSWORD": "x" } });
        let r =
            s.send(s.aws_json_request(path, &format!("{USER_POOL_TARGET}InitiateAuth")).body(body.to_string())).await;
        assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
    }
}

#[tokio::test]
async fn password_guessing_is_rate_limited_in_cognitos_words() {
    // An unknown client makes each refused call quick, so the burst is spent at once.
    let (s, _) = custom_with_pool(Opts {
        rate_limits: Some(tokenbridge_core::config::RateLimits {
            per_ip_per_second: 1,
            per_client_per_second: 0,
            burst: 3,
        }),
        ..Default::default()
    })
    .await;
    let mut last = None;
    for _ in 0..6 {
        last = Some(s.password_auth("nosuchclient", "nobody", "x").await);
    }
    let r = last.unwrap();
    assert_cognito_error(&r, "TooManyRequestsException", "Rate exceeded");
    let (code, _, detail) = failing_check(&s, &r).await;
    assert_eq!(code, "TooManyRequestsException");
    assert!(detail.contains("source address"), "{detail}");
}
