// tokenbridge console: sign in by one of four methods, watch each step, inspect the tokens, call
// the sample APIs and read why a call was refused. Plain ES modules, relative paths only.

import { el, initAudit, renderExplanation, currentAdminToken } from "/console/audit.js";
import { hostedFinish, hostedLoggedOut, hostedLogout, hostedStart, isHostedReturn } from "/console/hosted.js";
import { signRequest } from "/console/sigv4.js";
import { srpSignIn } from "/console/srp.js";

const IDP_TARGET = "AWSCognitoIdentityProviderService.";
const IDENTITY_TARGET = "AWSCognitoIdentityService.";
const AMZ_JSON = "application/x-amz-json-1.1";
const PENDING_KEY = "tokenbridge-console-pending";
const PARTY_NAMES = { browser: "Browser", upstream: "Upstream provider", tokenbridge: "tokenbridge", api: "API" };
// Values shown shortened wherever they appear in a step.
const SECRET_KEYS = new Set([
  "REFRESH_TOKEN", "RefreshToken", "refresh_token", "AccessToken", "access_token", "IdToken", "id_token",
  "SECRET_HASH", "Session", "SessionToken", "ANSWER", "subject_token", "token", "code", "code_verifier",
  "SRP_A", "SRP_B", "SALT", "SECRET_BLOCK", "PASSWORD_CLAIM_SECRET_BLOCK", "PASSWORD_CLAIM_SIGNATURE",
  "x-amz-security-token", "authorization",
]);

const $ = (sel) => document.querySelector(sel);
let config = {};
// Resolves once config.json is read; a sign-in started before then waits for it.
let configReady = Promise.resolve();
/**
 * The signed-in session: kind "hosted" (user-pool tokens from the pool domain's /oauth2/token),
 * "cognito" (user-pool tokens from the user-pool API) or "oauth" (tokens from the exchange).
 */
let session = null;
let stepCount = 0;
const jwksCache = new Map();

function say(text, bad = false) {
  const s = $("#status");
  s.textContent = text;
  s.classList.toggle("bad", bad);
}

// ------------------------------------------------------------------------------------------
// Masking

/** A secret shown as its first characters and its length, never in full. */
function maskValue(v) {
  if (typeof v !== "string") return "•••";
  if (v.length <= 8) return "•".repeat(v.length);
  return `${v.slice(0, 6)}…(${v.length} chars)`;
}

function mask(value) {
  if (Array.isArray(value)) return value.map(mask);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (/password|secret/i.test(k) && !SECRET_KEYS.has(k)) out[k] = "•••••• (hidden)";
      else out[k] = SECRET_KEYS.has(k) ? maskValue(v) : mask(v);
    }
    return out;
  }
  return value;
}

function maskHeader(name, value) {
  const n = name.toLowerCase();
  if (n === "authorization") {
    const [scheme, rest = ""] = value.split(/ (.*)/s);
    if (scheme === "AWS4-HMAC-SHA256") return value.replace(/Signature=\w+/, (s) => `${s.slice(0, 16)}…`);
    return `${scheme} ${maskValue(rest)}`;
  }
  return SECRET_KEYS.has(n) ? maskValue(value) : value;
}

function requestText(method, path, headers, body) {
  const lines = [`${method} ${path}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${maskHeader(k, v)}`);
  if (body !== undefined) lines.push("", typeof body === "string" ? body : JSON.stringify(mask(body), null, 2));
  return lines.join("\n");
}

// ------------------------------------------------------------------------------------------
// The flow: parties and steps

function light(from, to, title) {
  for (const p of document.querySelectorAll("#flow [data-party]")) {
    p.classList.toggle("lit", p.dataset.party === from || p.dataset.party === to);
  }
  $("#flow-now").textContent = `Step ${stepCount}: ${PARTY_NAMES[from] ?? from} → ${PARTY_NAMES[to] ?? to}: ${title}`;
}

function addStep({ title, from = "browser", to = "tokenbridge", request, response, ok, extra }) {
  stepCount += 1;
  const li = el("li", { "data-from": from, "data-to": to });
  const details = el("details");
  const status = el("span", { class: ok ? "status-ok" : "status-bad" }, ok ? "ok" : "failed");
  details.append(el("summary", {},
    el("span", { class: "route" }, `${PARTY_NAMES[from] ?? from} → ${PARTY_NAMES[to] ?? to}`), ` ${title} — `, status));
  details.append(el("h4", {}, "Request"), el("pre", {}, request));
  if (extra) details.append(extra);
  details.append(el("h4", {}, "Response"), el("pre", {}, response));
  if (!ok) details.open = true;
  li.append(details);
  $("#steps").append(li);
  light(from, to, title);
  return details;
}

function responseText(res, json, text) {
  const requestId = res.headers.get("x-amzn-requestid") || res.headers.get("x-request-id");
  return `HTTP ${res.status}${requestId ? `\nrequest id: ${requestId}` : ""}\n\n` +
    (json ? JSON.stringify(mask(json), null, 2) : text);
}

/** One HTTP call from this page, recorded as a step. */
async function call({ title, to = "tokenbridge", method = "POST", path, headers = {}, body, shown, extra }) {
  const request = requestText(method, path, headers, shown ?? body);
  let res;
  try {
    res = await fetch(path, { method, headers, body: typeof body === "string" || body === undefined ? body : JSON.stringify(body) });
  } catch (err) {
    addStep({ title, to, request, response: `network error: ${err}`, ok: false });
    throw err;
  }
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  const requestId = res.headers.get("x-amzn-requestid") || res.headers.get("x-request-id") || json?.request_id;
  addStep({ title, to, request, response: responseText(res, json, text), ok: res.ok, extra });
  return { ok: res.ok, status: res.status, json, text, requestId };
}

function cognito(action, body, title = action) {
  const headers = { "content-type": AMZ_JSON, "x-amz-target": IDP_TARGET + action };
  return call({ title, path: config.cognito_endpoint || "/", headers, body });
}

function identity(action, body) {
  const headers = { "content-type": AMZ_JSON, "x-amz-target": IDENTITY_TARGET + action };
  return call({ title: action, path: config.cognito_endpoint || "/", headers, body });
}

function form(title, path, params, headers = {}) {
  const body = new URLSearchParams(params).toString();
  const all = { "content-type": "application/x-www-form-urlencoded", ...headers };
  return call({ title, path, headers: all, body, shown: mask(params) });
}

// ------------------------------------------------------------------------------------------
// Tokens

function b64urlToBytes(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function decodeJwt(jwt) {
  const parts = String(jwt).split(".");
  if (parts.length !== 3) return null;
  try {
    const text = (p) => new TextDecoder().decode(b64urlToBytes(p));
    return { header: JSON.parse(text(parts[0])), claims: JSON.parse(text(parts[1])), parts };
  } catch {
    return null;
  }
}

/** Where this issuer's keys are, if this page can read them. */
async function jwksPathFor(iss) {
  if (iss === config.issuer) return new URL(config.jwks_uri).pathname;
  if (config.user_pool && iss === config.user_pool.issuer) return new URL(config.user_pool.jwks_uri).pathname;
  let url;
  try { url = new URL(iss); } catch { return null; }
  if (url.origin !== location.origin) return null; // another origin: its JWKS is not ours to fetch
  const res = await fetch(`${url.pathname.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (!res.ok) return null;
  const doc = await res.json();
  return doc.jwks_uri ? new URL(doc.jwks_uri).pathname : null;
}

async function jwksFor(iss) {
  if (!jwksCache.has(iss)) {
    const path = await jwksPathFor(iss);
    if (!path) return null;
    const res = await fetch(path);
    const body = await res.json();
    addStep({
      title: `GET ${path} (keys to check the signature)`, to: iss === config.issuer || iss === config.user_pool?.issuer ? "tokenbridge" : "upstream",
      request: `GET ${path}`, response: `HTTP ${res.status}\n\n${JSON.stringify(body, null, 2)}`, ok: res.ok,
    });
    jwksCache.set(iss, { path, keys: body.keys || [] });
  }
  return jwksCache.get(iss);
}

const ALGS = {
  RS256: { imp: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, sig: { name: "RSASSA-PKCS1-v1_5" } },
  ES256: { imp: { name: "ECDSA", namedCurve: "P-256" }, sig: { name: "ECDSA", hash: "SHA-256" } },
  EdDSA: { imp: { name: "Ed25519" }, sig: { name: "Ed25519" } },
};

/** Which key of the issuer's JWKS has this token's kid, and whether the signature checks out. */
async function verify(d) {
  const jwks = await jwksFor(d.claims.iss);
  if (!jwks) return { text: "not checked here (the issuer's keys are on another origin); tokenbridge checks it when it is presented", ok: true };
  const key = jwks.keys.find((k) => k.kid === d.header.kid);
  if (!key) return { text: `no key with kid ${d.header.kid} in ${jwks.path}`, ok: false };
  const where = `key ${key.kid} of ${jwks.path}`;
  const alg = ALGS[d.header.alg];
  if (!alg || !globalThis.crypto?.subtle) return { text: `${where} (signature not checked in this browser)`, ok: true };
  try {
    const { alg: _a, use: _u, key_ops: _k, ...jwk } = key; // WebCrypto is strict about these
    const cryptoKey = await crypto.subtle.importKey("jwk", jwk, alg.imp, false, ["verify"]);
    const data = new TextEncoder().encode(`${d.parts[0]}.${d.parts[1]}`);
    const good = await crypto.subtle.verify(alg.sig, cryptoKey, b64urlToBytes(d.parts[2]), data);
    return { text: good ? `signature verified with ${where}` : `signature does NOT verify with ${where}`, ok: good };
  } catch (err) {
    return { text: `${where} (signature not checked here: ${err.message || err})`, ok: true };
  }
}

function timeLeft(exp) {
  if (typeof exp !== "number") return "no exp claim";
  const s = Math.round(exp - Date.now() / 1000);
  if (s <= 0) return `expired ${-s} s ago`;
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

function facts(pairs) {
  const dl = el("dl", { class: "facts" });
  for (const [k, field, v] of pairs) dl.append(el("dt", {}, k), el("dd", { "data-field": field }, v));
  return dl;
}

async function tokenCard(name, jwt, note) {
  const card = el("article", { class: "token" }, el("h3", {}, name));
  if (note) card.append(el("p", { class: "hint" }, note));
  const d = decodeJwt(jwt);
  if (!d) {
    card.append(el("p", {}, `opaque, ${maskValue(jwt)}`));
    return card;
  }
  const check = await verify(d);
  const left = el("span", { "data-exp": d.claims.exp ?? "" }, timeLeft(d.claims.exp));
  card.append(facts([
    ["alg", "alg", d.header.alg],
    ["kid", "kid", d.header.kid ?? "(none)"],
    ["issuer", "iss", d.claims.iss ?? "(none)"],
    ["token_use", "token-use", d.claims.token_use ?? "(none)"],
    ["time left", "time-left", left],
    ["JWKS key", "jwks", el("span", { class: `jwks-check ${check.ok ? "status-ok" : "status-bad"}` }, check.text)],
  ]));
  card.append(
    el("details", {}, el("summary", {}, "Header"), el("pre", {}, JSON.stringify(d.header, null, 2))),
    el("details", {}, el("summary", {}, "Claims"), el("pre", {}, JSON.stringify(d.claims, null, 2))),
  );
  return card;
}

async function renderTokens() {
  const box = $("#tokens");
  const t = session?.tokens;
  $("#refresh").disabled = !t?.refresh;
  $("#revoke").disabled = !t?.refresh;
  $("#sign-out").disabled = !session;
  if (!session) {
    box.replaceChildren(el("p", { class: "hint" }, "No tokens yet: sign in first."));
    return;
  }
  const from = {
    hosted: "pool domain's /oauth2/token (hosted sign-in)",
    cognito: "user pool (Cognito-compatible API)",
  }[session.kind] ?? "POST /auth/exchange";
  const cards = [el("p", { class: "hint" }, `Signed in as ${session.username ?? "?"} by ${session.label}; tokens from the ${from}.`)];
  if (t.id) cards.push(await tokenCard("IdToken", t.id));
  if (t.access) cards.push(await tokenCard("AccessToken", t.access));
  cards.push(el("article", { class: "token" }, el("h3", {}, "RefreshToken"),
    el("p", {}, t.refresh ? `opaque, ${maskValue(t.refresh)}` : "none (revoked or not issued)")));
  if (session.upstream) {
    cards.push(await tokenCard("Upstream token", session.upstream, "The provider's token this sign-in started from."));
  }
  box.replaceChildren(...cards);
}

setInterval(() => {
  for (const s of document.querySelectorAll("[data-exp]")) {
    if (s.dataset.exp) s.textContent = timeLeft(Number(s.dataset.exp));
  }
}, 1000);

function usernameOf(jwt) {
  const c = decodeJwt(jwt)?.claims ?? {};
  return c["cognito:username"] ?? c.username ?? c.preferred_username ?? c.sub;
}

async function startSession(kind, label, tokens, clientId, upstream) {
  session = { kind, label, tokens, clientId, upstream, username: usernameOf(tokens.id ?? tokens.access) };
  say(`Signed in as ${session.username} (${label}).`);
  await renderTokens();
}

function cognitoTokens(result, previous = {}) {
  return {
    id: result.IdToken ?? previous.id,
    access: result.AccessToken ?? previous.access,
    refresh: result.RefreshToken ?? previous.refresh,
  };
}

// ------------------------------------------------------------------------------------------
// Method 1: Cognito standard sign-in through the hosted UI (hosted.js)

const hostedParts = () => ({ addStep, form, call, say, decodeJwt, explainToCaller: !!config.explain_to_caller });

async function hostedSignIn(ev) {
  ev.preventDefault();
  await configReady;
  if (!config.hosted_ui) {
    say("This deployment's console has no hosted sign-in (console.hosted_ui_client_id and a pool domain).", true);
    return;
  }
  const f = ev.target;
  await hostedStart(config.hosted_ui, { provider: f.provider.value, promptLogin: $("#hosted-prompt-login").checked }, hostedParts());
}

async function hostedReturn() {
  selectMethod("hosted");
  const done = await hostedFinish(config.hosted_ui, hostedParts());
  if (done) await startSession("hosted", "hosted sign-in (authorization code + PKCE)", done.tokens, done.clientId);
}

// ------------------------------------------------------------------------------------------
// Method 4: username + password

async function passwordSignIn(ev) {
  ev.preventDefault();
  const f = ev.target;
  const clientId = f.client_id.value.trim();
  const username = f.username.value.trim();
  const password = f.password.value;
  f.password.value = "";
  const srp = $("#use-srp").checked;
  say(`Signing in ${username} with ${srp ? "USER_SRP_AUTH" : "USER_PASSWORD_AUTH"}…`);
  await configReady; // SRP needs the pool id it names
  let r;
  try {
    r = srp
      ? await srpSignIn(cognito, { clientId, username, password, userPoolId: config.user_pool?.id })
      : await cognito("InitiateAuth", {
        AuthFlow: "USER_PASSWORD_AUTH", ClientId: clientId, AuthParameters: { USERNAME: username, PASSWORD: password },
      }, "InitiateAuth (USER_PASSWORD_AUTH)");
  } catch (err) {
    say(`Sign-in failed: ${err.message || err}`, true);
    return;
  }
  const result = r?.json?.AuthenticationResult;
  if (r?.ok && result) {
    await startSession("cognito", srp ? "USER_SRP_AUTH" : "USER_PASSWORD_AUTH", cognitoTokens(result), clientId);
  } else if (r?.ok && r.json?.ChallengeName) {
    say(`The pool asks for ${r.json.ChallengeName}; answer it with a Cognito SDK or the CLI.`, true);
  } else {
    say(`Sign-in refused: ${r?.json?.message ?? `HTTP ${r?.status}`}`, true);
  }
}

// ------------------------------------------------------------------------------------------
// Methods 2 and 3: through the upstream provider's authorization-code redirect

function upstreamStart(method) {
  return (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const provider = f.provider.value;
    if (!provider) {
      say("No upstream provider is set up for sign-in (see [providers.login] in the configuration).", true);
      return;
    }
    const pending = { method, provider, username: f.username?.value.trim() ?? "", clientId: $("#client-id").value.trim() };
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    const login = (config.providers ?? []).find((p) => p.name === provider)?.login;
    const path = `${login}?method=${method}`;
    addStep({ title: `GET ${path}`, request: `GET ${path}`, response: "302 to the provider's login page (leaving this page)", ok: true });
    say(`Going to ${provider} to sign in…`);
    location.assign(path);
  };
}

/** Back from the provider: the server redeemed the code; fetch the outcome once and go on. */
async function upstreamFinish() {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "{}");
  sessionStorage.removeItem(PENDING_KEY);
  const params = new URLSearchParams(location.search);
  const method = params.get("method") || pending.method;
  params.delete("upstream");
  params.delete("method");
  history.replaceState(null, "", `/console${params.size ? `?${params}` : ""}`);
  selectMethod(method);

  const res = await fetch("/console/upstream", { method: "POST" });
  const result = await res.json().catch(() => ({}));
  for (const s of result.steps || []) addStep(s);
  if (!res.ok || !result.ok) {
    say(`The upstream sign-in did not complete: ${result.error ?? result.error_description ?? `HTTP ${res.status}`}`, true);
    return;
  }
  const up = result.tokens || {};
  const upstreamToken = up.id_token ?? up.access_token;
  if (method === "custom-auth") await customAuth(pending, upstreamToken);
  else await exchange(upstreamToken);
}

async function customAuth(pending, upstreamToken) {
  const clientId = pending.clientId || config.user_pool?.client_id;
  const email = decodeJwt(upstreamToken)?.claims?.email ?? "";
  const username = pending.username || email.split("@")[0];
  const start = await cognito("InitiateAuth", {
    AuthFlow: "CUSTOM_AUTH", ClientId: clientId, AuthParameters: { USERNAME: username },
  }, "InitiateAuth (CUSTOM_AUTH)");
  if (!start.ok || start.json?.ChallengeName !== "CUSTOM_CHALLENGE") {
    say(`CUSTOM_AUTH was refused: ${start.json?.message ?? `HTTP ${start.status}`}`, true);
    return;
  }
  const answer = await cognito("RespondToAuthChallenge", {
    ChallengeName: "CUSTOM_CHALLENGE", ClientId: clientId, Session: start.json.Session,
    ChallengeResponses: { USERNAME: start.json.ChallengeParameters?.USERNAME ?? username, ANSWER: upstreamToken },
  }, "RespondToAuthChallenge (ANSWER = upstream token)");
  const result = answer.json?.AuthenticationResult;
  if (answer.ok && result) await startSession("cognito", "CUSTOM_AUTH", cognitoTokens(result), clientId, upstreamToken);
  else say(`The answer was refused: ${answer.json?.message ?? `HTTP ${answer.status}`}`, true);
}

async function exchange(upstreamToken) {
  const clientId = config.oauth_client_id;
  const params = clientId ? { client_id: clientId } : {};
  const r = await form("POST /auth/exchange (upstream token as Bearer)", config.exchange_endpoint || "/auth/exchange",
    params, { authorization: `Bearer ${upstreamToken}` });
  if (r.ok && r.json?.access_token) {
    const t = { id: r.json.id_token, access: r.json.access_token, refresh: r.json.refresh_token };
    await startSession("oauth", "token exchange", t, clientId, upstreamToken);
  } else {
    say(`The exchange was refused: ${r.json?.error_description ?? `HTTP ${r.status}`}`, true);
  }
}

// ------------------------------------------------------------------------------------------
// Refresh, revoke, sign out

async function refresh() {
  if (!session?.tokens.refresh) return;
  const t = session.tokens;
  if (session.kind === "cognito") {
    const r = await cognito("InitiateAuth", {
      AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: session.clientId, AuthParameters: { REFRESH_TOKEN: t.refresh },
    }, "InitiateAuth (REFRESH_TOKEN_AUTH)");
    if (r.ok && r.json?.AuthenticationResult) session.tokens = cognitoTokens(r.json.AuthenticationResult, t);
    say(r.ok ? "Refreshed: new id and access tokens." : `Refresh refused: ${r.json?.message}`, !r.ok);
  } else {
    const params = { grant_type: "refresh_token", refresh_token: t.refresh };
    if (session.clientId) params.client_id = session.clientId;
    const path = session.kind === "hosted" ? config.hosted_ui.token_endpoint : new URL(config.token_endpoint).pathname;
    const r = await form("POST /oauth2/token (grant_type=refresh_token)", path, params);
    if (r.ok) session.tokens = { id: r.json.id_token ?? t.id, access: r.json.access_token, refresh: r.json.refresh_token ?? t.refresh };
    say(r.ok ? "Refreshed: new tokens (the refresh token rotated)." : `Refresh refused: ${r.json?.error_description}`, !r.ok);
  }
  await renderTokens();
}

async function revoke() {
  if (!session?.tokens.refresh) return;
  let r;
  if (session.kind === "cognito") {
    r = await cognito("RevokeToken", { Token: session.tokens.refresh, ClientId: session.clientId });
  } else {
    const params = { token: session.tokens.refresh, token_type_hint: "refresh_token" };
    if (session.clientId) params.client_id = session.clientId;
    const path = session.kind === "hosted" ? config.hosted_ui.revoke_endpoint : config.revoke_endpoint || "/oauth2/revoke";
    r = await form("POST /oauth2/revoke (RFC 7009)", path, params);
  }
  if (r.ok) session.tokens.refresh = null;
  say(r.ok ? "Refresh token revoked: refreshing is refused from now on." : "Revocation refused.", !r.ok);
  await renderTokens();
}

async function signOut() {
  if (!session) return;
  if (session.kind === "cognito") {
    const r = await cognito("GlobalSignOut", { AccessToken: session.tokens.access });
    if (!r.ok) return say(`Sign-out refused: ${r.json?.message}`, true);
  } else if (session.kind === "hosted") {
    if (session.tokens.refresh) await revoke();
    hostedLogout(config.hosted_ui, session.clientId, hostedParts());
    return;
  } else if (session.tokens.refresh) {
    await revoke();
  }
  session = null;
  say("Signed out.");
  await renderTokens();
}

// ------------------------------------------------------------------------------------------
// APIs and the explanation of a refusal

function showResult(r) {
  $("#api-result").textContent = `HTTP ${r.status}${r.requestId ? ` · request id ${r.requestId}` : ""}\n\n` +
    (r.json ? JSON.stringify(mask(r.json), null, 2) : r.text);
}

/** Fetches the decision trail of a refused request, with the caller's own credential if allowed. */
async function explainDenial(requestId, ownAuth) {
  const box = $("#api-denial");
  box.hidden = false;
  box.querySelector("[data-field=request-id]").textContent = requestId ?? "(none)";
  const body = box.querySelector(".denial-body");
  body.replaceChildren(el("p", {}, "Reading the audit trail…"));
  if (!requestId) return body.replaceChildren(el("p", {}, "The answer carried no request id."));
  const path = `/console/explain/${encodeURIComponent(requestId)}`;
  const admin = currentAdminToken();
  let headers = null;
  if (admin) headers = { authorization: `Bearer ${admin}` };
  else if (config.explain_to_caller) headers = await ownAuth(path);
  if (!headers) {
    return body.replaceChildren(el("p", {},
      "Sign in to the audit view below as admin to read why, or run ", el("code", {}, `tokenbridge audit explain ${requestId}`), "."));
  }
  const r = await call({ title: "GET /console/explain (the audit trail of that request)", method: "GET", path, headers });
  const events = r.json?.events ?? [];
  if (!r.ok || !events.length) {
    return body.replaceChildren(el("p", {}, `No explanation (HTTP ${r.status}): ${r.json?.error_description ?? ""}`));
  }
  const denied = events.filter((e) => e.decision === "denied");
  body.replaceChildren(...(denied.length ? denied : events).map(renderExplanation));
}

async function callRest(method, path) {
  $("#api-denial").hidden = true;
  if (!session?.tokens.access) return say("Sign in first: the REST API wants a bearer access token.", true);
  const bearer = { authorization: `Bearer ${session.tokens.access}` };
  const headers = method === "POST" ? { ...bearer, "content-type": "application/json" } : bearer;
  const r = await call({ title: `${method} ${path}`, to: "api", method, path, headers, body: method === "POST" ? "{}" : undefined });
  showResult(r);
  if (r.status === 401 || r.status === 403) {
    say(`${method} ${path} was refused (HTTP ${r.status}).`, true);
    await explainDenial(r.requestId, async () => bearer);
  } else {
    say(`${method} ${path}: HTTP ${r.status}.`, !r.ok);
  }
}

function loginsKey(iss) {
  return iss.replace(/^https?:\/\//, "");
}

async function identityCredentials(poolId) {
  const token = session.tokens.id;
  const iss = decodeJwt(token)?.claims?.iss;
  const logins = { [loginsKey(iss)]: token };
  const id = await identity("GetId", { IdentityPoolId: poolId, Logins: logins });
  if (!id.ok) return null;
  const creds = await identity("GetCredentialsForIdentity", { IdentityId: id.json.IdentityId, Logins: logins });
  return creds.ok ? creds.json.Credentials : null;
}

function signed(method, path, body, credentials, service) {
  const headers = body === undefined ? {} : { "content-type": "application/json" };
  return signRequest({ method, url: path, headers, body: body ?? "", region: config.region, service, credentials });
}

async function callGraphql() {
  $("#api-denial").hidden = true;
  if (!session?.tokens.id) return say("Sign in first: identity-pool credentials come from your id token.", true);
  const poolId = $("#identity-pool").value;
  const credentials = await identityCredentials(poolId);
  if (!credentials) return say("No credentials: the identity pool refused (see the steps).", true);
  const path = config.demo?.graphql_endpoint || "/demo/graphql";
  const body = JSON.stringify({ query: $("#graphql-query").value });
  const s = await signed("POST", path, body, credentials, "appsync");
  const extra = el("details", {}, el("summary", {}, "SigV4: canonical request and string to sign"),
    el("pre", {}, `${s.canonicalRequest}\n\n${s.stringToSign}`));
  const r = await call({ title: `POST ${path} (SigV4, service appsync)`, to: "api", path, headers: s.headers, body, extra });
  showResult(r);
  const refused = r.status === 401 || r.status === 403 || (r.json?.errors ?? []).some((e) => /Unauthorized/.test(e.errorType));
  if (refused) {
    say(`GraphQL call refused (HTTP ${r.status}).`, true);
    const service = config.explain_signing_service || "appsync";
    await explainDenial(r.requestId, async (p) => (await signed("GET", p, undefined, credentials, service)).headers);
  } else {
    say(`GraphQL call: HTTP ${r.status}.`, !r.ok);
  }
}

// ------------------------------------------------------------------------------------------
// Page set-up

function selectMethod(method) {
  const radio = document.querySelector(`input[name="method"][value="${method}"]`);
  if (radio) radio.checked = true;
  showMethod();
}

function showMethod() {
  const method = document.querySelector('input[name="method"]:checked')?.value;
  for (const panel of document.querySelectorAll("form[data-method]")) panel.hidden = panel.dataset.method !== method;
}

function fillSelect(select, items, label) {
  select.replaceChildren(...items.map((i) => el("option", { value: i.value }, label(i))));
}

async function loadConfig() {
  try {
    const res = await fetch("/console/config.json");
    config = await res.json();
  } catch (err) {
    $("#settings").textContent = `Could not load the settings: ${err}`;
    return;
  }
  const pool = config.user_pool ? ` · user pool ${config.user_pool.id}` : "";
  $("#settings").textContent = `Issuer ${config.issuer}${pool}${config.region ? ` · region ${config.region}` : ""}`;
  const providers = (config.providers ?? []).map((p) => ({ value: p.name, ...p }));
  for (const sel of [$("#custom-provider"), $("#exchange-provider")]) fillSelect(sel, providers, (p) => `${p.name} (${p.issuer})`);
  const hostedProviders = [{ value: "", label: "Choose on the sign-in page (password or a provider)" }]
    .concat((config.hosted_ui?.identity_providers ?? []).map((p) => ({ value: p, label: `${p} (identity_provider=${p}: no chooser)` })));
  fillSelect($("#hosted-provider"), hostedProviders, (p) => p.label);
  $("#hosted-form button[type=submit]").disabled = !config.hosted_ui;
  const pools = (config.identity_pools ?? []).map((p) => ({ value: p.id, ...p }));
  fillSelect($("#identity-pool"), pools, (p) => `${p.name ?? p.id} (${p.id})`);
  const f = $("#password-form");
  if (!f.client_id.value && config.user_pool?.client_id) f.client_id.value = config.user_pool.client_id;
  $("#rest-api").hidden = !config.demo?.rest;
  $("#graphql-api").hidden = !config.demo?.graphql_endpoint;
}

async function init() {
  const params = new URLSearchParams(location.search);
  const f = $("#password-form");
  if (params.get("client_id")) f.client_id.value = params.get("client_id");
  if (params.get("username")) f.username.value = params.get("username");
  f.addEventListener("submit", passwordSignIn);
  $("#hosted-form").addEventListener("submit", hostedSignIn);
  $("#custom-auth-form").addEventListener("submit", upstreamStart("custom-auth"));
  $("#exchange-form").addEventListener("submit", upstreamStart("exchange"));
  for (const r of document.querySelectorAll('input[name="method"]')) r.addEventListener("change", showMethod);
  $("#refresh").addEventListener("click", refresh);
  $("#revoke").addEventListener("click", revoke);
  $("#sign-out").addEventListener("click", signOut);
  $("#clear-steps").addEventListener("click", () => $("#steps").replaceChildren());
  $("#call-hello").addEventListener("click", () => callRest("GET", "/demo/api/hello"));
  $("#call-orders").addEventListener("click", () => callRest("GET", "/demo/api/orders"));
  $("#place-order").addEventListener("click", () => callRest("POST", "/demo/api/orders"));
  $("#call-graphql").addEventListener("click", callGraphql);
  initAudit($("#audit"), say);
  if (!globalThis.crypto?.subtle) {
    // WebCrypto exists only in secure contexts (https, or localhost): no SRP, no signing here.
    $("#use-srp").checked = false;
    $("#use-srp").disabled = true;
    say("This page is not in a secure context (https or localhost): SRP and SigV4 signing are off.", true);
  }
  showMethod();
  configReady = loadConfig();
  await configReady;
  if (params.get("upstream")) await upstreamFinish();
  else if (isHostedReturn(params)) await hostedReturn();
  else if (hostedLoggedOut(hostedParts())) say("Signed out, of the hosted sign-in too: the next sign-in there asks again.");
}

init();
