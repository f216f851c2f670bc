// The console by keyboard alone: Tab reaches the method radios, arrows switch the method, Tab
// reaches every field of the sign-in form, Space toggles SRP, Enter on the button signs in.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { demo, demoUser, inSession, launchBrowser, TEST_TIMEOUT_MS } from "../lib/harness.mjs";
import { openConsole, waitForTokens } from "../lib/console.mjs";

/** What has the focus: "#id", or "radio:VALUE" for a method radio, or the tag and text. */
function focused(page) {
  return page.evaluate(() => {
    const e = document.activeElement;
    if (!e || e === document.body) return "body";
    if (e.name === "method" && e.type === "radio") return `radio:${e.value}`;
    if (e.matches("#password-form button[type=submit]")) return "submit";
    if (e.id) return `#${e.id}`;
    return `${e.tagName.toLowerCase()}:${(e.textContent || "").trim().slice(0, 30)}`;
  });
}

/** Presses Tab until `want` has the focus (at most `max` times); returns what was passed. */
async function tabTo(page, want, max = 40) {
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const now = await focused(page);
    if (want(now)) return now;
    seen.push(now);
  }
  assert.fail(`Tab never reached it; focus went through: ${seen.join(", ")}`);
}

describe("keyboard", { timeout: TEST_TIMEOUT_MS * 2 }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test("method radios and the password sign-in work by keyboard", { timeout: TEST_TIMEOUT_MS }, () =>
    inSession(browser, "keyboard", async ({ page }) => {
      await openConsole(page);
      const alice = demoUser("alice");
      const radio = (v) => page.locator(`input[name=method][value=${v}]`);

      // Tab enters the radio group on the checked radio; the arrows move the choice.
      const first = await tabTo(page, (f) => f.startsWith("radio:"));
      assert.equal(first, "radio:hosted", "Tab lands on the checked method");
      await page.keyboard.press("ArrowDown");
      assert.ok(await radio("custom-auth").isChecked(), "ArrowDown picks the next method");
      await page.locator("#custom-auth-form").waitFor({ state: "visible" });
      assert.ok(!(await page.locator("#hosted-form").isVisible()), "only the picked method's form shows");
      await page.keyboard.press("ArrowUp");
      assert.ok(await radio("hosted").isChecked(), "ArrowUp goes back");
      await page.locator("#hosted-form").waitFor({ state: "visible" });
      // The password method is the fourth: up from the first wraps around to it.
      await page.keyboard.press("ArrowUp");
      assert.ok(await radio("password").isChecked(), "ArrowUp from the first wraps to the last");
      await page.locator("#password-form").waitFor({ state: "visible" });

      // Every field of the form is next in Tab order, typed into by keyboard.
      await tabTo(page, (f) => f === "#client-id", 5);
      if (!(await page.locator("#client-id").inputValue())) await page.keyboard.type(demo.cognito.client_id);
      await tabTo(page, (f) => f === "#username", 5);
      await page.keyboard.type(alice.username);
      await tabTo(page, (f) => f === "#password", 5);
      await page.keyboard.type(alice.password);
      await tabTo(page, (f) => f === "#use-srp", 5);
      const srp = await page.locator("#use-srp").isChecked();
      await page.keyboard.press("Space");
      assert.equal(await page.locator("#use-srp").isChecked(), !srp, "Space toggles SRP");
      await tabTo(page, (f) => f === "submit", 5);
      await page.keyboard.press("Enter");

      await waitForTokens(page);
      const visible = await page.locator("#tokens article.token").count();
      assert.ok(visible >= 2, "token cards shown after a keyboard-only sign-in");
    }),
  );
});
