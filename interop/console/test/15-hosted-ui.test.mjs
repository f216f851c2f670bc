// Method 1, "Cognito standard sign-in (hosted UI, SSO through SAML)", as a person clicks through
// it: the console sends the browser to the demo pool's hosted sign-in (authorization code with
// PKCE), bob signs in there with his pool password, and back on the console the code is redeemed
// at the pool domain's /oauth2/token and UserInfo read; the tokens are the pool's, their
// signatures verified with its JWKS. A second sign-in rides the hosted session (no password);
// Sign out ends it through /logout, and the next sign-in asks again. The sign-in page offers the
// pool's SAML provider.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { demo, demoUser, inSession, launchBrowser, shot, TEST_TIMEOUT_MS, WAIT_MS } from "../lib/harness.mjs";
import {
  assertStepsOk,
  assertTokensVerified,
  HOSTED_AUTHORIZE,
  openConsole,
  signInWithHostedUi,
  statusText,
  steps,
  tokenCard,
  isIdToken,
  waitForTokens,
} from "../lib/console.mjs";

const hosted = demo.hosted_ui;

describe("method 1: the hosted UI", { timeout: TEST_TIMEOUT_MS * 3 }, () => {
  let browser;
  before(async () => {
    assert.ok(hosted?.client_id && hosted?.domain, "demo.json has hosted_ui: the demo pool has a hosted sign-in");
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test("bob signs in on the hosted page; SSO on the next sign-in; sign out ends it", { timeout: TEST_TIMEOUT_MS * 2 }, () =>
    inSession(browser, "hosted-ui", async ({ page, responses }) => {
      await openConsole(page);
      assert.ok(await page.locator("input[name=method][value=hosted]").isChecked(), "the hosted UI is the first, checked method");
      await page.locator("#hosted-form").waitFor({ state: "visible" });
      const label = await page.locator("label", { has: page.locator("input[value=hosted]") }).innerText();
      assert.match(label, /Cognito standard sign-in \(hosted UI, SSO through SAML\)/);
      const options = await page.locator("#hosted-provider option").evaluateAll((o) => o.map((x) => x.value));
      assert.deepEqual(options, ["", hosted.saml_provider], "the chooser, or straight to the SAML provider");

      // The hosted page offers the password and the SAML provider.
      const bob = demoUser("bob");
      await page.locator("#hosted-form button[type=submit]").click();
      await page.waitForURL((u) => u.pathname === HOSTED_AUTHORIZE, { timeout: WAIT_MS });
      const query = new URL(page.url()).searchParams;
      assert.equal(query.get("client_id"), hosted.client_id);
      assert.equal(query.get("redirect_uri"), hosted.redirect_uri);
      assert.equal(query.get("code_challenge_method"), "S256");
      await page.getByRole("link", { name: `Sign in with ${hosted.saml_provider}` }).waitFor({ state: "visible" });
      await page.goBack();
      await page.waitForURL((u) => u.pathname.startsWith("/console"), { timeout: WAIT_MS });

      await signInWithHostedUi(page, bob);
      assert.match(await statusText(page), /Signed in as bob \(hosted sign-in/);
      await assertTokensVerified(page, `/${demo.cognito.user_pool_id}/.well-known/jwks.json`);
      const iss = await tokenCard(page, isIdToken).locator("[data-field=iss]").innerText();
      assert.equal(iss.trim(), demo.cognito.issuer, "the pool's tokens");
      const list = await assertStepsOk(page);
      for (const re of [/GET \/oauth2\/authorize/, /Back at the callback/, /POST \/oauth2\/token \(authorization_code/, /GET \/oauth2\/userInfo/]) {
        assert.ok(list.some((s) => re.test(s.summary)), `a step ${re}: ${list.map((s) => s.summary).join(" | ")}`);
      }
      assert.ok(!page.url().includes("code="), "the code is gone from the address bar");
      await shot(page, "10-hosted-ui-tokens");

      // SSO: signing in again goes through authorize and back, no sign-in page.
      const seen = responses.length;
      const redeemed = page.waitForResponse((r) => r.url().endsWith("/oauth2/token") && r.request().method() === "POST");
      await page.locator("#hosted-form button[type=submit]").click();
      assert.equal((await redeemed).status(), 200, "the code redeemed");
      await waitForTokens(page);
      const authorize = responses.slice(seen).filter((r) => new URL(r.url).pathname === HOSTED_AUTHORIZE);
      assert.deepEqual(authorize.map((r) => r.status), [302], "authorize answered with the code at once");
      assert.match(await statusText(page), /Signed in as bob/);

      // Sign out: the refresh token revoked, /logout, back here; the next sign-in asks again.
      await page.locator("#sign-out").click();
      await page.waitForFunction(() => /Signed out/.test(document.querySelector("#status")?.textContent ?? ""), null, { timeout: WAIT_MS });
      const after = await steps(page);
      assert.ok(after.some((s) => /GET \/logout/.test(s.summary)), "the logout step is shown");
      await page.locator("#hosted-form button[type=submit]").click();
      await page.waitForURL((u) => u.pathname === HOSTED_AUTHORIZE, { timeout: WAIT_MS });
      await page.locator("input[name=password]").waitFor({ state: "visible" });
    }),
  );
});
