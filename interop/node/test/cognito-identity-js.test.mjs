// amazon-cognito-identity-js, unmodified, against the demo's user pool: the default SRP login,
// USER_PASSWORD_AUTH, CUSTOM_AUTH answered with a demo-upstream token, and refreshSession.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";

import {
  TEST_TIMEOUT_MS,
  answerCustomChallenge,
  authenticate,
  cognito,
  cognitoUser,
  demo,
  demoUser,
  failure,
  initiateCustomAuth,
  refreshSession,
  upstreamIdToken,
} from "../lib/demo.mjs";

const INCORRECT = "Incorrect username or password.";
const opts = { timeout: TEST_TIMEOUT_MS };

/** The session is valid and its tokens are Cognito's, for `username` of the demo pool. */
function assertCognitoSession(session, username) {
  assert.ok(session, "no session");
  assert.equal(session.isValid(), true, "the library takes the new session for invalid (expired tokens?)");
  const id = session.getIdToken().decodePayload();
  const access = session.getAccessToken().decodePayload();
  const seed = demoUser(username);

  assert.equal(id.iss, cognito.issuer, "id token iss");
  assert.equal(id.token_use, "id");
  assert.equal(id.aud, cognito.client_id, "id token aud is the app client");
  assert.equal(id["cognito:username"], username);
  assert.equal(id.email, seed.email);
  assert.equal(id.email_verified, true);
  for (const claim of ["sub", "jti", "origin_jti"]) {
    assert.equal(typeof id[claim], "string", `id token ${claim}`);
    assert.ok(id[claim], `id token ${claim} is empty`);
  }
  for (const claim of ["iat", "exp", "auth_time"]) assert.equal(typeof id[claim], "number", `id token ${claim}`);

  assert.equal(access.iss, cognito.issuer, "access token iss");
  assert.equal(access.token_use, "access");
  assert.equal(access.client_id, cognito.client_id);
  assert.equal(access.username, username);
  assert.equal(access.sub, id.sub, "one subject in both tokens");
  assert.ok(String(access.scope).split(" ").includes("aws.cognito.signin.user.admin"), `scope: ${access.scope}`);
  assert.notEqual(access.jti, id.jti);

  const refresh = session.getRefreshToken().getToken();
  assert.equal(typeof refresh, "string");
  assert.ok(refresh.length > 0, "no refresh token");
  return { id, access, refresh };
}

/** `message` null: any message. */
function assertNotAuthorized(err, message = INCORRECT) {
  assert.equal(err.code, "NotAuthorizedException", `expected NotAuthorizedException, got ${err.code}: ${err.message}`);
  if (message !== null) assert.equal(err.message, message);
}

function assertProvidersNamed(params) {
  assert.equal(typeof params.providers, "string", `challenge parameters: ${JSON.stringify(params)}`);
  const providers = params.providers.split(",").map((s) => s.trim());
  assert.ok(providers.includes(demo.upstream.name), `providers ${params.providers} do not name ${demo.upstream.name}`);
}

describe("amazon-cognito-identity-js: default login (USER_SRP_AUTH)", () => {
  test("alice signs in with SRP and gets a valid session", opts, async () => {
    const alice = demoUser("alice");
    const user = cognitoUser("alice");
    assert.equal(user.getAuthenticationFlowType(), "USER_SRP_AUTH", "the library's default flow");
    const session = await authenticate(user, alice.password);
    // The library takes the username from the challenge's USER_ID_FOR_SRP.
    assert.equal(user.getUsername(), "alice");
    const { id } = assertCognitoSession(session, "alice");
    assert.deepEqual([...(id["cognito:groups"] ?? [])].sort(), ["admins", "readers"]);
    assert.equal(user.getSignInUserSession(), session);
  });

  test("SRP with a wrong password: onFailure with NotAuthorizedException", opts, async () => {
    const user = cognitoUser("alice");
    const err = await failure(authenticate(user, "not-alice-local-pw"), "SRP login with a wrong password");
    assertNotAuthorized(err);
    assert.equal(user.getSignInUserSession(), null);
  });
});

describe("amazon-cognito-identity-js: USER_PASSWORD_AUTH", () => {
  test("alice signs in with USER_PASSWORD_AUTH", opts, async () => {
    const user = cognitoUser("alice");
    user.setAuthenticationFlowType("USER_PASSWORD_AUTH");
    const session = await authenticate(user, demoUser("alice").password);
    assertCognitoSession(session, "alice");
  });

  test("a wrong password: NotAuthorizedException", opts, async () => {
    const user = cognitoUser("bob");
    user.setAuthenticationFlowType("USER_PASSWORD_AUTH");
    assertNotAuthorized(await failure(authenticate(user, "not-bob-local-pw"), "login with a wrong password"));
  });

  test("an unknown user: the same NotAuthorizedException (no user existence leak)", opts, async () => {
    const user = cognitoUser(`nobody-${randomBytes(6).toString("hex")}`);
    user.setAuthenticationFlowType("USER_PASSWORD_AUTH");
    assertNotAuthorized(await failure(authenticate(user, "Whatever-pw-1"), "login of an unknown user"));
  });
});

describe("amazon-cognito-identity-js: CUSTOM_AUTH answered with an upstream token", () => {
  test("initiateAuth → customChallenge names the provider → sendCustomChallengeAnswer signs alice in", opts, async () => {
    const user = cognitoUser("alice");
    const params = await initiateCustomAuth(user);
    assertProvidersNamed(params);
    assert.equal(params.USERNAME, "alice");
    assert.ok(user.Session, "the library kept no Session from the challenge");

    const session = await answerCustomChallenge(user, await upstreamIdToken(demoUser("alice")));
    const { id } = assertCognitoSession(session, "alice");
    assert.deepEqual([...(id["cognito:groups"] ?? [])].sort(), ["admins", "readers"]);
  });

  test("a passwordless user (erin): a wrong answer fails, the same session then takes the right one", opts, async () => {
    const erin = demoUser("erin");
    assert.equal(erin.password, null, "demo.json gives erin a password: the demo changed");
    const user = cognitoUser("erin");
    assertProvidersNamed(await initiateCustomAuth(user));
    const session = user.Session;

    assertNotAuthorized(await failure(answerCustomChallenge(user, "not-an-upstream-token"), "a garbage answer"));
    assert.equal(user.Session, session, "the library keeps the session after a failed answer");

    assertCognitoSession(await answerCustomChallenge(user, await upstreamIdToken(erin)), "erin");
  });

  test("an upstream token is good for one sign-in: its replay is refused", opts, async () => {
    const token = await upstreamIdToken(demoUser("bob"));
    const first = cognitoUser("bob");
    await initiateCustomAuth(first);
    assertCognitoSession(await answerCustomChallenge(first, token), "bob");

    const again = cognitoUser("bob");
    await initiateCustomAuth(again);
    assertNotAuthorized(await failure(answerCustomChallenge(again, token), "a replayed upstream token"), null);
  });

  test("another user's upstream token does not answer this user's challenge", opts, async () => {
    const user = cognitoUser("erin");
    await initiateCustomAuth(user);
    const bobsToken = await upstreamIdToken(demoUser("bob"));
    assertNotAuthorized(
      await failure(answerCustomChallenge(user, bobsToken), "erin's challenge with bob's token"),
      null,
    );
  });
});

describe("amazon-cognito-identity-js: refreshSession", () => {
  test("the session's refresh token gets new id and access tokens", opts, async () => {
    const user = cognitoUser("alice");
    user.setAuthenticationFlowType("USER_PASSWORD_AUTH");
    const before = assertCognitoSession(await authenticate(user, demoUser("alice").password), "alice");
    const oldSession = user.getSignInUserSession();

    const session = await refreshSession(user, oldSession.getRefreshToken());
    const after = assertCognitoSession(session, "alice");
    assert.notEqual(session.getIdToken().getJwtToken(), oldSession.getIdToken().getJwtToken(), "same id token");
    assert.notEqual(session.getAccessToken().getJwtToken(), oldSession.getAccessToken().getJwtToken(), "same access token");
    assert.notEqual(after.access.jti, before.access.jti);
    assert.equal(after.id.sub, before.id.sub);
    // REFRESH_TOKEN_AUTH answers without a RefreshToken (as AWS does): the library then keeps
    // the one it had, so a different one here means the server sent a new one.
    assert.equal(after.refresh, before.refresh, "REFRESH_TOKEN_AUTH returned a new refresh token");
    assert.equal(user.getSignInUserSession(), session);
  });
});
