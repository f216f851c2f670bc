//! From JSON text to a compiled [`Policy`], refusing malformed documents with the position and
//! path of the fault.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::condition::Condition;
use super::json::{self, Kind, Member, Node, Pos};
use super::pattern::{compile_action, ArnPattern};
use super::{Effect, Policy, PolicyKind, PolicyVersion, PrincipalSpec, Statement};

/// Why a policy document was refused, and where: `line` and `column` (1-based, in characters)
/// in the text, and `path`, such as `Statement[1].Condition.StringEquals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyError {
    pub line: usize,
    pub column: usize,
    /// Empty when the fault is the document as a whole (or its JSON syntax).
    pub path: String,
    pub reason: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{} (line {}, column {})", self.reason, self.line, self.column)
        } else {
            write!(f, "{}: {} (line {}, column {})", self.path, self.reason, self.line, self.column)
        }
    }
}

impl std::error::Error for PolicyError {}

fn err<T>(pos: Pos, path: &str, reason: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError { line: pos.line, column: pos.column, path: path.to_string(), reason: reason.into() })
}

const STATEMENT_KEYS: [&str; 9] =
    ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

pub(super) fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
    let root = json::parse(text).map_err(|e| PolicyError {
        line: e.pos.line,
        column: e.pos.column,
        path: String::new(),
        reason: e.reason,
    })?;
    let Kind::Object(members) = &root.kind else {
        return err(root.pos, "", format!("a policy is a JSON object, not {}", root.kind.describe()));
    };
    let mut version = None;
    let mut id = None;
    let mut statement = None;
    for m in members {
        match m.key.as_str() {
            "Version" => version = Some(m),
            "Id" => id = Some(m),
            "Statement" => statement = Some(m),
            other => {
                return err(
                    m.key_pos,
                    other,
                    format!("unknown top-level key \"{other}\" (a policy has Version, Id and Statement)"),
                )
            }
        }
    }
    let version = match version {
        None => PolicyVersion::V2008_10_17,
        Some(m) => match &m.value.kind {
            Kind::Str(v) if v == "2012-10-17" => PolicyVersion::V2012_10_17,
            Kind::Str(v) if v == "2008-10-17" => PolicyVersion::V2008_10_17,
            Kind::Str(v) => {
                return err(m.value.pos, "Version", format!("invalid Version \"{v}\" (use \"2012-10-17\")"))
            }
            other => return err(m.value.pos, "Version", format!("Version is a string, not {}", other.describe())),
        },
    };
    let id = match id {
        None => None,
        Some(m) => match &m.value.kind {
            Kind::Str(s) => Some(s.clone()),
            other => return err(m.value.pos, "Id", format!("Id is a string, not {}", other.describe())),
        },
    };
    let Some(statement) = statement else {
        return err(root.pos, "", "missing Statement");
    };
    let nodes: Vec<(String, &Node)> = match &statement.value.kind {
        Kind::Object(_) => vec![("Statement".to_string(), &statement.value)],
        Kind::Array(items) if items.is_empty() => {
            return err(statement.value.pos, "Statement", "Statement has no statement");
        }
        Kind::Array(items) => items.iter().enumerate().map(|(i, n)| (format!("Statement[{i}]"), n)).collect(),
        other => {
            return err(
                statement.value.pos,
                "Statement",
                format!("Statement is an object or an array of objects, not {}", other.describe()),
            )
        }
    };
    let variables = version == PolicyVersion::V2012_10_17;
    let mut statements: Vec<Statement> = Vec::with_capacity(nodes.len());
    let mut sids: Vec<(String, String)> = Vec::new();
    for (path, node) in nodes {
        let st = parse_statement(node, &path, kind, variables)?;
        if let Some(sid) = &st.sid {
            if let Some((_, first)) = sids.iter().find(|(s, _)| s == sid) {
                let pos = member(node, "Sid").map(|m| m.value.pos).unwrap_or(node.pos);
                return err(pos, &format!("{path}.Sid"), format!("duplicate Sid \"{sid}\" (also in {first})"));
            }
            sids.push((sid.clone(), path.clone()));
        }
        statements.push(st);
    }
    Ok(Policy { source: text.to_string(), kind, version, id, statements })
}

fn member<'a>(node: &'a Node, key: &str) -> Option<&'a Member> {
    match &node.kind {
        Kind::Object(members) => members.iter().find(|m| m.key == key),
        _ => None,
    }
}

fn parse_statement(node: &Node, path: &str, kind: PolicyKind, variables: bool) -> Result<Statement, PolicyError> {
    let Kind::Object(members) = &node.kind else {
        return err(node.pos, path, format!("a statement is a JSON object, not {}", node.kind.describe()));
    };
    for m in members {
        if !STATEMENT_KEYS.contains(&m.key.as_str()) {
            let hint = STATEMENT_KEYS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(&m.key))
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_else(|| format!(" (a statement has {})", STATEMENT_KEYS.join(", ")));
            return err(
                m.key_pos,
                &format!("{path}.{}", m.key),
                format!("unknown key \"{}\" in a statement{hint}", m.key),
            );
        }
    }
    let get = |k: &str| members.iter().find(|m| m.key == k);
    let either = |a: &str, b: &str| -> Result<Option<(&Member, bool)>, PolicyError> {
        match (get(a), get(b)) {
            (Some(first), Some(second)) => {
                let key = |m: &Member| (m.key_pos.line, m.key_pos.column);
                let later = if key(second) > key(first) { second } else { first };
                err(later.key_pos, &format!("{path}.{}", later.key), format!("a statement has {a} or {b}, not both"))
            }
            (Some(m), None) => Ok(Some((m, false))),
            (None, Some(m)) => Ok(Some((m, true))),
            (None, None) => Ok(None),
        }
    };

    let sid = match get("Sid") {
        None => None,
        Some(m) => match &m.value.kind {
            Kind::Str(s) => Some(s.clone()),
            other => {
                return err(m.value.pos, &format!("{path}.Sid"), format!("Sid is a string, not {}", other.describe()))
            }
        },
    };

    let effect = match get("Effect") {
        None => return err(node.pos, path, "missing Effect"),
        Some(m) => match &m.value.kind {
            Kind::Str(s) if s == "Allow" => Effect::Allow,
            Kind::Str(s) if s == "Deny" => Effect::Deny,
            Kind::Str(s) => {
                return err(
                    m.value.pos,
                    &format!("{path}.Effect"),
                    format!("Effect is \"Allow\" or \"Deny\", not \"{s}\""),
                )
            }
            other => {
                return err(
                    m.value.pos,
                    &format!("{path}.Effect"),
                    format!("Effect is \"Allow\" or \"Deny\", not {}", other.describe()),
                )
            }
        },
    };

    let Some((action_member, not_action)) = either("Action", "NotAction")? else {
        return err(node.pos, path, "missing Action or NotAction");
    };
    let action_path = format!("{path}.{}", action_member.key);
    let mut actions = Vec::new();
    let mut action_text = Vec::new();
    for (text, pos, p) in strings(&action_member.value, &action_path)? {
        actions.push(compile_action(&text).or_else(|e| err(pos, &p, e))?);
        action_text.push(text);
    }

    let resource = either("Resource", "NotResource")?;
    let (resources, resource_text, not_resource) = match resource {
        None if kind == PolicyKind::Identity => return err(node.pos, path, "missing Resource or NotResource"),
        None => (None, Vec::new(), false),
        Some((m, not)) => {
            let rpath = format!("{path}.{}", m.key);
            let mut patterns = Vec::new();
            let mut texts = Vec::new();
            for (text, pos, p) in strings(&m.value, &rpath)? {
                patterns.push(ArnPattern::compile(&text, variables).or_else(|e| err(pos, &p, e))?);
                texts.push(text);
            }
            (Some(patterns), texts, not)
        }
    };

    let principal = match (either("Principal", "NotPrincipal")?, kind) {
        (Some((m, _)), PolicyKind::Identity) => {
            return err(
                m.key_pos,
                &format!("{path}.{}", m.key),
                format!("{} is not allowed in an identity policy (only in a trust policy)", m.key),
            )
        }
        (None, PolicyKind::Trust) => return err(node.pos, path, "missing Principal or NotPrincipal"),
        (None, PolicyKind::Identity) => None,
        (Some((m, negated)), PolicyKind::Trust) => {
            Some((parse_principal(&m.value, &format!("{path}.{}", m.key))?, negated))
        }
    };

    let conditions = match get("Condition") {
        None => Vec::new(),
        Some(m) => parse_conditions(&m.value, &format!("{path}.Condition"), variables)?,
    };

    Ok(Statement {
        sid,
        effect,
        principal,
        actions,
        action_text,
        not_action,
        resources,
        resource_text,
        not_resource,
        conditions,
    })
}

/// A string or a non-empty array of strings, each with its position and path.
fn strings(node: &Node, path: &str) -> Result<Vec<(String, Pos, String)>, PolicyError> {
    match &node.kind {
        Kind::Str(s) => Ok(vec![(s.clone(), node.pos, path.to_string())]),
        Kind::Array(items) if items.is_empty() => err(node.pos, path, "empty array"),
        Kind::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| match &n.kind {
                Kind::Str(s) => Ok((s.clone(), n.pos, format!("{path}[{i}]"))),
                other => err(n.pos, &format!("{path}[{i}]"), format!("expected a string, not {}", other.describe())),
            })
            .collect(),
        other => err(node.pos, path, format!("expected a string or an array of strings, not {}", other.describe())),
    }
}

fn parse_principal(node: &Node, path: &str) -> Result<PrincipalSpec, PolicyError> {
    let members = match &node.kind {
        Kind::Str(s) if s == "*" => return Ok(PrincipalSpec::Any),
        Kind::Object(members) => members,
        _ => {
            return err(
                node.pos,
                path,
                "a principal is \"*\" or an object such as {\"Federated\": \"cognito-identity.amazonaws.com\"}",
            )
        }
    };
    if members.is_empty() {
        return err(node.pos, path, "empty principal");
    }
    let (mut aws, mut federated, mut service, mut canonical_user) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for m in members {
        let p = format!("{path}.{}", m.key);
        let target = match m.key.as_str() {
            "AWS" => &mut aws,
            "Federated" => &mut federated,
            "Service" => &mut service,
            "CanonicalUser" => &mut canonical_user,
            other => {
                return err(
                    m.key_pos,
                    &p,
                    format!("unknown principal type \"{other}\" (AWS, Federated, Service or CanonicalUser)"),
                )
            }
        };
        for (text, pos, vp) in strings(&m.value, &p)? {
            if text.is_empty() {
                return err(pos, &vp, "empty principal");
            }
            if text != "*" && text.contains(['*', '?']) {
                return err(
                    pos,
                    &vp,
                    format!("wildcards are not allowed in a principal (\"{text}\"); use \"*\" alone"),
                );
            }
            target.push(text);
        }
    }
    if aws.iter().any(|a| a == "*") {
        return Ok(PrincipalSpec::Any);
    }
    Ok(PrincipalSpec::Some { aws, federated, service, canonical_user })
}

fn parse_conditions(node: &Node, path: &str, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let Kind::Object(operators) = &node.kind else {
        return err(node.pos, path, format!("Condition is an object, not {}", node.kind.describe()));
    };
    let mut out = Vec::new();
    for op in operators {
        let op_path = format!("{path}.{}", op.key);
        if let Err(e) = super::condition::parse_operator(&op.key) {
            return err(op.key_pos, &op_path, e);
        }
        let Kind::Object(keys) = &op.value.kind else {
            return err(
                op.value.pos,
                &op_path,
                format!("{} takes an object of condition keys, not {}", op.key, op.value.kind.describe()),
            );
        };
        // Keys are case-insensitive: two spellings of one key under one operator are one key twice.
        for (i, k) in keys.iter().enumerate() {
            if let Some(first) = keys[..i].iter().find(|f| f.key.eq_ignore_ascii_case(&k.key)) {
                return err(
                    k.key_pos,
                    &format!("{op_path}[\"{}\"]", k.key),
                    format!(
                        "condition key \"{}\" appears twice (as \"{}\"; keys are case-insensitive)",
                        k.key, first.key
                    ),
                );
            }
        }
        for k in keys {
            let key_path = format!("{op_path}[\"{}\"]", k.key);
            let values: Vec<(String, Pos)> = match &k.value.kind {
                Kind::Array(items) if items.is_empty() => return err(k.value.pos, &key_path, "empty array"),
                Kind::Array(items) => {
                    items.iter().map(|n| scalar(n, &key_path).map(|s| (s, n.pos))).collect::<Result<_, _>>()?
                }
                _ => vec![(scalar(&k.value, &key_path)?, k.value.pos)],
            };
            let positions: Vec<Pos> = values.iter().map(|(_, p)| *p).collect();
            let multi = matches!(k.value.kind, Kind::Array(_));
            let raw = values.into_iter().map(|(s, _)| s).collect();
            match Condition::compile(&op.key, &k.key, raw, variables) {
                Ok(c) => out.push(c),
                Err((Some(i), reason)) => {
                    let p = if multi { format!("{key_path}[{i}]") } else { key_path.clone() };
                    return err(positions[i], &p, reason);
                }
                Err((None, reason)) => return err(k.key_pos, &key_path, reason),
            }
        }
    }
    Ok(out)
}

/// A condition value: AWS takes strings, numbers and booleans alike, as text.
fn scalar(node: &Node, path: &str) -> Result<String, PolicyError> {
    match &node.kind {
        Kind::Str(s) => Ok(s.clone()),
        Kind::Number(n) => Ok(n.clone()),
        Kind::Bool(b) => Ok(b.to_string()),
        other => {
            err(node.pos, path, format!("a condition value is a string, number or boolean, not {}", other.describe()))
        }
    }
}
