//! What each subcommand does. Every command opens the same store the server uses, so it works
//! while a server runs on the same data (SQLite WAL; PostgreSQL later).

use crate::cli::*;
use crate::state::{init_logging, load_config, open_engine, require_existing_store};
use anyhow::{bail, Context};
use serde_json::json;
use std::io::{BufRead, Write};
use std::sync::Arc;
use tokenbridge_core::audit::Explanation;
use tokenbridge_core::config::Config;
use tokenbridge_core::directory::NewUser;
use tokenbridge_core::model::{AuditQuery, KeyAlgorithm, User};
use tokenbridge_core::secrets::is_sealed;
use tokenbridge_core::Engine;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve(&cli.global, a).await,
        Command::Demo(a) => crate::demo::run(&cli.global, a).await,
        Command::Users(c) => {
            // Opening the engine writes nothing: no first signing key is made here with whatever
            // algorithm and master key this invocation happens to have, before `serve` runs.
            let cfg = load_config(&cli.global)?;
            if !matches!(c, UsersCommand::Add { .. } | UsersCommand::Import { .. }) {
                require_existing_store(&cfg)?;
            }
            let configured = cli.global.config.is_some();
            users(&cfg.clone(), configured, open_engine(cfg).await?, c).await
        }
        Command::Clients(c) => crate::clients::run(open_engine(load_config(&cli.global)?).await?, c).await,
        Command::UserPools(c) => {
            let cfg = load_config(&cli.global)?;
            // Everything but `create` needs a pool, so a database that is not there is a typo.
            if !matches!(c, UserPoolsCommand::Create { .. }) {
                require_existing_store(&cfg)?;
            }
            crate::user_pools::run(open_engine(cfg).await?, c).await
        }
        Command::Roles(c) => {
            let cfg = load_config(&cli.global)?;
            // Only `put` makes something from nothing; the others need the database there.
            if !matches!(c, RolesCommand::Put { .. }) {
                require_existing_store(&cfg)?;
            }
            crate::roles::run(open_engine(cfg).await?, c).await
        }
        Command::Keys(c) => keys(load_config(&cli.global)?, c).await,
        Command::Audit(c) => {
            let cfg = load_config(&cli.global)?;
            require_existing_store(&cfg)?;
            audit(open_engine(cfg).await?, c).await
        }
        Command::Policy(c) => {
            let cfg = load_config(&cli.global)?;
            require_existing_store(&cfg)?;
            policy(open_engine(cfg).await?, c).await
        }
        Command::Lambda(a) => crate::lambda::run(&cli.global, a).await,
    }
}

#[tokenbridge_core::entry_point(?Send)]
async fn policy(engine: Arc<Engine>, c: PolicyCommand) -> anyhow::Result<()> {
    let PolicyCommand::Simulate { role, action, resource, context, session_policy, json } = c;
    let mut pairs = Vec::new();
    for kv in &context {
        let (k, v) = kv.split_once('=').with_context(|| format!("--context {kv:?}: expected KEY=VALUE"))?;
        pairs.push((k.to_string(), v.to_string()));
    }
    let session = match &session_policy {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let sim =
        engine.iam().simulate_policy(&role, &action, &resource, &pairs, session.as_deref()).await.map_err(|e| {
            match e.downcast::<tokenbridge_core::Refusal>() {
                Ok(refusal) => crate::roles::error(refusal),
                Err(e) => e,
            }
        })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sim)?);
    } else {
        println!("{} {action} on {resource}: {}", sim.role_arn, sim.decision);
        println!("{}", sim.explanation);
    }
    if !sim.allowed {
        std::process::exit(1);
    }
    Ok(())
}

#[tokenbridge_core::entry_point(?Send)]
async fn serve(g: &Global, a: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = load_config(g)?;
    if let Some(l) = a.listen {
        cfg.server.listen = l;
    }
    Engine::validate_config(&cfg)?;
    // The certificate and key are read now, so a bad file stops the start before anything is opened.
    let tls = cfg.server.tls.as_ref().map(tokenbridge_server::tls::Tls::load).transpose()?;
    init_logging(&cfg.server.log_format);
    let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
    if let Some(addr) = &cfg.metrics.listen {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (metrics.listen)"))?;
        tracing::info!(listen = %metrics.local_addr()?, "serving /metrics");
        tokio::spawn(async move {
            if let Err(e) = tokenbridge_server::ops::serve_metrics(metrics).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let engine = open_engine(cfg).await?;
    engine.provision().await?;
    if let Some(token) = engine.ensure_admin_token().await? {
        eprintln!("Admin token (shown once, stored hashed): {token}");
    }
    let state = tokenbridge_server::AppState::new(engine.clone()).await?;
    state.origins.spawn_refresh(&engine, std::time::Duration::from_secs(15));
    spawn_housekeeping(engine.clone(), state.limits.clone());
    let app = tokenbridge_server::router(state, None);
    tracing::info!(listen = %listener.local_addr()?, tls = tls.is_some(), issuer = %engine.issuer(), "tokenbridge serving");
    let serving = tokenbridge_server::serving::Serving {
        tls,
        ..tokenbridge_server::serving::Serving::from_config(&engine.config().server)
    };
    tokenbridge_server::serve_with(listener, app, tokenbridge_server::shutdown_signal(), serving).await
}

/// Purges expired replay markers and refresh tokens, retired keys past their publication, audit
/// records past `[audit] retention_days`, and idle rate-limit buckets.
pub fn spawn_housekeeping(engine: Arc<Engine>, limits: Arc<tokenbridge_server::ratelimit::Limits>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            match engine.purge_expired().await {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired markers and tokens"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purge failed"),
            }
            if let Err(e) = engine.keys().purge_retired().await {
                tracing::warn!(error = %e, "purging retired signing keys failed");
            }
            match engine.purge_audit_past_retention().await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "purged audit records past their retention"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging audit records past their retention failed"),
            }
            limits.shrink();
        }
    });
}

fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id, "username": u.username, "email": u.email, "email_verified": u.email_verified,
        "enabled": u.enabled, "has_password": u.password_hash.is_some(), "groups": u.groups,
        "attributes": u.attributes, "created_at": u.created_at, "updated_at": u.updated_at,
    })
}

pub(crate) fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(p)
}

#[tokenbridge_core::entry_point(?Send)]
async fn users(cfg: &Config, configured: bool, engine: Arc<Engine>, c: UsersCommand) -> anyhow::Result<()> {
    let dir = &engine.directory();
    match c {
        UsersCommand::Add { username, email, email_verified, password_stdin, groups, disabled } => {
            let password = if password_stdin { Some(read_password()?) } else { None };
            let u = dir
                .create_user(NewUser {
                    username,
                    email,
                    email_verified,
                    password,
                    groups,
                    attributes: Default::default(),
                    enabled: !disabled,
                })
                .await?;
            println!("{}", user_json(&u));
        }
        UsersCommand::List { limit, after } => {
            for u in dir.list(after.as_deref(), limit).await? {
                println!("{}", user_json(&u));
            }
        }
        UsersCommand::Show { user } => {
            let u = dir.find(&user).await?;
            let links = dir.links(&u.id).await?;
            let mut v = user_json(&u);
            v["links"] =
                json!(links.iter().map(|l| json!({"provider": l.provider, "subject": l.subject})).collect::<Vec<_>>());
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        UsersCommand::Disable { user } => println!("{}", user_json(&dir.set_enabled(&user, false).await?)),
        UsersCommand::Enable { user } => println!("{}", user_json(&dir.set_enabled(&user, true).await?)),
        UsersCommand::SetPassword { user } => {
            let u = engine.set_user_password(&user, read_password()?).await?;
            println!("password set for {}", u.username);
        }
        UsersCommand::Link { user, provider, subject } => {
            // Without --config there is no provider list to check against.
            if configured && !cfg.providers.iter().any(|p| p.name == provider) {
                eprintln!("warning: no provider named {provider:?} in the configuration");
            }
            let l = dir.link(&user, &provider, &subject).await?;
            println!("{}", json!({"user_id": l.user_id, "provider": l.provider, "subject": l.subject}));
        }
        UsersCommand::Unlink { provider, subject } => {
            if !dir.unlink(&provider, &subject).await? {
                bail!("no link for provider {provider:?} subject {subject:?}");
            }
            println!("unlinked");
        }
        UsersCommand::Import { file, skip_existing } => {
            crate::demo::import_users(&engine, &file, skip_existing).await?
        }
    }
    Ok(())
}

#[tokenbridge_core::entry_point(?Send)]
async fn keys(cfg: Config, c: KeysCommand) -> anyhow::Result<()> {
    match c {
        KeysCommand::List => {
            // Read-only: the first key is made by `serve` (or `keys rotate`) with its configuration.
            require_existing_store(&cfg)?;
            let keys = open_engine(cfg).await?.keys().records().await?;
            if keys.is_empty() {
                eprintln!("no signing keys yet: `serve` or `keys rotate` creates the first");
            }
            for k in keys {
                println!(
                    "{}",
                    json!({"kid": k.kid, "alg": k.alg.as_str(), "active": k.active, "created_at": k.created_at,
                           "publish_until": k.publish_until, "sealed": is_sealed(&k.private_pkcs8)})
                );
            }
        }
        KeysCommand::Rotate { algorithm } => {
            let alg = algorithm
                .as_deref()
                .map(|a| {
                    KeyAlgorithm::parse(a)
                        .with_context(|| format!("--algorithm {a:?} is not one of RS256, ES256, EdDSA"))
                })
                .transpose()?;
            let engine = open_engine(cfg).await?;
            let first = engine.keys().records().await?.is_empty();
            // Readying the keys makes the first one when there is none (of --algorithm, if given):
            // that is the rotation. It also refuses, as `serve` does, keys it cannot open.
            engine.keys().prepare(alg).await?;
            let kid = if first { engine.keys().active().kid.clone() } else { engine.keys().rotate(alg).await? };
            println!("{}", json!({"active_kid": kid, "published": engine.keys().published_kids()}));
        }
    }
    Ok(())
}

/// `--since` / `--until`: RFC 3339 or Unix seconds.
fn time_flag(s: Option<String>, flag: &str) -> anyhow::Result<Option<i64>> {
    s.map(|s| {
        tokenbridge_core::clock::parse_time(&s)
            .with_context(|| format!("--{flag} {s:?} is not RFC 3339 or Unix seconds"))
    })
    .transpose()
}

/// `--lookup-attribute`: `Name=Value`, or the AWS CLI's `AttributeKey=Name,AttributeValue=Value`.
fn lookup_attribute(q: &mut AuditQuery, arg: &str) -> anyhow::Result<()> {
    let aws_form =
        arg.strip_prefix("AttributeKey=").and_then(|rest| rest.split_once(",AttributeValue=")).or_else(|| {
            arg.strip_prefix("AttributeValue=").and_then(|rest| rest.split_once(",AttributeKey=")).map(|(v, k)| (k, v))
        });
    let Some((key, value)) = aws_form.or_else(|| arg.split_once('=')) else {
        bail!("--lookup-attribute {arg:?} is not NAME=VALUE");
    };
    tokenbridge_core::audit::apply_lookup_attribute(q, key, value)
        .map_err(|e| anyhow::anyhow!("--lookup-attribute {arg:?}: {e}"))
}

/// Records one `audit export` page reads.
const EXPORT_PAGE: u32 = 1000;

#[tokenbridge_core::entry_point(?Send)]
async fn audit(engine: Arc<Engine>, c: AuditCommand) -> anyhow::Result<()> {
    match c {
        AuditCommand::Lookup {
            event_name,
            user,
            request_id,
            event_id,
            event_source,
            read_only,
            lookup_attributes,
            since,
            until,
            denied,
            limit,
        } => {
            let mut q = AuditQuery {
                request_id,
                start_time: time_flag(since, "since")?,
                end_time: time_flag(until, "until")?,
                denied: denied.then_some(true),
                limit: Some(limit),
                ..Default::default()
            };
            // The flags are lookup attributes by other names, and combine with them the same way.
            let flags = [
                ("EventName", event_name),
                ("Username", user),
                ("EventId", event_id),
                ("EventSource", event_source),
                ("ReadOnly", read_only.map(|b| b.to_string())),
            ];
            for (key, value) in flags {
                if let Some(v) = value {
                    tokenbridge_core::audit::apply_lookup_attribute(&mut q, key, &v).map_err(|e| anyhow::anyhow!(e))?;
                }
            }
            for a in &lookup_attributes {
                lookup_attribute(&mut q, a)?;
            }
            for r in engine.lookup_audit(&q).await? {
                println!("{}", r.record);
            }
        }
        AuditCommand::Export { since, until, output } => {
            let q = AuditQuery {
                start_time: time_flag(since, "since")?,
                end_time: time_flag(until, "until")?,
                oldest_first: true,
                limit: Some(EXPORT_PAGE),
                ..Default::default()
            };
            let (mut out, path): (Box<dyn std::io::Write>, _) = match &output {
                Some(p) => {
                    let f = std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?;
                    (Box::new(std::io::BufWriter::new(f)), Some(p))
                }
                None => (Box::new(std::io::BufWriter::new(std::io::stdout().lock())), None),
            };
            let mut written = 0u64;
            let mut cursor: Option<String> = None;
            loop {
                let page = engine.lookup_audit(&AuditQuery { after_event_id: cursor.take(), ..q.clone() }).await?;
                for r in &page {
                    serde_json::to_writer(&mut out, &r.record)?;
                    out.write_all(b"\n")?;
                }
                written += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() as u32 == EXPORT_PAGE => cursor = Some(last.event_id.clone()),
                    _ => break,
                }
            }
            out.flush()?;
            if let Some(p) = path {
                eprintln!("exported {written} audit events to {}", p.display());
            }
        }
        AuditCommand::Explain { request_id, json: as_json } => {
            let q = AuditQuery { request_id: Some(request_id.clone()), limit: Some(50), ..Default::default() };
            let records = engine.lookup_audit(&q).await?;
            if records.is_empty() {
                bail!("no audit event has request id {request_id:?}");
            }
            let events: Vec<Explanation> = records.iter().map(Explanation::from_record).collect();
            if as_json {
                println!("{}", serde_json::to_string_pretty(&json!({ "requestId": request_id, "events": events }))?);
            } else {
                for e in events {
                    print!("{}", e.render());
                }
            }
        }
    }
    Ok(())
}
