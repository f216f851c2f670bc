//! Route rules: which requests a route covers (path pattern, methods, hosts) and what it asks of
//! the caller (token kind, scopes, groups, clients, source networks).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizerConfig {
    /// What a request no route covers gets: `deny` (the default) or `authenticated` (any valid
    /// access token of this issuer).
    pub default_action: DefaultAction,
    /// Refuse access tokens whose refresh family (sign-in session) was revoked.
    pub check_revocation: bool,
    /// Verified tokens kept in memory; 0 turns the cache off.
    pub cache_capacity: u64,
    /// Sign-in sessions whose liveness is kept in memory for the revocation check; 0 reads the
    /// store on every check that the token cache does not answer.
    pub session_cache_capacity: u64,
    /// Longest a cached verification or session liveness is trusted: a revocation made by another
    /// instance is honoured within this many seconds (one made here, at once).
    pub cache_seconds: i64,
    /// Also audit allowed decisions (denials are always audited).
    pub audit_allows: bool,
    /// Names of the identity headers forward-auth answers with.
    pub headers: IdentityHeaders,
    /// Checked in order; the first route whose path, method and host match decides.
    pub routes: Vec<RouteConfig>,
}

impl Default for AuthorizerConfig {
    fn default() -> Self {
        Self {
            default_action: DefaultAction::Deny,
            check_revocation: true,
            cache_capacity: 100_000,
            session_cache_capacity: 100_000,
            cache_seconds: 30,
            audit_allows: false,
            headers: IdentityHeaders::default(),
            routes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    Deny,
    Authenticated,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityHeaders {
    pub subject: String,
    pub username: String,
    pub groups: String,
    pub client_id: String,
    pub scopes: String,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            subject: "X-Auth-Subject".into(),
            username: "X-Auth-Username".into(),
            groups: "X-Auth-Groups".into(),
            client_id: "X-Auth-Client-Id".into(),
            scopes: "X-Auth-Scopes".into(),
        }
    }
}

/// Which bearer token a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// An access token of this issuer.
    #[default]
    Access,
    /// A token of an upstream provider (as the exchange endpoint's own authorizer does).
    Upstream,
    /// Either of the above.
    Any,
    /// No token needed: a public route.
    None,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Shown in trails and audit records; defaults to `METHODS path`.
    pub name: Option<String>,
    /// `/orders`, `/orders/{id}` or `/orders/*` (one segment), `/orders/**` (any rest).
    pub path: String,
    /// Empty: any method.
    pub methods: Vec<String>,
    /// Empty: any host. `api.example.com` or `*.example.com`.
    pub hosts: Vec<String>,
    pub token: TokenKind,
    /// For upstream tokens: the providers accepted (empty: any configured provider).
    pub providers: Vec<String>,
    /// Every one of these scopes is required.
    pub scopes: Vec<String>,
    /// Membership in at least one of these groups is required.
    pub groups: Vec<String>,
    /// The token must belong to one of these clients.
    pub clients: Vec<String>,
    /// The source address must be in one of these networks (`10.0.0.0/8`, `::1/128`).
    pub networks: Vec<String>,
}

/// A route ready to match.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    segments: Vec<Segment>,
    methods: Vec<String>,
    hosts: Vec<String>,
    pub token: TokenKind,
    pub providers: Vec<String>,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    pub clients: Vec<String>,
    pub networks: Vec<Network>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*` or `{name}`: exactly one segment.
    One,
    /// `**`: everything after (also nothing).
    Rest,
}

impl Route {
    /// Compiles a route; the error names what is wrong with it.
    pub fn compile(c: &RouteConfig) -> Result<Self, String> {
        if !c.path.starts_with('/') {
            return Err(format!("path {:?} must start with '/'", c.path));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = c.path.split('/').filter(|s| !s.is_empty()).collect();
        for (i, p) in parts.iter().enumerate() {
            segments.push(match *p {
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(format!("path {:?}: '**' may only end a pattern", c.path)),
                "*" => Segment::One,
                p if p.starts_with('{') && p.ends_with('}') => Segment::One,
                p if p.contains('*') || p.contains('{') => {
                    return Err(format!("path {:?}: segment {p:?} mixes a wildcard with text", c.path))
                }
                p => Segment::Literal(p.to_string()),
            });
        }
        let methods: Vec<String> = c.methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        if let Some(m) = methods.iter().find(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic())) {
            return Err(format!("method {m:?} is not an HTTP method"));
        }
        if c.token == TokenKind::None
            && !(c.scopes.is_empty() && c.groups.is_empty() && c.clients.is_empty() && c.providers.is_empty())
        {
            return Err("a route with token = \"none\" cannot require scopes, groups, clients or providers".into());
        }
        let networks = c.networks.iter().map(|n| Network::parse(n)).collect::<Result<Vec<_>, _>>()?;
        let name = c.name.clone().unwrap_or_else(|| {
            let m = if methods.is_empty() { "ANY".to_string() } else { methods.join(",") };
            format!("{m} {}", c.path)
        });
        Ok(Self {
            name,
            segments,
            methods,
            hosts: c.hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            token: c.token,
            providers: c.providers.clone(),
            scopes: c.scopes.clone(),
            groups: c.groups.clone(),
            clients: c.clients.clone(),
            networks,
        })
    }

    /// Whether this route covers the request (path already normalized).
    pub fn matches(&self, method: &str, path: &str, host: Option<&str>) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            return false;
        }
        if !self.hosts.is_empty() {
            let Some(host) = host.map(strip_port) else { return false };
            if !self.hosts.iter().any(|h| host_matches(h, host)) {
                return false;
            }
        }
        let mut parts = path.split('/').filter(|s| !s.is_empty());
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(l) => {
                    if parts.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.len() > suffix.len() + 1 && host.to_ascii_lowercase().ends_with(&format!(".{suffix}")),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// Normalizes a request path the way a backend will see it: the query is dropped, percent-escapes
/// decoded, `.`/`..` and empty segments resolved. A path that cannot be read is refused, so that a
/// rule can never be dodged by spelling the same path another way.
pub fn normalize_path(raw: &str) -> Result<String, String> {
    let path = raw.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(format!("path {:?} does not start with '/'", truncate(path)));
    }
    let decoded =
        percent_decode(path).ok_or_else(|| format!("path {:?} has a malformed percent-escape", truncate(path)))?;
    if decoded.contains(['\0', '\\']) {
        return Err(format!("path {:?} holds a NUL or backslash", truncate(path)));
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    Ok(format!("/{}", out.join("/")))
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An address block, for route `networks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.parse().map_err(|_| format!("network {s:?} is not an address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix =
            if p.is_empty() { max } else { p.parse().map_err(|_| format!("network {s:?} has a bad prefix"))? };
        if prefix > max {
            return Err(format!("network {s:?}: prefix longer than {max}"));
        }
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) if self.addr.is_ipv4() => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            other => other,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str, methods: &[&str]) -> Route {
        Route::compile(&RouteConfig {
            path: path.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn patterns_match_segments() {
        let r = route("/orders/{id}", &["get"]);
        assert!(r.matches("GET", "/orders/42", None));
        assert!(!r.matches("POST", "/orders/42", None));
        assert!(!r.matches("GET", "/orders", None));
        assert!(!r.matches("GET", "/orders/42/items", None));
        let r = route("/static/**", &[]);
        assert!(r.matches("DELETE", "/static", None));
        assert!(r.matches("GET", "/static/a/b/c", None));
        assert!(!r.matches("GET", "/staticx", None));
        assert_eq!(r.name, "ANY /static/**");
        assert!(Route::compile(&RouteConfig { path: "/a/**/b".into(), ..Default::default() }).is_err());
        assert!(Route::compile(&RouteConfig { path: "/a*".into(), ..Default::default() }).is_err());
        assert!(Route::compile(&RouteConfig { path: "a".into(), ..Default::default() }).is_err());
    }

    #[test]
    fn hosts_match_with_wildcards_and_ports() {
        let r = Route::compile(&RouteConfig {
            path: "/**".into(),
            hosts: vec!["*.example.com".into(), "api.test".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(r.matches("GET", "/", Some("a.example.com:8443")));
        assert!(r.matches("GET", "/", Some("API.test")));
        assert!(!r.matches("GET", "/", Some("example.com")));
        assert!(!r.matches("GET", "/", None));
    }

    #[test]
    fn paths_are_normalized_before_matching() {
        assert_eq!(normalize_path("/public/../admin?x=1").unwrap(), "/admin");
        assert_eq!(normalize_path("//a/./b/").unwrap(), "/a/b");
        assert_eq!(normalize_path("/a/%2e%2e/b").unwrap(), "/b");
        assert_eq!(normalize_path("/../../x").unwrap(), "/x");
        assert!(normalize_path("/a%zz").is_err());
        assert!(normalize_path("/a%00b").is_err());
        assert!(normalize_path("relative").is_err());
    }

    #[test]
    fn networks_contain_addresses() {
        let n = Network::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let n = Network::parse("fd00::/8").unwrap();
        assert!(n.contains("fdab::1".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("nonsense").is_err());
        assert!(Network::parse("127.0.0.1").unwrap().contains("127.0.0.1".parse().unwrap()));
    }
}
