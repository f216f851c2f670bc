//! The demo provider's HTML: self-contained pages (no external assets), every echoed value
//! escaped.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

const TITLE: &str = "Demo upstream (Salesforce-like)";

const STYLE: &str = "\
body{margin:0;background:#f3f3f3;color:#181818;font:16px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif}\
main{max-width:22rem;margin:4rem auto;padding:2rem;background:#fff;border:1px solid #ddd;border-radius:.5rem}\
h1{margin:0 0 1rem;font-size:1.25rem}\
.brand{margin:0 0 .5rem;color:#0176d3;font-weight:600;font-size:.875rem}\
.muted{color:#706e6b;font-size:.875rem}\
.error{padding:.5rem .75rem;color:#ba0517;background:#fef1ee;border-radius:.25rem}\
label{display:block;margin:.75rem 0 .25rem;font-weight:600}\
input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #c9c9c9;border-radius:.25rem;font:inherit}\
button{margin:1rem .5rem 0 0;padding:.5rem 1.25rem;border:1px solid #0176d3;border-radius:.25rem;\
background:#0176d3;color:#fff;font:inherit;cursor:pointer}\
button.secondary{background:#fff;color:#0176d3}";

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub(super) fn escape(text: &str) -> String {
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

/// An HTML answer that is never cached, framed or allowed to load anything.
pub(super) fn html(status: StatusCode, page: String) -> Response {
    let policy = HeaderValue::from_static(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
    );
    html_with_policy(status, page, policy)
}

/// [`html`] with its own Content-Security-Policy.
fn html_with_policy(status: StatusCode, page: String, policy: HeaderValue) -> Response {
    let mut response = (status, Html(page)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A page explaining why the request stops here; nothing is sent back to the application.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p>\
         <p class=\"muted\">Nothing was sent back to the application.</p>",
        escape(message)
    );
    html(status, layout("Cannot continue", &body))
}

/// The sign-in form; `hidden` carries the authorization request to `action`.
pub(super) fn login(
    action: &str,
    hidden: &[(&str, &str)],
    client: &str,
    error: Option<&str>,
    username: &str,
) -> String {
    let alert = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "<p>Sign in to continue to <strong>{client}</strong>.</p>{alert}\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" \
         autocomplete=\"username\" autofocus required>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" id=\"login\">Log In</button></form>",
        client = escape(client),
        action = escape(action),
        hidden = hidden_fields(hidden),
        username = escape(username),
    );
    layout("Log in", &body)
}

/// The consent form; `session` is the signed login state.
pub(super) fn consent(action: &str, client: &str, username: &str, session: &str) -> String {
    let body = format!(
        "<p><strong>{client}</strong> wants to access your profile and email.</p>\
         <p class=\"muted\">Signed in as {username}</p>\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <button type=\"submit\" id=\"allow\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         </form>",
        client = escape(client),
        username = escape(username),
        action = escape(action),
        hidden = hidden_fields(&[("session", session)]),
    );
    layout("Allow access?", &body)
}

/// The SAML HTTP-POST binding: a form posting `fields` to the (allow-listed) `action`, submitted
/// by a one-line script whose nonce the policy names, or by its button without scripts.
///
/// The policy has no `form-action`: browsers hold every redirect that follows a form's post to
/// it, and the SP answers the post by sending the browser on to its application, on an origin
/// the IdP cannot know (Cognito's ACS redirects to the app's callback), so any list would stop
/// the sign-in there. The form's action is the allow-listed ACS, written here, and nothing else
/// on the page is the request's.
pub(super) fn auto_post(action: &str, audience: &str, fields: &[(&str, &str)]) -> Response {
    let nonce = tokenbridge_core::secrets::random_secret();
    let body = format!(
        "<p>Signing you in to <strong>{audience}</strong>.</p>\
         <form method=\"post\" action=\"{action}\" id=\"saml-post\">{hidden}\
         <noscript><button type=\"submit\" id=\"continue\">Continue</button></noscript></form>\
         <script nonce=\"{nonce}\">document.getElementById('saml-post').submit()</script>",
        audience = escape(audience),
        action = escape(action),
        hidden = hidden_fields(fields),
    );
    let policy = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; \
         frame-ancestors 'none'"
    );
    match HeaderValue::from_str(&policy) {
        Ok(policy) => html_with_policy(StatusCode::OK, layout("Signing in", &body), policy),
        Err(_) => error(StatusCode::BAD_REQUEST, "The AssertionConsumerServiceURL cannot be used."),
    }
}

fn hidden_fields(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value)))
        .collect()
}

fn layout(heading: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{TITLE}</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head>\
         <body><main><p class=\"brand\">{TITLE}</p><h1>{}</h1>{body}</main></body></html>\n",
        escape(heading)
    )
}
