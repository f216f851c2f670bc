// A browser app on its own origin signs in with amazon-cognito-identity-js, unmodified, in
// Chromium: the page is served from a second loopback origin (another port), loads the
// library's browser build, and runs its default USER_SRP_AUTH against the demo's Cognito door
// (InitiateAuth and RespondToAuthChallenge, each a cross-origin POST behind a preflight). That
// works only because the door answers CORS as cognito-idp does (aws.cors_allowed_origins,
// default "*").
//
// The disallowed configuration: a second demo started here with TOKENBRIDGE_AWS_CORS_ORIGINS set
// to another origin. The same page's sign-in fails there with the library's NetworkError and
// Chromium's CORS message, while the same call made without a browser (no CORS) succeeds: the
// browser, told by the server, is what refuses. The second demo is the release binary
// (TOKENBRIDGE_BIN, default target/release/tokenbridge, which scripts/test builds first).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";

import { startDemo } from "../lib/demo-process.mjs";
import { base, demo, demoUser, launchBrowser, plain, TEST_TIMEOUT_MS, VIEWPORT, WAIT_MS } from "../lib/harness.mjs";

const require = createRequire(import.meta.url);
const LIBRARY = readFileSync(require.resolve("amazon-cognito-identity-js/dist/amazon-cognito-identity.min.js"));

// The app: the library's UMD build, and a sign-in that reports what the library called back.
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A browser app on its own origin</title>
<link rel="icon" href="data:,">
<script src="/amazon-cognito-identity.min.js"></script>
<script>
window.signIn = ({ endpoint, poolId, clientId, username, password }) => new Promise((resolve) => {
  const Pool = new AmazonCognitoIdentity.CognitoUserPool({ UserPoolId: poolId, ClientId: clientId, endpoint });
  const user = new AmazonCognitoIdentity.CognitoUser({ Username: username, Pool });
  const details = new AmazonCognitoIdentity.AuthenticationDetails({ Username: username, Password: password });
  user.authenticateUser(details, {
    onSuccess: (s) => resolve({ ok: true, id: s.getIdToken().decodePayload(), access: s.getAccessToken().decodePayload() }),
    onFailure: (e) => resolve({ ok: false, code: e.code, name: e.name, message: e.message }),
  });
});
</script></head><body><h1>app</h1></body></html>`;

/** Serves the app on 127.0.0.1 (a port of its own: another origin than the demo's). */
async function serveApp() {
  const server = createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
    } else if (req.url === "/amazon-cognito-identity.min.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(LIBRARY);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

/** The page at `appOrigin` in a fresh context; the console messages it logs are collected. */
async function openApp(browser, appOrigin) {
  const context = await browser.newContext({ viewport: VIEWPORT, locale: "en-US" });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const consoleErrors = [];
  const pageErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => pageErrors.push(String(e?.stack || e)));
  const r = await page.goto(`${appOrigin}/`, { waitUntil: "load" });
  assert.equal(r.status(), 200);
  await page.waitForFunction(() => typeof window.AmazonCognitoIdentity === "object" && typeof window.signIn === "function");
  return { page, context, consoleErrors, pageErrors };
}

const signIn = (page, info, user) =>
  page.evaluate((args) => window.signIn(args), {
    endpoint: `${info.base_url.replace(/\/+$/, "")}/`,
    poolId: info.cognito.user_pool_id,
    clientId: info.cognito.client_id,
    username: user.username,
    password: user.password,
  });

describe("amazon-cognito-identity-js in a browser app on its own origin", { timeout: TEST_TIMEOUT_MS * 3 }, () => {
  let browser;
  let app;
  before(async () => {
    browser = await launchBrowser();
    app = await serveApp();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test("signs alice in across origins (USER_SRP_AUTH)", { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.notEqual(app.origin, new URL(base).origin, "the app is on an origin of its own");
    const s = await openApp(browser, app.origin);
    try {
      const alice = demoUser("alice");
      const result = await signIn(s.page, demo, alice);
      assert.equal(result.ok, true, `the sign-in failed: ${JSON.stringify(result)}; console: ${JSON.stringify(s.consoleErrors)}`);
      assert.equal(result.id["cognito:username"], "alice");
      assert.equal(result.id.iss, demo.cognito.issuer);
      assert.equal(result.id.aud, demo.cognito.client_id);
      assert.equal(result.access.token_use, "access");
      assert.deepEqual(s.consoleErrors, [], "no console error");
      assert.deepEqual(s.pageErrors, [], "no uncaught exception");
    } catch (err) {
      throw plain(err);
    } finally {
      await s.context.close();
    }
  });

  test("fails where the configuration does not allow the app's origin", { timeout: TEST_TIMEOUT_MS * 2 }, async () => {
    const other = await startDemo({ env: { TOKENBRIDGE_AWS_CORS_ORIGINS: "http://127.0.0.1:1" }, prefix: "tokenbridge-cors-" });
    const s = await openApp(browser, app.origin);
    try {
      const info = other.info;
      const alice = info.users.find((u) => u.username === "alice");
      const result = await signIn(s.page, info, alice);
      assert.equal(result.ok, false, "the browser let the page read an answer the server did not allow it");
      assert.equal(result.code, "NetworkError", JSON.stringify(result));
      assert.ok(
        s.consoleErrors.some((e) => e.includes("blocked by CORS policy") && e.includes(app.origin)),
        `Chromium names the CORS refusal: ${JSON.stringify(s.consoleErrors)}`,
      );

      // Without a browser the same sign-in works: only the CORS answer differs.
      const target = "AWSCognitoIdentityProviderService.InitiateAuth";
      const r = await fetch(`${info.base_url}/`, {
        method: "POST",
        headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target, origin: app.origin },
        body: JSON.stringify({
          AuthFlow: "USER_PASSWORD_AUTH",
          ClientId: info.cognito.client_id,
          AuthParameters: { USERNAME: "alice", PASSWORD: alice.password },
        }),
      });
      assert.equal(r.status, 200, await r.text());
      assert.equal(r.headers.get("access-control-allow-origin"), null, "no CORS for a disallowed origin");
      const pre = await fetch(`${info.base_url}/`, {
        method: "OPTIONS",
        headers: { origin: app.origin, "access-control-request-method": "POST", "access-control-request-headers": "x-amz-target" },
      });
      assert.equal(pre.headers.get("access-control-allow-origin"), null);
    } catch (err) {
      throw plain(err);
    } finally {
      await s.context.close();
      await other.stop();
    }
  });
});
