"""Shape conformance of identity pools, STS, IAM and CloudTrail against botocore's bundled models.

As test_shapes.py does for `cognito-idp`: one test per implemented action exercises it for real
through boto3 and provokes at least one error, with every request and raw response captured
(botocore's `before-send` / `before-parse` events, and `after-call` for the parsed answer).
Every exchange of the test is then checked against the service's model:
  - AWS JSON 1.1 (`cognito-identity`, `cloudtrail`): the request members exist in the input
    shape; a success is validated recursively against the output shape (cognito_support's
    shape_errors: required members, JSON types with epoch timestamps, enums, lengths, ranges,
    patterns, no member the shape lacks); an error's `__type` is modelled or common, its body
    has only what the error shape has, x-amzn-ErrorType agrees;
  - AWS query (`sts`, `iam`): the form's Action/Version and parameters fit the input shape; a
    success is `<ActionResponse xmlns=...>` with `<ActionResult>` (when the operation has
    output) and `<ResponseMetadata><RequestId>`; botocore's parsed answer is validated against
    the output shape (required members, Python types, enums...), and the raw XML too, since
    botocore's parser silently drops what the shape lacks and reads any non-`true` as false;
    an error is an `<ErrorResponse>` whose Code is modelled (then with the model's HTTP status)
    or common, Type Sender/Receiver as the status says, and RequestId the header's;
  - always: an x-amzn-RequestId header, and the protocol's Content-Type.
"""

import dataclasses
import json
import urllib.parse
import xml.etree.ElementTree as ET

import botocore
import botocore.session
import pytest

import cognito_support as cs
from cognito_support import expect_error

ACTIONS = {
    "cognito-identity": [
        "CreateIdentityPool",
        "DescribeIdentityPool",
        "ListIdentityPools",
        "DeleteIdentityPool",
        "SetIdentityPoolRoles",
        "GetIdentityPoolRoles",
        "GetId",
        "GetCredentialsForIdentity",
        "GetOpenIdToken",
    ],
    "sts": ["AssumeRoleWithWebIdentity", "GetCallerIdentity"],
    "iam": [
        "CreateRole",
        "GetRole",
        "ListRoles",
        "DeleteRole",
        "PutRolePolicy",
        "GetRolePolicy",
        "ListRolePolicies",
        "DeleteRolePolicy",
        "UpdateAssumeRolePolicy",
    ],
    "cloudtrail": ["LookupEvents"],
}
CASES = [(service, action) for service, actions in ACTIONS.items() for action in actions]
PROTOCOLS = {"cognito-identity": "json", "sts": "query", "iam": "query", "cloudtrail": "json"}
NO_SUCH_POOL_UUID = "00000000-0000-4000-8000-000000000000"
MALFORMED = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]\n}'


@pytest.fixture(scope="module")
def models():
    session = botocore.session.get_session()
    return {service: session.get_service_model(service) for service in ACTIONS}


@pytest.fixture(scope="module")
def client(cog, ident, aws_capture):
    """client(service, unsigned=False, creds=None): a boto3 client whose exchanges land in aws_capture."""
    made = {}

    def get(service, unsigned=False, creds=None):
        key = (service, unsigned, creds)
        if key not in made:
            access, secret, token = creds or (None, None, None)
            made[key] = aws_capture.attach(
                cs.make_aws_client(cog, service, ident["region"], access, secret, token, unsigned=unsigned)
            )
        return made[key]

    return get


@dataclasses.dataclass
class Ctx:
    client: object
    cog: dict
    ident: dict
    id_token: object
    logins_keys: list
    cleanups: list

    def later(self, fn, *args, **kwargs):
        self.cleanups.append((fn, args, kwargs))

    @property
    def ci(self):
        return self.client("cognito-identity")

    @property
    def ci_public(self):
        return self.client("cognito-identity", unsigned=True)

    @property
    def iam(self):
        return self.client("iam")

    @property
    def sts_public(self):
        return self.client("sts", unsigned=True)

    @property
    def no_such_pool(self):
        return f"{self.ident['region']}:{NO_SUCH_POOL_UUID}"

    @property
    def provider(self):
        return cs.user_pool_provider(self.ident["region"], self.cog["user_pool_id"])

    def trust(self, pool_id=None):
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TrustIdentityPool",
                        "Effect": "Allow",
                        "Principal": {"Federated": cs.COGNITO_IDENTITY_PROVIDER},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {f"{cs.COGNITO_IDENTITY_PROVIDER}:aud": pool_id or self.ident["identity_pool_id"]},
                            "ForAnyValue:StringLike": {f"{cs.COGNITO_IDENTITY_PROVIDER}:amr": "authenticated"},
                        },
                    }
                ],
            }
        )

    def policy(self, sid="AllowGraphQL"):
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": sid,
                        "Effect": "Allow",
                        "Action": ["appsync:GraphQL"],
                        "Resource": [f"{self.ident['graphql_api_arn']}/types/Query/fields/*"],
                    }
                ],
            }
        )

    def role(self, pool_id=None):
        """A new role trusting an identity pool; its (name, arn). Deleted after the test."""
        name = cs.unique("tb-shape-role")
        arn = self.iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=self.trust(pool_id), Description="shape test", MaxSessionDuration=3600
        )["Role"]["Arn"]
        self.later(cs.delete_role_quietly, self.iam, name)
        return name, arn

    def identity_pool(self, **extra):
        """A new identity pool taking the demo user pool's public client; its id. Deleted after the test."""
        pool = self.ci.create_identity_pool(
            IdentityPoolName=cs.unique("tb-shape-pool"),
            AllowUnauthenticatedIdentities=False,
            CognitoIdentityProviders=[
                {"ProviderName": self.provider, "ClientId": self.cog["client_id"], "ServerSideTokenCheck": False}
            ],
            **extra,
        )
        self.later(cs.delete_quietly, self.ci.delete_identity_pool, IdentityPoolId=pool["IdentityPoolId"])
        return pool["IdentityPoolId"]

    def logins(self, username="alice", form=0, secret=False):
        return {self.logins_keys[form]: self.id_token(username, secret=secret)}

    def expect_garbage_login_refused(self, call, **kwargs):
        """`call(**kwargs)` with Logins whose token is no token: NotAuthorizedException."""
        expect_error("NotAuthorizedException", call, Logins={self.logins_keys[0]: "garbage"}, **kwargs)

    def identity(self, pool_id=None, form=0):
        """(identity id, logins) of alice in an identity pool (the demo's correct one by default)."""
        logins = self.logins(form=form)
        identity_id = self.ci_public.get_id(IdentityPoolId=pool_id or self.ident["identity_pool_id"], Logins=logins)
        return identity_id["IdentityId"], logins

    def session_credentials(self):
        identity_id, logins = self.identity()
        r = self.ci_public.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)
        return cs.temporary_credentials(r["Credentials"])


@pytest.fixture
def ctx(client, cog, ident, id_token, logins_keys):
    c = Ctx(client, cog, ident, id_token, logins_keys, [])
    yield c
    for fn, args, kwargs in reversed(c.cleanups):
        fn(*args, **kwargs)


EXERCISES = {}


def exercise(service, action):
    def register(fn):
        EXERCISES[(service, action)] = fn
        return fn

    return register


# --- cognito-identity -----------------------------------------------------------------------


@exercise("cognito-identity", "CreateIdentityPool")
def _(ctx):
    ctx.identity_pool()
    ctx.identity_pool(AllowClassicFlow=True, IdentityPoolTags={"purpose": "interop"})
    expect_error(
        "MissingAuthenticationTokenException",
        ctx.client("cognito-identity", unsigned=True).create_identity_pool,
        IdentityPoolName=cs.unique("tb-shape-pool"),
        AllowUnauthenticatedIdentities=False,
    )


@exercise("cognito-identity", "DescribeIdentityPool")
def _(ctx):
    ctx.ci.describe_identity_pool(IdentityPoolId=ctx.identity_pool())
    for key in ("identity_pool_id", "misconfigured_identity_pool_id"):
        ctx.ci.describe_identity_pool(IdentityPoolId=ctx.ident[key])
    expect_error("ResourceNotFoundException", ctx.ci.describe_identity_pool, IdentityPoolId=ctx.no_such_pool)


@exercise("cognito-identity", "ListIdentityPools")
def _(ctx):
    ctx.identity_pool()
    first = ctx.ci.list_identity_pools(MaxResults=1)
    assert first.get("NextToken"), "three pools at least, one per page: a NextToken"
    ctx.ci.list_identity_pools(MaxResults=1, NextToken=first["NextToken"])
    ctx.ci.list_identity_pools(MaxResults=60)
    expect_error(
        "MissingAuthenticationTokenException",
        ctx.client("cognito-identity", unsigned=True).list_identity_pools,
        MaxResults=1,
    )


@exercise("cognito-identity", "DeleteIdentityPool")
def _(ctx):
    pool_id = ctx.ci.create_identity_pool(IdentityPoolName=cs.unique("tb-shape-pool"), AllowUnauthenticatedIdentities=False)[
        "IdentityPoolId"
    ]
    ctx.ci.delete_identity_pool(IdentityPoolId=pool_id)
    expect_error("ResourceNotFoundException", ctx.ci.delete_identity_pool, IdentityPoolId=pool_id)


@exercise("cognito-identity", "SetIdentityPoolRoles")
def _(ctx):
    pool_id = ctx.identity_pool()
    _, role_arn = ctx.role(pool_id)
    ctx.ci.set_identity_pool_roles(IdentityPoolId=pool_id, Roles={"authenticated": role_arn})
    ctx.ci.set_identity_pool_roles(
        IdentityPoolId=pool_id,
        Roles={"authenticated": role_arn},
        RoleMappings={f"{ctx.provider}:{ctx.cog['client_id']}": {"Type": "Token", "AmbiguousRoleResolution": "AuthenticatedRole"}},
    )
    expect_error(
        "ResourceNotFoundException",
        ctx.ci.set_identity_pool_roles,
        IdentityPoolId=ctx.no_such_pool,
        Roles={"authenticated": role_arn},
    )


@exercise("cognito-identity", "GetIdentityPoolRoles")
def _(ctx):
    for key in ("identity_pool_id", "misconfigured_identity_pool_id"):
        ctx.ci.get_identity_pool_roles(IdentityPoolId=ctx.ident[key])
    pool_id = ctx.identity_pool()
    ctx.ci.get_identity_pool_roles(IdentityPoolId=pool_id)  # no roles yet
    _, role_arn = ctx.role(pool_id)
    ctx.ci.set_identity_pool_roles(IdentityPoolId=pool_id, Roles={"authenticated": role_arn})
    ctx.ci.get_identity_pool_roles(IdentityPoolId=pool_id)
    expect_error("ResourceNotFoundException", ctx.ci.get_identity_pool_roles, IdentityPoolId=ctx.no_such_pool)


@exercise("cognito-identity", "GetId")
def _(ctx):
    ctx.identity(form=0)
    ctx.identity(form=1)
    ctx.identity(pool_id=ctx.ident["misconfigured_identity_pool_id"])
    expect_error("ResourceNotFoundException", ctx.ci_public.get_id, IdentityPoolId=ctx.no_such_pool, Logins=ctx.logins())
    ctx.expect_garbage_login_refused(ctx.ci_public.get_id, IdentityPoolId=ctx.ident["identity_pool_id"])


@exercise("cognito-identity", "GetCredentialsForIdentity")
def _(ctx):
    identity_id, logins = ctx.identity()
    ctx.ci_public.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)
    other, logins = ctx.identity(pool_id=ctx.ident["misconfigured_identity_pool_id"], form=1)
    ctx.ci_public.get_credentials_for_identity(IdentityId=other, Logins=logins)
    ctx.expect_garbage_login_refused(ctx.ci_public.get_credentials_for_identity, IdentityId=identity_id)


@exercise("cognito-identity", "GetOpenIdToken")
def _(ctx):
    identity_id, logins = ctx.identity()
    ctx.ci_public.get_open_id_token(IdentityId=identity_id, Logins=logins)
    ctx.expect_garbage_login_refused(ctx.ci_public.get_open_id_token, IdentityId=identity_id)


# --- sts ------------------------------------------------------------------------------------


@exercise("sts", "AssumeRoleWithWebIdentity")
def _(ctx):
    role_arn = ctx.ident["role_arn"]
    ctx.sts_public.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="tb-shape", WebIdentityToken=ctx.id_token("alice"), DurationSeconds=900
    )
    identity_id, logins = ctx.identity()
    token = ctx.ci_public.get_open_id_token(IdentityId=identity_id, Logins=logins)["Token"]
    ctx.sts_public.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="tb-shape-basic", WebIdentityToken=token)
    expect_error(
        "InvalidIdentityToken",
        ctx.sts_public.assume_role_with_web_identity,
        RoleArn=role_arn,
        RoleSessionName="tb-shape",
        WebIdentityToken="not-a-jwt",
    )
    expect_error(
        "AccessDenied",
        ctx.sts_public.assume_role_with_web_identity,
        RoleArn=role_arn,
        RoleSessionName="tb-shape",
        WebIdentityToken=ctx.id_token("alice", secret=True),
    )


@exercise("sts", "GetCallerIdentity")
def _(ctx):
    ctx.client("sts").get_caller_identity()
    ctx.client("sts", creds=ctx.session_credentials()).get_caller_identity()
    expect_error("MissingAuthenticationToken", ctx.client("sts", unsigned=True).get_caller_identity)


# --- iam ------------------------------------------------------------------------------------


@exercise("iam", "CreateRole")
def _(ctx):
    name, _ = ctx.role()
    expect_error("EntityAlreadyExists", ctx.iam.create_role, RoleName=name, AssumeRolePolicyDocument=ctx.trust())
    expect_error(
        "MalformedPolicyDocument", ctx.iam.create_role, RoleName=cs.unique("tb-shape-role"), AssumeRolePolicyDocument=MALFORMED
    )


@exercise("iam", "GetRole")
def _(ctx):
    name, _ = ctx.role()
    ctx.iam.get_role(RoleName=name)
    for key in ("role_arn", "misconfigured_role_arn"):
        ctx.iam.get_role(RoleName=cs.role_name_of(ctx.ident[key]))
    expect_error("NoSuchEntity", ctx.iam.get_role, RoleName=cs.unique("tb-shape-nobody"))


@exercise("iam", "ListRoles")
def _(ctx):
    ctx.role()
    first = ctx.iam.list_roles(MaxItems=1)
    assert first["IsTruncated"] and first.get("Marker"), "three roles at least, one per page: a Marker"
    ctx.iam.list_roles(MaxItems=1, Marker=first["Marker"])
    ctx.iam.list_roles()
    expect_error("MissingAuthenticationToken", ctx.client("iam", unsigned=True).list_roles)


@exercise("iam", "DeleteRole")
def _(ctx):
    name = cs.unique("tb-shape-role")
    ctx.iam.create_role(RoleName=name, AssumeRolePolicyDocument=ctx.trust())
    ctx.later(cs.delete_role_quietly, ctx.iam, name)
    ctx.iam.delete_role(RoleName=name)
    expect_error("NoSuchEntity", ctx.iam.delete_role, RoleName=name)


@exercise("iam", "PutRolePolicy")
def _(ctx):
    name, _ = ctx.role()
    ctx.iam.put_role_policy(RoleName=name, PolicyName="graphql", PolicyDocument=ctx.policy())
    ctx.iam.put_role_policy(RoleName=name, PolicyName="graphql", PolicyDocument=ctx.policy("Replaced"))
    expect_error("MalformedPolicyDocument", ctx.iam.put_role_policy, RoleName=name, PolicyName="bad", PolicyDocument=MALFORMED)
    expect_error(
        "NoSuchEntity",
        ctx.iam.put_role_policy,
        RoleName=cs.unique("tb-shape-nobody"),
        PolicyName="graphql",
        PolicyDocument=ctx.policy(),
    )


@exercise("iam", "GetRolePolicy")
def _(ctx):
    name, _ = ctx.role()
    ctx.iam.put_role_policy(RoleName=name, PolicyName="graphql", PolicyDocument=ctx.policy())
    ctx.iam.get_role_policy(RoleName=name, PolicyName="graphql")
    misconfigured = cs.role_name_of(ctx.ident["misconfigured_role_arn"])
    for policy_name in ctx.iam.list_role_policies(RoleName=misconfigured)["PolicyNames"]:
        ctx.iam.get_role_policy(RoleName=misconfigured, PolicyName=policy_name)
    expect_error("NoSuchEntity", ctx.iam.get_role_policy, RoleName=name, PolicyName="none")


@exercise("iam", "ListRolePolicies")
def _(ctx):
    name, _ = ctx.role()
    ctx.iam.list_role_policies(RoleName=name)  # none yet
    ctx.iam.put_role_policy(RoleName=name, PolicyName="a", PolicyDocument=ctx.policy())
    ctx.iam.put_role_policy(RoleName=name, PolicyName="b", PolicyDocument=ctx.policy())
    ctx.iam.list_role_policies(RoleName=name)
    ctx.iam.list_role_policies(RoleName=cs.role_name_of(ctx.ident["role_arn"]))
    expect_error("NoSuchEntity", ctx.iam.list_role_policies, RoleName=cs.unique("tb-shape-nobody"))


@exercise("iam", "DeleteRolePolicy")
def _(ctx):
    name, _ = ctx.role()
    ctx.iam.put_role_policy(RoleName=name, PolicyName="graphql", PolicyDocument=ctx.policy())
    ctx.iam.delete_role_policy(RoleName=name, PolicyName="graphql")
    expect_error("NoSuchEntity", ctx.iam.delete_role_policy, RoleName=name, PolicyName="graphql")


@exercise("iam", "UpdateAssumeRolePolicy")
def _(ctx):
    name, _ = ctx.role()
    ctx.iam.update_assume_role_policy(RoleName=name, PolicyDocument=ctx.trust(ctx.ident["misconfigured_identity_pool_id"]))
    expect_error("MalformedPolicyDocument", ctx.iam.update_assume_role_policy, RoleName=name, PolicyDocument=MALFORMED)
    expect_error(
        "NoSuchEntity", ctx.iam.update_assume_role_policy, RoleName=cs.unique("tb-shape-nobody"), PolicyDocument=ctx.trust()
    )


# --- cloudtrail -----------------------------------------------------------------------------


@exercise("cloudtrail", "LookupEvents")
def _(ctx):
    ctx.session_credentials()  # an AssumeRoleWithWebIdentity record at least
    trail = ctx.client("cloudtrail")
    trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithWebIdentity"}], MaxResults=2
    )
    first = trail.lookup_events(MaxResults=1)
    assert first.get("NextToken"), first
    trail.lookup_events(MaxResults=1, NextToken=first["NextToken"])
    expect_error("InvalidNextTokenException", trail.lookup_events, NextToken="not-a-token-of-ours")


# --- the checks -----------------------------------------------------------------------------


def query_request_problems(model, op, raw, where):
    form = urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    problems = []
    if form.get("Action") != [op.name]:
        problems.append(f"{where} request: Action {form.get('Action')}")
    if form.get("Version") != [model.api_version]:
        problems.append(f"{where} request: Version {form.get('Version')}, not {model.api_version}")
    members = set(op.input_shape.members) if op.input_shape else set()
    for key in form:
        top = key.split(".", 1)[0]
        if key not in ("Action", "Version") and top not in members:
            problems.append(f"{where} request: parameter {key!r} not in the input shape")
    return problems


def query_problems(model, call):
    """Everything wrong with one AWS query exchange (STS, IAM), as lines."""
    action = call["action"]
    where = f"{model.service_name} {action}"
    op = model.operation_model(action)
    namespace = model.metadata["xmlNamespace"]
    problems = query_request_problems(model, op, call["request"], where)

    resp = call["response"]
    status, headers = resp["status"], resp["headers"]
    request_id = headers.get("x-amzn-requestid")
    if not request_id:
        problems.append(f"{where} ({status}): no x-amzn-RequestId header")
    if not headers.get("content-type", "").startswith("text/xml"):
        problems.append(f"{where} ({status}): Content-Type {headers.get('content-type')!r}, not text/xml")
    try:
        root = ET.fromstring(resp["body"])
    except ET.ParseError as e:
        return problems + [f"{where} ({status}): body is not XML ({e}): {resp['body'][:300]!r}"]

    if 200 <= status < 300:
        if root.tag != f"{{{namespace}}}{action}Response":
            problems.append(f"{where}: root <{root.tag}>, not <{action}Response xmlns={namespace!r}>")
        results = [c for c in root if cs.xml_local(c.tag) == f"{action}Result"]
        metadata = [c for c in root if cs.xml_local(c.tag) == "ResponseMetadata"]
        others = [cs.xml_local(c.tag) for c in root if c not in results and c not in metadata]
        if others:
            problems.append(f"{where}: unexpected elements {others} in <{action}Response>")
        if op.output_shape is not None:
            wrapper = op.output_shape.serialization.get("resultWrapper", f"{action}Result")
            if wrapper != f"{action}Result":
                problems.append(f"{where}: model's resultWrapper is {wrapper}")
            if len(results) != 1:
                problems.append(f"{where}: {len(results)} <{action}Result> elements")
            else:
                problems += [f"{where} XML {e}" for e in cs.xml_shape_errors(results[0], op.output_shape)]
        elif results and (list(results[0]) or (results[0].text or "").strip()):
            problems.append(f"{where}: the operation has no output, answered a non-empty <{action}Result>")
        rid = [c.text for m in metadata for c in m if cs.xml_local(c.tag) == "RequestId"]
        if len(metadata) != 1 or rid != [request_id]:
            problems.append(f"{where}: ResponseMetadata/RequestId {rid} is not the header's {request_id!r}")
        parsed = {k: v for k, v in (call.get("parsed") or {}).items() if k != "ResponseMetadata"}
        if op.output_shape is not None:
            problems += [f"{where} parsed {e}" for e in cs.parsed_shape_errors(parsed, op.output_shape)]
        elif parsed:
            problems.append(f"{where}: botocore parsed {parsed} from an operation without output")
        return problems

    if root.tag != f"{{{namespace}}}ErrorResponse":
        problems.append(f"{where} ({status}): root <{root.tag}>, not <ErrorResponse xmlns={namespace!r}>")
    errors = [c for c in root if cs.xml_local(c.tag) == "Error"]
    rid = [c.text for c in root if cs.xml_local(c.tag) == "RequestId"]
    if rid != [request_id]:
        problems.append(f"{where} ({status}): ErrorResponse/RequestId {rid} is not the header's {request_id!r}")
    if len(errors) != 1:
        return problems + [f"{where} ({status}): {len(errors)} <Error> elements"]
    fields = {cs.xml_local(c.tag): (c.text or "") for c in errors[0]}
    if set(fields) - {"Type", "Code", "Message"}:
        problems.append(f"{where} ({status}): unexpected elements in <Error>: {sorted(set(fields) - {'Type', 'Code', 'Message'})}")
    code = fields.get("Code")
    expected_type = "Sender" if status < 500 else "Receiver"
    if fields.get("Type") != expected_type:
        problems.append(f"{where} ({status}): <Type>{fields.get('Type')}</Type>, not {expected_type}")
    if not fields.get("Message"):
        problems.append(f"{where} ({status}): {code} without a message")
    modelled = cs.modelled_query_errors(op)
    if code in modelled:
        want = (modelled[code].metadata.get("error") or {}).get("httpStatusCode")
        if want is not None and want != status:
            problems.append(f"{where}: {code} answered with status {status}, the model says {want}")
    elif code not in cs.QUERY_COMMON_ERRORS:
        problems.append(f"{where} ({status}): Code {code!r} is neither modelled ({sorted(modelled)}) nor common")
    return problems


def call_problems(models, call):
    service = call.get("service")
    if service not in models:
        return [f"{service} {call['action']}: not a service checked here"]
    model = models[service]
    if call["action"] not in model.operation_names:
        return [f"{service} {call['action']}: not an action of the {service} model"]
    if PROTOCOLS[service] == "json":
        return cs.json_call_problems(model, call)
    return query_problems(model, call)


def test_every_action_is_in_the_model(models):
    assert set(EXERCISES) == set(CASES), set(EXERCISES) ^ set(CASES)
    for service, actions in ACTIONS.items():
        model = models[service]
        missing = [a for a in actions if a not in model.operation_names]
        assert not missing, f"not in botocore {botocore.__version__}'s {service} model: {missing}"
        assert model.protocol == PROTOCOLS[service], (service, model.protocol)


def test_the_query_checkers_see_departures(models):
    """The XML and parsed-answer checkers themselves, on answers made up here."""
    iam = models["iam"]
    out = iam.operation_model("GetRole").output_shape
    doc = urllib.parse.quote('{"Version":"2012-10-17","Statement":[]}')
    good = (
        "<GetRoleResult><Role><Path>/</Path><RoleName>r</RoleName><RoleId>AROAEXAMPLEEXAMPLE1</RoleId>"
        "<Arn>arn:aws:iam::123456789012:role/r</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate>"
        f"<AssumeRolePolicyDocument>{doc}</AssumeRolePolicyDocument><MaxSessionDuration>3600</MaxSessionDuration>"
        "<Tags><member><Key>k</Key><Value>v</Value></member></Tags></Role></GetRoleResult>"
    )
    assert cs.xml_shape_errors(ET.fromstring(good), out) == []
    flaws = {
        "required member RoleId missing": good.replace("<RoleId>AROAEXAMPLEEXAMPLE1</RoleId>", ""),
        "element <Extra> not in": good.replace("<Path>", "<Extra>1</Extra><Path>"),
        "is not an ISO 8601 timestamp": good.replace("2026-01-01T00:00:00Z", "1767225600"),
        "is not an integer": good.replace(">3600<", ">an hour<"),
        "not URL-encoded JSON": good.replace(doc, "not%20json"),
        "in a list of <member>": good.replace("<member><Key>", "<Tag><Key>").replace("</Value></member>", "</Value></Tag>"),
        "appears twice": good.replace("<Path>/</Path>", "<Path>/</Path><Path>/</Path>"),
    }
    for want, body in flaws.items():
        errors = cs.xml_shape_errors(ET.fromstring(body), out)
        assert any(want in e for e in errors), (want, errors)
    lst = iam.operation_model("ListRoles").output_shape
    bad_bool = "<ListRolesResult><Roles/><IsTruncated>yes</IsTruncated></ListRolesResult>"
    assert any("is not true/false" in e for e in cs.xml_shape_errors(ET.fromstring(bad_bool), lst))

    import datetime

    sts = models["sts"].operation_model("AssumeRoleWithWebIdentity").output_shape
    when = datetime.datetime.now(datetime.timezone.utc)
    creds = {"AccessKeyId": "ASIAEXAMPLEEXAMPLE12", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": when}
    assert cs.parsed_shape_errors({"Credentials": creds, "Audience": "a"}, sts) == []
    parsed_flaws = {
        "required member SessionToken missing": {"Credentials": {k: v for k, v in creds.items() if k != "SessionToken"}},
        "expected datetime": {"Credentials": dict(creds, Expiration="2026-01-01T00:00:00Z")},
        "without a time zone": {"Credentials": dict(creds, Expiration=when.replace(tzinfo=None))},
        "expected int": {"PackedPolicySize": "3"},
        "expected str": {"Audience": 3},
    }
    for want, parsed in parsed_flaws.items():
        errors = cs.parsed_shape_errors(parsed, sts)
        assert any(want in e for e in errors), (want, errors)


@pytest.mark.parametrize("service,action", CASES, ids=[f"{s}:{a}" for s, a in CASES])
def test_action_shapes(service, action, ctx, models, aws_capture):
    aws_capture.clear()
    EXERCISES[(service, action)](ctx)
    mine = [c for c in aws_capture.of_service(service) if c["action"] == action]
    statuses = [c["response"]["status"] for c in mine]
    assert any(200 <= s < 300 for s in statuses), f"{action} was never answered with success: {statuses}"
    assert any(s >= 400 for s in statuses), f"{action}: no error captured: {statuses}"

    problems = []
    for call in aws_capture.calls:
        if call["response"] is None:
            problems.append(f"{call.get('service')} {call['action']}: no response captured")
        else:
            problems += call_problems(models, call)
    assert not problems, f"{len(problems)} departures from botocore's models:\n" + "\n".join(problems)
