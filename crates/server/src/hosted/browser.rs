//! What the hosted pages keep in the browser, sealed with the server key the console uses
//! (AES-256-GCM, each value sealed for its own purpose and the pool's domain):
//!
//! - the sign-in session cookie: the engine's session secret, HttpOnly, SameSite=Lax, Secure when
//!   the request came over TLS (or the public URL is https: TLS ends at a proxy), scoped to the
//!   domain's path;
//! - the anti-forgery binding: a random cookie, and in each form a token sealed over its hash;
//!   a form is taken only with both, from the same browser (a forged cross-site form has the
//!   cookie but cannot make a token for it).

use super::Mount;
use crate::console::cookies::{read, Cookie};
use crate::console::sealing::{open, pending_key, seal};
use crate::AppState;
use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tokenbridge_core::jose::{b64url, sha256_hex};
use tokenbridge_core::secrets::{constant_time_eq, random_bytes};
use tokenbridge_core::{Reason, Refusal};

const SESSION_COOKIE: &str = "tb_signin";
const CSRF_COOKIE: &str = "tb_signin_csrf";
const SESSION_PURPOSE: &str = "tokenbridge hosted sign-in session v1";
const CSRF_PURPOSE: &str = "tokenbridge hosted sign-in form v1";
/// The anti-forgery cookie outlives any one form (a day).
const CSRF_SECONDS: i64 = 24 * 3600;

#[derive(Serialize, Deserialize)]
struct SealedSession {
    s: String,
    d: String,
}

#[derive(Serialize, Deserialize)]
struct SealedForm {
    /// SHA-256 of the browser's anti-forgery cookie.
    c: String,
    d: String,
}

/// A cookie of this domain's pages: HttpOnly, SameSite=Lax, Secure over TLS, on its path.
fn cookie<'a>(name: &'a str, mount: &'a Mount) -> Cookie<'a> {
    Cookie { name, path: mount.cookie_path(), same_site: "Lax", secure: mount.secure }
}

/// The server key that seals the cookies and forms.
async fn key(state: &AppState) -> Result<tokenbridge_core::secrets::MasterKey, Refusal> {
    pending_key(&state.engine).await.map_err(|e| Refusal::new(Reason::Unavailable, format!("the server key: {e}")))
}

/// The sign-in session's secret the browser's cookie holds for this domain, if any.
pub async fn session(state: &AppState, headers: &HeaderMap, mount: &Mount) -> Option<String> {
    let value = read(headers, SESSION_COOKIE)?;
    let key = key(state).await.ok()?;
    let sealed: SealedSession = open(&key, SESSION_PURPOSE, &value)?;
    (sealed.d == mount.domain).then_some(sealed.s)
}

/// The `Set-Cookie` that keeps a new sign-in session for `max_age` seconds.
pub async fn keep_session(state: &AppState, mount: &Mount, secret: &str, max_age: i64) -> Result<HeaderValue, Refusal> {
    let key = key(state).await?;
    let value = seal(&key, SESSION_PURPOSE, &SealedSession { s: secret.into(), d: mount.domain.clone() });
    Ok(cookie(SESSION_COOKIE, mount).set(&value, max_age))
}

/// The `Set-Cookie` that ends the session in the browser.
pub fn clear_session(mount: &Mount) -> HeaderValue {
    cookie(SESSION_COOKIE, mount).clear()
}

/// A form's anti-forgery token for this browser, and the `Set-Cookie` that binds it when the
/// browser has no binding cookie yet.
pub async fn form_token(
    state: &AppState,
    headers: &HeaderMap,
    mount: &Mount,
) -> Result<(String, Option<HeaderValue>), Refusal> {
    let key = key(state).await?;
    let (binding, set) = match read(headers, CSRF_COOKIE).filter(|v| v.len() == 43) {
        Some(v) => (v, None),
        None => {
            let v = b64url(&random_bytes::<32>());
            let set = cookie(CSRF_COOKIE, mount).set(&v, CSRF_SECONDS);
            (v, Some(set))
        }
    };
    let token = seal(&key, CSRF_PURPOSE, &SealedForm { c: sha256_hex(binding.as_bytes()), d: mount.domain.clone() });
    Ok((token, set))
}

/// Checks a posted form's token against the browser's binding cookie (constant time).
pub async fn check_form(
    state: &AppState,
    headers: &HeaderMap,
    mount: &Mount,
    token: Option<&str>,
) -> Result<(), Refusal> {
    let refuse = |detail: &str| {
        let mut trail = tokenbridge_core::Trail::new();
        trail.fail("csrf", detail);
        Refusal {
            reason: Reason::CsrfMismatch,
            message: "The form expired or did not come from this sign-in page: open it again.".into(),
            trail,
            recorded_message: Some(detail.into()),
        }
    };
    let Some(binding) = read(headers, CSRF_COOKIE) else {
        return Err(refuse("the browser sent no anti-forgery cookie (cookies blocked, or a form from elsewhere)"));
    };
    let Some(token) = token else { return Err(refuse("the form has no anti-forgery token")) };
    let key = key(state).await?;
    let Some(sealed) = open::<SealedForm>(&key, CSRF_PURPOSE, token) else {
        return Err(refuse("the form's anti-forgery token is not one this server made"));
    };
    if sealed.d != mount.domain || !constant_time_eq(sealed.c.as_bytes(), sha256_hex(binding.as_bytes()).as_bytes()) {
        return Err(refuse("the form's anti-forgery token was made for another browser or domain"));
    }
    Ok(())
}
