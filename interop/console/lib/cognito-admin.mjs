// The demo's Cognito door as an administrator calls it: AWS JSON 1.1 requests signed with SigV4
// (node:crypto) by the admin credentials demo.json lists. The tests make the app clients their
// pages need with it, as a deployment would with the AWS CLI.

import { createHash, createHmac } from "node:crypto";

import { base, demo } from "./harness.mjs";

const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const hmac = (key, s) => createHmac("sha256", key).update(s).digest();

/** One user-pool action; resolves to the parsed answer, throws with the exception otherwise. */
export async function adminAction(action, input) {
  const url = new URL(`${base}/`);
  const body = JSON.stringify(input);
  const when = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = when.slice(0, 8);
  const region = demo.cognito.region;
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
  let key = hmac(`AWS4${demo.cognito.admin_secret_access_key}`, day);
  for (const part of [region, "cognito-idp", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  const { host: _host, ...sent } = headers;
  sent.authorization = `AWS4-HMAC-SHA256 Credential=${demo.cognito.admin_access_key_id}/${scope}, ` +
    `SignedHeaders=${names.join(";")}, Signature=${signature}`;
  const res = await fetch(url, { method: "POST", headers: sent, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${action}: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : {};
}

/**
 * A public app client of the demo pool for a page at `origin`: the code flow with the hosted
 * UI's scopes, its callback `<origin>/callback` and its logout URL `<origin>/`.
 */
export async function createHostedClient(name, origin) {
  const out = await adminAction("CreateUserPoolClient", {
    UserPoolId: demo.cognito.user_pool_id,
    ClientName: name,
    GenerateSecret: false,
    SupportedIdentityProviders: ["COGNITO"],
    CallbackURLs: [`${origin}/callback`],
    LogoutURLs: [`${origin}/`],
    AllowedOAuthFlows: ["code"],
    AllowedOAuthScopes: demo.hosted_ui.scopes,
    AllowedOAuthFlowsUserPoolClient: true,
  });
  return out.UserPoolClient.ClientId;
}

export async function deleteClient(clientId) {
  await adminAction("DeleteUserPoolClient", { UserPoolId: demo.cognito.user_pool_id, ClientId: clientId });
}
