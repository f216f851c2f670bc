// What the Node interop suites share: the running demo (demo.json from TOKENBRIDGE_DEMO_JSON),
// promise wrappers around amazon-cognito-identity-js's callback API, and the upstream password
// grant that yields the tokens CUSTOM_AUTH accepts as answers.
//
// Nothing here comes from tokenbridge's own code: the clients are the published libraries,
// pointed at the demo's base URL.

import { readFileSync } from "node:fs";

import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserPool,
} from "amazon-cognito-identity-js";

/** Upper bound for one client call (a login is a few round trips plus SRP arithmetic). */
export const CALL_TIMEOUT_MS = 20_000;
/** Upper bound for one test; node:test fails the test when it is exceeded. */
export const TEST_TIMEOUT_MS = 60_000;

/** When this process started, in whole seconds (see upstreamIdToken). */
const PROCESS_START_S = Math.floor(Date.now() / 1000);

function loadDemo() {
  const path = process.env.TOKENBRIDGE_DEMO_JSON;
  if (!path) {
    throw new Error(
      "TOKENBRIDGE_DEMO_JSON is not set: run interop/node/run.sh DEMO_JSON (scripts/test does), " +
        "or start `tokenbridge demo --data-dir DIR` and export TOKENBRIDGE_DEMO_JSON=DIR/demo.json",
    );
  }
  const info = JSON.parse(readFileSync(path, "utf8"));
  if (!info.cognito || typeof info.cognito !== "object") {
    throw new Error(`${path} has no "cognito" object: this demo predates the user-pool API`);
  }
  for (const key of ["region", "endpoint", "user_pool_id", "client_id", "issuer"]) {
    if (typeof info.cognito[key] !== "string" || !info.cognito[key]) {
      throw new Error(`${path}: cognito.${key} is missing`);
    }
  }
  return info;
}

/** demo.json of the demo under test. */
export const demo = loadDemo();
export const cognito = demo.cognito;
/** The demo's base URL without a trailing slash. */
export const base = demo.base_url.replace(/\/+$/, "");

/** The demo user with this username, as demo.json lists it. */
export function demoUser(username) {
  const u = demo.users.find((x) => x.username === username);
  if (!u) throw new Error(`demo.json lists no user ${username}`);
  return u;
}

/** amazon-cognito-identity-js's pool object for a pool of this demo (the demo pool by default). */
export function userPool({ poolId = cognito.user_pool_id, clientId = cognito.client_id } = {}) {
  return new CognitoUserPool({ UserPoolId: poolId, ClientId: clientId, endpoint: cognito.endpoint });
}

export function cognitoUser(username, pool = userPool()) {
  return new CognitoUser({ Username: username, Pool: pool });
}

/** Rejects with a clear message when `promise` has not settled within `ms`. */
export function withTimeout(promise, what, ms = CALL_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The callback map amazon-cognito-identity-js takes: `onSuccess` resolves with the session,
 * `onFailure` rejects with the library's error (its `code` is the Cognito exception name), and
 * every challenge callback not named in `expect` rejects, naming the challenge.
 */
function callbacks(resolve, reject, expect = {}) {
  const unexpected =
    (name) =>
    (...args) =>
      reject(new Error(`unexpected ${name} callback: ${JSON.stringify(args)}`));
  return {
    onSuccess: (session) => resolve(session),
    onFailure: (err) => reject(err),
    newPasswordRequired: unexpected("newPasswordRequired"),
    mfaRequired: unexpected("mfaRequired"),
    totpRequired: unexpected("totpRequired"),
    selectMFAType: unexpected("selectMFAType"),
    mfaSetup: unexpected("mfaSetup"),
    customChallenge: unexpected("customChallenge"),
    ...expect,
  };
}

/**
 * `user.authenticateUser(...)` as a promise: the user's flow type decides the wire flow
 * (USER_SRP_AUTH by default, USER_PASSWORD_AUTH after setAuthenticationFlowType).
 */
export function authenticate(user, password) {
  const details = new AuthenticationDetails({ Username: user.getUsername(), Password: password });
  return withTimeout(
    new Promise((resolve, reject) => user.authenticateUser(details, callbacks(resolve, reject))),
    `authenticateUser(${user.getUsername()}, ${user.getAuthenticationFlowType()})`,
  );
}

/**
 * CUSTOM_AUTH's first step, `user.initiateAuth(...)`: resolves with the challenge parameters
 * handed to the `customChallenge` callback.
 */
export function initiateCustomAuth(user) {
  user.setAuthenticationFlowType("CUSTOM_AUTH");
  const details = new AuthenticationDetails({ Username: user.getUsername() });
  return withTimeout(
    new Promise((resolve, reject) =>
      user.initiateAuth(details, {
        ...callbacks(() => reject(new Error("initiateAuth(CUSTOM_AUTH) signed in without a challenge")), reject),
        customChallenge: (params) => resolve(params),
      }),
    ),
    `initiateAuth(${user.getUsername()}, CUSTOM_AUTH)`,
  );
}

/** `user.sendCustomChallengeAnswer(answer, ...)` as a promise of the session. */
export function answerCustomChallenge(user, answer) {
  return withTimeout(
    new Promise((resolve, reject) => user.sendCustomChallengeAnswer(answer, callbacks(resolve, reject))),
    `sendCustomChallengeAnswer(${user.getUsername()})`,
  );
}

/** `user.refreshSession(refreshToken, ...)` as a promise of the new session. */
export function refreshSession(user, refreshToken) {
  return withTimeout(
    new Promise((resolve, reject) =>
      user.refreshSession(refreshToken, (err, session) => (err ? reject(err) : resolve(session))),
    ),
    `refreshSession(${user.getUsername()})`,
  );
}

/** Awaits `promise` expecting it to reject; returns the error (fails when it resolves). */
export async function failure(promise, what) {
  try {
    const value = await promise;
    throw Object.assign(new Error(`${what} succeeded, expected a failure: ${JSON.stringify(value)}`), {
      unexpectedSuccess: true,
    });
  } catch (err) {
    if (err && err.unexpectedSuccess) throw err;
    return err;
  }
}

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

/** A JWT's header and payload, unverified (for choosing a verifier and for messages). */
export function decodeJwt(token) {
  const parts = String(token).split(".");
  if (parts.length !== 3) throw new Error(`not a JWS compact token: ${String(token).slice(0, 40)}…`);
  return { header: b64urlJson(parts[0]), payload: b64urlJson(parts[1]) };
}

/** The same token with one bit of its signature flipped. */
export function flipSignatureBit(token) {
  const [h, p, s] = token.split(".");
  const sig = Buffer.from(s, "base64url");
  sig[sig.length >> 1] ^= 0x01;
  return `${h}.${p}.${sig.toString("base64url")}`;
}

/** GET a JSON document from the demo (never from anywhere else). */
export async function getJson(url) {
  if (!url.startsWith(base + "/")) throw new Error(`refusing to fetch ${url}: not under the demo's ${base}`);
  const r = await fetch(url, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${text}`);
  return JSON.parse(text);
}

// --- the demo upstream ------------------------------------------------------------------------

const upstreamTokensSeen = new Set();

// RFC 6749 §2.3.1: client id and secret are form-urlencoded before they go into Basic.
const formEncode = (s) => new URLSearchParams({ v: s }).toString().slice(2);

/**
 * A fresh upstream id token for `user` (the demo upstream's Salesforce-style username-password
 * grant, client authenticated with HTTP Basic), as interop/python/test_tokens.py asks for one.
 *
 * The demo upstream's tokens carry no jti: two asked for in the same second for the same user are
 * byte-identical, and the broker (one-time use) rightly takes the second for a replay. So a token
 * counts as fresh only when this process has not seen it and it was minted after the second this
 * process started in (no earlier suite run against the same demo can have spent it).
 */
export async function upstreamIdToken(user) {
  const up = demo.upstream;
  const deadline = Date.now() + 5_000;
  for (;;) {
    const r = await fetch(up.token_endpoint, {
      method: "POST",
      headers: {
        Authorization: `Basic ${Buffer.from(`${formEncode(up.client_id)}:${formEncode(up.client_secret)}`).toString("base64")}`,
        "Content-Type": "application/x-www-form-urlencoded",
        Accept: "application/json",
      },
      body: new URLSearchParams({
        grant_type: "password",
        username: user.upstream_username,
        password: user.upstream_password,
        scope: "openid email profile",
      }).toString(),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await r.text();
    if (r.status !== 200) {
      throw new Error(`upstream password grant for ${user.username}: ${r.status} ${text}`);
    }
    const body = JSON.parse(text);
    if (typeof body.id_token !== "string") {
      throw new Error(`upstream password grant for ${user.username} returned no id_token: ${text}`);
    }
    const { iat } = decodeJwt(body.id_token).payload;
    const fresh =
      !upstreamTokensSeen.has(body.id_token) && (typeof iat !== "number" || iat > PROCESS_START_S);
    if (fresh) {
      upstreamTokensSeen.add(body.id_token);
      return body.id_token;
    }
    if (Date.now() > deadline) throw new Error("the demo upstream kept returning an already used id token");
    await new Promise((res) => setTimeout(res, 200));
  }
}
