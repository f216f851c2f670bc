// The console in Firefox (Debian's Firefox ESR through puppeteer-core, lib/firefox.mjs): the same
// page must work in current Chromium and Firefox. alice signs in with SRP (BigInt arithmetic and
// WebCrypto in Firefox) and the page checks her tokens' signatures; the misconfigured identity
// pool's GraphQL call (SigV4 signed in the page) is refused and explained; then a sign-in through
// the upstream provider's login and consent pages and the token exchange. Not skipped when
// Firefox is missing: it fails, saying how to install it (scripts/test does).

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { consoleUrl, demo, demoUser, eventually, runSession, TEST_TIMEOUT_MS } from "../lib/harness.mjs";
import { httpStatus, isAccessToken } from "../lib/console.mjs";
import { innerText, launchFirefox, openFirefoxSession } from "../lib/firefox.mjs";

/** Opens /console and waits until the page's module has run (the identity pools are listed). */
async function openConsole(page) {
  const response = await page.goto(consoleUrl, { waitUntil: "load" });
  assert.equal(response.status(), 200, `GET ${consoleUrl}`);
  await eventually("the page's settings are loaded", () =>
    page.evaluate(() => document.querySelectorAll("#identity-pool option").length > 0),
  );
}

async function chooseMethod(page, method) {
  await page.locator(`input[name=method][value=${method}]`).click();
  await page.waitForSelector(`#${method}-form`, { visible: true });
}

/** The names on the token cards once an access token is shown; a failed step fails at once. */
async function waitForTokens(page) {
  return eventually("the tokens section shows an AccessToken card", async () => {
    const { names, failed } = await page.evaluate(() => ({
      names: [...document.querySelectorAll("#tokens article.token h3")].map((h) => h.textContent.trim()),
      failed: document.querySelector("#steps > li:has(.status-bad)")?.innerText ?? null,
    }));
    if (failed) throw new Error(`a step failed: ${failed.slice(0, 600)}`);
    return names.some(isAccessToken) ? names : null;
  });
}

/** Waits until every JWKS check on the token cards says "signature verified"; returns them. */
async function waitForVerified(page) {
  return eventually("every token card: signature verified", async () => {
    const checks = await page.$$eval("#tokens .jwks-check", (els) => els.map((e) => e.textContent.trim()));
    return checks.length >= 2 && checks.every((c) => /signature verified/i.test(c)) ? checks : null;
  });
}

/** Clicks an API button; returns #api-result's text once it changed and shows an HTTP status. */
async function callApi(page, button) {
  const before = await innerText(page, "#api-result");
  await page.locator(button).click();
  return eventually(`${button}: #api-result shows the answer`, async () => {
    const text = await innerText(page, "#api-result");
    return text !== before && /\b[1-5]\d\d\b/.test(text) ? text : null;
  });
}

describe("Firefox", { timeout: TEST_TIMEOUT_MS * 3 }, () => {
  // Started by the first test, not in a before() hook: without Firefox, each test then fails
  // with launchFirefox's message (a failed hook only says "cancelled" in the JUnit report).
  let launched;
  const firefox = () => (launched ??= launchFirefox());
  after(async () => {
    await (await launched?.catch(() => null))?.close();
  });

  test("harness: Firefox's console errors and uncaught exceptions fail a test; a refused fetch logs nothing", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const s = await openFirefoxSession(await firefox(), "firefox-harness");
    try {
      await openConsole(s.page);
      s.expectStatus(404, /^\/console\/no-such-file\.js$/);
      const status = await s.page.evaluate(async () => (await fetch("/console/no-such-file.js")).status);
      assert.equal(status, 404);
      await new Promise((r) => setTimeout(r, 250));
      t.diagnostic(`a refused fetch: tolerated ${JSON.stringify(s.tolerated)}, console messages ${JSON.stringify(s.messages)}`);
      await s.page.evaluate(() => {
        console.error("harness probe: console.error");
        setTimeout(() => {
          throw new Error("harness probe: uncaught");
        }, 0);
        Promise.reject(new Error("harness probe: unhandled rejection"));
      });
      await eventually("Firefox reported the console.error probe", () => s.messages.length >= 1);
    } catch (err) {
      await s.abandon();
      throw err;
    }
    await assert.rejects(s.finish(), (err) => {
      for (const probe of ["console.error", "uncaught", "unhandled rejection"]) {
        assert.match(err.message, new RegExp(`harness probe: ${probe}`), `the ${probe} probe fails the test`);
      }
      return true;
    });
  });

  test("alice, SRP: tokens verified; GraphQL through the misconfigured identity pool denied and explained", { timeout: TEST_TIMEOUT_MS }, async (t) =>
    runSession(await openFirefoxSession(await firefox(), "firefox-srp-denied"), async (s) => {
      const { page } = s;
      t.diagnostic(`browser: ${await (await firefox()).version()}`);
      const alice = demoUser("alice");
      await openConsole(page);
      await chooseMethod(page, "password");
      await page.locator("#client-id").fill(demo.cognito.client_id);
      await page.locator("#username").fill(alice.username);
      await page.locator("#password").fill(alice.password);
      if (!(await page.$eval("#use-srp", (e) => e.checked))) await page.locator("#use-srp").click();
      assert.ok(await page.$eval("#use-srp", (e) => e.checked && !e.disabled), "#use-srp is checked (127.0.0.1 is a secure context)");
      await page.locator("#password-form button[type=submit]").click();
      const names = await waitForTokens(page);
      for (const n of ["IdToken", "AccessToken", "RefreshToken"]) assert.ok(names.includes(n), `card ${n} in ${names}`);
      await waitForVerified(page);
      const steps = await page.$$eval("#steps > li", (lis) => lis.map((li) => li.textContent));
      assert.ok(steps.some((x) => x.includes("PASSWORD_VERIFIER")), "a step answers PASSWORD_VERIFIER (SRP)");

      // The misconfigured pool's role allows only "otherapi", not the demo's GraphQL API.
      s.expectStatus([401, 403], /^\/demo\/graphql$/);
      const pools = await page.$$eval("#identity-pool option", (os) => os.map((o) => o.value));
      assert.ok(pools.length >= 2, `two identity pools to pick: ${pools}`);
      await page.select("#identity-pool", pools[1]);
      const text = await callApi(page, "#call-graphql");
      assert.ok([401, 403].includes(httpStatus(text)), `GraphQL through the misconfigured pool is refused: ${text}`);
      await page.waitForSelector("#api-denial", { visible: true });
      const explanation = await eventually("the denial is explained", async () => {
        const e = (await innerText(page, "#api-denial .explanation")).trim();
        return e || null;
      });
      const requestId = (await innerText(page, "#api-denial [data-field=request-id]")).trim();
      assert.ok(requestId && requestId !== "(none)", `the denial shows its request id: ${requestId}`);
      assert.match(explanation, /otherapi/, `the explanation names the policy's API: ${explanation}`);
      assert.ok(
        s.responses.some((r) => new URL(r.url).pathname === "/demo/graphql" && [401, 403].includes(r.status)),
        "the page received the refusal",
      );
      await page.$eval("#api-denial", (e) => e.scrollIntoView());
      await s.screenshot("firefox-denied");
      t.diagnostic(`refusals tolerated in Firefox's console: ${s.tolerated.length ? s.tolerated.join(", ") : "none (Firefox logs none)"}`);
      t.diagnostic(`console messages: ${s.messages.length ? s.messages.join(" | ") : "none"}`);
    }),
  );

  test("alice, token exchange through the demo provider's login and consent", { timeout: TEST_TIMEOUT_MS }, async (t) =>
    runSession(await openFirefoxSession(await firefox(), "firefox-exchange"), async (s) => {
      const { page } = s;
      const alice = demoUser("alice");
      await openConsole(page);
      await chooseMethod(page, "exchange");
      await page.locator("#exchange-form button[type=submit]").click();

      await eventually("the demo provider's login page", () =>
        new URL(page.url()).pathname.startsWith("/demo-idp/authorize"),
      );
      const login = "form[action$='/demo-idp/authorize/login']";
      await page.locator(`${login} input[name=username]`).fill(alice.upstream_username);
      await page.locator(`${login} input[name=password]`).fill(alice.upstream_password);
      await page.locator("#login").click();
      await page.locator("#allow").click();
      await eventually("back on /console", () => new URL(page.url()).pathname.startsWith("/console"));

      const names = await waitForTokens(page);
      assert.ok(names.some(isAccessToken), `an AccessToken card: ${names}`);
      await waitForVerified(page);
      const steps = await page.$$eval("#steps > li", (lis) => lis.map((li) => li.textContent));
      assert.ok(steps.some((x) => x.includes("/auth/exchange")), "a step is POST /auth/exchange");
      await s.screenshot("firefox-exchange");
      t.diagnostic(`tolerated: ${s.tolerated.join(", ") || "none"}`);
      t.diagnostic(`console messages: ${s.messages.length ? s.messages.join(" | ") : "none"}`);
    }),
  );
});
