//! The authorization endpoint: the login page, the password check, the consent page, and the
//! code (or `access_denied`) sent back to the client's registered redirect URI.

use super::wire::{found, is_pkce_string, resolve_scope, with_query, Params, Refusal};
use super::{
    pages, AuthRequest, CodeClaims, Inner, LoginState, CODE_TTL, LOGIN_STATE_TTL, PURPOSE_CODE, PURPOSE_LOGIN,
};
use axum::http::StatusCode;
use axum::response::Response;
use tokenbridge_core::secrets::uuid_v4;
use url::Url;

impl Inner {
    /// Checks an authorization request. Until client and redirect URI are known good, errors are
    /// an HTML page; after that they go back to the client as RFC 6749 §4.1.2.1 redirects.
    fn validate_authorize(&self, params: &Params) -> Result<(AuthRequest, Url), Refusal> {
        let client_id = params.get("client_id").unwrap_or_default();
        if self.client(client_id).is_none() {
            let shown = if client_id.is_empty() { "(none)" } else { client_id };
            return Err(Refusal::Page(format!(
                "Unknown client_id {shown}. This provider serves only its registered clients."
            )));
        }
        let Some(redirect_uri) = params.get("redirect_uri") else {
            return Err(Refusal::Page("The request has no redirect_uri.".into()));
        };
        let Some(target) = self.allowed_redirect(client_id, redirect_uri) else {
            return Err(Refusal::Page(format!("The redirect_uri {redirect_uri} is not allowed for this client.")));
        };
        let state = params.get("state");
        let fail = |error: &str, description: &str| {
            Refusal::Redirect(with_query(
                &target,
                &[("error", Some(error)), ("error_description", Some(description)), ("state", state)],
            ))
        };
        match params.get("response_type") {
            Some("code") => {}
            None => return Err(fail("invalid_request", "response_type is required")),
            Some(_) => return Err(fail("unsupported_response_type", "only response_type=code is supported")),
        }
        let scope = resolve_scope(params.get("scope")).map_err(|e| fail("invalid_scope", &e))?;
        let challenge = params.get("code_challenge");
        let code_challenge = match (challenge, params.get("code_challenge_method")) {
            (None, None) => None,
            (Some(challenge), Some("S256")) if is_pkce_string(challenge) => Some(challenge.to_string()),
            (None, Some(_)) => return Err(fail("invalid_request", "code_challenge is required")),
            (Some(_), Some("S256")) => return Err(fail("invalid_request", "code_challenge is malformed")),
            (Some(_), _) => return Err(fail("invalid_request", "only code_challenge_method=S256 is supported")),
        };
        let request = AuthRequest {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scope,
            state: state.map(str::to_string),
            nonce: params.get("nonce").map(str::to_string),
            code_challenge,
        };
        Ok((request, target))
    }

    /// The parsed redirect URI if it is registered, spelled exactly as registered (another
    /// spelling of the same loopback address, port, path or case is another URI).
    fn allowed_redirect(&self, client_id: &str, raw: &str) -> Option<Url> {
        let client = self.client(client_id)?;
        client.redirect_uris.iter().find(|u| u.as_str() == raw).and_then(|u| Url::parse(u).ok())
    }

    fn login_page(&self, request: &AuthRequest, error: Option<&str>, username: &str) -> String {
        let mut hidden = vec![
            ("response_type", "code"),
            ("client_id", request.client_id.as_str()),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("scope", request.scope.as_str()),
        ];
        let optional =
            [("state", &request.state), ("nonce", &request.nonce), ("code_challenge", &request.code_challenge)];
        hidden.extend(optional.iter().filter_map(|(name, value)| Some((*name, value.as_deref()?))));
        if request.code_challenge.is_some() {
            hidden.push(("code_challenge_method", "S256"));
        }
        let action = format!("{}/authorize/login", self.mount_path);
        pages::login(&action, &hidden, &request.client_id, error, username)
    }

    /// `GET /authorize`: the login form.
    pub(super) fn authorize(&self, query: &[u8]) -> Result<Response, Refusal> {
        let params = Params::parse(query).map_err(Refusal::Page)?;
        let (request, _) = self.validate_authorize(&params)?;
        Ok(pages::html(StatusCode::OK, self.login_page(&request, None, "")))
    }

    /// `POST /authorize/login`: checks the password, then shows the consent form.
    pub(super) fn login(&self, body: &[u8]) -> Result<Response, Refusal> {
        let params = Params::parse(body).map_err(Refusal::Page)?;
        let (request, _) = self.validate_authorize(&params)?;
        let username = params.get("username").unwrap_or_default();
        let password = params.get("password").unwrap_or_default();
        let Some(user) = self.check_password(username, password) else {
            let error = Some("Wrong username or password. Try again.");
            let page = self.login_page(&request, error, username);
            return Ok(pages::html(StatusCode::UNAUTHORIZED, page));
        };
        let now = self.now();
        let client_id = request.client_id.clone();
        let state = LoginState { username: user.username.clone(), auth_time: now, exp: now + LOGIN_STATE_TTL, request };
        let action = format!("{}/authorize/consent", self.mount_path);
        let session = self.seal(PURPOSE_LOGIN, &state);
        let page = pages::consent(&action, &client_id, &user.username, &session);
        Ok(pages::html(StatusCode::OK, page))
    }

    /// `POST /authorize/consent`: allow → code, deny → `access_denied`, both back to the client.
    pub(super) fn consent(&self, body: &[u8]) -> Result<Response, Refusal> {
        let params = Params::parse(body).map_err(Refusal::Page)?;
        let now = self.now();
        let login = params
            .get("session")
            .and_then(|s| self.unseal::<LoginState>(PURPOSE_LOGIN, s))
            .filter(|l| l.exp > now)
            .ok_or_else(|| {
                Refusal::Page("This sign-in has expired or is not valid. Start again from the application.".into())
            })?;
        let target = self
            .allowed_redirect(&login.request.client_id, &login.request.redirect_uri)
            .ok_or_else(|| Refusal::Page("The redirect URI is no longer allowed.".into()))?;
        let state = login.request.state.clone();
        // `decision=allow|deny` from the buttons; a bare `allow` / `deny` field is accepted too.
        let decision =
            params.get("decision").or_else(|| ["allow", "deny"].into_iter().find(|d| params.get(d).is_some()));
        let pairs = match decision {
            Some("allow") => {
                let claims = CodeClaims {
                    jti: uuid_v4(),
                    username: login.username,
                    auth_time: login.auth_time,
                    exp: now + CODE_TTL,
                    request: AuthRequest { state: None, ..login.request },
                };
                vec![("code", Some(self.seal(PURPOSE_CODE, &claims)))]
            }
            Some("deny") => vec![
                ("error", Some("access_denied".to_string())),
                ("error_description", Some("end-user denied authorization".to_string())),
            ],
            _ => return Err(Refusal::Page("Choose Allow or Deny.".into())),
        };
        let pairs: Vec<(&str, Option<&str>)> =
            pairs.iter().map(|(name, value)| (*name, value.as_deref())).chain([("state", state.as_deref())]).collect();
        Ok(found(&with_query(&target, &pairs)))
    }
}
