// Method 1, Cognito standard sign-in: the user pool's hosted sign-in pages, reached the way a web
// app reaches Cognito's: this page sends the browser to the pool domain's /oauth2/authorize
// (authorization code with PKCE S256, state and nonce), the person signs in there with the
// pool's password or with the SAML identity provider (single sign-on), and the browser comes
// back here with a code, which this page redeems at the domain's /oauth2/token. A second sign-in
// while the hosted session lasts needs no password; /logout ends that session.
//
// The page is left twice (to the sign-in pages and to /logout): the steps taken before leaving
// are kept in sessionStorage with the PKCE verifier and shown again on return. What happened
// while the page was away (the SAML round trip, the OIDC provider's answer, the password check)
// is read back from the audit trail: the token request's trail names the request the user signed
// in by, whose trail (this user's own, readable with the new access token) tells it.

const PENDING_KEY = "tokenbridge-console-hosted";
const LOGOUT_KEY = "tokenbridge-console-hosted-logout";

function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(n) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function s256(verifier) {
  return b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
}

/** The path and query of `url`, with the code masked (it is a credential until redeemed). */
function shownCallback(url) {
  const u = new URL(url);
  if (u.searchParams.has("code")) u.searchParams.set("code", "•••");
  return `${u.pathname}?${u.searchParams}`;
}

/** Leaves for the hosted sign-in: `provider` skips the chooser (identity_provider). */
export async function hostedStart(hosted, { provider, promptLogin }, { addStep, say }) {
  if (!globalThis.crypto?.subtle) {
    say("PKCE needs WebCrypto, which browsers give only to secure contexts (https, or localhost).", true);
    return;
  }
  const verifier = random(32);
  const pending = { verifier, state: random(16), nonce: random(16), clientId: hosted.client_id, steps: [] };
  const query = new URLSearchParams({
    response_type: "code",
    client_id: hosted.client_id,
    redirect_uri: hosted.redirect_uri,
    scope: hosted.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await s256(verifier),
    code_challenge_method: "S256",
  });
  if (provider) query.set("identity_provider", provider);
  if (promptLogin) query.set("prompt", "login");
  const path = `${hosted.authorize_endpoint}?${query}`;
  const step = {
    title: `GET /oauth2/authorize (code, PKCE S256${provider ? `, identity_provider=${provider}` : ""})`,
    request: `GET ${path}\n\ncode_verifier (kept in this tab): ${verifier.slice(0, 6)}…(${verifier.length} chars)`,
    response: "302 to the callback at once with a live sign-in session, else the hosted sign-in page " +
      "(leaving this page)",
    ok: true,
  };
  pending.steps.push(step);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  addStep(step);
  say(provider ? `Going to the hosted sign-in, straight on to ${provider}…` : "Going to the hosted sign-in…");
  location.assign(path);
}

/** Whether this load is the hosted sign-in's answer (a code or an error, with our state). */
export function isHostedReturn(params) {
  return params.has("state") && (params.has("code") || params.has("error")) && !!sessionStorage.getItem(PENDING_KEY);
}

/**
 * Back from the hosted sign-in: the code redeemed with the verifier, the nonce checked, UserInfo
 * read. Returns the tokens, or null (told on the page) when anything failed.
 */
export async function hostedFinish(hosted, { addStep, form, call, say, decodeJwt, explainToCaller }) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "{}");
  sessionStorage.removeItem(PENDING_KEY);
  const params = new URLSearchParams(location.search);
  const [code, state, error] = ["code", "state", "error"].map((k) => params.get(k));
  const description = params.get("error_description") ?? "";
  const back = shownCallback(location.href);
  for (const k of ["code", "state", "error", "error_description"]) params.delete(k);
  history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}`);
  for (const s of pending.steps ?? []) addStep(s);

  const stateOk = state === pending.state;
  addStep({
    title: "Back at the callback (redirect_uri) with the code",
    from: "tokenbridge",
    to: "browser",
    request: `GET ${back}`,
    response: error
      ? `error=${error}: ${description}`
      : `state ${stateOk ? "matches the one sent" : "does NOT match the one sent: the answer is ignored"}`,
    ok: !error && stateOk,
  });
  if (error) {
    say(`The hosted sign-in refused: ${error} ${description}`, true);
    return null;
  }
  if (!stateOk) {
    say("The answer's state is not the one this tab sent: ignored.", true);
    return null;
  }

  const r = await form("POST /oauth2/token (authorization_code + code_verifier)", hosted.token_endpoint, {
    grant_type: "authorization_code",
    client_id: pending.clientId,
    code,
    redirect_uri: hosted.redirect_uri,
    code_verifier: pending.verifier,
  });
  if (!r.ok || !r.json?.access_token) {
    say(`The code was refused: ${r.json?.error_description ?? r.json?.error ?? `HTTP ${r.status}`}`, true);
    return null;
  }
  const nonce = decodeJwt(r.json.id_token)?.claims?.nonce;
  if (r.json.id_token && nonce !== pending.nonce) {
    say("The id token's nonce is not the one this tab sent: the tokens are not used.", true);
    return null;
  }
  const info = await call({
    title: "GET /oauth2/userInfo (access token as Bearer)",
    method: "GET",
    path: hosted.userinfo_endpoint,
    headers: { authorization: `Bearer ${r.json.access_token}` },
  });
  if (explainToCaller && r.requestId) await showSignIn(r.requestId, r.json.access_token, { addStep, call });
  return {
    clientId: pending.clientId,
    tokens: { id: r.json.id_token, access: r.json.access_token, refresh: r.json.refresh_token },
    userinfo: info.ok ? info.json : null,
  };
}

/** The trail of one request, as /console/explain tells it to its own user. */
async function trailOf(requestId, access, title, call) {
  const r = await call({
    title,
    method: "GET",
    path: `/console/explain/${encodeURIComponent(requestId)}`,
    headers: { authorization: `Bearer ${access}` },
  });
  return r.ok ? (r.json?.events ?? [])[0] : null;
}

const detailOf = (event, check) => (event?.steps ?? []).find((s) => s.check === check)?.detail;

/** The token request's trail names the sign-in; that sign-in's steps, as the flow view shows them. */
async function showSignIn(tokenRequestId, access, { addStep, call }) {
  const redeemed = await trailOf(tokenRequestId, access, "GET /console/explain (the token request's trail: where the code came from)", call);
  const chain = /signed in at request (\S+) \((\w+)\)/.exec(detailOf(redeemed, "sign-in") ?? "");
  if (!chain) return;
  const [, requestId, eventName] = chain;
  const signIn = await trailOf(requestId, access, `GET /console/explain (the trail of the sign-in, ${eventName})`, call);
  if (!signIn) return;
  const source = `(from the audit trail of ${eventName}, request ${requestId})`;
  if (eventName === "SamlResponse") samlRoundTrip(signIn, source, addStep);
  else {
    const lines = (signIn.steps ?? []).map((s) => `${s.check}: ${s.detail}`);
    const title = eventName === "OidcResponse"
      ? "From the audit trail: the OIDC provider's answer at GET /oauth2/idpresponse, code redeemed, id token checked, user mapped"
      : `From the audit trail: the sign-in at the hosted page (${eventName})`;
    addStep({
      title,
      from: eventName === "OidcResponse" ? "upstream" : "browser",
      to: "tokenbridge",
      request: source,
      response: lines.join("\n"),
      ok: signIn.decision === "allowed",
    });
  }
}

/**
 * The SAML round trip, from the ACS step's trail: the AuthnRequest (its ID, where it went,
 * whether it was signed), then the assertion (its attributes as received, the IdP certificate
 * that verified it, the user it signed in as).
 */
function samlRoundTrip(event, source, addStep) {
  const pending = detailOf(event, "pending request") ?? "";
  const sent = /AuthnRequest (\S+) of this browser, to provider (\S+?), sent to (\S+) \(([^)]*)\)/.exec(pending);
  const [, id, provider, destination, signing] = sent ?? [];
  addStep({
    title: `From the audit trail: SAML AuthnRequest to ${provider ?? "the identity provider"} (HTTP-Redirect)`,
    from: "tokenbridge",
    to: "upstream",
    request: sent
      ? [`AuthnRequest ID: ${id}`, `Destination: ${destination}`, `Signed: ${signing === "unsigned" ? "no" : "yes"} (${signing})`].join("\n")
      : pending || "no AuthnRequest: the sign-in started at the identity provider (IdP-initiated)",
    response: `the identity provider's sign-in page; its answer is posted back to /saml2/idpresponse\n\n${source}`,
    ok: true,
  });
  const received = detailOf(event, "attributes") ?? "";
  const [count, list = ""] = received.split(" as received: ");
  const signature = detailOf(event, "signature") ?? "";
  const fingerprint = /sha256:([0-9a-f]{64})/.exec(signature)?.[1] ?? "(not recorded)";
  const user = detailOf(event, "link") ?? detailOf(event, "federated user") ?? "(no user)";
  addStep({
    title: "From the audit trail: SAML Response at POST /saml2/idpresponse, the assertion verified, its user mapped",
    from: "upstream",
    to: "tokenbridge",
    request: [`Assertion attributes as received (${count || "none recorded"}):`]
      .concat(list ? list.split("; ").map((a) => `  ${a}`) : []).join("\n"),
    response: [
      `Verified with the IdP certificate sha256:${fingerprint}`,
      `  ${signature}`,
      `Assertion: ${detailOf(event, "assertion") ?? "(not recorded)"}`,
      `Mapped user: ${user}`,
      "",
      source,
    ].join("\n"),
    ok: event.decision === "allowed",
  });
}

/** Ends the hosted sign-in session: /logout, back to this page (one of the client's LogoutURLs). */
export function hostedLogout(hosted, clientId, { addStep, say }) {
  const query = new URLSearchParams({ client_id: clientId, logout_uri: hosted.redirect_uri });
  const path = `${hosted.logout_endpoint}?${query}`;
  const step = {
    title: "GET /logout (client_id, logout_uri)",
    request: `GET ${path}`,
    response: "302 to logout_uri; the sign-in session ends and its cookie is cleared (leaving this page)",
    ok: true,
  };
  sessionStorage.setItem(LOGOUT_KEY, JSON.stringify(step));
  addStep(step);
  say("Signing out of the hosted sign-in…");
  location.assign(path);
}

/** Whether this load is the return from /logout (its step is shown again). */
export function hostedLoggedOut({ addStep }) {
  const step = sessionStorage.getItem(LOGOUT_KEY);
  if (!step) return false;
  sessionStorage.removeItem(LOGOUT_KEY);
  addStep({ ...JSON.parse(step), response: "302 back here: the hosted sign-in session ended" });
  return true;
}
