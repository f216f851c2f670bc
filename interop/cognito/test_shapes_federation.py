"""Shape conformance of the federation actions (identity providers, resource servers, provider
links) against botocore's bundled `cognito-idp` model, as test_shapes.py checks the others.

Each action is exercised for real through boto3 with its exchanges captured (botocore's
`before-send` / `before-parse` events); each also provokes a modelled error (a pool that does not
exist). Every captured exchange is checked by cognito_support's json_call_problems: the request's
members exist in the input shape; a success validates recursively against the output shape; an
error's `__type` is modelled (or common), its body fits the error shape, x-amzn-ErrorType agrees.
"""

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

import cognito_support as cs

ACTIONS = [
    "CreateIdentityProvider",
    "DescribeIdentityProvider",
    "UpdateIdentityProvider",
    "DeleteIdentityProvider",
    "ListIdentityProviders",
    "GetIdentityProviderByIdentifier",
    "CreateResourceServer",
    "DescribeResourceServer",
    "ListResourceServers",
    "UpdateResourceServer",
    "DeleteResourceServer",
    "AdminLinkProviderForUser",
    "AdminDisableProviderForUser",
]

OIDC_DETAILS = {
    "client_id": "interop-rp",
    "client_secret": "interop-rp-secret",
    "authorize_scopes": "openid email",
    "oidc_issuer": "https://issuer.example.com",
}


@pytest.fixture(scope="session")
def model():
    return botocore.session.get_session().get_service_model("cognito-idp")


@pytest.fixture
def provider(idp, scratch):
    """An OIDC provider of the scratch pool with an IdpIdentifier; deleted afterwards."""
    name = cs.unique("oidc")[:32]
    ident = cs.unique("id")[:40]
    idp.create_identity_provider(
        UserPoolId=scratch.pool_id,
        ProviderName=name,
        ProviderType="OIDC",
        ProviderDetails=OIDC_DETAILS,
        AttributeMapping={"email": "email", "username": "sub"},
        IdpIdentifiers=[ident],
    )
    yield name, ident
    cs.delete_quietly(idp.delete_identity_provider, UserPoolId=scratch.pool_id, ProviderName=name)


EXERCISES = {
    "CreateIdentityProvider": lambda idp, pool, p, rs, user: None,  # the fixture made one
    "DescribeIdentityProvider": lambda idp, pool, p, rs, user: idp.describe_identity_provider(
        UserPoolId=pool, ProviderName=p[0]
    ),
    "UpdateIdentityProvider": lambda idp, pool, p, rs, user: idp.update_identity_provider(
        UserPoolId=pool, ProviderName=p[0], AttributeMapping={"email": "mail"}
    ),
    "DeleteIdentityProvider": lambda idp, pool, p, rs, user: idp.delete_identity_provider(
        UserPoolId=pool, ProviderName=p[0]
    ),
    "ListIdentityProviders": lambda idp, pool, p, rs, user: idp.list_identity_providers(UserPoolId=pool, MaxResults=60),
    "GetIdentityProviderByIdentifier": lambda idp, pool, p, rs, user: idp.get_identity_provider_by_identifier(
        UserPoolId=pool, IdpIdentifier=p[1]
    ),
    "CreateResourceServer": lambda idp, pool, p, rs, user: None,  # the fixture made one
    "DescribeResourceServer": lambda idp, pool, p, rs, user: idp.describe_resource_server(
        UserPoolId=pool, Identifier=rs
    ),
    "ListResourceServers": lambda idp, pool, p, rs, user: idp.list_resource_servers(UserPoolId=pool, MaxResults=50),
    "UpdateResourceServer": lambda idp, pool, p, rs, user: idp.update_resource_server(
        UserPoolId=pool, Identifier=rs, Name="interop api v2", Scopes=[{"ScopeName": "w", "ScopeDescription": "write"}]
    ),
    "DeleteResourceServer": lambda idp, pool, p, rs, user: idp.delete_resource_server(UserPoolId=pool, Identifier=rs),
    "AdminLinkProviderForUser": lambda idp, pool, p, rs, user: idp.admin_link_provider_for_user(
        UserPoolId=pool,
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": user.username},
        SourceUser={"ProviderName": p[0], "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": "sub-1"},
    ),
    "AdminDisableProviderForUser": lambda idp, pool, p, rs, user: idp.admin_disable_provider_for_user(
        UserPoolId=pool,
        User={"ProviderName": p[0], "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": "sub-1"},
    ),
}


def saml_idp_metadata(sso_url):
    """IdP metadata with a fresh self-signed signing certificate (made here with `cryptography`,
    nothing of tokenbridge's) and an HTTP-Redirect SingleSignOnService at `sso_url`."""
    import base64
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "interop idp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/metadata">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{der}'
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="{sso_url}"/></md:IDPSSODescriptor></md:EntityDescriptor>'
    )


def test_every_action_is_in_the_model(model):
    assert set(EXERCISES) == set(ACTIONS)
    missing = [a for a in ACTIONS if a not in model.operation_names]
    assert not missing, f"not in botocore's cognito-idp model: {missing}"


def test_a_saml_provider_from_metadata_is_described_with_the_derived_details(idp, scratch, capture, model):
    """A SAML provider from a metadata file: SSORedirectBindingURI derived, a bad file refused."""
    capture.clear()
    metadata = saml_idp_metadata("https://idp.example.test/sso")
    name = cs.unique("saml")[:32]
    out = idp.create_identity_provider(
        UserPoolId=scratch.pool_id, ProviderName=name, ProviderType="SAML", ProviderDetails={"MetadataFile": metadata}
    )["IdentityProvider"]
    try:
        assert out["ProviderDetails"]["SSORedirectBindingURI"] == "https://idp.example.test/sso"
        assert out["ProviderDetails"]["MetadataFile"] == metadata
    finally:
        cs.delete_quietly(idp.delete_identity_provider, UserPoolId=scratch.pool_id, ProviderName=name)
    problems = [p for call in capture.calls for p in cs.json_call_problems(model, call)]
    assert not problems, "\n".join(problems)


def test_bad_saml_metadata_is_an_invalid_parameter(idp, scratch, capture, model):
    capture.clear()
    cs.expect_error(
        "InvalidParameterException",
        idp.create_identity_provider,
        UserPoolId=scratch.pool_id,
        ProviderName=cs.unique("bad")[:32],
        ProviderType="SAML",
        ProviderDetails={"MetadataFile": "not xml"},
    )
    problems = [p for call in capture.calls for p in cs.json_call_problems(model, call)]
    assert not problems, "\n".join(problems)


def test_a_duplicate_provider_is_refused(idp, scratch, provider, capture, model):
    capture.clear()
    cs.expect_error(
        "DuplicateProviderException",
        idp.create_identity_provider,
        UserPoolId=scratch.pool_id,
        ProviderName=provider[0],
        ProviderType="OIDC",
        ProviderDetails=OIDC_DETAILS,
    )
    problems = [p for call in capture.calls for p in cs.json_call_problems(model, call)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("action", ACTIONS)
def test_action_shapes(action, idp, cog, scratch, make_user, capture, model):
    capture.clear()
    name = cs.unique("oidc")[:32]
    ident = cs.unique("id")[:40]
    idp.create_identity_provider(
        UserPoolId=scratch.pool_id,
        ProviderName=name,
        ProviderType="OIDC",
        ProviderDetails=OIDC_DETAILS,
        AttributeMapping={"email": "email", "username": "sub"},
        IdpIdentifiers=[ident],
    )
    identifier = cs.unique("api.example.test/")
    idp.create_resource_server(
        UserPoolId=scratch.pool_id,
        Identifier=identifier,
        Name="interop api",
        Scopes=[{"ScopeName": "orders.read", "ScopeDescription": "read orders"}],
    )
    user = make_user()
    try:
        EXERCISES[action](idp, scratch.pool_id, (name, ident), identifier, user)
        ok = [c for c in capture.of(action) if 200 <= c["response"]["status"] < 300]
        assert ok, f"{action} was never answered with success"
        # The same request pointed at a pool that does not exist: a modelled error.
        params = cs.body_json(ok[0]["request"], action) or {}
        params["UserPoolId"] = f"{cog['region']}_NoSuchPool0"
        with pytest.raises(ClientError) as e:
            getattr(idp, xform_name(action))(**params)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert cs.error_code(e.value) == "ResourceNotFoundException", cs.error_message(e.value)
    finally:
        cs.delete_quietly(idp.delete_identity_provider, UserPoolId=scratch.pool_id, ProviderName=name)
        cs.delete_quietly(idp.delete_resource_server, UserPoolId=scratch.pool_id, Identifier=identifier)
    problems = [p for call in capture.calls for p in cs.json_call_problems(model, call)]
    assert not problems, f"{len(problems)} departures from the cognito-idp model:\n" + "\n".join(problems)
