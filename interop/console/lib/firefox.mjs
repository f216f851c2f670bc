// The console in a real Firefox: Debian's Firefox ESR (FIREFOX, default /usr/bin/firefox-esr),
// driven through puppeteer-core over WebDriver BiDi (playwright-core drives only its own patched
// Firefox builds, not a stock one). Nothing here downloads a browser: puppeteer-core never does,
// and it is given the executable.
//
// A session here has the shape of harness.mjs's (page, name, tolerated, responses, expectStatus,
// screenshot, finish, abandon), so harness.runSession runs it, and the page's reports go through
// the same harness.pageReports: the same rule on console errors, uncaught exceptions and requests
// to other origins, fed from puppeteer's page events instead of Playwright's.
//
// What Firefox reports differs from Chromium (Firefox ESR 153 through BiDi):
// - A fetch() answered with a 4xx or 5xx logs nothing at all (Chromium logs "Failed to load
//   resource: ..."), so the declared-refusal tolerance has nothing to tolerate here, and any
//   console error fails the test.
// - Errors the browser itself raises, such as a Content-Security-Policy violation, arrive as
//   uncaught exceptions ("pageerror", with no URL: the page's URL is added), as do unhandled
//   promise rejections.
// - Firefox fetches /favicon.ico for a page without <link rel="icon">, under that page's CSP, and
//   reports a blocked one as an error; the console and the demo provider's pages both name an
//   icon and allow it (img-src data:), so nothing is tolerated for it.
// Every console message of any type is kept in `session.messages` for the test's diagnostics.

import { accessSync, constants } from "node:fs";

import puppeteer from "puppeteer-core";

import { artifactFile, pageReports, VIEWPORT, WAIT_MS } from "./harness.mjs";

export const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";

/** Starts Firefox ESR headless; one per test file (each test gets its own browser context). */
export async function launchFirefox() {
  try {
    accessSync(FIREFOX, constants.X_OK);
  } catch {
    throw new Error(
      `no Firefox at ${FIREFOX} (Debian: apt-get install firefox-esr; scripts/test does; FIREFOX=PATH picks another)`,
    );
  }
  return puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: process.env.TOKENBRIDGE_CONSOLE_HEADED !== "1",
    timeout: 60_000,
    // Same language as the Chromium contexts (locale en-US), whatever the machine's.
    extraPrefsFirefox: { "intl.locale.requested": "en-US", "intl.accept_languages": "en-US, en" },
  });
}

/**
 * A fresh browser context and page with everything the page reports collected; `finish()`
 * asserts the page is clean (harness.pageReports) and closes the context.
 */
export async function openFirefoxSession(browser, name) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.setViewport(VIEWPORT);
  const reports = pageReports(name);
  const messages = []; // every console message: "type: text (at url)"

  page.on("request", (r) => reports.request(r.url()));
  page.on("response", (r) => reports.response(r.url(), r.status()));
  page.on("pageerror", (e) => reports.pageError(`${e?.stack || e?.message || e} [on ${page.url()}]`));
  page.on("console", (m) => {
    const at = m.location()?.url || "";
    messages.push(`${m.type()}: ${m.text()}${at ? ` (at ${at})` : ""}`);
    if (m.type() === "error") reports.consoleError(m.text(), at);
  });

  return {
    page,
    context,
    name,
    messages,
    tolerated: reports.tolerated,
    responses: reports.responses,
    expectStatus: reports.expectStatus,
    async screenshot(file) {
      await page.screenshot({ path: artifactFile(file), fullPage: true });
    },
    async finish() {
      try {
        // Errors logged by the last action's asynchronous tail still count.
        await new Promise((r) => setTimeout(r, 250));
        reports.assertClean();
      } finally {
        await context.close();
      }
    },
    async abandon() {
      await context.close().catch(() => {});
    },
  };
}

/** The innerText of the first element matching `selector` ("" when there is none). */
export async function innerText(page, selector) {
  return page.evaluate((sel) => document.querySelector(sel)?.innerText ?? "", selector);
}
