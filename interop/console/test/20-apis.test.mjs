// The demo APIs called from the console with the signed-in user's tokens: what is allowed works,
// and a refusal is shown with its request id and the check that failed.
//
// The order routes need the scopes orders:read / orders:write, which the broker's own tokens
// (method 3, POST /auth/exchange) carry and user-pool access tokens (methods 4 and 2: scope
// aws.cognito.signin.user.admin, as Cognito's) do not; so the order tests sign in by exchange,
// where the check that decides is the group "admins".

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { demoUser, inSession, launchBrowser, shot, TEST_TIMEOUT_MS } from "../lib/harness.mjs";
import {
  callApi,
  httpStatus,
  litParties,
  openConsole,
  signInWithExchange,
  signInWithPassword,
} from "../lib/console.mjs";

/** The denial panel: visible, with a request id and an explanation; returns both. */
async function denial(page) {
  const panel = page.locator("#api-denial");
  await panel.waitFor({ state: "visible" });
  const requestId = (await panel.locator("[data-field=request-id]").innerText()).trim();
  const explanation = (await panel.locator(".explanation").innerText()).trim();
  assert.ok(requestId, "the denial shows its request id");
  assert.ok(explanation, "the denial is explained");
  assert.match(explanation, /✗|failed/i, `the explanation marks the failed check: ${explanation}`);
  return { requestId, explanation };
}

async function assertNoDenial(page) {
  assert.ok(!(await page.locator("#api-denial").isVisible()), "#api-denial is hidden after an allowed call");
}

describe("APIs", { timeout: TEST_TIMEOUT_MS * 4 }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test("alice (method 4): hello and GraphQL allowed; the misconfigured identity pool denied and explained", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "apis-alice", async (s) => {
      const { page } = s;
      await openConsole(page);
      await signInWithPassword(page, demoUser("alice"), { srp: false });
      await page.locator("#apis").scrollIntoViewIfNeeded();

      let text = await callApi(page, "#call-hello");
      assert.equal(httpStatus(text), 200, `GET /demo/api/hello: ${text}`);
      assert.match(text, /alice/);
      assert.ok((await litParties(page)).includes("api"), "the API is lit after an API call");
      await assertNoDenial(page);

      const pools = page.locator("#identity-pool option");
      assert.ok((await pools.count()) >= 2, "two identity pools to pick");
      assert.ok(await page.locator("#graphql-query").inputValue(), "a GraphQL query is filled in");

      await page.locator("#identity-pool").selectOption({ index: 0 });
      text = await callApi(page, "#call-graphql");
      assert.equal(httpStatus(text), 200, `GraphQL through the normal identity pool: ${text}`);
      assert.doesNotMatch(text, /"errors"/, "no GraphQL errors");
      await assertNoDenial(page);

      // The misconfigured pool's role allows only "otherapi", not the demo's GraphQL API.
      s.expectStatus([401, 403], /^\/demo\/graphql$/);
      await page.locator("#identity-pool").selectOption({ index: 1 });
      text = await callApi(page, "#call-graphql");
      assert.ok([401, 403].includes(httpStatus(text)), `GraphQL through the misconfigured pool is refused: ${text}`);
      const d = await denial(page);
      assert.match(d.explanation, /otherapi/, `the explanation names the policy's API: ${d.explanation}`);
      await page.locator("#api-denial").scrollIntoViewIfNeeded();
      await shot(page, "04-api-denied-explained");
    }),
  );

  test("alice (method 3, in admins): orders listed and placed", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "apis-alice-orders", async ({ page }) => {
      await openConsole(page);
      await signInWithExchange(page, demoUser("alice"));

      let text = await callApi(page, "#place-order");
      assert.ok([200, 201].includes(httpStatus(text)), `alice (admins) may POST /demo/api/orders: ${text}`);
      await assertNoDenial(page);
      text = await callApi(page, "#call-orders");
      assert.equal(httpStatus(text), 200, `GET /demo/api/orders: ${text}`);
      assert.match(text, /alice/, "the order alice placed is listed");
    }),
  );

  test("bob (method 3, not in admins): placing an order is denied, the explanation names the group", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "apis-bob", async (s) => {
      const { page } = s;
      await openConsole(page);
      await signInWithExchange(page, demoUser("bob"));

      const hello = await callApi(page, "#call-hello");
      assert.equal(httpStatus(hello), 200, `bob may GET /demo/api/hello: ${hello}`);

      s.expectStatus(403, /^\/demo\/api\/orders$/);
      const text = await callApi(page, "#place-order");
      assert.equal(httpStatus(text), 403, `bob may not POST /demo/api/orders: ${text}`);
      const d = await denial(page);
      assert.match(d.explanation, /admins/, `the explanation names the group: ${d.explanation}`);
      // The refusal's body carries its request id: the panel shows that one.
      assert.ok(text.includes(d.requestId), `request id ${d.requestId} is the refused request's`);
      await shot(page, "04b-api-denied-admins");
    }),
  );
});
