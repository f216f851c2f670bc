// What the console tests share: the running demo (demo.json from TOKENBRIDGE_DEMO_JSON or the
// first argument), one headless Chromium per test file, a fresh browser context per test, the
// page's console errors and uncaught exceptions collected on every page, and screenshots.
//
// The browser is the machine's Chromium (CHROMIUM, default /usr/bin/chromium), driven through
// playwright-core; nothing here downloads a browser. The Firefox tests (lib/firefox.mjs, through
// puppeteer-core) share the demo, `pageReports` (the rule below) and `runSession`.
//
// Console errors. Each test ends by asserting the page logged no console error and threw no
// uncaught exception. There is one exception, narrow on purpose: when a fetch() gets a 4xx or 5xx
// answer, Chromium logs a console error of exactly the form
//   "Failed to load resource: the server responded with a status of 403 (Forbidden)"
// whose location URL is the URL of the resource (not of a script). A test that provokes a refusal
// on purpose declares it with `session.expectStatus(status, pathRegExp)`; a console error is
// then tolerated only when (1) its text is that exact form, (2) its status is the one declared,
// (3) its location URL's path matches the declared pattern, and (4) the page really received a
// response with that status from that URL. Every other console error fails the test.

import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

import { chromium } from "playwright-core";

/** Upper bound for one test; node:test fails the test when it is exceeded. */
export const TEST_TIMEOUT_MS = 90_000;
/** Upper bound for one wait on the page (a sign-in is a few round trips plus SRP arithmetic). */
export const WAIT_MS = 20_000;
export const VIEWPORT = { width: 1280, height: 900 };

function loadDemo() {
  const path = process.env.TOKENBRIDGE_DEMO_JSON || process.argv.slice(2).find((a) => a.endsWith(".json"));
  if (!path) {
    throw new Error(
      "TOKENBRIDGE_DEMO_JSON is not set: run interop/console/run.sh DEMO_JSON (scripts/test does), " +
        "or start `tokenbridge demo --data-dir DIR` and export TOKENBRIDGE_DEMO_JSON=DIR/demo.json",
    );
  }
  const info = JSON.parse(readFileSync(path, "utf8"));
  for (const key of ["base_url", "admin_token", "users", "cognito"]) {
    if (!info[key]) throw new Error(`${path}: ${key} is missing`);
  }
  return info;
}

/** demo.json of the demo under test. */
export const demo = loadDemo();
/** The demo's base URL without a trailing slash. */
export const base = demo.base_url.replace(/\/+$/, "");
export const origin = new URL(base).origin;
/** The console page, with the demo's app client id as the demo prints it. */
export const consoleUrl = `${base}/console?client_id=${encodeURIComponent(demo.cognito.client_id)}`;

/** The demo user with this username, as demo.json lists it. */
export function demoUser(username) {
  const u = demo.users.find((x) => x.username === username);
  if (!u) throw new Error(`demo.json lists no user ${username}`);
  return u;
}

export const ARTIFACTS = process.env.TOKENBRIDGE_CONSOLE_ARTIFACTS || new URL("../../artifacts/console/", import.meta.url).pathname;
/**
 * The screenshots the README shows, copied to TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO when set: the
 * top of the page, or one section (a full page is several megabytes of mostly the same).
 */
const README_SHOTS = new Map([
  ["01-password-tokens", null],
  ["02-custom-auth-flow", null],
  ["04-api-denied-explained", "#apis"],
  ["05-audit", "#audit"],
]);

/** Starts Chromium; one per test file (each test gets its own context). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: process.env.TOKENBRIDGE_CONSOLE_HEADED !== "1",
    // The tests run as root (CI, the dev machine), where Chromium's sandbox cannot start.
    args: ["--no-sandbox"],
    timeout: 60_000,
  });
}

const FAILED_RESOURCE = /^Failed to load resource: the server responded with a status of (\d{3})(?: \([^)]*\))?$/;

/**
 * What one page reported, whichever driver feeds it (Playwright here, puppeteer in firefox.mjs):
 * the driver calls request/response/pageError/consoleError from its page events, the test
 * declares its refusals with `expectStatus`, and `assertClean()` holds the page to the rule at the
 * top of this file (no console error but a declared refusal, no uncaught exception, nothing from
 * another origin).
 */
export function pageReports(name) {
  const errors = [];
  const expected = []; // { status, path: RegExp }
  const tolerated = [];
  const responses = []; // { url, status }
  const foreign = new Set(); // requests that left the demo's origin
  return {
    tolerated,
    responses,
    request(url) {
      if (/^(data|blob|about):/.test(url)) return;
      if (new URL(url).origin !== origin) foreign.add(url);
    },
    response(url, status) {
      responses.push({ url, status });
    },
    pageError(e) {
      errors.push(`uncaught exception: ${e?.stack || e?.message || e}`);
    },
    /** A console message of type error, with the URL of its location ("" when none). */
    consoleError(text, at) {
      const hit = FAILED_RESOURCE.exec(text);
      if (hit && at) {
        const status = Number(hit[1]);
        let path = "";
        try {
          path = new URL(at).pathname;
        } catch {
          /* not a URL: not tolerated */
        }
        const declared = expected.some((e) => e.status === status && e.path.test(path));
        const seen = responses.some((r) => r.url === at && r.status === status);
        if (declared && seen) {
          tolerated.push(`${status} ${path}`);
          return;
        }
      }
      errors.push(`console error: ${text}${at ? ` (at ${at})` : ""}`);
    },
    /** Declares that the page will get `status` (one or a list) from a URL whose path matches `path`. */
    expectStatus(status, path) {
      for (const s of [status].flat()) expected.push({ status: s, path });
    },
    assertClean() {
      assert.deepEqual(errors, [], `${name}: the page reported errors`);
      assert.deepEqual([...foreign], [], `${name}: the page loaded something from another origin`);
    },
  };
}

/**
 * A fresh context and page with everything the page reports collected. Call `finish()` last:
 * it asserts no console error (other than declared refusals) and no uncaught exception, and
 * closes the context.
 */
export async function openSession(browser, name) {
  const context = await browser.newContext({ viewport: VIEWPORT, locale: "en-US" });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const reports = pageReports(name);

  page.on("response", (r) => reports.response(r.url(), r.status()));
  page.on("request", (r) => reports.request(r.url()));
  page.on("pageerror", (e) => reports.pageError(e));
  page.on("console", (m) => {
    if (m.type() === "error") reports.consoleError(m.text(), m.location()?.url || "");
  });

  return {
    page,
    context,
    name,
    tolerated: reports.tolerated,
    responses: reports.responses,
    expectStatus: reports.expectStatus,
    async screenshot(file) {
      await shot(page, file);
    },
    async finish() {
      try {
        // Errors logged by the last action's asynchronous tail still count.
        await page.waitForTimeout(250);
        reports.assertClean();
      } finally {
        await context.close();
      }
    },
    /** Closes without checking: for a test that already failed. */
    async abandon() {
      await context.close().catch(() => {});
    },
  };
}

/** The path of screenshot NAME in interop/artifacts/console/ (the folder is made). */
export function artifactFile(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, `${name}.png`);
}

/** Full-page screenshot to interop/artifacts/console/NAME.png (and the README folder). */
export async function shot(page, name) {
  const file = artifactFile(name);
  await page.screenshot({ path: file, fullPage: true, animations: "disabled", caret: "hide" });
  const to = process.env.TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO;
  if (to && README_SHOTS.has(name)) {
    mkdirSync(to, { recursive: true });
    const path = join(to, `${name}.png`);
    const section = README_SHOTS.get(name);
    const options = { path, animations: "disabled", caret: "hide" };
    if (section) await page.locator(section).screenshot(options);
    else await page.screenshot({ ...options, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 900 } });
  }
  return file;
}

/**
 * Runs `body(session)` in a fresh context; on a failure, saves a screenshot as
 * failed-<name>.png, then rethrows. On success, `finish()` checks the page's errors.
 */
export async function inSession(browser, name, body) {
  await runSession(await openSession(browser, name), body);
}

/**
 * Runs `body(session)` on a session of either driver (it has `name`, `screenshot(file)`,
 * `finish()` and `abandon()`): on a failure, saves failed-<name>.png, closes, and rethrows.
 */
export async function runSession(session, body) {
  try {
    await body(session);
  } catch (err) {
    await session.screenshot(`failed-${session.name}`).catch(() => {});
    await session.abandon();
    throw plain(err);
  }
  await session.finish();
}

// playwright-core colours its call logs; escape characters are not allowed in the JUnit XML.
// eslint-disable-next-line no-control-regex
const ANSI = /[\u001b\u009b][[\]()#;?]*(?:\d{1,4}(?:;\d{0,4})*)?[\dA-ORZcf-nqry=><~]/g;

/** The same error with its message and stack free of terminal colour codes. */
export function plain(err) {
  if (!(err instanceof Error) || !ANSI.test(`${err.message}${err.stack}`)) return err;
  ANSI.lastIndex = 0;
  const clean = new Error(err.message.replace(ANSI, ""));
  clean.name = err.name;
  clean.stack = String(err.stack).replace(ANSI, "");
  return clean;
}

/** Polls `probe` (async, returns a truthy value when done) until it holds or `ms` passes. */
export async function eventually(what, probe, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${ms} ms${last instanceof Error ? ` (last: ${last.message})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}
