//! Writes the seed corpora, `corpus/<target>/`, from the test vectors: the botocore SigV4
//! captures, tokens signed as the unit tests sign them (and their malformed variants), the
//! policy, filter, CEL and configuration examples the tests and `examples/` use, the SAML vectors. Also writes
//! `jwks.json`, the public keys of the freshly generated keys the token seeds are signed with
//! (the private keys are not kept). Run it again after changing a vector:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --bin seed_corpora

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tokenbridge_fuzz::{WireRequest, SAML_VECTORS, SIGV4_CAPTURES};
use tokenbridge_jose::{b64url, JwkSet, KeyAlgorithm, Signer};
use tokenbridge_policy::{Principal, Request};

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Seeds { root: root.join("corpus"), written: 0 };
    jws(&mut seeds, root)?;
    sigv4(&mut seeds)?;
    policies(&mut seeds)?;
    srp(&mut seeds)?;
    aws(&mut seeds)?;
    cel(&mut seeds)?;
    config(&mut seeds, root)?;
    saml(&mut seeds)?;
    println!("wrote {} seeds under {}", seeds.written, seeds.root.display());
    Ok(())
}

struct Seeds {
    root: PathBuf,
    written: usize,
}

impl Seeds {
    /// Replaces the target's seeds: a vector that was removed leaves no seed behind.
    fn clear(&self, target: &str) -> std::io::Result<()> {
        let dir = self.root.join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(dir)
    }

    fn write(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        self.written += 1;
        fs::write(self.root.join(target).join(name), bytes)
    }
}

fn with_nul(a: &str, b: &str) -> Vec<u8> {
    [a.as_bytes(), &[0], b.as_bytes()].concat()
}

fn jws(seeds: &mut Seeds, root: &Path) -> std::io::Result<()> {
    seeds.clear("jws")?;
    let claims = json!({
        "sub": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "iss": "https://idp.example.com/us-east-1_AbCdEf123",
        "aud": ["3n4b5urk1ft4fl3mg5e62d9ado"], "token_use": "id", "email": "alice@example.com",
        "email_verified": true, "cognito:groups": ["admins"], "iat": 1_793_862_245, "exp": 1_793_865_845,
    });
    let mut jwks = JwkSet::default();
    for alg in [KeyAlgorithm::RS256, KeyAlgorithm::ES256, KeyAlgorithm::EdDSA] {
        let (signer, _) = Signer::generate(alg, format!("seed-{}", alg.as_str())).expect("key generation");
        jwks.keys.push(signer.public_jwk());
        seeds.write("jws", &format!("signed-{}", alg.as_str()), signer.sign_jwt(&claims, "JWT"))?;
    }
    let jwks_text = serde_json::to_string_pretty(&jwks).expect("JWKS") + "\n";
    fs::write(root.join("jwks.json"), &jwks_text)?;
    seeds.write("jws", "jwks", &jwks_text)?;

    // The malformed shapes the unit tests refuse.
    let token = |h: &str, p: &str| format!("{}.{}.{}", b64url(h.as_bytes()), b64url(p.as_bytes()), b64url(b"sig"));
    let cases = [
        ("padded", format!("{}=", token(r#"{"alg":"RS256"}"#, r#"{"sub":"a"}"#))),
        ("repeated-member", token(r#"{"alg":"RS256","alg":"none"}"#, r#"{"sub":"a"}"#)),
        ("repeated-nested", token(r#"{"alg":"RS256"}"#, r#"{"a":[{"b":1,"b":2}]}"#)),
        ("crit", token(r#"{"alg":"RS256","crit":["b64"],"b64":false}"#, r#"{"sub":"a"}"#)),
        ("nested", token(r#"{"alg":"ES256","cty":"JWT"}"#, r#"{"sub":"a"}"#)),
        ("key-sources", token(r#"{"alg":"RS256","jku":"https://x","x5c":["a"],"kid":"k"}"#, r#"{"sub":"a"}"#)),
        ("alg-none", token(r#"{"alg":"none"}"#, r#"{"sub":"a","aud":"x","exp":1e300}"#)),
        ("jwe", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d".to_string()),
    ];
    for (name, text) in cases {
        seeds.write("jws", name, text)?;
    }
    Ok(())
}

fn sigv4(seeds: &mut Seeds) -> std::io::Result<()> {
    seeds.clear("sigv4")?;
    let doc: Value = serde_json::from_str(SIGV4_CAPTURES).expect("captures");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for case in doc["cases"].as_array().expect("cases") {
        let request = WireRequest {
            now: case["now"].as_i64().expect("now"),
            method: text(&case["method"]),
            path: text(&case["path"]),
            query: text(&case["query"]),
            headers: case["headers"].as_array().expect("headers").iter().map(|h| (text(&h[0]), text(&h[1]))).collect(),
            body: text(&case["body"]).into_bytes(),
        };
        seeds.write("sigv4", &format!("botocore-{}", text(&case["name"])), request.to_bytes())?;
    }
    Ok(())
}

/// Policies of the shapes the policy tests and the example configuration use.
const POLICIES: &[(&str, &str)] = &[
    ("usual", r#"{"Version": "2012-10-17", "Id": "x", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}"#),
    ("not-elements", r#"{"Version": "2008-10-17", "Statement": [{"Sid": "A", "Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:MultiFactorAuthPresent": false}, "NumericLessThan": {"n": [1, 2.5]}}}]}"#),
    ("variables", r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::bucket/${aws:username}/*", "arn:aws:s3:::b/${key, 'it''s'}${*}${?}${$}"], "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}}]}"#),
    ("appsync", r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "appsync:GraphQL", "Resource": "arn:aws:appsync:*:123456789012:apis/*/types/Query/fields/?ist*"}, {"Effect": "Deny", "Action": "appsync:GraphQL", "Resource": "arn:aws:appsync:*:*:apis/*/types/Mutation/fields/delete*"}]}"#),
    ("conditions", r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}, "DateLessThan": {"aws:CurrentTime": "2026-01-01"}, "BinaryEquals": {"k": "QUJD"}, "ForAnyValue:StringEqualsIfExists": {"tags": ["red", "blue"]}, "ArnLike": {"aws:SourceArn": "arn:aws:iam::*:role/x"}, "Null": {"aws:TokenIssueTime": "false"}}}]}"#),
    ("trust", r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com", "AWS": ["123456789012", "arn:aws:iam::123456789012:root"]}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:0b4e2c9a"}, "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}}]}"#),
    ("trust-anyone", r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}}"#),
    ("error-operator", "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\", \"Condition\": {\"StringEqual\": {\"aws:username\": \"alice\"}}}]\n}"),
    ("error-syntax", r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",, }]"#),
];

fn policies(seeds: &mut Seeds) -> std::io::Result<()> {
    seeds.clear("policy_parse")?;
    seeds.clear("policy_evaluate")?;
    let requests = [
        Request::new("s3:GetObject", "arn:aws:s3:::bucket/alice/x")
            .with_context("aws:username", ["alice"])
            .with_context("s3:prefix", ["home/alice/x"]),
        Request::new("appsync:GraphQL", "arn:aws:appsync:us-east-1:123456789012:apis/x/types/Query/fields/listItems")
            .with_context("aws:SourceIp", ["10.1.2.3"])
            .with_context("aws:CurrentTime", ["2025-06-01T00:00:00Z"])
            .with_context("tags", ["red", "green"]),
        Request::new("sts:AssumeRoleWithWebIdentity", "arn:aws:iam::123456789012:role/r")
            .with_principal(Principal::Federated("cognito-identity.amazonaws.com".into()))
            .with_context("cognito-identity.amazonaws.com:aud", ["us-east-1:0b4e2c9a"])
            .with_context("cognito-identity.amazonaws.com:amr", ["authenticated"]),
    ];
    for (i, (name, policy)) in POLICIES.iter().enumerate() {
        seeds.write("policy_parse", name, policy)?;
        let request = serde_json::to_string(&requests[i % requests.len()]).expect("request");
        seeds.write("policy_evaluate", name, with_nul(policy, &request))?;
    }
    Ok(())
}

fn srp(seeds: &mut Seeds) -> std::io::Result<()> {
    seeds.clear("srp")?;
    // The pycognito vector's secret block, timestamp and signature, under As of each kind.
    let answer = |a: &str| {
        format!(
            "{a}\ngxqGOSQf+QAzGPVDWVc+vjTW4XgOX2YRUe3EPkNOfMyS94plH7/rpHzk72F5OGlHB8VDMiE4GfNjKzGkhaxvFwD/IG9wYXF1ZQ==\n\
             Tue Nov 3 07:04:05 UTC 2026\nUQQOeDLL3cBaeJRDVqXtADcNRmC/8vlQGtAL9fu8104="
        )
    };
    seeds.write("srp", "a-full-length", answer(&"bca5582c41e2608b".repeat(48)))?;
    seeds.write("srp", "a-zero", answer("00"))?;
    seeds.write("srp", "a-short", answer("1"))?;
    seeds.write("srp", "a-malformed", answer("0x12"))?;
    seeds.write("srp", "timestamp-padded-day", answer("2").replace("Nov 3", "Nov  3"))?;
    Ok(())
}

fn aws(seeds: &mut Seeds) -> std::io::Result<()> {
    seeds.clear("aws_json")?;
    seeds.clear("aws_query")?;
    let bodies = [
        ("admin-get-user", json!({"UserPoolId": "us-east-1_EXAMPLE", "Username": "alice@example.com"})),
        (
            "initiate-auth",
            json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": "3n4b5urk1ft4fl3mg5e62d9ado", "AuthParameters": {"USERNAME": "alice", "SRP_A": "ab12"}, "ClientMetadata": null}),
        ),
        ("list-users-filter", json!({"UserPoolId": "us-east-1_EXAMPLE", "Filter": "email ^= \"al\"", "Limit": 10})),
        (
            "list-users-escapes",
            json!({"UserPoolId": "us-east-1_EXAMPLE", "Filter": "name = \"say \\\"hi\\\" \\\\ Zürich ☃\""}),
        ),
        (
            "lookup-events",
            json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "InitiateAuth"}], "MaxResults": 50}),
        ),
    ];
    for (name, body) in bodies {
        seeds.write("aws_json", name, body.to_string())?;
    }
    seeds.write("aws_json", "empty", "")?;
    let requests = [
        ("sts-get-caller-identity", "/\nAction=GetCallerIdentity&Version=2011-06-15"),
        ("sts-web-identity", "/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15\nRoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s&WebIdentityToken=eyJ.a.b"),
        ("iam-create-role", "/\nAction=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument=%7B%22Statement%22%3A%5B%5D%7D&Tags.member.1.Key=k&Tags.member.1.Value=v+w"),
        ("query-only", "/?Action=ListRoles&Version=2010-05-08&Marker=%ZZ"),
    ];
    for (name, request) in requests {
        seeds.write("aws_query", name, request)?;
    }
    Ok(())
}

fn cel(seeds: &mut Seeds) -> std::io::Result<()> {
    seeds.clear("cel_conditions")?;
    let claims = r#"{"email_verified": true, "organization_id": "00D5g", "preferred_username": "amy", "groups": ["a", "b"], "exp": 1793865845}"#;
    let cases = [
        ("condition", r#"assertion.email_verified == true && assertion.organization_id == "00D5g""#),
        ("mapping", "assertion.preferred_username"),
        (
            "macros",
            r#"assertion.groups.exists(g, g.startsWith("a")) && size(assertion.groups) < 3 && has(assertion.exp)"#,
        ),
        ("map-literal", r#"{"user": assertion.preferred_username, "n": assertion.exp + 1, "l": [1, 2.5, "x"]}"#),
        ("unknown-variable", "claims.email == 'x'"),
        ("syntax-error", "assertion.email =="),
    ];
    for (name, expression) in cases {
        seeds.write("cel_conditions", name, with_nul(expression, claims))?;
    }
    Ok(())
}

fn config(seeds: &mut Seeds, root: &Path) -> std::io::Result<()> {
    seeds.clear("config")?;
    let example = fs::read_to_string(root.join("../examples/tokenbridge.toml"))?;
    seeds.write("config", "example", example)?;
    seeds.write("config", "empty", "")?;
    seeds.write(
        "config",
        "small",
        "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"https://id.example.com\"\n\n\
         [[roles]]\nname = \"reader\"\ntrust_policy = '''{\"Statement\": {\"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \"sts:AssumeRole\"}}'''\n",
    )?;
    Ok(())
}

/// The SAML vectors' responses (base64, as posted to the ACS) and the refused shapes the SAML
/// tests build: declarations (XXE, billion laughs), a bare response, metadata.
fn saml(seeds: &mut Seeds) -> std::io::Result<()> {
    seeds.clear("saml_response")?;
    let doc: Value = serde_json::from_str(SAML_VECTORS).expect("saml_vectors.json");
    for case in doc["responses"].as_array().expect("responses") {
        let name = case["name"].as_str().expect("name");
        seeds.write("saml_response", &format!("vector-{name}"), case["response"].as_str().expect("response"))?;
    }
    let response = "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
                    xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_r\" Version=\"2.0\" \
                    Destination=\"https://auth.example.com/saml2/idpresponse\"><saml:Issuer>x</saml:Issuer>\
                    <samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>\
                    <saml:Assertion ID=\"_a\" Version=\"2.0\"><saml:Issuer>x</saml:Issuer></saml:Assertion></samlp:Response>";
    seeds.write("saml_response", "unsigned-xml", response)?;
    seeds.write(
        "saml_response",
        "xxe",
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&x;</samlp:Response>",
    )?;
    seeds.write(
        "saml_response",
        "billion-laughs",
        "<!DOCTYPE l [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]><r>&c;</r>",
    )?;
    seeds.write(
        "saml_response",
        "metadata",
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"urn:idp\">\
         <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
         <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://idp/sso\"/>\
         </md:IDPSSODescriptor></md:EntityDescriptor>",
    )?;
    Ok(())
}
