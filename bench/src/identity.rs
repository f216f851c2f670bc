//! `tokenbridge-bench graphql` and `tokenbridge-bench identity`: the identity-pool chain over
//! HTTP, closed loop, keep-alive, loopback only.
//!
//! `graphql --demo-json DIR/demo.json`: SigV4-signed `POST /demo/graphql` calls (service
//! `appsync`, the demo's region) with temporary credentials got the way an app gets them, before
//! the timed part: alice's user-pool id token (`InitiateAuth` `USER_PASSWORD_AUTH` with
//! `cognito.client_id`), `GetId` and `GetCredentialsForIdentity` on the demo identity pool
//! (`identity.identity_pool_id`) with `Logins` keyed `cognito-idp.<region>.amazonaws.com/<pool>`.
//! Every request is signed afresh (its `X-Amz-Date` is the second it is sent; the session token
//! is signed too). A call counts only when the answer is `200` with a non-null `data` and no
//! `errors`; anything else is an error, by kind (`<status> <errorType>`), with a sample.
//!
//! `identity`: one identity-pool or STS action in a loop, against the demo (`--demo-json`: the
//! real checks: the id token's signature and claims, the user and sign-in session still alive,
//! the pool, the identity, the role's trust policy, the sealed session token, the CloudTrail
//! record) or against an emulator (`--endpoint`: a pool is created there first with
//! `CreateIdentityPool`, signed with dummy credentials; any token is accepted):
//! - `credentials`: `GetCredentialsForIdentity` with `Logins` (the enhanced flow);
//! - `get-id`: `GetId` with `Logins`;
//! - `assume-role`: STS `AssumeRoleWithWebIdentity` (query protocol, unsigned) with the id token
//!   (on the demo: its `identity.role_arn`, whose trust policy admits the user pool's tokens).
//!
//! Both report the rate, latency percentiles, errors, and the CPU of the server (`--server-pid`,
//! with its threads by name), of the generator and of everything else during the measured part.

use super::aws_json::{self, post};
use super::awsig::{host_header, sha256_hex, unix_now, SigV4Signer};
use super::{
    closed_loop, excerpt, http_client, loopback_url, read_json, report, root_url, round, Outcome, Phase, RunArgs,
    Workload,
};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const IDENTITY_TARGET: &str = "AWSCognitoIdentityService.";
const USER_POOL_TARGET: &str = "AWSCognitoIdentityProviderService.";
/// Longest measured phase, seconds.
const MAX_SECONDS: u64 = 60;

/// What every loop takes.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Workers, each sending its next request as soon as the previous one is answered.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds (at most 60).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured load first, seconds.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug, Clone)]
pub struct GraphqlArgs {
    /// The demo.json that `tokenbridge demo --data-dir DIR` wrote.
    #[arg(long)]
    demo_json: PathBuf,
    /// The user-pool user who signs in (default: the first linked user with a password, alice).
    #[arg(long)]
    username: Option<String>,
    /// The GraphQL document sent.
    #[arg(long, default_value = "query { listItems { id } }")]
    query: String,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityAction {
    /// GetCredentialsForIdentity with Logins (enhanced flow).
    Credentials,
    /// GetId with Logins.
    GetId,
    /// STS AssumeRoleWithWebIdentity (query protocol, unsigned).
    AssumeRole,
}

impl IdentityAction {
    fn name(self) -> &'static str {
        match self {
            IdentityAction::Credentials => "GetCredentialsForIdentity",
            IdentityAction::GetId => "GetId",
            IdentityAction::AssumeRole => "AssumeRoleWithWebIdentity",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct IdentityArgs {
    /// tokenbridge: the demo.json of `tokenbridge demo` (pool, user, role from it).
    #[arg(long, conflicts_with = "endpoint")]
    demo_json: Option<PathBuf>,
    /// An emulator's base URL (requests are `POST {endpoint}/`): a pool is created there first.
    #[arg(long)]
    endpoint: Option<String>,
    /// The emulator's region (the pool's, and the dummy signature's).
    #[arg(long, default_value = "ap-northeast-1")]
    region: String,
    /// Role assumed on the emulator by `assume-role` (it checks nothing).
    #[arg(long, default_value = "arn:aws:iam::123456789012:role/tokenbridge-bench")]
    role_arn: String,
    /// tokenbridge: the user-pool user whose id token is the login (default: alice).
    #[arg(long)]
    username: Option<String>,
    #[arg(long, value_enum, default_value_t = IdentityAction::Credentials)]
    action: IdentityAction,
    #[command(flatten)]
    load: LoadArgs,
}

fn validate(a: &LoadArgs) -> Result<()> {
    if a.seconds == 0 || a.seconds > MAX_SECONDS {
        bail!("--seconds must be 1..={MAX_SECONDS}");
    }
    if a.warmup > 30 {
        bail!("--warmup must be at most 30 seconds");
    }
    if a.concurrency == 0 || a.concurrency > 1024 {
        bail!("--concurrency must be 1..=1024");
    }
    Ok(())
}

pub fn run_graphql(args: GraphqlArgs) -> Result<std::process::ExitCode> {
    validate(&args.load)?;
    args.load.run.runtime()?.block_on(graphql(args))
}

pub fn run_identity(args: IdentityArgs) -> Result<std::process::ExitCode> {
    validate(&args.load)?;
    args.load.run.runtime()?.block_on(identity(args))
}

// --- the wire ---

/// An AWS JSON call for the untimed setup: an error is fatal, with what the server said.
async fn setup_call(
    client: &Client,
    url: &Url,
    target: &str,
    body: Value,
    signer: Option<&SigV4Signer>,
) -> Result<Value> {
    aws_json::call(client, url, target, body.to_string().into_bytes(), signer)
        .await
        .map_err(|(kind, sample)| anyhow::anyhow!("{target}: {kind}: {sample}"))
}

// --- the demo: an id token, an identity, credentials ---

struct DemoIds {
    endpoint: Url,
    region: String,
    user_pool_id: String,
    identity_pool_id: String,
    graphql_url: Url,
    role_arn: String,
    username: String,
    id_token: String,
    /// `cognito-idp.<region>.amazonaws.com/<pool>`.
    login_key: String,
}

/// Reads demo.json and signs the user in (USER_PASSWORD_AUTH) for an id token.
async fn demo_login(client: &Client, path: &PathBuf, username: Option<&str>) -> Result<DemoIds> {
    let info = read_json(path)?;
    let s = |p: &str| -> Result<String> {
        info.pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("{} has no {p} (a build without identity pools?)", path.display()))
    };
    let users = info.get("users").and_then(Value::as_array).cloned().unwrap_or_default();
    let user = match username {
        Some(u) => users.iter().find(|x| x["username"] == u),
        None => users.iter().find(|x| x["expect"] == "linked" && x["password"].is_string()),
    }
    .with_context(|| format!("{} has no such user with a password", path.display()))?;
    let username = user["username"].as_str().unwrap_or_default().to_string();
    let password = user["password"].as_str().with_context(|| format!("{username} has no password in demo.json"))?;
    let endpoint = root_url("cognito.endpoint", &s("/cognito/endpoint")?)?;
    let region = s("/cognito/region")?;
    let user_pool_id = s("/cognito/user_pool_id")?;
    let client_id = s("/cognito/client_id")?;
    let auth = setup_call(
        client,
        &endpoint,
        &format!("{USER_POOL_TARGET}InitiateAuth"),
        json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
                "AuthParameters": { "USERNAME": username, "PASSWORD": password } }),
        None,
    )
    .await?;
    let id_token = auth
        .pointer("/AuthenticationResult/IdToken")
        .and_then(Value::as_str)
        .with_context(|| format!("InitiateAuth gave no IdToken: {}", excerpt(&auth.to_string())))?
        .to_string();
    Ok(DemoIds {
        login_key: format!("cognito-idp.{region}.amazonaws.com/{user_pool_id}"),
        endpoint,
        region: s("/identity/region").unwrap_or(region),
        user_pool_id,
        identity_pool_id: s("/identity/identity_pool_id")?,
        graphql_url: loopback_url("identity.graphql_url", &s("/identity/graphql_url")?)?,
        role_arn: s("/identity/role_arn")?,
        username,
        id_token,
    })
}

async fn get_id(client: &Client, endpoint: &Url, pool: &str, logins: &Value) -> Result<String> {
    let v = setup_call(
        client,
        endpoint,
        &format!("{IDENTITY_TARGET}GetId"),
        json!({ "IdentityPoolId": pool, "Logins": logins }),
        None,
    )
    .await?;
    v["IdentityId"].as_str().map(str::to_string).with_context(|| format!("GetId gave no IdentityId: {v}"))
}

/// Credentials of an AWS credentials answer (`Credentials` of GetCredentialsForIdentity).
fn credentials_of(v: &Value) -> Option<(&str, &str, &str)> {
    let c = v.get("Credentials")?;
    let get = |k: &str| c.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    Some((get("AccessKeyId")?, get("SecretKey")?, get("SessionToken")?))
}

// --- the load ---

enum Job {
    /// A freshly signed GraphQL POST.
    Graphql { url: Url, path: String, host: String, body: Vec<u8>, body_hash: String, signer: Box<SigV4Signer> },
    /// An AWS JSON 1.1 identity-pool call, unsigned; the answer must have what `action` gives.
    Identity { url: Url, target: String, body: Vec<u8>, action: IdentityAction },
    /// An STS query-protocol call, unsigned (form body).
    Sts { url: Url, body: Vec<u8> },
}

struct Load {
    client: Client,
    job: Job,
}

impl Workload for Load {
    async fn once(&self) -> Option<Outcome> {
        Some(self.call().await)
    }
}

impl Load {
    async fn call(&self) -> Outcome {
        match &self.job {
            Job::Graphql { url, path, host, body, body_hash, signer } => {
                let signed = signer.sign(
                    "POST",
                    path,
                    "",
                    &[("host", host), ("content-type", "application/json")],
                    body_hash,
                    unix_now(),
                );
                let mut headers = HeaderMap::new();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(
                    HeaderName::from_static("x-amz-date"),
                    HeaderValue::from_str(&signed.amz_date).expect("ascii"),
                );
                if let Some(t) = &signer.session_token {
                    match HeaderValue::from_str(t) {
                        Ok(v) => headers.insert(HeaderName::from_static("x-amz-security-token"), v),
                        Err(_) => return Outcome::Err("bad session token".into(), String::new()),
                    };
                }
                headers.insert(AUTHORIZATION, HeaderValue::from_str(&signed.authorization).expect("ascii"));
                match post(&self.client, url, headers, body.clone()).await {
                    Ok((status, bytes)) => graphql_outcome(status, &bytes),
                    Err((kind, sample)) => Outcome::Err(kind, sample),
                }
            }
            Job::Identity { url, target, body, action } => {
                match aws_json::call(&self.client, url, target, body.clone(), None).await {
                    Ok(v) => {
                        let ok = match action {
                            IdentityAction::GetId => v["IdentityId"].as_str().is_some_and(|s| !s.is_empty()),
                            _ => credentials_of(&v).is_some(),
                        };
                        if ok {
                            Outcome::Ok
                        } else {
                            Outcome::Err("200 without the expected members".into(), excerpt(&v.to_string()))
                        }
                    }
                    Err((kind, sample)) => Outcome::Err(kind, sample),
                }
            }
            Job::Sts { url, body } => {
                let mut headers = HeaderMap::new();
                headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"));
                match post(&self.client, url, headers, body.clone()).await {
                    Ok((status, bytes)) => sts_outcome(status, &bytes),
                    Err((kind, sample)) => Outcome::Err(kind, sample),
                }
            }
        }
    }
}

/// `200` with a non-null `data` object and no `errors` counts; the rest by `<status> <errorType>`.
fn graphql_outcome(status: StatusCode, body: &[u8]) -> Outcome {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    let error_type =
        v.as_ref().and_then(|v| v.pointer("/errors/0/errorType")).and_then(Value::as_str).map(str::to_string);
    let sample = || {
        v.as_ref()
            .and_then(|v| v.pointer("/errors/0/message"))
            .and_then(Value::as_str)
            .map(excerpt)
            .unwrap_or_else(|| excerpt(&String::from_utf8_lossy(body)))
    };
    match (status, &v) {
        (StatusCode::OK, Some(v)) if v["data"].is_object() && v.get("errors").is_none() => Outcome::Ok,
        (StatusCode::OK, Some(_)) => {
            Outcome::Err(format!("200 with {}", error_type.unwrap_or_else(|| "no data".into())), sample())
        }
        (StatusCode::OK, None) => Outcome::Err("200 not JSON".into(), sample()),
        (s, _) => match error_type {
            Some(t) => Outcome::Err(format!("{} {t}", s.as_u16()), sample()),
            None => Outcome::Err(s.as_u16().to_string(), sample()),
        },
    }
}

/// The text of `<name>…</name>` in an XML answer.
fn xml_text<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(&body[start..end])
}

/// `200` with credentials counts; an STS error by `<status> <Code>`.
fn sts_outcome(status: StatusCode, body: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(body);
    let has = |n: &str| xml_text(&text, n).is_some_and(|v| !v.trim().is_empty());
    if status == StatusCode::OK && has("AccessKeyId") && has("SecretAccessKey") && has("SessionToken") {
        return Outcome::Ok;
    }
    if status == StatusCode::OK {
        return Outcome::Err("200 without Credentials".into(), excerpt(&text));
    }
    let message = xml_text(&text, "Message").map(excerpt).unwrap_or_else(|| excerpt(&text));
    match xml_text(&text, "Code") {
        Some(code) => Outcome::Err(format!("{} {code}", status.as_u16()), message),
        None => Outcome::Err(status.as_u16().to_string(), message),
    }
}

/// Warms up, measures, prints; the exit code says whether anything succeeded.
async fn measure_and_report(
    load: Arc<Load>,
    a: &LoadArgs,
    bench: &str,
    what: &str,
    target: &str,
    setup: Value,
) -> Result<std::process::ExitCode> {
    if a.warmup > 0 {
        eprintln!("warming up for {} s…", a.warmup);
        closed_loop(&load, a.concurrency, Duration::from_secs(a.warmup)).await;
    }
    eprintln!("measuring {} s, {what}, closed loop, concurrency {}…", a.seconds, a.concurrency);
    let cpu = report::CpuWatch::start(a.run.server_pid);
    let Phase { mut record, elapsed, .. } = closed_loop(&load, a.concurrency, Duration::from_secs(a.seconds)).await;
    let cpu = cpu.stop();

    let secs = elapsed.as_secs_f64();
    let latency = report::Latency::of(&mut record.latencies_us);
    let rate = record.successes as f64 / secs;
    let errors: u64 = record.errors.values().sum();
    let per_call_us = |x: Option<f64>| x.filter(|_| record.successes > 0).map(|v| v * 1e6 / record.successes as f64);
    let results = json!({
        "bench": bench,
        "label": a.run.label,
        "what": what,
        "target": target,
        "setup": setup,
        "concurrency": a.concurrency,
        "seconds": a.seconds,
        "warmup_s": a.warmup,
        "elapsed_s": round(secs, 3),
        "requests": record.requests,
        "successes": record.successes,
        "errors_total": errors,
        "errors": record.errors,
        "error_samples": record.samples,
        "per_second": round(rate, 1),
        "latency_ms": latency.json(),
        "cpu_cores": cpu.cores_json(secs),
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "server_threads": cpu.threads_json(secs),
        "server_cpu_us_per_call": per_call_us(cpu.server).map(|v| round(v, 1)),
        "generator_cpu_us_per_call": per_call_us(cpu.generator).map(|v| round(v, 1)),
        "generator_threads": a.run.threads.max(1),
    });

    let mut out = String::new();
    let label = a.run.label_suffix();
    out += &format!("tokenbridge-bench {bench}{label}: {what}, closed loop, concurrency {}\n", a.concurrency);
    out += &format!("  target          {target}\n");
    out += &format!("  measured        {secs:.2} s (after {} s of warm-up)\n", a.warmup);
    out += &format!("  requests        {}\n", record.requests);
    out += &format!("  successes       {}\n", record.successes);
    out += &record.error_lines();
    if record.successes == 0 {
        out += "  throughput      NONE: not one call succeeded (the errors above are what the server answered)\n";
    } else {
        out += &format!(
            "  throughput      {rate:.1}/s{}\n",
            if errors > 0 { format!(" (and {errors} errors, not counted)") } else { String::new() }
        );
        out += &latency.line("successes only");
    }
    out += &cpu.cores_line(secs);
    out += &cpu.threads_line(secs);
    if let Some(us) = per_call_us(cpu.server) {
        out += &format!(
            "  cpu per call    server {us:.1} µs  generator {}\n",
            per_call_us(cpu.generator).map_or("n/a".into(), |v| format!("{v:.1} µs"))
        );
    }
    report::print(&out, &results, a.run.json);
    Ok(if record.successes == 0 { std::process::ExitCode::from(3) } else { std::process::ExitCode::SUCCESS })
}

// --- the commands ---

async fn graphql(args: GraphqlArgs) -> Result<std::process::ExitCode> {
    let client = http_client(args.load.concurrency.max(4))?;
    let started = Instant::now();
    let ids = demo_login(&client, &args.demo_json, args.username.as_deref()).await?;
    let logins = json!({ ids.login_key.clone(): ids.id_token });
    let identity_id = get_id(&client, &ids.endpoint, &ids.identity_pool_id, &logins).await?;
    let creds = setup_call(
        &client,
        &ids.endpoint,
        &format!("{IDENTITY_TARGET}GetCredentialsForIdentity"),
        json!({ "IdentityId": identity_id, "Logins": logins }),
        None,
    )
    .await?;
    let (key_id, secret, token) = credentials_of(&creds)
        .with_context(|| format!("GetCredentialsForIdentity gave no credentials: {}", excerpt(&creds.to_string())))?;
    let signer = SigV4Signer::new(key_id, secret, Some(token.to_string()), ids.region.clone(), "appsync");
    let body = json!({ "query": args.query }).to_string().into_bytes();
    let url = ids.graphql_url.clone();
    let load = Arc::new(Load {
        client,
        job: Job::Graphql {
            path: url.path().to_string(),
            host: host_header(&url),
            body_hash: sha256_hex(&body),
            body,
            url: url.clone(),
            signer: Box::new(signer),
        },
    });
    // One call first: a wrong setup fails here, with the server's answer.
    if let Outcome::Err(kind, sample) = load.call().await {
        bail!("the first signed GraphQL call failed: {kind}: {sample}");
    }
    let setup = json!({
        "user": ids.username, "user_pool_id": ids.user_pool_id, "identity_pool_id": ids.identity_pool_id,
        "identity_id": identity_id, "access_key_id": key_id, "session_token_chars": token.len(),
        "query": args.query, "setup_seconds": round(started.elapsed().as_secs_f64(), 2),
    });
    eprintln!(
        "credentials {key_id} (session token {} chars) for {} through identity {identity_id} of pool {}",
        token.len(),
        ids.username,
        ids.identity_pool_id
    );
    let what = "SigV4-signed POST /demo/graphql (appsync, temporary credentials, signed afresh each call)";
    let target = format!("{url} {}", args.query);
    measure_and_report(load, &args.load, "graphql", what, &target, setup).await
}

/// A JWT-shaped stand-in login token for emulators (they decode nothing): as long as a real id token.
fn dummy_token(len: usize) -> String {
    let head = "eyJraWQiOiJiZW5jaCIsImFsZyI6IlJTMjU2In0.";
    let mut t = String::from(head);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x: u32 = 0x2545_f491;
    while t.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        t.push(char::from(alphabet[(x % 64) as usize]));
        if t.len() == len / 2 {
            t.push('.');
        }
    }
    t
}

/// `application/x-www-form-urlencoded`: unreserved characters bare, the rest percent-encoded.
fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        for (j, part) in [k, v].iter().enumerate() {
            if j == 1 {
                out.push(b'=');
            }
            for &b in part.as_bytes() {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    out.push(b);
                } else {
                    out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
                }
            }
        }
    }
    out
}

async fn identity(args: IdentityArgs) -> Result<std::process::ExitCode> {
    let client = http_client(args.load.concurrency.max(4))?;
    let started = Instant::now();
    let action = args.action;
    // (endpoint, pool, login key, token, role ARN, what the server checks, setup facts)
    let (endpoint, pool_id, login_key, token, role_arn, server, mut setup) = match (&args.demo_json, &args.endpoint) {
        (Some(path), _) => {
            let ids = demo_login(&client, path, args.username.as_deref()).await?;
            let setup = json!({ "server": "tokenbridge", "user": ids.username, "user_pool_id": ids.user_pool_id,
                                "id_token_chars": ids.id_token.len() });
            (ids.endpoint, ids.identity_pool_id, ids.login_key, ids.id_token, ids.role_arn, "tokenbridge", setup)
        }
        (None, Some(endpoint)) => {
            let endpoint = root_url("--endpoint", endpoint)?;
            let region = args.region.clone();
            let provider = format!("cognito-idp.{region}.amazonaws.com/{region}_BenchPool1");
            // Emulators check no signature: dummy credentials, signed all the same.
            let signer = SigV4Signer::new(
                "AKIDTOKENBRIDGEBENCH",
                "tokenbridge-bench-dummy-secret",
                None,
                region.clone(),
                "cognito-identity",
            );
            let pool = setup_call(
                &client,
                &endpoint,
                &format!("{IDENTITY_TARGET}CreateIdentityPool"),
                json!({
                    "IdentityPoolName": "tokenbridge_bench",
                    "AllowUnauthenticatedIdentities": false,
                    "CognitoIdentityProviders": [{ "ProviderName": provider, "ClientId": "benchclient0123456789abcdef" }],
                }),
                Some(&signer),
            )
            .await?;
            let pool_id = pool["IdentityPoolId"]
                .as_str()
                .with_context(|| format!("CreateIdentityPool gave no IdentityPoolId: {}", excerpt(&pool.to_string())))?
                .to_string();
            let token = dummy_token(1000);
            let setup = json!({ "server": "peer", "created_pool": pool_id, "token_chars": token.len() });
            (endpoint, pool_id, provider, token, args.role_arn.clone(), "peer", setup)
        }
        (None, None) => bail!("--demo-json (tokenbridge) or --endpoint (an emulator) is required"),
    };
    let logins = json!({ login_key.clone(): token });
    let job = match action {
        IdentityAction::Credentials => {
            let identity_id = get_id(&client, &endpoint, &pool_id, &logins).await?;
            setup["identity_id"] = json!(identity_id);
            Job::Identity {
                url: endpoint.clone(),
                target: format!("{IDENTITY_TARGET}GetCredentialsForIdentity"),
                body: json!({ "IdentityId": identity_id, "Logins": logins }).to_string().into_bytes(),
                action,
            }
        }
        IdentityAction::GetId => Job::Identity {
            url: endpoint.clone(),
            target: format!("{IDENTITY_TARGET}GetId"),
            body: json!({ "IdentityPoolId": pool_id, "Logins": logins }).to_string().into_bytes(),
            action,
        },
        IdentityAction::AssumeRole => Job::Sts {
            url: endpoint.clone(),
            body: form(&[
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", &role_arn),
                ("RoleSessionName", "tokenbridge-bench"),
                ("WebIdentityToken", &token),
                ("DurationSeconds", "3600"),
            ]),
        },
    };
    setup["identity_pool_id"] = json!(pool_id);
    setup["login_key"] = json!(login_key);
    if action == IdentityAction::AssumeRole {
        setup["role_arn"] = json!(role_arn);
    }
    setup["setup_seconds"] = json!(round(started.elapsed().as_secs_f64(), 2));
    let load = Arc::new(Load { client, job });
    if let Outcome::Err(kind, sample) = load.call().await {
        bail!("the first {} call failed: {kind}: {sample}", action.name());
    }
    let what = format!("{} ({server})", action.name());
    let target = match action {
        IdentityAction::AssumeRole => format!("{endpoint} role {role_arn}"),
        _ => format!("{endpoint} pool {pool_id}"),
    };
    measure_and_report(load, &args.load, "identity", &what, &target, setup).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_answers_are_classified() {
        assert!(matches!(graphql_outcome(StatusCode::OK, br#"{"data":{"listItems":[{"id":"item-1"}]}}"#), Outcome::Ok));
        let Outcome::Err(kind, msg) = graphql_outcome(
            StatusCode::UNAUTHORIZED,
            br#"{"errors":[{"errorType":"UnauthorizedException","message":"Not Authorized to access listItems on type Query"}]}"#,
        ) else {
            panic!("an error")
        };
        assert_eq!(kind, "401 UnauthorizedException");
        assert!(msg.contains("listItems"));
        assert!(matches!(
            graphql_outcome(StatusCode::OK, br#"{"data":null,"errors":[{"errorType":"X","message":"m"}]}"#),
            Outcome::Err(k, _) if k == "200 with X"
        ));
        assert!(matches!(graphql_outcome(StatusCode::OK, b"nope"), Outcome::Err(k, _) if k == "200 not JSON"));
    }

    #[test]
    fn sts_answers_are_classified() {
        let ok = b"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
            <AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>\
            </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        assert!(matches!(sts_outcome(StatusCode::OK, ok), Outcome::Ok));
        let err = b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>\
            <Message>bad token</Message></Error></ErrorResponse>";
        let Outcome::Err(kind, msg) = sts_outcome(StatusCode::BAD_REQUEST, err) else { panic!("an error") };
        assert_eq!(kind, "400 InvalidIdentityToken");
        assert_eq!(msg, "bad token");
    }

    #[test]
    fn credentials_need_all_three() {
        let v = json!({"Credentials": {"AccessKeyId": "A", "SecretKey": "S", "SessionToken": "T"}});
        assert_eq!(credentials_of(&v), Some(("A", "S", "T")));
        assert_eq!(credentials_of(&json!({"Credentials": {"AccessKeyId": "A", "SecretKey": "S"}})), None);
    }

    #[test]
    fn forms_are_encoded() {
        assert_eq!(
            form(&[("Action", "A"), ("RoleArn", "arn:aws:iam::1:role/r x")]),
            b"Action=A&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr%20x"
        );
    }

    #[test]
    fn dummy_tokens_look_like_jwts() {
        let t = dummy_token(1000);
        assert_eq!(t.len(), 1000);
        assert_eq!(t.split('.').count(), 3);
    }

    #[test]
    fn emulator_endpoints_must_be_loopback() {
        assert!(root_url("e", "http://127.0.0.1:5000").is_ok());
        assert_eq!(root_url("e", "http://127.0.0.1:5000").unwrap().as_str(), "http://127.0.0.1:5000/");
        assert!(root_url("e", "http://10.0.0.1:5000").is_err());
    }
}
