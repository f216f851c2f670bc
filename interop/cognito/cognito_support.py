"""Helpers shared by the Cognito interop suites (imported by conftest.py and the test modules).

Nothing here comes from tokenbridge's own code: the wire is driven by boto3/botocore and the
checks use botocore's bundled `cognito-idp` service model, PyJWT and pycognito.
"""

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import re
import time
import uuid

import boto3
import regress
import jwt
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from interop_support import upstream_password_grant

HTTP_TIMEOUT = 10
TARGET_PREFIX = "AWSCognitoIdentityProviderService"
SERVICE_EVENT_ID = "cognito-identity-provider"  # botocore's hyphenized service id, for events
AMZ_JSON = "application/x-amz-json-1.1"
ASYMMETRIC_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
# aws-jwt-verify's user pool id check, and the contract's client id form.
POOL_ID_RE = re.compile(r"^[\w-]+_[0-9a-zA-Z]+$")
CLIENT_ID_RE = re.compile(r"^[a-z0-9]{26}$")
ALL_FLOWS = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_CUSTOM_AUTH",
]
INCORRECT = "Incorrect username or password."
INVALID_SESSION = "Invalid session for the user."
EXPIRED_SESSION = "Invalid session for the user, session is expired."
# Errors any AWS JSON operation may answer with, modelled or not.
COMMON_ERRORS = {
    "InternalErrorException",
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "AccessDeniedException",
    "ThrottlingException",
    "ServiceUnavailableException",
    "ValidationException",
    "SerializationException",
    "UnknownOperationException",
    "InvalidClientTokenId",
    "RequestExpired",
}
# What a JSON 1.1 service model asks of each scalar.
_TIMESTAMP_TYPES = (int, float)


def unique(prefix="tb"):
    """A server-wide unique lowercase name (usernames are unique across the whole server)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def new_password():
    """Meets Cognito's default policy (8+, upper, lower, digit, symbol)."""
    return f"Pw1!{uuid.uuid4().hex}Z"


def secret_hash(username, client_id, client_secret):
    mac = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def error_code(exc):
    return exc.response.get("Error", {}).get("Code")


def error_message(exc):
    return exc.response.get("Error", {}).get("Message")


def expect_error(code, fn, *args, message=None, **kwargs):
    """Calls fn, insists on a ClientError with that code (and message); returns the error."""
    try:
        answer = fn(*args, **kwargs)
    except ClientError as e:
        assert error_code(e) == code, f"expected {code}, got {error_code(e)}: {error_message(e)}"
        if message is not None:
            assert error_message(e) == message, f"{code}: expected message {message!r}, got {error_message(e)!r}"
        return e
    pytest.fail(f"expected {code}, the call succeeded: {answer}")


# ---------------------------------------------------------------------------------------------
# Clients


def make_client(cog, access_key=None, secret_key=None, unsigned=False):
    """A boto3 cognito-idp client for the demo's endpoint; no retries, so every call is one request.

    Credentials are always passed explicitly, so nothing on the machine (environment, ~/.aws)
    leaks in. Public actions (InitiateAuth, SignUp, ...) are unsigned whatever the credentials:
    botocore's model marks them `authtype: none`, as AWS does.
    """
    session = boto3.session.Session(
        aws_access_key_id=access_key if access_key is not None else cog["admin_access_key_id"],
        aws_secret_access_key=secret_key if secret_key is not None else cog["admin_secret_access_key"],
        region_name=cog["region"],
    )
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=HTTP_TIMEOUT,
        read_timeout=HTTP_TIMEOUT,
        **({"signature_version": UNSIGNED} if unsigned else {}),
    )
    return session.client("cognito-idp", endpoint_url=cog["endpoint"], config=config)


class Capture:
    """Records every request body botocore sends and the raw (unparsed) response it gets.

    `before-send` sees the prepared request, `before-parse` the response bytes exactly as the
    server wrote them, before botocore's parser drops anything it does not know.
    """

    KEEP = 500  # the session-wide client's capture keeps only the latest exchanges

    def __init__(self):
        self.calls = []

    def attach(self, client):
        client.meta.events.register(f"before-send.{SERVICE_EVENT_ID}", self._before_send)
        client.meta.events.register(f"before-parse.{SERVICE_EVENT_ID}", self._before_parse)
        return client

    def clear(self):
        self.calls = []

    def _before_send(self, request, **kwargs):
        target = request.headers.get("X-Amz-Target", b"")
        if isinstance(target, bytes):
            target = target.decode()
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        self.calls.append({"action": target.rsplit(".", 1)[-1], "request": body, "response": None})
        del self.calls[: -self.KEEP]
        # Returning nothing: a non-None answer would short-circuit the send.

    def _before_parse(self, operation_model, response_dict, **kwargs):
        for call in reversed(self.calls):
            if call["action"] == operation_model.name and call["response"] is None:
                call["response"] = {
                    "status": response_dict["status_code"],
                    "headers": {k.lower(): v for k, v in response_dict["headers"].items()},
                    "body": response_dict["body"],
                }
                break

    def of(self, action):
        return [c for c in self.calls if c["action"] == action and c["response"] is not None]


# ---------------------------------------------------------------------------------------------
# Confirmation codes the demo writes to {data_dir}/codes.jsonl


def codes_path():
    data_dir = os.environ.get("TOKENBRIDGE_DATA_DIR")
    if not data_dir:
        pytest.fail("TOKENBRIDGE_DATA_DIR is not set (scripts/test exports it): cannot read confirmation codes")
    return os.path.join(data_dir, "codes.jsonl")


def codes_mark():
    """How many code lines exist now: wait_code only looks at lines written after this."""
    try:
        with open(codes_path(), encoding="utf-8") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def wait_code(mark, pool_id, username, purpose, timeout=10):
    path = codes_path()
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()[mark:]
        except FileNotFoundError:
            lines = []
        found = None
        for line in lines:
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec.get("pool_id") == pool_id and rec.get("username") == username and rec.get("purpose") == purpose:
                found = rec
        if found is not None:
            assert re.fullmatch(r"[0-9]{6}", str(found["code"])), found
            assert found.get("destination"), found
            return str(found["code"])
        assert time.monotonic() < deadline, f"no {purpose} code for {username} in {path} after {timeout} s"
        time.sleep(0.1)


def wrong_code(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


# ---------------------------------------------------------------------------------------------
# Upstream tokens for CUSTOM_AUTH


class UpstreamTokens:
    """Fresh demo-upstream id tokens (password grant, as interop/python/test_tokens.py gets them).

    The demo upstream's tokens carry no jti: two for the same user in the same second are
    byte-identical, and the broker's one-time use rightly refuses the second. Earlier suites in
    the same run fetched tokens for the same users, so the first token taken here must be issued
    after this object was made, and each later one after the previous one.
    """

    def __init__(self, upstream):
        self.upstream = upstream
        self.http = requests.Session()
        self.t0 = time.time()
        self.last_iat = {}
        self.seen = set()

    def id_token(self, user):
        deadline = time.monotonic() + 10
        floor = self.last_iat.get(user["username"], self.t0)
        while True:
            token = upstream_password_grant(self.http, self.upstream, user)["id_token"]
            iat = jwt.decode(token, options={"verify_signature": False}).get("iat")
            fresh = token not in self.seen and (iat is None or iat > floor)
            if fresh:
                self.seen.add(token)
                if iat is not None:
                    self.last_iat[user["username"]] = iat
                return token
            assert time.monotonic() < deadline, "the upstream kept returning tokens seen before"
            time.sleep(0.25)


# ---------------------------------------------------------------------------------------------
# Token verification (PyJWT, keys from the pool's own discovery document)


class Verifier:
    def __init__(self):
        self.http = requests.Session()
        self._jwks = {}

    def discovery(self, issuer):
        r = self.http.get(f"{issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, f"{issuer}/.well-known/openid-configuration: {r.status_code} {r.text}"
        return r.json()

    def jwks_client(self, issuer):
        if issuer not in self._jwks:
            doc = self.discovery(issuer)
            assert doc["issuer"] == issuer, doc
            assert doc["jwks_uri"] == f"{issuer}/.well-known/jwks.json", doc
            self._jwks[issuer] = jwt.PyJWKClient(doc["jwks_uri"], cache_keys=True, timeout=HTTP_TIMEOUT)
        return self._jwks[issuer]

    def verify(self, token, issuer, token_use, client_id):
        """Signature by kid from the pool's JWKS, iss, exp, iat, aud (id) / client_id (access), token_use."""
        header = jwt.get_unverified_header(token)
        assert header.get("alg") in ASYMMETRIC_ALGS, header
        assert header.get("kid"), header
        key = self.jwks_client(issuer).get_signing_key_from_jwt(token)
        required = ["iss", "sub", "exp", "iat", "token_use", "auth_time", "jti", "origin_jti", "event_id"]
        if token_use == "id":
            required += ["aud", "cognito:username"]
        else:
            required += ["client_id", "username", "scope"]
        claims = jwt.decode(
            token,
            key,
            algorithms=[header["alg"]],
            issuer=issuer,
            audience=client_id if token_use == "id" else None,
            leeway=5,
            options={"require": required, "verify_aud": token_use == "id"},
        )
        assert claims["token_use"] == token_use, claims
        if token_use == "id":
            assert claims["aud"] == client_id, claims
        else:
            assert claims["client_id"] == client_id, claims
            assert "aws.cognito.signin.user.admin" in claims["scope"].split(), claims
            assert "aud" not in claims, f"a Cognito access token has no aud: {claims}"
        now = time.time()
        assert claims["iat"] <= now + 5 and claims["exp"] > now, claims
        assert claims["auth_time"] <= claims["iat"], claims
        return claims

    def verify_result(self, result, issuer, client_id, username, expect_refresh=True):
        """An AuthenticationResult: both tokens verify and describe `username`. Returns (id, access) claims."""
        assert result["TokenType"] == "Bearer", result
        assert isinstance(result["ExpiresIn"], int) and result["ExpiresIn"] > 0, result
        if expect_refresh:
            assert result.get("RefreshToken"), "no RefreshToken"
        else:
            assert "RefreshToken" not in result, "REFRESH_TOKEN_AUTH must not return a RefreshToken"
        idc = self.verify(result["IdToken"], issuer, "id", client_id)
        atc = self.verify(result["AccessToken"], issuer, "access", client_id)
        assert idc["cognito:username"] == username, idc
        assert atc["username"] == username, atc
        assert idc["sub"] == atc["sub"], (idc, atc)
        assert idc["origin_jti"] == atc["origin_jti"], (idc, atc)
        assert idc["event_id"] == atc["event_id"], (idc, atc)
        assert idc["jti"] != atc["jti"], (idc, atc)
        assert abs((atc["exp"] - time.time()) - result["ExpiresIn"]) <= 60, (atc["exp"], result["ExpiresIn"])
        return idc, atc


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


# ---------------------------------------------------------------------------------------------
# Shape conformance against botocore's service model


def _check_length(value, shape, path, errors, what):
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    n = len(value)
    if lo is not None and n < lo:
        errors.append(f"{path}: {what} {n} < min {lo} ({shape.name})")
    if hi is not None and n > hi:
        errors.append(f"{path}: {what} {n} > max {hi} ({shape.name})")


class _Pattern:
    """A Smithy `pattern` (ECMA-262, unanchored), evaluated by an ECMAScript regex engine."""

    def __init__(self, source):
        self.pattern = source
        flags = "u"
        # A few AWS models start with Java's `(?s)`, which ECMAScript spells as the `s` flag.
        if source.startswith("(?s)"):
            source, flags = source[4:], "us"
        try:
            self._regex = regress.Regex(source, flags)
        except regress.RegressError:
            # Unicode mode refuses identity escapes such as `\:` that the models use; without it
            # they are literal, as the JavaScript SDK reads them. `\p{..}` needs Unicode mode.
            if "\\p{" in source:
                raise
            self._regex = regress.Regex(source, flags.replace("u", ""))

    def search(self, value):
        return self._regex.find(value) is not None


_PATTERNS = {}


def _pattern(shape):
    """The shape's pattern; a pattern the engine cannot read fails the check (never skipped)."""
    pat = shape.metadata.get("pattern")
    if not pat:
        return None
    if pat not in _PATTERNS:
        try:
            _PATTERNS[pat] = _Pattern(pat)
        except regress.RegressError as e:
            raise AssertionError(f"{shape.name}: pattern {pat!r} is not ECMAScript this check can evaluate: {e}")
    return _PATTERNS[pat]


def _string_errors(value, shape, path):
    """A string's enum, length and pattern departures."""
    errors = []
    if shape.enum and value not in shape.enum:
        errors.append(f"{path}: {value!r} not in enum {shape.name} {shape.enum}")
    _check_length(value, shape, path, errors, "length")
    pat = _pattern(shape)
    if pat is not None and not pat.search(value):
        errors.append(f"{path}: {value[:80]!r} does not match {shape.name} pattern {pat.pattern!r}")
    return errors


def _range_errors(value, shape, path):
    """An integer's departures from the shape's min and max."""
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    errors = []
    if lo is not None and value < lo:
        errors.append(f"{path}: {value} < min {lo} ({shape.name})")
    if hi is not None and value > hi:
        errors.append(f"{path}: {value} > max {hi} ({shape.name})")
    return errors


class _ShapeChecker:
    """The recursive walk of a value already in Python (decoded JSON, or botocore's parsed answer)
    against a botocore shape. Structures, lists, maps and most scalars are checked alike; a
    subclass names the types in its messages (`WORDS`) and checks timestamps and blobs."""

    WORDS = {}  # "object", "array", "string", "integer", "boolean" -> how the messages say them

    def timestamp_errors(self, value, shape, path):
        raise NotImplementedError

    def blob_errors(self, value, shape, path):
        raise NotImplementedError

    def _expected(self, what, value, shape, path, show_value=True):
        shown = f" {value!r}" if show_value else ""
        return f"{path}: expected {self.WORDS[what]} ({shape.name}), got {type(value).__name__}{shown}"

    def errors(self, value, shape, path):
        errors = []
        t = shape.type_name
        if t == "structure":
            if not isinstance(value, dict):
                return [self._expected("object", value, shape, path, show_value=False)]
            members = shape.members
            for name in shape.required_members:
                if value.get(name) is None:
                    errors.append(f"{path}: required member {name} missing ({shape.name})")
            for name, v in value.items():
                if name not in members:
                    errors.append(f"{path}: member {name!r} not in {shape.name} (has {sorted(members)})")
                elif v is not None:
                    errors += self.errors(v, members[name], f"{path}.{name}")
        elif t == "list":
            if not isinstance(value, list):
                return [self._expected("array", value, shape, path, show_value=False)]
            _check_length(value, shape, path, errors, "length")
            for i, v in enumerate(value):
                if v is None:
                    errors.append(f"{path}[{i}]: null in a list")
                else:
                    errors += self.errors(v, shape.member, f"{path}[{i}]")
        elif t == "map":
            if not isinstance(value, dict):
                return [self._expected("object", value, shape, path, show_value=False)]
            _check_length(value, shape, path, errors, "entries")
            for k, v in value.items():
                errors += self.errors(k, shape.key, f"{path}.<key {k!r}>")
                if v is None:
                    errors.append(f"{path}[{k!r}]: null map value")
                else:
                    errors += self.errors(v, shape.value, f"{path}[{k!r}]")
        elif t == "string":
            if not isinstance(value, str):
                return [self._expected("string", value, shape, path)]
            errors += _string_errors(value, shape, path)
        elif t in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                return [self._expected("integer", value, shape, path)]
            errors += _range_errors(value, shape, path)
        elif t in ("float", "double"):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                errors.append(f"{path}: expected number ({shape.name}), got {type(value).__name__} {value!r}")
        elif t == "boolean":
            if not isinstance(value, bool):
                errors.append(self._expected("boolean", value, shape, path))
        elif t == "timestamp":
            errors += self.timestamp_errors(value, shape, path)
        elif t == "blob":
            errors += self.blob_errors(value, shape, path)
        else:
            errors.append(f"{path}: shape type {t} not handled by this checker ({shape.name})")
        return errors


class _JsonWireChecker(_ShapeChecker):
    """Decoded JSON as the JSON 1.1 protocol carries it: timestamps as epoch seconds, blobs as base64."""

    WORDS = {"object": "object", "array": "array", "string": "string", "integer": "integer", "boolean": "boolean"}

    def timestamp_errors(self, value, shape, path):
        if not isinstance(value, _TIMESTAMP_TYPES) or isinstance(value, bool):
            return [f"{path}: expected epoch-seconds number ({shape.name}), got {type(value).__name__} {value!r}"]
        if not 1e9 < value < 1e10:
            return [f"{path}: timestamp {value} is not epoch seconds ({shape.name})"]
        return []

    def blob_errors(self, value, shape, path):
        if not isinstance(value, str):
            return [f"{path}: expected base64 string ({shape.name}), got {type(value).__name__}"]
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            return [f"{path}: blob is not base64 ({shape.name})"]
        return []


def shape_errors(value, shape, path="$"):
    """Every way `value` (decoded JSON) departs from botocore `shape`; [] when it conforms.

    Structures: required members present, no member the shape lacks, no null for a required
    member. Scalars: JSON type as the JSON 1.1 protocol carries it (timestamps as epoch
    numbers), enum values, length and range limits, patterns (every one, as ECMAScript reads it).
    """
    return _JsonWireChecker().errors(value, shape, path)


def body_json(raw, where):
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError) as e:
        pytest.fail(f"{where}: body is not JSON ({e}): {raw[:300]!r}")


def json_call_problems(model, call):
    """Everything wrong with one captured AWS JSON 1.1 exchange (Capture's `call`), as lines.

    The request fits the operation's input shape; the answer has an x-amzn-RequestId header and
    the JSON 1.1 Content-Type; a success is an object fitting the output shape; an error is an
    object whose `__type` is modelled or common, with a message, no member its shape lacks (an
    error shape without members still gets AWS's message), an x-amzn-ErrorType that agrees, and
    status 500 exactly when it is InternalErrorException.
    """
    action = call["action"]
    where = f"{model.service_name} {action}"
    op = model.operation_model(action)
    problems = []
    request = body_json(call["request"], f"{where} request")
    if op.input_shape is None:
        if request not in (None, {}):
            problems.append(f"{where} request: the operation takes no input, sent {request}")
    else:
        problems += [f"{where} request {e}" for e in shape_errors(request or {}, op.input_shape)]

    resp = call["response"]
    if resp is None:
        return problems + [f"{where}: no response captured"]
    status, headers = resp["status"], resp["headers"]
    if not headers.get("x-amzn-requestid"):
        problems.append(f"{where} ({status}): no x-amzn-RequestId header")
    if not headers.get("content-type", "").startswith(AMZ_JSON):
        problems.append(f"{where} ({status}): Content-Type {headers.get('content-type')!r}, not {AMZ_JSON}")
    body = body_json(resp["body"], f"{where} response ({status})")
    if 200 <= status < 300:
        if not isinstance(body, dict):
            return problems + [f"{where} ({status}): body is not a JSON object: {resp['body'][:200]!r}"]
        if op.output_shape is None:
            if body != {}:
                problems.append(f"{where} ({status}): the operation has no output, answered {body}")
        else:
            problems += [f"{where} response {e}" for e in shape_errors(body, op.output_shape)]
        return problems

    if not isinstance(body, dict):
        return problems + [f"{where} ({status}): error body is not a JSON object: {resp['body'][:200]!r}"]
    code = body.get("__type")
    modelled = {e.name: e for e in op.error_shapes}
    if code not in modelled and code not in COMMON_ERRORS:
        problems.append(f"{where} ({status}): __type {code!r} is neither modelled ({sorted(modelled)}) nor common")
    if not isinstance(body.get("message"), str) or not body["message"]:
        problems.append(f"{where} ({status}): error without a message: {body}")
    rest = {k: v for k, v in body.items() if k != "__type"}
    if code in modelled:
        shape = modelled[code]
        if "message" not in shape.members and "Message" not in shape.members:
            rest.pop("message", None)  # CloudTrail's error shapes have no members; AWS sends a message anyway
        problems += [f"{where} error {e}" for e in shape_errors(rest, shape, path=f"${code}")]
    elif set(rest) - {"message"}:
        problems.append(f"{where} ({status}): unexpected members in {code}: {sorted(set(rest) - {'message'})}")
    if code == "InternalErrorException" and status != 500:
        problems.append(f"{where}: InternalErrorException with status {status}")
    if status >= 500 and code != "InternalErrorException":
        problems.append(f"{where}: {code} with status {status}")
    if not headers.get("x-amzn-errortype", "").startswith(str(code)):
        problems.append(f"{where} ({status}): x-amzn-ErrorType {headers.get('x-amzn-errortype')!r} is not {code}")
    return problems


# ---------------------------------------------------------------------------------------------
# Pools and users


@dataclasses.dataclass
class Pool:
    pool_id: str
    client_id: str
    secret_client_id: str
    secret_client_secret: str
    issuer: str


@dataclasses.dataclass
class User:
    pool: Pool
    username: str
    password: str
    email: str


def create_pool(idp, cog, name):
    pool = idp.create_user_pool(
        PoolName=name,
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 8,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": True,
                "TemporaryPasswordValidityDays": 7,
            }
        },
        AutoVerifiedAttributes=["email"],
        MfaConfiguration="OFF",
    )["UserPool"]
    pool_id = pool["Id"]

    def client(kind, generate_secret):
        return idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=f"{name}-{kind}",
            GenerateSecret=generate_secret,
            ExplicitAuthFlows=ALL_FLOWS,
            EnableTokenRevocation=True,
            PreventUserExistenceErrors="ENABLED",
        )["UserPoolClient"]

    public, secret = client("public", False), client("secret", True)
    return Pool(
        pool_id=pool_id,
        client_id=public["ClientId"],
        secret_client_id=secret["ClientId"],
        secret_client_secret=secret["ClientSecret"],
        issuer=f"{cog['endpoint'].rstrip('/')}/{pool_id}",
    )


def delete_quietly(fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        if error_code(e) not in ("ResourceNotFoundException", "UserNotFoundException"):
            raise


def password_login(idp, user, secret=False, password=None):
    """USER_PASSWORD_AUTH through the pool's public (or secret) client; the whole response."""
    pool = user.pool
    params = {"USERNAME": user.username, "PASSWORD": password or user.password}
    client_id = pool.client_id
    if secret:
        client_id = pool.secret_client_id
        params["SECRET_HASH"] = secret_hash(user.username, client_id, pool.secret_client_secret)
    return idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=params)


def admin_login(idp, user, password=None):
    """AdminInitiateAuth ADMIN_USER_PASSWORD_AUTH through the pool's public client."""
    return idp.admin_initiate_auth(
        UserPoolId=user.pool.pool_id,
        ClientId=user.pool.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.username, "PASSWORD": password or user.password},
    )


def srp_login(idp, user, secret=False, password=None):
    """USER_SRP_AUTH as pycognito does it (its AWSSRP drives our boto3 client); the final response."""
    from pycognito.aws_srp import AWSSRP

    pool = user.pool
    srp = AWSSRP(
        username=user.username,
        password=password or user.password,
        pool_id=pool.pool_id,
        client_id=pool.secret_client_id if secret else pool.client_id,
        client=idp,
        client_secret=pool.secret_client_secret if secret else None,
    )
    return srp.authenticate_user()


def refresh(idp, pool, refresh_token):
    return idp.initiate_auth(
        ClientId=pool.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh_token}
    )


def custom_start(idp, user):
    """InitiateAuth CUSTOM_AUTH: the CUSTOM_CHALLENGE response."""
    r = idp.initiate_auth(
        ClientId=user.pool.client_id, AuthFlow="CUSTOM_AUTH", AuthParameters={"USERNAME": user.username}
    )
    assert r.get("ChallengeName") == "CUSTOM_CHALLENGE", r
    assert r.get("Session"), r
    return r


def custom_answer(idp, user, session, answer):
    return idp.respond_to_auth_challenge(
        ClientId=user.pool.client_id,
        ChallengeName="CUSTOM_CHALLENGE",
        Session=session,
        ChallengeResponses={"USERNAME": user.username, "ANSWER": answer},
    )


def attributes(attrs):
    """[{Name, Value}] -> dict."""
    return {a["Name"]: a.get("Value") for a in attrs}


# ---------------------------------------------------------------------------------------------
# Issue 6: identity pools, STS, IAM, CloudTrail and the demo GraphQL API through boto3/botocore

# Errors any AWS query-protocol (IAM, STS) operation may answer with, modelled or not.
QUERY_COMMON_ERRORS = {
    "AccessDenied",
    "AccessDeniedException",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidAction",
    "InvalidClientTokenId",
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidQueryParameter",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    "NotAuthorized",
    "OptInRequired",
    "RequestExpired",
    "ServiceUnavailable",
    "SignatureDoesNotMatch",
    "Throttling",
    "ThrottlingException",
    "ValidationError",
    "ExpiredToken",
}
COGNITO_IDENTITY_PROVIDER = "cognito-identity.amazonaws.com"
ENHANCED_FLOW_SESSION_NAME = "CognitoIdentityCredentials"
ISO8601_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")
IDENTITY_ID_RE = re.compile(r"^[\w-]+:[0-9a-f-]+$")  # cognito-identity's IdentityId pattern, anchored


def without_scheme(url):
    """An issuer as AWS names the provider (Logins keys, condition-key prefixes): no scheme."""
    return re.sub(r"^https?://", "", url)


def user_pool_provider(region, pool_id):
    """The AWS form of a user pool's provider name."""
    return f"cognito-idp.{region}.amazonaws.com/{pool_id}"


def make_aws_client(cog, service, region, access_key=None, secret_key=None, session_token=None, unsigned=False):
    """A boto3 client of `service` (sts, iam, cognito-identity, cloudtrail...) on the demo's endpoint.

    As make_client: no retries, credentials always explicit (the admin's unless given).
    """
    session = boto3.session.Session(
        aws_access_key_id=access_key if access_key is not None else cog["admin_access_key_id"],
        aws_secret_access_key=secret_key if secret_key is not None else cog["admin_secret_access_key"],
        aws_session_token=session_token,
        region_name=region,
    )
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=HTTP_TIMEOUT,
        read_timeout=HTTP_TIMEOUT,
        **({"signature_version": UNSIGNED} if unsigned else {}),
    )
    return session.client(service, endpoint_url=cog["endpoint"], config=config)


class AwsCapture(Capture):
    """Capture for clients of any service: JSON (X-Amz-Target) and query (form `Action`) alike.

    Each call also records its `service` (botocore's hyphenized service id) and, once parsed,
    botocore's `parsed` answer (after its own handlers, e.g. IAM's policy-document decoding).
    """

    def attach(self, client):
        sid = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-send.{sid}", self._before_send)
        client.meta.events.register(f"before-parse.{sid}", self._before_parse)
        client.meta.events.register(f"after-call.{sid}", self._after_call)
        return client

    def _before_send(self, request, **kwargs):
        super()._before_send(request, **kwargs)
        parts = kwargs.get("event_name", "").split(".")
        call = self.calls[-1]
        if len(parts) >= 3:
            call["service"], call["action"] = parts[1], parts[2]

    def _after_call(self, model, parsed, **kwargs):
        for call in reversed(self.calls):
            if call["action"] == model.name and call["response"] is not None and "parsed" not in call:
                call["parsed"] = parsed
                break

    def of_service(self, service):
        return [c for c in self.calls if c.get("service") == service and c["response"] is not None]


def delete_role_quietly(iam, role_name):
    """Deletes a role's inline policies, then the role; a role already gone is fine."""
    try:
        for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=role_name, PolicyName=name)
        iam.delete_role(RoleName=role_name)
    except ClientError as e:
        if error_code(e) != "NoSuchEntity":
            raise


def role_name_of(arn):
    """arn:aws:iam::<account>:role/<path/>name -> name."""
    return arn.rsplit("/", 1)[-1]


def temporary_credentials(creds):
    """(access key, secret, session token) of STS `Credentials` or cognito-identity `Credentials`."""
    secret = creds.get("SecretAccessKey", creds.get("SecretKey"))
    return creds["AccessKeyId"], secret, creds["SessionToken"]


def sigv4_request(url, creds, region, service, body=b"", method="POST", headers=None):
    """A request signed by botocore's own SigV4Auth with `creds` (access, secret, token), sent with requests."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    access, secret, token = creds
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(access, secret, token), service, region).add_auth(req)
    prepared = req.prepare()
    return requests.request(
        method, prepared.url, data=prepared.body, headers=dict(prepared.headers), timeout=HTTP_TIMEOUT
    )


def graphql(url, creds, region, query, variables=None):
    """POST {query, variables} to the demo GraphQL API, signed for `appsync` with temporary credentials."""
    doc = {"query": query}
    if variables is not None:
        doc["variables"] = variables
    return sigv4_request(
        url, creds, region, "appsync", body=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}
    )


# --- shape conformance of botocore's parsed answers and of raw query-protocol XML -------------

POLICY_DOCUMENT_SHAPE = "policyDocumentType"  # IAM: URL-encoded JSON; botocore hands back a dict


class _ParsedChecker(_ShapeChecker):
    """botocore's parsed answer: datetimes with a time zone, bytes, and IAM's policy documents as dicts."""

    WORDS = {"object": "dict", "array": "list", "string": "str", "integer": "int", "boolean": "bool"}

    def errors(self, value, shape, path):
        if shape.type_name == "string" and shape.name == POLICY_DOCUMENT_SHAPE and isinstance(value, dict):
            return []
        return super().errors(value, shape, path)

    def timestamp_errors(self, value, shape, path):
        import datetime

        if not isinstance(value, datetime.datetime):
            return [f"{path}: expected datetime ({shape.name}), got {type(value).__name__} {value!r}"]
        if value.tzinfo is None:
            return [f"{path}: timestamp without a time zone ({shape.name})"]
        return []

    def blob_errors(self, value, shape, path):
        if not isinstance(value, bytes):
            return [f"{path}: expected bytes ({shape.name}), got {type(value).__name__}"]
        return []


def parsed_shape_errors(value, shape, path="$"):
    """Every way botocore's *parsed* `value` departs from `shape`; [] when it conforms.

    For query-protocol services, where botocore parses XML against the shape and silently
    drops what the shape lacks: required members present, Python types as botocore's parser
    makes them (datetime for timestamps, bytes for blobs), enums, lengths, ranges, patterns.
    """
    return _ParsedChecker().errors(value, shape, path)


def xml_local(tag):
    """An ElementTree tag without its {namespace}."""
    return tag.rsplit("}", 1)[-1]


def xml_shape_errors(elem, shape, path="$"):
    """Every way a raw query-protocol XML element departs from `shape`; [] when it conforms.

    What botocore's lenient parser would hide: elements the shape lacks, repeated members,
    lists not written as <member>s, and scalars in the wrong lexical form (booleans other than
    true/false, timestamps not ISO 8601, non-numeric integers), besides required members,
    enums, lengths and patterns. IAM policy documents must be URL-encoded JSON.
    """
    from urllib.parse import unquote

    errors = []
    t = shape.type_name
    children = list(elem)
    if t == "structure":
        by_tag = {m.serialization.get("name", n): n for n, m in shape.members.items()}
        seen = set()
        for child in children:
            tag = xml_local(child.tag)
            name = by_tag.get(tag)
            if name is None:
                errors.append(f"{path}: element <{tag}> not in {shape.name} (has {sorted(by_tag)})")
                continue
            member = shape.members[name]
            if name in seen and not member.serialization.get("flattened"):
                errors.append(f"{path}: <{tag}> appears twice ({shape.name})")
            seen.add(name)
            errors += xml_shape_errors(child, member, f"{path}.{name}")
        for name in shape.required_members:
            if name not in seen:
                errors.append(f"{path}: required member {name} missing ({shape.name})")
        return errors
    if t == "list":
        if shape.serialization.get("flattened"):
            return [f"{path}: flattened list {shape.name} not handled by this checker"]
        item = shape.member.serialization.get("name", "member")
        _check_length(children, shape, path, errors, "length")
        for i, child in enumerate(children):
            if xml_local(child.tag) != item:
                errors.append(f"{path}[{i}]: <{xml_local(child.tag)}> in a list of <{item}> ({shape.name})")
            else:
                errors += xml_shape_errors(child, shape.member, f"{path}[{i}]")
        return errors
    if t == "map":
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        for i, entry in enumerate(children):
            if xml_local(entry.tag) != "entry":
                errors.append(f"{path}[{i}]: <{xml_local(entry.tag)}> in a map, not <entry>")
                continue
            parts = {xml_local(c.tag): c for c in entry}
            if set(parts) != {key_tag, value_tag}:
                errors.append(f"{path}[{i}]: entry has {sorted(parts)}, not <{key_tag}> and <{value_tag}>")
                continue
            errors += xml_shape_errors(parts[key_tag], shape.key, f"{path}.<key>")
            errors += xml_shape_errors(parts[value_tag], shape.value, f"{path}[{parts[key_tag].text!r}]")
        return errors
    if children:
        return [f"{path}: scalar {shape.name} has child elements {[xml_local(c.tag) for c in children]}"]
    text = elem.text or ""
    if t == "string":
        errors += _string_errors(text, shape, path)
        if shape.name == POLICY_DOCUMENT_SHAPE:
            try:
                json.loads(unquote(text))
            except ValueError as e:
                errors.append(f"{path}: policy document is not URL-encoded JSON ({e}): {text[:80]!r}")
    elif t in ("integer", "long"):
        if not re.fullmatch(r"-?[0-9]+", text):
            errors.append(f"{path}: {text!r} is not an integer ({shape.name})")
        else:
            errors += _range_errors(int(text), shape, path)
    elif t in ("float", "double"):
        try:
            float(text)
        except ValueError:
            errors.append(f"{path}: {text!r} is not a number ({shape.name})")
    elif t == "boolean":
        if text not in ("true", "false"):
            errors.append(f"{path}: {text!r} is not true/false ({shape.name})")
    elif t == "timestamp":
        if not ISO8601_RE.match(text):
            errors.append(f"{path}: {text!r} is not an ISO 8601 timestamp ({shape.name})")
    elif t == "blob":
        try:
            base64.b64decode(text, validate=True)
        except ValueError:
            errors.append(f"{path}: blob is not base64 ({shape.name})")
    else:
        errors.append(f"{path}: shape type {t} not handled by this checker ({shape.name})")
    return errors


def modelled_query_errors(op):
    """{wire code: error shape} of a query-protocol operation (IAM's NoSuchEntityException is `NoSuchEntity`)."""
    return {(e.metadata.get("error") or {}).get("code", e.name): e for e in op.error_shapes}
