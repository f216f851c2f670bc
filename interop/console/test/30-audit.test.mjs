// The audit view: signed in with the admin token, denied events are listed, one opens to its
// CloudTrail-shaped record and its explanation, and a request id finds exactly that request.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { demo, demoUser, eventually, inSession, launchBrowser, shot, TEST_TIMEOUT_MS } from "../lib/harness.mjs";
import { callApi, httpStatus, openConsole, signInWithExchange } from "../lib/console.mjs";

const ROWS = "#audit-events tbody tr[data-request-id]";

async function rowIds(page) {
  return page.locator(ROWS).evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-request-id")));
}

async function search(page) {
  await page.locator("#audit-search").click();
}

/** A datetime-local value (the browser's local time) `offsetMs` from now. */
async function localDateTime(page, offsetMs) {
  return page.evaluate((off) => {
    const d = new Date(Date.now() + off);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }, offsetMs);
}

describe("audit view", { timeout: TEST_TIMEOUT_MS * 2 }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test("denied events, one opened with its record and explanation, found by request id", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "audit", async (s) => {
      const { page } = s;
      await openConsole(page);

      // A refusal to look for: bob (not in admins) places an order, signed in by exchange (whose
      // tokens carry the scope orders:write, so the group is the check that fails).
      await signInWithExchange(page, demoUser("bob"));
      s.expectStatus(403, /^\/demo\/api\/orders$/);
      const text = await callApi(page, "#place-order");
      assert.equal(httpStatus(text), 403, `bob may not POST /demo/api/orders: ${text}`);
      await page.locator("#api-denial").waitFor({ state: "visible" });
      const deniedId = (await page.locator("#api-denial [data-field=request-id]").innerText()).trim();
      assert.ok(deniedId, "the denial's request id");

      await page.locator("#audit").scrollIntoViewIfNeeded();
      await page.locator("#admin-token").fill(demo.admin_token);
      await page.locator("#audit-sign-in").click();

      // Denied events only.
      await page.locator("#audit-outcome").selectOption("denied");
      await search(page);
      const denied = await eventually("denied events are listed", async () => {
        const ids = await rowIds(page);
        return ids.includes(deniedId) ? ids : null;
      });
      assert.ok(denied.every(Boolean), "every row carries its request id");

      // Open the refusal: its record as JSON, and the explanation.
      await page.locator(`${ROWS}[data-request-id="${deniedId}"]`).first().click();
      const json = page.locator("#audit .event-json").first();
      await json.waitFor({ state: "visible" });
      const record = JSON.parse(await json.innerText());
      assert.equal(record.requestID, deniedId, "the opened record is the clicked request's");
      assert.ok(record.errorCode, `a denied record has an errorCode: ${JSON.stringify(record).slice(0, 300)}`);
      assert.equal(record.userIdentity?.userName, "bob");
      const explanation = page.locator("#audit .explanation").first();
      await explanation.waitFor({ state: "visible" });
      assert.match(await explanation.innerText(), /admins/, "the explanation names the group");
      await shot(page, "05-audit");

      // The user and event name filters keep that event.
      await page.locator("#audit-user").fill("bob");
      await page.locator("#audit-event-name").fill(record.eventName);
      await search(page);
      await eventually("bob's denied events of that name include it", async () => (await rowIds(page)).includes(deniedId));

      // A time window that starts tomorrow holds nothing; one that started an hour ago holds it.
      await page.locator("#audit-start").fill(await localDateTime(page, 24 * 3600_000));
      await search(page);
      await eventually("no events after tomorrow", async () => (await rowIds(page)).length === 0);
      await page.locator("#audit-start").fill(await localDateTime(page, -3600_000));
      await page.locator("#audit-end").fill(await localDateTime(page, 3600_000));
      await search(page);
      await eventually("the last hour holds it", async () => (await rowIds(page)).includes(deniedId));

      // By request id (every other filter cleared): exactly that request's events.
      for (const f of ["#audit-user", "#audit-event-name", "#audit-start", "#audit-end"]) await page.locator(f).fill("");
      await page.locator("#audit-outcome").selectOption("");
      await page.locator("#audit-request-id").fill(deniedId);
      await search(page);
      const ids = await eventually("only that request's events", async () => {
        const got = await rowIds(page);
        return got.length > 0 && got.every((id) => id === deniedId) ? got : null;
      });
      assert.ok(ids.length >= 1);
    }),
  );
});
