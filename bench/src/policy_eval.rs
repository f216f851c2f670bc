//! `tokenbridge-bench policy`: IAM policy evaluations per second on this machine, with
//! tokenbridge's own evaluator (`tokenbridge_core::policy`), for a realistic role: one inline
//! policy of 10 statements with wildcards in actions and resources, a policy variable in a
//! resource (`arn:aws:s3:::app-data/${aws:username}/*`), two conditions (`StringEquals` on
//! `aws:username`, `IpAddress` on `aws:SourceIp`) and an explicit Deny, decided for the request
//! context the GraphQL door builds (eleven condition keys).
//!
//! Requests:
//! - `allow-s3`: `s3:GetObject` on the caller's own prefix: the policy variable and the
//!   `StringEquals` condition decide (statement 8 of 10; the Deny is checked too);
//! - `allow-ip`: `dynamodb:Query` on an index of an `app-*` table from an office address: the
//!   `IpAddress` condition decides (statement 9);
//! - `deny`: `appsync:GraphQL` on another API's field (the seed's mistake): no statement applies,
//!   so every one of the 10 is checked, and the request is denied implicitly.
//!
//! Each is measured with `evaluate` (the decision) and `explain` (the decision plus every
//! statement's sentence, what a denied GraphQL call records), and `parse` of this policy and of
//! the demo role's one-statement policy (the GraphQL door parses the role's policies on every
//! call), on 1..=N threads, each for a bounded time. A warm, in-process loop: the ceiling, not
//! what a request over HTTP gets.

use super::in_process::{measure, Measured};
use super::round;
use anyhow::{bail, Result};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;
use tokenbridge_core::policy::{evaluate, explain, Decision, Policy, PolicyRef, Request};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "ap-northeast-1";

/// The role's inline policy: 10 statements.
pub fn role_policy() -> String {
    let a = ACCOUNT;
    let r = REGION;
    json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "ReadOwnUser", "Effect": "Allow",
              "Action": ["cognito-idp:GetUser", "cognito-idp:ChangePassword", "cognito-idp:*UserAttributes"],
              "Resource": format!("arn:aws:cognito-idp:{r}:{a}:userpool/{r}_*") },
            { "Sid": "ListBuckets", "Effect": "Allow",
              "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Resource": "arn:aws:s3:::*" },
            { "Sid": "AppLogs", "Effect": "Allow",
              "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:Describe*"],
              "Resource": format!("arn:aws:logs:{r}:{a}:log-group:/app/*:*") },
            { "Sid": "Queues", "Effect": "Allow",
              "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueue*"],
              "Resource": format!("arn:aws:sqs:*:{a}:app-*") },
            { "Sid": "Parameters", "Effect": "Allow", "Action": "ssm:GetParameter*",
              "Resource": [format!("arn:aws:ssm:{r}:{a}:parameter/app/*"),
                           format!("arn:aws:ssm:{r}:{a}:parameter/shared/??-*")] },
            { "Sid": "Keys", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
              "Resource": format!("arn:aws:kms:{r}:{a}:key/*") },
            { "Sid": "AllowGraphQL", "Effect": "Allow", "Action": "appsync:GraphQL",
              "Resource": [format!("arn:aws:appsync:{r}:{a}:apis/abc/types/Query/fields/*"),
                           format!("arn:aws:appsync:{r}:{a}:apis/abc/types/Mutation/fields/add*")] },
            { "Sid": "OwnObjects", "Effect": "Allow",
              "Action": ["s3:GetObject*", "s3:PutObject", "s3:DeleteObject"],
              "Resource": "arn:aws:s3:::app-data/${aws:username}/*",
              "Condition": { "StringEquals": { "aws:username": ["alice", "bob", "carol", "dave"] } } },
            { "Sid": "TablesFromOffice", "Effect": "Allow",
              "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGet*"],
              "Resource": format!("arn:aws:dynamodb:{r}:{a}:table/app-*"),
              "Condition": { "IpAddress": { "aws:SourceIp": ["203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32"] } } },
            { "Sid": "DenyProdDeletes", "Effect": "Deny", "Action": ["s3:Delete*", "dynamodb:Delete*"],
              "Resource": ["arn:aws:s3:::prod-*", "arn:aws:dynamodb:*:*:table/prod-*"] },
        ]
    })
    .to_string()
}

/// The demo's authenticated role's one inline policy, as `tokenbridge demo` writes it: what the
/// GraphQL door parses on each call of the `graphql` bench.
fn demo_role_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Sid": "AllowGraphQL", "Effect": "Allow", "Action": "appsync:GraphQL",
                        "Resource": format!("arn:aws:appsync:{REGION}:{ACCOUNT}:apis/tbdemoapi/*") }]
    })
    .to_string()
}

/// The request context the GraphQL door builds for a role session (see `appsync.rs`).
fn request(action: &str, resource: &str) -> Request {
    let a = ACCOUNT;
    let role = format!("arn:aws:iam::{a}:role/AppRole");
    Request::new(action, resource)
        .with_context("aws:username", ["alice"])
        .with_context("aws:userid", ["AROAEXAMPLEROLEID:alice"])
        .with_context("aws:PrincipalArn", [role.as_str()])
        .with_context("aws:PrincipalAccount", [a])
        .with_context("aws:PrincipalType", ["AssumedRole"])
        .with_context("aws:FederatedProvider", ["cognito-identity.amazonaws.com"])
        .with_context("aws:TokenIssueTime", ["2026-11-30T12:00:00Z"])
        .with_context("cognito-identity.amazonaws.com:sub", ["ap-northeast-1:5f0c3b9e-3d4e-4c1a-9b7e-2f6a8d1c0e42"])
        .with_context("aws:SourceIp", ["203.0.113.7"])
        .with_context("aws:CurrentTime", ["2026-11-30T12:34:56Z"])
        .with_context("aws:EpochTime", ["1796128496"])
}

/// The three requests, with the decision each must get.
fn cases() -> Vec<(&'static str, Request, Decision)> {
    let (a, r) = (ACCOUNT, REGION);
    vec![
        (
            "allow-s3",
            request("s3:GetObject", "arn:aws:s3:::app-data/alice/reports/2026/q3-summary.csv"),
            Decision::Allow,
        ),
        (
            "allow-ip",
            request("dynamodb:Query", &format!("arn:aws:dynamodb:{r}:{a}:table/app-orders/index/by-date")),
            Decision::Allow,
        ),
        (
            "deny",
            request("appsync:GraphQL", &format!("arn:aws:appsync:{r}:{a}:apis/xyz/types/Query/fields/listItems")),
            Decision::ImplicitDeny,
        ),
    ]
}

pub fn run(seconds: u64, threads: usize, json_out: bool) -> Result<()> {
    let length = Duration::from_secs(seconds.clamp(1, 10));
    let text = role_policy();
    let policy = Policy::parse_identity(&text).map_err(|e| anyhow::anyhow!("the bench's role policy: {e}"))?;
    if policy.statements().len() != 10 {
        bail!("the bench's role policy has {} statements, not 10", policy.statements().len());
    }
    let refs = [PolicyRef::new("AppRole", &policy)];
    let demo = demo_role_policy();
    Policy::parse_identity(&demo).map_err(|e| anyhow::anyhow!("the demo role's policy: {e}"))?;
    let cases = cases();
    for (name, req, want) in &cases {
        let got = evaluate(&refs, None, req);
        if got.decision != *want {
            bail!("{name}: decided {:?}, expected {want:?}", got.decision);
        }
        let e = explain(&refs, None, req);
        if e.decision != *want || e.policies[0].statements.len() != 10 {
            bail!("{name}: explain disagrees: {}", e.summary);
        }
    }
    if !json_out {
        println!(
            "policy: 1 inline policy, 10 statements, {} bytes; {} s per figure; request context of {} keys",
            text.len(),
            length.as_secs(),
            cases[0].1.context.iter().count()
        );
        for (name, req, _) in &cases {
            println!("  {name:9} {} on {} → {}", req.action, req.resource, explain(&refs, None, req).summary);
        }
    }
    for t in 1..=threads.clamp(1, 64) {
        // 256 calls between looks at the clock: a call takes about a microsecond.
        let mut rows: Vec<(String, &str, Measured)> = Vec::new();
        for (name, req, _) in &cases {
            let m = measure(t, length, 256, || {
                black_box(evaluate(black_box(&refs), None, black_box(req)));
                true
            })?;
            rows.push((name.to_string(), "evaluate", m));
        }
        for (name, req, _) in &cases {
            let m = measure(t, length, 256, || {
                black_box(explain(black_box(&refs), None, black_box(req)));
                true
            })?;
            rows.push((name.to_string(), "explain", m));
        }
        let m = measure(t, length, 256, || {
            black_box(Policy::parse_identity(black_box(&text)).is_ok());
            true
        })?;
        rows.push(("policy".into(), "parse", m));
        let m = measure(t, length, 256, || {
            black_box(Policy::parse_identity(black_box(&demo)).is_ok());
            true
        })?;
        rows.push(("demo-role".into(), "parse", m));
        for (case, op, m) in rows {
            if json_out {
                let fields = json!({
                    "bench": "policy", "operation": op, "case": case,
                    "ns_per_call_per_thread": round(t as f64 * 1e9 / m.per_second, 1), "statements": 10,
                });
                println!("{}", m.json_line(t, fields));
            } else {
                println!(
                    "  {t} thread(s)  {op:8} {case:9} {:>12.0}/s  ({:>10.0}/s per thread, {:>7.1} ns each; other processes {} cores)",
                    m.per_second,
                    m.per_second / t as f64,
                    t as f64 * 1e9 / m.per_second,
                    m.other_cores_text()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_decides_as_intended() {
        let text = role_policy();
        let policy = Policy::parse_identity(&text).unwrap();
        assert_eq!(policy.statements().len(), 10);
        let refs = [PolicyRef::new("AppRole", &policy)];
        for (name, req, want) in cases() {
            let got = evaluate(&refs, None, &req);
            assert_eq!(got.decision, want, "{name}");
        }
        // The conditions decide: another user, or another address, is denied.
        let mut bob_elsewhere = cases().remove(0).1;
        bob_elsewhere.context.insert("aws:username", ["mallory"]);
        bob_elsewhere.resource = "arn:aws:s3:::app-data/mallory/x".into();
        assert_eq!(evaluate(&refs, None, &bob_elsewhere).decision, Decision::ImplicitDeny);
        let mut outside = cases().remove(1).1;
        outside.context.insert("aws:SourceIp", ["192.0.2.1"]);
        assert_eq!(evaluate(&refs, None, &outside).decision, Decision::ImplicitDeny);
        let prod = request("s3:DeleteObject", "arn:aws:s3:::prod-logs/x");
        assert_eq!(evaluate(&refs, None, &prod).decision, Decision::ExplicitDeny);
    }
}
