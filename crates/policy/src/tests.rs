//! Whole-policy tests: parsing and its errors, evaluation across policies, explanations, and
//! property-based tests of the evaluator.

use proptest::prelude::*;

use super::*;

const API: &str = "arn:aws:appsync:ap-northeast-1:123456789012:apis/xyz/types/Query/fields/listItems";

fn identity(text: &str) -> Policy {
    Policy::parse_identity(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn one(policy: &Policy, request: &Request) -> Decision {
    policy.evaluate(request).decision
}

fn parse_err(text: &str) -> PolicyError {
    Policy::parse_identity(text).expect_err("policy should be refused")
}

// ---- parsing ----------------------------------------------------------------------------------

#[test]
fn parses_the_usual_shapes() {
    let p = identity(
        r#"{"Version": "2012-10-17", "Id": "x", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}"#,
    );
    assert_eq!(p.version(), PolicyVersion::V2012_10_17);
    assert_eq!(p.id(), Some("x"));
    assert_eq!(p.kind(), PolicyKind::Identity);
    assert_eq!(p.statements().len(), 1);
    assert_eq!(p.statements()[0].effect(), Effect::Allow);
    let p = identity(
        r#"{"Version": "2008-10-17", "Statement": [
            {"Sid": "A", "Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": false}, "NumericLessThan": {"n": [1, 2.5]}}}]}"#,
    );
    assert_eq!(p.version(), PolicyVersion::V2008_10_17);
    assert_eq!(p.statements()[0].sid(), Some("A"));
    // Version may be left out (it is then 2008-10-17).
    let p = identity(r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#);
    assert_eq!(p.version(), PolicyVersion::V2008_10_17);
    assert!(p.source().contains("\"Effect\""));
}

#[test]
fn error_positions_and_reasons() {
    let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"},\n    {\n      \"Effect\": \"Allow\",\n      \"Action\": \"s3:*\",\n      \"Resource\": \"*\",\n      \"Condition\": {\"StringEqual\": {\"aws:username\": \"alice\"}}\n    }\n  ]\n}";
    let e = parse_err(text);
    assert_eq!((e.line, e.column), (9, 21));
    assert_eq!(e.path, "Statement[1].Condition.StringEqual");
    assert_eq!(e.reason, "unknown condition operator \"StringEqual\"");
    assert_eq!(
        e.to_string(),
        "Statement[1].Condition.StringEqual: unknown condition operator \"StringEqual\" (line 9, column 21)"
    );

    // (document, the text the error must point at (its first occurrence, or the n-th with `#n`
    // appended), path, reason)
    let cases: &[(&str, &str, &str, &str)] = &[
        // JSON syntax
        ("{\"Statement\": [}", "}", "", "not valid JSON"),
        ("{\"Version\": \"2012-10-17\",\n \"Statment\": []}", "\"Statment\"", "Statment", "unknown top-level key \"Statment\""),
        ("{\"Version\": \"2012-10-17\"}", "{", "", "missing Statement"),
        ("{\"Version\": \"2012-10-18\", \"Statement\": []}", "\"2012-10-18\"", "Version", "invalid Version \"2012-10-18\""),
        ("{\"Version\": 2012, \"Statement\": []}", "2012", "Version", "Version is a string, not a number"),
        ("[]", "[", "", "a policy is a JSON object, not an array"),
        ("{\"Statement\": []}", "[", "Statement", "Statement has no statement"),
        ("{\"Statement\": \"x\"}", "\"x\"", "Statement", "Statement is an object or an array of objects"),
        ("{\"Statement\": [1]}", "1", "Statement[0]", "a statement is a JSON object, not a number"),
        (
            "{\"Statement\": [{\"Effect\": \"allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}]}",
            "\"allow\"",
            "Statement[0].Effect",
            "Effect is \"Allow\" or \"Deny\", not \"allow\"",
        ),
        ("{\"Statement\": [{\"Action\": \"s3:*\", \"Resource\": \"*\"}]}", "{#2", "Statement[0]", "missing Effect"),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\",\n \"NotAction\": \"s3:Get*\", \"Resource\": \"*\"}]}",
            "\"NotAction\"",
            "Statement[0].NotAction",
            "a statement has Action or NotAction, not both",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Resource\": \"*\"}]}",
            "{#2",
            "Statement[0]",
            "missing Action or NotAction",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": [\"s3:Get*\", \"s3*:Get\"], \"Resource\": \"*\"}]}",
            "\"s3*:Get\"",
            "Statement[0].Action[1]",
            "action `s3*:Get`: a wildcard is not allowed inside the service prefix",
        ),
        ("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": [], \"Resource\": \"*\"}]}", "[#2", "Statement[0].Action", "empty array"),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\"}]}",
            "{#2",
            "Statement[0]",
            "missing Resource or NotResource",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\", \"NotResource\": \"*\"}]}",
            "\"NotResource\"",
            "Statement[0].NotResource",
            "a statement has Resource or NotResource, not both",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"bucket/*\"}]}",
            "\"bucket/*\"",
            "Statement[0].Resource",
            "`bucket/*` is not an ARN",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\", \"Principal\": \"*\"}]}",
            "\"Principal\"",
            "Statement[0].Principal",
            "Principal is not allowed in an identity policy",
        ),
        (
            "{\"Statement\": [{\"effect\": \"Allow\"}]}",
            "\"effect\"",
            "Statement[0].effect",
            "unknown key \"effect\" in a statement (did you mean Effect?)",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\",\n  \"Condition\": {\"NumericLessThan\": {\"n\": [\"1\", \"x\"]}}}]}",
            "\"x\"",
            "Statement[0].Condition.NumericLessThan[\"n\"][1]",
            "NumericLessThan n: \"x\" is not a number",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\", \"Condition\": {\"StringEquals\": \"x\"}}]}",
            "\"x\"",
            "Statement[0].Condition.StringEquals",
            "StringEquals takes an object of condition keys, not a string",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\", \"Condition\": {\"StringEquals\": {\"a:b\": null}}}]}",
            "null",
            "Statement[0].Condition.StringEquals[\"a:b\"]",
            "a condition value is a string, number or boolean, not null",
        ),
        (
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\", \"Condition\": {\"StringEquals\": {\"a:b\": \"x\", \"A:B\": \"y\"}}}]}",
            "\"A:B\"",
            "Statement[0].Condition.StringEquals[\"A:B\"]",
            "condition key \"A:B\" appears twice",
        ),
        (
            "{\"Statement\": [{\"Sid\": \"S\", \"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"},\n{\"Sid\": \"S\", \"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}]}",
            "\"S\"#2",
            "Statement[1].Sid",
            "duplicate Sid \"S\" (also in Statement[0])",
        ),
        (
            "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"arn:aws:s3:::${aws:username\"}]}",
            "\"arn:",
            "Statement[0].Resource",
            "unclosed policy variable",
        ),
        ("{\"Statement\": [], \"Statement\": []}", "\"Statement\"#2", "", "duplicate key \"Statement\""),
    ];
    for (text, marker, path, reason) in cases {
        let e = parse_err(text);
        let (needle, nth) = match marker.rsplit_once('#') {
            Some((n, k)) => (n, k.parse::<usize>().unwrap()),
            None => (*marker, 1),
        };
        let offset = text.match_indices(needle).nth(nth - 1).unwrap_or_else(|| panic!("{marker} in {text}")).0;
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
        assert_eq!((e.line, e.column), (line, column), "position for {text}: {e}");
        assert_eq!(e.path, *path, "path for {text}: {e}");
        assert!(e.reason.starts_with(reason), "reason for {text}: {e}");
    }
}

#[test]
fn trust_policy_shape() {
    let ok = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity"}]}"#;
    assert!(Policy::parse_trust(ok).is_ok());
    let e = Policy::parse_trust(r#"{"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}"#).unwrap_err();
    assert_eq!(e.reason, "missing Principal or NotPrincipal");
    let e = Policy::parse_trust(
        r#"{"Statement": [{"Effect": "Allow", "Principal": {"Web": "x"}, "Action": "sts:AssumeRole"}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "Statement[0].Principal.Web");
    let e =
        Policy::parse_trust(r#"{"Statement": [{"Effect": "Allow", "Principal": "me", "Action": "sts:AssumeRole"}]}"#)
            .unwrap_err();
    assert!(e.reason.starts_with("a principal is \"*\" or an object"), "{e}");
    let e = Policy::parse_trust(
        r#"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/*"}, "Action": "sts:AssumeRole"}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "Statement[0].Principal.AWS");
}

// ---- evaluation -------------------------------------------------------------------------------

const ROLE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowGraphQL", "Effect": "Allow", "Action": "appsync:GraphQL",
     "Resource": "arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/*"},
    {"Sid": "ReadOwnPrefix", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
     "Resource": "arn:aws:s3:::docs/home/${aws:username}/*"},
    {"Sid": "DenyDelete", "Effect": "Deny", "Action": "s3:Delete*", "Resource": "*",
     "Condition": {"StringEquals": {"aws:username": "alice"}}}
  ]
}"#;

#[test]
fn allow_deny_and_implicit_deny() {
    let p = identity(ROLE);
    let alice = |action: &str, resource: &str| Request::new(action, resource).with_context("aws:username", ["alice"]);
    let abc = "arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/types/Query/fields/listItems";
    assert_eq!(one(&p, &alice("appsync:GraphQL", abc)), Decision::Allow);
    assert_eq!(one(&p, &alice("appsync:GraphQL", API)), Decision::ImplicitDeny);
    assert_eq!(one(&p, &alice("AppSync:graphql", abc)), Decision::Allow, "actions are case-insensitive");
    assert_eq!(one(&p, &alice("s3:GetObject", "arn:aws:s3:::docs/home/alice/a.txt")), Decision::Allow);
    assert_eq!(one(&p, &alice("s3:GetObject", "arn:aws:s3:::docs/home/bob/a.txt")), Decision::ImplicitDeny);
    assert_eq!(one(&p, &alice("s3:GetObject", "arn:aws:s3:::docs/home/Alice/a.txt")), Decision::ImplicitDeny);
    assert_eq!(one(&p, &alice("s3:DeleteObject", "arn:aws:s3:::docs/home/alice/a.txt")), Decision::ExplicitDeny);
    // Without aws:username the variable is unresolved: the resource does not match, and the
    // Deny's condition does not hold.
    let anon = Request::new("s3:GetObject", "arn:aws:s3:::docs/home//a.txt");
    assert_eq!(one(&p, &anon), Decision::ImplicitDeny);
    assert_eq!(one(&p, &Request::new("s3:DeleteObject", "arn:aws:s3:::x")), Decision::ImplicitDeny);
    // The evaluation names the deciding statement.
    let e = p.evaluate(&alice("s3:DeleteObject", "arn:aws:s3:::x"));
    assert_eq!(e.statement, Some(StatementId { scope: PolicyScope::Identity, policy: 0, statement: 2 }));
}

#[test]
fn deny_wins_across_policies() {
    let allow = identity(r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#);
    let deny = identity(r#"{"Statement": {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::secret/*"}}"#);
    let set = [PolicyRef::new("all", &allow), PolicyRef::new("no-secret", &deny)];
    let r = |res: &str| Request::new("s3:GetObject", res);
    assert_eq!(evaluate(&set, None, &r("arn:aws:s3:::public/x")).decision, Decision::Allow);
    let e = evaluate(&set, None, &r("arn:aws:s3:::secret/x"));
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.statement, Some(StatementId { scope: PolicyScope::Identity, policy: 1, statement: 0 }));
    // Order of policies does not matter.
    let reversed = [set[1], set[0]];
    assert_eq!(evaluate(&reversed, None, &r("arn:aws:s3:::secret/x")).decision, Decision::ExplicitDeny);
    // No policy at all: implicit deny.
    assert_eq!(evaluate(&[], None, &r("arn:aws:s3:::public/x")).decision, Decision::ImplicitDeny);
}

#[test]
fn session_policy_intersects() {
    let role = identity(r#"{"Statement": {"Effect": "Allow", "Action": ["s3:*", "appsync:*"], "Resource": "*"}}"#);
    let session =
        identity(r#"{"Statement": {"Effect": "Allow", "Action": ["s3:Get*", "dynamodb:*"], "Resource": "*"}}"#);
    let deny = identity(
        r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}]}"#,
    );
    let ids = [PolicyRef::new("role", &role)];
    let s = Some(PolicyRef::new("session", &session));
    let d = |a: &str, sess: Option<PolicyRef<'_>>| evaluate(&ids, sess, &Request::new(a, "arn:aws:s3:::b/k")).decision;
    assert_eq!(d("s3:GetObject", s), Decision::Allow, "both allow");
    assert_eq!(d("s3:PutObject", s), Decision::ImplicitDeny, "the role allows, the session does not");
    assert_eq!(d("dynamodb:GetItem", s), Decision::ImplicitDeny, "the session allows, the role does not");
    assert_eq!(d("s3:PutObject", None), Decision::Allow, "no session policy: the role alone");
    // A Deny in the session policy is an explicit deny.
    let e = evaluate(&ids, Some(PolicyRef::new("s", &deny)), &Request::new("s3:GetObject", "arn:aws:s3:::b/k"));
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.statement, Some(StatementId { scope: PolicyScope::Session, policy: 0, statement: 1 }));
}

#[test]
fn not_action_and_not_resource() {
    let p = identity(
        r#"{"Statement": [
        {"Sid": "AllButIam", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Sid": "DenyOutsideBucket", "Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::mine", "arn:aws:s3:::mine/*"]}
    ]}"#,
    );
    let r = |a: &str, res: &str| one(&p, &Request::new(a, res));
    assert_eq!(r("s3:GetObject", "arn:aws:s3:::mine/k"), Decision::Allow);
    assert_eq!(r("s3:GetObject", "arn:aws:s3:::mine"), Decision::Allow);
    assert_eq!(r("s3:GetObject", "arn:aws:s3:::theirs/k"), Decision::ExplicitDeny);
    assert_eq!(r("iam:CreateUser", "arn:aws:iam::123456789012:user/x"), Decision::ImplicitDeny);
    assert_eq!(r("IAM:CreateUser", "arn:aws:iam::123456789012:user/x"), Decision::ImplicitDeny);
    assert_eq!(r("ec2:RunInstances", "arn:aws:ec2:r:1:instance/i"), Decision::Allow);
}

#[test]
fn not_resource_with_unresolved_variable_does_not_apply() {
    let p = identity(
        r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::private/${aws:username}/*"}]}"#,
    );
    let r = Request::new("s3:GetObject", "arn:aws:s3:::public/x");
    assert_eq!(one(&p, &r), Decision::ImplicitDeny);
    assert_eq!(one(&p, &r.clone().with_context("aws:username", ["bob"])), Decision::Allow);
    let mine = Request::new("s3:GetObject", "arn:aws:s3:::private/bob/x").with_context("aws:username", ["bob"]);
    assert_eq!(one(&p, &mine), Decision::ImplicitDeny);
}

#[test]
fn variables_only_in_version_2012() {
    let old = identity(
        r#"{"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}"}]}"#,
    );
    let r = Request::new("s3:GetObject", "arn:aws:s3:::b/alice").with_context("aws:username", ["alice"]);
    assert_eq!(one(&old, &r), Decision::ImplicitDeny);
    assert_eq!(one(&old, &Request::new("s3:GetObject", "arn:aws:s3:::b/${aws:username}")), Decision::Allow);
    let new = identity(&old.source().replace("2008-10-17", "2012-10-17"));
    assert_eq!(one(&new, &r), Decision::Allow);
}

#[test]
fn cognito_identity_variables_and_defaults() {
    let p = identity(
        r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::app/${cognito-identity.amazonaws.com:sub}/*"},
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:r:1:table/t",
         "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:userid}"]}}},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::team/${aws:PrincipalTag/team, 'none'}/*"}
    ]}"#,
    );
    let sub = "ap-northeast-1:1234-abcd";
    let r = Request::new("s3:PutObject", format!("arn:aws:s3:::app/{sub}/f"))
        .with_context("cognito-identity.amazonaws.com:sub", [sub]);
    assert_eq!(one(&p, &r), Decision::Allow);
    let q = Request::new("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/t")
        .with_context("aws:userid", ["AROA:alice"])
        .with_context("dynamodb:LeadingKeys", ["AROA:alice"]);
    assert_eq!(one(&p, &q), Decision::Allow);
    let q2 = q.clone().with_context("dynamodb:LeadingKeys", ["AROA:alice", "AROA:bob"]);
    assert_eq!(one(&p, &q2), Decision::ImplicitDeny);
    assert_eq!(one(&p, &Request::new("s3:GetObject", "arn:aws:s3:::team/none/f")), Decision::Allow);
    let tagged = Request::new("s3:GetObject", "arn:aws:s3:::team/red/f").with_context("aws:PrincipalTag/team", ["red"]);
    assert_eq!(one(&p, &tagged), Decision::Allow);
}

#[test]
fn condition_combinations() {
    // Several operators AND, several keys AND, several values OR.
    let p = identity(
        r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {
        "StringEquals": {"a:one": ["x", "y"], "a:two": "z"},
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}"#,
    );
    let base = Request::new("s3:GetObject", "arn:aws:s3:::b")
        .with_context("a:one", ["y"])
        .with_context("a:two", ["z"])
        .with_context("aws:SourceIp", ["10.1.2.3"]);
    assert_eq!(one(&p, &base), Decision::Allow);
    assert_eq!(one(&p, &base.clone().with_context("a:one", ["w"])), Decision::ImplicitDeny);
    assert_eq!(one(&p, &base.clone().with_context("A:TWO", ["q"])), Decision::ImplicitDeny);
    assert_eq!(one(&p, &base.clone().with_context("aws:sourceip", ["192.168.0.1"])), Decision::ImplicitDeny);
}

#[test]
fn trust_policy_principals() {
    let trust = Policy::parse_trust(
        r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "TrustCognito", "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
         "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "ap-northeast-1:pool"},
                       "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}},
        {"Sid": "TrustAccount", "Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"},
        {"Sid": "TrustLambda", "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": "sts:AssumeRole"},
        {"Sid": "NotThatUser", "Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::123456789012:role/ok"]}, "Action": "sts:TagSession"}
    ]}"#,
    )
    .unwrap();
    let role = "arn:aws:iam::123456789012:role/app";
    let web = |aud: &str, amr: &[&str]| {
        Request::new("sts:AssumeRoleWithWebIdentity", role)
            .with_principal(Principal::Federated("cognito-identity.amazonaws.com".into()))
            .with_context("cognito-identity.amazonaws.com:aud", [aud])
            .with_context("cognito-identity.amazonaws.com:amr", amr.iter().copied())
    };
    assert_eq!(one(&trust, &web("ap-northeast-1:pool", &["authenticated", "cognito-idp"])), Decision::Allow);
    assert_eq!(one(&trust, &web("ap-northeast-1:other", &["authenticated"])), Decision::ImplicitDeny);
    assert_eq!(one(&trust, &web("ap-northeast-1:pool", &["unauthenticated"])), Decision::ImplicitDeny);
    let google = web("ap-northeast-1:pool", &["authenticated"])
        .with_principal(Principal::Federated("accounts.google.com".into()));
    assert_eq!(one(&trust, &google), Decision::ImplicitDeny);
    let assume = |p: Principal| Request::new("sts:AssumeRole", role).with_principal(p);
    assert_eq!(one(&trust, &assume(Principal::Aws("arn:aws:iam::123456789012:user/alice".into()))), Decision::Allow);
    assert_eq!(
        one(&trust, &assume(Principal::Aws("arn:aws:iam::999999999999:user/alice".into()))),
        Decision::ImplicitDeny
    );
    assert_eq!(one(&trust, &assume(Principal::Service("lambda.amazonaws.com".into()))), Decision::Allow);
    assert_eq!(one(&trust, &assume(Principal::Service("ec2.amazonaws.com".into()))), Decision::ImplicitDeny);
    assert_eq!(one(&trust, &assume(Principal::Anonymous)), Decision::ImplicitDeny);
    let tag = |p: &str| Request::new("sts:TagSession", role).with_principal(Principal::Aws(p.into()));
    assert_eq!(one(&trust, &tag("arn:aws:iam::123456789012:role/other")), Decision::ExplicitDeny);
    assert_eq!(one(&trust, &tag("arn:aws:iam::123456789012:role/ok")), Decision::ImplicitDeny);

    let anyone = Policy::parse_trust(
        r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}}"#,
    )
    .unwrap();
    assert_eq!(one(&anyone, &assume(Principal::Anonymous)), Decision::Allow);
    let root = Policy::parse_trust(
        r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}}"#,
    )
    .unwrap();
    assert_eq!(one(&root, &assume(Principal::Aws("arn:aws:iam::123456789012:role/x".into()))), Decision::Allow);
}

#[test]
fn resource_case_and_segments() {
    let p = identity(
        r#"{"Statement": [{"Effect": "Allow", "Action": "appsync:GraphQL", "Resource": "arn:aws:appsync:*:123456789012:apis/xyz/*"}]}"#,
    );
    assert_eq!(one(&p, &Request::new("appsync:GraphQL", API)), Decision::Allow);
    assert_eq!(one(&p, &Request::new("appsync:GraphQL", API.replace("xyz", "XYZ"))), Decision::ImplicitDeny);
    // The region wildcard does not reach into the account.
    let other = "arn:aws:appsync:ap-northeast-1:999999999999:apis/xyz/types/Query/fields/listItems";
    assert_eq!(one(&p, &Request::new("appsync:GraphQL", other)), Decision::ImplicitDeny);
    assert_eq!(one(&p, &Request::new("appsync:GraphQL", "apis/xyz/x")), Decision::ImplicitDeny);
}

// ---- explanations -----------------------------------------------------------------------------

#[test]
fn explanation_of_the_wrong_resource() {
    let p = identity(ROLE);
    let r = Request::new("appsync:GraphQL", API).with_context("aws:username", ["alice"]);
    let x = explain(&[PolicyRef::new("graphql-access", &p)], None, &r);
    assert_eq!(x.decision, Decision::ImplicitDeny);
    let texts: Vec<&str> = x.policies[0].statements.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts[0],
        "statement \"AllowGraphQL\" matches action appsync:GraphQL but its Resource \
         arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/* does not match \
         arn:aws:appsync:ap-northeast-1:123456789012:apis/xyz/types/Query/fields/listItems"
    );
    assert_eq!(
        texts[1],
        "statement \"ReadOwnPrefix\" does not match action appsync:GraphQL: its Action is [s3:GetObject, s3:ListBucket]"
    );
    assert_eq!(
        texts[2],
        "statement \"DenyDelete\" (Deny) does not match action appsync:GraphQL: its Action is s3:Delete*"
    );
    assert_eq!(x.summary, format!("denied implicitly: no statement allows appsync:GraphQL on {API}"));
    let rendered = x.render();
    assert!(
        rendered.starts_with(&format!("request: appsync:GraphQL on {API}\npolicy \"graphql-access\":\n  statement"))
    );
    assert!(rendered.ends_with(&x.summary));
    assert_eq!(rendered.lines().count(), 6);
}

#[test]
fn explanation_of_an_explicit_deny() {
    let p = identity(ROLE);
    let r = Request::new("s3:DeleteObject", "arn:aws:s3:::docs/home/alice/a").with_context("aws:username", ["alice"]);
    let x = explain(&[PolicyRef::new("role-policy", &p)], None, &r);
    assert_eq!(x.decision, Decision::ExplicitDeny);
    let deny = &x.policies[0].statements[2];
    assert!(deny.applies);
    assert_eq!(
        deny.text,
        "statement \"DenyDelete\" (Deny) matches: action s3:DeleteObject, resource arn:aws:s3:::docs/home/alice/a, \
         condition StringEquals aws:username = \"alice\" holds"
    );
    assert_eq!(deny.conditions.len(), 1);
    assert!(deny.conditions[0].holds);
    assert_eq!(x.summary, "denied explicitly by statement \"DenyDelete\" of policy \"role-policy\"");
    // When the condition fails, the sentence says why.
    let bob = Request::new("s3:DeleteObject", "arn:aws:s3:::docs/home/bob/a").with_context("aws:username", ["bob"]);
    let x = explain(&[PolicyRef::new("role-policy", &p)], None, &bob);
    assert_eq!(
        x.policies[0].statements[2].text,
        "statement \"DenyDelete\" (Deny) matches action s3:DeleteObject and resource arn:aws:s3:::docs/home/bob/a \
         but condition StringEquals aws:username: value \"bob\" is not \"alice\""
    );
    assert_eq!(x.decision, Decision::ImplicitDeny);
}

#[test]
fn explanation_of_allow_with_session() {
    let role = identity(r#"{"Statement": [{"Sid": "S3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}"#);
    let session = identity(r#"{"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}"#);
    let ids = [PolicyRef::new("role", &role)];
    let get = Request::new("s3:GetObject", "arn:aws:s3:::b/k");
    let x = explain(&ids, Some(PolicyRef::new("sess", &session)), &get);
    assert_eq!(x.decision, Decision::Allow);
    assert_eq!(
        x.summary,
        "allowed by statement \"S3\" of policy \"role\", and the session policy allows it too (statement Statement[0] of session policy \"sess\")"
    );
    let put = Request::new("s3:PutObject", "arn:aws:s3:::b/k");
    let x = explain(&ids, Some(PolicyRef::new("sess", &session)), &put);
    assert_eq!(
        x.summary,
        "denied implicitly: statement \"S3\" of policy \"role\" allows s3:PutObject on arn:aws:s3:::b/k, but no statement of session policy \"sess\" does"
    );
    assert_eq!(x.policies[1].scope, PolicyScope::Session);
    assert_eq!(
        x.policies[1].statements[0].text,
        "statement Statement[0] does not match action s3:PutObject: its Action is s3:Get*"
    );
    assert!(x.render().contains("session policy \"sess\":\n"));
}

#[test]
fn explanation_sentences_for_other_elements() {
    let p = identity(
        r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "NotIam", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Sid": "NotMine", "Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::mine/*"},
        {"Sid": "Home", "Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::home/${aws:username}/*"}
    ]}"#,
    );
    let x = p.explain("p", &Request::new("iam:CreateUser", "arn:aws:s3:::mine/k"));
    let t: Vec<&str> = x.policies[0].statements.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(t[0], "statement \"NotIam\" does not apply to action iam:CreateUser: its NotAction iam:* matches it");
    assert_eq!(
        t[1],
        "statement \"NotMine\" (Deny) matches action iam:CreateUser but its NotResource arn:aws:s3:::mine/* matches arn:aws:s3:::mine/k"
    );
    assert_eq!(
        t[2],
        "statement \"Home\" matches action iam:CreateUser but its Resource arn:aws:s3:::home/${aws:username}/* does not match \
         arn:aws:s3:::mine/k (${aws:username} has no value in the request)"
    );
    let x = p.explain("p", &Request::new("s3:GetObject", "arn:aws:s3:::mine/k"));
    assert_eq!(
        x.policies[0].statements[0].text,
        "statement \"NotIam\" matches: action s3:GetObject (not in its NotAction), resource arn:aws:s3:::mine/k"
    );
    assert_eq!(x.summary, "allowed by statement \"NotIam\" of policy \"p\"");

    let trust = Policy::parse_trust(
        r#"{"Statement": [{"Sid": "Cognito", "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity"}]}"#,
    )
    .unwrap();
    let r = Request::new("sts:AssumeRoleWithWebIdentity", "arn:aws:iam::1:role/r")
        .with_principal(Principal::Federated("accounts.google.com".into()));
    let x = trust.explain("trust", &r);
    assert_eq!(
        x.policies[0].statements[0].text,
        "statement \"Cognito\" does not match principal Federated:accounts.google.com: its Principal is Federated:cognito-identity.amazonaws.com"
    );
    assert_eq!(
        x.summary,
        "denied implicitly: no statement allows sts:AssumeRoleWithWebIdentity on arn:aws:iam::1:role/r for principal Federated:accounts.google.com"
    );
    let ok = r.with_principal(Principal::Federated("cognito-identity.amazonaws.com".into()));
    let x = trust.explain("trust", &ok);
    assert_eq!(
        x.policies[0].statements[0].text,
        "statement \"Cognito\" matches: principal Federated:cognito-identity.amazonaws.com, action sts:AssumeRoleWithWebIdentity"
    );
}

#[test]
fn explanation_serializes() {
    let p = identity(ROLE);
    let r = Request::new("appsync:GraphQL", API).with_context("aws:username", ["alice"]);
    let x = explain(&[PolicyRef::new("graphql-access", &p)], None, &r);
    let json = serde_json::to_value(&x).unwrap();
    assert_eq!(json["decision"], "ImplicitDeny");
    assert_eq!(json["policies"][0]["scope"], "identity");
    assert_eq!(json["policies"][0]["statements"][0]["sid"], "AllowGraphQL");
    assert_eq!(json["policies"][0]["statements"][0]["applies"], false);
    let back: Explanation = serde_json::from_value(json).unwrap();
    assert_eq!(back, x);
    // Requests serialize too, with case-insensitive context keys.
    let text = serde_json::to_string(&r).unwrap();
    let back: Request = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
    let r2: Request = serde_json::from_str(
        r#"{"action": "s3:GetObject", "resource": "arn:aws:s3:::b", "context": {"AWS:UserName": ["x"]}}"#,
    )
    .unwrap();
    assert_eq!(r2.context.get("aws:username"), Some(&["x".to_string()][..]));
}

// ---- properties -------------------------------------------------------------------------------

const ACTIONS: [&str; 9] =
    ["*", "s3:*", "s3:Get*", "s3:GetObject", "s3:?etObject", "appsync:GraphQL", "appsync:*", "dynamodb:Get*", "*:Get*"];
const RESOURCES: [&str; 8] = [
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::bucket/a",
    "arn:aws:s3:::*",
    "arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/*",
    "arn:aws:appsync:*:123456789012:apis/*",
    "arn:aws:dynamodb:*:*:table/t?",
    "arn:aws:s3:::bucket/${aws:username}/*",
];
const CONDITIONS: [(&str, &str, &str); 8] = [
    ("StringEquals", "aws:username", "alice"),
    ("StringNotEquals", "aws:username", "bob"),
    ("StringLike", "s3:prefix", "home/*"),
    ("NumericLessThan", "n:count", "10"),
    ("Bool", "aws:SecureTransport", "true"),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8"),
    ("StringEqualsIfExists", "aws:username", "alice"),
    ("ForAnyValue:StringEquals", "tags", "red"),
];
const REQ_ACTIONS: [&str; 6] =
    ["s3:GetObject", "S3:getobject", "s3:PutObject", "appsync:GraphQL", "dynamodb:GetItem", "iam:CreateUser"];
const REQ_RESOURCES: [&str; 6] = [
    "arn:aws:s3:::bucket/a",
    "arn:aws:s3:::bucket/alice/x",
    "arn:aws:s3:::other/a",
    "arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/types/Query/fields/f",
    "arn:aws:dynamodb:us-east-1:123456789012:table/t1",
    "arn:aws:appsync:ap-northeast-1:999999999999:apis/abc/x",
];

#[derive(Debug, Clone)]
struct GenStatement {
    deny: bool,
    not_action: bool,
    actions: Vec<usize>,
    not_resource: bool,
    resources: Vec<usize>,
    conditions: Vec<usize>,
}

impl GenStatement {
    fn json(&self) -> String {
        let list = |idx: &[usize], pool: &[&str]| {
            format!("[{}]", idx.iter().map(|i| format!("\"{}\"", pool[*i])).collect::<Vec<_>>().join(", "))
        };
        let mut conds: Vec<(&str, Vec<String>)> = Vec::new();
        for &c in &self.conditions {
            let (op, key, value) = CONDITIONS[c];
            match conds.iter_mut().find(|(o, _)| *o == op) {
                Some((_, entries)) if !entries.iter().any(|e| e.starts_with(&format!("\"{key}\""))) => {
                    entries.push(format!("\"{key}\": \"{value}\""))
                }
                Some(_) => {}
                None => conds.push((op, vec![format!("\"{key}\": \"{value}\"")])),
            }
        }
        let condition =
            conds.iter().map(|(op, e)| format!("\"{op}\": {{{}}}", e.join(", "))).collect::<Vec<_>>().join(", ");
        format!(
            "{{\"Effect\": \"{}\", \"{}\": {}, \"{}\": {}, \"Condition\": {{{condition}}}}}",
            if self.deny { "Deny" } else { "Allow" },
            if self.not_action { "NotAction" } else { "Action" },
            list(&self.actions, &ACTIONS),
            if self.not_resource { "NotResource" } else { "Resource" },
            list(&self.resources, &RESOURCES),
        )
    }
}

fn policy_of(statements: &[GenStatement]) -> Policy {
    let body = statements.iter().map(GenStatement::json).collect::<Vec<_>>().join(",\n");
    identity(&format!("{{\"Version\": \"2012-10-17\", \"Statement\": [{body}]}}"))
}

fn gen_statement() -> impl Strategy<Value = GenStatement> {
    (
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..ACTIONS.len(), 1..3),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..RESOURCES.len(), 1..3),
        prop::collection::vec(0..CONDITIONS.len(), 0..3),
    )
        .prop_map(|(deny, not_action, actions, not_resource, resources, conditions)| GenStatement {
            deny,
            not_action,
            actions,
            not_resource,
            resources,
            conditions,
        })
}

fn gen_request() -> impl Strategy<Value = Request> {
    (
        0..REQ_ACTIONS.len(),
        0..REQ_RESOURCES.len(),
        prop::option::of(prop::sample::select(vec!["alice", "bob"])),
        prop::option::of(prop::sample::select(vec!["home/a", "tmp/b"])),
        prop::option::of(prop::sample::select(vec!["3", "30", "x"])),
        prop::option::of(prop::sample::select(vec!["true", "false"])),
        prop::option::of(prop::sample::select(vec!["10.1.1.1", "192.168.1.1", "2001:db8::1"])),
        prop::collection::vec(prop::sample::select(vec!["red", "blue"]), 0..3),
    )
        .prop_map(|(a, r, user, prefix, count, secure, ip, tags)| {
            let mut req = Request::new(REQ_ACTIONS[a], REQ_RESOURCES[r]);
            let pairs = [
                ("aws:username", user),
                ("s3:prefix", prefix),
                ("n:count", count),
                ("aws:SecureTransport", secure),
                ("aws:SourceIp", ip),
            ];
            for (k, v) in pairs {
                if let Some(v) = v {
                    req.context.insert(k, [v]);
                }
            }
            req.context.insert("tags", tags);
            req
        })
}

fn decide(statements: &[GenStatement], request: &Request) -> Decision {
    if statements.is_empty() {
        return evaluate(&[], None, request).decision;
    }
    one(&policy_of(statements), request)
}

proptest! {
    // No regression files: a failure prints its minimal input, which belongs in a unit test.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn adding_a_deny_never_allows(
        statements in prop::collection::vec(gen_statement(), 0..6),
        mut extra in gen_statement(),
        request in gen_request(),
    ) {
        let before = decide(&statements, &request);
        extra.deny = true;
        let mut more = statements.clone();
        more.push(extra);
        let after = decide(&more, &request);
        if before != Decision::Allow {
            prop_assert_ne!(after, Decision::Allow);
        }
        if before == Decision::ExplicitDeny {
            prop_assert_eq!(after, Decision::ExplicitDeny);
        }
    }

    #[test]
    fn allow_everything_allows_unless_denied(
        statements in prop::collection::vec(gen_statement(), 0..6),
        request in gen_request(),
    ) {
        let before = decide(&statements, &request);
        let all = GenStatement { deny: false, not_action: false, actions: vec![0], not_resource: false, resources: vec![0], conditions: vec![] };
        let mut more = statements.clone();
        more.insert(0, all);
        let after = decide(&more, &request);
        prop_assert_eq!(after == Decision::Allow, before != Decision::ExplicitDeny);
    }

    #[test]
    fn exact_allow_allows_unless_denied(
        statements in prop::collection::vec(gen_statement(), 0..6),
        request in gen_request(),
    ) {
        let before = decide(&statements, &request);
        let exact = identity(&format!(
            r#"{{"Statement": {{"Effect": "Allow", "Action": "{}", "Resource": "{}"}}}}"#,
            request.action, request.resource
        ));
        let base = (!statements.is_empty()).then(|| policy_of(&statements));
        let mut set: Vec<PolicyRef<'_>> = base.iter().map(|p| PolicyRef::new("gen", p)).collect();
        set.push(PolicyRef::new("exact", &exact));
        let after = evaluate(&set, None, &request).decision;
        prop_assert_eq!(after == Decision::Allow, before != Decision::ExplicitDeny);
    }

    #[test]
    fn order_of_statements_and_policies_does_not_matter(
        statements in prop::collection::vec(gen_statement(), 1..7),
        seed in any::<u64>(),
        split in 0usize..7,
        request in gen_request(),
    ) {
        let before = decide(&statements, &request);
        let mut shuffled = statements.clone();
        // A small deterministic shuffle from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(decide(&shuffled, &request), before);
        // Spread across two policies.
        let cut = split.min(shuffled.len());
        let (a, b) = shuffled.split_at(cut);
        let pa = if a.is_empty() { None } else { Some(policy_of(a)) };
        let pb = if b.is_empty() { None } else { Some(policy_of(b)) };
        let refs: Vec<PolicyRef<'_>> = pa.iter().chain(pb.iter()).map(|p| PolicyRef::new("p", p)).collect();
        prop_assert_eq!(evaluate(&refs, None, &request).decision, before);
    }

    #[test]
    fn session_policy_is_an_intersection(
        role in prop::collection::vec(gen_statement(), 1..5),
        session in prop::collection::vec(gen_statement(), 1..5),
        request in gen_request(),
    ) {
        let (rp, sp) = (policy_of(&role), policy_of(&session));
        let alone_role = one(&rp, &request);
        let alone_session = one(&sp, &request);
        let both = evaluate(&[PolicyRef::new("r", &rp)], Some(PolicyRef::new("s", &sp)), &request).decision;
        let expected = if alone_role == Decision::ExplicitDeny || alone_session == Decision::ExplicitDeny {
            Decision::ExplicitDeny
        } else if alone_role == Decision::Allow && alone_session == Decision::Allow {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        };
        prop_assert_eq!(both, expected);
    }

    #[test]
    fn explanation_agrees_with_evaluation(
        role in prop::collection::vec(gen_statement(), 1..5),
        session in prop::option::of(prop::collection::vec(gen_statement(), 1..4)),
        request in gen_request(),
    ) {
        let rp = policy_of(&role);
        let sp = session.as_ref().map(|s| policy_of(s));
        let ids = [PolicyRef::new("role", &rp)];
        let sref = sp.as_ref().map(|p| PolicyRef::new("session", p));
        let e = evaluate(&ids, sref, &request);
        let x = explain(&ids, sref, &request);
        prop_assert_eq!(x.decision, e.decision);
        prop_assert_eq!(x.statement, e.statement);
        prop_assert_eq!(x.policies.len(), 1 + usize::from(sp.is_some()));
        prop_assert_eq!(x.policies[0].statements.len(), role.len());
        if let Some(id) = e.statement {
            let p = &x.policies[if id.scope == PolicyScope::Session { 1 } else { 0 }];
            prop_assert!(p.statements[id.statement].applies);
        }
        for p in &x.policies {
            for s in &p.statements {
                prop_assert!(s.text.starts_with("statement "), "{}", s.text);
                // A statement's sentence says "matches:" exactly when it applies.
                prop_assert_eq!(s.text.contains(" matches: "), s.applies, "{}", s.text);
            }
        }
        let summary_ok = match e.decision {
            Decision::Allow => x.summary.starts_with("allowed by "),
            Decision::ExplicitDeny => x.summary.starts_with("denied explicitly by "),
            Decision::ImplicitDeny => x.summary.starts_with("denied implicitly: "),
        };
        prop_assert!(summary_ok, "{}", x.summary);
    }

    #[test]
    fn action_case_does_not_matter(
        statements in prop::collection::vec(gen_statement(), 1..6),
        request in gen_request(),
    ) {
        let upper = Request { action: request.action.to_uppercase(), ..request.clone() };
        let lower = Request { action: request.action.to_lowercase(), ..request.clone() };
        let d = decide(&statements, &request);
        prop_assert_eq!(decide(&statements, &upper), d);
        prop_assert_eq!(decide(&statements, &lower), d);
    }

    #[test]
    fn star_matches_every_action_and_resource(action in "[a-z0-9-]{1,12}:[A-Za-z0-9]{1,20}", resource in "\\PC{0,60}") {
        let p = identity(r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#);
        prop_assert_eq!(one(&p, &Request::new(action, resource)), Decision::Allow);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Policy::parse_identity(&text);
        let _ = Policy::parse_trust(&text);
    }

    #[test]
    fn parsing_mangled_policies_never_panics(cut in 0usize..400, insert in "[\\[\\]{}\",:*?$a-z ]{0,4}") {
        let mut text = ROLE.to_string();
        let at = cut.min(text.len());
        text.insert_str(at, &insert);
        if let Err(e) = Policy::parse_identity(&text) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }
}
