//! The demo API answering with its caller, and the admin audit API explaining decisions to
//! admins only.

use super::*;

// --- the demo API ---

#[tokio::test]
async fn demo_api_answers_with_the_caller() {
    let s = Server::demo().await;
    // A token from RFC 8693 at /oauth2/token.
    let up = s.fresh_id_token("alice");
    let r = s.token_exchange(&up, TT_ID_TOKEN).await;
    r.assert_ok();
    let at = r.str("access_token").to_string();
    let rt = r.str("refresh_token").to_string();

    let r = s.send(s.http.get(s.url(HELLO)).bearer_auth(&at)).await;
    r.assert_ok();
    assert_eq!(r.json["message"], "Hello, alice!");
    assert_eq!(r.json["route"], "demo hello");
    assert_eq!(r.json["request_id"], r.request_id());
    let caller = &r.json["caller"];
    assert_eq!(caller["subject"], s.user_id("alice").await.as_str());
    assert_eq!(caller["username"], "alice");
    assert_eq!(caller["groups"], json!(["admins", "readers"]));
    assert_eq!(caller["client_id"], DEMO_CLIENT);
    assert_eq!(caller["token_kind"], "access");
    assert_eq!(caller["expires_at"], decode(&at).claims["exp"]);
    assert!(caller.get("family").is_none(), "the session id is not shown: {caller}");

    let r = s.send(s.http.post(s.url(ORDERS)).bearer_auth(&at)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["placed_by"], "alice");
    assert_eq!(r.json["route"], "demo place order");
    assert!(r.json["order_id"].as_str().is_some_and(|id| id.len() == 36), "{}", r.text);

    // A token from refreshing works the same.
    s.clock.advance(5);
    let r = s.refresh(&rt).await;
    r.assert_ok();
    let refreshed = r.str("access_token").to_string();
    assert_ne!(refreshed, at);
    let r = s.send(s.http.get(s.url(HELLO)).bearer_auth(&refreshed)).await;
    r.assert_ok();
    assert_eq!(r.json["message"], "Hello, alice!");
    assert_eq!(s.send(s.http.post(s.url(ORDERS)).bearer_auth(&refreshed)).await.status, 201);

    // Bob may not place orders; the demo API answers like forward-auth, audited under its own door.
    let bob = access_token(&s.sign_in("bob").await);
    let r = s.send(s.http.get(s.url(HELLO)).bearer_auth(&bob)).await;
    assert_eq!(r.json["message"], "Hello, bob!");
    let r = s.send(s.http.post(s.url(ORDERS)).bearer_auth(&bob)).await;
    let e = assert_denied(&s, &r, 403, "group", "\"bob\" is in readers", &[&bob]).await;
    assert_eq!(e.event_source, "demo-api.tokenbridge");
    let r = s.send(s.http.get(s.url(HELLO))).await;
    assert_denied(&s, &r, 401, "token", "route \"demo hello\" needs a bearer token", &[]).await;
    let r = s.send(s.http.get(s.url("/demo/api/elsewhere")).bearer_auth(&bob)).await;
    assert_denied(&s, &r, 403, "route", "no route covers GET /demo/api/elsewhere", &[&bob]).await;
}

// --- the admin API ---

#[tokio::test]
async fn admin_audit_api_explains_decisions_to_admins_only() {
    let s = Server::demo().await;
    let denied = forward(&s, None, "GET", HELLO).await;
    assert_eq!(denied.status, 401);
    let rid = denied.request_id().to_string();
    let path = format!("/admin/audit/{rid}");
    let get = |path: &str, token: Option<&str>| {
        let mut req = s.http.get(s.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        s.send(req)
    };

    // No token, a wrong token: 401, and those attempts are audited too.
    let r = get(&path, None).await;
    assert_oauth_error(&r, 401, "invalid_token", "the admin API needs a bearer token", &[]);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"tokenbridge\""));
    let rec = &s.audit_of(r.request_id()).await[0];
    assert_eq!(
        (rec.event_name.as_str(), rec.record["eventSource"].as_str()),
        ("AdminAccess", Some("admin.tokenbridge"))
    );
    let r = get(&path, Some("wrong-admin-token")).await;
    assert_oauth_error(&r, 401, "invalid_token", "bearer token is not the admin token", &["wrong-admin-token"]);
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    // An access token without the admin scope: 403.
    let alice = access_token(&s.sign_in("alice").await);
    let r = get(&path, Some(&alice)).await;
    assert_oauth_error(
        &r,
        403,
        "insufficient_scope",
        "the admin API needs scope tokenbridge:admin; token has openid",
        &[&alice],
    );
    // An upstream token is no admin credential.
    let up = s.fresh_id_token("alice");
    let r = get(&path, Some(&up)).await;
    assert_oauth_error(&r, 401, "invalid_token", "token of upstream provider", &[&up]);

    // The admin token: the explanation, as `audit explain --json`.
    let r = get(&path, Some(&s.admin_token)).await;
    r.assert_ok();
    assert_eq!(r.json["requestId"], rid.as_str());
    let ev = &r.json["events"][0];
    assert_eq!(r.json["events"].as_array().unwrap().len(), 1);
    assert_eq!(ev["requestId"], rid.as_str());
    assert_eq!(ev["eventName"], "Authorize");
    assert_eq!(ev["eventSource"], "authorizer.tokenbridge");
    assert_eq!(ev["decision"], "denied");
    assert_eq!(ev["errorCode"], "invalid_token");
    assert_eq!(ev["errorMessage"], denied.json["error_description"]);
    assert_eq!(ev["firstFailure"], 2);
    assert_eq!(
        ev["steps"],
        json!([
            { "check": "route", "outcome": "pass", "detail": "GET /demo/api/hello matches route \"demo hello\"" },
            { "check": "token", "outcome": "fail", "detail": "route \"demo hello\" needs a bearer token; the request has none" },
        ])
    );

    // Unknown request id: 404.
    let r = get("/admin/audit/no-such-request", Some(&s.admin_token)).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json["error"], "not_found");
    assert_eq!(r.json["request_id"], r.request_id());

    // Lookup: denials, newest first, bounded by limit (a second later, so they are the newest).
    s.clock.advance(1);
    for _ in 0..5 {
        assert_eq!(forward(&s, Some(&alice), "GET", "/nowhere").await.status, 403);
    }
    let r = get("/admin/audit?denied=true&limit=5", Some(&s.admin_token)).await;
    r.assert_ok();
    let events = r.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "{}", r.text);
    assert!(events.iter().all(|e| e["eventName"] == "Authorize" && e["errorCode"] == "insufficient_scope"));
    assert!(events.iter().all(|e| e["requestParameters"]["path"] == "/nowhere"));
    let r = get("/admin/audit?denied=true&event_name=Authorize&limit=100", Some(&s.admin_token)).await;
    let events = r.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 6, "five unknown routes and the first denial: {}", r.text);
    assert_eq!(events[5]["requestID"], rid.as_str());
    let r = get("/admin/audit?event_name=AdminAccess&denied=true", Some(&s.admin_token)).await;
    assert_eq!(r.json["events"].as_array().unwrap().len(), 4, "{}", r.text);
    let r = get("/admin/audit?denied=true", None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn admin_scope_on_an_access_token_admits() {
    let s = Server::custom(Opts {
        configure: Some(Box::new(|cfg: &mut Config| cfg.clients[0].scopes.push("tokenbridge:admin".into()))),
        ..Default::default()
    })
    .await;
    let denied = forward(&s, None, "GET", HELLO).await;
    let path = format!("/admin/audit/{}", denied.request_id());

    let admin = access_token(&exchange_with_scope(&s, "alice", "openid tokenbridge:admin").await);
    let r = s.send(s.http.get(s.url(&path)).bearer_auth(&admin)).await;
    r.assert_ok();
    assert_eq!(r.json["events"][0]["firstFailure"], 2);
    let plain = access_token(&exchange_with_scope(&s, "alice", "openid orders:read").await);
    let r = s.send(s.http.get(s.url(&path)).bearer_auth(&plain)).await;
    assert_oauth_error(
        &r,
        403,
        "insufficient_scope",
        "needs scope tokenbridge:admin; token has openid orders:read",
        &[&plain],
    );
    // A revoked admin session stops at once.
    s.post_form_basic("/oauth2/revoke", &[("token", admin.as_str())]).await.assert_ok();
    let r = s.send(s.http.get(s.url(&path)).bearer_auth(&admin)).await;
    assert_oauth_error(&r, 401, "invalid_token", "sign-in session was revoked", &[&admin]);
    // The configured admin token still works.
    s.send(s.http.get(s.url(&path)).bearer_auth(CUSTOM_ADMIN_TOKEN)).await.assert_ok();
}
