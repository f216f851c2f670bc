// A `tokenbridge demo` of a test's own: the release binary (TOKENBRIDGE_BIN, default
// target/release/tokenbridge, which scripts/test builds first) on a free loopback port in a
// temporary data directory, stopped and removed by `stop()`. With `--tls` among the arguments it
// serves HTTPS with the self-signed certificate it makes in that directory; `request` then
// trusts exactly that certificate (Node's fetch cannot be given one), and nothing else does.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { eventually } from "./harness.mjs";

const ROOT = new URL("../../../", import.meta.url).pathname;
export const BIN = process.env.TOKENBRIDGE_BIN || join(ROOT, "target/release/tokenbridge");

/**
 * One HTTP(S) exchange, fetch-like: resolves to `{ ok, status, headers, text(), json() }`.
 * `ca` (PEM) is the only certificate an https URL is trusted with.
 */
export function request(url, { method = "GET", headers = {}, body, ca } = {}) {
  const u = new URL(url);
  const transport = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(u, { method, headers, ca, agent: false, timeout: 15_000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          ok: res.statusCode >= 200 && res.statusCode < 300,
          status: res.statusCode,
          headers: res.headers,
          text: async () => text,
          json: async () => JSON.parse(text),
        });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer within 15 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Starts the demo with `args` added to `demo --listen 127.0.0.1:0 --data-dir <tmp>` and `env`
 * added to the environment; resolves once it wrote demo.json and answers /healthz, to
 * `{ info, dir, ca, fetch, stop }`: demo.json, the data directory, the certificate it serves
 * (PEM, under --tls) and `fetch(url, init)`, `request` trusting that certificate.
 */
export async function startDemo({ args = [], env = {}, prefix = "tokenbridge-demo-" } = {}) {
  assert.ok(existsSync(BIN), `no tokenbridge binary at ${BIN}: cargo build --release -p tokenbridge (or set TOKENBRIDGE_BIN)`);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const child = spawn(BIN, ["demo", "--listen", "127.0.0.1:0", "--data-dir", dir, ...args], {
    env: { ...process.env, ...env, NO_COLOR: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = await eventually(
      "the demo to write demo.json and answer /healthz",
      async () => {
        if (child.exitCode !== null) throw new Error(`the demo exited (${child.exitCode}): ${stderr}`);
        const file = join(dir, "demo.json");
        if (!existsSync(file)) return null;
        const info = JSON.parse(readFileSync(file, "utf8"));
        const ca = info.tls?.cert_file ? readFileSync(info.tls.cert_file, "utf8") : undefined;
        const r = await request(`${info.base_url}/healthz`, { ca });
        return r.ok ? { info, ca } : null;
      },
      60_000,
    );
    const { info, ca } = started;
    return { info, dir, ca, fetch: (url, init = {}) => request(url, { ...init, ca }), stop, stderr: () => stderr };
  } catch (err) {
    await stop();
    throw err;
  }
}
