//! 4. Denial of service bounds.
//!
//! (a) Connections: a header must arrive within `server.header_read_timeout_seconds`, a
//!     connection that moves no byte for `server.idle_timeout_seconds` is closed, and at most
//!     `server.max_connections` are served at once (further ones wait in the listen backlog),
//!     while an established client still gets `/healthz` answered.
//! (b) GraphQL: aliases, selection depth, fields and the response's size are bounded; each
//!     refusal is a GraphQL `errors` entry naming its limit.
//! (c) Echoes: a huge request value is neither recorded whole in the audit trail nor repeated
//!     whole in an error.
//! (d) Memory after a burst cannot be asserted in a test: `bench/memory.sh` measures it against
//!     the release build and prints the figures (see BENCHMARKS.md, "Memory after a burst").

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// --- (a) connections ---

/// A server from the test configuration with these connection bounds.
async fn bounded_server(max_connections: usize, header_read_timeout: u64, idle_timeout: u64) -> Server {
    Server::custom(Opts {
        configure: Some(Box::new(move |c| {
            c.server.max_connections = max_connections;
            c.server.header_read_timeout_seconds = header_read_timeout;
            c.server.idle_timeout_seconds = idle_timeout;
        })),
        ..Default::default()
    })
    .await
}

async fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://")).await.expect("connect")
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: tokenbridge\r\n\r\n";

/// Reads one HTTP/1.1 response (head and `Content-Length` body): its status code, or `None` when
/// the connection ends first.
async fn read_response(conn: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                match conn.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return Some(status);
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether the server has closed `conn` (reading gives end of file or a reset, after whatever
/// it sent before closing), waiting at most `within`.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn unfinished_headers_are_closed_and_healthz_answers_at_the_connection_cap() {
    const CAP: usize = 6;
    const HEADER_SECONDS: u64 = 3;
    let s = bounded_server(CAP, HEADER_SECONDS, 60).await;

    // An established keep-alive client (a load balancer's health check).
    let mut established = connect(&s).await;
    established.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut established).await, Some(200));

    // The rest of the cap: connections that send half a header, or nothing at all.
    let opened = Instant::now();
    let mut stalled = Vec::new();
    for i in 0..CAP - 1 {
        let mut c = connect(&s).await;
        if i % 2 == 0 {
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: tokenbridge\r\nX-Slow: ").await.unwrap();
        }
        stalled.push(c);
    }
    // Beyond the cap: complete requests that must wait for a free slot.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let mut c = connect(&s).await;
        c.write_all(HEALTHZ).await.unwrap();
        waiting.push(c);
    }

    // The established client is still answered while the cap is reached.
    established.write_all(HEALTHZ).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(1), read_response(&mut established)).await;
    assert_eq!(answered.ok().flatten(), Some(200), "/healthz on an established connection at the cap");
    // The waiting connections are not served while the cap is reached.
    for c in &mut waiting {
        let r = tokio::time::timeout(Duration::from_millis(300), read_response(c)).await;
        assert!(r.is_err(), "a connection beyond max_connections = {CAP} was served at once: {r:?}");
    }
    assert!(opened.elapsed() < Duration::from_secs(HEADER_SECONDS), "the checks above ran too slowly to mean anything");

    // The stalled ones are closed once the header timeout has passed ...
    for (i, c) in stalled.iter_mut().enumerate() {
        assert!(
            closed_within(c, Duration::from_secs(HEADER_SECONDS + 8)).await,
            "connection {i} without a whole header still open {:?} after it opened",
            opened.elapsed()
        );
    }
    assert!(opened.elapsed() >= Duration::from_millis(HEADER_SECONDS * 1000 - 200), "closed before the timeout");
    // ... which frees their slots for the waiting ones.
    for c in &mut waiting {
        let r = tokio::time::timeout(Duration::from_secs(10), read_response(c)).await;
        assert_eq!(r.ok().flatten(), Some(200), "a waiting connection is served once slots free up");
    }
}

#[tokio::test]
async fn a_stalled_upload_is_closed_after_the_idle_timeout() {
    let s = bounded_server(64, 30, 1).await;
    let mut c = connect(&s).await;
    c.write_all(
        b"POST /oauth2/token HTTP/1.1\r\nHost: tokenbridge\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 100\r\n\r\ngrant_type=",
    )
    .await
    .unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut c, Duration::from_secs(10)).await, "a stalled upload is never closed");
    assert!(started.elapsed() >= Duration::from_millis(800), "closed before the idle timeout: {:?}", started.elapsed());
    // Other clients are unaffected.
    s.get("/healthz").await.assert_ok();
}

// --- (b) GraphQL ---

/// The demo (whose router mounts the GraphQL API) and a user-pool access token of alice.
async fn graphql_demo() -> (Server, String) {
    let s = Server::demo().await;
    let client = s.demo_cognito("client_id");
    let auth = s.pool_auth(&client, "alice", "alice-local-pw").await;
    let token = auth["AccessToken"].as_str().expect("AccessToken").to_string();
    (s, token)
}

async fn graphql(s: &Server, token: &str, query: &str) -> Resp {
    let body = json!({ "query": query }).to_string();
    s.send(
        s.http
            .post(s.url("/demo/graphql"))
            .header("content-type", "application/json")
            .header("authorization", token)
            .body(body),
    )
    .await
}

/// A GraphQL refusal: one `errors` entry whose message names `limit`, no data, a short body.
#[track_caller]
fn assert_limit_refusal(r: &Resp, status: u16, limit: &str) {
    assert_eq!(r.status, status, "{}", &r.text[..r.text.len().min(500)]);
    assert!(r.text.len() < 2048, "a refusal of {} bytes", r.text.len());
    let errors = r.json["errors"].as_array().unwrap_or_else(|| panic!("no errors: {}", r.text));
    assert_eq!(errors.len(), 1, "{}", r.text);
    let message = errors[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(limit) && message.contains("limit"),
        "the message does not name the {limit} limit: {message}"
    );
    assert!(r.json["data"].is_null(), "{}", r.text);
}

#[tokio::test]
async fn graphql_aliases_depth_and_fields_are_bounded() {
    let (s, token) = graphql_demo().await;
    // The reported query: 1,000 aliases of the whole list.
    let aliases: String = (0..1000).map(|i| format!("a{i}: listItems {{ id name owner createdAt }} ")).collect();
    let r = graphql(&s, &token, &format!("{{ {aliases} }}")).await;
    assert_limit_refusal(&r, 400, "aliases");
    assert_eq!(r.json["errors"][0]["errorType"], "ValidationError");

    // Deep nesting (refused before the schema is consulted).
    let deep = format!("{{ listItems {} id {} }}", "{ id ".repeat(20), "}".repeat(20));
    let r = graphql(&s, &token, &deep).await;
    assert_limit_refusal(&r, 400, "depth");

    // Many fields, without a single alias.
    let many = format!("{{ listItems {{ {} }} }}", "id name ".repeat(1500));
    let r = graphql(&s, &token, &many).await;
    assert_limit_refusal(&r, 400, "fields");

    // Within the limits, the API answers as before.
    let r = graphql(&s, &token, "{ a: listItems { id } b: listItems { name } }").await;
    r.assert_ok();
    assert_eq!(r.json["data"]["a"].as_array().map(Vec::len), Some(2), "{}", r.text);
}

/// Fragments are expanded where they are spread before anything is counted: spreading one
/// fragment twice at every level (2^24 copies) or a cycle is refused at once, naming the limit.
#[tokio::test]
async fn graphql_fragment_fan_out_and_cycles_are_bounded() {
    let (s, token) = graphql_demo().await;
    let fan_out = |last: &str| {
        let mut q = format!("{{ listItems {{ ...F24 }} }} fragment F0 on Item {{ {last} }}");
        for i in 1..=24 {
            q.push_str(&format!(" fragment F{i} on Item {{ ...F{} ...F{} }}", i - 1, i - 1));
        }
        q
    };
    let started = std::time::Instant::now();
    let r = graphql(&s, &token, &fan_out("id name")).await;
    assert_limit_refusal(&r, 400, "fragment spreads");
    assert_eq!(r.json["errors"][0]["errorType"], "ValidationError");
    // The same fan-out closing a cycle instead of selecting fields.
    let r = graphql(&s, &token, &fan_out("...F24")).await;
    assert_limit_refusal(&r, 400, "fragment spreads");
    // Aliases hidden in a fragment count at each spread.
    let aliases: String = (0..20).map(|i| format!("a{i}: id ")).collect();
    let q = format!("{{ listItems {{ ...A ...A }} }} fragment A on Item {{ {aliases} }}");
    assert_limit_refusal(&graphql(&s, &token, &q).await, 400, "aliases");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "answered in {:?}", started.elapsed());
    // A plain cycle is a validation error.
    let r =
        graphql(&s, &token, "{ listItems { ...A } } fragment A on Item { id ...B } fragment B on Item { ...A }").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["errors"][0]["message"].as_str().unwrap_or_default().contains("FragmentCycle"), "{}", r.text);
}

#[tokio::test]
async fn a_graphql_response_beyond_its_size_limit_is_refused() {
    let (s, token) = graphql_demo().await;
    // Fill the list (1,000 items kept) with long names, 25 per request.
    let name = "n".repeat(250);
    for batch in 0..40 {
        let adds: String = (0..25).map(|i| format!("a{i}: addItem(name: \"{name}-{batch}-{i}\") {{ id }} ")).collect();
        graphql(&s, &token, &format!("mutation {{ {adds} }}")).await.assert_ok();
    }
    // 25 lists of 1,000 items of ~350 bytes: about 9 MB if it were answered.
    let lists: String = (0..25).map(|i| format!("l{i}: listItems {{ id name owner createdAt }} ")).collect();
    let r = graphql(&s, &token, &format!("{{ {lists} }}")).await;
    assert_limit_refusal(&r, 200, "response size");
    // One list is fine.
    let r = graphql(&s, &token, "{ listItems { id name owner createdAt } }").await;
    r.assert_ok();
    assert_eq!(r.json["data"]["listItems"].as_array().map(Vec::len), Some(1000));
}

// --- (c) what is recorded and echoed ---

const HUGE: usize = 1 << 20;

/// The longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    text.split(|x| x != c).map(str::len).max().unwrap_or(0)
}

/// The error is short and repeats at most a short excerpt of the value (a run of `Z`); the
/// request's audit records, if any, stay small.
async fn assert_bounded(s: &Server, what: &str, r: &Resp) {
    assert!((400..500).contains(&r.status), "{what}: {} {}", r.status, &r.text[..r.text.len().min(300)]);
    assert!(r.text.len() < 4096, "{what}: an error of {} bytes", r.text.len());
    assert!(
        longest_run(&r.text, 'Z') <= 256,
        "{what}: the error repeats {} characters of the value",
        longest_run(&r.text, 'Z')
    );
    for record in s.audit_of(r.request_id()).await {
        let size = record.record.to_string().len();
        assert!(size < 16 * 1024, "{what}: an audit record of {size} bytes");
        assert!(record.username.as_ref().is_none_or(|u| u.len() <= 256), "{what}: username column");
        assert!(record.event_name.len() <= 256, "{what}: event name column");
    }
}

#[tokio::test]
async fn huge_request_values_are_neither_recorded_nor_echoed_whole() {
    let s = Server::demo().await;
    let z = "Z".repeat(HUGE);
    let pool_client = s.demo_cognito("client_id");

    // The reported case: an unauthenticated InitiateAuth with a 1 MB ClientId.
    let body = json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": z,
        "AuthParameters": { "USERNAME": "alice", "PASSWORD": "x" } });
    let r = s.cognito("InitiateAuth", &body).await;
    assert_eq!(r.json["__type"], "ResourceNotFoundException", "{}", &r.text[..r.text.len().min(300)]);
    assert_bounded(&s, "InitiateAuth ClientId", &r).await;
    assert!(!s.audit_of(r.request_id()).await.is_empty(), "the refusal is audited");

    // A 1 MB username at a real client.
    let r = s.password_auth(&pool_client, &z, "x").await;
    assert_bounded(&s, "InitiateAuth USERNAME", &r).await;

    // A 1 MB identity pool id.
    let r = s.cognito_identity("GetId", &json!({ "IdentityPoolId": z })).await;
    assert_bounded(&s, "GetId IdentityPoolId", &r).await;

    // A 1 MB role ARN at STS (form POST /).
    let arn = format!("arn:aws:iam::000000000000:role/{z}");
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", arn.as_str()),
        ("RoleSessionName", "s"),
        ("WebIdentityToken", "not-a-token"),
    ];
    let r = s.send(s.http.post(s.url("/")).form(&form)).await;
    assert_bounded(&s, "AssumeRoleWithWebIdentity RoleArn", &r).await;

    // A 1 MB client_id at the OAuth token endpoint.
    let r = s
        .send(s.http.post(s.url("/oauth2/token")).form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &z),
            ("refresh_token", "x"),
        ]))
        .await;
    assert_bounded(&s, "/oauth2/token client_id", &r).await;

    // A 64 KB forwarded path and host at forward-auth (headers have their own size limit).
    let long = "Z".repeat(64 * 1024);
    let r = s
        .send(
            s.http
                .get(s.url("/forward-auth"))
                .header("x-forwarded-method", "GET")
                .header("x-forwarded-host", format!("{long}.example"))
                .header("x-forwarded-uri", format!("/{long}")),
        )
        .await;
    assert_bounded(&s, "forward-auth path", &r).await;
}

/// The identity-pool actions anyone may call (GetId makes an identity each time it is given a
/// new login) share the per-address limit of the other unsigned doors, refused in AWS's words.
#[tokio::test]
async fn unsigned_identity_pool_actions_are_rate_limited_per_address() {
    let s = Server::custom(Opts {
        rate_limits: Some(tokenbridge_core::config::RateLimits {
            per_ip_per_second: 1,
            per_client_per_second: 0,
            burst: 3,
        }),
        ..Default::default()
    })
    .await;
    let body = json!({ "IdentityPoolId": "us-east-1:00000000-0000-0000-0000-000000000000" });
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(s.cognito_identity("GetId", &body).await);
    }
    assert_ne!(answers[0].json["__type"], "TooManyRequestsException", "the burst is served: {}", answers[0].text);
    let r = answers.last().unwrap();
    assert_cognito_error(r, "TooManyRequestsException", "Rate exceeded");
    let (code, _, detail) = failing_check(&s, r).await;
    assert_eq!(code, "TooManyRequestsException");
    assert!(detail.contains("source address"), "{detail}");
}
