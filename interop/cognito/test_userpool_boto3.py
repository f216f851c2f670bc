"""Interop: tokenbridge's Cognito-compatible user-pool API as boto3 (`cognito-idp`) sees it.

Runs against a live `tokenbridge demo` (scripts/test starts one; demo.json's `cognito` object
names the endpoint, region, admin credentials and the demo pool). Admin actions are SigV4-signed
by botocore with the admin credentials, public ones go unsigned as botocore's model says. Tokens
are verified with PyJWT against the JWKS found through the pool issuer's discovery document;
USER_SRP_AUTH is pycognito's client. Pools and users made here have unique names and are
deleted again; the demo users' failures are kept below the lockout and each ends with a success.
"""

import json
import re
import time

import pytest
import requests

import cognito_support as cs
from cognito_support import expect_error


def groups_of(claims):
    return set(claims.get("cognito:groups") or [])


# --- pools and app clients ------------------------------------------------------------------


def test_user_pool_lifecycle(idp, cog):
    name = cs.unique("tb-interop-lifecycle")
    pool = idp.create_user_pool(PoolName=name)["UserPool"]
    pool_id = pool["Id"]
    try:
        assert cs.POOL_ID_RE.match(pool_id), pool_id
        assert pool_id.startswith(cog["region"] + "_"), pool_id
        assert pool["Name"] == name, pool

        described = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        assert described["Id"] == pool_id and described["Name"] == name, described

        seen, token, pages = {}, None, 0
        while True:
            page = idp.list_user_pools(MaxResults=10, **({"NextToken": token} if token else {}))
            assert len(page["UserPools"]) <= 10, page
            for p in page["UserPools"]:
                assert p["Id"] not in seen, f"pool {p['Id']} listed twice"
                seen[p["Id"]] = p["Name"]
            token = page.get("NextToken")
            pages += 1
            if not token:
                break
            assert pages < 1000, "ListUserPools never ends"
        assert seen.get(pool_id) == name, "the new pool is not listed"
        assert cog["user_pool_id"] in seen, "the demo pool is not listed"
    finally:
        idp.delete_user_pool(UserPoolId=pool_id)

    expect_error("ResourceNotFoundException", idp.describe_user_pool, UserPoolId=pool_id)
    listed = idp.list_user_pools(MaxResults=60)["UserPools"]
    assert pool_id not in {p["Id"] for p in listed}
    expect_error("ResourceNotFoundException", idp.delete_user_pool, UserPoolId=pool_id)


def test_app_client_lifecycle(idp, scratch):
    pool_id = scratch.pool_id
    flows = ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    public = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName=cs.unique("tb-client"), ExplicitAuthFlows=flows
    )["UserPoolClient"]
    secret = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName=cs.unique("tb-client"), GenerateSecret=True, ExplicitAuthFlows=cs.ALL_FLOWS
    )["UserPoolClient"]
    try:
        for c in (public, secret):
            assert cs.CLIENT_ID_RE.match(c["ClientId"]), c["ClientId"]
            assert c["UserPoolId"] == pool_id, c
        assert public["ClientId"] != secret["ClientId"]
        assert "ClientSecret" not in public, public
        assert isinstance(secret.get("ClientSecret"), str) and len(secret["ClientSecret"]) >= 32, secret
        assert set(public["ExplicitAuthFlows"]) == set(flows), public

        d = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=public["ClientId"])["UserPoolClient"]
        assert d["ClientId"] == public["ClientId"] and d["ClientName"] == public["ClientName"], d
        assert set(d["ExplicitAuthFlows"]) == set(flows), d
        d = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=secret["ClientId"])["UserPoolClient"]
        assert d["ClientSecret"] == secret["ClientSecret"], "DescribeUserPoolClient shows the secret, as AWS does"

        listed = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
        by_id = {c["ClientId"]: c for c in listed}
        for c in (public, secret):
            assert by_id[c["ClientId"]]["ClientName"] == c["ClientName"]
            assert by_id[c["ClientId"]]["UserPoolId"] == pool_id
            assert "ClientSecret" not in by_id[c["ClientId"]], "ListUserPoolClients never shows secrets"
        # The scratch pool's own two clients are there too.
        assert {scratch.client_id, scratch.secret_client_id} <= set(by_id)

        paged, token = [], None
        while True:
            page = idp.list_user_pool_clients(
                UserPoolId=pool_id, MaxResults=1, **({"NextToken": token} if token else {})
            )
            assert len(page["UserPoolClients"]) <= 1, page
            paged += [c["ClientId"] for c in page["UserPoolClients"]]
            token = page.get("NextToken")
            if not token:
                break
            assert len(paged) < 100, "ListUserPoolClients never ends"
        assert len(paged) == len(set(paged)) and set(paged) == set(by_id), (paged, sorted(by_id))
    finally:
        for c in (public, secret):
            idp.delete_user_pool_client(UserPoolId=pool_id, ClientId=c["ClientId"])
    for c in (public, secret):
        expect_error(
            "ResourceNotFoundException", idp.describe_user_pool_client, UserPoolId=pool_id, ClientId=c["ClientId"]
        )
    expect_error("ResourceNotFoundException", idp.describe_user_pool_client, UserPoolId=pool_id, ClientId="0" * 26)


def test_demo_pool_is_as_demo_json_says(idp, cog, demo_pool):
    assert cs.POOL_ID_RE.match(demo_pool.pool_id) and demo_pool.pool_id.startswith(cog["region"] + "_")
    assert cog["endpoint"].rstrip("/") == idp.meta.endpoint_url.rstrip("/")
    assert demo_pool.issuer == f"{cog['endpoint'].rstrip('/')}/{demo_pool.pool_id}"
    assert cog["providers"] and "demo" in cog["providers"], cog
    assert isinstance(cog["session_seconds"], int) and cog["session_seconds"] > 0, cog
    pool = idp.describe_user_pool(UserPoolId=demo_pool.pool_id)["UserPool"]
    assert pool["Id"] == demo_pool.pool_id
    public = idp.describe_user_pool_client(UserPoolId=demo_pool.pool_id, ClientId=demo_pool.client_id)["UserPoolClient"]
    assert "ClientSecret" not in public
    assert set(cs.ALL_FLOWS) <= set(public["ExplicitAuthFlows"]), public
    secret = idp.describe_user_pool_client(UserPoolId=demo_pool.pool_id, ClientId=demo_pool.secret_client_id)[
        "UserPoolClient"
    ]
    assert secret["ClientSecret"] == demo_pool.secret_client_secret
    users = {u["Username"] for u in idp.list_users(UserPoolId=demo_pool.pool_id)["Users"]}
    assert {"alice", "bob", "dave", "erin"} <= users, users


# --- discovery, keys, tokens ----------------------------------------------------------------


def test_pool_issuer_discovery_and_jwks(verifier, cog):
    doc = verifier.discovery(cog["issuer"])
    assert doc["issuer"] == cog["issuer"], doc
    assert doc["jwks_uri"] == f"{cog['issuer']}/.well-known/jwks.json", doc
    pool_keys = requests.get(doc["jwks_uri"], timeout=cs.HTTP_TIMEOUT).json()["keys"]
    base_keys = requests.get(f"{cog['endpoint'].rstrip('/')}/.well-known/jwks.json", timeout=cs.HTTP_TIMEOUT).json()[
        "keys"
    ]
    assert pool_keys, "empty pool JWKS"
    assert {k["kid"] for k in pool_keys} == {k["kid"] for k in base_keys}, "the pool serves the broker's keys"
    for k in pool_keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(k), f"private members in {k['kid']}"


def test_demo_user_password_auth_tokens(idp, verifier, demo_user, cog):
    alice = demo_user("alice")
    result = cs.password_login(idp, alice)["AuthenticationResult"]
    idc, atc = verifier.verify_result(result, cog["issuer"], alice.pool.client_id, "alice")
    assert idc["iss"] == cog["issuer"] and atc["iss"] == cog["issuer"]
    assert idc["email"] == "alice@example.com" and idc["email_verified"] is True, idc
    assert groups_of(idc) == {"admins", "readers"}, idc
    assert groups_of(atc) == {"admins", "readers"}, atc


# --- app client secrets ---------------------------------------------------------------------


def test_secret_client_needs_the_right_secret_hash(idp, make_user, verifier):
    user = make_user()
    pool = user.pool
    result = cs.password_login(idp, user, secret=True)["AuthenticationResult"]
    verifier.verify_result(result, pool.issuer, pool.secret_client_id, user.username)

    base = {"USERNAME": user.username, "PASSWORD": user.password}
    wrong = cs.secret_hash(user.username, pool.secret_client_id, pool.secret_client_secret + "x")
    for params in (dict(base, SECRET_HASH=wrong), base):
        expect_error(
            "NotAuthorizedException",
            idp.initiate_auth,
            ClientId=pool.secret_client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters=params,
        )
    # The hash of another user's name is wrong too.
    other = cs.secret_hash(user.username + "x", pool.secret_client_id, pool.secret_client_secret)
    expect_error(
        "NotAuthorizedException",
        idp.initiate_auth,
        ClientId=pool.secret_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters=dict(base, SECRET_HASH=other),
    )
    # Still fine afterwards (a bad hash is not a password failure that locks the user out).
    cs.password_login(idp, user, secret=True)


def test_demo_secret_client(idp, verifier, demo_user, cog):
    bob = demo_user("bob")
    result = cs.password_login(idp, bob, secret=True)["AuthenticationResult"]
    idc, _ = verifier.verify_result(result, cog["issuer"], bob.pool.secret_client_id, "bob")
    assert groups_of(idc) == {"readers"}, idc


# --- users ----------------------------------------------------------------------------------


def test_admin_create_user_then_new_password_required(idp, scratch, make_user, verifier):
    username, temp, final = cs.unique("tb-new"), cs.new_password(), cs.new_password()
    email = f"{username}@example.test"
    created = idp.admin_create_user(
        UserPoolId=scratch.pool_id,
        Username=username,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        TemporaryPassword=temp,
        MessageAction="SUPPRESS",
    )["User"]
    make_user.track(scratch.pool_id, username)
    assert created["Username"] == username
    assert created["UserStatus"] == "FORCE_CHANGE_PASSWORD", created
    assert created["Enabled"] is True, created
    attrs = cs.attributes(created["Attributes"])
    assert attrs["email"] == email and attrs.get("sub"), attrs
    expect_error(
        "UsernameExistsException",
        idp.admin_create_user,
        UserPoolId=scratch.pool_id,
        Username=username,
        TemporaryPassword=temp,
        MessageAction="SUPPRESS",
    )

    r = idp.initiate_auth(
        ClientId=scratch.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": temp},
    )
    assert r["ChallengeName"] == "NEW_PASSWORD_REQUIRED", r
    assert "AuthenticationResult" not in r, r
    assert r["Session"], r
    assert r["ChallengeParameters"]["USER_ID_FOR_SRP"] == username, r

    done = idp.respond_to_auth_challenge(
        ClientId=scratch.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=r["Session"],
        ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": final},
    )
    idc, _ = verifier.verify_result(done["AuthenticationResult"], scratch.issuer, scratch.client_id, username)
    assert idc["sub"] == attrs["sub"] and idc["email"] == email, idc

    assert idp.admin_get_user(UserPoolId=scratch.pool_id, Username=username)["UserStatus"] == "CONFIRMED"
    user = cs.User(pool=scratch, username=username, password=final, email=email)
    assert cs.password_login(idp, user)["AuthenticationResult"]["AccessToken"]
    expect_error("NotAuthorizedException", cs.password_login, idp, user, password=temp, message=cs.INCORRECT)


def test_admin_set_user_password(idp, make_user):
    user = make_user()
    pool = user.pool
    new = cs.new_password()
    idp.admin_set_user_password(UserPoolId=pool.pool_id, Username=user.username, Password=new, Permanent=True)
    assert idp.admin_get_user(UserPoolId=pool.pool_id, Username=user.username)["UserStatus"] == "CONFIRMED"
    expect_error("NotAuthorizedException", cs.password_login, idp, user, message=cs.INCORRECT)
    assert cs.password_login(idp, user, password=new)["AuthenticationResult"]

    temp = cs.new_password()
    idp.admin_set_user_password(UserPoolId=pool.pool_id, Username=user.username, Password=temp, Permanent=False)
    got = idp.admin_get_user(UserPoolId=pool.pool_id, Username=user.username)
    assert got["UserStatus"] == "FORCE_CHANGE_PASSWORD", got
    r = cs.password_login(idp, user, password=temp)
    assert r["ChallengeName"] == "NEW_PASSWORD_REQUIRED" and "AuthenticationResult" not in r, r

    expect_error(
        "UserNotFoundException",
        idp.admin_set_user_password,
        UserPoolId=pool.pool_id,
        Username=cs.unique("tb-nobody"),
        Password=new,
        Permanent=True,
    )


def test_admin_get_user_and_update_attributes(idp, make_user):
    user = make_user()
    pool = user.pool
    got = idp.admin_get_user(UserPoolId=pool.pool_id, Username=user.username)
    assert got["Username"] == user.username
    assert got["Enabled"] is True and got["UserStatus"] == "CONFIRMED", got
    attrs = cs.attributes(got["UserAttributes"])
    assert attrs["email"] == user.email and attrs["email_verified"] == "true" and attrs.get("sub"), attrs
    assert got["UserCreateDate"] <= got["UserLastModifiedDate"], got  # botocore parsed both as datetimes

    time.sleep(1.1)  # so UserLastModifiedDate can move
    idp.admin_update_user_attributes(
        UserPoolId=pool.pool_id,
        Username=user.username,
        UserAttributes=[{"Name": "name", "Value": "Test Person"}, {"Name": "given_name", "Value": "Test"}],
    )
    after = idp.admin_get_user(UserPoolId=pool.pool_id, Username=user.username)
    attrs2 = cs.attributes(after["UserAttributes"])
    assert attrs2["name"] == "Test Person" and attrs2["given_name"] == "Test", attrs2
    assert attrs2["sub"] == attrs["sub"] and attrs2["email"] == user.email, attrs2
    assert after["UserLastModifiedDate"] > got["UserLastModifiedDate"], (got, after)

    # GetUser with the user's own access token says the same.
    access = cs.password_login(idp, user)["AuthenticationResult"]["AccessToken"]
    me = idp.get_user(AccessToken=access)
    assert me["Username"] == user.username
    assert cs.attributes(me["UserAttributes"]) == attrs2

    expect_error("UserNotFoundException", idp.admin_get_user, UserPoolId=pool.pool_id, Username=cs.unique("tb-nobody"))


def test_disabled_user_cannot_sign_in(idp, make_user):
    user = make_user()
    pool = user.pool
    refresh_token = cs.password_login(idp, user)["AuthenticationResult"]["RefreshToken"]

    idp.admin_disable_user(UserPoolId=pool.pool_id, Username=user.username)
    assert idp.admin_get_user(UserPoolId=pool.pool_id, Username=user.username)["Enabled"] is False
    expect_error("NotAuthorizedException", cs.password_login, idp, user)
    expect_error("NotAuthorizedException", cs.admin_login, idp, user)
    expect_error("NotAuthorizedException", cs.srp_login, idp, user)
    # Disabling ends the user's sessions: the refresh token no longer works.
    expect_error("NotAuthorizedException", cs.refresh, idp, pool, refresh_token)

    idp.admin_enable_user(UserPoolId=pool.pool_id, Username=user.username)
    assert idp.admin_get_user(UserPoolId=pool.pool_id, Username=user.username)["Enabled"] is True
    assert cs.password_login(idp, user)["AuthenticationResult"]["AccessToken"]


def test_admin_delete_user(idp, make_user):
    user = make_user()
    pool = user.pool
    idp.admin_delete_user(UserPoolId=pool.pool_id, Username=user.username)
    expect_error("UserNotFoundException", idp.admin_get_user, UserPoolId=pool.pool_id, Username=user.username)
    expect_error("UserNotFoundException", idp.admin_delete_user, UserPoolId=pool.pool_id, Username=user.username)
    # PreventUserExistenceErrors: a deleted user signs in like a wrong password.
    expect_error("NotAuthorizedException", cs.password_login, idp, user, message=cs.INCORRECT)
    listed = idp.list_users(UserPoolId=pool.pool_id, Filter=f'username = "{user.username}"')["Users"]
    assert listed == [], listed


def test_sign_up_and_confirm_with_the_emailed_code(idp, scratch, make_user, verifier):
    username, password = cs.unique("tb-signup"), cs.new_password()
    email = f"{username}@example.test"
    mark = cs.codes_mark()
    r = idp.sign_up(
        ClientId=scratch.client_id,
        Username=username,
        Password=password,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    make_user.track(scratch.pool_id, username)
    assert r["UserConfirmed"] is False, r
    assert re.fullmatch(r"[0-9a-f-]{36}", r["UserSub"]), r
    details = r["CodeDeliveryDetails"]
    assert details["DeliveryMedium"] == "EMAIL" and details["AttributeName"] == "email", details
    assert details["Destination"] and details["Destination"] != email, "the destination is masked"

    got = idp.admin_get_user(UserPoolId=scratch.pool_id, Username=username)
    assert got["UserStatus"] == "UNCONFIRMED", got
    user = cs.User(pool=scratch, username=username, password=password, email=email)
    expect_error("UserNotConfirmedException", cs.password_login, idp, user)
    expect_error(
        "UsernameExistsException", idp.sign_up, ClientId=scratch.client_id, Username=username, Password=password
    )

    code = cs.wait_code(mark, scratch.pool_id, username, "SignUp")
    expect_error(
        "CodeMismatchException",
        idp.confirm_sign_up,
        ClientId=scratch.client_id,
        Username=username,
        ConfirmationCode=cs.wrong_code(code),
    )
    idp.confirm_sign_up(ClientId=scratch.client_id, Username=username, ConfirmationCode=code)

    got = idp.admin_get_user(UserPoolId=scratch.pool_id, Username=username)
    assert got["UserStatus"] == "CONFIRMED", got
    assert cs.attributes(got["UserAttributes"]).get("email_verified") == "true", got
    idc, _ = verifier.verify_result(
        cs.password_login(idp, user)["AuthenticationResult"], scratch.issuer, scratch.client_id, username
    )
    assert idc["sub"] == r["UserSub"] and idc["email"] == email, idc


def test_sign_up_with_secret_client_and_admin_confirm(idp, scratch, make_user):
    username, password = cs.unique("tb-signup"), cs.new_password()
    params = dict(
        ClientId=scratch.secret_client_id,
        Username=username,
        Password=password,
        UserAttributes=[{"Name": "email", "Value": f"{username}@example.test"}],
    )
    expect_error("NotAuthorizedException", idp.sign_up, **params)  # no SECRET_HASH
    r = idp.sign_up(
        SecretHash=cs.secret_hash(username, scratch.secret_client_id, scratch.secret_client_secret), **params
    )
    make_user.track(scratch.pool_id, username)
    assert r["UserConfirmed"] is False, r

    idp.admin_confirm_sign_up(UserPoolId=scratch.pool_id, Username=username)
    assert idp.admin_get_user(UserPoolId=scratch.pool_id, Username=username)["UserStatus"] == "CONFIRMED"
    user = cs.User(pool=scratch, username=username, password=password, email=f"{username}@example.test")
    assert cs.password_login(idp, user, secret=True)["AuthenticationResult"]["IdToken"]


def test_forgot_password(idp, make_user):
    user = make_user()
    pool = user.pool
    mark = cs.codes_mark()
    r = idp.forgot_password(ClientId=pool.client_id, Username=user.username)
    details = r["CodeDeliveryDetails"]
    assert details["DeliveryMedium"] == "EMAIL" and details["AttributeName"] == "email", details
    code = cs.wait_code(mark, pool.pool_id, user.username, "ForgotPassword")

    new = cs.new_password()
    expect_error(
        "CodeMismatchException",
        idp.confirm_forgot_password,
        ClientId=pool.client_id,
        Username=user.username,
        ConfirmationCode=cs.wrong_code(code),
        Password=new,
    )
    idp.confirm_forgot_password(ClientId=pool.client_id, Username=user.username, ConfirmationCode=code, Password=new)
    assert cs.password_login(idp, user, password=new)["AuthenticationResult"]
    expect_error("NotAuthorizedException", cs.password_login, idp, user, message=cs.INCORRECT)
    # A code works once.
    expect_error(
        "CodeMismatchException",
        idp.confirm_forgot_password,
        ClientId=pool.client_id,
        Username=user.username,
        ConfirmationCode=code,
        Password=cs.new_password(),
    )


def test_change_password(idp, make_user):
    user = make_user()
    access = cs.password_login(idp, user)["AuthenticationResult"]["AccessToken"]
    new = cs.new_password()
    expect_error(
        "NotAuthorizedException",
        idp.change_password,
        PreviousPassword=user.password + "x",
        ProposedPassword=new,
        AccessToken=access,
    )
    idp.change_password(PreviousPassword=user.password, ProposedPassword=new, AccessToken=access)
    expect_error("NotAuthorizedException", cs.password_login, idp, user, message=cs.INCORRECT)
    assert cs.password_login(idp, user, password=new)["AuthenticationResult"]


# --- groups ---------------------------------------------------------------------------------


def test_groups_and_the_groups_claim(idp, scratch, make_user, verifier):
    group = cs.unique("tb-group")
    created = idp.create_group(UserPoolId=scratch.pool_id, GroupName=group, Description="interop", Precedence=5)[
        "Group"
    ]
    try:
        assert created["GroupName"] == group and created["UserPoolId"] == scratch.pool_id, created
        assert created["Description"] == "interop" and created["Precedence"] == 5, created
        expect_error("GroupExistsException", idp.create_group, UserPoolId=scratch.pool_id, GroupName=group)
        assert idp.get_group(UserPoolId=scratch.pool_id, GroupName=group)["Group"]["GroupName"] == group

        names, token = [], None
        while True:
            page = idp.list_groups(UserPoolId=scratch.pool_id, Limit=1, **({"NextToken": token} if token else {}))
            names += [g["GroupName"] for g in page["Groups"]]
            token = page.get("NextToken")
            if not token:
                break
            assert len(names) < 1000
        assert group in names and len(names) == len(set(names)), names

        user = make_user()
        idc, _ = verifier.verify_result(
            cs.password_login(idp, user)["AuthenticationResult"], scratch.issuer, scratch.client_id, user.username
        )
        assert group not in groups_of(idc)

        idp.admin_add_user_to_group(UserPoolId=scratch.pool_id, Username=user.username, GroupName=group)
        idc, atc = verifier.verify_result(
            cs.password_login(idp, user)["AuthenticationResult"], scratch.issuer, scratch.client_id, user.username
        )
        assert groups_of(idc) == {group} and groups_of(atc) == {group}, (idc, atc)
        listed = idp.admin_list_groups_for_user(UserPoolId=scratch.pool_id, Username=user.username)["Groups"]
        assert [g["GroupName"] for g in listed] == [group], listed

        idp.admin_remove_user_from_group(UserPoolId=scratch.pool_id, Username=user.username, GroupName=group)
        assert idp.admin_list_groups_for_user(UserPoolId=scratch.pool_id, Username=user.username)["Groups"] == []
        idc, atc = verifier.verify_result(
            cs.password_login(idp, user)["AuthenticationResult"], scratch.issuer, scratch.client_id, user.username
        )
        assert not groups_of(idc) and not groups_of(atc), (idc, atc)
    finally:
        idp.delete_group(UserPoolId=scratch.pool_id, GroupName=group)
    expect_error("ResourceNotFoundException", idp.get_group, UserPoolId=scratch.pool_id, GroupName=group)


# --- ListUsers ------------------------------------------------------------------------------


def test_list_users_filters(idp, make_user):
    prefix = cs.unique("tb-flt")
    users = [make_user(prefix=prefix) for _ in range(3)]
    other = make_user()
    pool_id = users[0].pool.pool_id

    got = idp.list_users(UserPoolId=pool_id, Filter=f'email = "{users[1].email}"')["Users"]
    assert [u["Username"] for u in got] == [users[1].username], got
    assert cs.attributes(got[0]["Attributes"])["email"] == users[1].email

    got = idp.list_users(UserPoolId=pool_id, Filter=f'username ^= "{prefix}"')["Users"]
    assert sorted(u["Username"] for u in got) == sorted(u.username for u in users), got

    got = idp.list_users(UserPoolId=pool_id, Filter=f'username = "{other.username}"')["Users"]
    assert [u["Username"] for u in got] == [other.username], got

    assert idp.list_users(UserPoolId=pool_id, Filter=f'email = "nobody-{prefix}@example.test"')["Users"] == []
    expect_error("InvalidParameterException", idp.list_users, UserPoolId=pool_id, Filter="this is no filter")


def test_list_users_pagination(idp, scratch, make_user):
    prefix = cs.unique("tb-page")
    made = {make_user(prefix=prefix).username for _ in range(7)}
    make_user()  # one more, outside the prefix
    pool_id = scratch.pool_id

    def pages(**kwargs):
        out, token = [], None
        while True:
            page = idp.list_users(UserPoolId=pool_id, **kwargs, **({"PaginationToken": token} if token else {}))
            out.append([u["Username"] for u in page["Users"]])
            token = page.get("PaginationToken")
            if not token:
                return out
            assert len(out) < 1000, "ListUsers never ends"

    flt = f'username ^= "{prefix}"'
    unpaginated = idp.list_users(UserPoolId=pool_id, Filter=flt)
    assert "PaginationToken" not in unpaginated, unpaginated
    assert {u["Username"] for u in unpaginated["Users"]} == made

    paged = pages(Filter=flt, Limit=3)
    assert all(len(p) <= 3 for p in paged) and len(paged) >= 3, paged
    flat = [u for p in paged for u in p]
    assert len(flat) == len(set(flat)) and set(flat) == made, paged

    # The whole pool, 2 at a time, is the unpaginated listing (the pool holds fewer than 60 users).
    everyone = [u["Username"] for u in idp.list_users(UserPoolId=pool_id, Limit=60)["Users"]]
    assert len(everyone) < 60
    flat = [u for p in pages(Limit=2) for u in p]
    assert len(flat) == len(set(flat)) and set(flat) == set(everyone), (flat, everyone)

    # boto3's own paginator agrees.
    paginator = idp.get_paginator("list_users")
    pages_ = paginator.paginate(UserPoolId=pool_id, Filter=flt, PaginationConfig={"PageSize": 2})
    flat = [u["Username"] for page in pages_ for u in page["Users"]]
    assert len(flat) == len(set(flat)) and set(flat) == made, flat


# --- auth flows -----------------------------------------------------------------------------


def test_user_password_auth(idp, make_user, verifier):
    user = make_user()
    r = cs.password_login(idp, user)
    assert "ChallengeName" not in r, r
    idc, atc = verifier.verify_result(r["AuthenticationResult"], user.pool.issuer, user.pool.client_id, user.username)
    assert idc["email"] == user.email and idc["email_verified"] is True, idc
    assert idc["auth_time"] == atc["auth_time"], (idc, atc)


def test_admin_user_password_auth(idp, make_user, verifier):
    user = make_user()
    r = cs.admin_login(idp, user)
    verifier.verify_result(r["AuthenticationResult"], user.pool.issuer, user.pool.client_id, user.username)
    expect_error(
        "NotAuthorizedException", cs.admin_login, idp, user, password=user.password + "x", message=cs.INCORRECT
    )


@pytest.mark.parametrize("secret", [False, True], ids=["public-client", "secret-client"])
def test_user_srp_auth_with_pycognito(idp, make_user, verifier, secret):
    user = make_user()
    r = cs.srp_login(idp, user, secret=secret)
    client_id = user.pool.secret_client_id if secret else user.pool.client_id
    verifier.verify_result(r["AuthenticationResult"], user.pool.issuer, client_id, user.username)
    expect_error("NotAuthorizedException", cs.srp_login, idp, user, secret=secret, password=user.password + "x")


def test_user_srp_auth_demo_user(idp, verifier, demo_user, cog):
    alice = demo_user("alice")
    r = cs.srp_login(idp, alice)
    idc, _ = verifier.verify_result(r["AuthenticationResult"], cog["issuer"], alice.pool.client_id, "alice")
    assert groups_of(idc) == {"admins", "readers"}, idc


def test_refresh_token_auth(idp, make_user, verifier):
    user = make_user()
    first = cs.password_login(idp, user)["AuthenticationResult"]
    old_id, old_access = cs.claims_of(first["IdToken"]), cs.claims_of(first["AccessToken"])
    r = cs.refresh(idp, user.pool, first["RefreshToken"])
    idc, atc = verifier.verify_result(
        r["AuthenticationResult"], user.pool.issuer, user.pool.client_id, user.username, expect_refresh=False
    )
    assert idc["sub"] == old_id["sub"], (idc, old_id)
    assert atc["origin_jti"] == old_access["origin_jti"], "a refresh stays in the sign-in's token family"
    assert atc["jti"] != old_access["jti"] and idc["jti"] != old_id["jti"]
    assert atc["auth_time"] == old_access["auth_time"], "auth_time is the original sign-in"
    # The refresh token is not rotated: it works again.
    again = cs.refresh(idp, user.pool, first["RefreshToken"])["AuthenticationResult"]
    assert "RefreshToken" not in again and again["AccessToken"]
    expect_error("NotAuthorizedException", cs.refresh, idp, user.pool, first["RefreshToken"] + "x")


def test_wrong_password_and_unknown_user(idp, make_user):
    user = make_user()
    expect_error(
        "NotAuthorizedException", cs.password_login, idp, user, password=user.password + "x", message=cs.INCORRECT
    )
    ghost = cs.User(pool=user.pool, username=cs.unique("tb-ghost"), password=cs.new_password(), email="")
    expect_error("NotAuthorizedException", cs.password_login, idp, ghost, message=cs.INCORRECT)
    expect_error("NotAuthorizedException", cs.admin_login, idp, ghost, message=cs.INCORRECT)
    assert cs.password_login(idp, user)["AuthenticationResult"]  # one miss does not lock anyone out


# --- CUSTOM_AUTH with a demo-upstream token -------------------------------------------------
# The demo users' failures stay few in a row (lockout comes after 5) and each test ends with a
# success for the user it failed.


def settle(idp, demo_user, upstream_tokens, demo_users, name):
    """A successful sign-in for a demo user, ending any run of failures."""
    user = demo_user(name)
    if user.password:
        assert cs.password_login(idp, user)["AuthenticationResult"]
    else:
        start = cs.custom_start(idp, user)
        token = upstream_tokens.id_token(demo_users[name])
        assert cs.custom_answer(idp, user, start["Session"], token)["AuthenticationResult"]


def test_custom_auth_with_an_upstream_token(idp, cog, verifier, demo_user, demo_users, upstream_tokens):
    erin = demo_user("erin")
    start = cs.custom_start(idp, erin)
    params = start["ChallengeParameters"]
    assert params["USERNAME"] == "erin", params
    assert params["providers"].split(",") == cog["providers"], params
    assert "AuthenticationResult" not in start, start

    r = cs.custom_answer(idp, erin, start["Session"], upstream_tokens.id_token(demo_users["erin"]))
    assert "ChallengeName" not in r or r["ChallengeName"] is None, r
    idc, _ = verifier.verify_result(r["AuthenticationResult"], cog["issuer"], erin.pool.client_id, "erin")
    assert idc["email"] == "erin@example.com", idc

    # A linked user with groups gets them too; refresh works on a CUSTOM_AUTH sign-in.
    alice = demo_user("alice")
    start = cs.custom_start(idp, alice)
    r = cs.custom_answer(idp, alice, start["Session"], upstream_tokens.id_token(demo_users["alice"]))
    idc, _ = verifier.verify_result(r["AuthenticationResult"], cog["issuer"], alice.pool.client_id, "alice")
    assert groups_of(idc) == {"admins", "readers"}, idc
    again = cs.refresh(idp, alice.pool, r["AuthenticationResult"]["RefreshToken"])["AuthenticationResult"]
    verifier.verify_result(again, cog["issuer"], alice.pool.client_id, "alice", expect_refresh=False)


def test_custom_auth_refuses_another_users_token(idp, demo_user, demo_users, upstream_tokens):
    bob = demo_user("bob")
    start = cs.custom_start(idp, bob)
    erins = upstream_tokens.id_token(demo_users["erin"])
    expect_error("NotAuthorizedException", cs.custom_answer, idp, bob, start["Session"], erins, message=cs.INCORRECT)
    settle(idp, demo_user, upstream_tokens, demo_users, "bob")


def test_custom_auth_refuses_garbage(idp, demo_user, demo_users, upstream_tokens):
    alice = demo_user("alice")
    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."  # alg none, unsigned
    for answer in ("garbage", forged):
        start = cs.custom_start(idp, alice)
        expect_error(
            "NotAuthorizedException", cs.custom_answer, idp, alice, start["Session"], answer, message=cs.INCORRECT
        )
    settle(idp, demo_user, upstream_tokens, demo_users, "alice")


def test_custom_auth_refuses_a_replayed_upstream_token(idp, demo_user, demo_users, upstream_tokens):
    erin = demo_user("erin")
    token = upstream_tokens.id_token(demo_users["erin"])
    start = cs.custom_start(idp, erin)
    assert cs.custom_answer(idp, erin, start["Session"], token)["AuthenticationResult"]
    start = cs.custom_start(idp, erin)
    expect_error("NotAuthorizedException", cs.custom_answer, idp, erin, start["Session"], token, message=cs.INCORRECT)
    settle(idp, demo_user, upstream_tokens, demo_users, "erin")


def test_custom_auth_session_expires(idp, cog, demo_user, demo_users, upstream_tokens):
    seconds = cog["session_seconds"]
    assert seconds <= 30, (
        f"sessions last {seconds} s here: run the demo with TOKENBRIDGE_COGNITO_SESSION_SECONDS=10 (scripts/test does)"
    )
    bob = demo_user("bob")
    start = cs.custom_start(idp, bob)
    time.sleep(seconds + 1)
    token = upstream_tokens.id_token(demo_users["bob"])
    expect_error(
        "NotAuthorizedException", cs.custom_answer, idp, bob, start["Session"], token, message=cs.EXPIRED_SESSION
    )
    settle(idp, demo_user, upstream_tokens, demo_users, "bob")


def test_custom_auth_three_answers_per_session(idp, demo_user, demo_users, upstream_tokens):
    bob = demo_user("bob")
    start = cs.custom_start(idp, bob)
    for i in range(3):
        expect_error(
            "NotAuthorizedException", cs.custom_answer, idp, bob, start["Session"], f"wrong-{i}", message=cs.INCORRECT
        )
    # The 4th answer on that session is refused even when right.
    token = upstream_tokens.id_token(demo_users["bob"])
    expect_error(
        "NotAuthorizedException", cs.custom_answer, idp, bob, start["Session"], token, message=cs.INVALID_SESSION
    )
    settle(idp, demo_user, upstream_tokens, demo_users, "bob")

    # A session that was never issued.
    alice = demo_user("alice")
    cs.custom_start(idp, alice)
    token = upstream_tokens.id_token(demo_users["alice"])
    expect_error("NotAuthorizedException", cs.custom_answer, idp, alice, "A" * 64, token, message=cs.INVALID_SESSION)
    # Nor may one user's session serve another.
    start = cs.custom_start(idp, bob)
    expect_error("NotAuthorizedException", cs.custom_answer, idp, alice, start["Session"], token)
    settle(idp, demo_user, upstream_tokens, demo_users, "alice")


# --- sign-out and revocation ----------------------------------------------------------------


def test_global_sign_out(idp, make_user):
    user = make_user()
    result = cs.password_login(idp, user)["AuthenticationResult"]
    assert idp.get_user(AccessToken=result["AccessToken"])["Username"] == user.username
    idp.global_sign_out(AccessToken=result["AccessToken"])
    expect_error("NotAuthorizedException", idp.get_user, AccessToken=result["AccessToken"])
    expect_error("NotAuthorizedException", cs.refresh, idp, user.pool, result["RefreshToken"])
    # A new sign-in works.
    fresh = cs.password_login(idp, user)["AuthenticationResult"]
    assert idp.get_user(AccessToken=fresh["AccessToken"])["Username"] == user.username


def test_admin_user_global_sign_out(idp, make_user):
    user = make_user()
    result = cs.password_login(idp, user)["AuthenticationResult"]
    idp.admin_user_global_sign_out(UserPoolId=user.pool.pool_id, Username=user.username)
    expect_error("NotAuthorizedException", cs.refresh, idp, user.pool, result["RefreshToken"])
    expect_error("NotAuthorizedException", idp.get_user, AccessToken=result["AccessToken"])


def test_revoke_token(idp, make_user):
    user = make_user()
    result = cs.password_login(idp, user)["AuthenticationResult"]
    other = cs.password_login(idp, user)["AuthenticationResult"]
    idp.revoke_token(Token=result["RefreshToken"], ClientId=user.pool.client_id)
    expect_error("NotAuthorizedException", cs.refresh, idp, user.pool, result["RefreshToken"])
    # Only that sign-in's family is revoked.
    assert cs.refresh(idp, user.pool, other["RefreshToken"])["AuthenticationResult"]["AccessToken"]


def test_get_user_refuses_bad_access_tokens(idp, make_user):
    user = make_user()
    result = cs.password_login(idp, user)["AuthenticationResult"]
    expect_error(
        "NotAuthorizedException", idp.get_user, AccessToken=result["IdToken"]
    )  # an id token is no access token
    expect_error("NotAuthorizedException", idp.get_user, AccessToken="garbage")


# --- SigV4 on admin actions -----------------------------------------------------------------


def test_unsigned_admin_call_is_refused(cog):
    anon = cs.make_client(cog, unsigned=True)
    expect_error("MissingAuthenticationTokenException", anon.list_user_pools, MaxResults=10)
    expect_error("MissingAuthenticationTokenException", anon.describe_user_pool, UserPoolId=cog["user_pool_id"])


def test_unknown_access_key_is_refused(cog):
    stranger = cs.make_client(cog, access_key="AKIA" + "Z" * 16, secret_key="not-a-secret")
    expect_error("UnrecognizedClientException", stranger.list_user_pools, MaxResults=10)


def test_wrong_secret_key_is_refused(cog):
    forger = cs.make_client(cog, secret_key=cog["admin_secret_access_key"] + "x")
    expect_error("InvalidSignatureException", forger.list_user_pools, MaxResults=10)


# --- the wire as a plain HTTP client sees it ------------------------------------------------


def raw_post(cog, action, body):
    return requests.post(
        cog["endpoint"].rstrip("/") + "/",
        data=json.dumps(body),
        headers={"Content-Type": cs.AMZ_JSON, "X-Amz-Target": f"{cs.TARGET_PREFIX}.{action}"},
        timeout=cs.HTTP_TIMEOUT,
    )


def raw_password_login(cog, user, password):
    """USER_PASSWORD_AUTH at the user's pool's public client, as a plain HTTP POST."""
    return raw_post(
        cog,
        "InitiateAuth",
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": user.pool.client_id,
            "AuthParameters": {"USERNAME": user.username, "PASSWORD": password},
        },
    )


def test_raw_error_body(cog, make_user):
    user = make_user()
    r = raw_password_login(cog, user, user.password + "x")
    assert r.status_code == 400, r.text
    assert r.headers.get("content-type", "").startswith(cs.AMZ_JSON), r.headers
    body = r.json()
    assert body == {"__type": "NotAuthorizedException", "message": "Incorrect username or password."}, body
    assert r.headers.get("x-amzn-RequestId"), r.headers
    assert r.headers.get("x-amzn-ErrorType", "").startswith("NotAuthorizedException"), r.headers


def test_raw_public_action_needs_no_signature(cog, make_user):
    user = make_user()
    r = raw_password_login(cog, user, user.password)
    assert r.status_code == 200, r.text
    assert r.headers.get("content-type", "").startswith(cs.AMZ_JSON), r.headers
    assert r.headers.get("x-amzn-RequestId"), r.headers
    result = r.json()["AuthenticationResult"]
    assert result["TokenType"] == "Bearer" and result["AccessToken"] and result["RefreshToken"], result

    r = raw_post(cog, "ListUserPools", {"MaxResults": 10})
    assert r.status_code == 400 and r.json()["__type"] == "MissingAuthenticationTokenException", r.text
