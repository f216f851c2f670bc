//! `tokenbridge demo` and user import.

use crate::cli::{DemoArgs, Global};
use crate::state::init_logging;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tokenbridge_core::config::TlsConfig;
use tokenbridge_core::directory::{validate_username, DirectoryError, NewUser};
use tokenbridge_core::model::KeyAlgorithm;
use tokenbridge_core::store::StoreError;
use tokenbridge_core::Engine;
use tokenbridge_demo::tls::{DemoCertificate, Origin};
use tokenbridge_server::serving::Serving;
use tokenbridge_server::tls::Tls;

#[tokenbridge_core::entry_point(?Send)]
pub async fn run(g: &Global, a: DemoArgs) -> anyhow::Result<()> {
    init_logging(g.log_format.as_deref().unwrap_or("text"));
    if KeyAlgorithm::parse(&a.algorithm).is_none() {
        anyhow::bail!("--algorithm {:?} is not one of RS256, ES256, EdDSA", a.algorithm);
    }
    if let Some(c) = &g.config {
        eprintln!("warning: demo ignores the configuration file {}; it configures itself", c.display());
    }
    let data_dir = match &g.data_dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new().prefix("tokenbridge-demo-").tempdir()?.keep(),
    };
    tokenbridge_store::private_dir(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    // Absolute, so the printed commands work from any directory.
    let data_dir = std::path::absolute(&data_dir)?;
    // Made (or found) and loaded before anything listens: a bad kept file stops the start.
    let cert = match a.tls {
        true => Some(tokenbridge_demo::tls::ensure(&data_dir).context("cannot make the demo's TLS certificate")?),
        false => None,
    };
    let tls = cert
        .as_ref()
        .map(|c| Tls::load(&TlsConfig { cert_file: c.cert_file.clone(), key_file: c.key_file.clone() }))
        .transpose()?;
    let listener =
        tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let base_url = format!("{}://{addr}", if a.tls { "https" } else { "http" });
    let location = a.storage_url.clone().unwrap_or_else(|| data_dir.join("tokenbridge.db").display().to_string());
    let store = tokenbridge_store::open(&location).await?;
    let public_url = a.public_url.as_deref().unwrap_or(&base_url).trim_end_matches('/').to_string();
    let demo = tokenbridge_demo::prepare(&public_url, &data_dir, store, &a.algorithm, cert.as_ref()).await?;
    // The app's own buckets: housekeeping shrinks the maps requests fill.
    crate::commands::spawn_housekeeping(demo.engine.clone(), demo.limits.clone());
    print_walkthrough(&demo.info, &data_dir, cert.as_ref());
    let serving = Serving { grace: std::time::Duration::from_secs(30), tls, ..Serving::default() };
    tokenbridge_server::serve_with(listener, demo.app, tokenbridge_server::shutdown_signal(), serving).await
}

/// The walkthrough's lines about the certificate, and how its commands trust it (curl, the AWS CLI).
fn certificate_lines(cert: Option<&DemoCertificate>) -> (String, String, String) {
    let Some(c) = cert else { return (String::new(), "curl".into(), String::new()) };
    let path = c.cert_file.display();
    let origin = match &c.origin {
        Origin::Made => "made now".to_string(),
        Origin::Reused => "kept from an earlier run".to_string(),
        Origin::Replaced(why) => format!("made now: {why}"),
    };
    let names = tokenbridge_demo::tls::NAMES.join(", ");
    let lines = [
        format!("  certificate:     {path}"),
        format!("                   self-signed for {names}; {origin}"),
        format!("  SHA-256:         {}", c.fingerprint),
        format!("                   trust it in the browser, or give it to each client: curl --cacert {path} ..."),
    ]
    .map(|l| l + "\n")
    .concat();
    (lines, format!("curl --cacert {path}"), format!(" --ca-bundle {path}"))
}

fn print_walkthrough(info: &Value, data_dir: &Path, cert: Option<&DemoCertificate>) {
    let (certificate, curl, aws_ca) = certificate_lines(cert);
    let s = |p: &str| info.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let base = s("/base_url");
    let (cid, csecret) = (s("/client/client_id"), s("/client/client_secret"));
    let (uid, usecret) = (s("/upstream/client_id"), s("/upstream/client_secret"));
    let users = info["users"].as_array().cloned().unwrap_or_default();
    let pick = |expect: &str| users.iter().find(|u| u["expect"] == expect).cloned().unwrap_or_default();
    let (alice, carol, dave) = (pick("linked"), pick("unlinked"), pick("unverified"));
    let up = |u: &Value, k: &str| u[k].as_str().unwrap_or("").to_string();
    println!(
        r#"
tokenbridge demo is running at {base}

  Open the console first: {base}/console
    sign in three ways (password: {lu} / {lp}; upstream: {au} / {ap}), watch each step,
    inspect the tokens, call the sample APIs, and read why a call was refused
    (the audit view takes the admin token below).

  data:            {dir} (demo.json has every secret below)
  issuer:          {base}   discovery: {base}/.well-known/openid-configuration
  demo upstream:   {base}/demo-idp   (Salesforce-like: login page, password grant, UserInfo)
  admin token:     {admin}
  metrics:         {curl} -H "Authorization: Bearer {metrics}" {base}/metrics
{certificate}
Try it (the commands use jq):

# 1. Sign in at the upstream provider as {au} (Salesforce's username-password flow):
UP=$({curl} -s {base}/demo-idp/token -u {uid}:{usecret} \
  -d grant_type=password -d username={au} -d password={ap})
ID_TOKEN=$(echo "$UP" | jq -r .id_token)

# 2. Exchange it for this system's tokens (the seed's endpoint; one-time use is on):
{curl} -s -X POST {base}/auth/exchange -H "Authorization: Bearer $ID_TOKEN" | tee /tmp/tb.json | jq .

# 3. The same through RFC 8693 with a fresh upstream token (client authenticated):
ID_TOKEN=$({curl} -s {base}/demo-idp/token -u {uid}:{usecret} -d grant_type=password -d username={au} -d password={ap} | jq -r .id_token)
{curl} -s {base}/oauth2/token -u {cid}:{csecret} \
  -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
  -d subject_token="$ID_TOKEN" -d subject_token_type=urn:ietf:params:oauth:token-type:id_token | jq .

# 4. Use and refresh (no upstream token needed):
{curl} -s {base}/oauth2/userinfo -H "Authorization: Bearer $(jq -r .access_token /tmp/tb.json)" | jq .
{curl} -s {base}/oauth2/token -u {cid}:{csecret} -d grant_type=refresh_token \
  -d refresh_token="$(jq -r .refresh_token /tmp/tb.json)" | jq .

# 5. Refusals, each naming its reason and a request id:
{curl} -s -X POST {base}/auth/exchange -H "Authorization: Bearer $ID_TOKEN" | jq .        # replayed
{curl} -s {base}/demo-idp/token -u {uid}:{usecret} -d grant_type=password -d username={cu} -d password={cp} \
  | jq -r .id_token | xargs -I{{}} {curl} -s -X POST {base}/auth/exchange -H "Authorization: Bearer {{}}" | jq .   # unlinked
{curl} -s {base}/demo-idp/token -u {uid}:{usecret} -d grant_type=password -d username={du} -d password={dp} \
  | jq -r .id_token | xargs -I{{}} {curl} -s -X POST {base}/auth/exchange -H "Authorization: Bearer {{}}" | jq .   # unverified

# 6. The sample API behind the authorizer (alice is in group admins; bob's token would get 403):
{curl} -s {base}/demo/api/hello -H "Authorization: Bearer $(jq -r .access_token /tmp/tb.json)" | jq .
{curl} -s -X POST {base}/demo/api/orders -H "Authorization: Bearer $(jq -r .access_token /tmp/tb.json)" | jq .
{curl} -si {base}/forward-auth -H "Authorization: Bearer $(jq -r .access_token /tmp/tb.json)" \
  -H "X-Forwarded-Method: DELETE" -H "X-Forwarded-Uri: /demo/api/orders"     # 403: no route covers it

# 7. The audit trail, and why one request was refused (another terminal, same data):
cargo run --release -- audit lookup --data-dir {dir} --denied --limit 5
cargo run --release -- audit explain --data-dir {dir} <request id from an x-request-id header>
{curl} -s {base}/admin/audit/<request id> -H "Authorization: Bearer {admin}" | jq .

# 8. The same users through the Cognito user-pool API (pool {pool}, app client {pc}):
cog() {{ {curl} -s {base}/ -H 'Content-Type: application/x-amz-json-1.1' \
  -H "X-Amz-Target: AWSCognitoIdentityProviderService.$1" -d "$2"; }}
cog InitiateAuth '{{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"{pc}","AuthParameters":{{"USERNAME":"alice","PASSWORD":"alice-local-pw"}}}}' | jq .
# CUSTOM_AUTH answered with an upstream token (the first seed's flow, without Lambda triggers):
SESSION=$(cog InitiateAuth '{{"AuthFlow":"CUSTOM_AUTH","ClientId":"{pc}","AuthParameters":{{"USERNAME":"alice"}}}}' | jq -r .Session)
ID_TOKEN=$({curl} -s {base}/demo-idp/token -u {uid}:{usecret} -d grant_type=password -d username={au} -d password={ap} | jq -r .id_token)
cog RespondToAuthChallenge "{{\"ClientId\":\"{pc}\",\"ChallengeName\":\"CUSTOM_CHALLENGE\",\"Session\":\"$SESSION\",\"ChallengeResponses\":{{\"USERNAME\":\"alice\",\"ANSWER\":\"$ID_TOKEN\"}}}}" | jq .
# Admin actions are SigV4-signed, e.g. with the AWS CLI:
AWS_ACCESS_KEY_ID={ak} AWS_SECRET_ACCESS_KEY={sk} aws cognito-idp list-users \
  --endpoint-url {base}{aws_ca} --region {region} --user-pool-id {pool}

Press Ctrl-C to stop.
"#,
        pool = s("/cognito/user_pool_id"),
        pc = s("/cognito/client_id"),
        ak = s("/cognito/admin_access_key_id"),
        sk = s("/cognito/admin_secret_access_key"),
        region = s("/cognito/region"),
        dir = data_dir.display(),
        admin = match s("/admin_token") {
            t if t.is_empty() => "<another instance made it: see its demo.json, or set TOKENBRIDGE_ADMIN_TOKEN>".into(),
            t => t,
        },
        metrics = s("/metrics_token"),
        au = up(&alice, "upstream_username"),
        ap = up(&alice, "upstream_password"),
        lu = up(&alice, "username"),
        lp = up(&alice, "password"),
        cu = up(&carol, "upstream_username"),
        cp = up(&carol, "upstream_password"),
        du = up(&dave, "upstream_username"),
        dp = up(&dave, "upstream_password"),
    );
}

/// The columns (CSV) or fields (JSON) an import row may have.
const IMPORT_FIELDS: &[&str] = &["username", "email", "email_verified", "password", "groups"];
/// JSON rows may also carry these (`NewUser` fields).
const IMPORT_JSON_EXTRA: &[&str] = &["attributes", "enabled"];

/// The rows of an import file, each with a label naming it in errors ("CSV line 3", "JSON entry 2").
fn parse_rows(path: &Path) -> anyhow::Result<Vec<(String, NewUser)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('[') {
        let entries: Vec<Value> = serde_json::from_str(&text)
            .context("JSON import must be an array of {username, email, email_verified, password, groups}")?;
        let mut out = Vec::new();
        for (i, v) in entries.into_iter().enumerate() {
            let label = format!("JSON entry {}", i + 1);
            let obj = v.as_object().with_context(|| format!("{label}: not an object"))?;
            if let Some(k) =
                obj.keys().find(|k| !IMPORT_FIELDS.contains(&k.as_str()) && !IMPORT_JSON_EXTRA.contains(&k.as_str()))
            {
                anyhow::bail!("{label}: unknown field {k:?} (expected {})", IMPORT_FIELDS.join(", "));
            }
            let row: NewUser = serde_json::from_value(v).with_context(|| label.clone())?;
            out.push((label, row));
        }
        return Ok(out);
    }
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().context("CSV header")?.clone();
    if let Some(h) = headers.iter().find(|h| !IMPORT_FIELDS.contains(&h.trim())) {
        anyhow::bail!("CSV header: unknown column {h:?} (expected {})", IMPORT_FIELDS.join(","));
    }
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let username = col("username").context("CSV header: needs a username column")?;
    let (email, verified, password, groups) = (col("email"), col("email_verified"), col("password"), col("groups"));
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.context("CSV")?;
        let label = format!("CSV line {}", rec.position().map_or(0, |p| p.line()));
        let get =
            |c: Option<usize>| c.and_then(|c| rec.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let email_verified = match get(verified).map(|v| v.to_lowercase()).as_deref() {
            None | Some("false" | "0" | "no") => false,
            Some("true" | "1" | "yes") => true,
            Some(v) => anyhow::bail!("{label}: email_verified {v:?} is not true or false"),
        };
        out.push((
            label.clone(),
            NewUser {
                username: get(Some(username)).with_context(|| format!("{label}: empty username"))?,
                email: get(email),
                email_verified,
                password: get(password),
                groups: get(groups)
                    .map(|g| g.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                    .unwrap_or_default(),
                attributes: Default::default(),
                enabled: true,
            },
        ));
    }
    Ok(out)
}

/// Checks every row before any user is created, so a bad row imports nothing.
fn check_rows(rows: &[(String, NewUser)]) -> anyhow::Result<()> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (label, u) in rows {
        validate_username(&u.username).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        if let Some(first) = seen.insert(&u.username, label) {
            anyhow::bail!("{label}: username {:?} already appears at {first}", u.username);
        }
        if let Some(e) = &u.email {
            if !e.contains('@') {
                anyhow::bail!("{label}: email {e:?} is not an address");
            }
        }
        if let Some(p) = &u.password {
            tokenbridge_core::password::check_policy(p).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        }
    }
    Ok(())
}

pub async fn import_users(engine: &Arc<Engine>, path: &Path, skip_existing: bool) -> anyhow::Result<()> {
    let dir = &engine.directory();
    let rows = parse_rows(path)?;
    check_rows(&rows)?;
    // Existing users are found before anything is created, so a refused import imports nothing.
    let mut todo = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for (label, row) in rows {
        match dir.find(&row.username).await {
            Ok(u) if u.username == row.username => {
                if !skip_existing {
                    anyhow::bail!(
                        "{label}: user {:?} already exists (use --skip-existing to skip existing users); \
                         nothing was imported",
                        row.username
                    );
                }
                skipped += 1;
            }
            _ => todo.push((label, row)),
        }
    }
    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} users {msg}").expect("template"));
    let mut created = 0;
    // The first failing row (by position) and its message.
    let mut failure: Option<(usize, String)> = None;
    let mut tasks = tokio::task::JoinSet::new();
    let mut rows = todo.into_iter().enumerate();
    // Two at a time: password hashing is CPU-bound and bounded inside the directory anyway.
    loop {
        while failure.is_none() && tasks.len() < 2 {
            let Some((i, (label, row))) = rows.next() else { break };
            let engine = engine.clone();
            tasks.spawn(async move {
                let name = row.username.clone();
                (i, label, name, engine.directory().create_user(row).await)
            });
        }
        // After a failure the rows in flight still finish, so the count below is exact.
        let Some(done) = tasks.join_next().await else { break };
        let (i, label, name, result) = done?;
        let msg = match result {
            Ok(_) => {
                created += 1;
                bar.inc(1);
                continue;
            }
            // Created by someone else since the check above.
            Err(DirectoryError::Store(StoreError::Conflict(_))) if skip_existing => {
                skipped += 1;
                bar.inc(1);
                continue;
            }
            Err(e @ DirectoryError::Store(StoreError::Conflict(_))) => {
                format!("{label}: {e} (use --skip-existing to skip existing users)")
            }
            Err(e) => format!("{label} (user {name:?}): {e}"),
        };
        if failure.as_ref().is_none_or(|(j, _)| i < *j) {
            failure = Some((i, msg));
        }
    }
    if let Some((_, f)) = failure {
        bar.abandon();
        anyhow::bail!("{f}; {created} users were imported before the failure, the rest were not");
    }
    bar.finish_with_message("done");
    println!("{}", serde_json::json!({"imported": created, "skipped": skipped}));
    Ok(())
}
