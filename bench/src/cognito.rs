//! `tokenbridge-bench cognito`: `InitiateAuth` per second against a Cognito-compatible user-pool
//! API (tokenbridge, or a peer emulator such as moto or cognito-local), speaking raw AWS JSON 1.1:
//! `POST {endpoint}/` with `Content-Type: application/x-amz-json-1.1` and
//! `X-Amz-Target: AWSCognitoIdentityProviderService.<Action>`, unsigned (these actions are
//! public on AWS too).
//!
//! Flows (`--flow`):
//! - `refresh`: one `USER_PASSWORD_AUTH` login first (untimed) for a refresh token, then
//!   `REFRESH_TOKEN_AUTH` with it in a loop.
//! - `password`: `USER_PASSWORD_AUTH` in a loop (on tokenbridge each one is an argon2id check).
//! - `custom`: two calls per login: `InitiateAuth` `CUSTOM_AUTH` (must answer `CUSTOM_CHALLENGE`
//!   with a `Session`), then `RespondToAuthChallenge` with `ANSWER`. Answers are prepared before
//!   the timed part: minted at the demo upstream (`--demo-json`; each is one-time use on
//!   tokenbridge), printed by `--custom-answer-cmd`, or one fixed `--custom-answer`.
//!
//! A login counts only when the answer carries `AuthenticationResult` with an `AccessToken`;
//! anything else is an error, counted by kind (`<Action> <status> <__type>`), with one sample
//! message per kind. A run without a single successful login says so and exits with status 3.
//!
//! `tokenbridge-bench cognito-setup` creates a pool, an app client and a user with a permanent
//! password through the admin API (SigV4-signed with the given, by default dummy, credentials:
//! emulators do not check signatures), and prints their ids as JSON.
//!
//! `tokenbridge-bench argon2` measures this machine's bound for password logins: argon2id
//! verifications per second with tokenbridge's own parameters and code.
//!
//! Loopback only, like the rest of this tool.

use super::awsig::SigV4Signer;
use super::in_process::measure;
use super::{
    aws_json, closed_loop, excerpt, http_client, load_demo, mint_all, read_json, report, root_url, round, runtime,
    Mint, Outcome, Phase, RunArgs, Workload,
};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use reqwest::{Client, Url};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenbridge_core::password;

const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";
/// Longest measured phase, seconds.
const MAX_SECONDS: u64 = 120;
/// Most custom-flow answers prepared for one run.
const MAX_ANSWERS: usize = 60_000;
/// Without `--answers`, answers are prepared for this many custom logins per second.
const DEFAULT_EXPECTED_CUSTOM_RATE: u64 = 1_500;
/// Preparing answers gives up after this long.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(600);
/// Exit status of a run in which not one login succeeded.
pub const EXIT_NO_SUCCESS: u8 = 3;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// REFRESH_TOKEN_AUTH with one refresh token (got by USER_PASSWORD_AUTH first, untimed).
    Refresh,
    /// USER_PASSWORD_AUTH.
    Password,
    /// CUSTOM_AUTH + RespondToAuthChallenge(CUSTOM_CHALLENGE, ANSWER): two calls per login.
    Custom,
}

impl Flow {
    fn auth_flow(self) -> &'static str {
        match self {
            Flow::Refresh => "REFRESH_TOKEN_AUTH",
            Flow::Password => "USER_PASSWORD_AUTH",
            Flow::Custom => "CUSTOM_AUTH",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Flow::Refresh => "refresh",
            Flow::Password => "password",
            Flow::Custom => "custom",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct CognitoArgs {
    /// Base URL of the Cognito-compatible API (requests are `POST {endpoint}/`). Default: the
    /// `cognito.endpoint` of --demo-json.
    #[arg(long)]
    endpoint: Option<String>,
    /// The pool's region (shown in the results). Default: `cognito.region` of --demo-json.
    #[arg(long)]
    region: Option<String>,
    /// The pool (shown in the results; the client id picks it). Default: from --demo-json.
    #[arg(long)]
    user_pool_id: Option<String>,
    /// App client id (a client without secret). Default: `cognito.client_id` of --demo-json.
    #[arg(long)]
    client_id: Option<String>,
    /// The user who signs in.
    #[arg(long)]
    username: String,
    /// The user's password (password and refresh flows). Default: the user's `password` in
    /// --demo-json.
    #[arg(long)]
    password: Option<String>,
    #[arg(long, value_enum)]
    flow: Flow,
    /// The demo.json of `tokenbridge demo`: endpoint, region, pool and client from its `cognito`
    /// object, and, for the custom flow, answers minted at its upstream for the user whose
    /// `username` is --username (distinct upstream id tokens, one per login).
    #[arg(long)]
    demo_json: Option<PathBuf>,
    /// Custom flow: a shell command printing answers, one per line, each used once. It runs once,
    /// before the timed part, with TB_BENCH_ANSWERS (how many are wanted) and TB_BENCH_USERNAME
    /// in its environment.
    #[arg(long, conflicts_with = "custom_answer")]
    custom_answer_cmd: Option<String>,
    /// Custom flow: one fixed answer for every login (only for servers that do not make answers
    /// one-time use).
    #[arg(long)]
    custom_answer: Option<String>,
    /// Custom flow: how many answers to prepare (at most 60000; one is spent per login attempt,
    /// failed or not). Default 1500/s × (warm-up + seconds) + concurrency. The run ends early
    /// when they run out (reported).
    #[arg(long)]
    answers: Option<usize>,
    /// Workers, each sending its next login as soon as the previous one is answered.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds (at most 120).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured load first, seconds (uses answers too).
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    #[command(flatten)]
    run: RunArgs,
    /// Concurrent requests while minting answers at the demo upstream.
    #[arg(long, default_value_t = 16)]
    mint_concurrency: usize,
}

#[derive(Args, Debug, Clone)]
pub struct SetupArgs {
    /// Base URL of the Cognito-compatible API.
    #[arg(long)]
    endpoint: String,
    /// Region of the pool (signing scope).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long)]
    username: String,
    /// Permanent password set with AdminSetUserPassword.
    #[arg(long)]
    password: String,
    /// The user's email attribute. Default: USERNAME@example.com (or USERNAME if it has an @).
    #[arg(long)]
    email: Option<String>,
    #[arg(long, default_value = "tokenbridge-bench")]
    pool_name: String,
    /// Signing credentials (emulators accept any).
    #[arg(long, default_value = "AKIDTOKENBRIDGEBENCH")]
    access_key_id: String,
    #[arg(long, default_value = "tokenbridge-bench-dummy-secret")]
    secret_access_key: String,
}

pub fn run(args: CognitoArgs) -> Result<std::process::ExitCode> {
    if args.seconds == 0 || args.seconds > MAX_SECONDS {
        bail!("--seconds must be 1..={MAX_SECONDS}");
    }
    if args.warmup > 60 {
        bail!("--warmup must be at most 60 seconds");
    }
    if args.concurrency == 0 || args.concurrency > 4096 {
        bail!("--concurrency must be 1..=4096");
    }
    if args.mint_concurrency == 0 || args.mint_concurrency > 256 {
        bail!("--mint-concurrency must be 1..=256");
    }
    if let Some(n) = args.answers {
        if n == 0 || n > MAX_ANSWERS {
            bail!("--answers must be 1..={MAX_ANSWERS}");
        }
    }
    args.run.runtime()?.block_on(bench(args))
}

pub fn run_setup(args: SetupArgs) -> Result<()> {
    runtime(1)?.block_on(setup(args))
}

// --- the wire ---

/// A Cognito-compatible endpoint.
struct Api {
    client: Client,
    /// `{endpoint}/`.
    url: Url,
}

/// Why a call did not give a 200 JSON answer: the error kind (`<Action> <status> <__type>`, or
/// `<Action> timeout|connect|transport`) and a sample (the error message, or the body).
struct CallError(String, String);

impl Api {
    fn new(client: Client, endpoint: &str) -> Result<Self> {
        Ok(Self { client, url: root_url("endpoint", endpoint)? })
    }

    /// `POST /` with the action's target, signed when `signer` is given; the JSON answer.
    async fn call(&self, action: &str, body: Vec<u8>, signer: Option<&SigV4Signer>) -> Result<Value, CallError> {
        let target = format!("{TARGET_PREFIX}{action}");
        aws_json::call(&self.client, &self.url, &target, body, signer)
            .await
            .map_err(|(kind, sample)| CallError(format!("{action} {kind}"), sample))
    }
}

// --- cognito-setup ---

async fn setup(args: SetupArgs) -> Result<()> {
    let api = Api::new(http_client(4)?, &args.endpoint)?;
    let signer = SigV4Signer::new(&args.access_key_id, &args.secret_access_key, None, &args.region, "cognito-idp");
    let call = |action: &'static str, body: Value| {
        let (api, signer) = (&api, &signer);
        async move {
            api.call(action, body.to_string().into_bytes(), Some(signer))
                .await
                .map_err(|CallError(kind, sample)| anyhow::anyhow!("{kind}: {sample}"))
        }
    };
    let pool = call(
        "CreateUserPool",
        json!({
            "PoolName": args.pool_name,
            // Plain usernames, as in tokenbridge's demo pool (cognito-local defaults to email).
            "UsernameAttributes": [],
            "Policies": { "PasswordPolicy": {
                "MinimumLength": 8, "RequireUppercase": false, "RequireLowercase": false,
                "RequireNumbers": false, "RequireSymbols": false,
            }},
        }),
    )
    .await?;
    let pool_id = pool
        .pointer("/UserPool/Id")
        .and_then(Value::as_str)
        .with_context(|| format!("CreateUserPool answered without UserPool.Id: {}", excerpt(&pool.to_string())))?
        .to_string();
    let client = call(
        "CreateUserPoolClient",
        json!({
            "UserPoolId": pool_id,
            "ClientName": "tokenbridge-bench",
            "GenerateSecret": false,
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_CUSTOM_AUTH"],
        }),
    )
    .await?;
    let client_id = client
        .pointer("/UserPoolClient/ClientId")
        .and_then(Value::as_str)
        .with_context(|| format!("CreateUserPoolClient answered without ClientId: {}", excerpt(&client.to_string())))?
        .to_string();
    let email = args.email.clone().unwrap_or_else(|| {
        if args.username.contains('@') {
            args.username.clone()
        } else {
            format!("{}@example.com", args.username)
        }
    });
    call(
        "AdminCreateUser",
        json!({
            "UserPoolId": pool_id,
            "Username": args.username,
            "MessageAction": "SUPPRESS",
            "UserAttributes": [
                { "Name": "email", "Value": email },
                { "Name": "email_verified", "Value": "true" },
            ],
        }),
    )
    .await?;
    call(
        "AdminSetUserPassword",
        json!({ "UserPoolId": pool_id, "Username": args.username, "Password": args.password, "Permanent": true }),
    )
    .await?;
    println!(
        "{}",
        json!({
            "endpoint": args.endpoint, "region": args.region, "user_pool_id": pool_id,
            "client_id": client_id, "username": args.username,
        })
    );
    Ok(())
}

// --- answers for the custom flow ---

/// Where the custom flow's answers come from.
enum Answers {
    /// One fixed answer, reused.
    Fixed(String),
    /// Each used once, in order.
    Supply { answers: Vec<String>, next: AtomicUsize },
}

impl Answers {
    fn take(&self) -> Option<&str> {
        match self {
            Answers::Fixed(a) => Some(a),
            Answers::Supply { answers, next } => answers.get(next.fetch_add(1, Ordering::Relaxed)).map(String::as_str),
        }
    }

    fn used(&self) -> Option<usize> {
        match self {
            Answers::Fixed(_) => None,
            Answers::Supply { answers, next } => Some(next.load(Ordering::Relaxed).min(answers.len())),
        }
    }

    fn prepared(&self) -> Option<usize> {
        match self {
            Answers::Fixed(_) => None,
            Answers::Supply { answers, .. } => Some(answers.len()),
        }
    }
}

/// demo.json's upstream credentials of the user called `username`.
fn demo_upstream_user(demo_json: &PathBuf, username: &str) -> Result<(String, String)> {
    let info = read_json(demo_json)?;
    let users = info.get("users").and_then(Value::as_array).cloned().unwrap_or_default();
    let user = users
        .iter()
        .find(|u| u["username"] == username)
        .with_context(|| format!("{} lists no user {username:?}", demo_json.display()))?;
    match (user["upstream_username"].as_str(), user["upstream_password"].as_str()) {
        (Some(u), Some(p)) => Ok((u.to_string(), p.to_string())),
        _ => bail!("{} has no upstream credentials for {username:?}", demo_json.display()),
    }
}

/// Runs `cmd` once (sh -c) and takes its non-empty stdout lines as answers.
async fn answers_from_command(cmd: &str, wanted: usize, username: &str) -> Result<Vec<String>> {
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("TB_BENCH_ANSWERS", wanted.to_string())
        .env("TB_BENCH_USERNAME", username)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("cannot start --custom-answer-cmd")?;
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    let out = match tokio::time::timeout(PREPARE_TIMEOUT, waiting).await {
        Ok(done) => done??,
        Err(_) => {
            // Ends the command we started (by its pid), then gives up.
            let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
            bail!("--custom-answer-cmd ran longer than {} s", PREPARE_TIMEOUT.as_secs());
        }
    };
    if !out.status.success() {
        bail!("--custom-answer-cmd failed ({})", out.status);
    }
    let answers: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if answers.is_empty() {
        bail!("--custom-answer-cmd printed no answer");
    }
    Ok(answers)
}

// --- the load ---

struct Login {
    api: Api,
    flow: Flow,
    client_id: String,
    username: String,
    /// The InitiateAuth body, the same for every login.
    initiate: Vec<u8>,
    answers: Option<Answers>,
    /// HTTP calls made (both calls of a custom login count).
    calls: AtomicUsize,
}

fn has_tokens(v: &Value) -> bool {
    v.pointer("/AuthenticationResult/AccessToken").and_then(Value::as_str).is_some_and(|t| !t.is_empty())
        && v.pointer("/AuthenticationResult/IdToken").and_then(Value::as_str).is_some_and(|t| !t.is_empty())
}

/// What a 200 answer without tokens carried, as an error kind.
fn no_tokens(action: &str, v: &Value) -> Outcome {
    let kind = match v.get("ChallengeName").and_then(Value::as_str) {
        Some(challenge) => format!("{action} 200 challenge {challenge} instead of tokens"),
        None => format!("{action} 200 without AuthenticationResult"),
    };
    Outcome::Err(kind, excerpt(&v.to_string()))
}

impl Workload for Login {
    async fn once(&self) -> Option<Outcome> {
        // The answer is taken first, so that running out stops a worker before it calls.
        let answer = self.answer()?;
        Some(self.login(answer).await)
    }
}

impl Login {
    async fn call(&self, action: &str, body: Vec<u8>) -> Result<Value, CallError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.api.call(action, body, None).await
    }

    /// The custom flow's next answer (`None` when they have run out); `""` for the other flows.
    fn answer(&self) -> Option<&str> {
        match (self.flow, &self.answers) {
            (Flow::Custom, Some(answers)) => answers.take(),
            (Flow::Custom, None) => None,
            _ => Some(""),
        }
    }

    /// One login (two calls for the custom flow, the second with `answer`).
    async fn login(&self, answer: &str) -> Outcome {
        let first = match self.call("InitiateAuth", self.initiate.clone()).await {
            Ok(v) => v,
            Err(CallError(kind, sample)) => return Outcome::Err(kind, sample),
        };
        if self.flow != Flow::Custom {
            return if has_tokens(&first) { Outcome::Ok } else { no_tokens("InitiateAuth", &first) };
        }
        if has_tokens(&first) {
            return Outcome::Err(
                "InitiateAuth CUSTOM_AUTH 200 tokens without a challenge (no answer checked)".into(),
                excerpt(&first.to_string()),
            );
        }
        let challenge = first.get("ChallengeName").and_then(Value::as_str);
        let session = first.get("Session").and_then(Value::as_str).filter(|s| !s.is_empty());
        let session = match (challenge, session) {
            (Some("CUSTOM_CHALLENGE"), Some(s)) => s,
            (Some("CUSTOM_CHALLENGE"), None) => {
                return Outcome::Err(
                    "InitiateAuth 200 CUSTOM_CHALLENGE without Session".into(),
                    excerpt(&first.to_string()),
                )
            }
            (Some(other), _) => {
                return Outcome::Err(
                    format!("InitiateAuth 200 challenge {other} instead of CUSTOM_CHALLENGE"),
                    excerpt(&first.to_string()),
                )
            }
            (None, _) => {
                return Outcome::Err(
                    "InitiateAuth 200 without ChallengeName or AuthenticationResult".into(),
                    excerpt(&first.to_string()),
                )
            }
        };
        let body = json!({
            "ClientId": self.client_id,
            "ChallengeName": "CUSTOM_CHALLENGE",
            "Session": session,
            "ChallengeResponses": { "USERNAME": self.username, "ANSWER": answer },
        });
        match self.call("RespondToAuthChallenge", body.to_string().into_bytes()).await {
            Ok(v) if has_tokens(&v) => Outcome::Ok,
            Ok(v) => no_tokens("RespondToAuthChallenge", &v),
            Err(CallError(kind, sample)) => Outcome::Err(kind, sample),
        }
    }
}

// --- the command ---

/// A value from the command line, else from demo.json's `cognito` object.
fn pick(given: &Option<String>, demo: Option<&Value>, key: &str, flag: &str) -> Result<String> {
    if let Some(v) = given {
        return Ok(v.clone());
    }
    match demo {
        Some(info) => match info.pointer(&format!("/cognito/{key}")).and_then(Value::as_str) {
            Some(v) => Ok(v.to_string()),
            None if info.get("cognito").is_none() => bail!(
                "{flag} is missing and demo.json has no `cognito` object (this tokenbridge build has no \
                 Cognito API?)"
            ),
            None => bail!("{flag} is missing and demo.json has no cognito.{key}"),
        },
        None => bail!("{flag} is required (or --demo-json)"),
    }
}

/// tokenbridge's argon2id parameters, as its own code has them.
fn argon2_parameters() -> Value {
    json!({
        "algorithm": "argon2id", "version": "0x13",
        "memory_kib": password::MEMORY_KIB, "iterations": password::ITERATIONS,
        "parallelism": password::PARALLELISM,
        "hashing_slots": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
    })
}

fn argon2_text() -> String {
    format!(
        "argon2id v0x13, m = {} KiB ({} MiB), t = {}, p = {}; at most {} at once (one per core)",
        password::MEMORY_KIB,
        password::MEMORY_KIB / 1024,
        password::ITERATIONS,
        password::PARALLELISM,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    )
}

async fn bench(args: CognitoArgs) -> Result<std::process::ExitCode> {
    let demo_info = args.demo_json.as_ref().map(read_json).transpose()?;
    let endpoint = pick(&args.endpoint, demo_info.as_ref(), "endpoint", "--endpoint")?;
    let region = pick(&args.region, demo_info.as_ref(), "region", "--region").unwrap_or_default();
    let pool_id = pick(&args.user_pool_id, demo_info.as_ref(), "user_pool_id", "--user-pool-id").unwrap_or_default();
    let client_id = pick(&args.client_id, demo_info.as_ref(), "client_id", "--client-id")?;
    let password = match (&args.password, &demo_info) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(info)) => info
            .get("users")
            .and_then(Value::as_array)
            .and_then(|users| users.iter().find(|u| u["username"] == args.username.as_str()))
            .and_then(|u| u["password"].as_str())
            .map(str::to_string),
        (None, None) => None,
    };
    if args.flow != Flow::Custom && password.is_none() {
        bail!("--password is required for the {} flow", args.flow.name());
    }
    let client = http_client(args.concurrency.max(args.mint_concurrency))?;
    let api = Api::new(client.clone(), &endpoint)?;
    let username = args.username.clone();

    // Untimed preparation.
    let mut prepare_note = String::new();
    let initiate = match args.flow {
        Flow::Password | Flow::Refresh => {
            let body = json!({
                "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
                "AuthParameters": { "USERNAME": username, "PASSWORD": password.as_deref().unwrap_or_default() },
            });
            // One login first: a wrong setup fails here instead of as ten seconds of wrong
            // passwords (which would also lock the user out).
            let first = api.call("InitiateAuth", body.to_string().into_bytes(), None).await.map_err(
                |CallError(kind, sample)| {
                    anyhow::anyhow!("the first USER_PASSWORD_AUTH login failed: {kind}: {sample}")
                },
            )?;
            if !has_tokens(&first) {
                bail!("the first USER_PASSWORD_AUTH login gave no tokens: {}", excerpt(&first.to_string()));
            }
            if args.flow == Flow::Password {
                body
            } else {
                let refresh = first
                    .pointer("/AuthenticationResult/RefreshToken")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .with_context(|| {
                        format!("USER_PASSWORD_AUTH gave no RefreshToken: {}", excerpt(&first.to_string()))
                    })?;
                prepare_note = format!("one refresh token from USER_PASSWORD_AUTH ({} bytes)", refresh.len());
                json!({
                    "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client_id,
                    "AuthParameters": { "REFRESH_TOKEN": refresh },
                })
            }
        }
        Flow::Custom => json!({
            "AuthFlow": "CUSTOM_AUTH", "ClientId": client_id, "AuthParameters": { "USERNAME": username },
        }),
    };

    let mut answer_source = Value::Null;
    let answers = if args.flow == Flow::Custom {
        let wanted = args.answers.unwrap_or_else(|| {
            let n = DEFAULT_EXPECTED_CUSTOM_RATE * (args.seconds + args.warmup) + args.concurrency as u64;
            (n as usize).min(MAX_ANSWERS)
        });
        let started = Instant::now();
        let answers = if let Some(fixed) = &args.custom_answer {
            answer_source = json!("fixed");
            prepare_note = "one fixed answer for every login".into();
            Answers::Fixed(fixed.clone())
        } else if let Some(cmd) = &args.custom_answer_cmd {
            eprintln!("preparing {wanted} answers with --custom-answer-cmd…");
            let answers = answers_from_command(cmd, wanted, &username).await?;
            answer_source = json!("command");
            prepare_note = format!(
                "{} answers from --custom-answer-cmd in {:.1} s",
                answers.len(),
                started.elapsed().as_secs_f64()
            );
            Answers::Supply { answers, next: AtomicUsize::new(0) }
        } else if let Some(path) = &args.demo_json {
            let upstream_user = demo_upstream_user(path, &username)?;
            let mut demo = load_demo(path)?;
            demo.users = vec![upstream_user.clone()];
            let demo = Arc::new(demo);
            eprintln!(
                "minting {wanted} upstream id tokens for {} at {} ({} at a time)…",
                upstream_user.0, demo.token_endpoint, args.mint_concurrency
            );
            let minted = mint_all(&client, &demo, wanted, Mint::Auto, args.mint_concurrency).await?;
            answer_source = json!(format!("demo upstream ({} flow)", minted.method.name()));
            prepare_note = format!(
                "{} distinct upstream id tokens for {} minted in {:.1} s ({} flow{})",
                minted.tokens.len(),
                upstream_user.0,
                minted.seconds,
                minted.method.name(),
                minted.dropped_note()
            );
            Answers::Supply { answers: minted.tokens, next: AtomicUsize::new(0) }
        } else {
            bail!("the custom flow needs answers: --demo-json, --custom-answer-cmd or --custom-answer");
        };
        if !prepare_note.is_empty() {
            eprintln!("{prepare_note}");
        }
        Some(answers)
    } else {
        None
    };

    let login = Arc::new(Login {
        api,
        flow: args.flow,
        client_id: client_id.clone(),
        username: username.clone(),
        initiate: initiate.to_string().into_bytes(),
        answers,
        calls: AtomicUsize::new(0),
    });

    let mut warmup_logins = 0;
    if args.warmup > 0 {
        eprintln!("warming up for {} s…", args.warmup);
        let w = closed_loop(&login, args.concurrency, Duration::from_secs(args.warmup)).await;
        warmup_logins = w.record.requests;
        if w.exhausted {
            bail!("the answers ran out during the warm-up; prepare more (--answers) or warm up less");
        }
    }
    let calls_before = login.calls.load(Ordering::Relaxed);
    let answers_before = login.answers.as_ref().and_then(Answers::used).unwrap_or(0);

    eprintln!(
        "measuring {} s, {} flow, closed loop, concurrency {}…",
        args.seconds,
        args.flow.name(),
        args.concurrency
    );
    let cpu = report::CpuWatch::start(args.run.server_pid);
    let Phase { mut record, elapsed, exhausted } =
        closed_loop(&login, args.concurrency, Duration::from_secs(args.seconds)).await;
    let cpu = cpu.stop();

    let secs = elapsed.as_secs_f64();
    let calls = login.calls.load(Ordering::Relaxed) - calls_before;
    let latency = report::Latency::of(&mut record.latencies_us);
    let rate = record.successes as f64 / secs;
    let errors: u64 = record.errors.values().sum();
    let all_failed = record.successes == 0;
    let per_login_ms =
        |x: Option<f64>| x.filter(|_| record.successes > 0).map(|v| v * 1000.0 / record.successes as f64);
    let answers_used = login.answers.as_ref().and_then(Answers::used).map(|u| u - answers_before);

    let results = json!({
        "label": args.run.label,
        "flow": args.flow.name(),
        "auth_flow": args.flow.auth_flow(),
        "endpoint": endpoint,
        "region": region,
        "user_pool_id": pool_id,
        "client_id": client_id,
        "username": username,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "warmup_logins": warmup_logins,
        "elapsed_s": round(secs, 3),
        "attempts": record.requests,
        "successes": record.successes,
        "errors_total": errors,
        "errors": record.errors,
        "error_samples": record.samples,
        "all_failed": all_failed,
        "logins_per_s": round(rate, 1),
        "calls": calls,
        "calls_per_s": round(calls as f64 / secs, 1),
        "latency_ms": latency.json(),
        "preparation": prepare_note,
        "answer_source": answer_source,
        "answers_prepared": login.answers.as_ref().and_then(Answers::prepared),
        "answers_used": answers_used,
        "answers_exhausted": exhausted,
        "cpu_cores": cpu.cores_json(secs),
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "server_cpu_ms_per_login": per_login_ms(cpu.server).map(|v| round(v, 3)),
        "generator_threads": args.run.threads.max(1),
        "tokenbridge_argon2": argon2_parameters(),
    });

    let mut out = String::new();
    let label = args.run.label_suffix();
    out += &format!(
        "tokenbridge-bench cognito{label}: {} ({}), closed loop, concurrency {}\n",
        args.flow.name(),
        args.flow.auth_flow(),
        args.concurrency
    );
    out += &format!("  endpoint        {endpoint} (pool {pool_id}, client {client_id}, user {username})\n");
    if !prepare_note.is_empty() {
        out += &format!("  prepared        {prepare_note} (untimed)\n");
    }
    if args.warmup > 0 {
        out += &format!("  warm-up         {} s, {warmup_logins} logins (not counted)\n", args.warmup);
    }
    out += &format!(
        "  measured        {secs:.2} s{}\n",
        if exhausted { " (ENDED EARLY: the answers ran out)" } else { "" }
    );
    out += &format!("  attempts        {} logins, {calls} HTTP calls\n", record.requests);
    out += &format!("  successes       {}\n", record.successes);
    out += &record.error_lines();
    if all_failed {
        out += "  throughput      NONE: not one login succeeded (the errors above are what the server answered)\n";
    } else {
        out += &format!(
            "  throughput      {rate:.1} logins/s ({:.1} calls/s){}\n",
            calls as f64 / secs,
            if errors > 0 { format!("; and {errors} errors, not counted") } else { String::new() }
        );
        out += &latency.line("per login, successes only");
    }
    out += &cpu.cores_line(secs);
    if let Some(ms) = per_login_ms(cpu.server) {
        out += &format!("  cpu per login   server {ms:.3} ms\n");
    }
    if args.flow == Flow::Password {
        out += &format!("  tokenbridge's password hashing: {}\n", argon2_text());
    }
    if exhausted && secs < args.seconds as f64 * 0.5 {
        out += "  warning: fewer than half the requested seconds were measured; prepare more answers (--answers)\n";
    }
    report::print(&out, &results, args.run.json);
    Ok(if all_failed { std::process::ExitCode::from(EXIT_NO_SUCCESS) } else { std::process::ExitCode::SUCCESS })
}

// --- argon2: the password flow's bound on this machine ---

/// argon2id verifications per second with tokenbridge's parameters, on 1..=threads threads.
pub fn argon2_bound(seconds: u64, threads: usize, json_out: bool) -> Result<()> {
    let length = Duration::from_secs(seconds.clamp(1, 30));
    let phc = password::hash_blocking("tokenbridge-bench-password")?;
    if !password::verify_blocking("tokenbridge-bench-password", &phc) {
        bail!("argon2 verification of a fresh hash failed");
    }
    for t in 1..=threads.clamp(1, 64) {
        // One verification between looks at the clock: each takes milliseconds.
        let m = measure(t, length, 1, || password::verify_blocking("tokenbridge-bench-password", &phc))?;
        let (total, elapsed, rate) = (m.calls, m.elapsed, m.per_second);
        // Cores busy with anything but this measurement (a busy machine lowers the figure).
        let other = m.other_cores.map(|o| round(o, 2));
        // CPU time per verification: unlike the rate, hardly changed by other work on the machine.
        let cpu_ms = m.cpu_seconds.filter(|_| total > 0).map(|c| round(c * 1000.0 / total as f64, 2));
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let cpu_bound = cpu_ms.filter(|ms| *ms > 0.0).map(|ms| round(cores as f64 * 1000.0 / ms, 1));
        if json_out {
            println!(
                "{}",
                json!({ "threads": t, "seconds": round(elapsed, 2), "verifications": total,
                        "verifications_per_second": round(rate, 1),
                        "ms_per_verification": round(t as f64 * 1000.0 / rate, 2), "other_cores": other,
                        "cpu_ms_per_verification": cpu_ms, "cpu_bound_per_second": cpu_bound, "machine_cores": cores,
                        "parameters": argon2_parameters() })
            );
        } else {
            println!(
                "argon2id verify, {t} thread(s): {rate:.1}/s ({:.2} ms each, {} ms of CPU each: at most {}/s on \
                 {cores} cores; other processes used {} cores) — {}",
                t as f64 * 1000.0 / rate,
                cpu_ms.map_or("n/a".to_string(), |v| format!("{v:.2}")),
                cpu_bound.map_or("n/a".to_string(), |v| format!("{v:.0}")),
                other.map_or("n/a".to_string(), |o| format!("{o:.2}")),
                argon2_text()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_gets_a_trailing_slash_and_must_be_loopback() {
        let c = http_client(1).unwrap();
        assert_eq!(Api::new(c.clone(), "http://127.0.0.1:1").unwrap().url.as_str(), "http://127.0.0.1:1/");
        assert_eq!(
            Api::new(c.clone(), "http://127.0.0.1:1/cognito").unwrap().url.as_str(),
            "http://127.0.0.1:1/cognito/"
        );
        assert!(Api::new(c, "http://10.1.2.3/").is_err());
    }

    #[test]
    fn token_check_needs_both_tokens() {
        assert!(has_tokens(&json!({"AuthenticationResult": {"AccessToken": "a", "IdToken": "i"}})));
        assert!(!has_tokens(&json!({"AuthenticationResult": {"AccessToken": "a"}})));
        assert!(!has_tokens(&json!({})));
        assert!(!has_tokens(&Value::Null));
    }
}
