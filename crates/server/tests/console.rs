//! The web console on the demo: the page, its embedded assets and its public settings.

mod common;

use common::*;

const DEMO_POOL_ID: &str = "ap-northeast-1_TbDemoPool";

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn console_page_offers_the_three_login_methods() {
    let s = Server::demo().await;
    for path in ["/console", "/console/", "/console/index.html"] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(header(&r, "content-type").starts_with("text/html"), "{path}: {:?}", r.headers);
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        assert!(r.text.contains(r#"value="password""#), "{path}");
        assert!(r.text.contains(r#"value="custom-auth""#), "{path}");
        assert!(r.text.contains(r#"value="exchange""#), "{path}");
        assert!(r.text.contains("USER_PASSWORD_AUTH"));
        assert!(r.text.contains("/console/app.js") && r.text.contains("/console/app.css"));
    }
}

#[tokio::test]
async fn console_assets_have_their_content_types() {
    let s = Server::demo().await;
    let js = s.get("/console/app.js").await;
    assert_eq!(js.status, 200);
    assert!(header(&js, "content-type").starts_with("text/javascript"), "{:?}", js.headers);
    assert_eq!(header(&js, "cache-control"), "no-cache");
    for needle in ["USER_PASSWORD_AUTH", "REFRESH_TOKEN_AUTH", "GlobalSignOut", "/console/config.json"] {
        assert!(js.text.contains(needle), "app.js lacks {needle}");
    }
    let css = s.get("/console/app.css").await;
    assert_eq!(css.status, 200);
    assert!(header(&css, "content-type").starts_with("text/css"), "{:?}", css.headers);
    assert_eq!(header(&css, "cache-control"), "no-cache");
    assert_eq!(s.get("/console/nothing.js").await.status, 404);
}

#[tokio::test]
async fn console_config_names_the_issuer_and_the_demo_pool() {
    let s = Server::demo().await;
    let r = s.get("/console/config.json").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(header(&r, "content-type").starts_with("application/json"));
    let iss = r.json["issuer"].as_str().expect("issuer");
    assert_eq!(iss, s.engine.issuer);
    assert_eq!(r.json["jwks_uri"], format!("{iss}/.well-known/jwks.json"));
    assert_eq!(r.json["token_endpoint"], format!("{iss}/oauth2/token"));
    assert_eq!(r.json["user_pool"]["id"], DEMO_POOL_ID);
    // Its JWKS is served where config.json says.
    let jwks_uri = r.json["user_pool"]["jwks_uri"].as_str().expect("pool jwks_uri");
    let path = jwks_uri.strip_prefix(iss).expect("pool jwks on this server");
    let jwks = s.get(path).await;
    assert_eq!(jwks.status, 200, "{}", jwks.text);
    assert!(jwks.json["keys"].as_array().is_some_and(|k| !k.is_empty()));
}

#[test]
fn console_assets_reach_no_other_host() {
    let assets = [
        ("index.html", include_str!("../console/index.html")),
        ("app.js", include_str!("../console/app.js")),
        ("app.css", include_str!("../console/app.css")),
    ];
    for (name, text) in assets {
        for scheme in ["http://", "https://", "src=\"//", "href=\"//", "url(//", "fetch(\"//"] {
            assert!(!text.contains(scheme), "{name} names an absolute address ({scheme})");
        }
    }
}
