//! Strings with `*` / `?` wildcards and `${...}` policy variables, compiled once when a policy is
//! parsed: action patterns, ARN patterns (matched segment by segment) and condition values.
//!
//! A variable's value is always taken literally: a `*` in a user name does not become a wildcard.
//! `${*}`, `${?}` and `${$}` stand for a literal `*`, `?` and `$`. A variable whose key is not in
//! the request (or has several values) takes its default (`${key, 'default'}`); without one it is
//! unresolved, and the element that uses it does not match.

use super::Context;

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Literal(Box<str>),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    Question,
    Variable(Variable),
}

/// A `${key}` or `${key, 'default'}` policy variable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Variable {
    /// The key, lowercased (context keys are case-insensitive).
    pub key: Box<str>,
    /// As written in the policy, for explanations.
    pub raw: Box<str>,
    pub default: Option<Box<str>>,
}

/// A pattern piece after variables were resolved against one request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ResolvedPiece<'a> {
    Literal(&'a str),
    Star,
    Question,
}

/// Parses `s` into pieces. `variables`: `${...}` is a policy variable (policy version 2012-10-17);
/// `wildcards`: `*` and `?` are wildcards (else literal characters).
pub(crate) fn tokenize(s: &str, variables: bool, wildcards: bool) -> Result<Vec<Piece>, String> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if variables && rest.starts_with("${") {
            let (content, len) = variable_body(rest)?;
            match content {
                "*" | "?" | "$" => lit.push_str(content),
                _ => {
                    flush(&mut pieces, &mut lit);
                    pieces.push(Piece::Variable(parse_variable(content, &rest[..len])?));
                }
            }
            rest = &rest[len..];
            continue;
        }
        match c {
            '*' if wildcards => {
                flush(&mut pieces, &mut lit);
                // `**` is the same as `*`.
                if pieces.last() != Some(&Piece::Star) {
                    pieces.push(Piece::Star);
                }
            }
            '?' if wildcards => {
                flush(&mut pieces, &mut lit);
                pieces.push(Piece::Question);
            }
            _ => lit.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut pieces, &mut lit);
    Ok(pieces)
}

fn flush(pieces: &mut Vec<Piece>, lit: &mut String) {
    if !lit.is_empty() {
        pieces.push(Piece::Literal(std::mem::take(lit).into_boxed_str()));
    }
}

/// `rest` starts with `${`: returns what is between the braces and the length through `}`.
/// A `}` inside a quoted default does not close the variable.
fn variable_body(rest: &str) -> Result<(&str, usize), String> {
    let mut quoted = false;
    for (i, c) in rest.char_indices().skip(2) {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Ok((&rest[2..i], i + 1)),
            _ => {}
        }
    }
    let shown: String = rest.chars().take(40).collect();
    Err(format!("unclosed policy variable `{shown}` (a literal `$` is written `${{$}}`)"))
}

fn parse_variable(content: &str, raw: &str) -> Result<Variable, String> {
    let (key, default) = match content.find(',') {
        Some(i) => {
            let d = content[i + 1..].trim();
            if d.len() < 2 || !d.starts_with('\'') || !d.ends_with('\'') {
                return Err(format!(
                    "policy variable `{raw}`: the default value must be in single quotes, as in `${{key, 'default'}}`"
                ));
            }
            let inner = &d[1..d.len() - 1];
            // A quote inside the default is written twice.
            if inner.replace("''", "").contains('\'') {
                return Err(format!("policy variable `{raw}`: a quote inside the default value is written ''"));
            }
            (content[..i].trim(), Some(inner.replace("''", "'").into_boxed_str()))
        }
        None => (content.trim(), None),
    };
    if key.is_empty() {
        return Err(format!("policy variable `{raw}` names no key"));
    }
    if key.chars().any(|c| c.is_whitespace() || matches!(c, '{' | '}' | '\'' | '$')) {
        return Err(format!("policy variable `{raw}`: `{key}` is not a valid context key"));
    }
    Ok(Variable { key: key.to_ascii_lowercase().into_boxed_str(), raw: raw.into(), default })
}

impl Variable {
    pub(crate) fn resolve<'a>(&'a self, ctx: &'a Context) -> Option<&'a str> {
        ctx.single(&self.key).or(self.default.as_deref())
    }
}

/// The first variable in `pieces` that has no value in `ctx`.
pub(crate) fn unresolved<'a>(pieces: &'a [Piece], ctx: &Context) -> Option<&'a Variable> {
    pieces.iter().find_map(|t| match t {
        Piece::Variable(v) if v.resolve(ctx).is_none() => Some(v),
        _ => None,
    })
}

/// Resolves variables; `None` when one is unresolved.
pub(crate) fn resolve<'a>(pieces: &'a [Piece], ctx: &'a Context) -> Option<Vec<ResolvedPiece<'a>>> {
    pieces
        .iter()
        .map(|t| match t {
            Piece::Literal(l) => Some(ResolvedPiece::Literal(l)),
            Piece::Star => Some(ResolvedPiece::Star),
            Piece::Question => Some(ResolvedPiece::Question),
            Piece::Variable(v) => v.resolve(ctx).map(ResolvedPiece::Literal),
        })
        .collect()
}

/// The resolved text of a pattern without wildcards (condition values of non-Like operators).
pub(crate) fn resolve_text(pieces: &[Piece], ctx: &Context) -> Option<String> {
    let mut out = String::new();
    for t in pieces {
        match t {
            Piece::Literal(l) => out.push_str(l),
            Piece::Star => out.push('*'),
            Piece::Question => out.push('?'),
            Piece::Variable(v) => out.push_str(v.resolve(ctx)?),
        }
    }
    Some(out)
}

/// A compiled wildcard pattern with fast paths for the shapes policies mostly use.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    shape: Shape,
    pieces: Vec<Piece>,
    /// ASCII case-insensitive (actions); literals are stored lowercased.
    ci: bool,
}

#[derive(Debug, Clone)]
enum Shape {
    /// `*`
    Any,
    /// No wildcard, no variable.
    Exact(Box<str>),
    /// `literal*`
    Prefix(Box<str>),
    /// Anything else without variables.
    General,
    /// Contains variables: resolved per request.
    Variable,
}

/// Whether a pattern matched, or could not be decided because a variable has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    Yes,
    No,
    Unresolved,
}

impl Glob {
    pub(crate) fn new(mut pieces: Vec<Piece>, ci: bool) -> Self {
        if ci {
            for t in &mut pieces {
                if let Piece::Literal(l) = t {
                    *l = l.to_ascii_lowercase().into_boxed_str();
                }
            }
        }
        let shape = match pieces.as_slice() {
            _ if pieces.iter().any(|t| matches!(t, Piece::Variable(_))) => Shape::Variable,
            [Piece::Star] => Shape::Any,
            [] => Shape::Exact("".into()),
            [Piece::Literal(l)] => Shape::Exact(l.clone()),
            [Piece::Literal(l), Piece::Star] => Shape::Prefix(l.clone()),
            _ => Shape::General,
        };
        Glob { shape, pieces, ci }
    }

    pub(crate) fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    pub(crate) fn matches(&self, text: &str, ctx: &Context) -> Match {
        let yes = match &self.shape {
            Shape::Any => true,
            Shape::Exact(l) => eq(text.as_bytes(), l.as_bytes(), self.ci),
            Shape::Prefix(l) => starts_with(text.as_bytes(), l.as_bytes(), self.ci),
            Shape::General => glob(&self.pieces, text, self.ci),
            Shape::Variable => {
                // Resolve onto the stack: no allocation for the patterns policies use.
                let mut buf = [ResolvedPiece::Star; 16];
                if self.pieces.len() <= buf.len() {
                    for (slot, t) in buf.iter_mut().zip(&self.pieces) {
                        *slot = match t {
                            Piece::Literal(l) => ResolvedPiece::Literal(l),
                            Piece::Star => ResolvedPiece::Star,
                            Piece::Question => ResolvedPiece::Question,
                            Piece::Variable(v) => match v.resolve(ctx) {
                                Some(value) => ResolvedPiece::Literal(value),
                                None => return Match::Unresolved,
                            },
                        };
                    }
                    glob(&buf[..self.pieces.len()], text, self.ci)
                } else {
                    match resolve(&self.pieces, ctx) {
                        Some(r) => glob(&r, text, self.ci),
                        None => return Match::Unresolved,
                    }
                }
            }
        };
        if yes {
            Match::Yes
        } else {
            Match::No
        }
    }
}

fn eq(a: &[u8], b: &[u8], ci: bool) -> bool {
    if ci {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn starts_with(text: &[u8], lit: &[u8], ci: bool) -> bool {
    text.len() >= lit.len() && eq(&text[..lit.len()], lit, ci)
}

trait AsResolvedPiece {
    fn resolved(&self) -> ResolvedPiece<'_>;
}

impl AsResolvedPiece for Piece {
    fn resolved(&self) -> ResolvedPiece<'_> {
        match self {
            Piece::Literal(l) => ResolvedPiece::Literal(l),
            Piece::Star => ResolvedPiece::Star,
            Piece::Question => ResolvedPiece::Question,
            // Patterns with variables are resolved before matching.
            Piece::Variable(_) => ResolvedPiece::Literal("\u{0}${unresolved}"),
        }
    }
}

impl AsResolvedPiece for ResolvedPiece<'_> {
    fn resolved(&self) -> ResolvedPiece<'_> {
        *self
    }
}

fn char_len(lead: u8) -> usize {
    match lead {
        0..0xE0 => 1 + usize::from(lead >= 0xC0),
        0xE0..0xF0 => 3,
        _ => 4,
    }
}

/// Wildcard matching without recursion: on a mismatch only the most recent `*` is widened, which
/// is enough for `*`/`?` patterns and keeps the worst case at O(pattern × text).
fn glob<T: AsResolvedPiece>(pieces: &[T], text: &str, ci: bool) -> bool {
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < pieces.len() {
            match pieces[pi].resolved() {
                ResolvedPiece::Star => {
                    pi += 1;
                    star = Some((pi, ti));
                    continue;
                }
                ResolvedPiece::Question if ti < t.len() => {
                    ti += char_len(t[ti]);
                    pi += 1;
                    continue;
                }
                ResolvedPiece::Literal(l) if starts_with(&t[ti..], l.as_bytes(), ci) => {
                    ti += l.len();
                    pi += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti == t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                let next = st + char_len(t[st]);
                star = Some((sp, next));
                pi = sp;
                ti = next;
            }
            _ => return false,
        }
    }
}

/// Splits an ARN at its first five colons: `arn:partition:service:region:account:resource`,
/// where the resource part may itself contain colons.
pub(crate) fn split_arn(s: &str) -> Option<[&str; 6]> {
    let mut parts = [""; 6];
    let mut rest = s;
    for part in parts.iter_mut().take(5) {
        let i = rest.find(':')?;
        *part = &rest[..i];
        rest = &rest[i + 1..];
    }
    parts[5] = rest;
    Some(parts)
}

/// A Resource / NotResource pattern or an Arn* condition value: `*`, or an ARN whose six parts
/// are matched separately, so a wildcard never crosses a `:` between them (the resource part,
/// after the fifth colon, may contain `:` and `/`, and `*` spans them).
#[derive(Debug, Clone)]
pub(crate) struct ArnPattern {
    /// `None` for `*`.
    segments: Option<Box<[Glob; 6]>>,
    has_vars: bool,
}

impl ArnPattern {
    pub(crate) fn compile(s: &str, variables: bool) -> Result<Self, String> {
        let pieces = tokenize(s, variables, true)?;
        if pieces == [Piece::Star] {
            return Ok(ArnPattern { segments: None, has_vars: false });
        }
        let mut segments: Vec<Vec<Piece>> = vec![Vec::new()];
        for piece in pieces {
            match piece {
                Piece::Literal(l) if segments.len() < 6 => {
                    let mut between_colons = l.splitn(7 - segments.len(), ':');
                    if let Some(first) = between_colons.next().filter(|p| !p.is_empty()) {
                        segments.last_mut().unwrap().push(Piece::Literal(first.into()));
                    }
                    for text in between_colons {
                        segments.push(if text.is_empty() { Vec::new() } else { vec![Piece::Literal(text.into())] });
                    }
                }
                other => segments.last_mut().unwrap().push(other),
            }
        }
        if segments.len() < 6 || segments[0] != [Piece::Literal("arn".into())] {
            return Err(format!("`{s}` is not an ARN (arn:partition:service:region:account-id:resource) or `*`"));
        }
        let has_vars = segments.iter().flatten().any(|t| matches!(t, Piece::Variable(_)));
        let globs: Vec<Glob> = segments.into_iter().map(|pieces| Glob::new(pieces, false)).collect();
        let globs: [Glob; 6] = globs.try_into().expect("six ARN segments");
        Ok(ArnPattern { segments: Some(Box::new(globs)), has_vars })
    }

    pub(crate) fn has_variables(&self) -> bool {
        self.has_vars
    }

    /// `arn` is the request's ARN already split by [`split_arn`] (`None`: not an ARN). A pattern
    /// with a variable that has no value is [`Match::Unresolved`] whatever the ARN.
    pub(crate) fn matches(&self, arn: Option<&[&str; 6]>, ctx: &Context) -> Match {
        let Some(segments) = &self.segments else { return Match::Yes };
        let no = || if self.has_vars && self.unresolved(ctx).is_some() { Match::Unresolved } else { Match::No };
        let Some(arn) = arn else { return no() };
        for (glob, part) in segments.iter().zip(arn) {
            match glob.matches(part, ctx) {
                Match::Yes => {}
                Match::No => return no(),
                Match::Unresolved => return Match::Unresolved,
            }
        }
        Match::Yes
    }

    /// The first unresolved variable, for explanations.
    pub(crate) fn unresolved<'a>(&'a self, ctx: &Context) -> Option<&'a Variable> {
        self.segments.as_ref()?.iter().find_map(|g| unresolved(g.pieces(), ctx))
    }
}

/// Validates an action pattern (`*`, or `service:Action` with wildcards only in the action name
/// or a whole-`*` service prefix) and compiles it, case-insensitive.
pub(crate) fn compile_action(s: &str) -> Result<Glob, String> {
    if s == "*" {
        return Ok(Glob::new(vec![Piece::Star], true));
    }
    let Some((service, name)) = s.split_once(':') else {
        return Err(format!("action `{s}` must be `*` or `service:ActionName`, as in `s3:GetObject`"));
    };
    if service.is_empty() || name.is_empty() {
        return Err(format!("action `{s}` must be `*` or `service:ActionName`, as in `s3:GetObject`"));
    }
    if service != "*" {
        if service.contains(['*', '?']) {
            return Err(format!(
                "action `{s}`: a wildcard is not allowed inside the service prefix `{service}` (use the full prefix, as in `s3:Get*`, or `*`)"
            ));
        }
        if let Some(c) = service.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Err(format!("action `{s}`: `{c}` is not allowed in a service prefix"));
        }
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '-' | '_'))) {
        return Err(format!("action `{s}`: `{c}` is not allowed in an action name"));
    }
    Ok(Glob::new(tokenize(s, false, true)?, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let mut c = Context::new();
        c.insert("aws:username", ["alice"]);
        c.insert("aws:PrincipalTag/team", ["a*b"]);
        c.insert("multi", ["x", "y"]);
        c
    }

    fn g(s: &str, ci: bool) -> Glob {
        Glob::new(tokenize(s, true, true).unwrap(), ci)
    }

    #[test]
    fn wildcards() {
        let c = Context::new();
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("?", "", false),
            ("?", "é", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a*c", "ac", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbcd", false),
            ("*b*", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b?c", "abbc", true),
            ("a*b?c", "abc", false),
            ("a*b?c", "abXbYc", true),
            ("abc", "abc", true),
            ("abc", "ABC", false),
            ("abc*", "abcdef", true),
            ("abc*", "ab", false),
            ("**a", "xa", true),
            ("*?", "", false),
            ("*?", "x", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(g(p, false).matches(t, &c) == Match::Yes, want, "{p} ~ {t}");
        }
    }

    #[test]
    fn case_insensitive_glob() {
        let c = Context::new();
        assert_eq!(g("S3:Get*", true).matches("s3:getobject", &c), Match::Yes);
        assert_eq!(g("s3:GetObject", true).matches("S3:GETOBJECT", &c), Match::Yes);
        assert_eq!(g("s3:*Obj?ct", true).matches("S3:PUTOBJECT", &c), Match::Yes);
        assert_eq!(g("s3:GetObject", false).matches("s3:getobject", &c), Match::No);
    }

    #[test]
    fn no_exponential_blowup() {
        let c = Context::new();
        let p = "*a".repeat(30) + "b";
        let t = "a".repeat(200);
        assert_eq!(g(&p, false).matches(&t, &c), Match::No);
    }

    #[test]
    fn variables_and_escapes() {
        let c = ctx();
        assert_eq!(g("home/${aws:username}/*", false).matches("home/alice/x", &c), Match::Yes);
        assert_eq!(g("home/${AWS:UserName}/*", false).matches("home/alice/x", &c), Match::Yes);
        assert_eq!(g("home/${aws:username}/*", false).matches("home/bob/x", &c), Match::No);
        // A variable's value is literal: the tag's `*` is no wildcard.
        assert_eq!(g("${aws:PrincipalTag/team}", false).matches("aXb", &c), Match::No);
        assert_eq!(g("${aws:PrincipalTag/team}", false).matches("a*b", &c), Match::Yes);
        assert_eq!(g("${nope}", false).matches("x", &c), Match::Unresolved);
        // Several values cannot be substituted.
        assert_eq!(g("${multi}", false).matches("x", &c), Match::Unresolved);
        assert_eq!(g("${nope, 'dflt'}/*", false).matches("dflt/x", &c), Match::Yes);
        assert_eq!(g("${nope,'it''s'}", false).matches("it's", &c), Match::Yes);
        assert_eq!(g("${aws:username, 'dflt'}", false).matches("alice", &c), Match::Yes);
        assert_eq!(g("a${*}b", false).matches("a*b", &c), Match::Yes);
        assert_eq!(g("a${*}b", false).matches("aXb", &c), Match::No);
        assert_eq!(g("a${?}", false).matches("a?", &c), Match::Yes);
        assert_eq!(g("a${?}", false).matches("ab", &c), Match::No);
        assert_eq!(g("${$}{x}", false).matches("${x}", &c), Match::Yes);
        // Without variables (policy version 2008-10-17) `${...}` is literal text.
        let lit = Glob::new(tokenize("${aws:username}", false, true).unwrap(), false);
        assert_eq!(lit.matches("${aws:username}", &c), Match::Yes);
    }

    #[test]
    fn bad_variables() {
        assert!(tokenize("a${b", true, true).unwrap_err().contains("unclosed"));
        assert!(tokenize("${}", true, true).unwrap_err().contains("names no key"));
        assert!(tokenize("${a, b}", true, true).unwrap_err().contains("single quotes"));
        assert!(tokenize("${a b}", true, true).unwrap_err().contains("not a valid context key"));
        assert!(tokenize("${a, 'x}y'}", true, true).is_ok());
    }

    fn arn(p: &str, r: &str, c: &Context) -> Match {
        let pat = ArnPattern::compile(p, true).unwrap();
        pat.matches(split_arn(r).as_ref(), c)
    }

    #[test]
    fn arn_segments() {
        let c = ctx();
        let api = "arn:aws:appsync:ap-northeast-1:123456789012:apis/xyz/types/Query/fields/listItems";
        assert_eq!(arn("arn:aws:appsync:ap-northeast-1:123456789012:apis/xyz/*", api, &c), Match::Yes);
        assert_eq!(arn("arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/*", api, &c), Match::No);
        assert_eq!(arn("arn:aws:appsync:*:*:apis/*", api, &c), Match::Yes);
        assert_eq!(arn("arn:aws:*:*:*:*", api, &c), Match::Yes);
        assert_eq!(arn("*", api, &c), Match::Yes);
        assert_eq!(arn("*", "not an arn", &c), Match::Yes);
    }

    #[test]
    fn arn_star_does_not_cross_segments() {
        let c = Context::new();
        // A `*` in the account cannot swallow `123:456`: the resource part is `456:role/x`.
        assert_eq!(arn("arn:aws:iam::*:role/x", "arn:aws:iam::123:456:role/x", &c), Match::No);
        assert_eq!(arn("arn:aws:iam::*:role/x", "arn:aws:iam::123:role/x", &c), Match::Yes);
        assert_eq!(arn("arn:aws:s3:*:*:b", "arn:aws:s3:a:b:c:b", &c), Match::No);
        assert_eq!(arn("arn:aws:s3:*:*:*b", "arn:aws:s3:a:b:c:b", &c), Match::Yes);
        // But in the resource part it spans `/` and `:`.
        assert_eq!(arn("arn:aws:logs:r:1:log-group:*", "arn:aws:logs:r:1:log-group:g:log-stream:s", &c), Match::Yes);
        assert_eq!(arn("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", &c), Match::Yes);
        assert_eq!(arn("arn:aws:s3:::b/*", "arn:aws:s3:::b", &c), Match::No);
        // `?` in a segment matches one character of that segment only.
        assert_eq!(arn("arn:aws:s3:us-east-?::b", "arn:aws:s3:us-east-1::b", &c), Match::Yes);
        assert_eq!(arn("arn:aws:s3:us-east-?::b", "arn:aws:s3:us-east-12::b", &c), Match::No);
        // Case-sensitive.
        assert_eq!(arn("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket", &c), Match::No);
        // Not an ARN.
        assert_eq!(arn("arn:aws:s3:::b", "b", &c), Match::No);
    }

    #[test]
    fn arn_with_variables() {
        let c = ctx();
        assert_eq!(arn("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/alice/f", &c), Match::Yes);
        assert_eq!(arn("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/bob/f", &c), Match::No);
        assert_eq!(arn("arn:aws:s3:::b/${nope}/*", "arn:aws:s3:::b/alice/f", &c), Match::Unresolved);
        // The colon inside `${aws:username}` does not split the ARN.
        assert!(ArnPattern::compile("arn:aws:s3:::${aws:username}", true).is_ok());
        assert_eq!(arn("arn:aws:s3:::${aws:username}", "arn:aws:s3:::alice", &c), Match::Yes);
        assert_eq!(arn("arn:aws:s3:::x", "arn:aws:s3:::x", &c), Match::Yes);
    }

    #[test]
    fn arn_compile_errors() {
        for bad in ["arn:aws:s3", "s3:::bucket", "bucket/*", "arn:aws:s3::bucket", "Arn:aws:s3:::b"] {
            assert!(ArnPattern::compile(bad, true).unwrap_err().contains("is not an ARN"), "{bad}");
        }
    }

    #[test]
    fn actions() {
        let c = Context::new();
        let m = |p: &str, a: &str| compile_action(p).unwrap().matches(a, &c) == Match::Yes;
        assert!(m("*", "s3:GetObject"));
        assert!(m("s3:*", "S3:GetObject"));
        assert!(m("appsync:GraphQL", "AppSync:graphql"));
        assert!(m("s3:Get*", "s3:getobjectacl"));
        assert!(m("s3:Get?bject", "s3:GetObject"));
        assert!(!m("s3:Get*", "s3:PutObject"));
        assert!(m("*:Get*", "dynamodb:GetItem"));
        assert!(!m("s3:GetObject", "s3:GetObjectAcl"));
        assert!(!m("s3:*", "s3x:GetObject"));
        for bad in ["s3*:Get", "s?:Get", "s3", "s3:", ":Get", "s3:Get:Object", "s3:Get Object", "s 3:Get"] {
            assert!(compile_action(bad).is_err(), "{bad}");
        }
        assert!(compile_action("s3*:Get").unwrap_err().contains("wildcard is not allowed inside the service prefix"));
    }

    #[test]
    fn split() {
        assert_eq!(split_arn("arn:aws:s3:::b:c/d"), Some(["arn", "aws", "s3", "", "", "b:c/d"]));
        assert_eq!(split_arn("arn:aws:s3::"), None);
    }
}
