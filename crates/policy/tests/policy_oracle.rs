//! The policy evaluator compared with an independent one, the `iam-rs` crate (pinned; a
//! dev-dependency only), on generated policies and requests.
//!
//! Examined disagreements. Each was reproduced, and `policy_examined_disagreements` below
//! asserts both sides of each; its class is kept out of the generated comparison.
//!
//! A. Where AWS documents the behaviour (the IAM User Guide's policy grammar, condition operator,
//!    policy variable and principal references):
//!  1. Wildcard in the service part of a Resource ARN (`arn:aws:s?:::b/*`, `arn:aws:*:*:*:*`).
//!     AWS: `*` and `?` may be used in any ARN segment. Oracle: a pattern with a wildcard in the
//!     service never matches. We: the segment is matched like the others (allowed).
//!  2. `ArnEquals` with a wildcard (`arn:aws:s3:::b/*`). AWS: ArnEquals and ArnLike both compare
//!     the six ARN parts separately, each with `*`/`?`. Oracle: exact string equality (no match).
//!     We: per-part wildcard match (match).
//!  3. `ArnLike` whose `*` would cross a `:` (`arn:aws:iam::*:role/x` against
//!     `arn:aws:iam::123:456:role/x`). AWS: each colon-separated part is matched on its own.
//!     Oracle: one wildcard match over the whole string (match). We: no match.
//!  4. A policy variable with no value in a Resource (`arn:aws:s3:::b/${aws:username}*`, no
//!     aws:username). AWS: an unresolvable variable makes the element not match. Oracle:
//!     substitutes an empty string (`arn:aws:s3:::b/*` then allows). We: no match.
//!  5. A policy variable in a String condition value (`"StringEquals": {"k:owner":
//!     "${aws:username}"}`). AWS: variables are supported in String and ARN condition values.
//!     Oracle: compares with the literal text `${aws:username}`. We: substitute.
//!  6. `"Version": "2008-10-17"` with `${aws:username}` in a Resource. AWS: variables are only
//!     substituted under 2012-10-17; before, `${...}` is literal text. Oracle: substitutes. We:
//!     literal.
//!  7. The `${*}` escape (`arn:aws:s3:::b/a${*}` against `arn:aws:s3:::b/a*`). AWS: `${*}` is a
//!     literal `*`. Oracle: a variable named `*`, resolved to an empty string. We: literal `*`.
//!  8. A date-only condition value (`"DateLessThan": {"aws:CurrentTime": "2026-01-01"}`). AWS:
//!     dates in any W3C ISO 8601 form or epoch seconds. Oracle: evaluation error (RFC 3339 or
//!     epoch only). We: midnight UTC of that day.
//!  9. `BinaryEquals` with values differing only in letter case (`QUE=` against `que=`). AWS:
//!     compares the base64-encoded binary values. Oracle: compares the texts case-insensitively
//!     (match). We: compare the decoded bytes (no match).
//! 10. `ForAnyValue:StringEqualsIfExists`. AWS: `IfExists` may end any operator name but Null.
//!     Oracle: refuses the policy (unknown operator). We: accept (missing key: holds).
//! 11. An account principal in a trust policy (`"AWS": "123456789012"` or
//!     `"arn:aws:iam::123456789012:root"`) and a role of that account. AWS: the account stands
//!     for every principal of the account (whose own policies then decide). Oracle: only the
//!     account's root matches. We: any principal of the account.
//! 12. A Federated principal that is a prefix of the request's provider (`"Federated":
//!     "cognito"` against `cognito-identity.amazonaws.com`). AWS: the provider is named exactly.
//!     Oracle: prefix match (allowed). We: exact (not allowed).
//! 13. An action with a wildcard inside the service prefix (`s3*:GetObject`). AWS's grammar:
//!     the service prefix is a name; we refuse the policy with its position. Oracle: accepts it
//!     and matches it as a pattern.
//! 14. A principal naming several types (`{"Federated": "cognito-identity.amazonaws.com",
//!     "Service": "lambda.amazonaws.com"}`). AWS: a Principal may list several principal types.
//!     Oracle: refuses the policy. We: any of them matches.
//!
//! B. Where AWS documents nothing and the two differ (our choice stated; also excluded):
//!  - A plain negated operator on a key with several request values (`"StringNotEquals":
//!    {"tags": "red"}` with tags red, blue): we take it as the negation of the positive
//!    operator (red matches, so it does not hold); the oracle holds when any value differs.
//!  - A set prefix on a non-string operator (`ForAllValues:NumericLessThan`): we accept and
//!    apply it to each value; the oracle refuses the policy.
//!  - A variable's value containing `*` (`${aws:username}` = `al*e`): we match it literally; the
//!    oracle substitutes first, making it a wildcard.
//!  - An IPv4-mapped IPv6 request address (`::ffff:10.0.0.1`) against an IPv4 block: we match
//!    it as the IPv4 address; the oracle does not.
//!  - `StringEqualsIgnoreCase` with non-ASCII letters (`ÉLODIE` against `élodie`): we fold
//!    Unicode case; the oracle only ASCII.
//!  - `Bool` with `"TRUE"`: we accept any letter case; the oracle refuses the value.
//!  - `NumericLessThan` with `"inf"`: we refuse the policy (not a number); the oracle accepts.
//!
//! Everything else the generator produces must agree: actions with `*`/`?` in any letter case,
//! Action/NotAction, Resource/NotResource ARN patterns with wildcards in every part but the
//! service, Allow/Deny mixes over several policies, String*, Numeric*, Date* (RFC 3339), Bool,
//! IpAddress/NotIpAddress, Null and ArnLike/ArnNotLike (wildcards in the resource part only)
//! conditions with one or several values, `...IfExists`, `ForAnyValue:`/`ForAllValues:` on a
//! multivalued key, missing keys, keys in any letter case, a resolvable `${aws:username}`, and
//! trust-policy principals (`*`, exact AWS ARNs, Federated, Service).

use iam_rs as oracle;
use tokenbridge_policy::{evaluate, Decision, Policy, PolicyKind, PolicyRef, Principal, Request};

const ACCOUNT_USER: &str = "arn:aws:iam::123456789012:user/alice";
/// Keys whose request values are booleans (the oracle types its context values).
const BOOL_KEYS: [&str; 2] = ["aws:SecureTransport", "aws:MultiFactorAuthPresent"];

fn ours(policies: &[&str], kind: PolicyKind, request: &Request) -> Decision {
    let parsed: Vec<Policy> =
        policies.iter().map(|p| Policy::parse(p, kind).unwrap_or_else(|e| panic!("ours refused {p}: {e}"))).collect();
    let refs: Vec<PolicyRef<'_>> = parsed.iter().map(|p| PolicyRef::new("p", p)).collect();
    evaluate(&refs, None, request).decision
}

fn oracle_principal(p: &Option<Principal>) -> oracle::Principal {
    use oracle::PrincipalId::String as Id;
    match p {
        None => oracle::Principal::Aws(Id(ACCOUNT_USER.into())),
        Some(Principal::Aws(a)) => oracle::Principal::Aws(Id(a.clone())),
        Some(Principal::Federated(f)) => oracle::Principal::Federated(Id(f.clone())),
        Some(Principal::Service(s)) => oracle::Principal::Service(Id(s.clone())),
        Some(Principal::CanonicalUser(c)) => oracle::Principal::CanonicalUser(Id(c.clone())),
        Some(Principal::Anonymous) => panic!("the oracle has no anonymous principal"),
    }
}

/// The oracle's decision, or its error.
fn theirs(policies: &[&str], kind: PolicyKind, request: &Request) -> Result<Decision, String> {
    let parsed: Vec<oracle::IAMPolicy> = policies
        .iter()
        .map(|p| oracle::IAMPolicy::from_json(p).map_err(|e| format!("oracle refused the policy: {e}")))
        .collect::<Result<_, _>>()?;
    let mut context = oracle::Context::new();
    for (key, values) in request.context.iter() {
        let original = BOOL_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key));
        let value = match (original, values) {
            (Some(_), [one]) => oracle::ContextValue::Boolean(one == "true"),
            (Some(_), many) => oracle::ContextValue::BooleanList(many.iter().map(|v| v == "true").collect()),
            (None, [one]) => oracle::ContextValue::String(one.clone()),
            (None, many) => oracle::ContextValue::StringList(many.to_vec()),
        };
        context.insert(key.to_string(), value);
    }
    let resource = oracle::Arn::parse(&request.resource).map_err(|e| format!("oracle refused the resource: {e}"))?;
    let req = oracle::IAMRequest::new_with_context(
        oracle_principal(&request.principal),
        request.action.clone(),
        resource,
        context,
    );
    let options = oracle::EvaluationOptions {
        // Trust policies have no Resource; the oracle would otherwise never match them.
        ignore_resource_constraints: kind == PolicyKind::Trust,
        ..oracle::EvaluationOptions::default()
    };
    let result = oracle::PolicyEvaluator::with_policies(parsed).with_options(options).evaluate(&req);
    match result.map_err(|e| format!("oracle error: {e}"))?.decision {
        oracle::Decision::Allow => Ok(Decision::Allow),
        oracle::Decision::Deny => Ok(Decision::ExplicitDeny),
        oracle::Decision::NotApplicable => Ok(Decision::ImplicitDeny),
    }
}

fn allow(action: &str, resource: &str, condition: &str) -> String {
    let condition = if condition.is_empty() { String::new() } else { format!(", \"Condition\": {condition}") };
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "{action}", "Resource": "{resource}"{condition}}}]}}"#
    )
}

fn trust(principal: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {principal}, "Action": "sts:AssumeRole"}}]}}"#
    )
}

fn check(
    name: &str,
    policy: &str,
    kind: PolicyKind,
    request: &Request,
    ours_want: Decision,
    theirs_got: Result<Decision, ()>,
) {
    let o = ours(&[policy], kind, request);
    assert_eq!(o, ours_want, "{name}: our decision");
    let t = theirs(&[policy], kind, request);
    match theirs_got {
        Ok(d) => {
            assert_eq!(t, Ok(d), "{name}: the oracle's decision");
            assert_ne!(o, d, "{name}: not a disagreement");
        }
        Err(()) => assert!(t.is_err(), "{name}: the oracle should refuse, got {t:?}"),
    }
}

#[test]
fn policy_examined_disagreements() {
    use Decision::{Allow, ImplicitDeny};
    use PolicyKind::{Identity, Trust};
    let get = |res: &str| Request::new("s3:GetObject", res);
    let any = "arn:aws:s3:::b/k";
    // A.1
    check(
        "service wildcard ?",
        &allow("s3:GetObject", "arn:aws:s?:::b/*", ""),
        Identity,
        &get(any),
        Allow,
        Ok(ImplicitDeny),
    );
    check(
        "service wildcard *",
        &allow("s3:GetObject", "arn:aws:*:*:*:*", ""),
        Identity,
        &get(any),
        Allow,
        Ok(ImplicitDeny),
    );
    // A.2
    let c = r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::b/*"}}"#;
    let r = get(any).with_context("aws:SourceArn", ["arn:aws:s3:::b/x"]);
    check("ArnEquals wildcard", &allow("s3:GetObject", "*", c), Identity, &r, Allow, Ok(ImplicitDeny));
    // A.3
    let c = r#"{"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:role/x"}}"#;
    let r = get(any).with_context("aws:SourceArn", ["arn:aws:iam::123:456:role/x"]);
    check("ArnLike across a colon", &allow("s3:GetObject", "*", c), Identity, &r, ImplicitDeny, Ok(Allow));
    // A.4
    check(
        "unresolved variable",
        &allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}*", ""),
        Identity,
        &get(any),
        ImplicitDeny,
        Ok(Allow),
    );
    // A.5
    let c = r#"{"StringEquals": {"k:owner": "${aws:username}"}}"#;
    let r = get(any).with_context("k:owner", ["alice"]).with_context("aws:username", ["alice"]);
    check("variable in a condition value", &allow("s3:GetObject", "*", c), Identity, &r, Allow, Ok(ImplicitDeny));
    // A.6
    let p = allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}", "").replace("2012-10-17", "2008-10-17");
    let r = get("arn:aws:s3:::b/alice").with_context("aws:username", ["alice"]);
    check("2008-10-17 has no variables", &p, Identity, &r, ImplicitDeny, Ok(Allow));
    // A.7
    check(
        "${*} escape",
        &allow("s3:GetObject", "arn:aws:s3:::b/a${*}", ""),
        Identity,
        &get("arn:aws:s3:::b/a*"),
        Allow,
        Ok(ImplicitDeny),
    );
    // A.8
    let c = r#"{"DateLessThan": {"aws:CurrentTime": "2026-01-01"}}"#;
    let r = get(any).with_context("aws:CurrentTime", ["2025-06-01T00:00:00Z"]);
    check("date-only value", &allow("s3:GetObject", "*", c), Identity, &r, Allow, Err(()));
    // A.9
    let c = r#"{"BinaryEquals": {"k:bin": "QUE="}}"#;
    let r = get(any).with_context("k:bin", ["que="]);
    check("BinaryEquals letter case", &allow("s3:GetObject", "*", c), Identity, &r, ImplicitDeny, Ok(Allow));
    // A.10
    let c = r#"{"ForAnyValue:StringEqualsIfExists": {"tags": "red"}}"#;
    check("set prefix with IfExists", &allow("s3:GetObject", "*", c), Identity, &get(any), Allow, Err(()));
    // A.11
    let role = "arn:aws:iam::123456789012:role/r";
    let by = |p: Principal| Request::new("sts:AssumeRole", role).with_principal(p);
    let same_account = by(Principal::Aws("arn:aws:iam::123456789012:role/x".into()));
    check("account id", &trust(r#"{"AWS": "123456789012"}"#), Trust, &same_account, Allow, Ok(ImplicitDeny));
    check(
        "account root",
        &trust(r#"{"AWS": "arn:aws:iam::123456789012:root"}"#),
        Trust,
        &same_account,
        Allow,
        Ok(ImplicitDeny),
    );
    // A.12
    let cognito = by(Principal::Federated("cognito-identity.amazonaws.com".into()));
    check("federated prefix", &trust(r#"{"Federated": "cognito"}"#), Trust, &cognito, ImplicitDeny, Ok(Allow));
    // A.13
    let p = allow("s3*:GetObject", "*", "");
    assert!(Policy::parse(&p, Identity).is_err(), "we refuse a wildcard inside the service prefix");
    assert_eq!(theirs(&[&p], Identity, &get(any)), Ok(Allow));
    // A.14
    let both = trust(r#"{"Federated": "cognito-identity.amazonaws.com", "Service": "lambda.amazonaws.com"}"#);
    check("several principal types", &both, Trust, &cognito, Allow, Err(()));

    // B
    let c = r#"{"StringNotEquals": {"tags": "red"}}"#;
    let r = get(any).with_context("tags", ["red", "blue"]);
    check("plain negated, several values", &allow("s3:GetObject", "*", c), Identity, &r, ImplicitDeny, Ok(Allow));
    let c = r#"{"ForAllValues:NumericLessThan": {"n:x": "10"}}"#;
    let r = get(any).with_context("n:x", ["1", "2"]);
    check("set prefix on Numeric", &allow("s3:GetObject", "*", c), Identity, &r, Allow, Err(()));
    let r = get("arn:aws:s3:::b/alXce").with_context("aws:username", ["al*e"]);
    check(
        "star in a variable's value",
        &allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}", ""),
        Identity,
        &r,
        ImplicitDeny,
        Ok(Allow),
    );
    let c = r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#;
    let r = get(any).with_context("aws:SourceIp", ["::ffff:10.0.0.1"]);
    check("IPv4-mapped address", &allow("s3:GetObject", "*", c), Identity, &r, Allow, Ok(ImplicitDeny));
    let c = r#"{"StringEqualsIgnoreCase": {"k:x": "ÉLODIE"}}"#;
    let r = get(any).with_context("k:x", ["élodie"]);
    check("Unicode case", &allow("s3:GetObject", "*", c), Identity, &r, Allow, Ok(ImplicitDeny));
    let c = r#"{"Bool": {"aws:SecureTransport": "TRUE"}}"#;
    let r = get(any).with_context("aws:SecureTransport", ["true"]);
    check("Bool letter case", &allow("s3:GetObject", "*", c), Identity, &r, Allow, Err(()));
    let p = allow("s3:GetObject", "*", r#"{"NumericLessThan": {"n:x": "inf"}}"#);
    assert!(Policy::parse(&p, Identity).is_err(), "we refuse a non-number");
    assert_eq!(theirs(&[&p], Identity, &get(any).with_context("n:x", ["1"])), Ok(Allow));
}

// ---- generated cases ---------------------------------------------------------------------------

/// xorshift64*: a small deterministic generator, so every run checks the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn some<'a>(&mut self, items: &[&'a str], max: usize) -> Vec<&'a str> {
        let n = 1 + self.below(max);
        (0..n).map(|_| self.pick(items)).collect()
    }
}

const ACTIONS: [&str; 12] = [
    "*",
    "s3:*",
    "s3:Get*",
    "s3:GetObject",
    "S3:getobject",
    "s3:?utObject",
    "appsync:GraphQL",
    "appsync:*",
    "dynamodb:*Item",
    "*:Get*",
    "s3:*Object",
    "iam:Create*",
];
const RESOURCE_PATTERNS: [&str; 12] = [
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::bucket/a?",
    "arn:aws:s3:::*",
    "arn:aws:s3:::bucket/${aws:username}/*",
    "arn:*:s3:::bucket/*",
    "arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/*",
    "arn:aws:appsync:*:123456789012:apis/*",
    "arn:aws:appsync:ap-northeast-1:*:apis/*/types/Query/*",
    "arn:aws:appsync:??-*:123456789012:apis/abc/types/*/fields/f?",
    "arn:aws:dynamodb:*:*:table/t?",
    "arn:aws:iam::123456789012:user/*",
];
const REQUEST_ACTIONS: [&str; 8] = [
    "s3:GetObject",
    "s3:PutObject",
    "S3:GETOBJECT",
    "appsync:GraphQL",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "iam:CreateUser",
    "sts:GetCallerIdentity",
];
const REQUEST_RESOURCES: [&str; 8] = [
    "arn:aws:s3:::bucket/a",
    "arn:aws:s3:::bucket/ab",
    "arn:aws:s3:::bucket/alice/notes.txt",
    "arn:aws:s3:::other/x",
    "arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/types/Query/fields/f1",
    "arn:aws:appsync:us-east-1:123456789012:apis/xyz/types/Mutation/fields/f",
    "arn:aws:dynamodb:us-east-1:123456789012:table/t1",
    "arn:aws:iam::123456789012:user/bob",
];

/// Condition templates: (operator, key, possible values, how many values at most).
/// Negated operators without a set prefix only use single-valued keys (class B.1).
const CONDITIONS: [(&str, &str, &[&str], usize); 40] = [
    ("StringEquals", "aws:username", &["alice", "bob"], 2),
    ("StringEquals", "AWS:UserName", &["alice"], 1),
    ("StringNotEquals", "aws:username", &["alice", "bob", "carol"], 2),
    ("StringEqualsIgnoreCase", "aws:username", &["ALICE", "Bob"], 2),
    ("StringNotEqualsIgnoreCase", "aws:username", &["ALICE", "carol"], 2),
    ("StringLike", "s3:prefix", &["home/*", "home/?/*", "tmp/*", "*z"], 2),
    ("StringNotLike", "s3:prefix", &["home/*", "tmp/*"], 2),
    ("StringEqualsIfExists", "s3:prefix", &["home/a", "tmp/z"], 2),
    ("StringLikeIfExists", "s3:prefix", &["home/*"], 1),
    ("StringNotEqualsIfExists", "s3:prefix", &["home/a", "tmp/z"], 2),
    ("StringNotLikeIfExists", "s3:prefix", &["tmp/*"], 1),
    ("NumericEquals", "n:count", &["3", "30", "3.5"], 2),
    ("NumericNotEquals", "n:count", &["3", "30"], 2),
    ("NumericLessThan", "n:count", &["10", "3.5"], 1),
    ("NumericLessThanEquals", "n:count", &["3.5"], 1),
    ("NumericGreaterThan", "N:Count", &["3"], 1),
    ("NumericGreaterThanEquals", "n:count", &["3.5", "30"], 2),
    ("NumericLessThanIfExists", "n:count", &["10"], 1),
    ("DateLessThan", "aws:CurrentTime", &["2026-06-01T00:00:00Z"], 1),
    ("DateGreaterThanEquals", "aws:CurrentTime", &["2026-06-01T00:00:00Z", "2027-01-01T12:00:00Z"], 2),
    ("DateEquals", "aws:CurrentTime", &["2026-01-01T00:00:00Z"], 1),
    ("DateNotEquals", "aws:CurrentTime", &["2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"], 2),
    ("DateGreaterThanIfExists", "aws:CurrentTime", &["2026-03-01T00:00:00Z"], 1),
    ("Bool", "aws:SecureTransport", &["true", "false"], 1),
    ("BoolIfExists", "aws:SecureTransport", &["true"], 1),
    ("IpAddress", "aws:SourceIp", &["10.0.0.0/8", "2001:db8::/32", "192.168.1.1"], 2),
    ("NotIpAddress", "aws:SourceIp", &["10.0.0.0/8", "192.168.0.0/16"], 2),
    ("IpAddressIfExists", "aws:SourceIp", &["10.0.0.0/8"], 1),
    ("Null", "s3:prefix", &["true", "false"], 1),
    ("Null", "n:count", &["true", "false"], 1),
    ("ArnLike", "aws:SourceArn", &["arn:aws:s3:::bucket/*", "arn:aws:s3:::other/?"], 2),
    ("ArnNotLike", "aws:SourceArn", &["arn:aws:s3:::bucket/*"], 1),
    ("ForAnyValue:StringEquals", "tags", &["red", "green", "blue"], 2),
    ("ForAllValues:StringEquals", "tags", &["red", "blue"], 2),
    ("ForAnyValue:StringNotEquals", "tags", &["red", "green"], 2),
    ("ForAllValues:StringNotEquals", "tags", &["red", "green"], 2),
    ("ForAnyValue:StringLike", "tags", &["r*", "*e*"], 2),
    ("ForAllValues:StringNotLike", "tags", &["g*", "b?ue"], 2),
    ("ForAnyValue:StringEqualsIgnoreCase", "Tags", &["RED", "Green"], 2),
    ("StringEquals", "tags", &["red"], 1),
];

fn gen_statement(rng: &mut Rng, trust: bool) -> String {
    let mut parts = vec![format!("\"Effect\": \"{}\"", if rng.chance(30) { "Deny" } else { "Allow" })];
    let quoted = |v: Vec<&str>| format!("[{}]", v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", "));
    if trust {
        let principal = match rng.below(4) {
            0 => "\"*\"".to_string(),
            1 => format!(
                "{{\"Federated\": {}}}",
                quoted(rng.some(&["cognito-identity.amazonaws.com", "accounts.google.com"], 2))
            ),
            2 => format!(
                "{{\"AWS\": {}}}",
                quoted(rng.some(&["arn:aws:iam::123456789012:role/app", "arn:aws:iam::123456789012:user/alice"], 2))
            ),
            _ => format!("{{\"Service\": \"{}\"}}", rng.pick(&["lambda.amazonaws.com", "ec2.amazonaws.com"])),
        };
        let key = if rng.chance(15) { "NotPrincipal" } else { "Principal" };
        parts.push(format!("\"{key}\": {principal}"));
    }
    let key = if rng.chance(20) { "NotAction" } else { "Action" };
    parts.push(format!("\"{key}\": {}", quoted(rng.some(&ACTIONS, 3))));
    if !trust {
        let key = if rng.chance(20) { "NotResource" } else { "Resource" };
        parts.push(format!("\"{key}\": {}", quoted(rng.some(&RESOURCE_PATTERNS, 3))));
    }
    let mut by_operator: Vec<(&str, Vec<String>)> = Vec::new();
    for _ in 0..rng.below(4) {
        let (op, key, values, max) = CONDITIONS[rng.below(CONDITIONS.len())];
        let entry = format!("\"{key}\": {}", quoted(rng.some(values, max)));
        match by_operator.iter_mut().find(|(o, _)| *o == op) {
            Some((_, entries))
                if !entries.iter().any(|e| e.to_lowercase().starts_with(&format!("\"{}\"", key.to_lowercase()))) =>
            {
                entries.push(entry)
            }
            Some(_) => {}
            None => by_operator.push((op, vec![entry])),
        }
    }
    if !by_operator.is_empty() {
        let body =
            by_operator.iter().map(|(op, e)| format!("\"{op}\": {{{}}}", e.join(", "))).collect::<Vec<_>>().join(", ");
        parts.push(format!("\"Condition\": {{{body}}}"));
    }
    format!("{{{}}}", parts.join(", "))
}

fn gen_policy(rng: &mut Rng, trust: bool) -> String {
    let statements: Vec<String> = (0..1 + rng.below(4)).map(|_| gen_statement(rng, trust)).collect();
    format!("{{\"Version\": \"2012-10-17\", \"Statement\": [{}]}}", statements.join(", "))
}

fn gen_request(rng: &mut Rng, trust: bool) -> Request {
    let mut r = if trust {
        let principal = match rng.below(5) {
            0 => Principal::Federated("cognito-identity.amazonaws.com".into()),
            1 => Principal::Federated("accounts.google.com".into()),
            2 => Principal::Aws("arn:aws:iam::123456789012:role/app".into()),
            3 => Principal::Aws("arn:aws:iam::123456789012:user/bob".into()),
            _ => Principal::Service("lambda.amazonaws.com".into()),
        };
        let action = rng.pick(&["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:TagSession", "s3:GetObject"]);
        Request::new(action, "arn:aws:iam::123456789012:role/target").with_principal(principal)
    } else {
        Request::new(rng.pick(&REQUEST_ACTIONS), rng.pick(&REQUEST_RESOURCES))
    };
    // aws:username is always there: an unresolved variable is class A.4.
    r = r.with_context(if rng.chance(50) { "aws:username" } else { "AWS:USERNAME" }, [rng.pick(&["alice", "bob"])]);
    let optional: [(&str, &[&str]); 6] = [
        ("s3:prefix", &["home/a", "home/b/x", "tmp/z"]),
        ("n:count", &["3", "3.5", "30", "abc"]),
        ("aws:CurrentTime", &["2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2027-01-01T12:00:00Z"]),
        ("aws:SecureTransport", &["true", "false"]),
        ("aws:SourceIp", &["10.1.2.3", "192.168.1.1", "2001:db8::1", "2001:db9::1"]),
        ("aws:SourceArn", &["arn:aws:s3:::bucket/a", "arn:aws:s3:::other/b"]),
    ];
    for (key, values) in optional {
        if rng.chance(60) {
            r = r.with_context(key, [rng.pick(values)]);
        }
    }
    if rng.chance(70) {
        r = r.with_context("tags", rng.some(&["red", "blue", "green"], 3));
    }
    r
}

fn compare(seed: u64, cases: usize, trust: bool) {
    let mut rng = Rng(seed);
    let kind = if trust { PolicyKind::Trust } else { PolicyKind::Identity };
    let (mut allows, mut explicit, mut implicit) = (0, 0, 0);
    for case in 0..cases {
        let policies: Vec<String> = (0..1 + rng.below(3)).map(|_| gen_policy(&mut rng, trust)).collect();
        let texts: Vec<&str> = policies.iter().map(String::as_str).collect();
        let request = gen_request(&mut rng, trust);
        let o = ours(&texts, kind, &request);
        let t = theirs(&texts, kind, &request);
        assert_eq!(
            Ok(o),
            t,
            "case {case} (seed {seed}) disagrees\npolicies:\n{}\nrequest: {request:?}",
            policies.join("\n")
        );
        match o {
            Decision::Allow => allows += 1,
            Decision::ExplicitDeny => explicit += 1,
            Decision::ImplicitDeny => implicit += 1,
        }
    }
    // The generator must exercise every outcome, or the comparison proves little.
    let least = cases / 20;
    assert!(
        allows > least && explicit > least && implicit > least,
        "unbalanced outcomes: {allows} allowed, {explicit} denied explicitly, {implicit} implicitly"
    );
}

#[test]
fn policy_agrees_with_oracle_on_generated_identity_policies() {
    compare(0x7B5E_ED01, 4000, false);
}

#[test]
fn policy_agrees_with_oracle_on_generated_trust_policies() {
    compare(0x7B5E_ED02, 1500, true);
}
