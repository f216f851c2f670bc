"""Shape conformance: every implemented action against botocore's bundled `cognito-idp` model.

One test per action exercises it for real through boto3 (whose request bodies, and the raw
response bytes before botocore parses them, are captured with botocore's `before-send` and
`before-parse` events), then replays that request with a pool, client or token that does not
exist to get an error. Every exchange of the test is checked:
  - the request: the action and every member sent exist in the operation's input shape;
  - a success: a JSON object validated recursively against the output shape (required members,
    JSON types with timestamps as epoch numbers, enums, lengths and ranges, no member the shape
    lacks; `{}` for operations without output);
  - an error: `__type` is one of the operation's modelled errors or a common AWS one, the body
    has only what that error shape has, and x-amzn-ErrorType agrees;
  - both: an x-amzn-RequestId header and Content-Type application/x-amz-json-1.1.
SDKs parse leniently, so a missing or mistyped field shows up here rather than in an app.
"""

import dataclasses

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

import cognito_support as cs

# The implemented actions (issue 5), each exercised below.
ACTIONS = [
    "CreateUserPool",
    "DescribeUserPool",
    "ListUserPools",
    "DeleteUserPool",
    "CreateUserPoolClient",
    "DescribeUserPoolClient",
    "ListUserPoolClients",
    "DeleteUserPoolClient",
    "InitiateAuth",
    "RespondToAuthChallenge",
    "AdminInitiateAuth",
    "AdminRespondToAuthChallenge",
    "SignUp",
    "ConfirmSignUp",
    "AdminConfirmSignUp",
    "AdminCreateUser",
    "AdminSetUserPassword",
    "AdminGetUser",
    "GetUser",
    "AdminDeleteUser",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminUpdateUserAttributes",
    "ListUsers",
    "CreateGroup",
    "GetGroup",
    "ListGroups",
    "DeleteGroup",
    "AdminAddUserToGroup",
    "AdminRemoveUserFromGroup",
    "AdminListGroupsForUser",
    "ChangePassword",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "GlobalSignOut",
    "AdminUserGlobalSignOut",
    "RevokeToken",
]
# Admin actions with no UserPoolId to point elsewhere: their error probe goes unsigned.
UNSIGNED_PROBE = {"CreateUserPool", "ListUserPools"}


@pytest.fixture(scope="session")
def model():
    return botocore.session.get_session().get_service_model("cognito-idp")


@dataclasses.dataclass
class Ctx:
    idp: object
    cog: dict
    scratch: cs.Pool
    make_user: object
    demo_user: object
    demo_users: dict
    upstream_tokens: object
    capture: cs.Capture
    cleanups: list

    def later(self, fn, **kwargs):
        self.cleanups.append((fn, kwargs))

    def new_pool(self):
        pool_id = self.idp.create_user_pool(PoolName=cs.unique("tb-shape-pool"))["UserPool"]["Id"]
        self.later(self.idp.delete_user_pool, UserPoolId=pool_id)
        return pool_id

    def new_group(self, pool_id=None):
        pool_id = pool_id or self.scratch.pool_id
        name = cs.unique("tb-shape-group")
        self.idp.create_group(UserPoolId=pool_id, GroupName=name, Description="shape test", Precedence=3)
        self.later(self.idp.delete_group, UserPoolId=pool_id, GroupName=name)
        return name

    def new_unconfirmed(self):
        """An admin-created user (FORCE_CHANGE_PASSWORD) and its temporary password."""
        username, temp = cs.unique("tb-shape-new"), cs.new_password()
        self.idp.admin_create_user(
            UserPoolId=self.scratch.pool_id,
            Username=username,
            UserAttributes=[
                {"Name": "email", "Value": f"{username}@example.test"},
                {"Name": "email_verified", "Value": "true"},
            ],
            TemporaryPassword=temp,
            MessageAction="SUPPRESS",
        )
        self.make_user.track(self.scratch.pool_id, username)
        return username, temp

    def sign_up(self):
        username, password = cs.unique("tb-shape-signup"), cs.new_password()
        self.idp.sign_up(
            ClientId=self.scratch.client_id,
            Username=username,
            Password=password,
            UserAttributes=[{"Name": "email", "Value": f"{username}@example.test"}],
        )
        self.make_user.track(self.scratch.pool_id, username)
        return username, password


@pytest.fixture
def ctx(idp, cog, scratch, make_user, demo_user, demo_users, upstream_tokens, capture):
    c = Ctx(idp, cog, scratch, make_user, demo_user, demo_users, upstream_tokens, capture, [])
    yield c
    for fn, kwargs in reversed(c.cleanups):
        cs.delete_quietly(fn, **kwargs)


EXERCISES = {}


def exercise(action):
    def register(fn):
        EXERCISES[action] = fn
        return fn

    return register


# --- pools and clients ----------------------------------------------------------------------


@exercise("CreateUserPool")
def _(ctx):
    pool = ctx.idp.create_user_pool(
        PoolName=cs.unique("tb-shape-pool"),
        Policies={"PasswordPolicy": {"MinimumLength": 8, "RequireUppercase": True, "RequireNumbers": True}},
        AutoVerifiedAttributes=["email"],
        MfaConfiguration="OFF",
        UserPoolTags={"purpose": "interop"},
    )["UserPool"]
    ctx.later(ctx.idp.delete_user_pool, UserPoolId=pool["Id"])


@exercise("DescribeUserPool")
def _(ctx):
    ctx.idp.describe_user_pool(UserPoolId=ctx.scratch.pool_id)
    ctx.idp.describe_user_pool(UserPoolId=ctx.cog["user_pool_id"])


@exercise("ListUserPools")
def _(ctx):
    ctx.new_pool()
    first = ctx.idp.list_user_pools(MaxResults=1)
    assert first.get("NextToken"), "two pools at least, one per page: a NextToken"
    ctx.idp.list_user_pools(MaxResults=1, NextToken=first["NextToken"])
    ctx.idp.list_user_pools(MaxResults=60)


@exercise("DeleteUserPool")
def _(ctx):
    pool_id = ctx.idp.create_user_pool(PoolName=cs.unique("tb-shape-pool"))["UserPool"]["Id"]
    ctx.idp.delete_user_pool(UserPoolId=pool_id)


@exercise("CreateUserPoolClient")
def _(ctx):
    for secret in (False, True):
        c = ctx.idp.create_user_pool_client(
            UserPoolId=ctx.scratch.pool_id,
            ClientName=cs.unique("tb-shape-client"),
            GenerateSecret=secret,
            ExplicitAuthFlows=cs.ALL_FLOWS,
            EnableTokenRevocation=True,
            PreventUserExistenceErrors="ENABLED",
        )["UserPoolClient"]
        ctx.later(ctx.idp.delete_user_pool_client, UserPoolId=ctx.scratch.pool_id, ClientId=c["ClientId"])


@exercise("DescribeUserPoolClient")
def _(ctx):
    for client_id in (ctx.scratch.client_id, ctx.scratch.secret_client_id):
        ctx.idp.describe_user_pool_client(UserPoolId=ctx.scratch.pool_id, ClientId=client_id)


@exercise("ListUserPoolClients")
def _(ctx):
    first = ctx.idp.list_user_pool_clients(UserPoolId=ctx.scratch.pool_id, MaxResults=1)
    assert first.get("NextToken"), "the scratch pool has two clients: a NextToken"
    ctx.idp.list_user_pool_clients(UserPoolId=ctx.scratch.pool_id, MaxResults=1, NextToken=first["NextToken"])


@exercise("DeleteUserPoolClient")
def _(ctx):
    c = ctx.idp.create_user_pool_client(UserPoolId=ctx.scratch.pool_id, ClientName=cs.unique("tb-shape-client"))
    ctx.idp.delete_user_pool_client(UserPoolId=ctx.scratch.pool_id, ClientId=c["UserPoolClient"]["ClientId"])


# --- auth -----------------------------------------------------------------------------------


@exercise("InitiateAuth")
def _(ctx):
    user = ctx.make_user()
    result = cs.password_login(ctx.idp, user)["AuthenticationResult"]  # USER_PASSWORD_AUTH
    cs.password_login(ctx.idp, user, secret=True)
    cs.refresh(ctx.idp, user.pool, result["RefreshToken"])  # REFRESH_TOKEN_AUTH
    cs.srp_login(ctx.idp, user)  # USER_SRP_AUTH: the PASSWORD_VERIFIER challenge
    username, temp = ctx.new_unconfirmed()
    r = ctx.idp.initiate_auth(
        ClientId=ctx.scratch.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": temp},
    )
    assert r["ChallengeName"] == "NEW_PASSWORD_REQUIRED", r
    cs.custom_start(ctx.idp, ctx.demo_user("erin"))  # CUSTOM_AUTH: the CUSTOM_CHALLENGE
    cs.expect_error("NotAuthorizedException", cs.password_login, ctx.idp, user, password=user.password + "x")


@exercise("RespondToAuthChallenge")
def _(ctx):
    username, temp = ctx.new_unconfirmed()
    r = ctx.idp.initiate_auth(
        ClientId=ctx.scratch.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": temp},
    )
    ctx.idp.respond_to_auth_challenge(
        ClientId=ctx.scratch.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=r["Session"],
        ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": cs.new_password()},
    )
    cs.srp_login(ctx.idp, ctx.make_user())  # PASSWORD_VERIFIER
    erin = ctx.demo_user("erin")
    start = cs.custom_start(ctx.idp, erin)
    cs.custom_answer(ctx.idp, erin, start["Session"], ctx.upstream_tokens.id_token(ctx.demo_users["erin"]))


@exercise("AdminInitiateAuth")
def _(ctx):
    cs.admin_login(ctx.idp, ctx.make_user())
    username, temp = ctx.new_unconfirmed()
    r = ctx.idp.admin_initiate_auth(
        UserPoolId=ctx.scratch.pool_id,
        ClientId=ctx.scratch.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": temp},
    )
    assert r["ChallengeName"] == "NEW_PASSWORD_REQUIRED", r


@exercise("AdminRespondToAuthChallenge")
def _(ctx):
    username, temp = ctx.new_unconfirmed()
    r = ctx.idp.admin_initiate_auth(
        UserPoolId=ctx.scratch.pool_id,
        ClientId=ctx.scratch.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": temp},
    )
    ctx.idp.admin_respond_to_auth_challenge(
        UserPoolId=ctx.scratch.pool_id,
        ClientId=ctx.scratch.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=r["Session"],
        ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": cs.new_password()},
    )


# --- sign-up and users ----------------------------------------------------------------------


@exercise("SignUp")
def _(ctx):
    ctx.sign_up()


@exercise("ConfirmSignUp")
def _(ctx):
    mark = cs.codes_mark()
    username, _ = ctx.sign_up()
    code = cs.wait_code(mark, ctx.scratch.pool_id, username, "SignUp")
    cs.expect_error(
        "CodeMismatchException",
        ctx.idp.confirm_sign_up,
        ClientId=ctx.scratch.client_id,
        Username=username,
        ConfirmationCode=cs.wrong_code(code),
    )
    ctx.idp.confirm_sign_up(ClientId=ctx.scratch.client_id, Username=username, ConfirmationCode=code)


@exercise("AdminConfirmSignUp")
def _(ctx):
    username, _ = ctx.sign_up()
    ctx.idp.admin_confirm_sign_up(UserPoolId=ctx.scratch.pool_id, Username=username)


@exercise("AdminCreateUser")
def _(ctx):
    username, _ = ctx.new_unconfirmed()
    cs.expect_error(
        "UsernameExistsException",
        ctx.idp.admin_create_user,
        UserPoolId=ctx.scratch.pool_id,
        Username=username,
        MessageAction="SUPPRESS",
        TemporaryPassword=cs.new_password(),
    )


@exercise("AdminSetUserPassword")
def _(ctx):
    user = ctx.make_user()
    for permanent in (True, False):
        ctx.idp.admin_set_user_password(
            UserPoolId=user.pool.pool_id, Username=user.username, Password=cs.new_password(), Permanent=permanent
        )


@exercise("AdminGetUser")
def _(ctx):
    user = ctx.make_user()
    ctx.idp.admin_get_user(UserPoolId=user.pool.pool_id, Username=user.username)
    username, _ = ctx.new_unconfirmed()
    ctx.idp.admin_get_user(UserPoolId=ctx.scratch.pool_id, Username=username)
    ctx.idp.admin_get_user(UserPoolId=ctx.cog["user_pool_id"], Username="alice")
    cs.expect_error(
        "UserNotFoundException", ctx.idp.admin_get_user, UserPoolId=user.pool.pool_id, Username=cs.unique("tb-nobody")
    )


@exercise("GetUser")
def _(ctx):
    user = ctx.make_user()
    access = cs.password_login(ctx.idp, user)["AuthenticationResult"]["AccessToken"]
    ctx.idp.get_user(AccessToken=access)


@exercise("AdminDeleteUser")
def _(ctx):
    user = ctx.make_user()
    ctx.idp.admin_delete_user(UserPoolId=user.pool.pool_id, Username=user.username)


@exercise("AdminDisableUser")
def _(ctx):
    user = ctx.make_user()
    ctx.idp.admin_disable_user(UserPoolId=user.pool.pool_id, Username=user.username)
    cs.expect_error("NotAuthorizedException", cs.password_login, ctx.idp, user)


@exercise("AdminEnableUser")
def _(ctx):
    user = ctx.make_user()
    ctx.idp.admin_disable_user(UserPoolId=user.pool.pool_id, Username=user.username)
    ctx.idp.admin_enable_user(UserPoolId=user.pool.pool_id, Username=user.username)


@exercise("AdminUpdateUserAttributes")
def _(ctx):
    user = ctx.make_user()
    ctx.idp.admin_update_user_attributes(
        UserPoolId=user.pool.pool_id,
        Username=user.username,
        UserAttributes=[{"Name": "name", "Value": "Shape Test"}, {"Name": "family_name", "Value": "Test"}],
    )


@exercise("ListUsers")
def _(ctx):
    prefix = cs.unique("tb-shape-lu")
    users = [ctx.make_user(prefix=prefix) for _ in range(2)]
    pool_id = ctx.scratch.pool_id
    first = ctx.idp.list_users(UserPoolId=pool_id, Filter=f'username ^= "{prefix}"', Limit=1)
    assert first.get("PaginationToken"), "two matches, one per page: a PaginationToken"
    ctx.idp.list_users(
        UserPoolId=pool_id, Filter=f'username ^= "{prefix}"', Limit=1, PaginationToken=first["PaginationToken"]
    )
    ctx.idp.list_users(UserPoolId=pool_id, Filter=f'email = "{users[0].email}"')
    ctx.idp.list_users(UserPoolId=pool_id)
    ctx.idp.list_users(UserPoolId=ctx.cog["user_pool_id"], Limit=60)


# --- groups ---------------------------------------------------------------------------------


@exercise("CreateGroup")
def _(ctx):
    name = ctx.new_group()
    cs.expect_error("GroupExistsException", ctx.idp.create_group, UserPoolId=ctx.scratch.pool_id, GroupName=name)


@exercise("GetGroup")
def _(ctx):
    ctx.idp.get_group(UserPoolId=ctx.scratch.pool_id, GroupName=ctx.new_group())
    ctx.idp.get_group(UserPoolId=ctx.cog["user_pool_id"], GroupName="admins")


@exercise("ListGroups")
def _(ctx):
    ctx.new_group()
    ctx.new_group()
    first = ctx.idp.list_groups(UserPoolId=ctx.scratch.pool_id, Limit=1)
    assert first.get("NextToken"), "two groups, one per page: a NextToken"
    ctx.idp.list_groups(UserPoolId=ctx.scratch.pool_id, Limit=1, NextToken=first["NextToken"])
    ctx.idp.list_groups(UserPoolId=ctx.cog["user_pool_id"])


@exercise("DeleteGroup")
def _(ctx):
    name = cs.unique("tb-shape-group")
    ctx.idp.create_group(UserPoolId=ctx.scratch.pool_id, GroupName=name)
    ctx.idp.delete_group(UserPoolId=ctx.scratch.pool_id, GroupName=name)


@exercise("AdminAddUserToGroup")
def _(ctx):
    user = ctx.make_user()
    ctx.idp.admin_add_user_to_group(UserPoolId=user.pool.pool_id, Username=user.username, GroupName=ctx.new_group())


@exercise("AdminRemoveUserFromGroup")
def _(ctx):
    group = ctx.new_group()
    user = ctx.make_user(groups=[group])
    ctx.idp.admin_remove_user_from_group(UserPoolId=user.pool.pool_id, Username=user.username, GroupName=group)


@exercise("AdminListGroupsForUser")
def _(ctx):
    g1, g2 = ctx.new_group(), ctx.new_group()
    user = ctx.make_user(groups=[g1, g2])
    first = ctx.idp.admin_list_groups_for_user(UserPoolId=user.pool.pool_id, Username=user.username, Limit=1)
    assert first.get("NextToken"), "two groups, one per page: a NextToken"
    ctx.idp.admin_list_groups_for_user(
        UserPoolId=user.pool.pool_id, Username=user.username, Limit=1, NextToken=first["NextToken"]
    )
    ctx.idp.admin_list_groups_for_user(UserPoolId=ctx.cog["user_pool_id"], Username="alice")


# --- passwords, sign-out, revocation --------------------------------------------------------


@exercise("ChangePassword")
def _(ctx):
    user = ctx.make_user()
    access = cs.password_login(ctx.idp, user)["AuthenticationResult"]["AccessToken"]
    ctx.idp.change_password(PreviousPassword=user.password, ProposedPassword=cs.new_password(), AccessToken=access)


@exercise("ForgotPassword")
def _(ctx):
    user = ctx.make_user()
    ctx.idp.forgot_password(ClientId=user.pool.client_id, Username=user.username)


@exercise("ConfirmForgotPassword")
def _(ctx):
    user = ctx.make_user()
    mark = cs.codes_mark()
    ctx.idp.forgot_password(ClientId=user.pool.client_id, Username=user.username)
    code = cs.wait_code(mark, user.pool.pool_id, user.username, "ForgotPassword")
    cs.expect_error(
        "CodeMismatchException",
        ctx.idp.confirm_forgot_password,
        ClientId=user.pool.client_id,
        Username=user.username,
        ConfirmationCode=cs.wrong_code(code),
        Password=cs.new_password(),
    )
    ctx.idp.confirm_forgot_password(
        ClientId=user.pool.client_id, Username=user.username, ConfirmationCode=code, Password=cs.new_password()
    )


@exercise("GlobalSignOut")
def _(ctx):
    user = ctx.make_user()
    access = cs.password_login(ctx.idp, user)["AuthenticationResult"]["AccessToken"]
    ctx.idp.global_sign_out(AccessToken=access)
    cs.expect_error("NotAuthorizedException", ctx.idp.get_user, AccessToken=access)


@exercise("AdminUserGlobalSignOut")
def _(ctx):
    user = ctx.make_user()
    cs.password_login(ctx.idp, user)
    ctx.idp.admin_user_global_sign_out(UserPoolId=user.pool.pool_id, Username=user.username)


@exercise("RevokeToken")
def _(ctx):
    user = ctx.make_user()
    refresh_token = cs.password_login(ctx.idp, user)["AuthenticationResult"]["RefreshToken"]
    ctx.idp.revoke_token(Token=refresh_token, ClientId=user.pool.client_id)
    cs.expect_error("NotAuthorizedException", cs.refresh, ctx.idp, user.pool, refresh_token)


# --- the checks -----------------------------------------------------------------------------


def call_problems(model, call):
    """Everything wrong with one captured exchange, as lines."""
    if call["action"] not in model.operation_names:
        return [f"{call['action']}: not an action of the cognito-idp model"]
    return cs.json_call_problems(model, call)


def probe(ctx, action):
    """Replays the action's first successful request pointed at nothing: a modelled 400 error."""
    sent = next(c for c in ctx.capture.of(action) if 200 <= c["response"]["status"] < 300)
    params = cs.body_json(sent["request"], action) or {}
    client = ctx.idp
    if action in UNSIGNED_PROBE:
        client = ctx.capture.attach(cs.make_client(ctx.cog, unsigned=True))
    elif "UserPoolId" in params:
        params["UserPoolId"] = f"{ctx.cog['region']}_NoSuchPool0"
    elif "ClientId" in params:
        params["ClientId"] = "0" * 26
    elif "AccessToken" in params:
        params["AccessToken"] = "not-an-access-token"
    else:
        pytest.fail(f"{action}: no member to point at nothing in {sorted(params)}")
    try:
        getattr(client, xform_name(action))(**params)
    except ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        allowed = (400, 403) if action in UNSIGNED_PROBE else (400,)  # AWS says 403 to unsigned calls
        assert status in allowed and cs.error_code(e) != "InternalErrorException", (
            f"{action} pointed at nothing: {status} {cs.error_code(e)}: {cs.error_message(e)}"
        )
        return
    pytest.fail(f"{action} pointed at nothing ({params}) succeeded")


def test_every_action_is_in_the_model(model):
    assert set(EXERCISES) == set(ACTIONS), set(EXERCISES) ^ set(ACTIONS)
    missing = [a for a in ACTIONS if a not in model.operation_names]
    assert not missing, f"not in botocore {botocore.__version__}'s cognito-idp model: {missing}"
    assert model.protocol == "json" and model.metadata["targetPrefix"] == cs.TARGET_PREFIX


def test_the_checker_sees_departures(model):
    """The checker itself, on bodies made up here: a conforming one passes, each flaw is named."""
    out = model.operation_model("AdminGetUser").output_shape
    good = {
        "Username": "u",
        "UserAttributes": [{"Name": "sub", "Value": "x"}],
        "UserCreateDate": 1.7e9,
        "Enabled": True,
        "UserStatus": "CONFIRMED",
    }
    assert cs.shape_errors(good, out) == []
    flaws = {
        "required member Username missing": {k: v for k, v in good.items() if k != "Username"},
        "member 'Extra' not in": dict(good, Extra=1),
        "expected boolean": dict(good, Enabled="true"),
        "not in enum": dict(good, UserStatus="ACTIVE"),
        "expected epoch-seconds number": dict(good, UserCreateDate="2026-01-01T00:00:00Z"),
        "is not epoch seconds": dict(good, UserCreateDate=1.7e12),
        "expected array": dict(good, UserAttributes={"sub": "x"}),
        "required member Name missing": dict(good, UserAttributes=[{"Value": "x"}]),
    }
    for want, body in flaws.items():
        errors = cs.shape_errors(body, out)
        assert any(want in e for e in errors), (want, errors)
    auth = model.operation_model("InitiateAuth").output_shape
    assert any("< min 20" in e for e in cs.shape_errors({"Session": "short"}, auth))
    assert any("expected integer" in e for e in cs.shape_errors({"AuthenticationResult": {"ExpiresIn": "3600"}}, auth))
    assert any("expected object" in e for e in cs.shape_errors({"ChallengeParameters": []}, auth))


@pytest.mark.parametrize("action", ACTIONS)
def test_action_shapes(action, ctx, model, capture):
    capture.clear()
    EXERCISES[action](ctx)
    ok = [c for c in capture.of(action) if 200 <= c["response"]["status"] < 300]
    assert ok, f"{action} was never answered with success: {[c['response']['status'] for c in capture.of(action)]}"
    probe(ctx, action)
    assert any(c["response"]["status"] >= 400 for c in capture.of(action)), f"{action}: no error captured"

    problems = []
    for call in capture.calls:
        problems += call_problems(model, call)
    assert not problems, f"{len(problems)} departures from the cognito-idp model:\n" + "\n".join(problems)
