//! `user-pools`: pools, app clients and users made from the command line, Cognito's errors in
//! its words, and a running server serving sign-ins to what the CLI made.

use crate::common::*;
use serde_json::Value;

/// Asserts `pool` is shaped as AWS makes pool ids: `<region>_<letters and digits>`.
#[track_caller]
fn assert_pool_id(pool: &str, region: &str) {
    let (r, rest) = pool.split_once('_').unwrap_or_else(|| panic!("no `_` in pool id {pool:?}"));
    assert_eq!(r, region, "{pool}");
    assert!(!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{pool}");
}

/// The `Attributes` of a Cognito user object as a map.
fn attribute(user: &Value, name: &str) -> Option<String> {
    user["Attributes"]
        .as_array()?
        .iter()
        .find(|a| a["Name"] == name)
        .and_then(|a| a["Value"].as_str())
        .map(str::to_string)
}

/// Pools, app clients and users through `user-pools`: created, listed, shown, removed; Cognito's
/// errors as `error: <Exception>: <message>`; every action audited as coming from the CLI.
#[test]
fn user_pools_lifecycle() {
    let t = tmp();
    let d = t.path();

    // create: the id alone, so scripts can capture it; --json gives the pool.
    let pool = ok(pools_in(d, &["create", "--name", "staff"]), None).trim().to_string();
    assert_pool_id(&pool, "us-east-1");
    let out = ok(pools_in(d, &["create", "--name", "partners", "--issuer", "aws", "--json"]), None);
    let partners: Value = serde_json::from_str(&out).unwrap();
    let partners_id = partners["Id"].as_str().unwrap().to_string();
    assert_pool_id(&partners_id, "us-east-1");
    assert_ne!(partners_id, pool);
    assert_eq!(partners["Name"], "partners");
    assert_eq!(partners["UserPoolTags"]["tokenbridge:issuer"], "aws");
    // Usage errors are clap's; bad values the engine's.
    assert_eq!(run(pools_in(d, &["create", "--name", "x", "--issuer", "azure"]), None).status.code(), Some(2));
    assert_eq!(run(pools_in(d, &["create"]), None).status.code(), Some(2));
    let err = fails(pools_in(d, &["create", "--name", "   "]), None);
    assert!(err.starts_with("error: InvalidParameterException: PoolName"), "{err}");

    // list and show.
    let pools = json_lines(&ok(pools_in(d, &["list"]), None));
    let mut listed: Vec<(&str, &str)> =
        pools.iter().map(|p| (p["Id"].as_str().unwrap(), p["Name"].as_str().unwrap())).collect();
    listed.sort_by_key(|(_, name)| *name);
    assert_eq!(listed, [(partners_id.as_str(), "partners"), (pool.as_str(), "staff")]);
    let shown: Value = serde_json::from_str(&ok(pools_in(d, &["show", &pool]), None)).unwrap();
    assert_eq!((shown["Id"].as_str(), shown["Name"].as_str()), (Some(pool.as_str()), Some("staff")));
    assert_eq!(shown["EstimatedNumberOfUsers"], 0);
    assert!(shown.get("UserPoolTags").is_some(), "{shown}");

    // clients add --secret: the id, then the secret, printed once; never listed.
    let out = ok(pools_in(d, &["clients", "add", &pool, "--name", "web", "--secret"]), None);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let (web, secret) = (lines[0], lines[1]);
    assert_eq!(web.len(), 26, "{web}");
    assert!(web.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{web}");
    assert!(secret.len() >= 32 && secret != web, "{secret}");
    let out = ok(
        pools_in(
            d,
            &[
                "clients",
                "add",
                &pool,
                "--name",
                "cli-app",
                "--flows",
                "ALLOW_USER_PASSWORD_AUTH,ALLOW_REFRESH_TOKEN_AUTH",
                "--json",
            ],
        ),
        None,
    );
    let app: Value = serde_json::from_str(&out).unwrap();
    let app_id = app["ClientId"].as_str().unwrap().to_string();
    assert_eq!(app["ExplicitAuthFlows"], serde_json::json!(["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]));
    assert_eq!(app["UserPoolId"], pool.as_str());
    assert!(app.get("ClientSecret").is_none(), "no secret asked for: {app}");
    let out = ok(pools_in(d, &["clients", "list", &pool]), None);
    assert!(!out.contains(secret), "clients list shows a secret: {out}");
    let clients = json_lines(&out);
    let mut names: Vec<(&str, &str)> =
        clients.iter().map(|c| (c["ClientName"].as_str().unwrap(), c["ClientId"].as_str().unwrap())).collect();
    names.sort();
    assert_eq!(names, [("cli-app", app_id.as_str()), ("web", web)]);
    assert!(json_lines(&ok(pools_in(d, &["clients", "list", &partners_id]), None)).is_empty());
    let err = fails(pools_in(d, &["clients", "add", &pool, "--name", "x", "--flows", "ALLOW_EVERYTHING"]), None);
    assert!(err.starts_with("error: InvalidParameterException: ") && err.contains("ALLOW_EVERYTHING"), "{err}");
    let err = fails(pools_in(d, &["clients", "add", &pool, "--name", "x", "--provider", "nowhere"]), None);
    assert!(err.starts_with("error: InvalidParameterException: ") && err.contains("nowhere"), "{err}");

    // users add: a permanent password from stdin (never echoed) makes a CONFIRMED user.
    let out = ok(
        pools_in(d, &["users", "add", &pool, "alice", "--email", "alice@example.com", "--password-stdin"]),
        Some(PW),
    );
    assert!(!out.contains("correct horse"), "the password must not be echoed: {out}");
    let alice: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((alice["Username"].as_str(), alice["UserStatus"].as_str()), (Some("alice"), Some("CONFIRMED")));
    assert_eq!(attribute(&alice, "email").as_deref(), Some("alice@example.com"));
    assert!(attribute(&alice, "sub").is_some(), "{alice}");
    // Without --password-stdin: a temporary password, printed once, to be changed at first sign-in.
    let out =
        ok(pools_in(d, &["users", "add", &pool, "bob", "--email", "bob@example.com", "--temporary-password"]), None);
    let bob: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bob["UserStatus"], "FORCE_CHANGE_PASSWORD");
    assert!(bob["TemporaryPassword"].as_str().is_some_and(|p| p.len() >= 8), "{bob}");
    let carl: Value = serde_json::from_str(&ok(pools_in(d, &["users", "add", &pool, "carl"]), None)).unwrap();
    assert_eq!(carl["UserStatus"], "FORCE_CHANGE_PASSWORD");
    assert!(carl["TemporaryPassword"].is_string(), "{carl}");
    // Pool users are the broker's users.
    assert_eq!(show(d, "alice")["has_password"], true);
    // Refusals store nothing.
    let err = fails(pools_in(d, &["users", "add", &pool, "dora", "--password-stdin"]), Some("short\n"));
    assert!(err.starts_with("error: InvalidPasswordException: "), "{err}");
    let err = fails(pools_in(d, &["users", "add", &pool, "dora", "--password-stdin"]), Some(""));
    assert!(err.contains("no password on standard input"), "{err}");
    let err = fails(pools_in(d, &["users", "add", &pool, "alice", "--password-stdin"]), Some(PW));
    assert!(err.starts_with("error: UsernameExistsException: "), "{err}");
    let err = fails(pools_in(d, &["users", "add", &partners_id, "alice"]), None);
    assert!(err.starts_with("error: UsernameExistsException: "), "usernames are server-wide: {err}");
    let err = fails(pools_in(d, &["users", "add", &pool, "dora", "--email", "not-an-address"]), None);
    assert!(err.starts_with("error: InvalidParameterException: "), "{err}");
    let o = run(pools_in(d, &["users", "add", &pool, "dora", "--password-stdin", "--temporary-password"]), Some(PW));
    assert_eq!(o.status.code(), Some(2), "the two password options exclude each other");
    assert!(!usernames(d).contains(&"dora".to_string()));

    // users list, with Cognito's filter syntax.
    let all = json_lines(&ok(pools_in(d, &["users", "list", &pool]), None));
    let mut names: Vec<&str> = all.iter().map(|u| u["Username"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["alice", "bob", "carl"]);
    assert!(all.iter().all(|u| u.get("TemporaryPassword").is_none()), "temporary passwords are printed once");
    let a = json_lines(&ok(pools_in(d, &["users", "list", &pool, "--filter", r#"email ^= "a""#]), None));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["Username"], "alice");
    let forced = json_lines(&ok(
        pools_in(d, &["users", "list", &pool, "--filter", r#"cognito:user_status = "FORCE_CHANGE_PASSWORD""#]),
        None,
    ));
    let mut names: Vec<&str> = forced.iter().map(|u| u["Username"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["bob", "carl"]);
    assert!(json_lines(&ok(pools_in(d, &["users", "list", &partners_id]), None)).is_empty());
    let err = fails(pools_in(d, &["users", "list", &pool, "--filter", "email ~ a"]), None);
    assert!(err.starts_with("error: InvalidParameterException: "), "{err}");
    let shown: Value = serde_json::from_str(&ok(pools_in(d, &["show", &pool]), None)).unwrap();
    assert_eq!(shown["EstimatedNumberOfUsers"], 3);

    // Audited as the API's actions are, from the CLI, passwords hidden.
    let audit = ok(tb_in(d, &["audit", "lookup", "--limit", "200"]), None);
    assert!(!audit.contains("correct horse"), "a password reached the audit trail");
    let records = json_lines(&audit);
    for name in ["CreateUserPool", "CreateUserPoolClient", "AdminCreateUser", "AdminSetUserPassword", "ListUsers"] {
        let r = records
            .iter()
            .find(|r| r["eventName"] == name && r["errorCode"].is_null())
            .unwrap_or_else(|| panic!("no successful {name} in the audit trail"));
        assert_eq!(r["eventSource"], "cli.tokenbridge", "{r}");
    }
    let denied = records
        .iter()
        .find(|r| r["eventName"] == "AdminCreateUser" && r["errorCode"] == "UsernameExistsException")
        .expect("refusals are audited too");
    assert_eq!(denied["eventSource"], "cli.tokenbridge");

    // clients remove.
    assert_eq!(ok(pools_in(d, &["clients", "remove", &pool, web]), None).trim(), format!("removed {web}"));
    let left = json_lines(&ok(pools_in(d, &["clients", "list", &pool]), None));
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["ClientId"], app_id.as_str());
    let err = fails(pools_in(d, &["clients", "remove", &pool, web]), None);
    assert!(err.starts_with("error: ResourceNotFoundException: ") && err.contains(web), "{err}");
    let err = fails(pools_in(d, &["clients", "remove", &partners_id, &app_id]), None);
    assert!(err.starts_with("error: ResourceNotFoundException: "), "a client of another pool: {err}");

    // A pool id that does not exist: a clear error and exit code 1, whatever the command.
    let missing = "us-east-1_NoSuchPool1";
    for args in [
        &["show", missing][..],
        &["delete", missing],
        &["clients", "add", missing, "--name", "x"],
        &["clients", "list", missing],
        &["clients", "remove", missing, &app_id],
        &["users", "add", missing, "erin"],
        &["users", "list", missing],
        &["show", "not a pool id"],
    ] {
        let err = fails(pools_in(d, args), None);
        assert!(err.starts_with("error: ResourceNotFoundException: User pool "), "{args:?}: {err}");
        assert!(err.contains("does not exist"), "{args:?}: {err}");
    }
    assert_eq!(
        fails(pools_in(d, &["show", missing]), None).trim(),
        format!("error: ResourceNotFoundException: User pool {missing} does not exist.")
    );
    assert!(!usernames(d).contains(&"erin".to_string()));

    // delete: the pool goes with its clients and users.
    assert_eq!(ok(pools_in(d, &["delete", &pool]), None).trim(), format!("deleted {pool}"));
    let pools = json_lines(&ok(pools_in(d, &["list"]), None));
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0]["Id"], partners_id.as_str());
    assert!(usernames(d).is_empty(), "the pool's users are deleted with it");
    let err = fails(pools_in(d, &["delete", &pool]), None);
    assert!(err.starts_with("error: ResourceNotFoundException: "), "{err}");
    let err = fails(pools_in(d, &["users", "list", &pool]), None);
    assert!(err.starts_with("error: ResourceNotFoundException: "), "{err}");
}

/// `POST {base}/` with a Cognito action (public actions need no signature): (status, body).
async fn cognito(base: &str, action: &str, input: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{base}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("AWSCognitoIdentityProviderService.{action}"))
        .body(input.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// What the CLI makes, a running server serves: password sign-in to a pool and client created
/// by `user-pools` (with SECRET_HASH for the client with a secret), tokens from the pool's issuer,
/// and the temporary password leading to NEW_PASSWORD_REQUIRED.
#[tokio::test]
async fn user_pools_made_by_the_cli_serve_sign_ins() {
    let t = tmp();
    let port = free_port();
    let config = t.path().join("tokenbridge.toml");
    let data = t.path().join("data");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\ndata_dir = {:?}\n\n[aws]\nregion = \"eu-west-3\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_serve(&config, &base, &[]).await;
    let cli = |args: &[&str]| {
        let mut c = tb();
        c.arg("--config").arg(&config).arg("user-pools").args(args);
        c
    };

    // The region of the configuration names the pool.
    let pool = ok(cli(&["create", "--name", "shop"]), None).trim().to_string();
    assert_pool_id(&pool, "eu-west-3");
    let out = ok(
        cli(&["clients", "add", &pool, "--name", "backend", "--secret", "--flows", "ALLOW_USER_PASSWORD_AUTH"]),
        None,
    );
    let lines: Vec<&str> = out.lines().collect();
    let (client, secret) = (lines[0].to_string(), lines[1].to_string());
    ok(cli(&["users", "add", &pool, "alice", "--email", "alice@example.com", "--password-stdin"]), Some(PW));
    let bob: Value = serde_json::from_str(&ok(cli(&["users", "add", &pool, "bob"]), None)).unwrap();
    let bob_password = bob["TemporaryPassword"].as_str().unwrap().to_string();

    let password = PW.trim_end();
    let auth = |user: &str, pw: &str, hash: Option<String>| {
        let mut params = serde_json::json!({ "USERNAME": user, "PASSWORD": pw });
        if let Some(h) = hash {
            params["SECRET_HASH"] = h.into();
        }
        serde_json::json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client, "AuthParameters": params })
    };
    let hash = |user: &str| Some(tokenbridge_core::userpool::secret_hash(&secret, user, &client));

    let (status, body) = cognito(&base, "InitiateAuth", auth("alice", password, hash("alice"))).await;
    assert_eq!(status, 200, "{body}\n{}", server.stderr());
    let id_token = body["AuthenticationResult"]["IdToken"].as_str().expect("IdToken");
    let claims = jwt_claims(id_token);
    assert_eq!(claims["iss"], format!("{base}/{pool}"));
    assert_eq!((claims["aud"].as_str(), claims["token_use"].as_str()), (Some(client.as_str()), Some("id")));
    assert_eq!(
        (claims["cognito:username"].as_str(), claims["email"].as_str()),
        (Some("alice"), Some("alice@example.com"))
    );

    // The client's secret is enforced, and the password checked.
    let (status, body) = cognito(&base, "InitiateAuth", auth("alice", password, None)).await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("NotAuthorizedException")), "{body}");
    let (status, body) = cognito(&base, "InitiateAuth", auth("alice", "wrong password", hash("alice"))).await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("NotAuthorizedException")), "{body}");

    // The temporary password signs in only to a new-password challenge.
    let (status, body) = cognito(&base, "InitiateAuth", auth("bob", &bob_password, hash("bob"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ChallengeName"], "NEW_PASSWORD_REQUIRED", "{body}");
    assert!(body.get("AuthenticationResult").is_none(), "{body}");

    // Removed through the CLI: the server stops accepting the client.
    ok(cli(&["clients", "remove", &pool, &client]), None);
    let (status, body) = cognito(&base, "InitiateAuth", auth("alice", password, hash("alice"))).await;
    assert_eq!(status, 400, "{body}");
    drop(server);
}

/// `user-pools identity-providers`: an OIDC provider created, listed, shown (its secret as
/// Cognito describes it), refused twice in Cognito's words, deleted.
#[test]
fn identity_providers_from_the_command_line() {
    let t = tmp();
    let d = t.path();
    let pool = ok(pools_in(d, &["create", "--name", "federated"]), None).trim().to_string();
    let create = [
        "identity-providers",
        "create",
        pool.as_str(),
        "Okta",
        "--type",
        "OIDC",
        "--detail",
        "client_id=rp",
        "--detail",
        "client_secret=rp-secret",
        "--detail",
        "authorize_scopes=openid email",
        "--detail",
        "oidc_issuer=https://issuer.example.com",
        "--map",
        "email=email",
    ];
    let made: Value = serde_json::from_str(&ok(pools_in(d, &create), None)).unwrap();
    assert_eq!(made["ProviderType"], "OIDC");
    assert_eq!(made["AttributeMapping"]["email"], "email");
    let err = fails(pools_in(d, &create), None);
    assert!(err.starts_with("error: DuplicateProviderException:"), "{err}");
    let listed = json_lines(&ok(pools_in(d, &["identity-providers", "list", &pool]), None));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["ProviderName"], "Okta");
    let shown: Value =
        serde_json::from_str(&ok(pools_in(d, &["identity-providers", "show", &pool, "Okta"]), None)).unwrap();
    assert_eq!(shown["ProviderDetails"]["client_secret"], "rp-secret");

    // update: the details given laid over the current ones (the secret kept), the identifiers replaced.
    let update = [
        "identity-providers",
        "update",
        pool.as_str(),
        "Okta",
        "--detail",
        "attributes_request_method=POST",
        "--identifier",
        "okta.example.com",
    ];
    let updated: Value = serde_json::from_str(&ok(pools_in(d, &update), None)).unwrap();
    assert_eq!(updated["ProviderDetails"]["attributes_request_method"], "POST");
    assert_eq!(updated["ProviderDetails"]["client_secret"], "rp-secret");
    assert_eq!(updated["ProviderDetails"]["oidc_issuer"], "https://issuer.example.com");
    assert_eq!(updated["IdpIdentifiers"], serde_json::json!(["okta.example.com"]));
    assert_eq!(updated["AttributeMapping"]["email"], "email");
    let cleared: Value = serde_json::from_str(&ok(
        pools_in(d, &["identity-providers", "update", &pool, "Okta", "--no-identifiers", "--map", "name=name"]),
        None,
    ))
    .unwrap();
    assert_eq!(cleared["IdpIdentifiers"], serde_json::json!([]));
    assert_eq!(cleared["AttributeMapping"], serde_json::json!({ "name": "name" }));
    let err = fails(pools_in(d, &["identity-providers", "update", &pool, "Nobody", "--map", "email=email"]), None);
    assert!(err.starts_with("error: ResourceNotFoundException:"), "{err}");

    // link-provider / disable-provider: one federated identity to one native user.
    for user in ["alice", "bob"] {
        ok(pools_in(d, &["users", "add", &pool, user]), None);
    }
    let link =
        |user: &str| pools_in(d, &["link-provider", &pool, "--user", user, "--provider", "Okta", "--value", "sub-1"]);
    assert!(ok(link("alice"), None).contains("linked Okta (Cognito_Subject=sub-1) to alice"));
    let err = fails(link("bob"), None);
    assert!(err.starts_with("error: InvalidParameterException:") && err.contains("already linked"), "{err}");
    let disable = ["disable-provider", pool.as_str(), "--provider", "Okta", "--value", "sub-1"];
    assert!(ok(pools_in(d, &disable), None).contains("unlinked Okta"));
    ok(link("bob"), None);
    let err =
        fails(pools_in(d, &["link-provider", &pool, "--user", "bob", "--provider", "Nobody", "--value", "x"]), None);
    assert!(err.starts_with("error: ResourceNotFoundException:"), "{err}");

    ok(pools_in(d, &["identity-providers", "delete", &pool, "Okta"]), None);
    let err = fails(pools_in(d, &["identity-providers", "show", &pool, "Okta"]), None);
    assert!(err.starts_with("error: ResourceNotFoundException:"), "{err}");
}

/// `user-pools resource-servers`: created with its scopes, listed, shown, refused twice in
/// Cognito's words, deleted.
#[test]
fn resource_servers_from_the_command_line() {
    let t = tmp();
    let d = t.path();
    let pool = ok(pools_in(d, &["create", "--name", "apis"]), None).trim().to_string();
    let create = [
        "resource-servers",
        "create",
        pool.as_str(),
        "https://api.example.com",
        "--name",
        "orders",
        "--scope",
        "read=read orders",
        "--scope",
        "write=change orders",
    ];
    let made: Value = serde_json::from_str(&ok(pools_in(d, &create), None)).unwrap();
    assert_eq!(made["Identifier"], "https://api.example.com");
    let names: Vec<&str> =
        made["Scopes"].as_array().unwrap().iter().map(|s| s["ScopeName"].as_str().unwrap()).collect();
    assert_eq!(names, ["read", "write"]);
    assert_eq!(made["Scopes"][0]["ScopeDescription"], "read orders");
    let err = fails(pools_in(d, &create), None);
    assert!(err.starts_with("error: InvalidParameterException:") && err.contains("already exists"), "{err}");
    let listed = json_lines(&ok(pools_in(d, &["resource-servers", "list", &pool]), None));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["Name"], "orders");
    let shown: Value =
        serde_json::from_str(&ok(pools_in(d, &["resource-servers", "show", &pool, "https://api.example.com"]), None))
            .unwrap();
    assert_eq!(shown["UserPoolId"], pool.as_str());
    let err = fails(pools_in(d, &["resource-servers", "create", &pool, "x", "--name", "x", "--scope", "nodesc"]), None);
    assert!(err.contains("--scope \"nodesc\" is not KEY=VALUE"), "{err}");
    ok(pools_in(d, &["resource-servers", "delete", &pool, "https://api.example.com"]), None);
    let err = fails(pools_in(d, &["resource-servers", "show", &pool, "https://api.example.com"]), None);
    assert!(err.starts_with("error: ResourceNotFoundException:"), "{err}");
}
