// tokenbridge console: sign in step by step and inspect the tokens.
// Plain ES module; every request goes to this same server through relative paths.

const TARGET = "AWSCognitoIdentityProviderService.";
const SECRET_KEYS = new Set([
  "PASSWORD", "Password", "password", "REFRESH_TOKEN", "RefreshToken", "refresh_token",
  "AccessToken", "access_token", "IdToken", "id_token", "SECRET_HASH", "Session", "client_secret",
]);

const $ = (sel) => document.querySelector(sel);
let config = null;
let tokens = null; // { IdToken, AccessToken, RefreshToken }
let clientId = "";
const jwksCache = new Map();

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

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
      if (/password|secret/i.test(k)) out[k] = "•••••• (hidden)";
      else out[k] = SECRET_KEYS.has(k) ? maskValue(v) : mask(v);
    }
    return out;
  }
  return value;
}

/** Only the path (and query) of a URL on this server, so the browser stays on this origin. */
function samePath(uri) {
  const u = new URL(uri, location.href);
  return u.pathname + u.search;
}

function addStep(title, request, response, ok) {
  const li = el("li");
  const details = el("details");
  const status = el("span", { class: ok ? "status-ok" : "status-bad" }, ok ? "ok" : "failed");
  details.append(el("summary", {}, `${title} — `, status));
  details.append(el("h4", {}, "Request"), el("pre", {}, request));
  details.append(el("h4", {}, "Response"), el("pre", {}, response));
  li.append(details);
  $("#steps").append(li);
  return details;
}

async function cognito(action, body) {
  const endpoint = config?.cognito_endpoint || "/";
  const headers = {
    "content-type": "application/x-amz-json-1.1",
    "x-amz-target": TARGET + action,
  };
  const requestText =
    `POST ${endpoint}\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\n") +
    `\n\n${JSON.stringify(mask(body), null, 2)}`;
  let res;
  try {
    res = await fetch(endpoint, { method: "POST", headers, body: JSON.stringify(body) });
  } catch (err) {
    addStep(action, requestText, `network error: ${err}`, false);
    throw err;
  }
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  const requestId = res.headers.get("x-amzn-requestid") || res.headers.get("x-request-id");
  const responseText =
    `HTTP ${res.status}${requestId ? `\nrequest id: ${requestId}` : ""}\n\n` +
    (json ? JSON.stringify(mask(json), null, 2) : text);
  const details = addStep(action, requestText, responseText, res.ok);
  if (!res.ok) details.open = true;
  return { ok: res.ok, status: res.status, json, requestId };
}

function b64urlToBytes(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=");
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function decodeJwt(jwt) {
  const parts = jwt.split(".");
  if (parts.length !== 3) return null;
  try {
    const text = (p) => new TextDecoder().decode(b64urlToBytes(p));
    return { header: JSON.parse(text(parts[0])), claims: JSON.parse(text(parts[1])), parts };
  } catch {
    return null;
  }
}

async function jwksFor(iss) {
  let uri = config?.jwks_uri;
  if (config?.user_pool && iss === config.user_pool.issuer) uri = config.user_pool.jwks_uri;
  if (!uri) return null;
  const path = samePath(uri);
  if (!jwksCache.has(path)) {
    const res = await fetch(path);
    const body = await res.json();
    addStep(`GET ${path}`, `GET ${path}`, `HTTP ${res.status}\n\n${JSON.stringify(body, null, 2)}`, res.ok);
    jwksCache.set(path, { path, keys: body.keys || [] });
  }
  return jwksCache.get(path);
}

const ALGS = {
  RS256: { imp: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, sig: { name: "RSASSA-PKCS1-v1_5" } },
  ES256: { imp: { name: "ECDSA", namedCurve: "P-256" }, sig: { name: "ECDSA", hash: "SHA-256" } },
  EdDSA: { imp: { name: "Ed25519" }, sig: { name: "Ed25519" } },
};

/** Which key of the JWKS has this token's kid, and whether its signature checks out. */
async function verify(decoded) {
  const jwks = await jwksFor(decoded.claims.iss);
  if (!jwks) return { text: "no JWKS to check against", ok: false };
  const key = jwks.keys.find((k) => k.kid === decoded.header.kid);
  if (!key) return { text: `no key with kid ${decoded.header.kid} in ${jwks.path}`, ok: false };
  const where = `key ${key.kid} of ${jwks.path}`;
  const alg = ALGS[decoded.header.alg];
  if (!alg) return { text: `${where} (alg ${decoded.header.alg} not checked in the browser)`, ok: true };
  if (!globalThis.crypto?.subtle) {
    return { text: `${where} (signature not checked: WebCrypto needs a secure context)`, ok: true };
  }
  try {
    const jwk = { ...key };
    delete jwk.alg; // WebCrypto is strict about "alg" names; the algorithm is given explicitly.
    delete jwk.use;
    delete jwk.key_ops;
    const cryptoKey = await crypto.subtle.importKey("jwk", jwk, alg.imp, false, ["verify"]);
    const data = new TextEncoder().encode(`${decoded.parts[0]}.${decoded.parts[1]}`);
    const good = await crypto.subtle.verify(alg.sig, cryptoKey, b64urlToBytes(decoded.parts[2]), data);
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
  for (const [k, v] of pairs) dl.append(el("dt", {}, k), v instanceof Node ? el("dd", {}, v) : el("dd", {}, v));
  return dl;
}

async function renderTokens() {
  const box = $("#tokens");
  box.replaceChildren();
  $("#refresh").disabled = !tokens?.RefreshToken;
  $("#sign-out").disabled = !tokens?.AccessToken;
  if (!tokens) {
    box.append(el("p", { class: "hint" }, "No tokens yet: sign in first."));
    return;
  }
  for (const name of ["IdToken", "AccessToken"]) {
    const jwt = tokens[name];
    if (!jwt) continue;
    const card = el("article", { class: "token" }, el("h3", {}, name));
    const d = decodeJwt(jwt);
    if (!d) {
      card.append(el("p", {}, "not a JWT"));
      box.append(card);
      continue;
    }
    const check = await verify(d);
    const checkEl = el("span", { class: check.ok ? "status-ok" : "status-bad" }, check.text);
    card.append(facts([
      ["alg", d.header.alg],
      ["kid", d.header.kid ?? "(none)"],
      ["token_use", d.claims.token_use ?? "(none)"],
      ["time left", timeLeft(d.claims.exp)],
      ["JWKS key", checkEl],
    ]));
    const hd = el("details", {}, el("summary", {}, "Header"), el("pre", {}, JSON.stringify(d.header, null, 2)));
    const cd = el("details", {}, el("summary", {}, "Claims"), el("pre", {}, JSON.stringify(d.claims, null, 2)));
    card.append(hd, cd);
    box.append(card);
  }
  if (tokens.RefreshToken) {
    box.append(el("article", { class: "token" }, el("h3", {}, "RefreshToken"),
      el("p", {}, `opaque, ${maskValue(tokens.RefreshToken)}`)));
  }
}

async function signIn(ev) {
  ev.preventDefault();
  const form = ev.target;
  clientId = form.client_id.value.trim();
  const body = {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: clientId,
    AuthParameters: { USERNAME: form.username.value.trim(), PASSWORD: form.password.value },
  };
  form.password.value = "";
  const r = await cognito("InitiateAuth", body).catch(() => null);
  const result = r?.json?.AuthenticationResult;
  if (r?.ok && result) {
    tokens = { IdToken: result.IdToken, AccessToken: result.AccessToken, RefreshToken: result.RefreshToken };
  } else if (r?.ok && r.json?.ChallengeName) {
    addStep(`challenge ${r.json.ChallengeName}`, "(none)", "The console does not answer this challenge yet.", false);
  }
  await renderTokens();
}

async function refresh() {
  if (!tokens?.RefreshToken) return;
  const r = await cognito("InitiateAuth", {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    ClientId: clientId,
    AuthParameters: { REFRESH_TOKEN: tokens.RefreshToken },
  }).catch(() => null);
  const result = r?.json?.AuthenticationResult;
  if (r?.ok && result) {
    tokens = {
      IdToken: result.IdToken ?? tokens.IdToken,
      AccessToken: result.AccessToken ?? tokens.AccessToken,
      RefreshToken: result.RefreshToken ?? tokens.RefreshToken,
    };
  }
  await renderTokens();
}

async function signOut() {
  if (!tokens?.AccessToken) return;
  const r = await cognito("GlobalSignOut", { AccessToken: tokens.AccessToken }).catch(() => null);
  if (r?.ok) tokens = null;
  await renderTokens();
}

function showMethod() {
  const method = document.querySelector('input[name="method"]:checked')?.value;
  for (const panel of document.querySelectorAll("[data-method]")) panel.hidden = panel.dataset.method !== method;
}

async function loadConfig() {
  const settings = $("#settings");
  try {
    const res = await fetch("/console/config.json");
    config = await res.json();
    const pool = config.user_pool ? ` · user pool ${config.user_pool.id}` : "";
    settings.textContent = `Issuer ${config.issuer}${pool}`;
  } catch (err) {
    settings.textContent = `Could not load the settings: ${err}`;
  }
}

function init() {
  const params = new URLSearchParams(location.search);
  const form = $("#password-form");
  if (params.get("client_id")) form.client_id.value = params.get("client_id");
  if (params.get("username")) form.username.value = params.get("username");
  form.addEventListener("submit", signIn);
  for (const r of document.querySelectorAll('input[name="method"]')) r.addEventListener("change", showMethod);
  $("#refresh").addEventListener("click", refresh);
  $("#sign-out").addEventListener("click", signOut);
  $("#clear-steps").addEventListener("click", () => $("#steps").replaceChildren());
  showMethod();
  loadConfig();
}

init();
