//! `tokenbridge-bench`: a small load generator for tokenbridge's token exchange (and, with
//! `verify`, the machine's signature-verification bound; forward-auth is measured with wrk by
//! `bench/forward-auth.sh`; `cognito`, `cognito-setup` and `argon2` measure the Cognito user-pool
//! API against tokenbridge and emulators: see `cognito.rs` and `bench/cognito.sh`; `policy`,
//! `sigv4`, `graphql` and `identity` measure the identity-pool chain: IAM policy evaluation and
//! SigV4 verification in process, SigV4-signed GraphQL calls and identity-pool / STS calls over
//! HTTP against tokenbridge and an emulator: see `policy_eval.rs`, `sigv4_verify.rs`,
//! `identity.rs` and `bench/identity.sh`; `hosted` measures a pool domain's hosted sign-in, code
//! redemptions and password sign-ins against the argon2 bound: see `hosted.rs` and
//! `bench/hosted.sh`).
//!
//! `tokenbridge-bench exchange --demo-json DIR/demo.json` reads what `tokenbridge demo` wrote,
//! pre-mints distinct upstream id tokens at the demo upstream provider (untimed), then sends
//! `POST {base}/auth/exchange` with `Authorization: Bearer <id_token>`, one fresh token per
//! request (the demo provider has one-time use on), for a bounded time, and prints the count,
//! the errors by status, the throughput and latency percentiles.
//!
//! Traffic goes to loopback only: a `base_url` or upstream endpoint whose host is not in
//! 127.0.0.0/8, `localhost` or `::1` is refused, and proxies from the environment are ignored.
//!
//! Two load shapes:
//! - closed loop (`--rate 0`, the default): `--concurrency` workers, each sending its next request
//!   as soon as the previous one is answered; measures the maximum throughput.
//! - open loop (`--rate R`): requests are scheduled at a fixed rate, whatever the answers do; at
//!   most `--concurrency` are in flight. A request dispatched late (because the cap was reached or
//!   the generator itself fell behind) is timed from its scheduled instant, so a stalled server
//!   shows up in the latency instead of being hidden (no coordinated omission).

mod aws_json;
mod awsig;
mod cognito;
mod cpu;
mod hosted;
mod identity;
mod in_process;
mod mint;
mod policy_eval;
mod report;
mod sigv4_verify;
mod verify;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cpu::{machine_busy, process_cpu, thread_cpu, thread_groups};
use mint::mint_all;
use reqwest::{Client, StatusCode, Url};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Longest measured phase, seconds.
const MAX_DURATION: u64 = 120;
/// Longest warm-up, seconds.
const MAX_WARMUP: u64 = 60;
/// Most upstream tokens minted for one run.
const MAX_TOKENS: usize = 60_000;
/// Closed-loop runs without `--tokens` mint for this many exchanges per second.
const DEFAULT_EXPECTED_RATE: u64 = 3_000;
/// Per-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole minting phase gives up after this long.
const MINT_TIMEOUT: Duration = Duration::from_secs(600);
/// Open loop: a request dispatched later than this after its scheduled instant is timed from the
/// schedule (tokio's timer has a 1 ms resolution, so smaller lags are the generator's own).
const LAG_TOLERANCE: Duration = Duration::from_millis(2);
/// Redirect URI for the authorization-code mint (never followed: redirects are off).
const MINT_REDIRECT_URI: &str = "http://127.0.0.1/tokenbridge-bench/callback";

#[derive(Parser, Debug)]
#[command(name = "tokenbridge-bench", version, about = "Load generator for tokenbridge (loopback only)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure POST /auth/exchange against a running `tokenbridge demo`.
    Exchange(ExchangeArgs),
    /// InitiateAuth per second against a Cognito-compatible user-pool API (raw AWS JSON 1.1).
    Cognito(cognito::CognitoArgs),
    /// Create a user pool, an app client and a user with a permanent password (admin API,
    /// SigV4-signed with dummy credentials by default); prints their ids as JSON.
    CognitoSetup(cognito::SetupArgs),
    /// The hosted sign-in at a pool domain of `tokenbridge demo`: code redemptions (codes minted
    /// beforehand by SSO) or password sign-ins per second, over HTTP.
    Hosted(hosted::HostedArgs),
    /// argon2id verifications per second with tokenbridge's parameters (the password-login bound).
    Argon2(InProcessArgs),
    /// IAM policy evaluations (and explanations, and parses) per second for a 10-statement role.
    Policy(InProcessArgs),
    /// SigV4 verifications per second of a signed POST /demo/graphql (temporary credentials).
    Sigv4(InProcessArgs),
    /// SigV4-signed POST /demo/graphql per second with identity-pool credentials (over HTTP).
    Graphql(identity::GraphqlArgs),
    /// GetCredentialsForIdentity (or GetId, or STS AssumeRoleWithWebIdentity) per second over
    /// HTTP, against tokenbridge's demo or an emulator.
    Identity(identity::IdentityArgs),
    /// Signature verifications per second on this machine (the cold authorizer's ceiling).
    Verify {
        /// Algorithms to measure.
        #[arg(long, value_delimiter = ',', default_value = "RS256,ES256,EdDSA")]
        algorithms: Vec<String>,
        /// Seconds per measurement (at most 30).
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Measure on 1..=threads threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

/// What the in-process benches (`argon2`, `policy`, `sigv4`) take.
#[derive(Args, Debug, Clone)]
struct InProcessArgs {
    /// Seconds per measurement (at most 10; argon2: at most 30).
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Measure on 1..=threads threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// One JSON line per measurement.
    #[arg(long)]
    json: bool,
}

/// How a load generator over HTTP runs and reports, the same for `exchange`, `cognito`, `graphql`
/// and `identity`.
#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// Runtime threads of the generator (1 = a single-threaded runtime, leaving the server the
    /// rest of the machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// PID of the server, to report its CPU time during the measured phase (from /proc).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Free-form label echoed in the results (e.g. the server's name or the signing algorithm).
    #[arg(long)]
    label: Option<String>,
    /// Print one JSON line of results on stdout (the human summary goes to stderr).
    #[arg(long)]
    json: bool,
}

impl RunArgs {
    /// The generator's runtime, on `--threads` threads.
    fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        if self.threads > 64 {
            bail!("--threads must be at most 64");
        }
        runtime(self.threads)
    }

    /// ` [LABEL]` for the first line of the text summary.
    fn label_suffix(&self) -> String {
        self.label.as_deref().map(|l| format!(" [{l}]")).unwrap_or_default()
    }
}

#[derive(Args, Debug, Clone)]
struct ExchangeArgs {
    /// The demo.json that `tokenbridge demo --data-dir DIR` wrote.
    #[arg(long)]
    demo_json: PathBuf,
    /// Closed loop: number of workers. Open loop: most requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured time in seconds (at most 120).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Open-loop fixed rate in requests/s; 0 = closed loop (maximum throughput).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Upstream tokens to pre-mint (at most 60000). Default: rate × (warmup + duration) for an
    /// open loop, 3000/s × (warmup + duration) for a closed loop, capped. The run ends early if
    /// they run out (reported).
    #[arg(long)]
    tokens: Option<usize>,
    /// Unmeasured load before the measured phase, seconds (uses tokens too).
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// How to get distinct upstream tokens: `password` grant, `code` (authorization code with a
    /// unique nonce each), or `auto` (password grant unless it hands out identical tokens).
    #[arg(long, value_enum, default_value_t = Mint::Auto)]
    mint: Mint,
    /// Base URL of another instance on the same database (repeatable): exchanges go round-robin
    /// over the demo's own base URL and these, as a load balancer would send them.
    #[arg(long = "also")]
    also: Vec<String>,
    /// Concurrent requests while minting.
    #[arg(long, default_value_t = 16)]
    mint_concurrency: usize,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Mint {
    Auto,
    Password,
    Code,
}

impl Mint {
    fn name(self) -> &'static str {
        match self {
            Mint::Auto => "auto",
            Mint::Password => "password",
            Mint::Code => "code",
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Commands with an exit status of their own (3: not one call succeeded).
    let result = match cli.command {
        Command::Cognito(args) => cognito::run(args),
        Command::Graphql(args) => identity::run_graphql(args),
        Command::Identity(args) => identity::run_identity(args),
        Command::Hosted(args) => hosted::run(args),
        command => run(Cli { command }).map(|()| std::process::ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        // The chain of causes, without anyhow's backtrace (RUST_BACKTRACE is often set).
        eprintln!("tokenbridge-bench: {e:#}");
        std::process::ExitCode::FAILURE
    })
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Exchange(args) => {
            validate(&args)?;
            args.run.runtime()?.block_on(exchange(args))
        }
        Command::Verify { algorithms, seconds, threads } => verify::run(&algorithms, seconds, threads),
        Command::CognitoSetup(args) => cognito::run_setup(args),
        Command::Argon2(a) => cognito::argon2_bound(a.seconds, a.threads, a.json),
        Command::Policy(a) => policy_eval::run(a.seconds, a.threads, a.json),
        Command::Sigv4(a) => sigv4_verify::run(a.seconds, a.threads, a.json),
        Command::Cognito(_) | Command::Graphql(_) | Command::Identity(_) | Command::Hosted(_) => {
            unreachable!("handled in main")
        }
    }
}

/// A tokio runtime on `threads` threads (1: a single-threaded one).
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    Ok(if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?
    })
}

fn validate(a: &ExchangeArgs) -> Result<()> {
    if a.duration == 0 || a.duration > MAX_DURATION {
        bail!("--duration must be 1..={MAX_DURATION} seconds");
    }
    if a.warmup > MAX_WARMUP {
        bail!("--warmup must be at most {MAX_WARMUP} seconds");
    }
    if a.concurrency == 0 || a.concurrency > 4096 {
        bail!("--concurrency must be 1..=4096");
    }
    if !a.rate.is_finite() || a.rate < 0.0 || a.rate > 200_000.0 {
        bail!("--rate must be 0 (closed loop) or a rate up to 200000 requests/s");
    }
    if let Some(n) = a.tokens {
        if n == 0 || n > MAX_TOKENS {
            bail!("--tokens must be 1..={MAX_TOKENS}");
        }
    }
    if a.mint_concurrency == 0 || a.mint_concurrency > 256 {
        bail!("--mint-concurrency must be 1..=256");
    }
    Ok(())
}

// --- the demo ---

struct Demo {
    base_url: Url,
    exchange_url: Url,
    token_endpoint: Url,
    login_url: Url,
    consent_url: Url,
    upstream_client_id: String,
    upstream_client_secret: String,
    /// Linked users: (upstream username, upstream password).
    users: Vec<(String, String)>,
}

/// The demo's own exchange URL and those of the `--also` instances (loopback only).
fn exchange_urls(demo: &Demo, also: &[String]) -> Result<Vec<Url>> {
    let mut urls = vec![demo.exchange_url.clone()];
    for base in also {
        let url = Url::parse(&format!("{}/auth/exchange", base.trim_end_matches('/')))
            .with_context(|| format!("--also {base:?} is not a URL"))?;
        require_loopback("--also", &url)?;
        urls.push(url);
    }
    Ok(urls)
}

/// Only loopback hosts: 127.0.0.0/8, ::1 and `localhost`.
fn require_loopback(what: &str, url: &Url) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        bail!("{what} {url} is not http(s)");
    }
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    };
    if !loopback {
        bail!("refusing {what} {url}: this load generator targets loopback only (127.0.0.0/8, localhost, ::1)");
    }
    Ok(())
}

/// `raw` as a loopback URL, without its query.
fn loopback_url(what: &str, raw: &str) -> Result<Url> {
    let mut url = Url::parse(raw).with_context(|| format!("{what} {raw:?} is not a URL"))?;
    require_loopback(what, &url)?;
    url.set_query(None);
    Ok(url)
}

/// An AWS-style endpoint, where requests are `POST {endpoint}/`: `raw` with a trailing slash.
fn root_url(what: &str, raw: &str) -> Result<Url> {
    let mut url = loopback_url(what, raw)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn read_json(path: &PathBuf) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn load_demo(path: &PathBuf) -> Result<Demo> {
    let info = read_json(path)?;
    let s = |p: &str| -> Result<String> {
        info.pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("{} has no {p}", path.display()))
    };
    let url = |what: &str, raw: &str| -> Result<Url> {
        let url = Url::parse(raw).with_context(|| format!("{what} {raw:?} is not a URL"))?;
        require_loopback(what, &url)?;
        Ok(url)
    };
    let base = s("/base_url")?;
    let base_url = url("base_url", &base)?;
    let exchange_url = url("exchange URL", &format!("{}/auth/exchange", base.trim_end_matches('/')))?;
    let token_raw = s("/upstream/token_endpoint")?;
    let token_endpoint = url("upstream.token_endpoint", &token_raw)?;
    let authorize = match info.pointer("/upstream/authorization_endpoint").and_then(Value::as_str) {
        Some(a) => a.to_string(),
        None => format!("{}/authorize", token_raw.trim_end_matches('/').trim_end_matches("/token")),
    };
    let authorize = authorize.trim_end_matches('/');
    let login_url = url("upstream login", &format!("{authorize}/login"))?;
    let consent_url = url("upstream consent", &format!("{authorize}/consent"))?;
    let users: Vec<(String, String)> = info
        .get("users")
        .and_then(Value::as_array)
        .map(|users| {
            users
                .iter()
                .filter(|u| u["expect"] == "linked")
                .filter_map(|u| {
                    Some((u["upstream_username"].as_str()?.to_string(), u["upstream_password"].as_str()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    if users.is_empty() {
        bail!("{} lists no user with expect=linked", path.display());
    }
    Ok(Demo {
        base_url,
        exchange_url,
        token_endpoint,
        login_url,
        consent_url,
        upstream_client_id: s("/upstream/client_id")?,
        upstream_client_secret: s("/upstream/client_secret")?,
        users,
    })
}

fn http_client(pool: usize) -> Result<Client> {
    Ok(Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool)
        .pool_idle_timeout(Duration::from_secs(120))
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn excerpt(body: &str) -> String {
    let one_line: String = body.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut out: String = one_line.chars().take(300).collect();
    if one_line.chars().count() > 300 {
        out.push('…');
    }
    out
}

// --- the load ---

/// What one phase recorded.
#[derive(Default)]
struct Record {
    /// Latencies of successful exchanges, microseconds.
    latencies_us: Vec<u64>,
    /// Requests answered (or failed) in the phase.
    requests: u64,
    successes: u64,
    errors: BTreeMap<String, u64>,
    /// One answer body per error kind, to see why.
    samples: BTreeMap<String, String>,
    /// Open loop: requests dispatched more than LAG_TOLERANCE after their schedule.
    late: u64,
    max_lag_us: u64,
}

impl Record {
    fn add(&mut self, outcome: Outcome, latency: Duration) {
        self.requests += 1;
        match outcome {
            Outcome::Ok => {
                self.successes += 1;
                self.latencies_us.push(latency.as_micros() as u64);
            }
            Outcome::Err(kind, sample) => {
                *self.errors.entry(kind.clone()).or_default() += 1;
                self.samples.entry(kind).or_insert(sample);
            }
        }
    }

    fn merge(&mut self, other: Record) {
        self.latencies_us.extend(other.latencies_us);
        self.requests += other.requests;
        self.successes += other.successes;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.samples {
            self.samples.entry(k).or_insert(v);
        }
        self.late += other.late;
        self.max_lag_us = self.max_lag_us.max(other.max_lag_us);
    }

    /// The text summary's error lines: `none`, or each kind with its count and a sample.
    fn error_lines(&self) -> String {
        if self.errors.is_empty() {
            return "  errors          none\n".into();
        }
        let mut out = String::new();
        for (kind, n) in &self.errors {
            out += &format!(
                "  errors          {kind}: {n}   e.g. {}\n",
                self.samples.get(kind).map_or("", String::as_str)
            );
        }
        out
    }
}

enum Outcome {
    Ok,
    /// Error kind (HTTP status or transport failure) and a sample of the answer.
    Err(String, String),
}

struct Load {
    client: Client,
    /// `/auth/exchange` of every instance, used round-robin.
    urls: Vec<Url>,
    tokens: Vec<String>,
    next: AtomicUsize,
}

impl Load {
    /// The next unused token and its place in the supply (which picks the instance).
    fn take(&self) -> Option<(usize, &str)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.tokens.get(i).map(|t| (i, t.as_str()))
    }

    fn used(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.tokens.len())
    }

    async fn exchange(&self, place: usize, token: &str) -> Outcome {
        // Tokens are taken in order, so the token's place picks the instance: round-robin.
        let url = &self.urls[place % self.urls.len()];
        let resp = match self.client.post(url.clone()).bearer_auth(token).send().await {
            Ok(r) => r,
            Err(e) => return transport_error(e),
        };
        let status = resp.status();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_error(e),
        };
        if status == StatusCode::OK && contains(&body, b"\"access_token\"") {
            Outcome::Ok
        } else if status == StatusCode::OK {
            Outcome::Err("200 without access_token".into(), excerpt(&String::from_utf8_lossy(&body)))
        } else {
            Outcome::Err(status.as_u16().to_string(), excerpt(&String::from_utf8_lossy(&body)))
        }
    }
}

fn transport_error(e: reqwest::Error) -> Outcome {
    Outcome::Err(transport_kind(&e).into(), excerpt(&format!("{e:#}")))
}

/// The error kind of a request that got no answer (every bench counts these the same way).
fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What a closed loop sends over and over: an exchange here, a login (`cognito.rs`), an
/// identity-pool or signed GraphQL call (`identity.rs`).
trait Workload: Send + Sync + 'static {
    /// Sends one request; `None`, without sending, when what each one spends (tokens, answers)
    /// has run out.
    fn once(&self) -> impl Future<Output = Option<Outcome>> + Send;
}

impl Workload for Load {
    async fn once(&self) -> Option<Outcome> {
        let (place, token) = self.take()?;
        Some(self.exchange(place, token).await)
    }
}

/// How a phase ended.
struct Phase {
    record: Record,
    /// From the phase's start to its last answer.
    elapsed: Duration,
    /// The supply ran out (never for a workload that spends nothing).
    exhausted: bool,
}

/// `workers` loops, each sending its next request when the previous one is answered.
async fn closed_loop<W: Workload>(work: &Arc<W>, workers: usize, length: Duration) -> Phase {
    let start = Instant::now();
    let until = start + length;
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let work = work.clone();
        set.spawn(async move {
            let mut record = Record::default();
            let mut exhausted = false;
            while Instant::now() < until {
                let t0 = Instant::now();
                let Some(outcome) = work.once().await else {
                    exhausted = true;
                    break;
                };
                record.add(outcome, t0.elapsed());
            }
            (record, exhausted)
        });
    }
    let mut record = Record::default();
    let mut exhausted = false;
    while let Some(done) = set.join_next().await {
        let (r, e) = done.expect("worker panicked");
        record.merge(r);
        exhausted |= e;
    }
    Phase { record, elapsed: start.elapsed(), exhausted }
}

/// Requests scheduled at `rate` per second, at most `in_flight` outstanding.
async fn open_loop(load: &Arc<Load>, rate: f64, in_flight: usize, length: Duration) -> Phase {
    let start = Instant::now();
    let sem = Arc::new(Semaphore::new(in_flight));
    let mut set = JoinSet::new();
    let mut record = Record::default();
    let mut exhausted = false;
    let mut i: u64 = 0;
    loop {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        if scheduled.duration_since(start) >= length {
            break;
        }
        i += 1;
        if scheduled > Instant::now() {
            tokio::time::sleep_until(scheduled.into()).await;
        }
        let permit = sem.clone().acquire_owned().await.expect("semaphore is never closed");
        let Some((place, token)) = load.take() else {
            exhausted = true;
            break;
        };
        let token = token.to_string();
        let now = Instant::now();
        let lag = now.saturating_duration_since(scheduled);
        let late = lag > LAG_TOLERANCE;
        let t0 = if late { scheduled } else { now };
        record.max_lag_us = record.max_lag_us.max(lag.as_micros() as u64);
        record.late += u64::from(late);
        let load = load.clone();
        set.spawn(async move {
            let outcome = load.exchange(place, &token).await;
            let latency = t0.elapsed();
            drop(permit);
            (outcome, latency)
        });
        while let Some(done) = set.try_join_next() {
            let (outcome, latency) = done.expect("request task panicked");
            record.add(outcome, latency);
        }
    }
    while let Some(done) = set.join_next().await {
        let (outcome, latency) = done.expect("request task panicked");
        record.add(outcome, latency);
    }
    Phase { record, elapsed: start.elapsed(), exhausted }
}

// --- the command ---

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1] as f64 / 1000.0
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

async fn exchange(args: ExchangeArgs) -> Result<()> {
    let demo = Arc::new(load_demo(&args.demo_json)?);
    let closed = args.rate == 0.0;
    let wanted = match args.tokens {
        Some(n) => n,
        None => {
            let secs = (args.warmup + args.duration) as f64;
            let n = if closed {
                secs * DEFAULT_EXPECTED_RATE as f64
            } else {
                (secs * args.rate * 1.02).ceil() + args.concurrency as f64
            };
            if n > MAX_TOKENS as f64 {
                eprintln!("note: capping the pre-minted tokens at {MAX_TOKENS}; the run ends early if they run out");
            }
            (n as usize).clamp(1, MAX_TOKENS)
        }
    };
    let client = http_client(args.concurrency.max(args.mint_concurrency))?;

    // Is the server there?
    let health = demo.base_url.join("healthz")?;
    let resp = client.get(health.clone()).send().await.with_context(|| format!("cannot reach {health}"))?;
    if !resp.status().is_success() {
        bail!("{health} answered {}", resp.status());
    }

    eprintln!(
        "minting {wanted} upstream tokens at {} ({} linked users, {} at a time)…",
        demo.token_endpoint,
        demo.users.len(),
        args.mint_concurrency
    );
    let minted = mint_all(&client, &demo, wanted, args.mint, args.mint_concurrency).await?;
    eprintln!(
        "minted {} distinct tokens in {:.1} s ({} flow{})",
        minted.tokens.len(),
        minted.seconds,
        minted.method.name(),
        minted.dropped_note()
    );
    let tokens_minted = minted.tokens.len();
    let load = Arc::new(Load {
        client,
        urls: exchange_urls(&demo, &args.also)?,
        tokens: minted.tokens,
        next: AtomicUsize::new(0),
    });

    let run = |length: Duration| {
        let load = load.clone();
        let (rate, concurrency) = (args.rate, args.concurrency);
        async move {
            if rate > 0.0 {
                open_loop(&load, rate, concurrency, length).await
            } else {
                closed_loop(&load, concurrency, length).await
            }
        }
    };

    let mut warmup_requests = 0;
    if args.warmup > 0 {
        eprintln!("warming up for {} s…", args.warmup);
        let w = run(Duration::from_secs(args.warmup)).await;
        warmup_requests = w.record.requests;
        if w.exhausted {
            bail!("the tokens ran out during the warm-up; mint more (--tokens) or warm up less");
        }
    }

    let mode = if closed { "closed-loop".to_string() } else { format!("open-loop {} req/s", args.rate) };
    eprintln!("measuring {} s, {mode}, concurrency {}…", args.duration, args.concurrency);
    let cpu = report::CpuWatch::start(args.run.server_pid);
    let phase = run(Duration::from_secs(args.duration)).await;
    let cpu = cpu.stop();

    let Phase { mut record, elapsed, exhausted } = phase;
    let latency = report::Latency::of(&mut record.latencies_us);
    let secs = elapsed.as_secs_f64();
    let throughput = record.successes as f64 / secs;
    let per_exchange_ms =
        |x: Option<f64>| x.filter(|_| record.successes > 0).map(|v| round(v * 1000.0 / record.successes as f64, 3));

    let results = json!({
        "label": args.run.label,
        "mode": if closed { "closed" } else { "open" },
        "base_url": demo.base_url.as_str(),
        "concurrency": args.concurrency,
        "rate_target": if closed { Value::Null } else { json!(args.rate) },
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "warmup_requests": warmup_requests,
        "elapsed_s": round(secs, 3),
        "tokens_minted": tokens_minted,
        "tokens_used": load.used(),
        "tokens_exhausted": exhausted,
        "mint_method": minted.method.name(),
        "mint_seconds": round(minted.seconds, 1),
        "requests": record.requests,
        "successes": record.successes,
        "errors": record.errors,
        "error_samples": record.samples,
        "throughput": round(throughput, 1),
        "latency_ms": latency.json(),
        "late_dispatches": record.late,
        "max_dispatch_lag_ms": round(record.max_lag_us as f64 / 1000.0, 3),
        "generator_threads": args.run.threads.max(1),
        "cpu_cores": cpu.cores_json(secs),
        "server_threads": cpu.threads_json(secs),
        "server_cpu_ms_per_exchange": per_exchange_ms(cpu.server),
        "generator_cpu_ms_per_exchange": per_exchange_ms(cpu.generator),
    });

    let mut out = String::new();
    let label = args.run.label_suffix();
    out += &format!("tokenbridge-bench exchange{label}: {mode}, concurrency {}\n", args.concurrency);
    out += &format!("  target          {}\n", demo.exchange_url);
    out += &format!(
        "  upstream tokens {tokens_minted} distinct, {} used ({} flow, minted in {:.1} s, untimed)\n",
        load.used(),
        minted.method.name(),
        minted.seconds
    );
    if args.warmup > 0 {
        out += &format!("  warm-up         {} s, {warmup_requests} requests (not counted)\n", args.warmup);
    }
    out += &format!("  measured        {secs:.2} s{}\n", if exhausted { " (ENDED EARLY: tokens ran out)" } else { "" });
    out += &format!("  requests        {}\n", record.requests);
    out += &format!("  successes       {}\n", record.successes);
    out += &record.error_lines();
    out += &format!("  throughput      {throughput:.1} exchanges/s\n");
    out += &latency.line("successes only");
    if !closed {
        out += &format!(
            "  schedule        {} late dispatches (> {} ms; timed from their schedule), max lag {:.2} ms\n",
            record.late,
            LAG_TOLERANCE.as_millis(),
            record.max_lag_us as f64 / 1000.0
        );
    }
    out += &cpu.cores_line(secs);
    out += &cpu.threads_line(secs);
    if let Some(ms) = per_exchange_ms(cpu.server) {
        out += &format!(
            "  cpu per exch.   server {ms:.3} ms  generator {}\n",
            per_exchange_ms(cpu.generator).map_or("n/a".into(), |v| format!("{v:.3} ms"))
        );
    }
    if exhausted && secs < args.duration as f64 * 0.5 {
        out += "  warning: fewer than half the requested seconds were measured; mint more tokens (--tokens)\n";
    }
    report::print(&out, &results, args.run.json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::hidden_field;

    #[test]
    fn loopback_only() {
        for ok in ["http://127.0.0.1:8080/", "http://127.3.4.5/", "http://localhost:1/", "http://[::1]:80/"] {
            assert!(require_loopback("t", &Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in
            ["http://10.0.0.1/", "http://192.168.1.1/", "http://example.com/", "http://[::2]/", "ftp://127.0.0.1/"]
        {
            assert!(require_loopback("t", &Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn hidden_field_is_read() {
        let page = r#"<form><input type="hidden" name="session" value="abc.d&amp;e"><button>"#;
        assert_eq!(hidden_field(page, "session").as_deref(), Some("abc.d&e"));
        assert_eq!(hidden_field(page, "other"), None);
    }
}
