//! `Condition` operators, compiled when the policy is parsed, and their evaluation with AWS's
//! rules:
//! - several values for one key are ORed; for a negated operator (`StringNotEquals`,
//!   `NotIpAddress`, ...) they are NORed: the condition holds when the request value matches none;
//! - a key missing from the request: false, but true for a negated operator, for `...IfExists`
//!   and for `ForAllValues:`; `ForAnyValue:` is false; `Null` tests presence;
//! - `ForAnyValue:` holds when at least one request value satisfies the operator, `ForAllValues:`
//!   when every one does. A plain operator on a key with several request values holds when any of
//!   them matches (negated: when none does);
//! - a request value that does not parse for the operator's type (a number, a date, an IP
//!   address, a boolean) matches no policy value;
//! - a policy variable with no value: that policy value matches nothing, and a negated condition
//!   using it does not hold.

use crate::date::parse_date;
use crate::ip::{parse_ip, Cidr};
use std::fmt::Write as _;

use base64::Engine as _;

use super::pattern::{resolve_text, tokenize, unresolved, ArnPattern, Glob, Match, Piece};
use super::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    Null,
}

const BASES: [(&str, Base); 27] = [
    ("StringEquals", Base::StringEquals),
    ("StringNotEquals", Base::StringNotEquals),
    ("StringEqualsIgnoreCase", Base::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Base::StringNotEqualsIgnoreCase),
    ("StringLike", Base::StringLike),
    ("StringNotLike", Base::StringNotLike),
    ("ArnEquals", Base::ArnEquals),
    ("ArnLike", Base::ArnLike),
    ("ArnNotEquals", Base::ArnNotEquals),
    ("ArnNotLike", Base::ArnNotLike),
    ("NumericEquals", Base::NumericEquals),
    ("NumericNotEquals", Base::NumericNotEquals),
    ("NumericLessThan", Base::NumericLessThan),
    ("NumericLessThanEquals", Base::NumericLessThanEquals),
    ("NumericGreaterThan", Base::NumericGreaterThan),
    ("NumericGreaterThanEquals", Base::NumericGreaterThanEquals),
    ("DateEquals", Base::DateEquals),
    ("DateNotEquals", Base::DateNotEquals),
    ("DateLessThan", Base::DateLessThan),
    ("DateLessThanEquals", Base::DateLessThanEquals),
    ("DateGreaterThan", Base::DateGreaterThan),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals),
    ("Bool", Base::Bool),
    ("BinaryEquals", Base::BinaryEquals),
    ("IpAddress", Base::IpAddress),
    ("NotIpAddress", Base::NotIpAddress),
    ("Null", Base::Null),
];

/// The positive comparison behind an operator (a negated operator is its negation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Str,
    StrIgnoreCase,
    Like,
    Arn,
    Num(Order),
    Date(Order),
    Bool,
    Binary,
    Ip,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Order {
    fn holds(self, a: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Order::Eq => a == Equal,
            Order::Lt => a == Less,
            Order::Le => a != Greater,
            Order::Gt => a == Greater,
            Order::Ge => a != Less,
        }
    }
}

impl Base {
    /// (positive comparison, negated)
    fn semantics(self) -> (Cmp, bool) {
        use Base::*;
        match self {
            StringEquals => (Cmp::Str, false),
            StringNotEquals => (Cmp::Str, true),
            StringEqualsIgnoreCase => (Cmp::StrIgnoreCase, false),
            StringNotEqualsIgnoreCase => (Cmp::StrIgnoreCase, true),
            StringLike => (Cmp::Like, false),
            StringNotLike => (Cmp::Like, true),
            // AWS documents ArnEquals and ArnLike alike: per-segment matching with wildcards.
            ArnEquals | ArnLike => (Cmp::Arn, false),
            ArnNotEquals | ArnNotLike => (Cmp::Arn, true),
            NumericEquals => (Cmp::Num(Order::Eq), false),
            NumericNotEquals => (Cmp::Num(Order::Eq), true),
            NumericLessThan => (Cmp::Num(Order::Lt), false),
            NumericLessThanEquals => (Cmp::Num(Order::Le), false),
            NumericGreaterThan => (Cmp::Num(Order::Gt), false),
            NumericGreaterThanEquals => (Cmp::Num(Order::Ge), false),
            DateEquals => (Cmp::Date(Order::Eq), false),
            DateNotEquals => (Cmp::Date(Order::Eq), true),
            DateLessThan => (Cmp::Date(Order::Lt), false),
            DateLessThanEquals => (Cmp::Date(Order::Le), false),
            DateGreaterThan => (Cmp::Date(Order::Gt), false),
            DateGreaterThanEquals => (Cmp::Date(Order::Ge), false),
            Bool => (Cmp::Bool, false),
            BinaryEquals => (Cmp::Binary, false),
            IpAddress => (Cmp::Ip, false),
            NotIpAddress => (Cmp::Ip, true),
            Null => (Cmp::Null, false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOp {
    None,
    ForAnyValue,
    ForAllValues,
}

/// Splits `ForAnyValue:StringLikeIfExists` into its parts.
pub(crate) fn parse_operator(name: &str) -> Result<(Base, SetOp, bool), String> {
    let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (SetOp::ForAnyValue, r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (SetOp::ForAllValues, r)
    } else {
        (SetOp::None, name)
    };
    let (rest, if_exists) = match rest.strip_suffix("IfExists") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let Some(&(_, base)) = BASES.iter().find(|(n, _)| *n == rest) else {
        let hint = BASES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(rest))
            .map(|(n, _)| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        return Err(format!("unknown condition operator \"{name}\"{hint}"));
    };
    if base == Base::Null && (if_exists || set != SetOp::None) {
        return Err(format!("condition operator \"{name}\": Null takes no IfExists suffix nor set prefix"));
    }
    Ok((base, set, if_exists))
}

/// A policy value, compiled for its operator.
#[derive(Debug, Clone)]
enum Value {
    /// Plain text (no variables).
    Text(Box<str>),
    /// Text with policy variables, compared after substitution.
    Template(Vec<Piece>),
    Like(Glob),
    Arn(ArnPattern),
    Num(f64),
    Date(i128),
    Bool(bool),
    Binary(Vec<u8>),
    Ip(Cidr),
    Null(bool),
}

/// One operator applied to one key: `"StringEquals": {"aws:username": ["alice", "bob"]}`.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    /// The operator as written, e.g. `ForAnyValue:StringLikeIfExists`.
    pub operator: Box<str>,
    /// The key as written.
    pub key: Box<str>,
    key_lc: Box<str>,
    cmp: Cmp,
    negated: bool,
    set: SetOp,
    if_exists: bool,
    values: Vec<Value>,
    /// The policy values as written.
    raw: Vec<String>,
    has_vars: bool,
}

impl Condition {
    /// Compiles one condition. On error: the index of the offending value (if it is one value's
    /// fault) and the reason.
    pub(crate) fn compile(
        operator: &str,
        key: &str,
        raw: Vec<String>,
        variables: bool,
    ) -> Result<Condition, (Option<usize>, String)> {
        let (base, set, if_exists) = parse_operator(operator).map_err(|e| (None, e))?;
        if key.is_empty() {
            return Err((None, "empty condition key".into()));
        }
        if raw.is_empty() {
            return Err((None, format!("condition {operator} {key} has no value")));
        }
        let (cmp, negated) = base.semantics();
        let mut values = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            values.push(compile_value(cmp, r, variables).map_err(|e| (Some(i), format!("{operator} {key}: {e}")))?);
        }
        let has_vars = values.iter().any(|v| match v {
            Value::Template(_) => true,
            Value::Like(g) => g.pieces().iter().any(|t| matches!(t, Piece::Variable(_))),
            Value::Arn(a) => a.has_variables(),
            _ => false,
        });
        Ok(Condition {
            operator: operator.into(),
            key: key.into(),
            key_lc: key.to_ascii_lowercase().into(),
            cmp,
            negated,
            set,
            if_exists,
            values,
            raw,
            has_vars,
        })
    }

    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        let present = ctx.get(&self.key_lc);
        if self.cmp == Cmp::Null {
            let absent = present.is_none();
            return self.values.iter().any(|v| matches!(v, Value::Null(want) if *want == absent));
        }
        let Some(request_values) = present else {
            return self.if_exists
                || match self.set {
                    SetOp::None => self.negated,
                    SetOp::ForAnyValue => false,
                    SetOp::ForAllValues => true,
                };
        };
        if self.negated && self.has_vars && self.first_unresolved(ctx).is_some() {
            return false;
        }
        let ok = |c: &String| self.hit(c, ctx) != self.negated;
        match self.set {
            SetOp::None => request_values.iter().any(|c| self.hit(c, ctx)) != self.negated,
            SetOp::ForAnyValue => request_values.iter().any(ok),
            SetOp::ForAllValues => request_values.iter().all(ok),
        }
    }

    /// Whether the positive comparison holds between the request value `c` and any policy value.
    fn hit(&self, c: &str, ctx: &Context) -> bool {
        self.matching_value(c, ctx).is_some()
    }

    /// The first policy value the positive comparison holds for.
    fn matching_value(&self, c: &str, ctx: &Context) -> Option<usize> {
        // Parse the request value once for typed comparisons.
        match self.cmp {
            Cmp::Num(order) => {
                let n = parse_number(c)?;
                self.values
                    .iter()
                    .position(|v| matches!(v, Value::Num(p) if n.partial_cmp(p).is_some_and(|o| order.holds(o))))
            }
            Cmp::Date(order) => {
                let d = parse_date(c)?;
                self.values.iter().position(|v| matches!(v, Value::Date(p) if order.holds(d.cmp(p))))
            }
            Cmp::Bool => {
                let b = parse_bool(c)?;
                self.values.iter().position(|v| matches!(v, Value::Bool(p) if *p == b))
            }
            Cmp::Ip => {
                let ip = parse_ip(c)?;
                self.values.iter().position(|v| matches!(v, Value::Ip(p) if p.contains(ip)))
            }
            Cmp::Binary => {
                let bytes = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
                self.values.iter().position(|v| matches!(v, Value::Binary(p) if *p == bytes))
            }
            Cmp::Arn => {
                let arn = super::pattern::split_arn(c);
                self.values
                    .iter()
                    .position(|v| matches!(v, Value::Arn(p) if p.matches(arn.as_ref(), ctx) == Match::Yes))
            }
            Cmp::Str | Cmp::StrIgnoreCase | Cmp::Like | Cmp::Null => {
                self.values.iter().position(|v| self.text_matches(v, c, ctx))
            }
        }
    }

    fn text_matches(&self, v: &Value, c: &str, ctx: &Context) -> bool {
        let ic = self.cmp == Cmp::StrIgnoreCase;
        match v {
            Value::Text(p) => {
                if ic {
                    eq_ignore_case(c, p)
                } else {
                    c == &**p
                }
            }
            Value::Template(pieces) => template_eq(pieces, c, ctx, ic).unwrap_or(false),
            Value::Like(g) => g.matches(c, ctx) == Match::Yes,
            _ => false,
        }
    }

    fn first_unresolved<'a>(&'a self, ctx: &Context) -> Option<&'a str> {
        self.values.iter().find_map(|v| match v {
            Value::Template(t) => unresolved(t, ctx).map(|v| &*v.raw),
            Value::Like(g) => unresolved(g.pieces(), ctx).map(|v| &*v.raw),
            Value::Arn(a) => a.unresolved(ctx).map(|v| &*v.raw),
            _ => None,
        })
    }

    /// `aws:username = "alice"` / `aws:username = ["alice", "bob"]`
    fn assertion(&self) -> String {
        format!("{} = {}", self.key, quoted_list(&self.raw))
    }

    /// A sentence for people: `condition StringEquals aws:username = "alice" holds`, or why not.
    pub(crate) fn describe(&self, ctx: &Context) -> (bool, String) {
        let holds = self.holds(ctx);
        if holds {
            return (true, format!("condition {} {} holds", self.operator, self.assertion()));
        }
        let head = format!("condition {} {}", self.operator, self.key);
        let present = ctx.get(&self.key_lc);
        if self.cmp == Cmp::Null {
            let detail = match present {
                Some(vs) => format!("{} is in the request (value {})", self.key, quoted_list(vs)),
                None => format!("{} is not in the request", self.key),
            };
            return (false, format!("condition {} {}: {detail}", self.operator, self.assertion()));
        }
        let Some(vs) = present else {
            return (false, format!("{head}: {} is not in the request", self.key));
        };
        if self.negated {
            if let Some(var) = self.first_unresolved(ctx) {
                return (false, format!("{head}: {var} has no value in the request"));
            }
        }
        let (pos, neg) = self.phrases();
        let policy = if self.raw.len() == 1 {
            format!("\"{}\"", self.raw[0])
        } else {
            format!("any of {}", self.raw.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", "))
        };
        let policy_one = if self.raw.len() == 1 { policy.clone() } else { policy.replacen("any of", "one of", 1) };
        let mut detail = match (self.set, self.negated) {
            // Some request value matched a policy value the negated operator excludes.
            (SetOp::None | SetOp::ForAllValues, true) => {
                let (c, i) = vs
                    .iter()
                    .find_map(|c| self.matching_value(c, ctx).map(|i| (c, i)))
                    .expect("a failed negated condition has a matching value");
                format!("value \"{c}\" {pos} \"{}\"", self.raw[i])
            }
            (SetOp::ForAllValues, false) => {
                let c = vs.iter().find(|c| !self.hit(c, ctx)).expect("a failed ForAllValues has an unmatched value");
                format!("value \"{c}\" {neg} {policy}")
            }
            (SetOp::ForAnyValue, true) => {
                format!("every value of {} {pos} {policy_one}", quoted_list(vs))
            }
            (_, false) if vs.len() == 1 => format!("value \"{}\" {neg} {policy}", vs[0]),
            (_, false) => format!("none of the values {} {pos} {policy_one}", quoted_list(vs)),
        };
        if !self.negated {
            if let Some(var) = self.first_unresolved(ctx) {
                let _ = write!(detail, " ({var} has no value in the request)");
            }
        }
        (false, format!("{head}: {detail}"))
    }

    /// What the positive comparison is called when it holds and when it does not.
    fn phrases(&self) -> (&'static str, &'static str) {
        match self.cmp {
            Cmp::Str | Cmp::Bool | Cmp::Binary => ("is", "is not"),
            Cmp::StrIgnoreCase => ("is (ignoring case)", "is not (ignoring case)"),
            Cmp::Like | Cmp::Arn => ("matches", "does not match"),
            Cmp::Num(Order::Eq) => ("equals", "does not equal"),
            Cmp::Num(Order::Lt) => ("is less than", "is not less than"),
            Cmp::Num(Order::Le) => ("is at most", "is not at most"),
            Cmp::Num(Order::Gt) => ("is greater than", "is not greater than"),
            Cmp::Num(Order::Ge) => ("is at least", "is not at least"),
            Cmp::Date(Order::Eq) => ("is the time", "is not the time"),
            Cmp::Date(Order::Lt) => ("is before", "is not before"),
            Cmp::Date(Order::Le) => ("is at or before", "is not at or before"),
            Cmp::Date(Order::Gt) => ("is after", "is not after"),
            Cmp::Date(Order::Ge) => ("is at or after", "is not at or after"),
            Cmp::Ip => ("is in", "is not in"),
            Cmp::Null => ("is", "is not"),
        }
    }
}

fn quoted_list(values: &[String]) -> String {
    if values.len() == 1 {
        format!("\"{}\"", values[0])
    } else {
        format!("[{}]", values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", "))
    }
}

/// Whether `c` equals the template once its variables are substituted, piece by piece without
/// building the text (`None`: a variable has no value).
fn template_eq(pieces: &[Piece], c: &str, ctx: &Context, ignore_case: bool) -> Option<bool> {
    if ignore_case && !c.is_ascii() {
        return resolve_text(pieces, ctx).map(|p| eq_ignore_case(c, &p));
    }
    let mut rest = c.as_bytes();
    let mut equal = true;
    for t in pieces {
        let piece: &str = match t {
            Piece::Literal(l) => l,
            Piece::Star => "*",
            Piece::Question => "?",
            Piece::Variable(v) => v.resolve(ctx)?,
        };
        if ignore_case && !piece.is_ascii() {
            return resolve_text(pieces, ctx).map(|p| eq_ignore_case(c, &p));
        }
        let p = piece.as_bytes();
        if equal {
            equal = rest.len() >= p.len()
                && if ignore_case { rest[..p.len()].eq_ignore_ascii_case(p) } else { &rest[..p.len()] == p };
            if equal {
                rest = &rest[p.len()..];
            }
        }
    }
    Some(equal && rest.is_empty())
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

fn compile_value(cmp: Cmp, raw: &str, variables: bool) -> Result<Value, String> {
    Ok(match cmp {
        Cmp::Str | Cmp::StrIgnoreCase => {
            let pieces = tokenize(raw, variables, false)?;
            if pieces.iter().any(|t| matches!(t, Piece::Variable(_))) {
                Value::Template(pieces)
            } else {
                // Without variables the text is the value, `${*}`-style escapes included.
                Value::Text(resolve_text(&pieces, &Context::new()).unwrap_or_default().into())
            }
        }
        Cmp::Like => Value::Like(Glob::new(tokenize(raw, variables, true)?, false)),
        Cmp::Arn => Value::Arn(ArnPattern::compile(raw, variables)?),
        Cmp::Num(_) => Value::Num(parse_number(raw).ok_or_else(|| format!("\"{raw}\" is not a number"))?),
        Cmp::Date(_) => Value::Date(parse_date(raw).ok_or_else(|| {
            format!("\"{raw}\" is not a date (ISO 8601, as in 2026-01-31T12:00:00Z, or epoch seconds)")
        })?),
        Cmp::Bool => Value::Bool(parse_bool(raw).ok_or_else(|| format!("\"{raw}\" is not true or false"))?),
        Cmp::Null => Value::Null(parse_bool(raw).ok_or_else(|| format!("\"{raw}\" is not true or false"))?),
        Cmp::Binary => Value::Binary(
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|_| format!("\"{raw}\" is not base64-encoded binary"))?,
        ),
        Cmp::Ip => Value::Ip(Cidr::parse(raw).ok_or_else(|| {
            format!("\"{raw}\" is not an IP address or CIDR block (as in 203.0.113.0/24 or 2001:db8::/32)")
        })?),
    })
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    // Plain decimal notation only (no `inf`, `NaN`, hex).
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')) {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition::compile(op, key, values.iter().map(|v| v.to_string()).collect(), true)
            .unwrap_or_else(|e| panic!("{op} {key} {values:?}: {e:?}"))
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        let mut c = Context::new();
        for (k, vs) in pairs {
            c.insert(k, vs.iter().copied());
        }
        c
    }

    fn holds(op: &str, values: &[&str], request: &[&str]) -> bool {
        let c = if request.is_empty() { Context::new() } else { ctx(&[("k:key", request)]) };
        cond(op, "k:key", values).holds(&c)
    }

    #[test]
    fn operators_parse() {
        assert_eq!(parse_operator("StringEquals").unwrap(), (Base::StringEquals, SetOp::None, false));
        assert_eq!(
            parse_operator("ForAnyValue:StringLikeIfExists").unwrap(),
            (Base::StringLike, SetOp::ForAnyValue, true)
        );
        assert_eq!(parse_operator("ForAllValues:ArnNotLike").unwrap(), (Base::ArnNotLike, SetOp::ForAllValues, false));
        let e = parse_operator("StringEqual").unwrap_err();
        assert_eq!(e, "unknown condition operator \"StringEqual\"");
        let e = parse_operator("stringequals").unwrap_err();
        assert!(e.contains("did you mean StringEquals?"), "{e}");
        assert!(parse_operator("NullIfExists").is_err());
        assert!(parse_operator("ForAnyValue:Null").is_err());
        assert!(parse_operator("ForSomeValues:StringEquals").is_err());
        for (name, _) in BASES {
            assert!(parse_operator(name).is_ok());
        }
    }

    #[test]
    fn string_operators() {
        assert!(holds("StringEquals", &["alice"], &["alice"]));
        assert!(!holds("StringEquals", &["alice"], &["Alice"]));
        assert!(holds("StringEquals", &["bob", "alice"], &["alice"]));
        assert!(!holds("StringEquals", &["ali*"], &["alice"]), "no wildcards in StringEquals");
        assert!(holds("StringEquals", &["ali*"], &["ali*"]));
        assert!(!holds("StringNotEquals", &["alice"], &["alice"]));
        assert!(holds("StringNotEquals", &["alice"], &["bob"]));
        // Negated with several values: NOR.
        assert!(!holds("StringNotEquals", &["alice", "bob"], &["bob"]));
        assert!(holds("StringNotEquals", &["alice", "bob"], &["carol"]));
        assert!(holds("StringEqualsIgnoreCase", &["ALICE"], &["alice"]));
        assert!(holds("StringEqualsIgnoreCase", &["ÉLODIE"], &["élodie"]));
        assert!(!holds("StringNotEqualsIgnoreCase", &["ALICE"], &["alice"]));
        assert!(holds("StringNotEqualsIgnoreCase", &["ALICE"], &["bob"]));
        assert!(holds("StringLike", &["home/*/x?"], &["home/a/b/xy"]));
        assert!(!holds("StringLike", &["home/*"], &["Home/a"]));
        assert!(!holds("StringNotLike", &["home/*", "tmp/*"], &["tmp/a"]));
        assert!(holds("StringNotLike", &["home/*", "tmp/*"], &["var/a"]));
    }

    #[test]
    fn json_numbers_and_booleans_become_strings() {
        // The parser turns JSON 10 and true into "10" and "true".
        assert!(holds("StringEquals", &["10"], &["10"]));
        assert!(holds("Bool", &["true"], &["true"]));
        assert!(holds("Bool", &["true"], &["TRUE"]));
        assert!(!holds("Bool", &["true"], &["false"]));
        assert!(!holds("Bool", &["true"], &["yes"]));
        assert!(holds("Bool", &["false"], &["false"]));
    }

    #[test]
    fn arn_operators() {
        let arn = "arn:aws:iam::123456789012:role/app/admin";
        assert!(holds("ArnLike", &["arn:aws:iam::*:role/app/*"], &[arn]));
        assert!(holds("ArnEquals", &["arn:aws:iam::*:role/app/*"], &[arn]), "ArnEquals takes wildcards too");
        assert!(holds("ArnEquals", &[arn], &[arn]));
        assert!(!holds("ArnLike", &["arn:aws:iam::*:role/other"], &[arn]));
        // `*` in the account segment does not cross into the resource.
        assert!(!holds("ArnLike", &["arn:aws:iam::*:role/x"], &["arn:aws:iam::123:456:role/x"]));
        assert!(Condition::compile("ArnLike", "k", vec!["arn:aws:iam::*".into()], true).is_err());
        assert!(holds("ArnNotLike", &["arn:aws:iam::*:role/other"], &[arn]));
        assert!(!holds("ArnNotEquals", &[arn], &[arn]));
        assert!(!holds("ArnLike", &["arn:aws:iam::*:role/*"], &["not-an-arn"]));
        assert!(holds("ArnNotLike", &["arn:aws:iam::*:role/*"], &["not-an-arn"]));
        assert!(Condition::compile("ArnLike", "k", vec!["role/x".into()], true).is_err());
    }

    #[test]
    fn numeric_operators() {
        assert!(holds("NumericEquals", &["10"], &["10"]));
        assert!(holds("NumericEquals", &["10"], &["10.0"]));
        assert!(!holds("NumericEquals", &["10"], &["11"]));
        assert!(holds("NumericNotEquals", &["10"], &["11"]));
        assert!(!holds("NumericNotEquals", &["10", "11"], &["11"]));
        assert!(holds("NumericLessThan", &["10"], &["9.5"]));
        assert!(!holds("NumericLessThan", &["10"], &["10"]));
        assert!(holds("NumericLessThanEquals", &["10"], &["10"]));
        assert!(!holds("NumericGreaterThan", &["10"], &["-1e3"]));
        assert!(holds("NumericGreaterThan", &["10"], &["11"]));
        assert!(holds("NumericGreaterThanEquals", &["10"], &["10"]));
        assert!(!holds("NumericGreaterThanEquals", &["10"], &["9"]));
        // A request value that is no number matches nothing (so the negated operator holds).
        assert!(!holds("NumericLessThan", &["10"], &["abc"]));
        assert!(holds("NumericNotEquals", &["10"], &["abc"]));
        assert!(Condition::compile("NumericEquals", "k", vec!["ten".into()], true).is_err());
        assert!(Condition::compile("NumericEquals", "k", vec!["inf".into()], true).is_err());
    }

    #[test]
    fn date_operators() {
        assert!(holds("DateLessThan", &["2026-01-01T00:00:00Z"], &["2025-12-31T23:59:59Z"]));
        assert!(!holds("DateLessThan", &["2026-01-01T00:00:00Z"], &["2026-01-01T00:00:00Z"]));
        assert!(holds("DateLessThanEquals", &["2026-01-01T00:00:00Z"], &["2026-01-01T00:00:00Z"]));
        assert!(holds("DateEquals", &["2026-01-01T00:00:00Z"], &["1767225600"]), "epoch seconds");
        assert!(holds("DateEquals", &["1767225600"], &["2026-01-01"]));
        assert!(holds("DateEquals", &["2026-01-01T09:00:00+09:00"], &["2026-01-01T00:00:00Z"]));
        assert!(holds("DateNotEquals", &["2026-01-01T00:00:00Z"], &["2026-01-01T00:00:01Z"]));
        assert!(holds("DateGreaterThan", &["2026-01-01T00:00:00Z"], &["2026-01-01T00:00:00.001Z"]));
        assert!(!holds("DateGreaterThan", &["2026-01-01T00:00:00Z"], &["2026-01-01T00:00:00Z"]));
        assert!(holds("DateGreaterThanEquals", &["2026-01-01T00:00:00Z"], &["2026-01-01T00:00:00Z"]));
        assert!(!holds("DateLessThan", &["2026-01-01T00:00:00Z"], &["yesterday"]));
        assert!(Condition::compile("DateEquals", "k", vec!["2026-13-01".into()], true).is_err());
        assert!(Condition::compile("DateEquals", "k", vec!["2026-02-30T00:00:00Z".into()], true).is_err());
    }

    #[test]
    fn date_parsing() {
        let day = 86_400 * 1_000_000_000i128;
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(day));
        assert_eq!(parse_date("1970-02"), Some(31 * day));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(i128::from(951_868_800i64) * 1_000_000_000));
        assert_eq!(parse_date("1970-01-01T00:00Z"), Some(0));
        assert_eq!(parse_date("1970-01-01T01:00:00+0100"), Some(0));
        assert_eq!(parse_date("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        assert_eq!(parse_date("1.25"), Some(1_250_000_000));
        assert_eq!(parse_date("-1"), Some(-1_000_000_000));
        for bad in
            ["", "x", "2026-1-01", "2026-01-01T1:00Z", "2026-01-01T00:00:00+25:00", "1.2.3", "2026-01-01T00:00:00Q"]
        {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    /// Found by `scripts/fuzz policy_parse`: epoch seconds past i128 nanoseconds overflowed (a
    /// panic in debug builds, a wrapped date in release ones); now they are no date.
    #[test]
    fn epoch_seconds_out_of_range_are_no_date() {
        assert_eq!(parse_date("202603333333333333333333333333"), None);
        assert_eq!(parse_date(&format!("-{}", "9".repeat(38))), None);
        let policy = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": "202603333333333333333333333333"}}}]}"#;
        let e = crate::Policy::parse_identity(policy).expect_err("not a date");
        assert!(e.to_string().contains("date"), "{e}");
    }

    #[test]
    fn ip_operators() {
        assert!(holds("IpAddress", &["203.0.113.0/24"], &["203.0.113.9"]));
        assert!(!holds("IpAddress", &["203.0.113.0/24"], &["203.0.114.9"]));
        assert!(holds("IpAddress", &["203.0.113.9"], &["203.0.113.9"]), "no prefix: /32");
        assert!(holds("IpAddress", &["0.0.0.0/0"], &["8.8.8.8"]));
        assert!(!holds("IpAddress", &["0.0.0.0/0"], &["2001:db8::1"]), "IPv4 range, IPv6 address");
        assert!(holds("IpAddress", &["2001:DB8:1234:5678::/64"], &["2001:db8:1234:5678::42"]));
        assert!(!holds("IpAddress", &["2001:db8:1234:5678::/64"], &["2001:db8:1234:5679::1"]));
        assert!(holds("IpAddress", &["203.0.113.0/24"], &["::ffff:203.0.113.5"]), "IPv4-mapped");
        assert!(holds("IpAddress", &["10.1.2.3/8"], &["10.200.0.1"]), "host bits ignored");
        assert!(holds("NotIpAddress", &["10.0.0.0/8", "192.168.0.0/16"], &["8.8.8.8"]));
        assert!(!holds("NotIpAddress", &["10.0.0.0/8", "192.168.0.0/16"], &["192.168.1.1"]));
        assert!(!holds("IpAddress", &["10.0.0.0/8"], &["garbage"]));
        for bad in ["10.0.0.0/33", "10.0.0/8", "x", "::/129", "10.0.0.0/-1"] {
            assert!(Condition::compile("IpAddress", "k", vec![bad.into()], true).is_err(), "{bad}");
        }
    }

    #[test]
    fn binary_equals() {
        assert!(holds("BinaryEquals", &["QmluYXJ5VmFsdWU="], &["QmluYXJ5VmFsdWU="]));
        assert!(!holds("BinaryEquals", &["QmluYXJ5VmFsdWU="], &["T3RoZXI="]));
        assert!(Condition::compile("BinaryEquals", "k", vec!["not base64!".into()], true).is_err());
    }

    #[test]
    fn missing_keys() {
        // Plain: false; negated: true; IfExists: true; Null tests presence.
        assert!(!holds("StringEquals", &["a"], &[]));
        assert!(holds("StringNotEquals", &["a"], &[]));
        assert!(holds("StringNotLike", &["a"], &[]));
        assert!(holds("NotIpAddress", &["10.0.0.0/8"], &[]));
        assert!(!holds("NumericLessThan", &["1"], &[]));
        assert!(holds("StringEqualsIfExists", &["a"], &[]));
        assert!(holds("StringEqualsIfExists", &["a"], &["a"]));
        assert!(!holds("StringEqualsIfExists", &["a"], &["b"]));
        assert!(holds("NumericLessThanIfExists", &["1"], &[]));
        assert!(!holds("NumericLessThanIfExists", &["1"], &["5"]));
        assert!(holds("BoolIfExists", &["true"], &[]));
        assert!(holds("Null", &["true"], &[]));
        assert!(!holds("Null", &["true"], &["x"]));
        assert!(holds("Null", &["false"], &["x"]));
        assert!(!holds("Null", &["false"], &[]));
        // An empty list of values is the same as a missing key.
        let mut c = Context::new();
        c.insert("k:key", Vec::<String>::new());
        assert!(cond("Null", "k:key", &["true"]).holds(&c));
        assert!(cond("ForAllValues:StringEquals", "k:key", &["a"]).holds(&c));
    }

    #[test]
    fn set_operators() {
        // ForAnyValue: at least one request value matches; missing: false.
        assert!(holds("ForAnyValue:StringEquals", &["a", "b"], &["x", "b"]));
        assert!(!holds("ForAnyValue:StringEquals", &["a", "b"], &["x", "y"]));
        assert!(!holds("ForAnyValue:StringEquals", &["a"], &[]));
        assert!(holds("ForAnyValue:StringEqualsIfExists", &["a"], &[]));
        // ForAllValues: every request value matches some policy value; missing: true.
        assert!(holds("ForAllValues:StringEquals", &["a", "b"], &["a", "b", "a"]));
        assert!(!holds("ForAllValues:StringEquals", &["a", "b"], &["a", "c"]));
        assert!(holds("ForAllValues:StringEquals", &["a"], &[]));
        assert!(holds("ForAllValues:StringLike", &["tag-*"], &["tag-a", "tag-b"]));
        // Negated set operators.
        assert!(holds("ForAnyValue:StringNotEquals", &["a", "b"], &["a", "c"]));
        assert!(!holds("ForAnyValue:StringNotEquals", &["a", "b"], &["a", "b"]));
        assert!(!holds("ForAnyValue:StringNotEquals", &["a"], &[]));
        assert!(holds("ForAllValues:StringNotEquals", &["a", "b"], &["c", "d"]));
        assert!(!holds("ForAllValues:StringNotEquals", &["a", "b"], &["c", "a"]));
        assert!(holds("ForAllValues:StringNotEquals", &["a"], &[]));
        // A plain operator on several request values: any matches (negated: none matches).
        assert!(holds("StringEquals", &["b"], &["a", "b"]));
        assert!(!holds("StringNotEquals", &["b"], &["a", "b"]));
        assert!(holds("StringNotEquals", &["c"], &["a", "b"]));
        // Other types work with set operators too.
        assert!(holds("ForAllValues:NumericLessThan", &["10"], &["1", "2"]));
        assert!(!holds("ForAllValues:NumericLessThan", &["10"], &["1", "20"]));
        assert!(holds("ForAnyValue:IpAddress", &["10.0.0.0/8"], &["1.1.1.1", "10.0.0.1"]));
    }

    #[test]
    fn amr_example() {
        // The identity-pool trust policy idiom.
        let c = ctx(&[("cognito-identity.amazonaws.com:amr", &["authenticated", "cognito-idp.example", "x:y:z"])]);
        assert!(cond("ForAnyValue:StringLike", "cognito-identity.amazonaws.com:amr", &["authenticated"]).holds(&c));
        assert!(!cond("ForAnyValue:StringLike", "cognito-identity.amazonaws.com:amr", &["unauthenticated"]).holds(&c));
    }

    #[test]
    fn keys_are_case_insensitive() {
        let c = ctx(&[("AWS:UserName", &["alice"])]);
        assert!(cond("StringEquals", "aws:username", &["alice"]).holds(&c));
        assert!(cond("StringEquals", "AWS:USERNAME", &["alice"]).holds(&c));
    }

    #[test]
    fn variables_in_values() {
        let c = ctx(&[("aws:username", &["alice"]), ("s3:prefix", &["home/alice/docs"]), ("owner", &["alice"])]);
        assert!(cond("StringLike", "s3:prefix", &["home/${aws:username}/*"]).holds(&c));
        assert!(cond("StringEquals", "owner", &["${aws:username}"]).holds(&c));
        assert!(!cond("StringNotEquals", "owner", &["${aws:username}"]).holds(&c));
        assert!(cond("StringEquals", "owner", &["${nope, 'alice'}"]).holds(&c));
        assert!(cond("StringEquals", "s3:prefix", &["home/${aws:username}/docs"]).holds(&c));
        assert!(!cond("StringEquals", "s3:prefix", &["home/${aws:username}/doc"]).holds(&c));
        assert!(!cond("StringEquals", "s3:prefix", &["home/${aws:username}/docs/"]).holds(&c));
        let upper = ctx(&[("aws:username", &["alice"]), ("owner", &["ALICE"]), ("é", &["ÉLODIE"]), ("n", &["élodie"])]);
        assert!(cond("StringEqualsIgnoreCase", "owner", &["${aws:username}"]).holds(&upper));
        assert!(!cond("StringEquals", "owner", &["${aws:username}"]).holds(&upper));
        assert!(cond("StringEqualsIgnoreCase", "é", &["${n}"]).holds(&upper));
        // Unresolved: the value matches nothing, and a negated condition does not hold.
        assert!(!cond("StringEquals", "owner", &["${nope}"]).holds(&c));
        assert!(cond("StringEquals", "owner", &["${nope}", "alice"]).holds(&c));
        assert!(!cond("StringNotEquals", "owner", &["${nope}"]).holds(&c));
        // ${*} is a literal star in StringLike.
        let c2 = ctx(&[("k", &["a*"])]);
        assert!(cond("StringLike", "k", &["a${*}"]).holds(&c2));
        let c3 = ctx(&[("k", &["ab"])]);
        assert!(!cond("StringLike", "k", &["a${*}"]).holds(&c3));
    }

    #[test]
    fn descriptions() {
        let c = ctx(&[("cognito-identity.amazonaws.com:aud", &["x"]), ("aws:username", &["alice"])]);
        let d = cond("StringEquals", "cognito-identity.amazonaws.com:aud", &["y"]).describe(&c);
        assert_eq!(
            d,
            (false, "condition StringEquals cognito-identity.amazonaws.com:aud: value \"x\" is not \"y\"".into())
        );
        let d = cond("StringEquals", "aws:username", &["alice"]).describe(&c);
        assert_eq!(d, (true, "condition StringEquals aws:username = \"alice\" holds".into()));
        let d = cond("StringEquals", "aws:username", &["bob", "carol"]).describe(&c);
        assert_eq!(d.1, "condition StringEquals aws:username: value \"alice\" is not any of \"bob\", \"carol\"");
        let d = cond("StringNotEquals", "aws:username", &["bob", "alice"]).describe(&c);
        assert_eq!(d.1, "condition StringNotEquals aws:username: value \"alice\" is \"alice\"");
        let d = cond("StringEquals", "aws:sourceip", &["x"]).describe(&c);
        assert_eq!(d.1, "condition StringEquals aws:sourceip: aws:sourceip is not in the request");
        let d = cond("Null", "aws:username", &["true"]).describe(&c);
        assert_eq!(d.1, "condition Null aws:username = \"true\": aws:username is in the request (value \"alice\")");
        let d = cond("StringEquals", "aws:username", &["${nope}"]).describe(&c);
        assert_eq!(d.1, "condition StringEquals aws:username: value \"alice\" is not \"${nope}\" (${nope} has no value in the request)");
        let d = cond("StringNotEquals", "aws:username", &["${nope}"]).describe(&c);
        assert_eq!(d.1, "condition StringNotEquals aws:username: ${nope} has no value in the request");
        let m = ctx(&[("tags", &["a", "c"])]);
        let d = cond("ForAllValues:StringEquals", "tags", &["a", "b"]).describe(&m);
        assert_eq!(d.1, "condition ForAllValues:StringEquals tags: value \"c\" is not any of \"a\", \"b\"");
        let d = cond("ForAnyValue:StringEquals", "tags", &["x"]).describe(&m);
        assert_eq!(d.1, "condition ForAnyValue:StringEquals tags: none of the values [\"a\", \"c\"] is \"x\"");
        let d = cond("ForAnyValue:StringNotEquals", "tags", &["a", "c"]).describe(&m);
        assert_eq!(
            d.1,
            "condition ForAnyValue:StringNotEquals tags: every value of [\"a\", \"c\"] is one of \"a\", \"c\""
        );
        let n = ctx(&[("n", &["12"])]);
        let d = cond("NumericLessThan", "n", &["10"]).describe(&n);
        assert_eq!(d.1, "condition NumericLessThan n: value \"12\" is not less than \"10\"");
    }
}
