//! Policy decisions as AppSync and STS make them: a role's identity policies (with variables
//! and conditions) and a session policy against one request; parsing, which configuration and
//! the IAM API pay once per document; and the explanation a refusal's audit record carries.
//! `cargo bench -p tokenbridge-policy`.

use tokenbridge_microbench::Bench;
use tokenbridge_policy::{evaluate, explain, Policy, PolicyRef, Request};

const FIELDS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ReadItems", "Effect": "Allow", "Action": ["appsync:GraphQL"],
     "Resource": ["arn:aws:appsync:us-east-1:123456789012:apis/xyz/types/Query/fields/*",
                  "arn:aws:appsync:us-east-1:123456789012:apis/xyz/types/Mutation/fields/updateItem"]},
    {"Sid": "OwnFolder", "Effect": "Allow", "Action": "s3:*",
     "Resource": "arn:aws:s3:::bucket/home/${cognito-identity.amazonaws.com:sub}/*",
     "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:0b4e2c9a-example"},
                   "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}},
    {"Sid": "NoAdmin", "Effect": "Deny", "Action": "appsync:GraphQL",
     "Resource": "arn:aws:appsync:us-east-1:123456789012:apis/xyz/types/Mutation/fields/delete*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}, "IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}
  ]
}"#;

const SESSION: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "appsync:*", "Resource": "*"},
  {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}
]}"#;

fn main() {
    let bench = Bench::from_args();
    let fields = Policy::parse_identity(FIELDS).expect("benchmark policy");
    let session = Policy::parse_identity(SESSION).expect("benchmark session policy");
    let identity = [PolicyRef::new("fields", &fields)];
    let allowed =
        Request::new("appsync:GraphQL", "arn:aws:appsync:us-east-1:123456789012:apis/xyz/types/Query/fields/listItems")
            .with_context("aws:SecureTransport", ["true"])
            .with_context("aws:SourceIp", ["198.51.100.7"]);
    let own_object = Request::new("s3:GetObject", "arn:aws:s3:::bucket/home/us-east-1:5f1a/notes.txt")
        .with_context("cognito-identity.amazonaws.com:sub", ["us-east-1:5f1a"])
        .with_context("cognito-identity.amazonaws.com:aud", ["us-east-1:0b4e2c9a-example"])
        .with_context("cognito-identity.amazonaws.com:amr", ["authenticated", "cognito-idp.us-east-1.amazonaws.com"]);
    let denied = Request::new(
        "appsync:GraphQL",
        "arn:aws:appsync:us-east-1:123456789012:apis/xyz/types/Mutation/fields/deleteItem",
    );

    bench.run("parse identity policy (3 statements)", || Policy::parse_identity(FIELDS).expect("parses"));
    bench.run("evaluate: allowed field", || evaluate(&identity, None, &allowed));
    bench.run("evaluate: allowed field, with session policy", || {
        evaluate(&identity, Some(PolicyRef::new("session", &session)), &allowed)
    });
    bench.run("evaluate: variable and conditions", || evaluate(&identity, None, &own_object));
    bench.run("evaluate: implicit deny", || evaluate(&identity, None, &denied));
    bench.run("explain: implicit deny", || explain(&identity, None, &denied));
}
