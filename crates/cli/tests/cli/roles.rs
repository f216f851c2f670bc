//! `roles` and `policy simulate`: IAM roles and their policies from the command line, checked
//! when written, and the policy evaluation answered before anything is deployed.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

fn roles_in(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = tb_in(dir, &["roles"]);
    c.args(args);
    c
}

/// Writes `text` to `dir/name` and returns the path as a string.
fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn trust_for(aud: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Principal": {{"Federated": "cognito-identity.amazonaws.com"}},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {{"StringEquals": {{"cognito-identity.amazonaws.com:aud": "{aud}"}}}}}}]}}"#
    )
}

/// The seed's policy: GraphQL calls on one API, `abc`.
const ALLOW_GRAPHQL: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "AllowGraphQL",
    "Effect": "Allow",
    "Action": "appsync:GraphQL",
    "Resource": "arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/*"
  }]
}"#;

/// A policy variable in a Resource: each user their own prefix.
const OWN_PREFIX: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "ReadOwnPrefix",
    "Effect": "Allow",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::docs/home/${aws:username}/*"
  }]
}"#;

/// `Effect` misspelt on line 3 of the document.
const MALFORMED: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "Oops", "Effect": "Permit", "Action": "s3:GetObject", "Resource": "*"}]
}"#;

/// The `MalformedPolicyDocument` error for [`MALFORMED`], with the position of `"Permit"`.
fn malformed_error() -> String {
    let column = MALFORMED.lines().nth(2).unwrap().find("\"Permit\"").unwrap() + 1;
    format!(
        "error: MalformedPolicyDocument: Statement[0].Effect: Effect is \"Allow\" or \"Deny\", not \"Permit\" \
         (line 3, column {column})"
    )
}

fn shown_role(d: &Path, name: &str) -> Value {
    serde_json::from_str(&ok(roles_in(d, &["show", name]), None)).unwrap()
}

fn role_policy_names(role: &Value) -> Vec<String> {
    role["RolePolicyList"].as_array().unwrap().iter().map(|p| p["PolicyName"].as_str().unwrap().to_string()).collect()
}

/// Roles through `roles`: put (create, then replace the trust policy and add policies), list,
/// show (documents decoded), delete-policy, delete (policies first); IAM's errors as
/// `error: <Code>: <message>`; a refused document changes nothing; every call audited.
#[test]
fn roles_lifecycle() {
    let t = tmp();
    let d = t.path();
    let trust = write_file(d, "trust.json", &trust_for("ap-northeast-1:11111111-1111-1111-1111-111111111111"));
    let trust2 = write_file(d, "trust2.json", &trust_for("ap-northeast-1:22222222-2222-2222-2222-222222222222"));
    let graphql = write_file(d, "graphql.json", ALLOW_GRAPHQL);
    let own = write_file(d, "own.json", OWN_PREFIX);
    let bad = write_file(d, "bad.json", MALFORMED);

    // Nothing to list before anything exists: a mistyped data directory is an error.
    let err = fails(roles_in(d, &["list"]), None);
    assert!(err.contains("no database"), "{err}");

    // put: creates the role with its policy; prints the ARN.
    let arn = ok(
        roles_in(d, &["put", "app", "--trust-policy", &trust, "--policy", &format!("AllowGraphQL={graphql}")]),
        None,
    );
    assert_eq!(arn.trim(), "arn:aws:iam::000000000000:role/app");
    let listed = json_lines(&ok(roles_in(d, &["list"]), None));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["RoleName"], "app");
    assert_eq!(listed[0]["Arn"], arn.trim());
    let trust_doc: Value =
        serde_json::from_str(&trust_for("ap-northeast-1:11111111-1111-1111-1111-111111111111")).unwrap();
    assert_eq!(listed[0]["AssumeRolePolicyDocument"], trust_doc, "decoded, not URL-encoded");
    assert!(listed[0].get("Description").is_none(), "absent members are left out: {}", listed[0]);
    let role = shown_role(d, "app");
    let role_id = role["RoleId"].as_str().unwrap().to_string();
    assert!(role_id.starts_with("AROA"), "{role}");
    assert_eq!(role["AssumeRolePolicyDocument"], trust_doc);
    assert_eq!(
        role["RolePolicyList"],
        serde_json::json!([{"PolicyName": "AllowGraphQL", "PolicyDocument": serde_json::from_str::<Value>(ALLOW_GRAPHQL).unwrap()}])
    );

    // put again: the trust policy replaced, a policy added, the others kept; same role.
    let again =
        ok(roles_in(d, &["put", "app", "--trust-policy", &trust2, "--policy", &format!("OwnPrefix={own}")]), None);
    assert_eq!(again, arn);
    let role = shown_role(d, "app");
    assert_eq!(role["RoleId"], role_id.as_str());
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
            ["cognito-identity.amazonaws.com:aud"],
        "ap-northeast-1:22222222-2222-2222-2222-222222222222"
    );
    assert_eq!(role_policy_names(&role), ["AllowGraphQL", "OwnPrefix"]);

    // A malformed document: its line and column, and nothing changes (not the trust policy
    // given with it, not the good policy given before it).
    let err = fails(
        roles_in(
            d,
            &[
                "put",
                "app",
                "--trust-policy",
                &trust,
                "--policy",
                &format!("Good={graphql}"),
                "--policy",
                &format!("Broken={bad}"),
            ],
        ),
        None,
    );
    assert_eq!(err.trim(), malformed_error());
    let unchanged = shown_role(d, "app");
    assert_eq!(unchanged, role, "a refused put changed the role");
    // A policy name IAM refuses, the same.
    let err = fails(
        roles_in(
            d,
            &[
                "put",
                "app",
                "--trust-policy",
                &trust,
                "--policy",
                &format!("Good={graphql}"),
                "--policy",
                &format!("no spaces={graphql}"),
            ],
        ),
        None,
    );
    assert!(err.starts_with("error: ValidationError: ") && err.contains("no spaces"), "{err}");
    assert_eq!(shown_role(d, "app"), role, "a refused put changed the role");
    // A malformed trust policy on an existing role.
    let err = fails(roles_in(d, &["put", "app", "--trust-policy", &graphql]), None);
    assert!(err.starts_with("error: MalformedPolicyDocument: ") && err.contains("(line "), "{err}");
    assert_eq!(shown_role(d, "app"), role);
    // A new role with a malformed policy is not left behind half-made.
    let err =
        fails(roles_in(d, &["put", "fresh", "--trust-policy", &trust, "--policy", &format!("Broken={bad}")]), None);
    assert_eq!(err.trim(), malformed_error());
    let err = fails(roles_in(d, &["show", "fresh"]), None);
    assert_eq!(err.trim(), "error: NoSuchEntity: The role with name fresh cannot be found.");
    // Nor one with a malformed trust policy, nor one IAM would not name so.
    let err = fails(roles_in(d, &["put", "fresh", "--trust-policy", &bad]), None);
    assert!(err.starts_with("error: MalformedPolicyDocument: Statement[0].Effect: "), "{err}");
    let err = fails(roles_in(d, &["put", "no spaces", "--trust-policy", &trust]), None);
    assert!(err.starts_with("error: ValidationError: "), "{err}");
    assert_eq!(json_lines(&ok(roles_in(d, &["list"]), None)).len(), 1);
    // Mistakes in the command itself.
    let err = fails(roles_in(d, &["put", "app", "--trust-policy", &trust, "--policy", &graphql]), None);
    assert!(err.contains("expected NAME=FILE"), "{err}");
    let err =
        fails(roles_in(d, &["put", "app", "--trust-policy", &d.join("missing.json").display().to_string()]), None);
    assert!(err.contains("cannot read") && err.contains("missing.json"), "{err}");
    let twice = format!("A={graphql}");
    let err =
        fails(roles_in(d, &["put", "app", "--trust-policy", &trust, "--policy", &twice, "--policy", &twice]), None);
    assert!(err.contains("given twice"), "{err}");
    assert_eq!(run(roles_in(d, &["put", "app"]), None).status.code(), Some(2), "--trust-policy is required");

    // delete-policy.
    assert_eq!(
        ok(roles_in(d, &["delete-policy", "app", "OwnPrefix"]), None).trim(),
        "deleted policy OwnPrefix of role app"
    );
    assert_eq!(role_policy_names(&shown_role(d, "app")), ["AllowGraphQL"]);
    let err = fails(roles_in(d, &["delete-policy", "app", "OwnPrefix"]), None);
    assert_eq!(err.trim(), "error: NoSuchEntity: The role policy with name OwnPrefix cannot be found.");

    // delete: the remaining policy goes first, then the role.
    assert_eq!(ok(roles_in(d, &["delete", "app"]), None).trim(), "deleted app");
    assert!(json_lines(&ok(roles_in(d, &["list"]), None)).is_empty());
    for args in [&["show", "app"][..], &["delete", "app"], &["delete-policy", "app", "AllowGraphQL"]] {
        let err = fails(roles_in(d, args), None);
        assert_eq!(err.trim(), "error: NoSuchEntity: The role with name app cannot be found.", "{args:?}");
    }

    // Audited as IAM's actions, from the CLI; refusals too.
    let records = lookup(d, &["--event-source", "iam.amazonaws.com", "--limit", "1000"]);
    assert!(records.iter().all(|r| r["userAgent"].as_str().is_some_and(|a| a.starts_with("tokenbridge-cli/"))));
    let succeeded = |name: &str| records.iter().any(|r| r["eventName"] == name && r["errorCode"].is_null());
    for name in [
        "CreateRole",
        "PutRolePolicy",
        "UpdateAssumeRolePolicy",
        "GetRole",
        "ListRoles",
        "GetRolePolicy",
        "ListRolePolicies",
        "DeleteRolePolicy",
        "DeleteRole",
    ] {
        assert!(succeeded(name), "no successful {name} in the audit trail");
    }
    assert!(
        records.iter().any(|r| r["eventName"] == "PutRolePolicy" && r["errorCode"] == "MalformedPolicyDocument"),
        "refusals are audited"
    );
}

/// Makes the role `web` with [`ALLOW_GRAPHQL`] and [`OWN_PREFIX`]; returns its ARN.
fn simulation_role(d: &Path) -> String {
    let trust = write_file(d, "trust.json", &trust_for("ap-northeast-1:11111111-1111-1111-1111-111111111111"));
    let graphql = write_file(d, "graphql.json", ALLOW_GRAPHQL);
    let own = write_file(d, "own.json", OWN_PREFIX);
    let args = [
        "put",
        "web",
        "--trust-policy",
        &trust,
        "--policy",
        &format!("AllowGraphQL={graphql}"),
        "--policy",
        &format!("OwnPrefix={own}"),
    ];
    ok(roles_in(d, &args), None).trim().to_string()
}

/// `policy simulate --role R --action A --resource ARN [--context K=V]... [--json]`.
fn simulate(d: &Path, role: &str, action: &str, resource: &str, extra: &[&str]) -> std::process::Output {
    let mut c = tb_in(d, &["policy", "simulate", "--role", role, "--action", action, "--resource", resource]);
    c.args(extra);
    run(c, None)
}

const API: &str = "arn:aws:appsync:ap-northeast-1:123456789012:apis";

/// `policy simulate`: the seed's question answered before deploying. Allowed for a field of the
/// API the statement names (exit 0, naming the statement); denied for another API (exit 1) with
/// the sentence that says its Resource does not match; policy variables from `--context`; JSON.
#[test]
fn policy_simulate_explains_allow_and_deny() {
    let t = tmp();
    let d = t.path();
    let arn = simulation_role(d);

    let o = simulate(d, &arn, "appsync:GraphQL", &format!("{API}/abc/types/Query/fields/listItems"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("allowed by statement \"AllowGraphQL\""), "{out}");
    assert!(out.contains(&format!("{arn} appsync:GraphQL on {API}/abc/types/Query/fields/listItems: ")), "{out}");
    // The role by name works as well as by ARN.
    let o = simulate(d, "web", "appsync:GraphQL", &format!("{API}/abc/types/Mutation/fields/addItem"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // The seed's mistake: the call goes to API xyz.
    let o = simulate(d, &arn, "appsync:GraphQL", &format!("{API}/xyz/types/Query/fields/listItems"), &[]);
    assert_eq!(o.status.code(), Some(1), "denied is exit code 1: {}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "statement \"AllowGraphQL\" matches action appsync:GraphQL but its Resource {API}/abc/* does not match \
             {API}/xyz/types/Query/fields/listItems"
        )),
        "{out}"
    );
    assert!(out.contains("denied implicitly"), "{out}");

    // ${aws:username} in a Resource, from --context.
    let own = |user: &str, extra: &[&str]| {
        simulate(d, &arn, "s3:GetObject", &format!("arn:aws:s3:::docs/home/{user}/notes.txt"), extra)
    };
    let o = own("alice", &["--context", "aws:username=alice"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("allowed by statement \"ReadOwnPrefix\""), "{}", stdout(&o));
    let o = own("bob", &["--context", "aws:username=alice"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("docs/home/${aws:username}/*"), "{}", stdout(&o));
    let o = own("alice", &[]);
    assert_eq!(o.status.code(), Some(1), "without the key the variable matches nothing: {}", stdout(&o));

    // --json: one document a script can read.
    let o = simulate(d, &arn, "appsync:GraphQL", &format!("{API}/xyz/types/Query/fields/listItems"), &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&o)));
    assert_eq!(v["allowed"], false);
    assert_eq!(v["role_arn"], arn.as_str());
    assert!(v["decision"].is_string(), "{v}");
    assert!(v["explanation"].as_str().unwrap().contains("its Resource"), "{v}");
    let o = own("alice", &["--context", "aws:username=alice", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["allowed"], true);

    // Errors: an unknown role, a context without `=`.
    let o = simulate(d, "nobody", "appsync:GraphQL", &format!("{API}/abc/x"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: NoSuchEntity: The role with name nobody cannot be found."),
        "{}",
        stderr(&o)
    );
    let o = simulate(d, &arn, "appsync:GraphQL", &format!("{API}/abc/x"), &["--context", "aws:username"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expected KEY=VALUE"), "{}", stderr(&o));
}
