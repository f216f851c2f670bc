//! The authorization decision for APIs: given a bearer token and the request it came with
//! (method, path, host, source address), allow or deny by the configured routes.
//!
//! Every adapter (forward-auth, the API Gateway authorizer format, the demo API, the admin API)
//! asks this one decision. A denial names the failed check and carries the whole trail into its
//! audit record; an allow returns who the caller is.

pub mod cache;
pub mod rules;
mod settings;

use crate::audit::{AuditReader, Principal, RequestContext};
use crate::issuer;
use crate::jose::{looks_like_jwt, token_label, UnverifiedJwt};
use crate::kernel::Kernel;
use crate::operation::{Call, Operation};
use crate::refusal::{Reason, Refusal};
use crate::trail::Trail;
use crate::upstream::SubjectTokenType;
use cache::{SessionCache, TokenCache};
use rules::{AuthorizerConfig, DefaultAction, IdentityHeaders, Route, TokenKind};
use serde::Serialize;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

pub use settings::validate_config;

/// The request to decide on, as the adapter read it.
#[derive(Debug, Clone, Default)]
pub struct AccessRequest<'a> {
    pub token: Option<&'a str>,
    pub method: &'a str,
    /// As the client sent it (query and escapes included; bytes a header cannot carry as text
    /// escaped by the door); read by [`rules::read_path`] before matching.
    pub path: &'a str,
    pub host: Option<&'a str>,
    /// A header the door found present but could not read (not visible ASCII): the request is
    /// refused rather than decided on without it.
    pub unreadable: Option<&'a str>,
}

/// Who the caller is, once the token checked out.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub subject: String,
    pub username: String,
    pub groups: Vec<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    /// `access`, `upstream:<provider>`, or `anonymous` on a public route.
    pub token_kind: String,
    pub expires_at: i64,
    #[serde(skip)]
    pub family: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Allowed {
    pub route: String,
    pub identity: Arc<Identity>,
    /// The token's verification came from the cache.
    pub cached: bool,
}

/// The authorization decision for APIs, over the compiled routes it owns and its caches (verified
/// tokens, sign-in sessions seen alive); the token service and user pools tell it when a refresh
/// family is revoked, so a cached token of it stops being accepted at once.
pub struct Authorizer {
    kernel: Arc<Kernel>,
    routes: Vec<Route>,
    fallback: Route,
    default_action: DefaultAction,
    check_revocation: bool,
    audit_allows: bool,
    pub headers: IdentityHeaders,
    cache: TokenCache,
    sessions: SessionCache,
}

/// The admin scope: an access token carrying it may use the admin API.
pub const ADMIN_SCOPE: &str = "tokenbridge:admin";

/// The configured routes compiled as they are served; `Err` names the route's key and what is wrong.
fn compile_routes(cfg: &AuthorizerConfig) -> Result<Vec<Route>, (String, String)> {
    cfg.routes
        .iter()
        .enumerate()
        .map(|(i, r)| Route::compile(r).map_err(|e| (format!("authorizer.routes[{i}]"), e)))
        .collect()
}

impl Authorizer {
    pub(crate) fn new(kernel: Arc<Kernel>) -> Result<Self, (String, String)> {
        let cfg = &kernel.config.authorizer;
        let routes = compile_routes(cfg)?;
        let fallback = Route::compile(&rules::RouteConfig {
            name: Some("default (any valid access token)".into()),
            path: "/**".into(),
            ..Default::default()
        })
        .expect("the fallback route compiles");
        Ok(Self {
            routes,
            fallback,
            default_action: cfg.default_action,
            check_revocation: cfg.check_revocation,
            audit_allows: cfg.audit_allows,
            headers: cfg.headers.clone(),
            cache: TokenCache::new(cfg.cache_capacity, cfg.cache_seconds),
            sessions: SessionCache::new(cfg.session_cache_capacity, cfg.cache_seconds),
            kernel,
        })
    }

    /// A refresh family was revoked: cached tokens of it stop being accepted here at once.
    pub fn family_revoked(&self, family: &str) {
        self.cache.family_revoked(family);
    }
}

fn deny(trail: &mut Trail, reason: Reason, check: &str, detail: impl Into<String>) -> Refusal {
    std::mem::take(trail).deny(reason, check, detail)
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

impl Authorizer {
    /// Decides one request. Denials are always audited; allows when `audit_allows` is set.
    #[crate::entry_point]
    pub async fn authorize(&self, req: &AccessRequest<'_>, ctx: &RequestContext) -> Result<Allowed, Refusal> {
        let params = json!({
            "httpMethod": req.method,
            "path": req.path.split(['?', '#']).next().unwrap_or("").chars().take(512).collect::<String>(),
            "host": req.host,
            "token": req.token.map(token_label),
        });
        let op = Operation::new("Authorize", ctx, params).read_only(true).record_answers(self.audit_allows);
        let decide = async |call: &mut Call| {
            let mut seen: Option<Arc<Identity>> = None;
            let mut route_name = None;
            let result = self.authorize_inner(req, ctx, &mut call.trail, &mut seen, &mut route_name).await;
            call.principal = seen.as_ref().map(|i| Principal {
                user_id: i.subject.clone(),
                username: i.username.clone(),
                identity_provider: i.token_kind.strip_prefix("upstream:").map(str::to_string),
            });
            call.params.insert("route".into(), json!(route_name));
            let decision = if result.is_ok() { "allow" } else { "deny" };
            let cache = match &result {
                Ok(a) if a.cached => "hit",
                _ => "miss",
            };
            metrics::counter!("tokenbridge_authz_decisions_total", "decision" => decision, "cache" => cache)
                .increment(1);
            result
        };
        self.kernel.run(op, decide, |_| json!({ "decision": "allow" })).await
    }

    async fn authorize_inner(
        &self,
        req: &AccessRequest<'_>,
        ctx: &RequestContext,
        trail: &mut Trail,
        seen: &mut Option<Arc<Identity>>,
        route_name: &mut Option<String>,
    ) -> Result<Allowed, Refusal> {
        let az = self;
        if let Some(name) = req.unreadable {
            return Err(deny(
                trail,
                Reason::InvalidRequest,
                "request",
                format!(
                    "{name} is present but not visible ASCII; the request is refused rather than decided without it"
                ),
            ));
        }
        let reading = rules::read_path(req.path).map_err(|e| deny(trail, Reason::InvalidRequest, "request", e))?;
        let path = &reading.exact;
        let method = req.method.to_ascii_uppercase();
        let exact = az.routes.iter().position(|r| r.matches(&method, path, req.host));
        let lenient = az.routes.iter().position(|r| r.matches_lenient(&method, &reading.lenient, req.host));
        if exact != lenient {
            let name = |i: Option<usize>| {
                i.map_or_else(|| "no route".to_string(), |i| format!("route {:?}", az.routes[i].name))
            };
            return Err(deny(
                trail,
                Reason::InvalidRequest,
                "request",
                format!(
                    "path {path:?} is ambiguous: as written it is {}, but servers that ignore case, trailing dots \
                     or ';' parameters read it as {:?}, {}",
                    name(exact),
                    reading.lenient_path(),
                    name(lenient)
                ),
            ));
        }
        let route = match exact.map(|i| &az.routes[i]) {
            Some(r) => {
                trail.pass("route", format!("{method} {path} matches route {:?}", r.name));
                r
            }
            None if az.default_action == DefaultAction::Authenticated => {
                trail.pass("route", format!("no route covers {method} {path}; default action: any valid access token"));
                &az.fallback
            }
            None => {
                return Err(deny(
                    trail,
                    Reason::InsufficientScope,
                    "route",
                    format!("no route covers {method} {path} (default action: deny)"),
                ))
            }
        };
        *route_name = Some(route.name.clone());

        if !route.networks.is_empty() {
            let ip: Option<IpAddr> = ctx.source_ip.parse().ok();
            match ip.filter(|ip| route.networks.iter().any(|n| n.contains(*ip))) {
                Some(ip) => trail.pass("network", format!("source {ip} is allowed")),
                None => {
                    let nets: Vec<String> = route.networks.iter().map(|n| n.to_string()).collect();
                    return Err(deny(
                        trail,
                        Reason::InsufficientScope,
                        "network",
                        format!(
                            "route {:?} accepts sources in {}; request came from {:?}",
                            route.name,
                            nets.join(", "),
                            ctx.source_ip
                        ),
                    ));
                }
            }
        }

        if route.token == TokenKind::None {
            trail.skip("token", "public route: no token needed");
            let identity = Arc::new(Identity {
                subject: String::new(),
                username: String::new(),
                groups: Vec::new(),
                client_id: None,
                scopes: Vec::new(),
                token_kind: "anonymous".into(),
                expires_at: 0,
                family: None,
            });
            return Ok(Allowed { route: route.name.clone(), identity, cached: false });
        }
        let Some(token) = req.token else {
            return Err(deny(
                trail,
                Reason::MissingToken,
                "token",
                format!("route {:?} needs a bearer token; the request has none", route.name),
            ));
        };
        let (identity, cached) = self.verified_identity(token, route, trail).await?;
        *seen = Some(identity.clone());
        self.check_requirements(route, &identity, trail)?;
        Ok(Allowed { route: route.name.clone(), identity, cached })
    }

    /// Verifies the token the way the route asks, from the cache when it can.
    async fn verified_identity(
        &self,
        token: &str,
        route: &Route,
        trail: &mut Trail,
    ) -> Result<(Arc<Identity>, bool), Refusal> {
        // A warm token costs a digest and a lookup: nothing is parsed before the cache answers.
        let now = self.kernel.now();
        let key = cache::key(token);
        if let Some(hit) = self.cache.get(&key, now) {
            let upstream = hit.identity.token_kind != "access";
            let fits = match route.token {
                TokenKind::Access => !upstream,
                TokenKind::Upstream => upstream,
                _ => true,
            };
            // A cached token of the wrong kind falls through to the checks below, which name it.
            if fits {
                trail.pass(
                    "token",
                    format!(
                        "{} token verified {} s ago (cached until {})",
                        hit.identity.token_kind,
                        now - hit.verified_at,
                        crate::clock::rfc3339(hit.trusted_until)
                    ),
                );
                if upstream {
                    self.check_provider(route, &hit.identity, trail)?;
                }
                return Ok((hit.identity, true));
            }
        }
        let parsed = looks_like_jwt(token).then(|| UnverifiedJwt::parse(token).ok()).flatten();
        let unverified_iss = parsed.as_ref().and_then(|j| j.claim_str("iss").map(str::to_string));
        let own = unverified_iss
            .as_deref()
            .is_some_and(|i| i == self.kernel.issuer || crate::pool_names::is_pool_issuer(&self.kernel.issuer, i));
        let upstream = match route.token {
            TokenKind::Access if !own => {
                let what = match unverified_iss.as_deref().and_then(|i| self.kernel.upstreams.by_issuer(i)) {
                    Some(p) => format!("a token of upstream provider {:?}", p.name()),
                    None if looks_like_jwt(token) => "a JWT of another issuer".to_string(),
                    None => "not a JWT".to_string(),
                };
                return Err(deny(
                    trail,
                    Reason::InvalidToken,
                    "token kind",
                    format!("route {:?} takes access tokens of this issuer; the bearer token is {what}", route.name),
                ));
            }
            TokenKind::Upstream if own => {
                return Err(deny(
                    trail,
                    Reason::InvalidToken,
                    "token kind",
                    format!("route {:?} takes upstream provider tokens; this is this issuer's own token", route.name),
                ))
            }
            TokenKind::Upstream => true,
            _ => !own,
        };
        let identity = if upstream {
            self.verify_upstream_bearer(token, unverified_iss.as_deref(), route, trail).await?
        } else {
            self.verify_access_bearer(token, parsed, trail).await?
        };
        let identity = Arc::new(identity);
        self.cache.put(key, identity.clone(), now);
        Ok((identity, false))
    }

    async fn verify_access_bearer(
        &self,
        token: &str,
        parsed: Option<UnverifiedJwt>,
        trail: &mut Trail,
    ) -> Result<Identity, Refusal> {
        let now = self.kernel.now();
        let verified = match parsed {
            Some(jwt) => {
                issuer::verify_own_parsed(&self.kernel.keys, &self.kernel.issuer, jwt, Some("access"), now).await
            }
            None => issuer::verify_own(&self.kernel.keys, &self.kernel.issuer, token, Some("access"), now).await,
        };
        let t = verified.map_err(|(check, detail)| deny(trail, Reason::InvalidToken, check, detail))?;
        trail.pass("signature", format!("{} with kid {}", t.alg, t.kid));
        trail.pass("expiry", format!("valid until {}", crate::clock::rfc3339(t.int("exp").unwrap_or(0))));
        let family = t.str("origin_jti").map(str::to_string);
        match (&family, self.check_revocation) {
            (Some(f), true) => {
                let az = self;
                if let Some(since) = az.sessions.alive_since(f, now, &az.cache) {
                    trail.pass("revocation", format!("sign-in session active (checked {} s ago)", now - since));
                } else if self.kernel.store.refresh_family_active(f).await.map_err(Refusal::storage)? {
                    az.sessions.seen_alive(f, now);
                    trail.pass("revocation", "sign-in session still active");
                } else {
                    return Err(deny(
                        trail,
                        Reason::InvalidToken,
                        "revocation",
                        "the token's sign-in session was revoked (refresh family ended)",
                    ));
                }
            }
            (None, true) => trail.skip("revocation", "token has no refresh family"),
            (_, false) => trail.skip("revocation", "not checked (authorizer.check_revocation = false)"),
        }
        let strings = |name: &str| -> Vec<String> {
            match t.claims.get(name) {
                Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
                _ => Vec::new(),
            }
        };
        Ok(Identity {
            subject: t.str("sub").unwrap_or_default().to_string(),
            username: t.str("username").or(t.str("cognito:username")).unwrap_or_default().to_string(),
            groups: strings("cognito:groups"),
            client_id: t.str("client_id").map(str::to_string),
            scopes: strings("scope"),
            token_kind: "access".into(),
            expires_at: t.int("exp").unwrap_or(0),
            family,
        })
    }

    async fn verify_upstream_bearer(
        &self,
        token: &str,
        unverified_iss: Option<&str>,
        route: &Route,
        trail: &mut Trail,
    ) -> Result<Identity, Refusal> {
        let provider = match unverified_iss {
            Some(iss) => self.kernel.upstreams.by_issuer(iss).ok_or_else(|| {
                deny(trail, Reason::InvalidToken, "provider", format!("no configured provider has issuer {iss:?}"))
            })?,
            None => {
                // An opaque token: the route must name exactly one provider to ask.
                let candidates: Vec<_> = match route.providers.as_slice() {
                    [] => self.kernel.upstreams.all().iter().collect(),
                    names => {
                        self.kernel.upstreams.all().iter().filter(|p| names.iter().any(|n| n == p.name())).collect()
                    }
                };
                match candidates.as_slice() {
                    [only] => *only,
                    _ => {
                        return Err(deny(
                            trail,
                            Reason::InvalidToken,
                            "provider",
                            format!(
                                "opaque token, and route {:?} does not name exactly one provider to ask",
                                route.name
                            ),
                        ))
                    }
                }
            }
        };
        if !route.providers.is_empty() && !route.providers.iter().any(|p| p == provider.name()) {
            return Err(deny(
                trail,
                Reason::InvalidToken,
                "provider",
                format!(
                    "route {:?} accepts providers {}; the token is from {:?}",
                    route.name,
                    list(&route.providers),
                    provider.name()
                ),
            ));
        }
        trail.pass("provider", provider.name().to_string());
        let id =
            provider.validate(token, SubjectTokenType::Unspecified, self.kernel.now(), trail).await.map_err(|r| {
                let reason = if r.reason == Reason::Unavailable { r.reason } else { Reason::InvalidToken };
                deny(trail, reason, r.check, r.detail)
            })?;
        let text = |names: &[&str]| {
            names.iter().find_map(|n| id.value_of(n).and_then(Value::as_str)).unwrap_or_default().to_string()
        };
        let strings = |name: &str| -> Vec<String> {
            match id.value_of(name) {
                Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                Some(Value::String(s)) => s.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect(),
                _ => Vec::new(),
            }
        };
        let mut scopes = strings("scope");
        scopes.extend(strings("scp"));
        let client = text(&["azp", "client_id"]);
        Ok(Identity {
            subject: text(&["sub"]),
            username: text(&["username", "preferred_username", "email", "sub"]),
            groups: strings("groups"),
            client_id: Some(client).filter(|c| !c.is_empty()).or_else(|| {
                id.claims.get("aud").and_then(|a| match a {
                    Value::String(s) => Some(s.clone()),
                    Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
                    _ => None,
                })
            }),
            scopes,
            token_kind: format!("upstream:{}", provider.name()),
            expires_at: id.expires_at,
            family: None,
        })
    }

    fn check_provider(&self, route: &Route, identity: &Identity, trail: &mut Trail) -> Result<(), Refusal> {
        let provider = identity.token_kind.strip_prefix("upstream:").unwrap_or_default();
        if route.providers.is_empty() || route.providers.iter().any(|p| p == provider) {
            return Ok(());
        }
        Err(deny(
            trail,
            Reason::InvalidToken,
            "provider",
            format!(
                "route {:?} accepts providers {}; the token is from {provider:?}",
                route.name,
                list(&route.providers)
            ),
        ))
    }

    /// The route's demands on the verified caller: client, scopes, groups.
    fn check_requirements(&self, route: &Route, id: &Identity, trail: &mut Trail) -> Result<(), Refusal> {
        if !route.clients.is_empty() {
            let client = id.client_id.as_deref().unwrap_or("");
            if !route.clients.iter().any(|c| c == client) {
                return Err(deny(
                    trail,
                    Reason::InsufficientScope,
                    "client",
                    format!(
                        "route {:?} accepts clients {}; token is client {client:?}'s",
                        route.name,
                        list(&route.clients)
                    ),
                ));
            }
            trail.pass("client", client.to_string());
        }
        if !route.scopes.is_empty() {
            let missing: Vec<String> = route.scopes.iter().filter(|s| !id.scopes.contains(s)).cloned().collect();
            if !missing.is_empty() {
                return Err(deny(
                    trail,
                    Reason::InsufficientScope,
                    "scope",
                    format!(
                        "route {:?} needs scope {}; token has {}",
                        route.name,
                        missing.join(" "),
                        if id.scopes.is_empty() { "none".into() } else { id.scopes.join(" ") }
                    ),
                ));
            }
            trail.pass("scope", format!("has {}", route.scopes.join(" ")));
        }
        if !route.groups.is_empty() {
            match route.groups.iter().find(|g| id.groups.contains(g)) {
                Some(g) => trail.pass("group", format!("member of {g}")),
                None => {
                    return Err(deny(
                        trail,
                        Reason::InsufficientScope,
                        "group",
                        format!(
                            "route {:?} needs one of groups {}; {:?} is in {}",
                            route.name,
                            list(&route.groups),
                            id.username,
                            list(&id.groups)
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Admin API access: the admin token, or an access token carrying [`ADMIN_SCOPE`].
    /// Denials are audited like every other.
    /// Who a bearer token lets read the audit trail: the admin token or an access token with
    /// the admin scope reads everything (as the admin API admits them); any other valid access
    /// token of this issuer or a user pool reads its own user's events.
    #[crate::entry_point]
    pub async fn audit_reader(&self, token: &str) -> Result<AuditReader, Refusal> {
        if self.kernel.check_admin_token(token).await {
            return Ok(AuditReader::Admin);
        }
        let mut trail = Trail::new();
        if !looks_like_jwt(token) {
            return Err(deny(
                &mut trail,
                Reason::InvalidToken,
                "token",
                "bearer token is neither the admin token nor an access token",
            ));
        }
        let (id, _) = self.verified_identity(token, &self.fallback, &mut trail).await?;
        if id.scopes.iter().any(|s| s == ADMIN_SCOPE) {
            Ok(AuditReader::Admin)
        } else {
            Ok(AuditReader::User(id.subject.clone()))
        }
    }

    #[crate::entry_point]
    pub async fn authorize_admin(&self, bearer: Option<&str>, ctx: &RequestContext) -> Result<String, Refusal> {
        let mut trail = Trail::new();
        let result = async {
            let Some(token) = bearer else {
                return Err(deny(&mut trail, Reason::MissingToken, "token", "the admin API needs a bearer token"));
            };
            if self.kernel.check_admin_token(token).await {
                trail.pass("admin token", "matches");
                return Ok("admin".to_string());
            }
            if !looks_like_jwt(token) {
                return Err(deny(
                    &mut trail,
                    Reason::InvalidToken,
                    "admin token",
                    "bearer token is not the admin token",
                ));
            }
            let route = &self.fallback;
            let (id, _) = self.verified_identity(token, route, &mut trail).await?;
            if !id.scopes.iter().any(|s| s == ADMIN_SCOPE) {
                return Err(deny(
                    &mut trail,
                    Reason::InsufficientScope,
                    "scope",
                    format!(
                        "the admin API needs scope {ADMIN_SCOPE}; token has {}",
                        if id.scopes.is_empty() { "none".into() } else { id.scopes.join(" ") }
                    ),
                ));
            }
            trail.pass("scope", ADMIN_SCOPE);
            Ok(format!("{} via {}", id.username, id.client_id.as_deref().unwrap_or("?")))
        }
        .await;
        if let Err(d) = &result {
            self.kernel.record_refusal("AdminAccess", ctx, d).await;
        }
        result
    }
}
