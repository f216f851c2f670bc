//! The demo as `tokenbridge demo` builds it ([`crate::prepare`]), served on an
//! ephemeral port: its SAML IdP is in demo.json, its metadata reads, a demo user signs in through
//! an SP-initiated AuthnRequest to tokenbridge's own ACS, and the response it posts is accepted
//! by tokenbridge's SP side and, independently, by pysaml2 with xmlsec1
//! (`interop/saml/peer.py verify-response`; Python at `TOKENBRIDGE_TEST_PYTHON`, default
//! `<root>/.venv/bin/python`, which `scripts/test` makes).

use std::sync::Arc;

use serde_json::Value;
use tokenbridge_saml::testing::peer;
use tokenbridge_saml::{sp_entity_id, verify_response, AuthnRequest, Expectations, IdpMetadata};

const POOL: &str = crate::DEMO_POOL_ID;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// The hidden inputs of a page (`name`, `value`, as the demo provider writes them).
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    };
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").expect("a value");
            (unescape(name), unescape(rest.split('"').next().expect("a closing quote")))
        })
        .collect()
}

#[tokio::test]
async fn the_demo_saml_idp_signs_in_a_demo_user_and_pysaml2_accepts_its_response() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = tokenbridge_store::open(&dir.path().join("tokenbridge.db").display().to_string()).await.expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let demo = crate::prepare(&base, dir.path(), Arc::clone(&store), "RS256", None).await.expect("demo");
    tokio::spawn(tokenbridge_server::serve(listener, demo.app, std::future::pending()));

    // demo.json names the IdP; its metadata says the same and carries that certificate.
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("demo.json")).expect("demo.json")).unwrap();
    let saml = &info["saml_idp"];
    assert_eq!(saml["entity_id"], format!("{base}/demo-idp/saml"));
    assert_eq!(saml["metadata_url"], format!("{base}/demo-idp/saml/metadata"));
    assert_eq!(saml["sso_url"], format!("{base}/demo-idp/saml/sso"));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let metadata_xml =
        http.get(saml["metadata_url"].as_str().unwrap()).send().await.unwrap().text().await.expect("metadata");
    let metadata = IdpMetadata::parse(&metadata_xml).expect("the demo's IdP metadata parses");
    assert_eq!(metadata.entity_id, saml["entity_id"].as_str().unwrap());
    assert_eq!(metadata.sso_redirect(), saml["sso_url"].as_str());
    assert_eq!(metadata.signing_certificates[0].fingerprint(), saml["certificate_fingerprint"].as_str().unwrap());
    let kept = std::fs::read_to_string(dir.path().join("saml-idp/cert.pem")).expect("the kept certificate");
    assert_eq!(
        tokenbridge_saml::Certificate::from_pem(&kept).unwrap().fingerprint(),
        metadata.signing_certificates[0].fingerprint()
    );

    // SP-initiated, as the demo pool federating it would ask, for a seeded user.
    let user = &info["users"][0];
    let (username, password) =
        (user["upstream_username"].as_str().unwrap(), user["upstream_password"].as_str().unwrap());
    let sp = sp_entity_id(POOL);
    let acs = format!("{base}/saml2/idpresponse");
    let request = AuthnRequest::new(&sp, &acs, metadata.sso_redirect().unwrap(), now());
    let resp = http.get(request.redirect_url(Some("demo-relay"), None)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let mut form = hidden_fields(&resp.text().await.unwrap());
    assert!(form.iter().any(|(n, _)| n == "csrf_token"), "{form:?}");
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    let resp =
        http.post(format!("{base}/demo-idp/saml/login")).header("cookie", cookie).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{acs}\"")), "{page}");
    let fields = hidden_fields(&page);
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(field("RelayState").as_deref(), Some("demo-relay"));
    let response = field("SAMLResponse").expect("a SAMLResponse");

    // tokenbridge's SP side.
    let mut expect = Expectations::new(&metadata, &sp, &acs, now());
    expect.in_response_to = Some(&request.id);
    let got = verify_response(&response, &expect).unwrap_or_else(|r| panic!("refused: {r}"));
    assert_eq!(got.name_id, username);
    assert_eq!(got.attributes["email"], [user["email"].as_str().unwrap()]);
    assert_eq!(got.attributes["username"], [username]);

    // pysaml2, against the metadata as served.
    let work = dir.path();
    std::fs::write(work.join("idp.xml"), &metadata_xml).unwrap();
    std::fs::write(work.join("response.b64"), &response).unwrap();
    let path = |name: &str| work.join(name).display().to_string();
    let out = peer(&[
        "verify-response",
        "--response",
        &path("response.b64"),
        "--idp-metadata",
        &path("idp.xml"),
        "--sp-entity-id",
        &sp,
        "--acs-url",
        &acs,
        "--in-response-to",
        &request.id,
        "--want-assertions-signed",
        "--want-response-signed",
    ])
    .unwrap_or_else(|e| panic!("pysaml2 refused the demo IdP's response: {e}"));
    let read: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(read["issuer"], saml["entity_id"]);
    assert_eq!(read["name_id"], username);
    assert_eq!(read["name_id_format"], "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
    assert_eq!(read["in_response_to"], request.id.as_str());
    assert_eq!(read["audiences"], serde_json::json!([sp]));
    assert_eq!(read["response_signed"], true);
    assert_eq!(read["assertion_signed"], true);
    assert_eq!(read["attributes"]["email"], serde_json::json!([user["email"]]));
    assert_eq!(read["attributes"]["userId"], serde_json::json!(got.attributes["userId"]));

    // Another pending request: pysaml2 refuses it as we do.
    let refused = peer(&[
        "verify-response",
        "--response",
        &path("response.b64"),
        "--idp-metadata",
        &path("idp.xml"),
        "--sp-entity-id",
        &sp,
        "--acs-url",
        &acs,
        "--in-response-to",
        "_another-request",
    ]);
    assert!(refused.is_err(), "pysaml2 checks InResponseTo: {refused:?}");
}
