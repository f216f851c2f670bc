// The console page loads from the binary with no error, everything from this one origin, and the
// harness's console-error check itself: a declared refusal is tolerated, an undeclared one is not.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { base, consoleUrl, demo, launchBrowser, openSession, plain, TEST_TIMEOUT_MS } from "../lib/harness.mjs";
import { openConsole } from "../lib/console.mjs";

describe("console page", { timeout: TEST_TIMEOUT_MS * 2 }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test("loads with the method radios and the hosted sign-in first, no console error", { timeout: TEST_TIMEOUT_MS }, async () => {
    const s = await openSession(browser, "page");
    try {
      const res = await openConsole(s.page);
      assert.match(res.headers()["content-type"] || "", /^text\/html/);
      const radios = await s.page.locator("input[name=method]").evaluateAll((r) => r.map((x) => x.value));
      assert.deepEqual(radios, ["hosted", "custom-auth", "exchange", "password"], "the seed's methods, in its order");
      await s.page.locator("#hosted-form").waitFor({ state: "visible" });
      assert.ok(!(await s.page.locator("#password-form").isVisible()), "only the checked method's form shows");
      // The page fills the app client id in from the query (the URL the demo prints).
      await s.page.waitForFunction(
        (id) => document.querySelector("#client-id")?.value === id,
        demo.cognito.client_id,
      );
      // Every asset came from this server, none failed.
      const failed = s.responses.filter((r) => r.status >= 400);
      assert.deepEqual(failed, [], "no asset request failed");
      assert.ok(s.responses.some((r) => r.url.startsWith(`${base}/console/`)), "the page loaded its assets");
    } catch (err) {
      await s.abandon();
      throw plain(err);
    }
    await s.finish();
  });

  test("harness: a declared refusal is tolerated, an undeclared one fails the test", { timeout: TEST_TIMEOUT_MS }, async () => {
    const probe = (page) =>
      page.evaluate(async () => (await fetch("/console/no-such-file.js")).status);

    try {
      const declared = await openSession(browser, "harness-declared");
      await openConsole(declared.page, consoleUrl);
      declared.expectStatus(404, /^\/console\/no-such-file\.js$/);
      assert.equal(await probe(declared.page), 404);
      await declared.finish();
      assert.deepEqual(declared.tolerated, ["404 /console/no-such-file.js"], "Chromium logged the refusal in the expected form");

      const undeclared = await openSession(browser, "harness-undeclared");
      await openConsole(undeclared.page, consoleUrl);
      assert.equal(await probe(undeclared.page), 404);
      await assert.rejects(undeclared.finish(), /Failed to load resource: the server responded with a status of 404/);
    } catch (err) {
      throw plain(err);
    }
  });
});
