// The demo's Cognito door as an administrator calls it: AWS JSON 1.1 requests signed with SigV4
// (node:crypto) by the admin credentials demo.json lists. The tests make the app clients their
// pages need with it, as a deployment would with the AWS CLI. The exports act on the demo under
// test; `cognitoAdmin(info, fetch)` gives the same for another demo (one a test started itself,
// reached with a `fetch` that trusts its certificate).

import { createHash, createHmac } from "node:crypto";

import { demo } from "./harness.mjs";

const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const hmac = (key, s) => createHmac("sha256", key).update(s).digest();

/** One user-pool action; resolves to the parsed answer, throws with the exception otherwise. */
export const adminAction = (action, input) => cognitoAdmin(demo).action(action, input);

/**
 * A public app client of the demo pool for a page at `origin`: the code flow with the hosted
 * UI's scopes, its callback `<origin>/callback` and its logout URL `<origin>/`.
 */
export const createHostedClient = (name, origin) => cognitoAdmin(demo).createHostedClient(name, origin);

export const deleteClient = (clientId) => cognitoAdmin(demo).deleteClient(clientId);

/** The actions above against the demo that wrote `info` (its demo.json), sent with `send`. */
export function cognitoAdmin(info, send = fetch) {
  const action = (name, input) => signedAction(info, send, name, input);
  return {
    action,
    /**
     * A public app client of the demo pool: the code flow with the hosted UI's scopes, for
     * `providers` (COGNITO: the pool's own password), back to `callback` and, after logout, to
     * `logout` (by default `<origin>/callback` and `<origin>/`).
     */
    async createHostedClient(name, origin, { providers = ["COGNITO"], callback, logout } = {}) {
      const out = await action("CreateUserPoolClient", {
        UserPoolId: info.cognito.user_pool_id,
        ClientName: name,
        GenerateSecret: false,
        SupportedIdentityProviders: providers,
        CallbackURLs: [callback ?? `${origin}/callback`],
        LogoutURLs: [logout ?? `${origin}/`],
        AllowedOAuthFlows: ["code"],
        AllowedOAuthScopes: info.hosted_ui.scopes,
        AllowedOAuthFlowsUserPoolClient: true,
      });
      return out.UserPoolClient.ClientId;
    },
    async deleteClient(clientId) {
      await action("DeleteUserPoolClient", { UserPoolId: info.cognito.user_pool_id, ClientId: clientId });
    },
  };
}

async function signedAction(info, send, action, input) {
  const url = new URL(`${info.base_url.replace(/\/+$/, "")}/`);
  const body = JSON.stringify(input);
  const when = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = when.slice(0, 8);
  const region = info.cognito.region;
  const headers = {
    "content-type": "application/x-amz-json-1.1",
    host: url.host,
    "x-amz-date": when,
    "x-amz-target": `AWSCognitoIdentityProviderService.${action}`,
  };
  const names = Object.keys(headers).sort();
  const canonical = [
    "POST",
    "/",
    "",
    names.map((n) => `${n}:${headers[n]}\n`).join(""),
    names.join(";"),
    sha256(body),
  ].join("\n");
  const scope = `${day}/${region}/cognito-idp/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", when, scope, sha256(canonical)].join("\n");
  let key = hmac(`AWS4${info.cognito.admin_secret_access_key}`, day);
  for (const part of [region, "cognito-idp", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  const { host: _host, ...sent } = headers;
  sent.authorization = `AWS4-HMAC-SHA256 Credential=${info.cognito.admin_access_key_id}/${scope}, ` +
    `SignedHeaders=${names.join(";")}, Signature=${signature}`;
  const res = await send(url.href, { method: "POST", headers: sent, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${action}: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : {};
}

