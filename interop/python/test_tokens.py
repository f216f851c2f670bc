"""Interop: tokenbridge's tokens as an independent client stack sees them.

Runs against a live `tokenbridge demo` (scripts/test starts one) described by the demo.json
whose path is in TOKENBRIDGE_DEMO_JSON. Every token is checked with PyJWT against the JWKS found
through discovery, never with anything from tokenbridge's own code.
"""

import base64
import hashlib
import hmac
import itertools
import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from interop_support import upstream_password_grant

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ASYMMETRIC_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
HTTP_TIMEOUT = 10


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Demo:
    """The demo described by demo.json, with the few HTTP calls the tests make."""

    def __init__(self, info):
        self.info = info
        self.base = info["base_url"].rstrip("/")
        self.client_id = info["client"]["client_id"]
        self.client_auth = (self.client_id, info["client"]["client_secret"])
        self.upstream = info["upstream"]
        self.http = requests.Session()
        self._upstream_tokens_seen = set()
        linked = [u for u in info["users"] if u["expect"] == "linked"]
        assert linked, "demo.json lists no linked user"
        self._linked = itertools.cycle(linked)

    def user(self, expect):
        for u in self.info["users"]:
            if u["expect"] == expect:
                return u
        pytest.fail(f"demo.json lists no user with expect={expect!r}")

    def next_linked_user(self):
        """Linked users in turn, so back-to-back tests rarely ask the upstream for the same one."""
        return next(self._linked)

    def upstream_id_token(self, user):
        """A fresh upstream id token for `user` (Salesforce's username-password flow).

        The demo upstream's tokens carry no jti, so two asked for in the same second for the
        same user are byte-identical and the broker (one-time use) rightly takes the second
        for a replay. Tests that want a *fresh* token wait for one not seen before.
        """
        deadline = time.monotonic() + 5
        while True:
            body = upstream_password_grant(self.http, self.upstream, user)
            assert "id_token" in body and "access_token" in body, body
            token = body["id_token"]
            if token not in self._upstream_tokens_seen:
                self._upstream_tokens_seen.add(token)
                return token
            assert time.monotonic() < deadline, "the upstream kept returning the same id token"
            time.sleep(0.2)

    def exchange(self, upstream_token):
        return self.http.post(
            f"{self.base}/auth/exchange", headers={"Authorization": f"Bearer {upstream_token}"}, timeout=HTTP_TIMEOUT
        )

    def token(self, data, auth=None):
        return self.http.post(
            f"{self.base}/oauth2/token", auth=auth or self.client_auth, data=data, timeout=HTTP_TIMEOUT
        )

    def refresh(self, refresh_token):
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def userinfo(self, access_token):
        return self.http.get(
            f"{self.base}/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"}, timeout=HTTP_TIMEOUT
        )


@pytest.fixture(scope="session")
def demo(demo_info):
    return Demo(demo_info)


@pytest.fixture(scope="session")
def discovery(demo):
    r = demo.http.get(f"{demo.base}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="session")
def algorithms(discovery):
    algs = discovery["id_token_signing_alg_values_supported"]
    assert algs, "discovery advertises no signing algorithm"
    assert set(algs) <= ASYMMETRIC_ALGS, f"non-asymmetric algorithm advertised: {algs}"
    return sorted(algs)


@pytest.fixture(scope="session")
def jwks_client(discovery):
    return jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=True, timeout=HTTP_TIMEOUT)


@pytest.fixture
def linked_user(demo):
    return demo.next_linked_user()


@pytest.fixture
def exchanged(demo, linked_user):
    """A fresh /auth/exchange answer for a linked user."""
    r = demo.exchange(demo.upstream_id_token(linked_user))
    assert r.status_code == 200, f"/auth/exchange: {r.status_code} {r.text}"
    return r


def verify(token, jwks_client, algorithms, issuer, token_use, audience=None):
    """PyJWT's verification: signature (key by kid from the JWKS), iss, exp, iat, aud, token_use."""
    header = jwt.get_unverified_header(token)
    assert header.get("alg") in algorithms, header
    assert header.get("kid"), f"token header has no kid: {header}"
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key,  # a PyJWK: PyJWT also insists the token's alg is the key's
        algorithms=algorithms,
        issuer=issuer,
        audience=audience,
        leeway=5,
        options={
            "require": ["iss", "sub", "exp", "iat", "token_use", "origin_jti", "jti"],
            "verify_aud": audience is not None,
        },
    )
    assert claims["token_use"] == token_use, claims
    now = time.time()
    assert claims["iat"] <= now + 5 and claims["exp"] > now, claims
    return claims


def assert_refusal(r, status, error):
    assert r.status_code == status, f"expected {status} {error}, got {r.status_code} {r.text}"
    body = r.json()
    assert body.get("error") == error, body
    assert isinstance(body.get("error_description"), str) and body["error_description"], body
    assert isinstance(body.get("request_id"), str) and body["request_id"], body
    if "x-request-id" in r.headers:
        assert r.headers["x-request-id"] == body["request_id"]
    return body


def flip_signature_byte(token):
    h, p, s = token.split(".")
    sig = bytearray(b64url_decode(s))
    sig[len(sig) // 2] ^= 0x01
    return f"{h}.{p}.{b64url_encode(bytes(sig))}"


# --- discovery and keys ---------------------------------------------------------------------


def test_discovery_points_at_this_issuer(demo, discovery):
    assert discovery["issuer"] == demo.base
    assert discovery["jwks_uri"].startswith(demo.base + "/")
    assert discovery["token_endpoint"] == f"{demo.base}/oauth2/token"
    assert TOKEN_EXCHANGE in discovery["grant_types_supported"]


def test_jwks_publishes_only_public_asymmetric_signing_keys(demo, discovery, algorithms, jwks_client):
    jwks = demo.http.get(discovery["jwks_uri"], timeout=HTTP_TIMEOUT).json()
    assert jwks["keys"], "empty JWKS"
    kids = [k.get("kid") for k in jwks["keys"]]
    assert all(kids) and len(set(kids)) == len(kids), kids
    for k in jwks["keys"]:
        assert k["kty"] in ("RSA", "EC", "OKP"), k
        assert not PRIVATE_JWK_MEMBERS & set(k), f"JWK {k['kid']} has private members"
        assert k.get("use", "sig") == "sig", k
        if "alg" in k:
            assert k["alg"] in ASYMMETRIC_ALGS, k
    assert {k.key_id for k in jwks_client.get_signing_keys()} == set(kids)


# --- /auth/exchange -------------------------------------------------------------------------


def test_exchange_answer_shape(exchanged):
    body = exchanged.json()
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body["refresh_token"], str) and body["refresh_token"]
    assert body["refresh_token"].count(".") != 2, "refresh token should be opaque, not a JWT"
    assert "no-store" in exchanged.headers.get("cache-control", "")


def test_exchange_tokens_verify_with_pyjwt(demo, exchanged, linked_user, jwks_client, algorithms):
    body = exchanged.json()
    idt = verify(body["id_token"], jwks_client, algorithms, demo.base, "id", audience=demo.client_id)
    at = verify(body["access_token"], jwks_client, algorithms, demo.base, "access")

    # Cognito-shaped id token.
    assert idt["aud"] == demo.client_id
    assert idt["cognito:username"] == linked_user["username"]
    assert idt["email"] == linked_user["email"]
    assert idt["email_verified"] is True
    # Cognito-shaped access token.
    assert at["client_id"] == demo.client_id
    assert at["username"] == linked_user["username"]
    assert isinstance(at.get("scope"), str)
    # One session: same subject and same refresh family in both.
    assert at["sub"] == idt["sub"]
    assert at["origin_jti"] == idt["origin_jti"] and idt["origin_jti"]
    assert at["jti"] != idt["jti"]
    # expires_in describes the access token.
    assert abs((at["exp"] - time.time()) - body["expires_in"]) <= 60, (at["exp"], body["expires_in"])

    # The access token is accepted by the broker's own UserInfo.
    r = demo.userinfo(body["access_token"])
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == at["sub"]


def test_pyjwt_enforces_audience_and_issuer(demo, exchanged, jwks_client, algorithms):
    token = exchanged.json()["id_token"]
    key = jwks_client.get_signing_key_from_jwt(token)
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key, algorithms=algorithms, audience="some-other-client", issuer=demo.base)
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token, key, algorithms=algorithms, audience=demo.client_id, issuer=demo.base + "/other")


def test_replayed_upstream_token_is_refused(demo, linked_user):
    upstream = demo.upstream_id_token(linked_user)
    first = demo.exchange(upstream)
    assert first.status_code == 200, first.text
    body = assert_refusal(demo.exchange(upstream), 400, "invalid_grant")
    desc = body["error_description"].lower()
    assert "used" in desc or "replay" in desc, body


@pytest.mark.parametrize("expect", ["unlinked", "unverified"])
def test_refused_users_get_invalid_grant_with_reason(demo, expect):
    user = demo.user(expect)
    body = assert_refusal(demo.exchange(demo.upstream_id_token(user)), 400, "invalid_grant")
    desc = body["error_description"]
    if expect == "unlinked":
        assert "link" in desc.lower() or user["email"] in desc, body
    else:
        assert "verified" in desc.lower(), body


# --- RFC 8693 at /oauth2/token --------------------------------------------------------------


def test_rfc8693_token_exchange_with_basic_client_auth(demo, linked_user, jwks_client, algorithms):
    r = demo.token(
        {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": demo.upstream_id_token(linked_user),
            "subject_token_type": ID_TOKEN_TYPE,
        }
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    at = verify(body["access_token"], jwks_client, algorithms, demo.base, "access")
    assert at["client_id"] == demo.client_id
    assert at["username"] == linked_user["username"]
    if "id_token" in body:
        idt = verify(body["id_token"], jwks_client, algorithms, demo.base, "id", audience=demo.client_id)
        assert idt["cognito:username"] == linked_user["username"]


def test_rfc8693_refuses_a_wrong_client_secret(demo, linked_user):
    r = demo.token(
        {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": demo.upstream_id_token(linked_user),
            "subject_token_type": ID_TOKEN_TYPE,
        },
        auth=(demo.client_id, "not-the-secret"),
    )
    assert_refusal(r, 401, "invalid_client")
    assert r.headers.get("www-authenticate", "").startswith("Basic"), r.headers


# --- refresh rotation -----------------------------------------------------------------------


def test_refresh_rotation(demo, exchanged, jwks_client, algorithms):
    first = exchanged.json()
    origin = jwt.decode(first["access_token"], options={"verify_signature": False})["origin_jti"]
    rt1 = first["refresh_token"]

    r = demo.refresh(rt1)
    assert r.status_code == 200, r.text
    second = r.json()
    rt2 = second["refresh_token"]
    assert rt2 and rt2 != rt1
    at = verify(second["access_token"], jwks_client, algorithms, demo.base, "access")
    assert at["origin_jti"] == origin, "a refresh stays in the same family"

    # The new refresh token works...
    r = demo.refresh(rt2)
    assert r.status_code == 200, r.text
    assert r.json()["refresh_token"] not in (rt1, rt2)
    # ...and the old one does not.
    assert_refusal(demo.refresh(rt1), 400, "invalid_grant")


# --- what a verifier must refuse ------------------------------------------------------------


@pytest.mark.parametrize("which", ["id_token", "access_token"])
def test_pyjwt_rejects_a_tampered_token(demo, exchanged, jwks_client, algorithms, which):
    token = exchanged.json()[which]
    key = jwks_client.get_signing_key_from_jwt(token)
    opts = {"verify_aud": False}
    jwt.decode(token, key, algorithms=algorithms, options=opts)  # the original is fine

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(flip_signature_byte(token), key, algorithms=algorithms, options=opts)

    h, p, s = token.split(".")
    claims = json.loads(b64url_decode(p))
    claims["sub"] = "someone-else"
    forged = f"{h}.{b64url_encode(json.dumps(claims).encode())}.{s}"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=algorithms, options=opts)

    if which == "access_token":
        r = demo.userinfo(flip_signature_byte(token))
        assert_refusal(r, 401, "invalid_token")


def test_hs256_signed_with_the_public_key_is_refused(demo, exchanged, jwks_client, algorithms):
    """The classic alg-confusion forgery: HMAC keyed with the published public key."""
    token = exchanged.json()["access_token"]
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    assert not isinstance(signing_key.key, (bytes, str)), "JWKS key is symmetric"
    public_pem = signing_key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    header = dict(jwt.get_unverified_header(token), alg="HS256")
    signing_input = f"{b64url_encode(json.dumps(header).encode())}.{token.split('.')[1]}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64url_encode(mac)}"

    # PyJWT itself will not use the key for HMAC, even when a careless caller allows HS256.
    with pytest.raises(jwt.InvalidKeyError):
        jwt.decode(forged, public_pem, algorithms=["HS256", *algorithms], options={"verify_aud": False})
    # The JWKS key (looked up by the forged token's kid) only verifies its own asymmetric alg.
    forged_key = jwks_client.get_signing_key_from_jwt(forged)
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(forged, forged_key, algorithms=["HS256", *algorithms], options={"verify_aud": False})
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(forged, forged_key, algorithms=algorithms, options={"verify_aud": False})
    # And PyJWT will not even mint one.
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"sub": "x"}, public_pem, algorithm="HS256")

    # The broker refuses it too.
    assert_refusal(demo.userinfo(forged), 401, "invalid_token")


def test_signatures_have_the_form_their_algorithm_fixes(exchanged, jwks_client):
    """Whatever the demo signs with, the signature is in the JWS form of that algorithm (RFC 7518)."""
    token = exchanged.json()["access_token"]
    alg = jwt.get_unverified_header(token)["alg"]
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    h, p, s = token.split(".")
    raw = b64url_decode(s)
    signed = f"{h}.{p}".encode()
    if alg == "ES256":
        assert signing_key.key_type == "EC"
        assert isinstance(signing_key.key.curve, ec.SECP256R1)
        # JWS uses the fixed-size r||s form (RFC 7518 §3.4), not DER.
        assert len(raw) == 64, len(raw)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        signing_key.key.verify(der, signed, ec.ECDSA(hashes.SHA256()))  # raises if bad
    elif alg == "RS256":
        assert signing_key.key_type == "RSA"
        # PKCS#1 v1.5: exactly the modulus length, at least 2048 bits.
        assert len(raw) == signing_key.key.key_size // 8 and signing_key.key.key_size >= 2048, len(raw)
        signing_key.key.verify(raw, signed, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "EdDSA":
        assert signing_key.key_type == "OKP"
        assert len(raw) == 64, len(raw)
        signing_key.key.verify(raw, signed)
    else:
        pytest.fail(f"the demo signs with {alg}, which this test does not know")
