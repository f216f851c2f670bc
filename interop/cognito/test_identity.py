"""Interop: identity pools, STS, IAM, the demo GraphQL API and its audit trail, as boto3 sees them.

Runs against a live `tokenbridge demo` (scripts/test starts one): demo.json's `identity` object
names the region, the account, the identity pool whose authenticated role allows the demo
GraphQL API, the misconfigured one whose role carries the seed's mistake (`appsync:GraphQL` on
another API's ARN), the roles and the GraphQL URL. Clients are boto3's `cognito-identity`, `sts`,
`iam` and `cloudtrail` at the demo's endpoint: admin actions signed with the admin credentials,
GetId / GetCredentialsForIdentity / GetOpenIdToken / AssumeRoleWithWebIdentity unsigned (the
token is the credential); the GraphQL calls are signed with botocore's own SigV4Auth. Roles and
identity pools made here have unique names and are deleted again.
"""

import datetime
import json
import re
import time

import jwt
import pytest
import requests
from botocore.exceptions import ClientError

import cognito_support as cs
from cognito_support import expect_error

GRAPHQL_LIST = "query { listItems { id name } }"
GRAPHQL_ADD = "mutation Add($name: String!) { addItem(name: $name) { id name owner createdAt } }"
NO_SUCH_POOL_UUID = "00000000-0000-4000-8000-000000000000"


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def in_the_next_hour(expiration):
    """A parsed expiration: timezone-aware, in the future, at most about an hour away."""
    assert isinstance(expiration, datetime.datetime) and expiration.tzinfo is not None, expiration
    left = (expiration - now_utc()).total_seconds()
    assert 60 < left <= 3600 + 60, f"expires in {left} s"


def trust_policy(statement):
    return {"Version": "2012-10-17", "Statement": [statement]}


def web_identity_trust(provider_principal, audience_key, audience, sid="TrustWebIdentity"):
    return trust_policy(
        {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Federated": provider_principal},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {audience_key: audience}},
        }
    )


@pytest.fixture(scope="module")
def ci(aws):
    """cognito-identity with the admin credentials (CreateIdentityPool, SetIdentityPoolRoles...)."""
    return aws("cognito-identity")


@pytest.fixture(scope="module")
def ci_public(aws):
    """cognito-identity unsigned: GetId, GetCredentialsForIdentity, GetOpenIdToken."""
    return aws("cognito-identity", unsigned=True)


@pytest.fixture(scope="module")
def sts_public(aws):
    return aws("sts", unsigned=True)


@pytest.fixture(scope="module")
def iam(aws):
    return aws("iam")


@pytest.fixture(scope="module")
def roles(iam):
    """roles(trust_dict, prefix) -> (name, arn) of a new role; all deleted at the end of the module."""
    made = []

    def create(trust, prefix="tb-interop-role", description="interop test role"):
        name = cs.unique(prefix)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description=description)
        made.append(name)
        return name, role["Role"]["Arn"]

    yield create
    for name in made:
        cs.delete_role_quietly(iam, name)


def enhanced_flow(ci_public, pool_id, logins):
    """GetId then GetCredentialsForIdentity; what was asked and answered."""
    started = now_utc() - datetime.timedelta(seconds=5)
    identity_id = ci_public.get_id(IdentityPoolId=pool_id, Logins=logins)["IdentityId"]
    r = ci_public.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)
    return {
        "pool_id": pool_id,
        "identity_id": identity_id,
        "logins": logins,
        "response": r,
        "credentials": cs.temporary_credentials(r["Credentials"]),
        "request_id": r["ResponseMetadata"]["RequestId"],
        "started": started,
    }


@pytest.fixture(scope="module")
def alice_session(ci_public, ident, id_token, logins_keys):
    """alice's enhanced flow through the correct identity pool (its record is looked up in CloudTrail)."""
    return enhanced_flow(ci_public, ident["identity_pool_id"], {logins_keys[0]: id_token("alice")})


@pytest.fixture(scope="module")
def misconfigured_session(ci_public, ident, id_token, logins_keys):
    """alice's enhanced flow through the misconfigured identity pool."""
    return enhanced_flow(ci_public, ident["misconfigured_identity_pool_id"], {logins_keys[1]: id_token("alice")})


@pytest.fixture(scope="module")
def alice_sts(sts_public, ident, id_token):
    """alice's pool id token traded directly with STS for the correct role."""
    return sts_public.assume_role_with_web_identity(
        RoleArn=ident["role_arn"], RoleSessionName="tb-interop-alice", WebIdentityToken=id_token("alice")
    )


# --- cognito-identity -------------------------------------------------------------------------


def test_demo_identity_is_as_demo_json_says(ident, cog):
    region, account = ident["region"], ident["account_id"]
    assert region == cog["region"], (ident, cog["region"])
    assert re.fullmatch(r"[0-9]{12}", account), account
    for key in ("identity_pool_id", "misconfigured_identity_pool_id"):
        assert re.fullmatch(rf"{re.escape(region)}:[0-9a-f-]{{36}}", ident[key]), (key, ident[key])
    assert ident["identity_pool_id"] != ident["misconfigured_identity_pool_id"]
    for key in ("role_arn", "misconfigured_role_arn"):
        assert re.fullmatch(rf"arn:aws:iam::{account}:role/[\w+=,.@/-]+", ident[key]), (key, ident[key])
    assert re.fullmatch(rf"arn:aws:appsync:{re.escape(region)}:{account}:apis/[\w-]+", ident["graphql_api_arn"])
    assert ident["graphql_url"].startswith(("http://", "https://")), ident


def test_get_id_is_stable_under_both_logins_key_forms(ci_public, ident, id_token, logins_keys):
    pool_id = ident["identity_pool_id"]
    token = id_token("alice")
    ids = [ci_public.get_id(IdentityPoolId=pool_id, Logins={key: token})["IdentityId"] for key in logins_keys]
    assert ids[0] == ids[1], f"the two Logins key forms {logins_keys} gave two identities {ids}"
    assert cs.IDENTITY_ID_RE.match(ids[0]) and ids[0].startswith(ident["region"] + ":"), ids[0]
    # A later login of the same user (another token) is the same identity, under either key.
    again = id_token("alice")
    for key in logins_keys:
        assert ci_public.get_id(IdentityPoolId=pool_id, Logins={key: again})["IdentityId"] == ids[0]


def test_another_user_gets_another_identity(ci_public, ident, id_token, logins_keys):
    pool_id = ident["identity_pool_id"]
    alice = ci_public.get_id(IdentityPoolId=pool_id, Logins={logins_keys[0]: id_token("alice")})["IdentityId"]
    bob = ci_public.get_id(IdentityPoolId=pool_id, Logins={logins_keys[0]: id_token("bob")})["IdentityId"]
    assert cs.IDENTITY_ID_RE.match(bob), bob
    assert alice != bob
    # Each identity is its pool's: the misconfigured pool gives alice an identity of its own.
    other = ci_public.get_id(
        IdentityPoolId=ident["misconfigured_identity_pool_id"], Logins={logins_keys[0]: id_token("alice")}
    )["IdentityId"]
    assert other not in (alice, bob)


def test_enhanced_flow_issues_temporary_credentials(alice_session, aws, ident):
    r = alice_session["response"]
    assert r["IdentityId"] == alice_session["identity_id"], r
    creds = r["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and re.fullmatch(r"[A-Z0-9]{16,128}", creds["AccessKeyId"]), creds
    assert creds["SecretKey"] and creds["SessionToken"], creds
    in_the_next_hour(creds["Expiration"])
    # The credentials are the pool's authenticated role's, session CognitoIdentityCredentials.
    me = aws("sts", creds=alice_session["credentials"]).get_caller_identity()
    role = cs.role_name_of(ident["role_arn"])
    expected = f"arn:aws:sts::{ident['account_id']}:assumed-role/{role}/{cs.ENHANCED_FLOW_SESSION_NAME}"
    assert me["Arn"] == expected, me
    assert me["Account"] == ident["account_id"], me
    assert me["UserId"].endswith(":" + cs.ENHANCED_FLOW_SESSION_NAME), me


def test_the_misconfigured_pool_still_issues_credentials(misconfigured_session, aws, ident):
    """Its trust relationship is right; only its permissions are wrong (see the GraphQL tests)."""
    creds = misconfigured_session["response"]["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA"), creds
    in_the_next_hour(creds["Expiration"])
    me = aws("sts", creds=misconfigured_session["credentials"]).get_caller_identity()
    role = cs.role_name_of(ident["misconfigured_role_arn"])
    assert me["Arn"] == f"arn:aws:sts::{ident['account_id']}:assumed-role/{role}/{cs.ENHANCED_FLOW_SESSION_NAME}", me


def test_basic_flow_open_id_token_then_sts(ci_public, sts_public, aws, ident, id_token, logins_keys):
    pool_id = ident["identity_pool_id"]
    logins = {logins_keys[1]: id_token("alice")}
    identity_id = ci_public.get_id(IdentityPoolId=pool_id, Logins=logins)["IdentityId"]
    r = ci_public.get_open_id_token(IdentityId=identity_id, Logins=logins)
    assert r["IdentityId"] == identity_id, r
    claims = cs.claims_of(r["Token"])
    assert claims["sub"] == identity_id and claims["aud"] == pool_id, claims
    assert claims["exp"] > time.time(), claims

    try:
        assumed = sts_public.assume_role_with_web_identity(
            RoleArn=ident["role_arn"], RoleSessionName="tb-interop-basic-flow", WebIdentityToken=r["Token"]
        )
    except ClientError as e:
        pytest.fail(
            f"STS refused the identity pool's OpenID token for {ident['role_arn']}: {cs.error_code(e)}: "
            f"{cs.error_message(e)} -- the role's trust policy must admit {cs.COGNITO_IDENTITY_PROVIDER} "
            f"with {cs.COGNITO_IDENTITY_PROVIDER}:aud = {pool_id}"
        )
    assert assumed["Credentials"]["AccessKeyId"].startswith("ASIA"), assumed
    in_the_next_hour(assumed["Credentials"]["Expiration"])
    assert assumed["SubjectFromWebIdentityToken"] == identity_id, assumed
    assert assumed["Audience"] == pool_id, assumed
    assert assumed["Provider"] in (cs.COGNITO_IDENTITY_PROVIDER, f"https://{cs.COGNITO_IDENTITY_PROVIDER}"), assumed
    role = cs.role_name_of(ident["role_arn"])
    arn = f"arn:aws:sts::{ident['account_id']}:assumed-role/{role}/tb-interop-basic-flow"
    assert assumed["AssumedRoleUser"]["Arn"] == arn, assumed
    me = aws("sts", creds=cs.temporary_credentials(assumed["Credentials"])).get_caller_identity()
    assert me["Arn"] == arn, me


def test_an_unknown_identity_pool_is_not_found(ci_public, ident, id_token, logins_keys):
    expect_error(
        "ResourceNotFoundException",
        ci_public.get_id,
        IdentityPoolId=f"{ident['region']}:{NO_SUCH_POOL_UUID}",
        Logins={logins_keys[0]: id_token("alice")},
    )


def test_a_garbage_login_token_is_not_authorized(ci_public, ident, alice_session, logins_keys):
    garbage = {logins_keys[0]: "garbage.login.token"}
    expect_error("NotAuthorizedException", ci_public.get_id, IdentityPoolId=ident["identity_pool_id"], Logins=garbage)
    identity_id = alice_session["identity_id"]
    expect_error("NotAuthorizedException", ci_public.get_credentials_for_identity, IdentityId=identity_id, Logins=garbage)
    expect_error("NotAuthorizedException", ci_public.get_open_id_token, IdentityId=identity_id, Logins=garbage)


def test_a_role_that_does_not_trust_the_pool_is_a_configuration_error(ci, ci_public, roles, ident, cog, id_token):
    """A pool whose authenticated role trusts another identity pool: InvalidIdentityPoolConfigurationException."""
    other_pool = f"{ident['region']}:{NO_SUCH_POOL_UUID}"
    _, role_arn = roles(
        web_identity_trust(cs.COGNITO_IDENTITY_PROVIDER, f"{cs.COGNITO_IDENTITY_PROVIDER}:aud", other_pool)
    )
    provider = cs.user_pool_provider(ident["region"], cog["user_pool_id"])
    pool = ci.create_identity_pool(
        IdentityPoolName=cs.unique("tb-interop-untrusted"),
        AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": cog["client_id"]}],
    )
    try:
        ci.set_identity_pool_roles(IdentityPoolId=pool["IdentityPoolId"], Roles={"authenticated": role_arn})
        logins = {provider: id_token("alice")}
        identity_id = ci_public.get_id(IdentityPoolId=pool["IdentityPoolId"], Logins=logins)["IdentityId"]
        expect_error(
            "InvalidIdentityPoolConfigurationException",
            ci_public.get_credentials_for_identity,
            IdentityId=identity_id,
            Logins=logins,
        )
    finally:
        cs.delete_quietly(ci.delete_identity_pool, IdentityPoolId=pool["IdentityPoolId"])


# --- sts ------------------------------------------------------------------------------------


def test_sts_takes_a_pool_id_token(alice_sts, ident, cog, id_token):
    r = alice_sts
    creds = r["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA"), creds
    assert creds["SecretAccessKey"] and creds["SessionToken"], creds
    in_the_next_hour(creds["Expiration"])
    role = cs.role_name_of(ident["role_arn"])
    user = r["AssumedRoleUser"]
    assert user["Arn"] == f"arn:aws:sts::{ident['account_id']}:assumed-role/{role}/tb-interop-alice", user
    assert user["AssumedRoleId"].endswith(":tb-interop-alice") and user["AssumedRoleId"].startswith("AROA"), user
    assert r["Provider"] in (cs.without_scheme(cog["issuer"]), cog["issuer"]), r["Provider"]
    assert r["Audience"] == cog["client_id"], r
    assert r["SubjectFromWebIdentityToken"] == cs.claims_of(id_token("alice"))["sub"], r


def test_sts_caller_identity_of_the_temporary_credentials(alice_sts, aws, ident):
    creds = cs.temporary_credentials(alice_sts["Credentials"])
    me = aws("sts", creds=creds).get_caller_identity()
    assert me["Arn"] == alice_sts["AssumedRoleUser"]["Arn"], me
    assert me["UserId"] == alice_sts["AssumedRoleUser"]["AssumedRoleId"], me
    assert me["Account"] == ident["account_id"], me

    # A session token changed by one character, or a wrong secret: refused as AWS refuses them.
    access, secret, token = creds
    i = len(token) // 2
    tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    for bad, code in (((access, secret, tampered), "InvalidClientTokenId"), ((access, secret[::-1], token), "SignatureDoesNotMatch")):
        e = expect_error(code, aws("sts", creds=bad).get_caller_identity)
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response


def test_sts_refuses_a_bad_token(sts_public, ident, id_token):
    good = id_token("alice")
    header, payload, signature = good.split(".")
    claims = cs.claims_of(good)
    claims["sub"] = "someone-else"
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    for token in ("not-a-jwt", f"{header}.{forged_payload}.{signature}", good[:-4] + "AAAA"):
        expect_error(
            "InvalidIdentityToken",
            sts_public.assume_role_with_web_identity,
            RoleArn=ident["role_arn"],
            RoleSessionName="tb-interop-bad",
            WebIdentityToken=token,
        )


def test_sts_refuses_the_wrong_audience(sts_public, ident, cog, id_token):
    """An id token of the demo pool's secret client (aud = that client): the role admits the public one only."""
    token = id_token("alice", secret=True)
    assert cs.claims_of(token)["aud"] == cog["secret_client_id"]
    expect_error(
        "AccessDenied",
        sts_public.assume_role_with_web_identity,
        RoleArn=ident["role_arn"],
        RoleSessionName="tb-interop-wrong-aud",
        WebIdentityToken=token,
    )


def test_sts_refuses_a_role_whose_trust_does_not_match(sts_public, roles, ident, cog, id_token):
    provider = cs.without_scheme(cog["issuer"])
    oidc = f"arn:aws:iam::{ident['account_id']}:oidc-provider/{provider}"
    _, matching = roles(web_identity_trust(oidc, f"{provider}:aud", cog["client_id"]))
    _, other = roles(web_identity_trust(oidc, f"{provider}:aud", "another-audience"))
    token = id_token("alice")
    # The same trust with the token's audience admits it: only the audience differs.
    ok = sts_public.assume_role_with_web_identity(RoleArn=matching, RoleSessionName="tb-interop-trust", WebIdentityToken=token)
    assert ok["AssumedRoleUser"]["Arn"].endswith("/tb-interop-trust"), ok
    expect_error(
        "AccessDenied",
        sts_public.assume_role_with_web_identity,
        RoleArn=other,
        RoleSessionName="tb-interop-trust",
        WebIdentityToken=token,
    )


# --- iam ------------------------------------------------------------------------------------


def test_iam_role_and_inline_policy_lifecycle(iam, ident):
    name = cs.unique("tb-interop-iam")
    trust = web_identity_trust(cs.COGNITO_IDENTITY_PROVIDER, f"{cs.COGNITO_IDENTITY_PROVIDER}:aud", ident["identity_pool_id"])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowGraphQL",
                "Effect": "Allow",
                "Action": "appsync:GraphQL",
                "Resource": f"{ident['graphql_api_arn']}/types/Query/fields/*",
            }
        ],
    }
    created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description="interop")["Role"]
    try:
        assert created["RoleName"] == name, created
        assert created["Arn"] == f"arn:aws:iam::{ident['account_id']}:role/{name}", created
        assert created["RoleId"].startswith("AROA"), created
        assert created["Path"] == "/", created
        assert isinstance(created["CreateDate"], datetime.datetime), created

        role = iam.get_role(RoleName=name)["Role"]
        assert role["Arn"] == created["Arn"] and role["RoleId"] == created["RoleId"], role
        assert role["AssumeRolePolicyDocument"] == trust, role["AssumeRolePolicyDocument"]
        assert role.get("Description") == "interop", role

        iam.put_role_policy(RoleName=name, PolicyName="graphql", PolicyDocument=json.dumps(policy))
        got = iam.get_role_policy(RoleName=name, PolicyName="graphql")
        assert got["RoleName"] == name and got["PolicyName"] == "graphql", got
        assert got["PolicyDocument"] == policy, got["PolicyDocument"]
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["graphql"]

        listed = [r for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
        by_name = {r["RoleName"]: r for r in listed}
        assert by_name[name]["Arn"] == created["Arn"], by_name[name]
        assert cs.role_name_of(ident["role_arn"]) in by_name, "the demo's role is not listed"
        assert len(listed) == len(by_name), "ListRoles lists a role twice"

        iam.delete_role_policy(RoleName=name, PolicyName="graphql")
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []
        expect_error("NoSuchEntity", iam.get_role_policy, RoleName=name, PolicyName="graphql")
        iam.delete_role(RoleName=name)
    finally:
        cs.delete_role_quietly(iam, name)
    expect_error("NoSuchEntity", iam.get_role, RoleName=name)


def test_iam_refuses_a_malformed_policy_with_its_position(iam, roles, ident):
    name, _ = roles(web_identity_trust(cs.COGNITO_IDENTITY_PROVIDER, f"{cs.COGNITO_IDENTITY_PROVIDER}:aud", ident["identity_pool_id"]))
    # Valid JSON, invalid policy: "Effect" is neither Allow nor Deny (line 4).
    bad_effect = '{\n  "Version": "2012-10-17",\n  "Statement": [{\n    "Effect": "Permit",\n    "Action": "*",\n    "Resource": "*"\n  }]\n}'
    # Not JSON at all: a comma missing after "Allow" (line 4).
    bad_json = '{\n  "Version": "2012-10-17",\n  "Statement": [{\n    "Effect": "Allow"\n    "Action": "*",\n    "Resource": "*"\n  }]\n}'
    # Where the parser stops: the value "Permit" on line 4; "Action" on line 5 where a comma was due.
    for doc, line in ((bad_effect, 4), (bad_json, 5)):
        e = expect_error("MalformedPolicyDocument", iam.put_role_policy, RoleName=name, PolicyName="bad", PolicyDocument=doc)
        m = re.search(r"line (\d+),? column (\d+)", cs.error_message(e))
        assert m, f"the message names no line and column: {cs.error_message(e)!r}"
        assert int(m.group(1)) == line, (cs.error_message(e), doc)
        assert int(m.group(2)) >= 1, cs.error_message(e)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []
    expect_error(
        "MalformedPolicyDocument",
        iam.create_role,
        RoleName=cs.unique("tb-interop-bad"),
        AssumeRolePolicyDocument=bad_effect,
    )


def test_iam_refuses_unsigned_calls(aws):
    e = expect_error("MissingAuthenticationToken", aws("iam", unsigned=True).list_roles)
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response


# --- the demo GraphQL API -------------------------------------------------------------------


def graphql_ok(r):
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    body = r.json()
    assert not body.get("errors"), body
    assert r.headers.get("x-amzn-RequestId"), dict(r.headers)
    return body["data"]


def test_graphql_allowed_with_identity_pool_credentials(alice_session, ident):
    url, region, creds = ident["graphql_url"], ident["region"], alice_session["credentials"]
    items = graphql_ok(cs.graphql(url, creds, region, GRAPHQL_LIST))["listItems"]
    assert isinstance(items, list), items
    assert all(set(i) == {"id", "name"} for i in items), items

    name = cs.unique("tb-interop-item")
    added = graphql_ok(cs.graphql(url, creds, region, GRAPHQL_ADD, {"name": name}))["addItem"]
    assert added["name"] == name and added["id"] and added["owner"] and added["createdAt"], added
    items = graphql_ok(cs.graphql(url, creds, region, GRAPHQL_LIST))["listItems"]
    assert {"id": added["id"], "name": name} in items, items


def test_graphql_allowed_with_sts_credentials(alice_sts, ident):
    creds = cs.temporary_credentials(alice_sts["Credentials"])
    assert isinstance(graphql_ok(cs.graphql(ident["graphql_url"], creds, ident["region"], GRAPHQL_LIST))["listItems"], list)


def test_graphql_refuses_unsigned_and_badly_signed_calls(alice_session, ident):
    url = ident["graphql_url"]
    r = requests.post(url, json={"query": GRAPHQL_LIST}, timeout=cs.HTTP_TIMEOUT)
    assert r.status_code == 401 and r.json()["errors"][0]["errorType"] == "UnauthorizedException", r.text
    access, secret, token = alice_session["credentials"]
    r = cs.graphql(url, (access, secret[::-1], token), ident["region"], GRAPHQL_LIST)
    assert r.status_code in (401, 403), f"{r.status_code} {r.text}"
    assert r.json()["errors"][0]["errorType"], r.text


def test_graphql_denied_by_the_seeds_mistake_and_explained(
    misconfigured_session, ident, aws, audit_explain, demo_info
):
    field_arn = f"{ident['graphql_api_arn']}/types/Query/fields/listItems"
    r = cs.graphql(ident["graphql_url"], misconfigured_session["credentials"], ident["region"], GRAPHQL_LIST)
    assert r.status_code == 401, f"{r.status_code} {r.text}"
    body = r.json()
    assert body.get("data") in (None, {"listItems": None}), body
    error = body["errors"][0]
    assert error["errorType"] == "UnauthorizedException", body
    assert error["message"] == "Not Authorized to access listItems on type Query", body
    request_id = r.headers.get("x-amzn-RequestId")
    assert request_id, dict(r.headers)

    # `tokenbridge audit explain` names the statement and why its Resource does not match.
    text = audit_explain(request_id)
    m = re.search(
        r'statement "(?P<sid>[^"]+)"[^\n]*? matches action appsync:GraphQL but its Resource (?P<resource>.+?) '
        rf"does not match {re.escape(field_arn)}",
        text,
    )
    assert m, f"audit explain {request_id} does not name the statement and its Resource:\n{text}"
    marked = [line for line in text.splitlines() if line.rstrip().endswith("<-- first failing check")]
    assert len(marked) == 1 and m.group(0) in marked[0], f"the first failing check is not that statement:\n{text}"
    resource = m.group("resource").strip("[]")
    assert ident["graphql_api_arn"] + "/" not in resource and resource != "*", resource

    # That statement is indeed in the misconfigured role's inline policies, with that Resource.
    iam = aws("iam")
    role = cs.role_name_of(ident["misconfigured_role_arn"])
    statements = []
    for policy_name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
        st = doc["Statement"]
        statements += st if isinstance(st, list) else [st]
    named = [s for s in statements if s.get("Sid") == m.group("sid")]
    assert named, f"no statement {m.group('sid')!r} in role {role}'s policies: {statements}"
    declared = named[0]["Resource"]
    assert resource in (declared if isinstance(declared, list) else [declared]), (resource, declared)

    # The admin API answers the same explanation as JSON.
    cli = audit_explain(request_id, as_json=True)
    admin = requests.get(
        f"{demo_info['base_url'].rstrip('/')}/admin/audit/{request_id}",
        headers={"Authorization": f"Bearer {demo_info['admin_token']}"},
        timeout=cs.HTTP_TIMEOUT,
    )
    assert admin.status_code == 200, f"{admin.status_code} {admin.text}"
    doc = admin.json()
    assert doc == cli, (doc, cli)
    assert doc["requestId"] == request_id, doc
    details = [s["detail"] for e in doc["events"] for s in e["steps"]]
    assert any(m.group(0) in d for d in details), details
    assert any(e["decision"] == "denied" for e in doc["events"]), doc


# --- cloudtrail -----------------------------------------------------------------------------


def test_cloudtrail_finds_the_enhanced_flows_assume_role_record(alice_session, aws, ident):
    key_id = alice_session["response"]["Credentials"]["AccessKeyId"]
    trail = aws("cloudtrail")
    found = None
    for page in trail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithWebIdentity"}],
        StartTime=alice_session["started"],
        EndTime=now_utc() + datetime.timedelta(seconds=5),
    ):
        for event in page["Events"]:
            assert event["EventName"] == "AssumeRoleWithWebIdentity", event
            record = json.loads(event["CloudTrailEvent"])
            credentials = ((record.get("responseElements") or {}).get("credentials")) or {}
            if credentials.get("accessKeyId") == key_id:
                found = event
                break
        if found:
            break
    assert found is not None, f"no AssumeRoleWithWebIdentity record issued {key_id}"

    raw = found["CloudTrailEvent"]
    record = json.loads(raw)
    pool_id, identity_id = ident["identity_pool_id"], alice_session["identity_id"]
    who = record["userIdentity"]
    assert who["type"] == "WebIdentityUser", who
    assert who["identityProvider"] == cs.COGNITO_IDENTITY_PROVIDER, who
    assert identity_id in who["principalId"], who
    assert record["eventName"] == "AssumeRoleWithWebIdentity" and record["eventSource"] == "sts.amazonaws.com", record
    assert record["requestParameters"]["roleArn"] == ident["role_arn"], record["requestParameters"]
    assert record["requestParameters"]["roleSessionName"] == cs.ENHANCED_FLOW_SESSION_NAME, record["requestParameters"]

    response = record["responseElements"]
    # Only the key id and the expiry of the credentials: never the secret or the session token.
    assert set(response["credentials"]) == {"accessKeyId", "expiration"}, response["credentials"]
    expiration = datetime.datetime.fromisoformat(response["credentials"]["expiration"].replace("Z", "+00:00"))
    issued = alice_session["response"]["Credentials"]["Expiration"]
    assert abs((expiration - issued).total_seconds()) <= 1, (expiration, issued)
    secret, token = alice_session["credentials"][1:]
    assert secret not in raw and token not in raw, "the secret key or session token is in the record"
    role = cs.role_name_of(ident["role_arn"])
    assumed = response["assumedRoleUser"]
    assert assumed["arn"] == f"arn:aws:sts::{ident['account_id']}:assumed-role/{role}/{cs.ENHANCED_FLOW_SESSION_NAME}"
    assert assumed["assumedRoleId"].endswith(":" + cs.ENHANCED_FLOW_SESSION_NAME), assumed
    assert response["provider"] == cs.COGNITO_IDENTITY_PROVIDER, response
    assert response["audience"] == pool_id, response
    assert response["subjectFromWebIdentityToken"] == identity_id, response

    resources = record["resources"]
    assert [(r["type"], r["ARN"]) for r in resources] == [("AWS::IAM::Role", ident["role_arn"])], resources
    assert record["eventType"] == "AwsApiCall", record
    assert record["readOnly"] is True, record
    assert record["recipientAccountId"] == ident["account_id"], record
    assert found["ReadOnly"] == "true", found
    assert found["EventSource"] == "sts.amazonaws.com", found
