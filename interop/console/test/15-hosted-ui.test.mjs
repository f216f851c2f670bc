// Method 1, "Cognito standard sign-in (hosted UI, SSO through SAML)", as a person clicks through
// it: the console sends the browser to the demo pool's hosted sign-in (authorization code with
// PKCE), bob signs in there with his pool password, and back on the console the code is redeemed
// at the pool domain's /oauth2/token and UserInfo read; the tokens are the pool's, their
// signatures verified with its JWKS. A second sign-in rides the hosted session (no password);
// Sign out ends it through /logout, and the next sign-in asks again. The sign-in page offers the
// pool's SAML and OIDC providers. Through the SAML provider (the demo provider's SAML side, bob
// linked one to one), the flow view shows the round trip as the ACS step's audit trail tells it:
// the AuthnRequest's ID, destination and signing, the assertion's attributes as received, the
// IdP certificate that verified it and the user it mapped to. Through the OIDC provider's button
// on the sign-in page (the demo provider's login and consent), alice signs in as her linked user.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { demo, demoUser, inSession, launchBrowser, shot, TEST_TIMEOUT_MS, WAIT_MS } from "../lib/harness.mjs";
import {
  assertStepsOk,
  assertTokensVerified,
  chooseMethod,
  HOSTED_AUTHORIZE,
  openConsole,
  signInWithHostedUi,
  statusText,
  steps,
  tokenCard,
  isIdToken,
  upstreamSignIn,
  waitForTokens,
} from "../lib/console.mjs";

const hosted = demo.hosted_ui;

/** The id token's claims, as its card shows them. */
async function idTokenClaims(page) {
  const pre = tokenCard(page, isIdToken).locator("details", { hasText: "Claims" }).locator("pre");
  return JSON.parse(await pre.textContent());
}

/** The step whose summary matches `re`. */
function stepMatching(list, re) {
  const step = list.find((s) => re.test(s.summary));
  assert.ok(step, `a step ${re}: ${list.map((s) => s.summary).join(" | ")}`);
  return step;
}

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
      assert.deepEqual(options, ["", hosted.saml_provider, hosted.oidc_provider], "the chooser, or straight to a provider");

      // The hosted page offers the password and the SAML provider.
      const bob = demoUser("bob");
      await page.locator("#hosted-form button[type=submit]").click();
      await page.waitForURL((u) => u.pathname === HOSTED_AUTHORIZE, { timeout: WAIT_MS });
      const query = new URL(page.url()).searchParams;
      assert.equal(query.get("client_id"), hosted.client_id);
      assert.equal(query.get("redirect_uri"), hosted.redirect_uri);
      assert.equal(query.get("code_challenge_method"), "S256");
      await page.getByRole("link", { name: `Sign in with ${hosted.saml_provider}` }).waitFor({ state: "visible" });
      await page.getByRole("link", { name: `Sign in with ${hosted.oidc_provider}` }).waitFor({ state: "visible" });
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

  test("bob signs in through the SAML provider; the flow view shows the SAML round trip", () =>
    inSession(browser, "hosted-ui-saml", async ({ page }) => {
      assert.ok(demo.saml_idp?.sso_url, "demo.json has saml_idp");
      await openConsole(page);
      await chooseMethod(page, "hosted");
      await page.locator("#hosted-provider").selectOption(hosted.saml_provider);
      await page.locator("#hosted-form button[type=submit]").click();

      // Straight to the demo provider's SAML sign-in page (identity_provider skips the chooser);
      // its answer is posted to the ACS by the page's own script.
      const bob = demoUser("bob");
      await page.waitForURL((u) => u.pathname.startsWith("/demo-idp/saml/"), { timeout: WAIT_MS });
      await page.locator("input[name=username]").fill(bob.upstream_username);
      await page.locator("input[name=password]").fill(bob.upstream_password);
      await page.getByRole("button", { name: "Log In" }).click();
      await page.waitForURL((u) => u.pathname.startsWith("/console"), { timeout: WAIT_MS });
      await waitForTokens(page);
      assert.match(await statusText(page), /Signed in as bob \(hosted sign-in/);
      const claims = await idTokenClaims(page);
      assert.ok(claims.identities?.some((i) => i.providerName === hosted.saml_provider && i.providerType === "SAML"),
        `the id token names the SAML identity: ${JSON.stringify(claims.identities)}`);

      const list = await assertStepsOk(page);
      stepMatching(list, /GET \/console\/explain \(the token request's trail/);
      stepMatching(list, /GET \/console\/explain \(the trail of the sign-in, SamlResponse\)/);
      const authn = stepMatching(list, new RegExp(`From the audit trail: SAML AuthnRequest to ${hosted.saml_provider}`));
      assert.equal(authn.from, "tokenbridge");
      assert.equal(authn.to, "upstream");
      assert.match(authn.text, /AuthnRequest ID: _[0-9a-f]{40}/);
      assert.ok(authn.text.includes(`Destination: ${demo.saml_idp.sso_url}`), authn.text);
      assert.match(authn.text, /Signed: no \(unsigned\)/);
      const answer = stepMatching(list, /From the audit trail: SAML Response at POST \/saml2\/idpresponse/);
      assert.equal(answer.from, "upstream");
      assert.ok(answer.text.includes(`email = ["${bob.email}"]`), `the attributes as received: ${answer.text}`);
      assert.ok(answer.text.includes(`username = ["${bob.upstream_username}"]`), answer.text);
      assert.ok(answer.text.includes(`Verified with the IdP certificate sha256:${demo.saml_idp.certificate_fingerprint}`), answer.text);
      assert.match(answer.text, /Mapped user: .*linked to native user "bob"/);
      await shot(page, "11-hosted-ui-saml-round-trip");
    }),
  );

  test("alice signs in through the OIDC provider's button on the sign-in page", () =>
    inSession(browser, "hosted-ui-oidc-provider", async ({ page }) => {
      assert.ok(hosted.oidc_provider, "demo.json has hosted_ui.oidc_provider");
      await openConsole(page);
      await chooseMethod(page, "hosted");
      await page.locator("#hosted-provider").selectOption("");
      await page.locator("#hosted-form button[type=submit]").click();
      await page.waitForURL((u) => u.pathname === HOSTED_AUTHORIZE, { timeout: WAIT_MS });
      await page.getByRole("link", { name: `Sign in with ${hosted.oidc_provider}` }).click();

      // The demo provider's OIDC login and consent, then /oauth2/idpresponse, then back here.
      const alice = demoUser("alice");
      await upstreamSignIn(page, alice);
      await waitForTokens(page);
      assert.match(await statusText(page), /Signed in as alice \(hosted sign-in/);
      await assertTokensVerified(page, `/${demo.cognito.user_pool_id}/.well-known/jwks.json`);
      const claims = await idTokenClaims(page);
      assert.equal(claims["cognito:username"], "alice", "the linked native user");
      const oidc = claims.identities?.find((i) => i.providerName === hosted.oidc_provider);
      assert.ok(oidc, `the id token names the OIDC identity: ${JSON.stringify(claims.identities)}`);
      assert.equal(oidc.providerType, "OIDC");
      assert.equal(oidc.issuer, `${demo.base_url}/demo-idp`);

      const list = await assertStepsOk(page);
      const answer = stepMatching(list, /From the audit trail: the OIDC provider's answer at GET \/oauth2\/idpresponse/);
      assert.match(answer.text, /linked to native user "alice"/);
      assert.match(answer.text, /id token nonce = the one sent/);
      await shot(page, "12-hosted-ui-oidc-provider");
    }),
  );
});
