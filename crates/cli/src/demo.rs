//! `tokenbridge demo` and user import.

use crate::cli::{DemoArgs, Global};
use crate::state::init_logging;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use tokenbridge_core::directory::{DirectoryError, NewUser};
use tokenbridge_core::store::StoreError;
use tokenbridge_core::Engine;

pub async fn run(g: &Global, a: DemoArgs) -> anyhow::Result<()> {
    init_logging(g.log_format.as_deref().unwrap_or("text"));
    let data_dir = match &g.data_dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new().prefix("tokenbridge-demo-").tempdir()?.keep(),
    };
    std::fs::create_dir_all(&data_dir)?;
    let listener =
        tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let store = tokenbridge_store::open(&data_dir.join("tokenbridge.db").display().to_string()).await?;
    let demo = tokenbridge_server::demo::prepare(&base_url, &data_dir, store, &a.algorithm).await?;
    crate::commands::spawn_housekeeping(
        demo.engine.clone(),
        Arc::new(tokenbridge_server::ratelimit::Limits::new(&demo.engine.config.rate_limits)),
    );
    print_walkthrough(&demo.info, &data_dir);
    tokenbridge_server::serve(listener, demo.app, tokenbridge_server::shutdown_signal()).await
}

fn print_walkthrough(info: &Value, data_dir: &Path) {
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
  data:            {dir} (demo.json has every secret below)
  issuer:          {base}   discovery: {base}/.well-known/openid-configuration
  demo upstream:   {base}/demo-idp   (Salesforce-like: login page, password grant, UserInfo)
  admin token:     {admin}

Try it (the commands use jq):

# 1. Sign in at the upstream provider as {au} (Salesforce's username-password flow):
UP=$(curl -s {base}/demo-idp/token -u {uid}:{usecret} \
  -d grant_type=password -d username={au} -d password={ap})
ID_TOKEN=$(echo "$UP" | jq -r .id_token)

# 2. Exchange it for this system's tokens (the seed's endpoint; one-time use is on):
curl -s -X POST {base}/auth/exchange -H "Authorization: Bearer $ID_TOKEN" | tee /tmp/tb.json | jq .

# 3. The same through RFC 8693 with a fresh upstream token (client authenticated):
ID_TOKEN=$(curl -s {base}/demo-idp/token -u {uid}:{usecret} -d grant_type=password -d username={au} -d password={ap} | jq -r .id_token)
curl -s {base}/oauth2/token -u {cid}:{csecret} \
  -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
  -d subject_token="$ID_TOKEN" -d subject_token_type=urn:ietf:params:oauth:token-type:id_token | jq .

# 4. Use and refresh (no upstream token needed):
curl -s {base}/oauth2/userinfo -H "Authorization: Bearer $(jq -r .access_token /tmp/tb.json)" | jq .
curl -s {base}/oauth2/token -u {cid}:{csecret} -d grant_type=refresh_token \
  -d refresh_token="$(jq -r .refresh_token /tmp/tb.json)" | jq .

# 5. Refusals, each naming its reason and a request id:
curl -s -X POST {base}/auth/exchange -H "Authorization: Bearer $ID_TOKEN" | jq .        # replayed
curl -s {base}/demo-idp/token -u {uid}:{usecret} -d grant_type=password -d username={cu} -d password={cp} \
  | jq -r .id_token | xargs -I{{}} curl -s -X POST {base}/auth/exchange -H "Authorization: Bearer {{}}" | jq .   # unlinked
curl -s {base}/demo-idp/token -u {uid}:{usecret} -d grant_type=password -d username={du} -d password={dp} \
  | jq -r .id_token | xargs -I{{}} curl -s -X POST {base}/auth/exchange -H "Authorization: Bearer {{}}" | jq .   # unverified

# 6. The audit trail (another terminal, same data):
cargo run --release -- audit lookup --data-dir {dir} --denied --limit 5

Press Ctrl-C to stop.
"#,
        dir = data_dir.display(),
        admin = s("/admin_token"),
        au = up(&alice, "upstream_username"),
        ap = up(&alice, "upstream_password"),
        cu = up(&carol, "upstream_username"),
        cp = up(&carol, "upstream_password"),
        du = up(&dave, "upstream_username"),
        dp = up(&dave, "upstream_password"),
    );
}

/// One row of an import file.
fn parse_rows(path: &Path) -> anyhow::Result<Vec<NewUser>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('[') {
        return serde_json::from_str(&text)
            .context("JSON import must be an array of {username, email, email_verified, password, groups}");
    }
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let username = col("username").context("CSV needs a username column")?;
    let (email, verified, password, groups) = (col("email"), col("email_verified"), col("password"), col("groups"));
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("CSV row {}", i + 2))?;
        let get =
            |c: Option<usize>| c.and_then(|c| rec.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        out.push(NewUser {
            username: get(Some(username)).with_context(|| format!("CSV row {}: empty username", i + 2))?,
            email: get(email),
            email_verified: get(verified).is_some_and(|v| matches!(v.to_lowercase().as_str(), "true" | "1" | "yes")),
            password: get(password),
            groups: get(groups)
                .map(|g| g.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            attributes: Default::default(),
            enabled: true,
        });
    }
    Ok(out)
}

pub async fn import_users(engine: &Arc<Engine>, path: &Path, skip_existing: bool) -> anyhow::Result<()> {
    let rows = parse_rows(path)?;
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} users {msg}").expect("template"));
    let (mut created, mut skipped) = (0, 0);
    let mut tasks = tokio::task::JoinSet::new();
    let mut rows = rows.into_iter();
    // Two at a time: password hashing is CPU-bound and bounded inside the directory anyway.
    loop {
        while tasks.len() < 2 {
            let Some(row) = rows.next() else { break };
            let engine = engine.clone();
            tasks.spawn(async move {
                let name = row.username.clone();
                (name, engine.directory.create_user(row).await)
            });
        }
        let Some(done) = tasks.join_next().await else { break };
        let (name, result) = done?;
        match result {
            Ok(_) => created += 1,
            Err(DirectoryError::Store(StoreError::Conflict(_))) if skip_existing => skipped += 1,
            Err(e) => {
                bar.abandon();
                anyhow::bail!("user {name:?}: {e} ({created} imported before the failure)");
            }
        }
        bar.inc(1);
    }
    bar.finish_with_message("done");
    println!("{}", serde_json::json!({"imported": created, "skipped": skipped}));
    Ok(())
}
