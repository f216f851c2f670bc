//! Minting upstream tokens at the demo provider before a run (untimed).

use super::*;

pub(crate) async fn id_token_from(resp: reqwest::Response, what: &str) -> Result<String> {
    let status = resp.status();
    let body = resp.text().await?;
    if status != StatusCode::OK {
        bail!("{what}: upstream answered {status}: {}", excerpt(&body));
    }
    let answer: Value = serde_json::from_str(&body).with_context(|| format!("{what}: answer is not JSON"))?;
    answer["id_token"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{what}: answer has no id_token: {}", excerpt(&body)))
}

/// Salesforce's username-password flow at the demo upstream.
pub(crate) async fn mint_password(c: &Client, d: &Demo, user: &(String, String)) -> Result<String> {
    let resp = c
        .post(d.token_endpoint.clone())
        .basic_auth(&d.upstream_client_id, Some(&d.upstream_client_secret))
        .form(&[("grant_type", "password"), ("username", user.0.as_str()), ("password", user.1.as_str())])
        .send()
        .await?;
    id_token_from(resp, "password grant").await
}

/// The authorization-code flow at the demo upstream, driven without a browser: login form,
/// consent, code redemption. The unique `nonce` makes every id token distinct.
pub(crate) async fn mint_code(c: &Client, d: &Demo, user: &(String, String), nonce: &str) -> Result<String> {
    let login = c
        .post(d.login_url.clone())
        .form(&[
            ("response_type", "code"),
            ("client_id", d.upstream_client_id.as_str()),
            ("redirect_uri", MINT_REDIRECT_URI),
            ("nonce", nonce),
            ("username", user.0.as_str()),
            ("password", user.1.as_str()),
        ])
        .send()
        .await?;
    let status = login.status();
    let page = login.text().await?;
    if status != StatusCode::OK {
        bail!("upstream login answered {status}: {}", excerpt(&page));
    }
    let session = hidden_field(&page, "session")
        .with_context(|| format!("no session in the consent page: {}", excerpt(&page)))?;
    let consent =
        c.post(d.consent_url.clone()).form(&[("session", session.as_str()), ("decision", "allow")]).send().await?;
    let status = consent.status();
    let location = consent.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = consent.text().await?;
    let location = match (status, location) {
        (StatusCode::FOUND | StatusCode::SEE_OTHER, Some(l)) => l,
        _ => bail!("upstream consent answered {status}: {}", excerpt(&body)),
    };
    let location = Url::parse(&location).with_context(|| format!("bad redirect {location:?}"))?;
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no code in the redirect {location}"))?;
    let resp = c
        .post(d.token_endpoint.clone())
        .basic_auth(&d.upstream_client_id, Some(&d.upstream_client_secret))
        .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", MINT_REDIRECT_URI)])
        .send()
        .await?;
    id_token_from(resp, "authorization code grant").await
}

/// The value of `<input type="hidden" name="NAME" value="…">` (HTML-unescaped).
pub(crate) fn hidden_field(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = start + page[start..].find('"')?;
    Some(
        page[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

pub(crate) struct Minted {
    pub(crate) tokens: Vec<String>,
    pub(crate) method: Mint,
    pub(crate) duplicates_dropped: usize,
    pub(crate) seconds: f64,
}

impl Minted {
    /// `, N duplicates dropped` for the messages that say how minting went (empty for none).
    pub(crate) fn dropped_note(&self) -> String {
        if self.duplicates_dropped > 0 {
            format!(", {} duplicates dropped", self.duplicates_dropped)
        } else {
            String::new()
        }
    }
}

pub(crate) async fn mint_all(c: &Client, d: &Arc<Demo>, wanted: usize, mode: Mint, parallel: usize) -> Result<Minted> {
    let started = Instant::now();
    let method = match mode {
        Mint::Auto => {
            // Two back-to-back password grants for one user: identical answers mean the provider's
            // id tokens carry nothing unique (no jti/nonce), so they cannot be told apart within
            // a second and one-time use would refuse all but the first.
            let a = mint_password(c, d, &d.users[0]).await?;
            let b = mint_password(c, d, &d.users[0]).await?;
            if a == b {
                eprintln!(
                    "note: the demo upstream's password grant returned identical id tokens twice in a row \
                     (no jti/nonce in them), so only one per user per second could be exchanged; \
                     minting through the authorization-code flow with a unique nonce instead"
                );
                Mint::Code
            } else {
                Mint::Password
            }
        }
        m => m,
    };
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH).map(|t| t.as_nanos()).unwrap_or_default();
    let sem = Arc::new(Semaphore::new(parallel));
    let mut set = JoinSet::new();
    let mut tokens = Vec::with_capacity(wanted);
    let mut seen = HashSet::with_capacity(wanted);
    let mut duplicates_dropped = 0usize;
    let mut next_report = Instant::now() + Duration::from_secs(5);
    let deadline = Instant::now() + MINT_TIMEOUT;
    let mut accept = |token: String, tokens: &mut Vec<String>| {
        if seen.insert(token.clone()) {
            tokens.push(token);
        } else {
            duplicates_dropped += 1;
        }
    };
    for i in 0..wanted {
        let permit = sem.clone().acquire_owned().await?;
        let (c, d) = (c.clone(), d.clone());
        set.spawn(async move {
            let user = &d.users[i % d.users.len()];
            let result = match method {
                Mint::Code => mint_code(&c, &d, user, &format!("tb-bench-{run_id:x}-{i}")).await,
                _ => mint_password(&c, &d, user).await,
            };
            drop(permit);
            result
        });
        while let Some(done) = set.try_join_next() {
            accept(done??, &mut tokens);
        }
        if Instant::now() >= next_report {
            eprintln!("  minted {} / {wanted} upstream tokens…", tokens.len());
            next_report += Duration::from_secs(5);
        }
        if Instant::now() >= deadline {
            bail!("minting took longer than {} s; ask for fewer --tokens", MINT_TIMEOUT.as_secs());
        }
    }
    while let Some(done) = set.join_next().await {
        accept(done??, &mut tokens);
    }
    Ok(Minted { tokens, method, duplicates_dropped, seconds: started.elapsed().as_secs_f64() })
}
