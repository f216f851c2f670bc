//! Helpers shared by the integration tests: run the real `tokenbridge` binary hermetically, start
//! it as a server child that is always killed, and talk HTTP to it.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tokenbridge")
}

/// The binary with no `TOKENBRIDGE_*` or `RUST_LOG` from the outer environment.
pub fn tb() -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TOKENBRIDGE_") {
            c.env_remove(&k);
        }
    }
    c.env_remove("RUST_LOG").env_remove("NO_COLOR").stdin(Stdio::null());
    c
}

/// `tokenbridge --data-dir DIR ARGS...`
pub fn tb_in(dir: &Path, args: &[&str]) -> Command {
    let mut c = tb();
    c.arg("--data-dir").arg(dir).args(args);
    c
}

/// Runs, feeding `stdin` (if any), and returns the output.
pub fn run(mut c: Command, stdin: Option<&str>) -> Output {
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn tokenbridge");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().expect("wait tokenbridge")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and asserts success; returns stdout.
#[track_caller]
pub fn ok(c: Command, stdin: Option<&str>) -> String {
    let desc = format!("{c:?}");
    let o = run(c, stdin);
    assert!(o.status.success(), "{desc} failed ({}):\nstdout: {}\nstderr: {}", o.status, stdout(&o), stderr(&o));
    stdout(&o)
}

/// Runs and asserts failure with exit code 1; returns stderr.
#[track_caller]
pub fn fails(c: Command, stdin: Option<&str>) -> String {
    let desc = format!("{c:?}");
    let o = run(c, stdin);
    assert_eq!(o.status.code(), Some(1), "{desc} should fail with 1:\nstdout: {}\nstderr: {}", stdout(&o), stderr(&o));
    assert!(stdout(&o).is_empty(), "{desc}: a failure printed to stdout: {}", stdout(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{desc}: stderr should start with `error: `: {err}");
    err
}

/// Every stdout line parsed as JSON.
#[track_caller]
pub fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server child process: killed (and reaped) when dropped, whatever the test did.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Everything the child printed on stdout so far (read by a thread so the pipe never fills).
    pub out: Arc<Mutex<String>>,
    /// The same for stderr.
    pub err: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }
}

/// Copies a child's pipe into a string; each line also goes down `tx`.
fn drain(pipe: impl std::io::Read + Send + 'static, tx: Option<mpsc::Sender<String>>) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            b.lock().unwrap().push_str(&line);
            b.lock().unwrap().push('\n');
            if let Some(tx) = &tx {
                let _ = tx.send(line);
            }
        }
    });
    buf
}

/// Waits (bounded) for `GET {base}/healthz` to answer 200; panics with the child's output if not.
pub async fn wait_healthy(server: &mut Server) {
    wait_healthy_with(server, &http()).await
}

/// [`wait_healthy`] through `http` (a client trusting an https server's certificate).
pub async fn wait_healthy_with(server: &mut Server, http: &reqwest::Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("server exited early ({status}):\nstdout: {}\nstderr: {}", server.stdout(), server.stderr());
        }
        assert!(Instant::now() < deadline, "server not healthy in 30 s:\nstderr: {}", server.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `tokenbridge demo --listen 127.0.0.1:0 --data-dir DIR`, learns its address from the
/// walkthrough it prints, and waits until it is healthy (under `--tls`, trusting the certificate
/// it keeps in `DIR/tls/cert.pem`).
pub async fn start_demo(dir: &Path, extra: &[&str]) -> Server {
    start_demo_with_env(dir, extra, &[]).await
}

/// [`start_demo`] with `env` set for the child.
pub async fn start_demo_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut c = tb();
    c.args(["demo", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir).args(extra);
    c.envs(env.iter().copied());
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn demo");
    let (tx, rx) = mpsc::channel();
    let out = drain(child.stdout.take().unwrap(), Some(tx));
    let err = drain(child.stderr.take().unwrap(), None);
    let mut server = Server { child, base: String::new(), out, err };
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.base.is_empty() {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Some(rest) = line.trim().strip_prefix("tokenbridge demo is running at ") {
                    server.base = rest.trim().to_string();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = server.child.try_wait() {
                    panic!("demo exited early ({status}):\n{}", server.stderr());
                }
                assert!(Instant::now() < deadline, "demo printed no address in 60 s:\n{}", server.stderr());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Stdout closed: the process is gone; wait so the status is known.
                let status = server.child.wait().unwrap();
                panic!("demo exited ({status}) before printing its address:\n{}", server.stderr());
            }
        }
    }
    let http = match server.base.starts_with("https://") {
        true => https_trusting(&dir.join("tls/cert.pem")),
        false => http(),
    };
    wait_healthy_with(&mut server, &http).await;
    server
}

/// Starts `tokenbridge serve --config FILE` on `base` (its listen address) and waits for health.
pub async fn start_serve(config: &Path, base: &str, extra: &[&str]) -> Server {
    start_serve_with_env(config, base, extra, &[]).await
}

/// [`start_serve`] with `env` set for the child.
pub async fn start_serve_with_env(config: &Path, base: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    start_serve_with(config, base, extra, env, &http()).await
}

/// [`start_serve_with_env`], waiting for health through `http` (an https server's client).
pub async fn start_serve_with(
    config: &Path,
    base: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    http: &reqwest::Client,
) -> Server {
    let mut c = tb();
    c.arg("serve").arg("--config").arg(config).args(extra);
    c.envs(env.iter().copied());
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn serve");
    let out = drain(child.stdout.take().unwrap(), None);
    let err = drain(child.stderr.take().unwrap(), None);
    let mut server = Server { child, base: base.to_string(), out, err };
    wait_healthy_with(&mut server, http).await;
    server
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// A client that trusts the certificates of `pem_file` and no others.
pub fn https_trusting(pem_file: &Path) -> reqwest::Client {
    let pem = std::fs::read(pem_file).unwrap_or_else(|e| panic!("{}: {e}", pem_file.display()));
    let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("PEM certificates");
    reqwest::Client::builder().timeout(Duration::from_secs(10)).tls_certs_only(certs).build().unwrap()
}

/// `DIR/demo.json`.
pub fn demo_json(dir: &Path) -> Value {
    let p: PathBuf = dir.join("demo.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// A fresh upstream id token for the demo user `username` (local name, e.g. "alice"), from the
/// demo upstream's password grant with the upstream client's credentials in demo.json.
pub async fn upstream_id_token(info: &Value, username: &str) -> String {
    let user = info["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == username)
        .unwrap_or_else(|| panic!("no demo user {username}"));
    let up = &info["upstream"];
    let r = http()
        .post(up["token_endpoint"].as_str().unwrap())
        .basic_auth(up["client_id"].as_str().unwrap(), up["client_secret"].as_str())
        .form(&[
            ("grant_type", "password"),
            ("username", user["upstream_username"].as_str().unwrap()),
            ("password", user["upstream_password"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "upstream password grant for {username}: {}", r.status());
    let v: Value = r.json().await.unwrap();
    v["id_token"].as_str().expect("id_token").to_string()
}

/// `POST {base}/auth/exchange` with the upstream token as bearer: (status, body).
pub async fn exchange(base: &str, upstream_token: &str) -> (u16, Value) {
    let r = http().post(format!("{base}/auth/exchange")).bearer_auth(upstream_token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The demo upstream signs deterministically and without `jti`, so two id tokens for the same user
/// in the same second are identical, and one-time use refuses the second as a replay. Tests that
/// exchange for one user twice wait for the next second in between.
pub async fn next_second() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    tokio::time::sleep(Duration::from_millis(1050 - u64::from(now.subsec_millis()))).await;
}

/// The decoded header of a compact JWS.
pub fn jwt_header(jwt: &str) -> Value {
    let h = jwt.split('.').next().unwrap();
    serde_json::from_slice(&base64url_decode(h)).unwrap()
}

/// The decoded claims of a compact JWS.
pub fn jwt_claims(jwt: &str) -> Value {
    let c = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64url_decode(c)).unwrap()
}

fn base64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s.as_bytes().iter().filter(|&&c| c != b'=') {
        acc = (acc << 6) | val(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Polls `f` every 250 ms until it returns `Some`, for at most `limit`.
pub async fn poll<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// --- the operator's commands, shared by the modules that drive them ---

/// A local password, as typed at the prompt.
pub const PW: &str = "correct horse battery\n";

/// A fresh data directory.
pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("tokenbridge-cli-test-").tempdir().unwrap()
}

/// `users show USER` as JSON.
pub fn show(dir: &Path, user: &str) -> Value {
    serde_json::from_str(&ok(tb_in(dir, &["users", "show", user]), None)).unwrap()
}

pub fn usernames(dir: &Path) -> Vec<String> {
    json_lines(&ok(tb_in(dir, &["users", "list"]), None))
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

/// `user-pools …` with `--data-dir DIR`.
pub fn pools_in(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = tb_in(dir, &["user-pools"]);
    c.args(args);
    c
}

/// `audit lookup ARGS...` as JSON records.
pub fn lookup(d: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "lookup"];
    all.extend_from_slice(args);
    json_lines(&ok(tb_in(d, &all), None))
}

pub fn event_names(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["eventName"].as_str().unwrap()).collect()
}
