//! The `Filter` of Cognito's ListUsers: `AttributeName Operator "Value"`.
//!
//! - `Operator` is `=` (exact match) or `^=` (prefix match), with or without spaces around it.
//! - `Value` is in double quotes; inside it `\"` stands for a quote and `\\` for a backslash
//!   (any other backslash sequence is an error, as is anything after the closing quote).
//! - Only the attributes AWS can search are accepted ([`SEARCHABLE`]); custom attributes are not
//!   searchable there either.
//! - An empty (or all-whitespace) filter matches every user.
//!
//! Matching is byte-exact and case-sensitive for every attribute. AWS documents some attributes
//! (`status`, `cognito:user_status`, depending on the page) as compared case-insensitively;
//! this module does not fold case.

/// The attributes ListUsers can filter on, as AWS names them.
pub const SEARCHABLE: &[&str] = &[
    "username",
    "email",
    "phone_number",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "cognito:user_status",
    "status",
    "sub",
];

/// A parsed ListUsers filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// One of [`SEARCHABLE`].
    pub attribute: String,
    /// `^=` (starts with) rather than `=` (equals).
    pub prefix: bool,
    /// The value with its escapes resolved.
    pub value: String,
}

const PARSE_ERROR: &str = "Error while parsing filter.";

fn error(reason: impl std::fmt::Display) -> String {
    format!("{PARSE_ERROR} {reason}")
}

/// Parses a ListUsers `Filter`; `Ok(None)` for an empty one (match all). The error is the
/// message of an `InvalidParameter` refusal.
pub fn parse(text: &str) -> Result<Option<Filter>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }

    // The attribute name runs up to the operator or whitespace.
    let name_end = text.find(|c: char| c.is_whitespace() || c == '=' || c == '^' || c == '"').unwrap_or(text.len());
    let attribute = &text[..name_end];
    if attribute.is_empty() {
        return Err(error("Expected an attribute name."));
    }
    let rest = text[name_end..].trim_start();

    let (prefix, rest) = if let Some(r) = rest.strip_prefix("^=") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (false, r)
    } else {
        return Err(error(format!("Expected = or ^= after attribute {attribute}.")));
    };
    let rest = rest.trim_start();

    let Some(quoted) = rest.strip_prefix('"') else {
        return Err(error("Expected a value in double quotes."));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    let end = loop {
        match chars.next() {
            None => return Err(error("The value has no closing quote.")),
            Some((i, '"')) => break i + 1,
            Some((_, '\\')) => match chars.next() {
                Some((_, c @ ('"' | '\\'))) => value.push(c),
                Some((_, c)) => return Err(error(format!("Invalid escape sequence \\{c} in the value."))),
                None => return Err(error("The value has no closing quote.")),
            },
            Some((_, c)) => value.push(c),
        }
    };
    if !quoted[end..].trim().is_empty() {
        return Err(error("Unexpected text after the value."));
    }

    if !SEARCHABLE.contains(&attribute) {
        return Err(error(format!("Invalid search attribute: {attribute}.")));
    }
    Ok(Some(Filter { attribute: attribute.to_string(), prefix, value }))
}

impl Filter {
    /// Whether a user matches: `value_of(attribute)` gives the user's value of the attribute
    /// (`None` when the user has none, which never matches, not even `^= ""`). Comparison is
    /// case-sensitive.
    pub fn matches(&self, value_of: impl Fn(&str) -> Option<String>) -> bool {
        match value_of(&self.attribute) {
            None => false,
            Some(v) if self.prefix => v.starts_with(&self.value),
            Some(v) => v == self.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(attribute: &str, prefix: bool, value: &str) -> Option<Filter> {
        Some(Filter { attribute: attribute.into(), prefix, value: value.into() })
    }

    #[test]
    fn empty_matches_all() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   \t\n "), Ok(None));
    }

    #[test]
    fn operators_with_and_without_spaces() {
        assert_eq!(parse(r#"email = "a@example.com""#), Ok(f("email", false, "a@example.com")));
        assert_eq!(parse(r#"email="a@example.com""#), Ok(f("email", false, "a@example.com")));
        assert_eq!(parse(r#"  given_name ^= "Jo"  "#), Ok(f("given_name", true, "Jo")));
        assert_eq!(parse(r#"given_name^="Jo""#), Ok(f("given_name", true, "Jo")));
        assert_eq!(parse("family_name\t=\t\"Reddy\""), Ok(f("family_name", false, "Reddy")));
        assert_eq!(
            parse(r#"cognito:user_status = "FORCE_CHANGE_PASSWORD""#),
            Ok(f("cognito:user_status", false, "FORCE_CHANGE_PASSWORD"))
        );
        assert_eq!(parse(r#"status = "Enabled""#), Ok(f("status", false, "Enabled")));
        assert_eq!(parse(r#"username ^= """#), Ok(f("username", true, "")));
    }

    #[test]
    fn every_searchable_attribute_parses() {
        for a in SEARCHABLE {
            assert_eq!(parse(&format!("{a} = \"x\"")), Ok(f(a, false, "x")), "{a}");
        }
    }

    #[test]
    fn escapes_in_the_value() {
        assert_eq!(parse(r#"name = "say \"hi\"""#), Ok(f("name", false, r#"say "hi""#)));
        assert_eq!(parse(r#"name = "back\\slash""#), Ok(f("name", false, r"back\slash")));
        assert_eq!(parse(r#"name = "\\""#), Ok(f("name", false, "\\")));
        assert_eq!(parse(r#"name = "\"""#), Ok(f("name", false, "\"")));
        // Operators and spaces inside the value are just text.
        assert_eq!(parse(r#"name = " a ^= b = ""#), Ok(f("name", false, " a ^= b = ")));
        assert_eq!(parse(r#"name = "Zürich ☃""#), Ok(f("name", false, "Zürich ☃")));
    }

    fn err(text: &str) -> String {
        let e = parse(text).expect_err(text);
        assert!(e.starts_with("Error while parsing filter."), "{e}");
        e
    }

    #[test]
    fn malformed_filters_are_errors() {
        assert!(err(r#"= "x""#).contains("attribute name"));
        assert!(err(r#""x""#).contains("attribute name"));
        assert!(err("email").contains("Expected = or ^="));
        assert!(err(r#"email "x""#).contains("Expected = or ^="));
        assert!(err(r#"email != "x""#).contains("Expected = or ^="));
        assert!(err(r#"email ^ "x""#).contains("Expected = or ^="));
        assert!(err(r#"email == "x""#).contains("double quotes"));
        assert!(err("email = x").contains("double quotes"));
        assert!(err("email = 'x'").contains("double quotes"));
        assert!(err("email =").contains("double quotes"));
        assert!(err(r#"email = "x"#).contains("closing quote"));
        assert!(err(r#"email = "x\""#).contains("closing quote"));
        assert!(err(r#"email = "x\"#).contains("closing quote"));
        assert!(err(r#"email = "a\nb""#).contains(r"\n"));
        assert!(err(r#"email = "x" and name = "y""#).contains("after the value"));
        assert!(err(r#"email = "x"""#).contains("after the value"));
    }

    #[test]
    fn unsearchable_attributes_are_named() {
        for a in ["custom:tenant", "Email", "USERNAME", "email_verified", "updated_at", "address"] {
            let e = err(&format!("{a} = \"x\""));
            assert!(e.contains(&format!("Invalid search attribute: {a}.")), "{e}");
        }
    }

    #[test]
    fn matching() {
        let user = |a: &str| match a {
            "email" => Some("Alice@Example.com".to_string()),
            "username" => Some("alice".to_string()),
            "given_name" => Some(String::new()),
            _ => None,
        };
        let m = |text: &str| parse(text).unwrap().unwrap().matches(user);
        assert!(m(r#"email = "Alice@Example.com""#));
        assert!(!m(r#"email = "alice@example.com""#), "case-sensitive");
        assert!(!m(r#"email = "Alice@Example.co""#), "= is exact");
        assert!(m(r#"email ^= "Alice@""#));
        assert!(m(r#"email ^= "Alice@Example.com""#));
        assert!(!m(r#"email ^= "alice""#), "case-sensitive prefix");
        assert!(!m(r#"email ^= "Alice@Example.com.""#));
        assert!(m(r#"username ^= """#));
        assert!(m(r#"given_name = """#));
        // An attribute the user lacks never matches.
        assert!(!m(r#"family_name ^= """#));
        assert!(!m(r#"family_name = """#));
        // The closure is asked for the filter's attribute only.
        let asked = std::cell::RefCell::new(Vec::new());
        parse(r#"sub = "x""#).unwrap().unwrap().matches(|a| {
            asked.borrow_mut().push(a.to_string());
            None
        });
        assert_eq!(asked.into_inner(), ["sub"]);
    }
}
