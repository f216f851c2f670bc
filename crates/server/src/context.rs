//! Per-request context: a request id on every response, the caller's address and user agent,
//! and latency metrics.
//!
//! The caller's address is the peer's, unless the peer is one of `server.trusted_proxies`: then
//! it is the rightmost `X-Forwarded-For` entry that is not a trusted proxy. Each proxy appends
//! the address it was reached from, so everything left of that entry was written by the client
//! and is never believed. `Forwarded` (RFC 7239) and `X-Real-IP` are not read.

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::authorizer::rules::Network;
use tokenbridge_core::Reason;

#[derive(Clone)]
struct RequestMeta {
    request_id: String,
    source_ip: String,
    user_agent: String,
}

pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let request_id = tokenbridge_core::secrets::uuid_v4();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let source_ip = match peer {
        Some(peer) => client_address(peer, forwarded_for(req.headers()), &state.proxies).to_string(),
        None => String::new(),
    };
    let user_agent =
        req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(256).collect();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "other".into());
    let method = req.method().to_string();
    req.extensions_mut().insert(RequestMeta { request_id: request_id.clone(), source_ip, user_agent });
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16().to_string();
    metrics::histogram!("tokenbridge_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone()).record(started.elapsed().as_secs_f64());
    metrics::counter!("tokenbridge_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    resp
}

/// Extracts the [`RequestContext`] the engine records; `event_source` is set by the handler.
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let meta = parts.extensions.get::<RequestMeta>().cloned();
        let mut ctx = RequestContext::new("tokenbridge");
        if let Some(m) = meta {
            ctx.request_id = m.request_id;
            ctx.source_ip = m.source_ip;
            ctx.user_agent = m.user_agent;
        }
        Ok(Ctx(ctx))
    }
}

impl Ctx {
    /// The context of a request to one door, as its records file it: their `eventSource`, and
    /// the protocol's names for refusals (what its records say in `errorCode`: the name the
    /// client was answered with).
    pub fn recorded_as(self, event_source: &str, error_codes: fn(&str, Reason) -> &'static str) -> RequestContext {
        RequestContext { event_source: event_source.to_string(), ..self.0 }.named_by(error_codes)
    }
}

/// Every `X-Forwarded-For` entry, in order, across repeated header lines. A line that is not
/// text yields one unreadable entry, which stops the walk there.
fn forwarded_for(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| match v.to_str() {
            Ok(text) => text.split(',').map(str::trim).collect::<Vec<_>>(),
            Err(_) => vec![""],
        })
        .collect()
}

/// The client's address: `peer` unless it is a trusted proxy; then, walking `X-Forwarded-For`
/// from the right, the first entry that is not a trusted proxy. An entry that is not an address
/// stops the walk at the last trusted hop; a chain of trusted proxies only ends at its leftmost.
pub fn client_address(peer: IpAddr, forwarded_for: Vec<&str>, trusted: &[Network]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer;
    if !is_trusted(peer) {
        return peer;
    }
    for entry in forwarded_for.iter().rev() {
        let Some(ip) = parse_entry(entry) else { return client };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(sa) = entry.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')).and_then(|e| e.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter().map(|n| Network::parse(n).unwrap()).collect()
    }

    fn client(peer: &str, xff: &[&str], trusted: &[&str]) -> String {
        client_address(peer.parse().unwrap(), xff.to_vec(), &nets(trusted)).to_string()
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_address() {
        let proxy = ["127.0.0.1/32", "10.0.0.0/8"];
        // No trusted proxy: the header is the client's own claim.
        assert_eq!(client("198.51.100.7", &["10.0.0.1"], &[]), "198.51.100.7");
        assert_eq!(client("198.51.100.7", &["10.0.0.1"], &proxy), "198.51.100.7");
        // Behind proxies: left of the first untrusted entry from the right is spoofable.
        assert_eq!(client("127.0.0.1", &["203.0.113.9", "198.51.100.7"], &proxy), "198.51.100.7");
        assert_eq!(client("127.0.0.1", &["203.0.113.9", "198.51.100.7", "10.1.2.3"], &proxy), "198.51.100.7");
        assert_eq!(client("127.0.0.1", &["10.9.9.9", "10.1.2.3"], &proxy), "10.9.9.9");
        assert_eq!(client("127.0.0.1", &[], &proxy), "127.0.0.1");
        // Ports and brackets, as some proxies write them.
        assert_eq!(client("127.0.0.1", &["198.51.100.7:4711"], &proxy), "198.51.100.7");
        assert_eq!(client("127.0.0.1", &["[2001:db8::1]:4711"], &proxy), "2001:db8::1");
        assert_eq!(client("127.0.0.1", &["[2001:db8::1]"], &proxy), "2001:db8::1");
        // Garbage stops the walk at the last trusted hop: never further left.
        assert_eq!(client("127.0.0.1", &["198.51.100.7", "unknown"], &proxy), "127.0.0.1");
        assert_eq!(client("127.0.0.1", &["198.51.100.7", "unknown", "10.1.2.3"], &proxy), "10.1.2.3");
        assert_eq!(client("127.0.0.1", &["198.51.100.7", ""], &proxy), "127.0.0.1");
        // An IPv4 peer seen as an IPv4-mapped IPv6 address is still the trusted proxy.
        assert_eq!(client("::ffff:127.0.0.1", &["198.51.100.7"], &proxy), "198.51.100.7");
    }
}
