//! `tokenbridge-bench hosted`: the hosted sign-in of `tokenbridge demo`'s pool domain
//! (`hosted_ui` in demo.json: the domain's URL, a public client with code + PKCE, its callback),
//! over HTTP as a browser and a single-page app drive it, closed loop.
//!
//! Flows (`--flow`):
//! - `redeem`: `POST {domain}/oauth2/token` with `grant_type=authorization_code` and the code's
//!   PKCE verifier. The codes are minted before the timed part: one password sign-in per worker
//!   gives a sign-in session cookie, then authorizes with that cookie (SSO, no password) each
//!   give a code for a fresh S256 challenge. Each code is redeemed once. A redemption counts only
//!   when it answers 200 with an access, an id and a refresh token.
//! - `password`: a fresh browser each time: `GET {domain}/oauth2/authorize` (the sign-in page,
//!   its anti-forgery token and cookie), then `POST {domain}/login` with the password. A sign-in
//!   counts only when it answers 302 to the client's redirect_uri carrying a code and the state
//!   sent. Beside it, the argon2 bound: the argon2id verification's rate on one core, in this
//!   process with tokenbridge's own parameters and code (`tokenbridge_core::password`), times the
//!   cores the server may run on.
//!
//! Anything else is an error, counted by kind with one sample answer; a run without a single
//! success says so and exits with status 3. Loopback only, like the rest of this tool.

use super::in_process::measure;
use super::mint::hidden_field;
use super::{
    closed_loop, excerpt, http_client, read_json, report, round, transport_error, Outcome, Phase, RunArgs, Workload,
};
use anyhow::{bail, Context, Result};
use aws_lc_rs::{digest, rand};
use clap::{Args, ValueEnum};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, Url};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenbridge_core::jose::b64url;
use tokenbridge_core::password;

use super::cognito::EXIT_NO_SUCCESS;

/// Longest measured phase, seconds.
const MAX_SECONDS: u64 = 60;
/// Most codes minted for one run.
const MAX_CODES: usize = 60_000;
/// Codes minted for the untimed probe that sizes the supply (without `--codes`).
const PROBE_CODES: usize = 1_500;
/// How long the probe redeems, at most.
const PROBE_SECONDS: u64 = 2;
/// The server's codes live 300 s (`hosted_signin::CODE_SECONDS`): minting longer than this
/// would hand the timed part expired codes.
const MINT_LIMIT: Duration = Duration::from_secs(200);
/// What the client asks for: an id token needs `openid`.
const SCOPE: &str = "openid email profile";

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostedFlow {
    /// POST /oauth2/token, authorization_code + PKCE verifier, codes minted beforehand by SSO.
    Redeem,
    /// GET /oauth2/authorize + POST /login with the password (a fresh browser each time).
    Password,
}

impl HostedFlow {
    fn name(self) -> &'static str {
        match self {
            HostedFlow::Redeem => "redeem",
            HostedFlow::Password => "password",
        }
    }

    fn what(self) -> &'static str {
        match self {
            HostedFlow::Redeem => "code redemptions",
            HostedFlow::Password => "password sign-ins",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct HostedArgs {
    /// The demo.json of `tokenbridge demo`: its `hosted_ui` (domain URL, client, redirect URI)
    /// and its users with a local password.
    #[arg(long)]
    demo_json: PathBuf,
    #[arg(long, value_enum)]
    flow: HostedFlow,
    /// Who signs in (repeatable). Default: every linked demo user with a local password.
    #[arg(long = "username")]
    usernames: Vec<String>,
    /// Workers, each sending its next request as soon as the previous one is answered.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds (at most 60).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured load first, seconds (spends codes too).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// redeem: codes to mint (at most 60000). Default: sized from an untimed probe that redeems
    /// 1500 codes, for twice its rate over the warm-up and the measured seconds. The run ends
    /// early if they run out (reported).
    #[arg(long)]
    codes: Option<usize>,
    /// redeem: concurrent authorizes while minting codes.
    #[arg(long, default_value_t = 16)]
    mint_concurrency: usize,
    /// password: seconds of each in-process argon2 measurement for the bound (0: none).
    #[arg(long, default_value_t = 3)]
    argon2_seconds: u64,
    #[command(flatten)]
    run: RunArgs,
}

pub fn run(args: HostedArgs) -> Result<std::process::ExitCode> {
    if args.seconds == 0 || args.seconds > MAX_SECONDS {
        bail!("--seconds must be 1..={MAX_SECONDS}");
    }
    if args.warmup > 10 {
        bail!("--warmup must be at most 10 seconds");
    }
    if args.concurrency == 0 || args.concurrency > 1024 {
        bail!("--concurrency must be 1..=1024");
    }
    if args.mint_concurrency == 0 || args.mint_concurrency > 256 {
        bail!("--mint-concurrency must be 1..=256");
    }
    if args.argon2_seconds > 10 {
        bail!("--argon2-seconds must be at most 10");
    }
    if let Some(n) = args.codes {
        if n == 0 || n > MAX_CODES {
            bail!("--codes must be 1..={MAX_CODES}");
        }
    }
    // The argon2 bound first, in this process, before any load on the server.
    let argon2 = match args.flow {
        HostedFlow::Password if args.argon2_seconds > 0 => {
            Some(Argon2Bound::measure(Duration::from_secs(args.argon2_seconds), server_cores(args.run.server_pid))?)
        }
        _ => None,
    };
    args.run.runtime()?.block_on(bench(args, argon2))
}

// --- the domain, as a browser and a public client see it ---

struct Hosted {
    client: Client,
    domain_url: String,
    authorize: Url,
    login: Url,
    token: Url,
    client_id: String,
    redirect_uri: Url,
    /// (username, local password).
    users: Vec<(String, String)>,
}

/// A browser's cookies for the domain's path: (name, value), as the server set them.
#[derive(Default, Clone)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let Some((name, value)) = v.split(';').next().and_then(|p| p.trim().split_once('=')) else { continue };
            self.0.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// A fresh PKCE verifier (32 random bytes, base64url) and its S256 challenge (RFC 7636).
fn pkce() -> (String, String) {
    let verifier = random_token();
    let challenge = b64url(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
    (verifier, challenge)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes).expect("system randomness");
    b64url(&bytes)
}

/// Why a step failed: the error kind and a sample of the answer.
type Failed = (String, String);

fn failed(kind: impl Into<String>, sample: impl AsRef<str>) -> Failed {
    (kind.into(), excerpt(sample.as_ref()))
}

fn transport(step: &str, e: reqwest::Error) -> Failed {
    match transport_error(e) {
        Outcome::Err(kind, sample) => (format!("{step} {kind}"), sample),
        Outcome::Ok => unreachable!("a transport error is an error"),
    }
}

impl Hosted {
    fn load(path: &PathBuf, usernames: &[String], client: Client) -> Result<Self> {
        let info = read_json(path)?;
        let h = info.get("hosted_ui").with_context(|| {
            format!("{} has no hosted_ui: this tokenbridge build has no hosted sign-in", path.display())
        })?;
        let s = |key: &str| {
            h[key].as_str().map(str::to_string).with_context(|| format!("{} has no hosted_ui.{key}", path.display()))
        };
        let domain_url = super::loopback_url("hosted_ui.domain_url", &s("domain_url")?)?;
        let domain = domain_url.as_str().trim_end_matches('/').to_string();
        let at = |rest: &str| Url::parse(&format!("{domain}{rest}")).context("domain URL");
        let users: Vec<(String, String)> = info["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| {
                let name = u["username"].as_str().unwrap_or_default();
                if usernames.is_empty() {
                    u["expect"] == "linked"
                } else {
                    usernames.iter().any(|n| n == name)
                }
            })
            .filter_map(|u| Some((u["username"].as_str()?.to_string(), u["password"].as_str()?.to_string())))
            .collect();
        if users.is_empty() {
            bail!(
                "{} lists no {} with a local password",
                path.display(),
                if usernames.is_empty() { "linked user".to_string() } else { format!("user among {usernames:?}") }
            );
        }
        Ok(Self {
            client,
            authorize: at("/oauth2/authorize")?,
            login: at("/login")?,
            token: at("/oauth2/token")?,
            domain_url: domain,
            client_id: s("client_id")?,
            redirect_uri: Url::parse(&s("redirect_uri")?).context("hosted_ui.redirect_uri")?,
            users,
        })
    }

    /// The authorization request's parameters, with this `state` and PKCE `challenge`.
    fn request(&self, state: &str, challenge: &str) -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.to_string()),
            ("scope", SCOPE.into()),
            ("state", state.into()),
            ("code_challenge", challenge.into()),
            ("code_challenge_method", "S256".into()),
        ]
    }

    /// The code of a 302 to the redirect_uri carrying the `state` sent.
    fn code_of(&self, step: &str, resp: &reqwest::Response, state: &str) -> Result<String, Failed> {
        let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Ok(to) = Url::parse(location) else {
            return Err(failed(format!("{step} 302 to an unusable location"), location));
        };
        let base = |u: &Url| format!("{}://{}{}", u.scheme(), u.host_str().unwrap_or_default(), u.path());
        if base(&to) != base(&self.redirect_uri)
            || to.port_or_known_default() != self.redirect_uri.port_or_known_default()
        {
            return Err(failed(format!("{step} 302 elsewhere than the redirect_uri"), location));
        }
        let param = |k: &str| to.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
        if let Some(error) = param("error") {
            return Err(failed(format!("{step} 302 error={error}"), location));
        }
        if param("state").as_deref() != Some(state) {
            return Err(failed(format!("{step} 302 without the state sent"), location));
        }
        match param("code").filter(|c| !c.is_empty()) {
            Some(code) => Ok(code),
            None => Err(failed(format!("{step} 302 without a code"), location)),
        }
    }

    /// A fresh browser signs in with a password: the page, then the form. Returns the code and
    /// the browser's cookies (its sign-in session among them).
    async fn sign_in(&self, user: &(String, String)) -> Result<(String, Jar), Failed> {
        let state = random_token();
        let (_, challenge) = pkce();
        let request = self.request(&state, &challenge);
        let mut jar = Jar::default();
        let page = self.client.get(self.authorize.clone()).query(&request).send().await;
        let page = page.map_err(|e| transport("authorize", e))?;
        let status = page.status();
        jar.take(&page);
        let html = page.text().await.map_err(|e| transport("authorize", e))?;
        if status != StatusCode::OK {
            return Err(failed(format!("authorize {}", status.as_u16()), &html));
        }
        let Some(csrf) = hidden_field(&html, "csrf") else {
            return Err(failed("authorize 200 without a sign-in form", &html));
        };
        let mut form = request;
        form.extend([("csrf", csrf), ("username", user.0.clone()), ("password", user.1.clone())]);
        let signed = self.client.post(self.login.clone()).header(COOKIE, jar.header()).form(&form).send().await;
        let signed = signed.map_err(|e| transport("login", e))?;
        jar.take(&signed);
        if signed.status() != StatusCode::FOUND {
            let status = signed.status().as_u16();
            let body = signed.text().await.unwrap_or_default();
            return Err(failed(format!("login {status}"), error_text(&body)));
        }
        let code = self.code_of("login", &signed, &state)?;
        Ok((code, jar))
    }

    /// A code without a password: an authorize with the browser's sign-in session (SSO). Returns
    /// the code and its PKCE verifier.
    async fn sso_code(&self, jar: &Jar) -> Result<(String, String), Failed> {
        let state = random_token();
        let (verifier, challenge) = pkce();
        let resp = self
            .client
            .get(self.authorize.clone())
            .query(&self.request(&state, &challenge))
            .header(COOKIE, jar.header())
            .send()
            .await
            .map_err(|e| transport("authorize", e))?;
        if resp.status() != StatusCode::FOUND {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            return Err(failed(format!("SSO authorize {status} (no code without a password)"), error_text(&body)));
        }
        Ok((self.code_of("SSO authorize", &resp, &state)?, verifier))
    }

    /// Redeems `code` with its `verifier`: 200 with an access, an id and a refresh token.
    async fn redeem(&self, code: &str, verifier: &str) -> Outcome {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", self.client_id.as_str()),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        let resp = match self.client.post(self.token.clone()).form(&form).send().await {
            Ok(r) => r,
            Err(e) => return transport_error(e),
        };
        let status = resp.status();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_error(e),
        };
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status != StatusCode::OK {
            let error = answer["error"].as_str().unwrap_or("(no error code)");
            return Outcome::Err(
                format!("token {} {error}", status.as_u16()),
                excerpt(&String::from_utf8_lossy(&body)),
            );
        }
        let missing: Vec<&str> = ["access_token", "id_token", "refresh_token"]
            .into_iter()
            .filter(|k| answer[*k].as_str().is_none_or(str::is_empty))
            .collect();
        if missing.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Err(format!("token 200 without {}", missing.join(", ")), excerpt(&String::from_utf8_lossy(&body)))
        }
    }
}

/// The message of an error page (its text without the markup), or the body as it is.
fn error_text(body: &str) -> String {
    let mut text = String::with_capacity(body.len());
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// --- the loads ---

/// Codes redeemed once each, in order.
struct Redeem {
    hosted: Arc<Hosted>,
    /// (code, verifier).
    codes: Vec<(String, String)>,
    next: AtomicUsize,
}

impl Redeem {
    fn used(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.codes.len())
    }
}

impl Workload for Redeem {
    async fn once(&self) -> Option<Outcome> {
        let (code, verifier) = self.codes.get(self.next.fetch_add(1, Ordering::Relaxed))?;
        Some(self.hosted.redeem(code, verifier).await)
    }
}

/// Password sign-ins, the users taken in turn.
struct PasswordSignIn {
    hosted: Arc<Hosted>,
    next: AtomicUsize,
}

impl Workload for PasswordSignIn {
    async fn once(&self) -> Option<Outcome> {
        let users = &self.hosted.users;
        let user = &users[self.next.fetch_add(1, Ordering::Relaxed) % users.len()];
        Some(match self.hosted.sign_in(user).await {
            Ok(_) => Outcome::Ok,
            Err((kind, sample)) => Outcome::Err(kind, sample),
        })
    }
}

/// One password sign-in per worker (untimed), then `wanted` codes by SSO with those sessions.
async fn mint_codes(
    hosted: &Arc<Hosted>,
    sessions: &[Jar],
    wanted: usize,
    parallel: usize,
) -> Result<Vec<(String, String)>> {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut set = tokio::task::JoinSet::new();
    let mut codes = Vec::with_capacity(wanted);
    let sessions: Arc<Vec<Jar>> = Arc::new(sessions.to_vec());
    for i in 0..wanted {
        let permit = sem.clone().acquire_owned().await?;
        let (hosted, sessions) = (hosted.clone(), sessions.clone());
        set.spawn(async move {
            let got = hosted.sso_code(&sessions[i % sessions.len()]).await;
            drop(permit);
            got
        });
        while let Some(done) = set.try_join_next() {
            codes.push(done?.map_err(|(kind, sample)| anyhow::anyhow!("minting codes: {kind}: {sample}"))?);
        }
    }
    while let Some(done) = set.join_next().await {
        codes.push(done?.map_err(|(kind, sample)| anyhow::anyhow!("minting codes: {kind}: {sample}"))?);
    }
    Ok(codes)
}

// --- the argon2 bound ---

/// argon2id verifications per second with tokenbridge's parameters, in this process.
struct Argon2Bound {
    /// On one thread: the rate of one core.
    per_core: f64,
    /// CPU per verification on one thread, ms.
    cpu_ms: Option<f64>,
    /// On `cores` threads at once (memory bandwidth shared: lower than per_core × cores).
    all_cores: f64,
    /// The cores the server may run on (its hashing slots: one verification per core).
    cores: usize,
    /// Cores other processes used during the measurements.
    other_cores: Option<f64>,
}

impl Argon2Bound {
    fn measure(length: Duration, cores: usize) -> Result<Self> {
        const PASSWORD: &str = "tokenbridge-bench-password";
        let phc = password::hash_blocking(PASSWORD)?;
        if !password::verify_blocking(PASSWORD, &phc) {
            bail!("argon2 verification of a fresh hash failed");
        }
        eprintln!(
            "measuring argon2id verification in process ({} s on 1 thread, {} s on {cores})…",
            length.as_secs(),
            length.as_secs()
        );
        let one = measure(1, length, 1, || password::verify_blocking(PASSWORD, &phc))?;
        let all = measure(cores, length, 1, || password::verify_blocking(PASSWORD, &phc))?;
        let other = match (one.other_cores, all.other_cores) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        Ok(Self {
            per_core: one.per_second,
            cpu_ms: one.cpu_us_per_call().map(|us| us / 1000.0),
            all_cores: all.per_second,
            cores,
            other_cores: other,
        })
    }

    fn bound(&self) -> f64 {
        self.per_core * self.cores as f64
    }

    fn json(&self, server_cores_used: Option<f64>) -> Value {
        json!({
            "parameters": {
                "algorithm": "argon2id", "version": "0x13", "memory_kib": password::MEMORY_KIB,
                "iterations": password::ITERATIONS, "parallelism": password::PARALLELISM,
                "source": "tokenbridge_core::password (crates/core/src/password.rs)",
            },
            "per_core_per_second": round(self.per_core, 1),
            "cpu_ms_per_verification": self.cpu_ms.map(|v| round(v, 2)),
            "server_cores": self.cores,
            "bound_per_second": round(self.bound(), 1),
            "measured_on_all_cores_per_second": round(self.all_cores, 1),
            "bound_at_server_cores_used": server_cores_used.map(|c| round(self.per_core * c, 1)),
            "other_cores": self.other_cores.map(|v| round(v, 2)),
        })
    }
}

/// The cores the server may run on: its CPU affinity (/proc), else this machine's.
fn server_cores(pid: Option<u32>) -> usize {
    let machine = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let Some(pid) = pid else { return machine };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(|list| cpu_list_len(list.trim()))
        .unwrap_or(machine)
}

/// How many CPUs a list such as `0-3,6` names.
fn cpu_list_len(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().ok()?.checked_sub(a.parse::<usize>().ok()?)? + 1,
            None => part.parse::<usize>().map(|_| 1).ok()?,
        };
    }
    (n > 0).then_some(n)
}

// --- the command ---

async fn bench(args: HostedArgs, argon2: Option<Argon2Bound>) -> Result<std::process::ExitCode> {
    let client = http_client(args.concurrency.max(args.mint_concurrency))?;
    let hosted = Arc::new(Hosted::load(&args.demo_json, &args.usernames, client)?);
    let users: Vec<&str> = hosted.users.iter().map(|(u, _)| u.as_str()).collect();

    // Untimed: one sign-in first, so that a wrong setup fails here.
    let (_, first) = hosted.sign_in(&hosted.users[0]).await.map_err(|(kind, sample)| {
        anyhow::anyhow!("the first password sign-in at {} failed: {kind}: {sample}", hosted.domain_url)
    })?;
    match args.flow {
        HostedFlow::Password => {
            let prepare_note = format!("one sign-in as {} (untimed) to check the setup", users[0]);
            let work = Arc::new(PasswordSignIn { hosted: hosted.clone(), next: AtomicUsize::new(0) });
            let phase = |secs: u64| closed_loop(&work, args.concurrency, Duration::from_secs(secs));
            measured(&args, &hosted, &users, prepare_note, Value::Null, argon2, phase, || None).await
        }
        HostedFlow::Redeem => {
            let started = Instant::now();
            let mut sessions = vec![first];
            for w in 1..args.concurrency {
                let (_, jar) =
                    hosted.sign_in(&hosted.users[w % hosted.users.len()]).await.map_err(|(kind, sample)| {
                        anyhow::anyhow!("password sign-in {w} for a session failed: {kind}: {sample}")
                    })?;
                sessions.push(jar);
            }
            let wanted = match args.codes {
                Some(n) => n,
                None => {
                    // The probe: redeem PROBE_CODES codes (untimed) for the rate that sizes the supply.
                    let codes = mint_codes(&hosted, &sessions, PROBE_CODES, args.mint_concurrency).await?;
                    let probe = Arc::new(Redeem { hosted: hosted.clone(), codes, next: AtomicUsize::new(0) });
                    let p = closed_loop(&probe, args.concurrency, Duration::from_secs(PROBE_SECONDS)).await;
                    let rate = p.record.successes as f64 / p.elapsed.as_secs_f64();
                    // Twice the probe's rate: it starts cold, and a warm server redeems faster.
                    let n = rate * 2.0 * (args.warmup + args.seconds) as f64 + args.concurrency as f64;
                    eprintln!(
                        "probe: {rate:.0} redemptions/s over {:.2} s; minting {n:.0} codes",
                        p.elapsed.as_secs_f64()
                    );
                    (n as usize).clamp(500, MAX_CODES)
                }
            };
            let mint_started = Instant::now();
            eprintln!(
                "minting {wanted} codes by SSO authorizes ({} sessions, {} at a time)…",
                sessions.len(),
                args.mint_concurrency
            );
            let codes = mint_codes(&hosted, &sessions, wanted, args.mint_concurrency).await?;
            let mint_secs = mint_started.elapsed();
            if mint_secs > MINT_LIMIT {
                bail!("minting took {} s and codes live 300 s: mint fewer (--codes)", mint_secs.as_secs());
            }
            let prepare_note = format!(
                "{} sessions by password sign-in, {} codes by SSO authorize in {:.1} s ({:.0}/s), each with its own \
                 S256 challenge (untimed; {:.1} s in all)",
                sessions.len(),
                codes.len(),
                mint_secs.as_secs_f64(),
                codes.len() as f64 / mint_secs.as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
            eprintln!("{prepare_note}");
            let mint = json!({
                "sessions": sessions.len(), "codes": codes.len(), "seconds": round(mint_secs.as_secs_f64(), 2),
                "authorizes_per_s": round(codes.len() as f64 / mint_secs.as_secs_f64(), 1),
            });
            let work = Arc::new(Redeem { hosted: hosted.clone(), codes, next: AtomicUsize::new(0) });
            let phase = |secs: u64| closed_loop(&work, args.concurrency, Duration::from_secs(secs));
            let used = || Some(work.used());
            measured(&args, &hosted, &users, prepare_note, mint, None, phase, used).await
        }
    }
}

/// The warm-up and the measured phase of either flow; prints and returns the exit status.
#[allow(clippy::too_many_arguments)]
async fn measured<F: std::future::Future<Output = Phase>>(
    args: &HostedArgs,
    hosted: &Hosted,
    users: &[&str],
    prepare_note: String,
    mint: Value,
    argon2: Option<Argon2Bound>,
    phase: impl Fn(u64) -> F,
    used: impl Fn() -> Option<usize>,
) -> Result<std::process::ExitCode> {
    let flow = args.flow;
    let mut warmup_ops = 0;
    if args.warmup > 0 {
        eprintln!("warming up for {} s…", args.warmup);
        let w = phase(args.warmup).await;
        warmup_ops = w.record.requests;
        if w.exhausted {
            bail!("the codes ran out during the warm-up; mint more (--codes) or warm up less");
        }
    }
    let used_before = used().unwrap_or(0);
    eprintln!("measuring {} s, {}, closed loop, concurrency {}…", args.seconds, flow.what(), args.concurrency);
    let cpu = report::CpuWatch::start(args.run.server_pid);
    let Phase { mut record, elapsed, exhausted } = phase(args.seconds).await;
    let cpu = cpu.stop();

    let secs = elapsed.as_secs_f64();
    let latency = report::Latency::of(&mut record.latencies_us);
    let rate = record.successes as f64 / secs;
    let errors: u64 = record.errors.values().sum();
    let all_failed = record.successes == 0;
    let per_op_ms = |x: Option<f64>| x.filter(|_| record.successes > 0).map(|v| v * 1000.0 / record.successes as f64);
    let server_cores_used = cpu.server.map(|s| s / secs);
    let requests_per_op = if flow == HostedFlow::Password { 2 } else { 1 };

    let results = json!({
        "label": args.run.label,
        "flow": flow.name(),
        "domain_url": hosted.domain_url,
        "client_id": hosted.client_id,
        "users": users,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "warmup_ops": warmup_ops,
        "elapsed_s": round(secs, 3),
        "attempts": record.requests,
        "requests_per_attempt": requests_per_op,
        "successes": record.successes,
        "errors_total": errors,
        "errors": record.errors,
        "error_samples": record.samples,
        "all_failed": all_failed,
        "per_second": round(rate, 1),
        "latency_ms": latency.json(),
        "preparation": prepare_note,
        "mint": mint,
        "codes_used": used().map(|u| u - used_before),
        "codes_exhausted": exhausted,
        "cpu_cores": cpu.cores_json(secs),
        "server_threads": cpu.threads_json(secs),
        "server_cpu_ms_per_op": per_op_ms(cpu.server).map(|v| round(v, 3)),
        "generator_cpu_ms_per_op": per_op_ms(cpu.generator).map(|v| round(v, 3)),
        "generator_threads": args.run.threads.max(1),
        "argon2": argon2.as_ref().map(|a| a.json(server_cores_used)),
    });

    let mut out = String::new();
    out += &format!(
        "tokenbridge-bench hosted{}: {} ({}), closed loop, concurrency {}\n",
        args.run.label_suffix(),
        flow.name(),
        flow.what(),
        args.concurrency
    );
    out +=
        &format!("  domain          {} (client {}, users {})\n", hosted.domain_url, hosted.client_id, users.join(", "));
    out += &format!("  prepared        {prepare_note}\n");
    if args.warmup > 0 {
        out += &format!("  warm-up         {} s, {warmup_ops} attempts (not counted)\n", args.warmup);
    }
    out +=
        &format!("  measured        {secs:.2} s{}\n", if exhausted { " (ENDED EARLY: the codes ran out)" } else { "" });
    out += &format!(
        "  attempts        {} ({} HTTP request{} each)\n",
        record.requests,
        requests_per_op,
        if requests_per_op > 1 { "s" } else { "" }
    );
    out += &format!("  successes       {}\n", record.successes);
    out += &record.error_lines();
    if all_failed {
        out += "  throughput      NONE: not one succeeded (the errors above are what the server answered)\n";
    } else {
        out += &format!(
            "  throughput      {rate:.1} {}/s{}\n",
            flow.what(),
            if errors > 0 { format!("; and {errors} errors, not counted") } else { String::new() }
        );
        out += &latency.line("successes only");
    }
    out += &cpu.cores_line(secs);
    out += &cpu.threads_line(secs);
    if let Some(ms) = per_op_ms(cpu.server) {
        out += &format!(
            "  cpu per op      server {ms:.3} ms  generator {}\n",
            per_op_ms(cpu.generator).map_or("n/a".into(), |v| format!("{v:.3} ms"))
        );
    }
    if let Some(a) = &argon2 {
        out += &format!(
            "  argon2 bound    {:.1}/s per core ({} ms of CPU each; argon2id m={} KiB t={} p={}, in process) × {} \
             server cores = {:.1}/s; measured on {} threads at once: {:.1}/s; other processes {} cores\n",
            a.per_core,
            a.cpu_ms.map_or("n/a".into(), |v| format!("{v:.2}")),
            password::MEMORY_KIB,
            password::ITERATIONS,
            password::PARALLELISM,
            a.cores,
            a.bound(),
            a.cores,
            a.all_cores,
            a.other_cores.map_or("n/a".into(), |v| format!("{v:.2}"))
        );
        if !all_failed {
            out += &format!(
                "  against it      {rate:.1} sign-ins/s = {:.0}% of the bound{}\n",
                100.0 * rate / a.bound(),
                match (server_cores_used, per_op_ms(cpu.server), a.cpu_ms) {
                    (Some(c), Some(ms), Some(argon)) => format!(
                        "; the server got {c:.2} cores (bound there {:.1}/s) and spent {ms:.2} ms of CPU per sign-in, \
                         {:.0}% of it one verification",
                        a.per_core * c,
                        100.0 * argon / ms
                    ),
                    _ => String::new(),
                }
            );
        }
    }
    if exhausted && secs < args.seconds as f64 * 0.5 {
        out += "  warning: fewer than half the requested seconds were measured; mint more codes (--codes)\n";
    }
    report::print(&out, &results, args.run.json);
    Ok(if all_failed { std::process::ExitCode::from(EXIT_NO_SUCCESS) } else { std::process::ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc7636_s256() {
        // RFC 7636 appendix B.
        let challenge =
            b64url(digest::digest(&digest::SHA256, b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").as_ref());
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let (verifier, challenge) = pkce();
        assert_eq!(verifier.len(), 43);
        assert_eq!(challenge, b64url(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref()));
    }

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(cpu_list_len("0-1"), Some(2));
        assert_eq!(cpu_list_len("0-3,6"), Some(5));
        assert_eq!(cpu_list_len("2"), Some(1));
        assert_eq!(cpu_list_len(""), None);
        assert_eq!(cpu_list_len("x"), None);
    }

    #[test]
    fn error_pages_are_read_as_text() {
        assert_eq!(error_text("<p>Incorrect <b>username</b> or password.</p>"), "Incorrect username or password.");
    }
}
