// The console page as a person uses it, in the terms of its markup (the selectors below are the
// page's contract with these tests), plus the demo provider's login and consent pages.

import assert from "node:assert/strict";

import { base, consoleUrl, demo, eventually, WAIT_MS } from "./harness.mjs";

export const PARTIES = ["browser", "upstream", "tokenbridge", "api"];

/** Opens /console and waits until the page's module has run (the method radios work). */
export async function openConsole(page, url = consoleUrl) {
  const response = await page.goto(url, { waitUntil: "load" });
  assert.equal(response.status(), 200, `GET ${url}`);
  await page.locator("input[name=method][value=password]").waitFor({ state: "attached" });
  return response;
}

/** Picks a login method with its radio (value hosted | custom-auth | exchange | password). */
export async function chooseMethod(page, method) {
  await page.locator(`input[name=method][value=${method}]`).check();
  const form = {
    hosted: "#hosted-form",
    password: "#password-form",
    "custom-auth": "#custom-auth-form",
    exchange: "#exchange-form",
  }[method];
  await page.locator(form).waitFor({ state: "visible" });
}

/** The hosted sign-in page of the demo pool's domain (its path form on the demo's origin). */
export const HOSTED_AUTHORIZE = `/domains/${demo.hosted_ui?.domain}/oauth2/authorize`;

/**
 * Method 1: the hosted UI. Leaves the console for the pool's sign-in page, signs `user` in with
 * the pool password there, and waits for the console to show the tokens it redeemed.
 */
export async function signInWithHostedUi(page, user) {
  await chooseMethod(page, "hosted");
  await page.locator("#hosted-form button[type=submit]").click();
  await page.waitForURL((u) => u.pathname === HOSTED_AUTHORIZE, { timeout: WAIT_MS });
  await page.locator("input[name=username]").fill(user.username);
  await page.locator("input[name=password]").fill(user.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL((u) => u.pathname.startsWith("/console"), { timeout: WAIT_MS });
  await waitForTokens(page);
}

/** Method 4: the user-pool API with USER_SRP_AUTH (srp) or USER_PASSWORD_AUTH. */
export async function signInWithPassword(page, user, { srp = true } = {}) {
  await chooseMethod(page, "password");
  await page.locator("#client-id").fill(demo.cognito.client_id);
  await page.locator("#username").fill(user.username);
  await page.locator("#password").fill(user.password);
  await page.locator("#use-srp").setChecked(srp);
  await page.locator("#password-form button[type=submit]").click();
  await waitForTokens(page);
}

/** Method 3: the upstream provider's login and consent, then POST /auth/exchange. */
export async function signInWithExchange(page, user) {
  await chooseMethod(page, "exchange");
  await eventually("a provider to pick", async () => (await page.locator("#exchange-provider option").count()) >= 1);
  await page.locator("#exchange-form button[type=submit]").click();
  await upstreamSignIn(page, user);
  await waitForTokens(page);
}

/**
 * The demo provider's pages: the login form (username, password, "Log In") and then the
 * consent page ("Allow"). Returns once the browser is back on /console.
 */
export async function upstreamSignIn(page, user, { onLogin } = {}) {
  await page.waitForURL((u) => u.pathname.startsWith("/demo-idp/authorize"), { timeout: WAIT_MS });
  const login = page.locator("form[action*='/authorize/login']");
  await login.locator("input[name=username]").fill(user.upstream_username);
  await login.locator("input[name=password]").fill(user.upstream_password);
  if (onLogin) await onLogin();
  await login.getByRole("button", { name: "Log In" }).click();
  const allow = page.getByRole("button", { name: "Allow" });
  await allow.waitFor({ state: "visible" });
  await allow.click();
  await page.waitForURL((u) => u.pathname.startsWith("/console"), { timeout: WAIT_MS });
}

/** Waits until the tokens section shows an access token; returns the token cards' names. */
export async function waitForTokens(page) {
  return eventually("the tokens section shows an AccessToken card", async () => {
    const bad = await page.locator("#steps > li .status-bad").count();
    if (bad) {
      const text = await page.locator("#steps > li").filter({ has: page.locator(".status-bad") }).first().innerText();
      throw new Error(`a step failed: ${text.slice(0, 600)}`);
    }
    const names = await tokenNames(page);
    return names.some(isAccessToken) ? names : null;
  });
}

export const isAccessToken = (n) => /^access_?token$/i.test(n.replace(/\s+/g, ""));
export const isIdToken = (n) => /^id_?token$/i.test(n.replace(/\s+/g, ""));

export async function tokenNames(page) {
  return (await page.locator("#tokens article.token h3").allInnerTexts()).map((s) => s.trim());
}

/** The card of the token whose name satisfies `match`. */
export function tokenCard(page, match) {
  return page.locator("#tokens article.token").filter({
    has: page.locator("h3", { hasText: match === isAccessToken ? /access.?token/i : /id.?token/i }),
  });
}

/**
 * Both JWT cards say "signature verified", with a kid and alg that the JWKS at `jwksPath` lists
 * and a time left.
 */
export async function assertTokensVerified(page, jwksPath) {
  const res = await fetch(base + jwksPath);
  assert.equal(res.status, 200, `GET ${jwksPath}`);
  const keys = (await res.json()).keys;
  for (const match of [isIdToken, isAccessToken]) {
    const card = tokenCard(page, match);
    assert.equal(await card.count(), 1, `one ${match === isIdToken ? "id" : "access"} token card`);
    await eventually(`${match === isIdToken ? "id" : "access"} token: signature verified`, async () =>
      /signature verified/i.test(await card.locator(".jwks-check").innerText()),
    );
    const kid = (await card.locator("[data-field=kid]").innerText()).trim();
    const alg = (await card.locator("[data-field=alg]").innerText()).trim();
    const left = (await card.locator("[data-field=time-left]").innerText()).trim();
    const key = keys.find((k) => k.kid === kid);
    assert.ok(key, `kid ${kid} is in ${jwksPath} (${keys.map((k) => k.kid).join(", ")})`);
    if (key.alg) assert.equal(alg, key.alg, `alg of the token signed with ${kid}`);
    assert.match(alg, /^(RS|ES|PS)\d{3}$|^EdDSA$/);
    assert.ok(left, "time left is shown");
  }
}

/** The steps list: one entry per request, each with its summary text and ok/bad status. */
export async function steps(page) {
  return page.locator("#steps > li").evaluateAll((lis) =>
    lis.map((li) => ({
      summary: li.querySelector("details > summary")?.textContent.trim() ?? "",
      text: li.textContent,
      ok: !!li.querySelector("summary .status-ok"),
      bad: !!li.querySelector("summary .status-bad"),
      from: li.getAttribute("data-from"),
      to: li.getAttribute("data-to"),
    })),
  );
}

/** Every step is ok and names two known parties; returns the steps. */
export async function assertStepsOk(page) {
  const list = await steps(page);
  assert.ok(list.length > 0, "the steps list is not empty");
  for (const s of list) {
    assert.ok(s.ok && !s.bad, `step is ok: ${s.summary}`);
    assert.ok(PARTIES.includes(s.from), `step ${s.summary}: data-from=${s.from}`);
    assert.ok(PARTIES.includes(s.to), `step ${s.summary}: data-to=${s.to}`);
  }
  return list;
}

/** Waits for a step after the first `after` ones whose summary matches `re`, and that it is ok. */
export async function waitForNewStep(page, after, re) {
  const step = await eventually(`a new step matching ${re}`, async () => {
    const list = await steps(page);
    return list.slice(after).find((s) => re.test(s.summary));
  });
  assert.ok(step.ok && !step.bad, `step ${step.summary} is ok`);
  return step;
}

/** The parties of the flow diagram that carry the class `lit`. */
export async function litParties(page) {
  return page
    .locator("#flow [data-party]")
    .evaluateAll((els) => els.filter((e) => e.classList.contains("lit")).map((e) => e.dataset.party));
}

export async function statusText(page) {
  return (await page.locator("#status").innerText()).trim();
}

/** Clicks an API button and returns the text of #api-result once it shows an HTTP status. */
export async function callApi(page, button) {
  const before = await page.locator("#api-result").innerText().catch(() => "");
  await page.locator(button).click();
  return eventually(`${button}: #api-result shows the answer`, async () => {
    const text = await page.locator("#api-result").innerText();
    return text !== before && /\b[1-5]\d\d\b/.test(text) ? text : null;
  });
}

/** The first three-digit HTTP status in the API result. */
export function httpStatus(text) {
  const m = /\b([1-5]\d\d)\b/.exec(text);
  return m ? Number(m[1]) : null;
}
