"""Shape conformance of the user-pool domain actions (Create/Describe/Update/DeleteUserPoolDomain)
against botocore's bundled `cognito-idp` model, as test_shapes_federation.py checks identity
providers and resource servers.

Each action runs for real through boto3 with its exchanges captured; so do its refusals: an
unknown domain (described as empty, as AWS answers; refused to Update and Delete), a domain
another pool holds (the demo pool's own among them), a second domain for a pool, a pool that does
not exist, a prefix Cognito would refuse, a custom domain. Every captured exchange is checked by
cognito_support's json_call_problems: the request's members exist in the input shape; a success
validates recursively against the output shape; an error's `__type` is modelled (or common), its
body fits the error shape, x-amzn-ErrorType agrees.
"""

import botocore.session
import pytest

import cognito_support as cs

ACTIONS = ["CreateUserPoolDomain", "DescribeUserPoolDomain", "UpdateUserPoolDomain", "DeleteUserPoolDomain"]
TAKEN = "Domain already associated with another user pool."
NO_SUCH = "No such domain or user pool exists."


@pytest.fixture(scope="session")
def model():
    return botocore.session.get_session().get_service_model("cognito-idp")


@pytest.fixture
def pools(idp, cog):
    """Two pools of this test's own (a pool has at most one domain); deleted with their domains."""
    made = [cs.create_pool(idp, cog, cs.unique("tb-domains")) for _ in range(2)]
    yield made
    for pool in made:
        domain = idp.describe_user_pool(UserPoolId=pool.pool_id)["UserPool"].get("Domain")
        if domain:
            cs.delete_quietly(idp.delete_user_pool_domain, UserPoolId=pool.pool_id, Domain=domain)
        cs.delete_quietly(idp.delete_user_pool, UserPoolId=pool.pool_id)


def prefix():
    """A fresh domain prefix in Cognito's pattern."""
    return cs.unique("tb-dom")


def shape_problems(capture, model, off_pattern=()):
    """Every departure from the model in the captured exchanges, but for the requests' `Domain`
    values in `off_pattern`: sent off DomainType's pattern on purpose, to be refused."""
    sent_on_purpose = tuple(f"request $.Domain: {d!r} does not match DomainType pattern" for d in off_pattern)
    return [
        p
        for call in capture.calls
        for p in cs.json_call_problems(model, call)
        if not any(s in p for s in sent_on_purpose)
    ]


def test_every_action_is_in_the_model(model):
    missing = [a for a in ACTIONS if a not in model.operation_names]
    assert not missing, f"not in botocore's cognito-idp model: {missing}"


def test_a_domain_is_created_described_updated_and_deleted(idp, pools, capture, model):
    capture.clear()
    pool = pools[0].pool_id
    domain = prefix()
    idp.create_user_pool_domain(UserPoolId=pool, Domain=domain)
    d = idp.describe_user_pool_domain(Domain=domain)["DomainDescription"]
    assert (d["UserPoolId"], d["Domain"], d["Status"]) == (pool, domain, "ACTIVE")
    assert d["CloudFrontDistribution"].startswith(f"{domain}."), d
    assert d["AWSAccountId"] and d["Version"], d
    assert idp.describe_user_pool(UserPoolId=pool)["UserPool"]["Domain"] == domain

    # A prefix domain has nothing to change: the update is answered and the domain is the same.
    idp.update_user_pool_domain(UserPoolId=pool, Domain=domain)
    assert idp.describe_user_pool_domain(Domain=domain)["DomainDescription"]["UserPoolId"] == pool

    idp.delete_user_pool_domain(UserPoolId=pool, Domain=domain)
    assert idp.describe_user_pool_domain(Domain=domain)["DomainDescription"] == {}
    assert "Domain" not in idp.describe_user_pool(UserPoolId=pool)["UserPool"]
    # Freed: another pool may take it now.
    idp.create_user_pool_domain(UserPoolId=pools[1].pool_id, Domain=domain)
    assert idp.describe_user_pool_domain(Domain=domain)["DomainDescription"]["UserPoolId"] == pools[1].pool_id

    for action in ACTIONS:
        ok = [c for c in capture.of(action) if 200 <= c["response"]["status"] < 300]
        assert ok, f"{action} was never answered with success"
    problems = shape_problems(capture, model)
    assert not problems, f"{len(problems)} departures from the cognito-idp model:\n" + "\n".join(problems)


def test_an_unknown_domain_is_described_as_empty_and_cannot_be_updated_or_deleted(idp, pools, capture, model):
    capture.clear()
    pool = pools[0].pool_id
    unknown = prefix()
    out = idp.describe_user_pool_domain(Domain=unknown)
    assert out["DomainDescription"] == {}, out
    cs.expect_error("InvalidParameterException", idp.update_user_pool_domain, UserPoolId=pool, Domain=unknown, message=NO_SUCH)
    cs.expect_error("InvalidParameterException", idp.delete_user_pool_domain, UserPoolId=pool, Domain=unknown, message=NO_SUCH)
    problems = shape_problems(capture, model)
    assert not problems, "\n".join(problems)


def test_a_domain_another_pool_holds_is_refused(idp, cog, pools, capture, model):
    capture.clear()
    (a, b) = (pools[0].pool_id, pools[1].pool_id)
    domain = prefix()
    idp.create_user_pool_domain(UserPoolId=a, Domain=domain)
    # Taken: by a pool of this test, and the demo pool's own hosted sign-in domain.
    cs.expect_error("InvalidParameterException", idp.create_user_pool_domain, UserPoolId=b, Domain=domain, message=TAKEN)
    demo_domain = idp.describe_user_pool(UserPoolId=cog["user_pool_id"])["UserPool"]["Domain"]
    cs.expect_error(
        "InvalidParameterException", idp.create_user_pool_domain, UserPoolId=b, Domain=demo_domain, message=TAKEN
    )
    # Another pool's domain is not this pool's to update or delete.
    cs.expect_error("InvalidParameterException", idp.update_user_pool_domain, UserPoolId=b, Domain=domain, message=NO_SUCH)
    cs.expect_error("InvalidParameterException", idp.delete_user_pool_domain, UserPoolId=b, Domain=domain, message=NO_SUCH)
    assert idp.describe_user_pool_domain(Domain=domain)["DomainDescription"]["UserPoolId"] == a
    assert "Domain" not in idp.describe_user_pool(UserPoolId=b)["UserPool"]
    # One domain per pool.
    cs.expect_error(
        "InvalidParameterException",
        idp.create_user_pool_domain,
        UserPoolId=a,
        Domain=prefix(),
        message=f"User pool {a} already has a domain configured.",
    )
    assert idp.describe_user_pool(UserPoolId=a)["UserPool"]["Domain"] == domain
    problems = shape_problems(capture, model)
    assert not problems, "\n".join(problems)


def test_a_pool_that_does_not_exist_is_not_found(idp, cog, capture, model):
    capture.clear()
    missing = f"{cog['region']}_NoSuchPool0"
    for fn in (idp.create_user_pool_domain, idp.update_user_pool_domain, idp.delete_user_pool_domain):
        e = cs.expect_error("ResourceNotFoundException", fn, UserPoolId=missing, Domain=prefix())
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    problems = shape_problems(capture, model)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("domain", "says"),
    [
        ("My-App", "failed to satisfy constraint"),
        ("-app", "failed to satisfy constraint"),
        ("app.example.com", "failed to satisfy constraint"),
        ("my-cognito-app", "Domain cannot contain reserved word: cognito"),
        ("aws-app", "Domain cannot contain reserved word: aws"),
    ],
)
def test_a_prefix_cognito_refuses_is_an_invalid_parameter(domain, says, idp, pools, capture, model):
    capture.clear()
    e = cs.expect_error("InvalidParameterException", idp.create_user_pool_domain, UserPoolId=pools[0].pool_id, Domain=domain)
    assert says in cs.error_message(e), cs.error_message(e)
    problems = shape_problems(capture, model, off_pattern=[domain])
    assert not problems, "\n".join(problems)


def test_a_custom_domain_is_refused(idp, pools, capture, model):
    capture.clear()
    pool = pools[0].pool_id
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    e = cs.expect_error(
        "InvalidParameterException",
        idp.create_user_pool_domain,
        UserPoolId=pool,
        Domain="auth.example.com",
        CustomDomainConfig={"CertificateArn": cert},
    )
    assert "CustomDomainConfig" in cs.error_message(e), cs.error_message(e)
    domain = prefix()
    idp.create_user_pool_domain(UserPoolId=pool, Domain=domain)
    cs.expect_error(
        "InvalidParameterException",
        idp.update_user_pool_domain,
        UserPoolId=pool,
        Domain=domain,
        CustomDomainConfig={"CertificateArn": cert},
    )
    problems = shape_problems(capture, model, off_pattern=["auth.example.com"])
    assert not problems, "\n".join(problems)
