//! Route rules: which requests a route covers (path pattern, methods, hosts) and what it asks of
//! the caller (token kind, scopes, groups, clients, source networks).

use std::net::IpAddr;

// The settings a route is compiled from are plain configuration.
pub use crate::config::{AuthorizerConfig, DefaultAction, IdentityHeaders, RouteConfig, TokenKind};

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
                // Requests spelled so are refused as ambiguous (see `read_path`): never matched.
                p if p.contains([';', '\\', '%']) || p.ends_with(['.', ' ']) => {
                    return Err(format!(
                        "path {:?}: segment {p:?} holds ';', '%' or a backslash, or ends in a dot or space; \
                         write the path as servers serve it",
                        c.path
                    ))
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

    /// Whether this route covers the request (path already read exactly: [`PathReading::exact`]).
    pub fn matches(&self, method: &str, path: &str, host: Option<&str>) -> bool {
        self.covers(method, host) && self.matches_segments(path.split('/').filter(|s| !s.is_empty()), false)
    }

    /// Whether this route covers the request's lenient reading ([`PathReading::lenient`]).
    pub fn matches_lenient(&self, method: &str, segments: &[String], host: Option<&str>) -> bool {
        self.covers(method, host) && self.matches_segments(segments.iter().map(String::as_str), true)
    }

    fn covers(&self, method: &str, host: Option<&str>) -> bool {
        // HEAD is GET without the body (RFC 9110 §9.3.2): servers answer it with the GET handler, so
        // a route guarding GET guards HEAD too, or a HEAD would fall through to the default action.
        let listed = |m: &String| m.eq_ignore_ascii_case(method) || (m == "GET" && method.eq_ignore_ascii_case("HEAD"));
        if !self.methods.is_empty() && !self.methods.iter().any(listed) {
            return false;
        }
        if !self.hosts.is_empty() {
            let Some(host) = host.map(host_name) else { return false };
            if !self.hosts.iter().any(|h| host_matches(h, host)) {
                return false;
            }
        }
        true
    }

    fn matches_segments<'a>(&self, mut parts: impl Iterator<Item = &'a str>, ignore_case: bool) -> bool {
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(l) => match parts.next() {
                    Some(p) if p == l || (ignore_case && p.eq_ignore_ascii_case(l)) => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }
}

/// The host without its port and without the trailing dot of a fully qualified name
/// (`api.example.com.` is `api.example.com`).
fn host_name(host: &str) -> &str {
    let h = strip_port(host);
    h.strip_suffix('.').unwrap_or(h)
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

/// A request path as the authorizer reads it: `exact`, the path every server agrees on (escapes
/// decoded once, `.`/`..` and empty segments resolved), and `lenient`, its segments as the most
/// forgiving servers read them (`;` parameters dropped as Tomcat and Jetty do, trailing dots and
/// spaces dropped and case ignored as Windows servers do). A request whose two readings fall under
/// different routes is refused as ambiguous: whichever a backend takes, it is judged by the route
/// of what the backend serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathReading {
    pub exact: String,
    pub lenient: Vec<String>,
}

impl PathReading {
    /// The lenient reading as a path, for messages.
    pub fn lenient_path(&self) -> String {
        format!("/{}", self.lenient.join("/"))
    }
}

/// Reads a request path as sent (query, fragment and escapes included). Refused, with the reason:
/// no leading `/`; a malformed escape; escapes that are not UTF-8; an escaped `/`, a backslash,
/// a control character; an escape escaped twice (`%252F`); an escaped dot segment (`%2e%2e`);
/// a segment of only dots and spaces other than `.` and `..`. Servers disagree about each of these,
/// so the path is never guessed at.
pub fn read_path(raw: &str) -> Result<PathReading, String> {
    let path = raw.split(['?', '#']).next().unwrap_or("");
    let shown = truncate(path);
    if !path.starts_with('/') {
        return Err(format!("path {shown:?} does not start with '/'"));
    }
    let mut exact: Vec<String> = Vec::new();
    let mut lenient: Vec<String> = Vec::new();
    for raw_seg in path.split('/') {
        let seg = percent_decode(raw_seg).map_err(|e| format!("path {shown:?} {e}"))?;
        if seg.contains('/') {
            return Err(format!("path {shown:?} holds an escaped '/' (%2F), which servers read differently"));
        }
        if seg.contains('\\') {
            return Err(format!("path {shown:?} holds a backslash, which Windows servers read as '/'"));
        }
        if seg.chars().any(char::is_control) {
            return Err(format!("path {shown:?} holds a control character"));
        }
        if has_escape(&seg) {
            return Err(format!(
                "path {shown:?} holds a percent-escape escaped twice, which servers that decode twice read differently"
            ));
        }
        let dots = matches!(seg.as_str(), "." | "..");
        if dots && seg != raw_seg {
            return Err(format!("path {shown:?} holds an escaped dot segment ({raw_seg:?})"));
        }
        if !seg.is_empty() && !dots && seg.chars().all(|c| c == '.' || c == ' ') {
            return Err(format!("path {shown:?} has a segment {seg:?} of only dots and spaces"));
        }
        push_segment(&mut exact, &seg);
        // Tomcat drops the parameters before resolving dot segments (`..;x` is `..`).
        let name = seg.split(';').next().unwrap_or("");
        let name = if matches!(name, "." | "..") { name } else { name.trim_end_matches(['.', ' ']) };
        push_segment(&mut lenient, &name.to_lowercase());
    }
    Ok(PathReading { exact: format!("/{}", exact.join("/")), lenient })
}

/// Appends one decoded segment, resolving `.`, `..` (never above the root) and empty ones.
fn push_segment(out: &mut Vec<String>, seg: &str) {
    match seg {
        "" | "." => {}
        ".." => {
            out.pop();
        }
        s => out.push(s.to_string()),
    }
}

/// Whether a decoded segment still holds a `%XX` escape.
fn has_escape(s: &str) -> bool {
    s.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

fn percent_decode(s: &str) -> Result<String, &'static str> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("has a malformed percent-escape")?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "has percent-escapes that are not UTF-8")
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
        assert!(r.matches("HEAD", "/orders/42", None), "a route guarding GET guards HEAD");
        assert!(r.matches("head", "/orders/42", None));
        assert!(!route("/orders/{id}", &["post"]).matches("HEAD", "/orders/42", None));
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
    fn paths_are_read_exactly_and_leniently() {
        let read = |p: &str| read_path(p).unwrap();
        assert_eq!(read("/public/../admin?x=1").exact, "/admin");
        assert_eq!(read("//a/./b/#frag").exact, "/a/b");
        assert_eq!(read("/../../x").exact, "/x");
        assert_eq!(read("/%61dmin").exact, "/admin");
        let r = read("/Admin;v=1/x./Y%20");
        assert_eq!(r.exact, "/Admin;v=1/x./Y ");
        assert_eq!(r.lenient, ["admin", "x", "y"]);
        assert_eq!(r.lenient_path(), "/admin/x/y");
        // Tomcat resolves `..;` as `..`; the exact reading keeps it as a name.
        let r = read("/public/..;/admin");
        assert_eq!((r.exact.as_str(), r.lenient_path()), ("/public/..;/admin", "/admin".to_string()));
        assert_eq!(read("/a/;x/b").lenient, ["a", "b"]);
    }

    #[test]
    fn paths_servers_disagree_about_are_refused() {
        for (p, why) in [
            ("relative", "does not start with '/'"),
            ("/a%zz", "malformed percent-escape"),
            ("/a%2", "malformed percent-escape"),
            ("/a%+1", "malformed percent-escape"),
            ("/a%C0%AF", "not UTF-8"),
            ("/a%2Fb", "escaped '/'"),
            ("/a%5Cb", "backslash"),
            ("/a\\b", "backslash"),
            ("/a%00b", "control character"),
            ("/a%7Fb", "control character"),
            ("/a%0Ab", "control character"),
            ("/a%252Fb", "escaped twice"),
            ("/a/%2e%2e/b", "escaped dot segment"),
            ("/a/.%2E/b", "escaped dot segment"),
            ("/a/%2E/b", "escaped dot segment"),
            ("/a/.../b", "only dots and spaces"),
            ("/a/.%20/b", "only dots and spaces"),
        ] {
            let e = read_path(p).unwrap_err();
            assert!(e.contains(why), "{p}: {e}");
        }
        // A `%` that is no escape, after decoding, is just a character.
        assert_eq!(read_path("/100%25off").unwrap().exact, "/100%off");
    }

    #[test]
    fn lenient_matching_ignores_case_and_route_literals_are_plain() {
        let r = route("/admin/**", &[]);
        assert!(!r.matches("GET", "/ADMIN/x", None));
        assert!(r.matches_lenient("GET", &["ADMIN".into(), "x".into()], None));
        for bad in ["/admin;x", "/admin.", "/admin /x", "/a%2Fb", "/a\\b"] {
            let e = Route::compile(&RouteConfig { path: bad.into(), ..Default::default() }).unwrap_err();
            assert!(e.contains("write the path as servers serve it"), "{bad}: {e}");
        }
        let hosted =
            Route::compile(&RouteConfig { path: "/**".into(), hosts: vec!["api.test".into()], ..Default::default() })
                .unwrap();
        assert!(hosted.matches("GET", "/", Some("api.test.")));
        assert!(hosted.matches("GET", "/", Some("API.Test.:443")));
        assert!(!hosted.matches("GET", "/", Some("api.test.evil")));
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
