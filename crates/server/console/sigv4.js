// AWS Signature Version 4 in the browser (WebCrypto), for calls made with identity-pool
// credentials. Header signing only: host, x-amz-date, x-amz-security-token, content-type and
// x-amz-content-sha256 are signed, as the AWS SDKs do for AppSync.

const enc = new TextEncoder();

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmac(key, data) {
  const k = await crypto.subtle.importKey(
    "raw", typeof key === "string" ? enc.encode(key) : key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
  );
  return crypto.subtle.sign("HMAC", k, enc.encode(data));
}

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(search) {
  const pairs = [...new URLSearchParams(search)].map(([k, v]) => [uriEncode(k), uriEncode(v)]);
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

/** `20261130T164500Z` */
export function amzDate(date) {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * Signs a request; returns the headers to send (without Host, which the browser sets itself to
 * the same value signed here).
 *   credentials: { AccessKeyId, SecretKey, SessionToken }
 */
export async function signRequest({ method, url, headers = {}, body = "", region, service, credentials, date }) {
  const u = new URL(url, location.href);
  const when = amzDate(date || new Date());
  const day = when.slice(0, 8);
  const payloadHash = await sha256Hex(body);
  const all = { ...headers, host: u.host, "x-amz-date": when, "x-amz-content-sha256": payloadHash };
  if (credentials.SessionToken) all["x-amz-security-token"] = credentials.SessionToken;
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  const names = Object.keys(lower).sort();
  const signedHeaders = names.join(";");
  const canonical = [
    method.toUpperCase(),
    u.pathname.split("/").map((seg) => uriEncode(decodeURIComponent(seg))).join("/") || "/",
    canonicalQuery(u.search),
    names.map((n) => `${n}:${lower[n]}\n`).join(""),
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", when, scope, await sha256Hex(canonical)].join("\n");
  let key = await hmac(`AWS4${credentials.SecretKey}`, day);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  const out = { ...all };
  delete out.host;
  out.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.AccessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { headers: out, canonicalRequest: canonical, stringToSign: toSign };
}
