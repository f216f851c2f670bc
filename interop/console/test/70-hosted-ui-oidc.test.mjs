// A standard OIDC client, oidc-client-ts unmodified, signs in through the demo pool's hosted UI in
// Chromium, from a page on its own origin (a second loopback port), as a single-page app signs in
// with Cognito: discovery from the pool's OpenID configuration, the authorization-code flow with
// PKCE through the hosted sign-in page (a seeded user's password), the code redeemed and UserInfo
// read by the page itself (cross-origin, answered with CORS), then:
//   - SSO: a second app client signs in without a password (the hosted sign-in session);
//   - logout: /logout with client_id and logout_uri ends that session, so the next authorize
//     shows the sign-in page again.
// The id token's signature is checked here against the pool's JWKS. The two app clients are made
// for the page's origin through the Cognito API (CreateUserPoolClient, SigV4 with the demo's admin
// credentials) and deleted afterwards.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import { base, demo, demoUser, launchBrowser, plain, shot, TEST_TIMEOUT_MS, VIEWPORT, WAIT_MS } from "../lib/harness.mjs";
import { createHostedClient, deleteClient } from "../lib/cognito-admin.mjs";
import { verifiedClaims } from "../lib/jwt.mjs";

const LIBRARY = readFileSync(new URL("../node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js", import.meta.url));

const hosted = demo.hosted_ui;
assert.ok(hosted?.discovery_url, "demo.json has hosted_ui.discovery_url: the demo serves a hosted sign-in");

/** The app: the library's browser build and a UserManager per app client, as its docs set one up. */
function page(appOrigin) {
  const settings = {
    authority: demo.cognito.issuer,
    metadataUrl: hosted.discovery_url,
    redirect_uri: `${appOrigin}/callback`,
    response_type: "code",
    scope: hosted.scopes.join(" "),
    loadUserInfo: true,
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>An OIDC app on its own origin</title>
<link rel="icon" href="data:,">
<script src="/oidc-client-ts.min.js"></script>
<script>
const SETTINGS = ${JSON.stringify(settings)};
window.manager = (clientId) => new oidc.UserManager({
  ...SETTINGS, client_id: clientId, userStore: new oidc.WebStorageStateStore({ store: window.localStorage }),
});
window.signIn = (clientId) => { window.manager(clientId).signinRedirect().catch((e) => { window.failure = String(e); }); };
window.complete = async (clientId) => {
  try {
    const u = await window.manager(clientId).signinRedirectCallback();
    return { ok: true, profile: u.profile, id_token: u.id_token, access_token: u.access_token,
      refresh: !!u.refresh_token, scope: u.scope, token_type: u.token_type };
  } catch (e) {
    return { ok: false, error: String(e && e.message || e) };
  }
};
window.signOut = (clientId) => {
  window.manager(clientId)
    .signoutRedirect({ extraQueryParams: { client_id: clientId, logout_uri: location.origin + "/" } })
    .catch((e) => { window.failure = String(e); });
};
</script></head><body><h1>app</h1></body></html>`;
}

async function serveApp() {
  let origin;
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/" || path === "/callback") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(origin));
    } else if (path === "/oidc-client-ts.min.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(LIBRARY);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => new Promise((r) => server.close(r)) };
}

/** Where the browser went on the hosted domain: each response's path and status. */
function hostedTraffic(page) {
  const seen = [];
  const prefix = new URL(hosted.domain_url).pathname;
  page.on("response", (r) => {
    const u = new URL(r.url());
    if (u.origin === new URL(base).origin && u.pathname.startsWith(prefix)) {
      seen.push({ path: u.pathname.slice(prefix.length), status: r.status(), method: r.request().method() });
    }
  });
  return seen;
}

async function backAtCallback(page, appOrigin, clientId) {
  await page.waitForURL((u) => u.origin === appOrigin && u.pathname === "/callback", { timeout: WAIT_MS });
  const result = await page.evaluate((id) => window.complete(id), clientId);
  assert.ok(result.ok, `signinRedirectCallback: ${result.error}`);
  return result;
}

async function signInPageShown(page) {
  await page.waitForURL((u) => u.pathname.endsWith("/oauth2/authorize"), { timeout: WAIT_MS });
  await page.locator("input[name=password]").waitFor({ state: "visible" });
}

describe("oidc-client-ts through the hosted UI, from a page on its own origin", { timeout: TEST_TIMEOUT_MS * 3 }, () => {
  let browser;
  let app;
  let clients = [];
  let jwks;
  before(async () => {
    app = await serveApp();
    browser = await launchBrowser();
    clients = [await createHostedClient("oidc app A", app.origin), await createHostedClient("oidc app B", app.origin)];
    const discovery = await (await fetch(hosted.discovery_url)).json();
    jwks = await (await fetch(discovery.jwks_uri)).json();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    for (const c of clients) await deleteClient(c).catch(() => {});
  });

  test("the pool's OpenID configuration advertises the hosted endpoints", async () => {
    const r = await fetch(hosted.discovery_url, { headers: { origin: app.origin } });
    assert.equal(r.status, 200);
    const d = await r.json();
    assert.equal(d.issuer, demo.cognito.issuer);
    for (const [k, path] of [
      ["authorization_endpoint", "/oauth2/authorize"],
      ["token_endpoint", "/oauth2/token"],
      ["userinfo_endpoint", "/oauth2/userInfo"],
      ["end_session_endpoint", "/logout"],
    ]) {
      assert.equal(d[k], `${hosted.domain_url}${path}`, k);
    }
    assert.deepEqual(d.code_challenge_methods_supported, ["S256"]);
  });

  test("code + PKCE with alice's password, SSO on a second client, logout", { timeout: TEST_TIMEOUT_MS * 2 }, async () => {
    // A context of its own (the console harness's session holds pages to the demo's origin).
    const context = await browser.newContext({ viewport: VIEWPORT, locale: "en-US" });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    const errors = [];
    page.on("console", (m) => m.type() === "error" && errors.push(`console error: ${m.text()}`));
    page.on("pageerror", (e) => errors.push(`uncaught exception: ${e?.stack || e}`));
    try {
      const [a, b] = clients;
      const alice = demoUser("alice");
      const traffic = hostedTraffic(page);
      const userinfo = [];
      page.on("response", (r) => r.url().endsWith("/oauth2/userInfo") && r.request().method() === "GET" && userinfo.push(r.status()));

      // The app's own origin, not the demo's: every call to the pool is cross-origin.
      assert.notEqual(app.origin, new URL(base).origin);
      await page.goto(`${app.origin}/`);
      await page.waitForFunction(() => typeof window.oidc === "object" && typeof window.signIn === "function");
      await page.evaluate((id) => window.signIn(id), a);
      await signInPageShown(page);
      const authorize = new URL(page.url()).searchParams;
      assert.equal(authorize.get("code_challenge_method"), "S256", "oidc-client-ts sends a PKCE S256 challenge");
      assert.ok(authorize.get("code_challenge"), "and the challenge");
      await page.locator("input[name=username]").fill(alice.username);
      await page.locator("input[name=password]").fill(alice.password);
      await page.getByRole("button", { name: "Sign in" }).click();
      const first = await backAtCallback(page, app.origin, a);

      const id = verifiedClaims(first.id_token, jwks);
      assert.equal(id.iss, demo.cognito.issuer);
      assert.equal(id.aud, a);
      assert.equal(id.token_use, "id");
      assert.equal(id["cognito:username"], "alice");
      assert.equal(id.email, alice.email);
      assert.ok(id.exp > Date.now() / 1000, "not expired");
      const access = verifiedClaims(first.access_token, jwks);
      assert.equal(access.token_use, "access");
      assert.equal(access.client_id, a);
      assert.deepEqual(access.scope.split(" ").sort(), [...hosted.scopes].sort());
      assert.ok(first.refresh, "a refresh token");
      assert.equal(first.token_type.toLowerCase(), "bearer");
      // UserInfo, read by the library with the access token: its claims merged into the profile.
      assert.deepEqual(userinfo, [200], "UserInfo answered the page once");
      assert.equal(first.profile.email, alice.email);
      assert.equal(first.profile.sub, id.sub);
      assert.equal(first.profile.username ?? first.profile["cognito:username"], "alice");

      // SSO: the second client's authorize answers with a code at once, no sign-in page.
      await page.goto(`${app.origin}/`);
      await page.waitForFunction(() => typeof window.signIn === "function");
      const before = traffic.length;
      await page.evaluate((id) => window.signIn(id), b);
      const second = await backAtCallback(page, app.origin, b);
      const sso = traffic.slice(before);
      assert.deepEqual(sso.map((t) => `${t.method} ${t.path} ${t.status}`).filter((t) => !t.includes("/oauth2/token") && !t.includes("/oauth2/userInfo")),
        ["GET /oauth2/authorize 302"], "only a redirect with the code: no sign-in page");
      const idB = verifiedClaims(second.id_token, jwks);
      assert.equal(idB.aud, b);
      assert.equal(idB["cognito:username"], "alice");

      // Logout: back to the app's logout_uri, and the sign-in session is over.
      await page.evaluate((id) => window.signOut(id), a);
      await page.waitForURL((u) => u.origin === app.origin && u.pathname === "/", { timeout: WAIT_MS });
      assert.ok(traffic.some((t) => t.path === "/logout" && t.status === 302), "GET /logout redirected back");
      await page.waitForFunction(() => typeof window.signIn === "function");
      await page.evaluate((id) => window.signIn(id), b);
      await signInPageShown(page);
      assert.equal(await page.locator("input[name=username]").inputValue(), "", "nobody is signed in there");
      assert.equal(await page.evaluate(() => window.failure ?? null), null, "no library call failed");
      assert.deepEqual(errors, [], "no console error, no uncaught exception (a CORS refusal would be one)");
    } catch (err) {
      await shot(page, "failed-hosted-ui-oidc").catch(() => {});
      throw plain(err);
    } finally {
      await context.close();
    }
  });
});
