// aws-jwt-verify, unmodified, verifying the tokens the demo issues:
//  - JwtRsaVerifier (JwtVerifier for a non-RSA demo key) with our issuer `{base_url}/{pool_id}`,
//    fetching the pool's JWKS from `{issuer}/.well-known/jwks.json`;
//  - CognitoJwtVerifier for a second pool created through the AWS SDK with our extension tag
//    `tokenbridge:issuer = aws`, whose tokens carry AWS's `https://cognito-idp.<region>.amazonaws.com/<pool>`
//    issuer: the verifier gets our JWKS through cacheJwks and must never fetch anything itself.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  DeleteUserPoolCommand,
} from "@aws-sdk/client-cognito-identity-provider";
import { CognitoJwtVerifier, JwtRsaVerifier, JwtVerifier } from "aws-jwt-verify";
import {
  CognitoJwtInvalidClientIdError,
  CognitoJwtInvalidTokenUseError,
  FetchError,
  JwtInvalidAudienceError,
  JwtInvalidIssuerError,
  JwtInvalidSignatureError,
  NonRetryableFetchError,
} from "aws-jwt-verify/error";
import { SimpleJwksCache } from "aws-jwt-verify/jwk";
import { supportedSignatureAlgorithms } from "aws-jwt-verify/jwt-verifier";

import {
  CALL_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
  authenticate,
  base,
  cognito,
  cognitoUser,
  decodeJwt,
  demoUser,
  failure,
  flipSignatureBit,
  getJson,
  userPool,
  withTimeout,
} from "../lib/demo.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };

/**
 * The library's default fetcher speaks HTTPS only and the demo listens on plain HTTP: this one
 * (the README's "custom Fetcher") GETs with Node's fetch, and only from the demo.
 */
class DemoFetcher {
  constructor() {
    this.fetched = [];
  }

  async fetch(uri) {
    if (!uri.startsWith(base + "/")) throw new NonRetryableFetchError(uri, `not under the demo's ${base}`);
    this.fetched.push(uri);
    const r = await fetch(uri, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    if (r.status !== 200) throw new NonRetryableFetchError(uri, `status ${r.status}, expected 200`);
    return r.arrayBuffer();
  }
}

/** For CognitoJwtVerifier: its JWKS comes from cacheJwks, and any fetch (to AWS) is a failure. */
class RefusingFetcher {
  async fetch(uri) {
    throw new NonRetryableFetchError(uri, "this suite never lets the verifier fetch: the JWKS must come from cacheJwks");
  }
}

/** Skips `t` unless aws-jwt-verify verifies this token's algorithm; returns the header's alg. */
function algOrSkip(t, token) {
  const { alg } = decodeJwt(token).header;
  if (!supportedSignatureAlgorithms.includes(alg)) {
    t.skip(`aws-jwt-verify ${supportedSignatureAlgorithms.join("/")} does not verify ${alg}`);
    return null;
  }
  return alg;
}

/**
 * JwtRsaVerifier for RSA tokens, as the issue names it; for an EC/EdDSA demo key the generic
 * JwtVerifier (in aws-jwt-verify 5, JwtRsaVerifier is a deprecated alias of it).
 */
function ourVerifier(alg, props) {
  const Verifier = alg.startsWith("RS") ? JwtRsaVerifier : JwtVerifier;
  const fetcher = new DemoFetcher();
  const verifier = Verifier.create(
    { issuer: cognito.issuer, jwksUri: `${cognito.issuer}/.well-known/jwks.json`, ...props },
    { jwksCache: new SimpleJwksCache({ fetcher }) },
  );
  return { verifier, fetcher };
}

async function rejection(promise, what, ErrorClass) {
  const err = await failure(promise, what);
  assert.ok(err instanceof ErrorClass, `${what}: expected ${ErrorClass.name}, got ${err?.name}: ${err?.message}`);
  return err;
}

/** alice's tokens from the demo pool (our issuer form), by USER_PASSWORD_AUTH. */
async function demoPoolTokens() {
  const user = cognitoUser("alice");
  user.setAuthenticationFlowType("USER_PASSWORD_AUTH");
  const session = await authenticate(user, demoUser("alice").password);
  return { id: session.getIdToken().getJwtToken(), access: session.getAccessToken().getJwtToken() };
}

describe("aws-jwt-verify: JwtRsaVerifier with our issuer", () => {
  let tokens;
  before(async () => {
    tokens = await demoPoolTokens();
  });

  test("verifies the id token (issuer, audience = app client, JWKS from {issuer}/.well-known/jwks.json)", opts, async (t) => {
    const alg = algOrSkip(t, tokens.id);
    if (!alg) return;
    const { verifier, fetcher } = ourVerifier(alg, { audience: cognito.client_id });
    const payload = await verifier.verify(tokens.id);
    assert.equal(payload.iss, cognito.issuer);
    assert.equal(payload.token_use, "id");
    assert.equal(payload["cognito:username"], "alice");
    assert.deepEqual(fetcher.fetched, [`${cognito.issuer}/.well-known/jwks.json`]);
  });

  test("verifies the access token (audience null: access tokens carry client_id, no aud)", opts, async (t) => {
    const alg = algOrSkip(t, tokens.access);
    if (!alg) return;
    const { verifier } = ourVerifier(alg, { audience: null });
    const payload = await verifier.verify(tokens.access);
    assert.equal(payload.token_use, "access");
    assert.equal(payload.client_id, cognito.client_id);
    assert.equal(payload.username, "alice");
  });

  test("rejects another audience, another issuer and a tampered signature", opts, async (t) => {
    const alg = algOrSkip(t, tokens.id);
    if (!alg) return;
    await rejection(
      ourVerifier(alg, { audience: "some-other-client" }).verifier.verify(tokens.id),
      "id token for another audience",
      JwtInvalidAudienceError,
    );
    // Same JWKS URI: only the expected issuer differs.
    await rejection(
      ourVerifier(alg, { audience: null, issuer: `${base}/${cognito.region}_NotThisPool` }).verifier.verify(tokens.id),
      "id token for another issuer",
      JwtInvalidIssuerError,
    );
    await rejection(
      ourVerifier(alg, { audience: cognito.client_id }).verifier.verify(flipSignatureBit(tokens.id)),
      "id token with a flipped signature bit",
      JwtInvalidSignatureError,
    );
  });

  test("the pool's discovery document names the issuer and the keys the tokens are signed with", opts, async () => {
    const discovery = await getJson(`${cognito.issuer}/.well-known/openid-configuration`);
    assert.equal(discovery.issuer, cognito.issuer);
    assert.equal(typeof discovery.jwks_uri, "string");
    const poolKeys = await getJson(discovery.jwks_uri);
    const serverKeys = await getJson(`${base}/.well-known/jwks.json`);
    const kids = (jwks) => jwks.keys.map((k) => k.kid).sort();
    assert.deepEqual(kids(poolKeys), kids(serverKeys), "the pool's JWKS is not the server's");
    for (const token of [tokens.id, tokens.access]) {
      const { kid } = decodeJwt(token).header;
      assert.ok(kids(poolKeys).includes(kid), `kid ${kid} is not in ${discovery.jwks_uri}`);
    }
  });
});

describe("aws-jwt-verify: CognitoJwtVerifier with an AWS-form issuer pool (cached JWKS, no network)", () => {
  const suffix = randomBytes(5).toString("hex");
  const username = `node-interop-${suffix}`;
  const password = `Node-Interop-${suffix}-1!`;
  const admin = new CognitoIdentityProviderClient({
    region: cognito.region,
    endpoint: cognito.endpoint,
    credentials: {
      accessKeyId: cognito.admin_access_key_id,
      secretAccessKey: cognito.admin_secret_access_key,
    },
    // One attempt: a server error must show, not be retried away (nor create a second pool).
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: CALL_TIMEOUT_MS },
  });
  const send = (command) => withTimeout(admin.send(command), command.constructor.name);

  let poolId;
  let clientId;
  let jwks;
  let tokens;
  let awsIssuer;

  before(async () => {
    const { UserPool } = await send(
      new CreateUserPoolCommand({
        PoolName: `node-interop-${suffix}`,
        // Our extension: tokens of this pool carry AWS's issuer form.
        UserPoolTags: { "tokenbridge:issuer": "aws" },
      }),
    );
    poolId = UserPool?.Id;
    assert.equal(typeof poolId, "string", `CreateUserPool answered ${JSON.stringify(UserPool)}`);
    awsIssuer = `https://cognito-idp.${cognito.region}.amazonaws.com/${poolId}`;

    const { UserPoolClient } = await send(
      new CreateUserPoolClientCommand({
        UserPoolId: poolId,
        ClientName: "node-interop",
        GenerateSecret: false,
        ExplicitAuthFlows: ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
      }),
    );
    clientId = UserPoolClient?.ClientId;
    assert.equal(typeof clientId, "string", `CreateUserPoolClient answered ${JSON.stringify(UserPoolClient)}`);

    await send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: username,
        MessageAction: "SUPPRESS",
        UserAttributes: [
          { Name: "email", Value: `${username}@example.com` },
          { Name: "email_verified", Value: "true" },
        ],
      }),
    );
    await send(
      new AdminSetUserPasswordCommand({ UserPoolId: poolId, Username: username, Password: password, Permanent: true }),
    );

    const user = cognitoUser(username, userPool({ poolId, clientId }));
    user.setAuthenticationFlowType("USER_PASSWORD_AUTH");
    const session = await authenticate(user, password);
    tokens = { id: session.getIdToken().getJwtToken(), access: session.getAccessToken().getJwtToken() };

    jwks = await getJson(`${base}/${poolId}/.well-known/jwks.json`);
  });

  after(async () => {
    try {
      if (poolId) await send(new DeleteUserPoolCommand({ UserPoolId: poolId }));
    } finally {
      admin.destroy();
    }
  });

  /** A CognitoJwtVerifier for the new pool, holding our JWKS from cacheJwks and never fetching. */
  function awsVerifier(props) {
    const verifier = CognitoJwtVerifier.create(
      { userPoolId: poolId, ...props },
      { jwksCache: new SimpleJwksCache({ fetcher: new RefusingFetcher() }) },
    );
    verifier.cacheJwks(jwks);
    return verifier;
  }

  test("the new pool and app client have AWS-shaped ids", opts, () => {
    assert.match(poolId, CognitoJwtVerifier.USER_POOL_ID_REGEX);
    assert.ok(poolId.startsWith(`${cognito.region}_`), poolId);
    assert.match(clientId, /^[a-z0-9]{26}$/);
  });

  test("its tokens carry the AWS-form issuer", opts, () => {
    assert.equal(decodeJwt(tokens.id).payload.iss, awsIssuer);
    assert.equal(decodeJwt(tokens.access).payload.iss, awsIssuer);
  });

  test("verifies the id token (tokenUse id, clientId)", opts, async (t) => {
    if (!algOrSkip(t, tokens.id)) return;
    const verifier = awsVerifier({ tokenUse: "id", clientId });
    const payload = await verifier.verify(tokens.id);
    assert.equal(payload.iss, awsIssuer);
    assert.equal(payload.aud, clientId);
    assert.equal(payload["cognito:username"], username);
    assert.equal(payload.email, `${username}@example.com`);
    assert.deepEqual(verifier.verifySync(tokens.id), payload);
  });

  test("verifies the access token (tokenUse access, clientId)", opts, async (t) => {
    if (!algOrSkip(t, tokens.access)) return;
    const verifier = awsVerifier({ tokenUse: "access", clientId });
    const payload = await verifier.verify(tokens.access);
    assert.equal(payload.iss, awsIssuer);
    assert.equal(payload.client_id, clientId);
    assert.equal(payload.username, username);
    assert.deepEqual(verifier.verifySync(tokens.access), payload);
  });

  test("rejects a token of the other (our-form issuer) pool", opts, async (t) => {
    const other = await demoPoolTokens();
    if (!algOrSkip(t, other.id)) return;
    for (const [tokenUse, token] of [
      ["id", other.id],
      ["access", other.access],
    ]) {
      const err = await failure(
        awsVerifier({ tokenUse, clientId: null }).verify(token),
        `${tokenUse} token of the demo pool`,
      );
      assert.ok(!(err instanceof FetchError), `the verifier tried to fetch: ${err.message}`);
      assert.match(err.message, /issuer/i, `${err.name}: ${err.message}`);
    }
  });

  test("rejects the wrong token use and another client id", opts, async (t) => {
    if (!algOrSkip(t, tokens.id)) return;
    await rejection(
      awsVerifier({ tokenUse: "access", clientId }).verify(tokens.id),
      "id token where an access token is expected",
      CognitoJwtInvalidTokenUseError,
    );
    await rejection(
      awsVerifier({ tokenUse: "id", clientId: "someotherclientid000000000" }).verify(tokens.id),
      "id token for another client",
      CognitoJwtInvalidClientIdError,
    );
  });
});
