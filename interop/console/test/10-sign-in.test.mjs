// Login methods 2 to 4 end to end, as a person clicks through them: CUSTOM_AUTH answered with the
// upstream provider's token, the token exchange, and the user-pool API with SRP and with a plain
// password; each ends with tokens whose signatures the page checked against the JWKS. Method 1,
// the hosted UI, is in 15-hosted-ui.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { demo, demoUser, eventually, inSession, launchBrowser, shot, TEST_TIMEOUT_MS } from "../lib/harness.mjs";
import {
  assertStepsOk,
  assertTokensVerified,
  chooseMethod,
  litParties,
  openConsole,
  signInWithExchange,
  signInWithPassword,
  statusText,
  steps,
  tokenNames,
  upstreamSignIn,
  waitForNewStep,
  waitForTokens,
} from "../lib/console.mjs";

const POOL_JWKS = `/${demo.cognito.user_pool_id}/.well-known/jwks.json`;
const BROKER_JWKS = "/.well-known/jwks.json";

describe("sign-in methods", { timeout: TEST_TIMEOUT_MS * 5 }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test("method 4, USER_SRP_AUTH (alice): tokens verified, then refresh", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "password-srp", async ({ page }) => {
      await openConsole(page);
      await signInWithPassword(page, demoUser("alice"), { srp: true });

      const names = await tokenNames(page);
      for (const n of ["IdToken", "AccessToken", "RefreshToken"]) assert.ok(names.includes(n), `card ${n} in ${names}`);
      await assertTokensVerified(page, POOL_JWKS);

      const list = await assertStepsOk(page);
      assert.ok(list.some((s) => s.text.includes("USER_SRP_AUTH")), "a step sends AuthFlow USER_SRP_AUTH");
      assert.ok(list.some((s) => s.text.includes("PASSWORD_VERIFIER")), "a step answers PASSWORD_VERIFIER");
      assert.ok(!list.some((s) => s.from === "upstream" || s.to === "upstream"), "no step involves the upstream");

      const lit = await litParties(page);
      assert.ok(lit.includes("browser") && lit.includes("tokenbridge"), `browser and tokenbridge lit: ${lit}`);
      assert.ok(!lit.includes("upstream"), `upstream not lit: ${lit}`);
      assert.ok(await statusText(page), "#status says what happened");
      for (const b of ["#refresh", "#revoke", "#sign-out"]) assert.ok(await page.locator(b).isEnabled(), `${b} enabled`);
      await shot(page, "01-password-tokens");

      const before = list.length;
      await page.locator("#refresh").click();
      await waitForNewStep(page, before, /REFRESH/);
      await waitForTokens(page);
      await assertTokensVerified(page, POOL_JWKS);
      await assertStepsOk(page);
    }),
  );

  test("method 4, USER_PASSWORD_AUTH (bob): tokens verified", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "password-plain", async ({ page }) => {
      await openConsole(page);
      await signInWithPassword(page, demoUser("bob"), { srp: false });
      await assertTokensVerified(page, POOL_JWKS);
      const list = await assertStepsOk(page);
      assert.ok(list.some((s) => s.text.includes("USER_PASSWORD_AUTH")), "a step sends AuthFlow USER_PASSWORD_AUTH");
      assert.ok(!list.some((s) => s.text.includes("PASSWORD_VERIFIER")), "no SRP challenge");
    }),
  );

  test("method 2, CUSTOM_AUTH through the demo provider's login and consent (alice)", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "custom-auth", async ({ page }) => {
      await openConsole(page);
      await chooseMethod(page, "custom-auth");
      // The pool username is left empty: the page derives it from the upstream email.
      await page.locator("#custom-username").fill("");
      await eventually("a provider to pick", async () => (await page.locator("#custom-provider option").count()) >= 1);
      await page.locator("#custom-auth-form button[type=submit]").click();
      await upstreamSignIn(page, demoUser("alice"), { onLogin: () => shot(page, "02a-upstream-login") });

      const names = await waitForTokens(page);
      for (const n of ["IdToken", "AccessToken", "RefreshToken"]) assert.ok(names.includes(n), `card ${n} in ${names}`);
      await assertTokensVerified(page, POOL_JWKS);
      const list = await assertStepsOk(page);
      assert.ok(list.some((s) => s.text.includes("CUSTOM_AUTH")), "a step sends AuthFlow CUSTOM_AUTH");
      assert.ok(list.some((s) => s.from === "upstream" || s.to === "upstream"), "the upstream round trip is a step");
      await shot(page, "02-custom-auth-flow");
    }),
  );

  test("method 3, POST /auth/exchange through the demo provider (bob): refresh, revoke", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "exchange", async ({ page }) => {
      await openConsole(page);
      await signInWithExchange(page, demoUser("bob"));
      await assertTokensVerified(page, BROKER_JWKS);
      let list = await assertStepsOk(page);
      assert.ok(list.some((s) => s.text.includes("/auth/exchange")), "a step is POST /auth/exchange");
      assert.ok(list.some((s) => s.from === "upstream" || s.to === "upstream"), "the upstream round trip is a step");
      await shot(page, "03-exchange");

      await page.locator("#refresh").click();
      await waitForNewStep(page, list.length, /refresh_token/);
      await waitForTokens(page);
      await assertTokensVerified(page, BROKER_JWKS);

      list = await steps(page);
      await page.locator("#revoke").click();
      await waitForNewStep(page, list.length, /revoke/i);
      await assertStepsOk(page);
      await eventually("refresh turned off after the revocation", () => page.locator("#refresh").isDisabled());
      assert.match(await page.locator("#tokens").innerText(), /none \(revoked or not issued\)/);
    }),
  );
});
