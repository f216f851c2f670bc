//! The hosted sign-in's pages, made here from text (no external asset, no script): the sign-in
//! form, the new-password form and the error page that names the failed check and the request
//! id. Every value shown is escaped. The style sheet is inline and allowed by its hash, so the
//! Content-Security-Policy allows nothing else: no script, no frame, forms only to this server
//! (and to where a sign-in form's answer redirects: the client's callback).

use super::words::hosted_words;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::sync::LazyLock;
use tokenbridge_core::hosted_signin::{AuthorizeRequest, SignInPage};
use tokenbridge_core::Refusal;

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1c1e21;margin:0}\
main{max-width:24rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin:0 0 .25rem}p.to{margin:0 0 1.5rem;color:#555}\
label{display:block;font-weight:600;margin:1rem 0 .25rem}\
input{box-sizing:border-box;width:100%;padding:.6rem;border:1px solid #888;border-radius:4px;font:inherit}\
button,a.provider{display:block;box-sizing:border-box;width:100%;margin-top:1.5rem;padding:.7rem;border:0;\
border-radius:4px;background:#0b5cad;color:#fff;font:inherit;font-weight:600;text-align:center;text-decoration:none;cursor:pointer}\
a.provider{background:#2d3748;margin-top:.75rem}\
button:focus,a.provider:focus,input:focus{outline:3px solid #f5a623;outline-offset:2px}\
.error{border:1px solid #b00020;background:#fdecee;color:#7a0016;padding:.75rem;border-radius:4px}\
.error p{margin:.25rem 0}code{font-size:.9em;word-break:break-all}ul{list-style:none;padding:0;margin:0}\
.or{text-align:center;color:#555;margin:1.5rem 0 0}";

/// The CSP source of the inline style sheet: its SHA-256.
static STYLE_HASH: LazyLock<String> = LazyLock::new(|| {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, STYLE.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
});

/// `text` with the five HTML-special characters escaped (safe in text and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The policy of every hosted page: `form_targets` are the origins a form's answer may redirect
/// to (browsers hold a form's redirects to `form-action` too).
pub fn content_security_policy(form_targets: &[String]) -> String {
    let mut form_action = String::from("'self'");
    for t in form_targets {
        form_action.push(' ');
        form_action.push_str(t);
    }
    format!(
        "default-src 'none'; style-src {}; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
        *STYLE_HASH
    )
}

/// Where a callback URL's answer lands, as a CSP source: its origin, or its scheme for an app's
/// own scheme (`myapp:`). Nothing for what does not parse.
pub fn form_target(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.scheme() {
        "http" | "https" => {
            let origin = u.origin().ascii_serialization();
            // A CSP source list is space-separated: an origin with anything else is left out.
            (!origin.contains([' ', ';', ',', '\''])).then_some(origin)
        }
        s if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) => Some(format!("{s}:")),
        _ => None,
    }
}

/// A page response: HTML, the CSP, never cached, never framed, no referrer.
pub fn html(status: StatusCode, body: String, form_targets: &[String]) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(form_targets)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

fn document(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body><main>\n{main}\n</main></body></html>\n",
        escape(title)
    )
}

/// The authorization request's parameters, carried by a form as hidden fields.
fn hidden_request(req: &AuthorizeRequest) -> String {
    let fields = [
        ("response_type", &req.response_type),
        ("client_id", &req.client_id),
        ("redirect_uri", &req.redirect_uri),
        ("state", &req.state),
        ("scope", &req.scope),
        ("nonce", &req.nonce),
        ("code_challenge", &req.code_challenge),
        ("code_challenge_method", &req.code_challenge_method),
        ("identity_provider", &req.identity_provider),
        ("idp_identifier", &req.idp_identifier),
    ];
    let mut out = String::new();
    for (name, value) in fields {
        if let Some(v) = value {
            out.push_str(&format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(v)));
        }
    }
    out
}

/// A refusal shown on a form: the message and the request id that finds its decision trail.
fn error_box(error: Option<(&Refusal, &str)>) -> String {
    match error {
        Some((r, request_id)) => format!(
            "<div class=\"error\" role=\"alert\"><p>{}</p><p>Request id: <code>{}</code></p></div>",
            escape(&r.message),
            escape(request_id)
        ),
        None => String::new(),
    }
}

/// What a form needs besides the request: where it posts, and its anti-forgery token.
pub struct Form<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    /// The authorize URL (for "Sign in with …" links), without `identity_provider`.
    pub authorize: &'a str,
}

/// The sign-in page: the username-and-password form (when the client signs in with one) and a
/// "Sign in with …" link for each of its providers.
pub fn sign_in(page: &SignInPage, req: &AuthorizeRequest, form: &Form<'_>, error: Option<(&Refusal, &str)>) -> String {
    let mut main = format!(
        "<h1>Sign in</h1><p class=\"to\">to {} ({})</p>{}",
        escape(&page.client_name),
        escape(&page.pool_name),
        error_box(error)
    );
    if page.password {
        let hint = page.login_hint.as_deref().unwrap_or_default();
        let (user_focus, password_focus) = if hint.is_empty() { (" autofocus", "") } else { ("", " autofocus") };
        main.push_str(&format!(
            "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{}\
             <label for=\"username\">Username</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" required value=\"{}\"{user_focus}>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{password_focus}>\
             <button type=\"submit\">Sign in</button></form>",
            escape(form.action),
            escape(form.csrf),
            hidden_request(req),
            escape(hint),
        ));
    }
    if !page.providers.is_empty() {
        if page.password {
            main.push_str("<p class=\"or\">or</p>");
        }
        main.push_str("<ul>");
        for p in &page.providers {
            let sep = if form.authorize.contains('?') { '&' } else { '?' };
            let href = format!("{}{sep}identity_provider={}", form.authorize, urlencoding(p));
            main.push_str(&format!(
                "<li><a class=\"provider\" href=\"{}\">Sign in with {}</a></li>",
                escape(&href),
                escape(p)
            ));
        }
        main.push_str("</ul>");
    }
    document(&format!("Sign in – {}", page.pool_name), &main)
}

/// The new-password page: the temporary password was right; a new one is set.
pub fn new_password(
    page: &SignInPage,
    req: &AuthorizeRequest,
    form: &Form<'_>,
    challenge: &str,
    username: &str,
    error: Option<(&Refusal, &str)>,
) -> String {
    let main = format!(
        "<h1>Set a new password</h1><p class=\"to\">{}, your password was temporary: choose your own to \
         continue to {}.</p>{}<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{}\
         <input type=\"hidden\" name=\"challenge\" value=\"{}\"><input type=\"hidden\" name=\"username\" value=\"{}\">\
         <label for=\"new_password\">New password</label>\
         <input id=\"new_password\" name=\"new_password\" type=\"password\" autocomplete=\"new-password\" required autofocus>\
         <button type=\"submit\">Set password and sign in</button></form>",
        escape(username),
        escape(&page.client_name),
        error_box(error),
        escape(form.action),
        escape(form.csrf),
        hidden_request(req),
        escape(challenge),
        escape(username),
    );
    document(&format!("New password – {}", page.pool_name), &main)
}

/// The error page: what was refused, the check that failed, and the request id that finds the
/// whole decision trail (`tokenbridge audit explain <id>`, `/admin/audit/<id>`).
pub fn error(refusal: &Refusal, request_id: &str) -> Response {
    let (title, status) = hosted_words(refusal.reason);
    let check = refusal.trail.first_failure().map(|s| s.check.clone()).unwrap_or_else(|| "request".into());
    let main = format!(
        "<h1>{}</h1><div class=\"error\" role=\"alert\"><p>{}</p><p>Failed check: <code>{}</code></p>\
         <p>Request id: <code>{}</code></p></div><p>The request id finds this decision's full trail in the \
         audit log (<code>tokenbridge audit explain {}</code>).</p>",
        escape(title),
        escape(&refusal.message),
        escape(&check),
        escape(request_id),
        escape(request_id)
    );
    html(status, document(title, &main), &[])
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_the_policy_allows_only_the_hashed_style() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let csp = content_security_policy(&["https://app.example".into()]);
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
        assert!(csp.contains("form-action 'self' https://app.example;") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(form_target("https://app.example:8443/cb?x=1").as_deref(), Some("https://app.example:8443"));
        assert_eq!(form_target("myapp://callback").as_deref(), Some("myapp:"));
        assert_eq!(form_target("not a url"), None);
    }
}
