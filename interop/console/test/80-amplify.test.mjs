// Amplify Auth, the `aws-amplify` v6 package unmodified (bundled for the browser by esbuild from
// node_modules, both pinned in package-lock.json), signs in with the redirect flow in Chromium
// against a demo's TLS listener, from a page on its own origin, as a Cognito app does:
//   Amplify.configure({ Auth: { Cognito: { userPoolId, userPoolClientId, loginWith: { oauth:
//     { domain: "<host:port>/domains/<domain>", scopes, redirectSignIn, redirectSignOut,
//       responseType: "code" } } } } })
// plus `userPoolEndpoint` (the demo's Cognito door), so that signOut's RevokeToken goes to the
// demo and not to AWS. Amplify puts https:// in front of the domain, so this needs the TLS
// listener: the test starts its own `tokenbridge demo --tls` (a free loopback port, a data
// directory of its own, stopped at the end), checks that it serves the certificate whose
// fingerprint it printed, and trusts that certificate in its own browser contexts only
// (`ignoreHTTPSErrors` on each context, never for the browser; a context without it is refused).
//
//   - signInWithRedirect() through the hosted login page with a seeded user's password;
//   - signInWithRedirect({ provider: { custom: "DemoSAML" } }) through the demo's SAML IdP, for a
//     user the demo links to a pool user (erin) and for one it does not (carol: the federated
//     user DemoSAML_<NameID>);
// each followed by fetchAuthSession() (the tokens' signatures checked against the pool's JWKS,
// their claims: username, identities), getCurrentUser(), and signOut(): RevokeToken at the door,
// /logout on the domain, back at the app's redirectSignOut signed out, the refresh token dead and
// the hosted sign-in session over. Requests anywhere but the app and the demo are refused and
// fail the test.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";

import { amplifyBundle, amplifyVersion } from "../lib/amplify-bundle.mjs";
import { cognitoAdmin } from "../lib/cognito-admin.mjs";
import { startDemo } from "../lib/demo-process.mjs";
import { launchBrowser, plain, shot, TEST_TIMEOUT_MS, VIEWPORT, WAIT_MS } from "../lib/harness.mjs";
import { verifiedClaims } from "../lib/jwt.mjs";

const SIGNED_OUT_PATH = "/signed-out";

/** The app's page: the Amplify bundle, Amplify configured, and what the test calls. */
function page(config) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>An Amplify app on its own origin</title>
<link rel="icon" href="data:,">
<script src="/amplify.js"></script>
<script>
const CONFIG = ${JSON.stringify(config)};
window.authEvents = [];
amplify.Hub.listen("auth", ({ payload }) => {
  const error = payload.data && payload.data.error;
  window.authEvents.push({ event: payload.event, message: error ? String(error.name + ": " + error.message) : null });
});
// In the browser, configuring Amplify with OAuth completes a redirect sign-in that is in flight.
amplify.Amplify.configure(CONFIG);
const failed = (e) => ({ ok: false, name: e && e.name, message: String(e && e.message || e) });
window.signIn = (input) => { amplify.signInWithRedirect(input).catch((e) => { window.failure = failed(e); }); };
window.session = async () => {
  try {
    const s = await amplify.fetchAuthSession();
    return { ok: true, id: s.tokens?.idToken?.toString() ?? null, access: s.tokens?.accessToken?.toString() ?? null,
      userSub: s.userSub ?? null };
  } catch (e) { return failed(e); }
};
window.currentUser = async () => {
  try { const u = await amplify.getCurrentUser(); return { ok: true, username: u.username, userId: u.userId }; }
  catch (e) { return failed(e); }
};
window.signOutNow = () => { amplify.signOut().catch((e) => { window.failure = failed(e); }); };
window.ready = true;
</script></head><body><h1>app</h1></body></html>`;
}

/** Serves the app on 127.0.0.1 (a port of its own: another origin than the demo's) over HTTP. */
async function serveApp(bundle) {
  let html = "";
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/" || path === SIGNED_OUT_PATH) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(html);
    } else if (path === "/amplify.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    configure: (config) => (html = page(config)),
    close: () => new Promise((r) => server.close(r)),
  };
}

/** The certificate the listener at `url` presents (its chain checked against `ca` only). */
function servedCertificate(url, ca) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      resolve(cert);
    });
    socket.on("error", reject);
  });
}

describe(`Amplify Auth (aws-amplify ${amplifyVersion()}) against the demo's TLS listener`, { timeout: TEST_TIMEOUT_MS * 6 }, () => {
  let tb; // the demo of this test: { info, ca, fetch, stop }
  let app;
  let browser;
  let clientId;
  let jwks;
  let admin;

  before(async () => {
    tb = await startDemo({ args: ["--tls"], prefix: "tokenbridge-amplify-" });
    const { info } = tb;
    assert.ok(info.base_url.startsWith("https://"), `the demo serves https: ${info.base_url}`);
    assert.ok(info.hosted_ui?.domain, "demo.json has hosted_ui.domain");
    app = await serveApp(await amplifyBundle());
    admin = cognitoAdmin(info, tb.fetch);
    // The pool's own password and the SAML provider, back to the app's origin.
    clientId = await admin.createHostedClient("amplify app", app.origin, {
      providers: ["COGNITO", info.hosted_ui.saml_provider],
      callback: `${app.origin}/`,
      logout: `${app.origin}${SIGNED_OUT_PATH}`,
    });
    const host = new URL(info.base_url).host;
    const domain = `${host}/domains/${info.hosted_ui.domain}`;
    assert.equal(`https://${domain}`, info.hosted_ui.domain_url, "Amplify's oauth.domain names the domain's URL");
    app.configure({
      Auth: {
        Cognito: {
          userPoolId: info.cognito.user_pool_id,
          userPoolClientId: clientId,
          userPoolEndpoint: info.base_url,
          loginWith: {
            oauth: {
              domain,
              scopes: info.hosted_ui.scopes,
              redirectSignIn: [`${app.origin}/`],
              redirectSignOut: [`${app.origin}${SIGNED_OUT_PATH}`],
              responseType: "code",
            },
          },
        },
      },
    });
    const discovery = await (await tb.fetch(info.hosted_ui.discovery_url)).json();
    jwks = await (await tb.fetch(discovery.jwks_uri)).json();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    if (clientId) await admin.deleteClient(clientId).catch(() => {});
    await tb?.stop();
  });

  const user = (name) => {
    const u = tb.info.users.find((x) => x.username === name);
    assert.ok(u, `demo.json lists ${name}`);
    return u;
  };
  const demoOrigin = () => new URL(tb.info.base_url).origin;
  const domainPath = () => new URL(tb.info.hosted_ui.domain_url).pathname;

  /**
   * A context that trusts the demo's certificate (this context only) and lets the page reach the
   * app and the demo and nothing else; `traffic` is every answer from the demo.
   */
  async function openApp() {
    const context = await browser.newContext({ viewport: VIEWPORT, locale: "en-US", ignoreHTTPSErrors: true });
    context.setDefaultTimeout(WAIT_MS);
    const foreign = [];
    await context.route("**/*", (route) => {
      const url = route.request().url();
      const origin = new URL(url).origin;
      if (origin === app.origin || origin === demoOrigin() || /^(data|blob):/.test(url)) return route.continue();
      foreign.push(url);
      return route.abort("blockedbyclient");
    });
    const page = await context.newPage();
    const errors = [];
    page.on("console", (m) => m.type() === "error" && errors.push(`console error: ${m.text()}`));
    page.on("pageerror", (e) => errors.push(`uncaught exception: ${e?.stack || e}`));
    const traffic = [];
    page.on("response", (r) => {
      const u = new URL(r.url());
      if (u.origin !== demoOrigin()) return;
      const target = r.request().headers()["x-amz-target"] ?? null;
      traffic.push({ method: r.request().method(), path: u.pathname, query: u.searchParams, status: r.status(), target });
    });
    return { context, page, errors, foreign, traffic };
  }

  async function loadApp(page, path = "/") {
    await page.goto(`${app.origin}${path}`);
    await page.waitForFunction(() => window.ready === true && typeof window.amplify === "object");
  }

  /** Waits for Amplify's signInWithRedirect Hub event on the app; fails on its _failure event. */
  async function redirectCompleted(page) {
    await page.waitForURL((u) => u.origin === app.origin && u.pathname === "/", { timeout: WAIT_MS });
    await page.waitForFunction(() => window.authEvents.some((e) => e.event.startsWith("signInWithRedirect")), null, {
      timeout: WAIT_MS,
    });
    const events = await page.evaluate(() => window.authEvents);
    const failure = events.find((e) => e.event === "signInWithRedirect_failure");
    assert.equal(failure, undefined, `Amplify could not complete the redirect: ${failure?.message}`);
    assert.ok(events.some((e) => e.event === "signedIn"), `Amplify says signedIn: ${JSON.stringify(events)}`);
    assert.equal(new URL(page.url()).search, "", "Amplify took the code out of the address bar");
  }

  /** fetchAuthSession's tokens, verified; getCurrentUser agrees with them. */
  async function signedInAs(page) {
    const session = await page.evaluate(() => window.session());
    assert.ok(session.ok, `fetchAuthSession: ${session.name}: ${session.message}`);
    assert.ok(session.id && session.access, "fetchAuthSession gives an id and an access token");
    const id = verifiedClaims(session.id, jwks);
    const access = verifiedClaims(session.access, jwks);
    const { info } = tb;
    assert.equal(id.iss, info.cognito.issuer);
    assert.equal(id.aud, clientId);
    assert.equal(id.token_use, "id");
    assert.equal(access.iss, info.cognito.issuer);
    assert.equal(access.client_id, clientId);
    assert.equal(access.token_use, "access");
    assert.deepEqual(access.scope.split(" ").sort(), [...info.hosted_ui.scopes].sort());
    assert.equal(access.username, id["cognito:username"]);
    assert.equal(access.sub, id.sub);
    assert.ok(access.origin_jti, "origin_jti: Amplify revokes the session at sign-out");
    assert.equal(session.userSub, id.sub);
    const current = await page.evaluate(() => window.currentUser());
    assert.ok(current.ok, `getCurrentUser: ${current.name}: ${current.message}`);
    assert.deepEqual({ username: current.username, userId: current.userId }, { username: access.username, userId: id.sub });
    return { id, access };
  }

  /**
   * signOut(): RevokeToken at the door, /logout on the domain, back at redirectSignOut with no
   * user; the refresh token no longer refreshes and the next sign-in asks for a password again.
   */
  async function signsOut(s) {
    const { page, traffic } = s;
    const refresh = await page.evaluate(
      () => Object.entries(window.localStorage).find(([k]) => k.startsWith("CognitoIdentityServiceProvider.") && k.endsWith(".refreshToken"))?.[1],
    );
    assert.ok(refresh, "Amplify keeps the refresh token in localStorage");
    const before = traffic.length;
    await page.evaluate(() => window.signOutNow());
    await page.waitForURL((u) => u.origin === app.origin && u.pathname === SIGNED_OUT_PATH, { timeout: WAIT_MS });
    const seen = traffic.slice(before).map((t) => `${t.method} ${t.path}${t.target ? ` ${t.target}` : ""} ${t.status}`);
    assert.ok(seen.includes("POST / AWSCognitoIdentityProviderService.RevokeToken 200"), `RevokeToken at the door: ${seen}`);
    assert.ok(seen.includes(`GET ${domainPath()}/logout 302`), `GET /logout redirected back: ${seen}`);
    const logout = traffic.slice(before).find((t) => t.path === `${domainPath()}/logout`);
    assert.equal(logout.query.get("client_id"), clientId);
    assert.equal(logout.query.get("logout_uri"), `${app.origin}${SIGNED_OUT_PATH}`);

    await page.waitForFunction(() => window.ready === true);
    const current = await page.evaluate(() => window.currentUser());
    assert.equal(current.ok, false, "getCurrentUser finds nobody");
    assert.equal(current.name, "UserUnAuthenticatedException", current.message);
    const session = await page.evaluate(() => window.session());
    assert.ok(session.ok && session.id === null && session.access === null, `no tokens: ${JSON.stringify(session)}`);
    const kept = await page.evaluate(() => Object.keys(window.localStorage).filter((k) => /\.(idToken|accessToken|refreshToken)$/.test(k)));
    assert.deepEqual(kept, [], "no token left in localStorage");

    const r = await tb.fetch(`${tb.info.base_url}/`, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth" },
      body: JSON.stringify({ AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: clientId, AuthParameters: { REFRESH_TOKEN: refresh } }),
    });
    assert.equal(r.status, 400, `the revoked refresh token refreshes nothing: ${await r.text()}`);
    assert.equal((await r.json()).__type, "NotAuthorizedException");

    // The hosted sign-in session is over: a new sign-in shows the password form again.
    await page.evaluate(() => window.signIn());
    await hostedLoginShown(page);
    assert.equal(await page.locator("input[name=username]").inputValue(), "", "nobody is signed in there");
  }

  async function hostedLoginShown(page) {
    await page.waitForURL((u) => u.origin === demoOrigin() && u.pathname === `${domainPath()}/oauth2/authorize`, {
      timeout: WAIT_MS,
    });
    await page.locator("input[name=password]").waitFor({ state: "visible" });
  }

  /** What Amplify asked the authorization endpoint for. */
  function authorizeRequest(traffic) {
    const a = traffic.find((t) => t.method === "GET" && t.path === `${domainPath()}/oauth2/authorize`);
    assert.ok(a, "the browser went to /oauth2/authorize");
    return a.query;
  }

  async function check(s, name, body) {
    try {
      await body(s);
      assert.equal(await s.page.evaluate(() => window.failure ?? null), null, "no Amplify call failed");
      assert.deepEqual(s.foreign, [], "the page reached nothing but the app and the demo");
      assert.deepEqual(s.errors, [], "no console error, no uncaught exception (a CORS refusal would be one)");
    } catch (err) {
      await shot(s.page, `failed-amplify-${name}`).catch(() => {});
      // What the page reported says more than a timeout does (a CSP or CORS refusal, say).
      if (s.errors.length) throw new Error(`${plain(err).message}\nthe page reported:\n  ${s.errors.join("\n  ")}`, { cause: plain(err) });
      throw plain(err);
    } finally {
      await s.context.close();
    }
  }

  test("the TLS listener serves the certificate the demo printed; only the test's contexts trust it", async () => {
    const cert = await servedCertificate(tb.info.base_url, tb.ca);
    assert.equal(cert.fingerprint256, tb.info.tls.sha256_fingerprint, "the served certificate is the printed one");
    assert.equal(cert.fingerprint256, new X509Certificate(tb.ca).fingerprint256, "and the one in tls/cert.pem");
    // A context without the test's exception refuses it: nothing is trusted browser-wide.
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await assert.rejects(page.goto(`${tb.info.base_url}/healthz`), /ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await context.close();
    }
  });

  test("signInWithRedirect() through the hosted login page, fetchAuthSession, getCurrentUser, signOut", { timeout: TEST_TIMEOUT_MS * 2 }, async () => {
    const s = await openApp();
    await check(s, "hosted", async ({ page, traffic }) => {
      const alice = user("alice");
      await loadApp(page);
      const nobody = await page.evaluate(() => window.currentUser());
      assert.equal(nobody.name, "UserUnAuthenticatedException", "nobody is signed in at first");

      await page.evaluate(() => window.signIn());
      await hostedLoginShown(page);
      const q = authorizeRequest(traffic);
      assert.equal(q.get("client_id"), clientId);
      assert.equal(q.get("response_type"), "code");
      assert.equal(q.get("redirect_uri"), `${app.origin}/`);
      assert.equal(q.get("identity_provider"), "COGNITO");
      assert.equal(q.get("code_challenge_method"), "S256", "Amplify sends a PKCE S256 challenge");
      assert.deepEqual(q.get("scope").split(" ").sort(), [...tb.info.hosted_ui.scopes].sort());
      assert.ok(q.get("state") && q.get("code_challenge"));
      await page.locator("input[name=username]").fill(alice.username);
      await page.locator("input[name=password]").fill(alice.password);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await redirectCompleted(page);
      assert.ok(
        traffic.some((t) => t.method === "POST" && t.path === `${domainPath()}/oauth2/token` && t.status === 200),
        "Amplify redeemed the code at the domain's token endpoint",
      );

      const { id, access } = await signedInAs(page);
      assert.equal(id["cognito:username"], "alice");
      assert.equal(access.username, "alice");
      assert.equal(id.email, alice.email);
      assert.equal(id.identities, undefined, "a password sign-in of a user never federated: no identities");
      await signsOut(s);
    });
  });

  test("signInWithRedirect({ provider: { custom: 'DemoSAML' } }) signs in the user the demo links", { timeout: TEST_TIMEOUT_MS * 2 }, async () => {
    const s = await openApp();
    await check(s, "saml-linked", async ({ page, traffic }) => {
      const erin = user("erin");
      assert.equal(erin.expect, "linked");
      const { id, access } = await samlSignIn(s, erin);
      // The SAML identity is linked to the pool user erin: her tokens, with the identity.
      assert.equal(id["cognito:username"], "erin");
      assert.equal(access.username, "erin");
      assert.equal(id.email, erin.email);
      assertIdentity(id, erin);
      assert.ok(traffic.some((t) => t.method === "POST" && t.path === `${domainPath()}/saml2/idpresponse` && t.status === 302));
      await signsOut(s);
    });
  });

  test("signInWithRedirect({ provider: { custom: 'DemoSAML' } }) makes the federated user of one not linked", { timeout: TEST_TIMEOUT_MS * 2 }, async () => {
    const s = await openApp();
    await check(s, "saml-federated", async () => {
      const carol = user("carol");
      assert.equal(carol.expect, "unlinked");
      const { id, access } = await samlSignIn(s, carol);
      const name = `${tb.info.hosted_ui.saml_provider}_${carol.upstream_username}`;
      assert.equal(id["cognito:username"], name, "Cognito's name for a federated user: <provider>_<NameID>");
      assert.equal(access.username, name);
      assert.equal(id.email, carol.email, "email from the assertion, by the provider's AttributeMapping");
      assertIdentity(id, carol);
      await signsOut(s);
    });
  });

  function assertIdentity(id, u) {
    assert.ok(Array.isArray(id.identities), `identities in the id token: ${JSON.stringify(id)}`);
    const entry = id.identities.find((e) => e.providerName === tb.info.hosted_ui.saml_provider);
    assert.ok(entry, `an identity of ${tb.info.hosted_ui.saml_provider}: ${JSON.stringify(id.identities)}`);
    assert.equal(entry.providerType, "SAML");
    assert.equal(entry.userId, u.upstream_username, "the NameID");
    assert.equal(entry.issuer, tb.info.saml_idp.entity_id);
  }

  /** The SAML round trip from the app: Amplify's authorize, the IdP's login page, the ACS. */
  async function samlSignIn(s, u) {
    const { page, traffic } = s;
    const provider = tb.info.hosted_ui.saml_provider;
    await loadApp(page);
    await page.evaluate((custom) => window.signIn({ provider: { custom } }), provider);
    await page.waitForURL((url) => url.origin === demoOrigin() && url.pathname.startsWith("/demo-idp/saml"), { timeout: WAIT_MS });
    const q = authorizeRequest(traffic);
    assert.equal(q.get("identity_provider"), provider, "Amplify names the provider");
    assert.equal(q.get("client_id"), clientId);
    const login = page.locator("form[action*='/saml/login']");
    await login.locator("input[name=username]").fill(u.upstream_username);
    await login.locator("input[name=password]").fill(u.upstream_password);
    await login.getByRole("button", { name: "Log In" }).click();
    await redirectCompleted(page);
    return signedInAs(page);
  }
});
