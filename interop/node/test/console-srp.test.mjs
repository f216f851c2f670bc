// The web console's own USER_SRP_AUTH (crates/server/console/srp.js, BigInt + WebCrypto, no
// dependencies) against the demo's user pool, and checked byte for byte against
// amazon-cognito-identity-js's AuthenticationHelper and DateHelper and the fixed SRP vector that
// crates/srp/src/lib.rs pins (made by pycognito, matched by the SDK).

import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { describe, test } from "node:test";

import { AuthenticationHelper, DateHelper } from "amazon-cognito-identity-js";

import {
  calculateA,
  calculateU,
  padHex,
  passwordClaimSignature,
  poolNameOf,
  randomSmallA,
  srpSignIn,
  srpTimestamp,
} from "../../../crates/server/console/srp.js";
import { CALL_TIMEOUT_MS, TEST_TIMEOUT_MS, cognito, decodeJwt, demoUser } from "../lib/demo.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };
const TARGET = "AWSCognitoIdentityProviderService.";

/**
 * What the console's app.js hands srpSignIn: a POST to the Cognito endpoint resolving to
 * { ok, status, json, requestId }. `calls` keeps each request for the wire checks.
 */
function cognitoCaller(calls = []) {
  const call = async (action, body) => {
    calls.push({ action, body });
    const res = await fetch(cognito.endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": TARGET + action },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: json stays null, as in app.js
    }
    return { ok: res.ok, status: res.status, json, requestId: res.headers.get("x-amzn-requestid") };
  };
  return { call, calls };
}

/** The exception name of an AWS JSON 1.1 error body ("…#Name" or "Name"). */
const errorType = (json) => String(json?.__type ?? "").split("#").pop();

const TIMESTAMP_RE = /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) [A-Z][a-z]{2} [1-9]\d? \d\d:\d\d:\d\d UTC \d{4}$/;

describe("console srp.js: USER_SRP_AUTH against the demo", () => {
  test("alice signs in: two calls, then an IdToken for cognito:username alice", opts, async () => {
    const alice = demoUser("alice");
    const { call, calls } = cognitoCaller();
    const r = await srpSignIn(call, {
      clientId: cognito.client_id,
      username: "alice",
      password: alice.password,
      userPoolId: cognito.user_pool_id,
    });
    assert.equal(r.ok, true, `sign-in failed: ${r.status} ${JSON.stringify(r.json)}`);
    assert.equal(r.status, 200);
    const result = r.json?.AuthenticationResult;
    assert.ok(result, `no AuthenticationResult: ${JSON.stringify(r.json)}`);
    for (const t of ["IdToken", "AccessToken", "RefreshToken"]) assert.equal(typeof result[t], "string", t);

    const { payload } = decodeJwt(result.IdToken);
    assert.equal(payload["cognito:username"], "alice");
    assert.equal(payload.token_use, "id");
    assert.equal(payload.iss, cognito.issuer);
    assert.equal(payload.aud, cognito.client_id);
    assert.equal(decodeJwt(result.AccessToken).payload.username, "alice");

    assert.deepEqual(calls.map((c) => c.action), ["InitiateAuth", "RespondToAuthChallenge"]);
    const [init, respond] = calls.map((c) => c.body);
    assert.equal(init.AuthFlow, "USER_SRP_AUTH");
    assert.equal(init.ClientId, cognito.client_id);
    assert.deepEqual(Object.keys(init.AuthParameters).sort(), ["SRP_A", "USERNAME"]);
    assert.match(init.AuthParameters.SRP_A, /^[0-9a-f]+$/, "SRP_A is lowercase hex, as the SDK's toString(16)");
    assert.equal(respond.ChallengeName, "PASSWORD_VERIFIER");
    assert.equal(respond.ClientId, cognito.client_id);
    assert.equal(typeof respond.Session, "string", "the challenge's Session is sent back, as the SDK does");
    const cr = respond.ChallengeResponses;
    assert.deepEqual(Object.keys(cr).sort(), [
      "PASSWORD_CLAIM_SECRET_BLOCK",
      "PASSWORD_CLAIM_SIGNATURE",
      "TIMESTAMP",
      "USERNAME",
    ]);
    assert.equal(cr.USERNAME, "alice");
    assert.match(cr.TIMESTAMP, TIMESTAMP_RE);
    assert.match(cr.PASSWORD_CLAIM_SIGNATURE, /^[A-Za-z0-9+/]{43}=$/, "base64 of 32 bytes");
  });

  test("a wrong password is refused with NotAuthorizedException", opts, async () => {
    const { call, calls } = cognitoCaller();
    const r = await srpSignIn(call, {
      clientId: cognito.client_id,
      username: "alice",
      password: "not-alice-local-pw",
      userPoolId: cognito.user_pool_id,
    });
    assert.equal(r.ok, false);
    assert.equal(r.status, 400);
    assert.equal(errorType(r.json), "NotAuthorizedException", JSON.stringify(r.json));
    assert.equal(r.json.AuthenticationResult, undefined);
    assert.deepEqual(calls.map((c) => c.action), ["InitiateAuth", "RespondToAuthChallenge"]);
  });

  test("a client with a secret: SECRET_HASH in both calls, from a string or per username", opts, async () => {
    assert.ok(cognito.secret_client_id && cognito.secret_client_secret, "demo.json names no secret client");
    const secretHash = (name) =>
      createHmac("sha256", cognito.secret_client_secret).update(name + cognito.secret_client_id).digest("base64");
    const args = {
      clientId: cognito.secret_client_id,
      username: "alice",
      password: demoUser("alice").password,
      userPoolId: cognito.user_pool_id,
    };
    for (const hash of [secretHash, secretHash("alice")]) {
      const { call, calls } = cognitoCaller();
      const r = await srpSignIn(call, { ...args, secretHash: hash });
      assert.equal(r.ok, true, `${typeof hash}: ${JSON.stringify(r.json)}`);
      assert.equal(decodeJwt(r.json.AuthenticationResult.IdToken).payload.aud, cognito.secret_client_id);
      assert.equal(calls[0].body.AuthParameters.SECRET_HASH, secretHash("alice"));
      assert.equal(calls[1].body.ChallengeResponses.SECRET_HASH, secretHash("alice"));
    }
    const { call } = cognitoCaller();
    const without = await srpSignIn(call, args);
    assert.equal(errorType(without.json), "NotAuthorizedException", JSON.stringify(without.json));
  });

  test("an InitiateAuth error is returned as is, without a second call", opts, async () => {
    const { call, calls } = cognitoCaller();
    const r = await srpSignIn(call, {
      clientId: `no-such-client-${randomBytes(4).toString("hex")}`,
      username: "alice",
      password: "whatever",
      userPoolId: cognito.user_pool_id,
    });
    assert.equal(r.ok, false);
    assert.ok(errorType(r.json), `an AWS error body: ${JSON.stringify(r.json)}`);
    assert.deepEqual(calls.map((c) => c.action), ["InitiateAuth"]);
  });

  test("no pool id given and none in the challenge: a clear Error", opts, async () => {
    const { call } = cognitoCaller();
    await assert.rejects(
      srpSignIn(call, { clientId: cognito.client_id, username: "alice", password: demoUser("alice").password }),
      (err) => err instanceof Error && /user pool id/.test(err.message),
    );
  });

  test("pool id from the challenge's USER_POOL_ID when not given", opts, async () => {
    const { call } = cognitoCaller();
    // The demo does not name the pool in the challenge; a caller that adds it lets srpSignIn use it.
    const withPool = async (action, body) => {
      const r = await call(action, body);
      if (r.json?.ChallengeParameters) r.json.ChallengeParameters.USER_POOL_ID = cognito.user_pool_id;
      return r;
    };
    const r = await srpSignIn(withPool, {
      clientId: cognito.client_id,
      username: "alice",
      password: demoUser("alice").password,
    });
    assert.equal(r.ok, true, JSON.stringify(r.json));
    assert.equal(decodeJwt(r.json.AuthenticationResult.IdToken).payload["cognito:username"], "alice");
  });
});

describe("console srp.js: the SDK's byte-level rules", () => {
  test("srpTimestamp: day of month unpadded, time zero-padded, always UTC", () => {
    assert.equal(srpTimestamp(new Date(Date.UTC(2026, 10, 5, 6, 7, 8))), "Thu Nov 5 06:07:08 UTC 2026");
    assert.equal(srpTimestamp(new Date(Date.UTC(2026, 10, 30, 16, 45, 3))), "Mon Nov 30 16:45:03 UTC 2026");
    assert.equal(srpTimestamp(new Date(0)), "Thu Jan 1 00:00:00 UTC 1970");
    // The vector in crates/srp/src/lib.rs.
    assert.equal(srpTimestamp(new Date(1_793_689_445_000)), "Tue Nov 3 07:04:05 UTC 2026");
  });

  test("srpTimestamp equals the SDK's DateHelper.getNowString at the same instants", (t) => {
    const instants = [0, 1_793_689_445_000, 1_798_761_599_000, Date.UTC(2024, 1, 29, 23, 59, 59)];
    instants.push(Date.UTC(2026, 0, 5, 9, 0, 1));
    for (let i = 0; i < 50; i++) instants.push(Math.floor(Math.random() * 4_102_444_800_000));
    t.mock.timers.enable({ apis: ["Date"] });
    for (const ms of instants) {
      t.mock.timers.setTime(ms);
      assert.equal(srpTimestamp(new Date(ms)), new DateHelper().getNowString(), `at ${ms}`);
    }
  });

  test("padHex as the SDK documents it", () => {
    for (const [n, want] of [
      [20n, "14"],
      [56n, "38"],
      [236n, "00ec"],
      [200n, "00c8"],
      [0x8abn, "08ab"],
      [0n, "00"],
    ]) {
      assert.equal(padHex(n), want, `padHex(${n})`);
    }
    assert.equal(poolNameOf("us-east-1_AbCdEf123"), "AbCdEf123");
    assert.throws(() => poolNameOf("nounderscore"), /user pool id/);
  });

  test("the fixed vector of crates/srp/src/lib.rs: same SRP_A and signature", async () => {
    // pycognito_vector in crates/srp/src/lib.rs (fixed a, server b, salt and secret block).
    const a = BigInt(
      "0xba706393b7819ce8f0e64293d4ef101729bfb1d64fd9b2b91047b1dd81660db3" +
        "a3bb0615fa85ec1ff9ffa2f78f54db3a960635744d6cdc6d7da8009dfb18bf69" +
        "7ed82db530ebc3d84f7afb14e341677e87e9cbd22127fd6c504100c316db007d" +
        "b5419a14c9bcfba76885fcc89bcf9d3c75d71f2d640555f8d0f6bd1f1b4a63c0",
    );
    const srpB =
      "935bbecc2845acf690fa4b182b71b616c8b10ebc06d88d9f5b7d494e0778ebb63aac945c35d4d9a8f039ccac9ef017a1" +
      "930d46167f5eecf44e6220db395e80b1444d6beb24bdd11c1a19e92da2fcf0f70057ebb666608f8c548fd6f26512e0d0" +
      "f17a92e459d9f9d919a43a8547a14fb90b4f387b2bf7aff5719adae2cd903633fe9bffec6f54b7895f3b2a100ef52abe" +
      "780bfc9510eb9a6c425e335a4e7c819362de7d4083a160b90b2a41985828fe7637875dcbb2e7f38d95006144657314dc" +
      "b1616a18e9097514ebe387e508eb78a0b2a1dedebf3cc5837171911b4382c6900704b6c94216beb6b8364186de8e8ede" +
      "14a318a8f372d3bb942b798ae4ad6ce9c7dfaca68a8a2cb84fab90af51c039ab2b3726735facf90851099cf5e75cc348" +
      "3b88192a445fa202f4c7b53231a12ef0eef8a337c9ce1338563eafffd32b33ebf51470213b66795b053d6843041ba8e3" +
      "469b5715d5c8ac27950030037dcda5517ca0a82a16bc1d7cf32604ea0733ffc30c6ae24e2a38deb25d62806a34868c34";
    const wantA =
      "bca5582c41e2608b50e8eae096cb05c105c5a43b83cd206e576855ef731ccc092cf0343db6304b338672a8f1f3f8002a" +
      "d19a1c9807c41941709ec9243d1405add20c9d5ff3c2c0e81a6799486f46c402d9c3eae357b53d46e924a461c4758106" +
      "bbc1869c4e9546de7c14c638a8e296c287df5bfc4d0820a316feb66f1be09b265dea0eb2a807fd75af3eaf3da2949da3" +
      "b1fea332b223f075dd2aa39e3ab353de0068f57d4fec509a5a4720b5306c6dbe14a3d1c55eadb7807436ec436e1d2986" +
      "387e4d997cc3205b13f2a12b96850554962526fedbd47353bfe63d58df3eeefa1659d749844872aa5d75c8449b404913" +
      "3ca285babb3e38f35f6804fed6f8984ca5efc57e044f981c0902c80d1f6d5b914c121afd57b6090f24c0cf0308d91871" +
      "819319577fbc703d6951936e2665b3be53a9bb3395b91a9274718da87332c761d8ae1ee5798743088dcf1dceceba90a0" +
      "f666504f16bef16de7e13f516b60dbc7507ac9fdb6b8893cd861b5078c52c6c87fe0dd3d86786ade6b944dc69fdb6bcc";
    const A = calculateA(a);
    assert.equal(A.toString(16), wantA);
    const signature = await passwordClaimSignature({
      poolName: poolNameOf("us-east-1_AbCdEf123"),
      userId: "5b6f3c1e-8a2d-4f7b-9c0e-1d2a3b4c5d6e",
      password: "P\u00e4ssw\u00f6rd-\u20ac 1!",
      a,
      A,
      srpB,
      salt: "00bcb0c3ad72bda85d303ae4e689146185",
      secretBlock:
        "gxqGOSQf+QAzGPVDWVc+vjTW4XgOX2YRUe3EPkNOfMyS94plH7/rpHzk72F5OGlHB8VDMiE4GfNjKzGkhaxvFwD/IG9wYXF1ZQ==",
      timestamp: "Tue Nov 3 07:04:05 UTC 2026",
    });
    assert.equal(signature, "UQQOeDLL3cBaeJRDVqXtADcNRmC/8vlQGtAL9fu8104=");
  });

  test("random inputs: the same u and signature as the SDK's AuthenticationHelper", opts, async () => {
    for (let i = 0; i < 8; i++) {
      const helper = new AuthenticationHelper("AbCdEf123");
      const SdkInt = helper.N.constructor;
      const a = randomSmallA();
      const A = calculateA(a);
      helper.smallAValue = new SdkInt(a.toString(16), 16);
      helper.largeAValue = new SdkInt(A.toString(16), 16);
      // B as a server would make it, any g^b; salts with the top bit set (i odd) get padHex's 00.
      const B = calculateA(BigInt("0x" + randomBytes(32).toString("hex")));
      const saltBytes = randomBytes(16);
      saltBytes[0] = i % 2 ? saltBytes[0] | 0x80 : saltBytes[0] & 0x7f;
      const salt = saltBytes.toString("hex");
      const userId = i % 2 ? `user-${i}` : "\u00e9l\u00e8ve-\u{1f600}";
      const password = `pw-\u20ac-${randomBytes(6).toString("base64")}`;
      const secretBlock = randomBytes(40 + i).toString("base64");
      const timestamp = srpTimestamp(new Date());

      assert.equal(
        (await calculateU(A, B)).toString(16),
        helper.calculateU(helper.largeAValue, new SdkInt(B.toString(16), 16)).toString(16),
        "u",
      );
      const key = await new Promise((resolve, reject) =>
        helper.getPasswordAuthenticationKey(
          userId,
          password,
          new SdkInt(B.toString(16), 16),
          new SdkInt(salt, 16),
          (err, hkdf) => (err ? reject(err) : resolve(hkdf)),
        ),
      );
      // The SDK's signature (CognitoUser.authenticateUserDefaultAuth) from its own key.
      const sdkSignature = createHmac("sha256", Buffer.from(key))
        .update(
          Buffer.concat([
            Buffer.from("AbCdEf123", "utf8"),
            Buffer.from(userId, "utf8"),
            Buffer.from(secretBlock, "base64"),
            Buffer.from(timestamp, "utf8"),
          ]),
        )
        .digest("base64");
      const ours = await passwordClaimSignature({
        poolName: "AbCdEf123",
        userId,
        password,
        a,
        A,
        srpB: B.toString(16),
        salt,
        secretBlock,
        timestamp,
      });
      assert.equal(ours, sdkSignature, `round ${i}`);
    }
  });

  test("a B that is 0 mod N is refused before anything is signed", async () => {
    const a = randomSmallA();
    // N itself, from the SDK: B = N is 0 mod N.
    const zeroModN = new AuthenticationHelper("p").N.toString(16);
    await assert.rejects(
      passwordClaimSignature({
        poolName: "p",
        userId: "u",
        password: "pw",
        a,
        A: calculateA(a),
        srpB: zeroModN,
        salt: "01",
        secretBlock: "AA==",
        timestamp: srpTimestamp(new Date()),
      }),
      /B is 0 mod N/,
    );
  });
});
