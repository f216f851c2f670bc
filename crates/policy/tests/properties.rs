//! Properties of the policy language over generated documents: parsing never panics, whatever
//! the text or however policy-like the JSON; evaluating a parsed policy is deterministic, does
//! not depend on the order of the identity policies, agrees with `explain`, and is the same for
//! the policy parsed again from its own source.

use proptest::prelude::*;
use serde_json::{Map, Value};
use tokenbridge_policy::{evaluate, explain, Policy, PolicyRef, Principal, Request};

const ACTIONS: &[&str] = &["*", "s3:GetObject", "s3:Get*", "S3:?etObject", "appsync:GraphQL", "sts:*"];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::bucket/${aws:username}/*",
    "arn:aws:s3:::b/${key, 'default'}${*}",
    "arn:aws:appsync:*:123456789012:apis/*/types/Query/fields/?ist*",
    "arn:aws:iam::123456789012:role/r",
];
const REQUESTED: &[&str] = &[
    "arn:aws:s3:::bucket/alice/x",
    "arn:aws:s3:::bucket/a",
    "arn:aws:s3:::b/default*",
    "arn:aws:appsync:us-east-1:123456789012:apis/x/types/Query/fields/list",
    "arn:aws:iam::123456789012:role/r",
];
/// Condition values and other texts a document holds, some of them malformed.
const VALUES: &[&str] = &[
    "${unclosed",
    "10.0.0.0/8",
    "2001:db8::/32",
    "2026-01-01T00:00:00Z",
    "1700000000",
    "true",
    "QUJD",
    "cognito-identity.amazonaws.com",
    "2012-10-17",
    "2008-10-17",
    "Allow",
    "Deny",
];
const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotLike",
    "StringEqualsIgnoreCase",
    "ForAnyValue:StringLike",
    "ForAllValues:StringEqualsIfExists",
    "NumericLessThan",
    "DateGreaterThan",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "ArnNotEquals",
    "Null",
];
const ELEMENTS: &[&str] = &[
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
    "AWS",
    "Federated",
    "Service",
    "CanonicalUser",
];
const CONTEXT_KEYS: &[&str] =
    &["aws:username", "aws:SourceIp", "aws:CurrentTime", "cognito-identity.amazonaws.com:aud"];

/// One of the words of `lists`.
fn word(lists: &[&[&'static str]]) -> impl Strategy<Value = String> {
    prop::sample::select(lists.concat()).prop_map(str::to_string)
}

/// Strings a policy holds: actions, ARNs with wildcards and variables, condition values, junk.
fn policy_string() -> impl Strategy<Value = String> {
    prop_oneof![word(&[ACTIONS, RESOURCES, VALUES]), "[a-z0-9:/*?${}', .-]{0,24}", "\\PC{0,12}"]
}

/// Member names a policy holds: elements, condition operators and keys, principal types.
fn policy_key() -> impl Strategy<Value = String> {
    prop_oneof![word(&[ELEMENTS, OPERATORS, CONTEXT_KEYS]), "[A-Za-z:]{1,10}"]
}

fn policy_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        policy_string().prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((policy_key(), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn action() -> impl Strategy<Value = String> {
    prop_oneof![8 => word(&[ACTIONS]), 1 => policy_string()]
}

fn resource() -> impl Strategy<Value = String> {
    prop_oneof![8 => word(&[RESOURCES]), 1 => policy_string()]
}

fn condition_operator() -> impl Strategy<Value = String> {
    prop_oneof![8 => word(&[OPERATORS]), 1 => policy_key()]
}

/// A statement that is mostly well formed, so evaluation has something to do.
fn statement() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["Allow", "Deny"]),
        prop::sample::select(vec!["Action", "NotAction"]),
        prop::collection::vec(action(), 1..3),
        prop::sample::select(vec!["Resource", "NotResource"]),
        prop::collection::vec(resource(), 1..3),
        prop::option::of((condition_operator(), policy_key(), prop::collection::vec(policy_string(), 1..3))),
    )
        .prop_map(|(effect, action_key, actions, resource_key, resources, condition)| {
            let mut s = serde_json::json!({"Effect": effect, action_key: actions, resource_key: resources});
            if let Some((op, key, values)) = condition {
                s["Condition"] = serde_json::json!({ op: { key: values } });
            }
            s
        })
}

fn identity_policy() -> impl Strategy<Value = Option<Policy>> {
    (prop::sample::select(vec!["2012-10-17", "2008-10-17"]), prop::collection::vec(statement(), 1..4)).prop_map(
        |(version, statements)| {
            Policy::parse_identity(&serde_json::json!({"Version": version, "Statement": statements}).to_string()).ok()
        },
    )
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop_oneof![3 => action(), 1 => policy_string()],
        prop_oneof![3 => word(&[REQUESTED]), 1 => policy_string()],
        prop::collection::vec((policy_key(), prop::collection::vec(policy_string(), 0..3)), 0..4),
        prop::option::of(policy_string()),
    )
        .prop_map(|(action, resource, context, principal)| {
            let mut r = Request::new(action, resource);
            for (k, v) in context {
                r.context.insert(k, v);
            }
            if let Some(p) = principal {
                r = r.with_principal(Principal::Federated(p));
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parsing_text_never_panics(text in "\\PC{0,120}") {
        let _ = Policy::parse_identity(&text);
        let _ = Policy::parse_trust(&text);
    }

    #[test]
    fn parsing_policy_like_json_never_panics(doc in policy_json(), statements in prop::collection::vec(statement(), 0..3)) {
        for text in [doc.to_string(), serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()] {
            if let Ok(p) = Policy::parse_identity(&text) {
                prop_assert_eq!(p.source(), text.as_str());
            }
            let _ = Policy::parse_trust(&text);
        }
    }

    #[test]
    fn evaluation_is_deterministic_and_agrees_with_explain(
        a in identity_policy(),
        b in identity_policy(),
        session in identity_policy(),
        request in request(),
    ) {
        let owned: Vec<Policy> = [a, b].into_iter().flatten().collect();
        let identity: Vec<PolicyRef<'_>> = owned.iter().map(|p| PolicyRef::new("p", p)).collect();
        let session = session.as_ref().map(|p| PolicyRef::new("session", p));

        let first = evaluate(&identity, session, &request);
        prop_assert_eq!(evaluate(&identity, session, &request), first);
        let explained = explain(&identity, session, &request);
        prop_assert_eq!(explained.decision, first.decision);
        prop_assert_eq!(explained.statement, first.statement);

        // The order of the identity policies does not change the decision.
        let reversed: Vec<PolicyRef<'_>> = identity.iter().rev().copied().collect();
        prop_assert_eq!(evaluate(&reversed, session, &request).decision, first.decision);

        // A policy parsed again from its own source decides the same.
        let reparsed: Vec<Policy> = owned.iter().map(|p| Policy::parse_identity(p.source()).expect("parsed once")).collect();
        let again: Vec<PolicyRef<'_>> = reparsed.iter().map(|p| PolicyRef::new("p", p)).collect();
        prop_assert_eq!(evaluate(&again, session, &request), first);
    }
}
