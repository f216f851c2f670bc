"""Fixtures of the Cognito interop suites: boto3 clients on the demo, a scratch user pool, users.

The demo's `cognito` object in demo.json names the endpoint, region, admin credentials and the
demo pool (alice, bob, dave, erin). Tests that make pools or users give them unique names and
delete them again; the scratch pool made here is deleted at the end of the session.
"""

import pytest
import cognito_support as cs


def demo_section(demo_info, key, what):
    """demo.json's `key` object; the suite fails when this tokenbridge does not write it."""
    info = demo_info.get(key)
    if not info:
        pytest.fail(f"demo.json has no `{key}` object: this tokenbridge does not serve {what}")
    return info


@pytest.fixture(scope="session")
def cog(demo_info):
    return demo_section(demo_info, "cognito", "the user-pool API")


@pytest.fixture(scope="session")
def capture():
    return cs.Capture()


@pytest.fixture(scope="session")
def idp(cog, capture):
    """boto3 `cognito-idp` with the admin credentials; every exchange lands in `capture`."""
    return capture.attach(cs.make_client(cog))


@pytest.fixture(scope="session")
def verifier():
    return cs.Verifier()


@pytest.fixture(scope="session")
def upstream_tokens(demo_info):
    return cs.UpstreamTokens(demo_info["upstream"])


@pytest.fixture(scope="session")
def demo_users(demo_info):
    return {u["username"]: u for u in demo_info["users"]}


@pytest.fixture(scope="session")
def demo_pool(cog):
    return cs.Pool(
        pool_id=cog["user_pool_id"],
        client_id=cog["client_id"],
        secret_client_id=cog["secret_client_id"],
        secret_client_secret=cog["secret_client_secret"],
        issuer=cog["issuer"],
    )


@pytest.fixture(scope="session")
def demo_user(demo_users, demo_pool):
    """demo_user("alice") -> that seeded demo user as a cs.User of the demo pool."""

    def get(name):
        u = demo_users[name]
        return cs.User(pool=demo_pool, username=u["username"], password=u.get("password"), email=u["email"])

    return get


@pytest.fixture(scope="session")
def scratch(idp, cog):
    """A user pool of the suite's own with a public and a secret app client (every flow allowed)."""
    pool = cs.create_pool(idp, cog, cs.unique("tb-interop-pool"))
    yield pool
    cs.delete_quietly(idp.delete_user_pool, UserPoolId=pool.pool_id)


@pytest.fixture
def make_user(idp, scratch):
    """make_user(pool=scratch, groups=()) -> a confirmed User with a permanent password; deleted afterwards."""
    made = []

    def make(pool=None, groups=(), prefix="tb-user"):
        pool = pool or scratch
        username = cs.unique(prefix)
        email = f"{username}@example.test"
        password = cs.new_password()
        idp.admin_create_user(
            UserPoolId=pool.pool_id,
            Username=username,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            TemporaryPassword=cs.new_password(),
            MessageAction="SUPPRESS",
        )
        made.append((pool.pool_id, username))
        idp.admin_set_user_password(UserPoolId=pool.pool_id, Username=username, Password=password, Permanent=True)
        for g in groups:
            idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=username, GroupName=g)
        return cs.User(pool=pool, username=username, password=password, email=email)

    make.track = lambda pool_id, username: made.append((pool_id, username))
    yield make
    for pool_id, username in made:
        cs.delete_quietly(idp.admin_delete_user, UserPoolId=pool_id, Username=username)


# --- issue 6: identity pools, STS, IAM, CloudTrail, the demo GraphQL API ------------------------

@pytest.fixture(scope="session")
def ident(demo_info, cog):
    """demo.json's `identity` object: region, account, the two identity pools, roles, GraphQL API."""
    return demo_section(demo_info, "identity", "identity pools yet")


@pytest.fixture(scope="session")
def aws_capture():
    return cs.AwsCapture()


@pytest.fixture(scope="session")
def aws(cog, ident):
    """aws("sts", unsigned=True, creds=(access, secret, token)) -> a boto3 client on the demo.

    Admin credentials unless `creds` are given; the identity region. One client per arguments.
    """
    made = {}

    def client(service, unsigned=False, creds=None, secret_key=None):
        key = (service, unsigned, creds, secret_key)
        if key not in made:
            access, secret, token = creds or (None, None, None)
            made[key] = cs.make_aws_client(
                cog,
                service,
                ident["region"],
                access_key=access,
                secret_key=secret_key if secret_key is not None else secret,
                session_token=token,
                unsigned=unsigned,
            )
        return made[key]

    return client


@pytest.fixture(scope="session")
def id_token(idp, demo_user):
    """id_token("alice", secret=False) -> a fresh id token of that demo user (USER_PASSWORD_AUTH).

    Through the demo pool's public client (aud = cognito.client_id), or its secret client with
    SECRET_HASH (aud = cognito.secret_client_id).
    """

    def get(username, secret=False):
        return cs.password_login(idp, demo_user(username), secret=secret)["AuthenticationResult"]["IdToken"]

    return get


@pytest.fixture(scope="session")
def logins_keys(cog, ident):
    """Both Logins keys of the demo user pool: its issuer without scheme, and the AWS form."""
    return [cs.without_scheme(cog["issuer"]), cs.user_pool_provider(ident["region"], cog["user_pool_id"])]
