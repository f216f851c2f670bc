// A JWT's claims, read only once its signature verifies with a key of the issuer's JWKS
// (node:crypto, nothing of tokenbridge's).

import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";

const b64url = (s) => Buffer.from(s, "base64url");

/** The JWT's claims, once its signature verifies with a key of `jwks` (RS256, ES256 or EdDSA). */
export function verifiedClaims(jwt, jwks) {
  const [h, p, s] = jwt.split(".");
  const header = JSON.parse(b64url(h));
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `the pool's JWKS has the token's kid ${header.kid}`);
  const key = createPublicKey({ key: jwk, format: "jwk" });
  const data = Buffer.from(`${h}.${p}`);
  const hash = { RS256: "sha256", PS256: "sha256", ES256: "sha256", ES384: "sha384", EdDSA: null }[header.alg];
  assert.notEqual(hash, undefined, `a known alg: ${header.alg}`);
  const options = header.alg.startsWith("ES") ? { key, dsaEncoding: "ieee-p1363" } : header.alg.startsWith("PS") ? { key, padding: 6 } : key;
  assert.ok(verify(hash, data, options, b64url(s)), `the ${header.alg} signature verifies`);
  return JSON.parse(b64url(p));
}
