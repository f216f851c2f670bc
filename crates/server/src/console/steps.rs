//! The steps of a server-side sign-in, told to the page as it tells its own: who spoke to whom,
//! the request and the response as text, with every secret shortened or hidden.

use serde::Serialize;
use serde_json::{Map, Value};

/// The parties a step goes between, as the page names them.
pub(super) const BROWSER: &str = "browser";
pub(super) const UPSTREAM: &str = "upstream";
pub(super) const TOKENBRIDGE: &str = "tokenbridge";

#[derive(Debug, Clone, Serialize)]
pub(super) struct Step {
    pub title: String,
    pub from: &'static str,
    pub to: &'static str,
    pub request: String,
    pub response: String,
    pub ok: bool,
}

/// A secret shown as its first characters and its length (as the page masks them).
pub(super) fn masked(value: &str) -> String {
    let n = value.chars().count();
    if n <= 8 {
        "•".repeat(n)
    } else {
        format!("{}…({n} chars)", value.chars().take(6).collect::<String>())
    }
}

/// Free text from outside (an error description), bounded and on one line.
pub(super) fn excerpt(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() > 200 {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    } else {
        one_line
    }
}

/// `METHOD url` and one `name=value` line per parameter.
pub(super) fn request_text(method: &str, url: &str, headers: &[(&str, &str)], params: &[(&str, String)]) -> String {
    let mut lines = vec![format!("{method} {url}")];
    lines.extend(headers.iter().map(|(k, v)| format!("{k}: {v}")));
    if !params.is_empty() {
        // A form body after a blank line; query parameters indented under the URL.
        let indent = if headers.is_empty() { "  " } else { "" };
        if !headers.is_empty() {
            lines.push(String::new());
        }
        lines.extend(params.iter().map(|(k, v)| format!("{indent}{k}={v}")));
    }
    lines.join("\n")
}

/// The members of a token response that are credentials.
fn is_secret_member(name: &str) -> bool {
    matches!(name, "access_token" | "id_token" | "refresh_token") || name.contains("secret")
}

/// A token endpoint's JSON with its tokens masked.
pub(super) fn mask_tokens(body: &Value) -> Value {
    match body {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let shown = match v {
                        Value::String(s) if is_secret_member(k) => Value::String(masked(s)),
                        _ if is_secret_member(k) => Value::String("(hidden)".into()),
                        other => mask_tokens(other),
                    };
                    (k.clone(), shown)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(mask_tokens).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_shortened() {
        assert_eq!(masked("abcdefghij"), "abcdef…(10 chars)");
        assert_eq!(masked("short"), "•••••");
        let body = json!({ "access_token": "00Dxx!abcdefghijkl", "id_token": "eyJhbGciOi.x.y", "scope": "openid",
                           "nested": { "refresh_token": "r-123456789", "client_secret": 5 } });
        let m = mask_tokens(&body);
        assert_eq!(m["access_token"], "00Dxx!…(18 chars)");
        assert_eq!(m["id_token"], "eyJhbG…(14 chars)");
        assert_eq!(m["scope"], "openid");
        assert_eq!(m["nested"]["refresh_token"], "r-1234…(11 chars)");
        assert_eq!(m["nested"]["client_secret"], "(hidden)");
        assert_eq!(excerpt(&"x\ny".repeat(100)).chars().count(), 201);
    }

    #[test]
    fn requests_read_as_http() {
        let get = request_text("GET", "https://idp/authorize", &[], &[("a", "1".into())]);
        assert_eq!(get, "GET https://idp/authorize\n  a=1");
        let post =
            request_text("POST", "https://idp/token", &[("Authorization", "Basic (hidden)")], &[("b", "2".into())]);
        assert_eq!(post, "POST https://idp/token\nAuthorization: Basic (hidden)\n\nb=2");
    }
}
