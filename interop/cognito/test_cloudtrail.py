"""Interop: the audit trail through CloudTrail's LookupEvents, as boto3 (`cloudtrail`) sees it.

Runs against a live `tokenbridge demo` (scripts/test starts one): the `cloudtrail` client signs
with the admin credentials of demo.json's `cognito` object, at its endpoint. A user-pool sign-in
with a wrong password must be found by its event name with the refusal's errorCode in the
CloudTrailEvent; pages of MaxResults=1 and botocore's own paginator must walk every event once.
Every raw LookupEvents answer is also checked against botocore's bundled `cloudtrail` model.
"""

import datetime
import json
import time

import boto3
import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.config import Config

import cognito_support as cs
from cognito_support import expect_error

TRAIL_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"


@pytest.fixture(scope="module")
def trail_model():
    return botocore.session.get_session().get_service_model("cloudtrail")


@pytest.fixture(scope="module")
def answers():
    """Raw LookupEvents answers, exactly as the server wrote them (before botocore parses them)."""
    return []


def cloudtrail_client(cog, answers=None, secret_key=None, unsigned=False):
    session = boto3.session.Session(
        aws_access_key_id=cog["admin_access_key_id"],
        aws_secret_access_key=secret_key if secret_key is not None else cog["admin_secret_access_key"],
        region_name=cog["region"],
    )
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=cs.HTTP_TIMEOUT,
        read_timeout=cs.HTTP_TIMEOUT,
        **({"signature_version": UNSIGNED} if unsigned else {}),
    )
    client = session.client("cloudtrail", endpoint_url=cog["endpoint"], config=config)
    if answers is not None:

        def keep(operation_model, response_dict, **kwargs):
            answers.append((operation_model.name, response_dict["status_code"], response_dict["body"]))

        client.meta.events.register("before-parse.cloudtrail", keep)
    return client


@pytest.fixture(scope="module")
def trail(cog, answers):
    return cloudtrail_client(cog, answers)


def record_of(event):
    """The CloudTrail record an event carries, as a dict."""
    assert isinstance(event["CloudTrailEvent"], str), event
    return json.loads(event["CloudTrailEvent"])


def failed_logins(idp, user, count):
    """`count` USER_PASSWORD_AUTH attempts with a wrong password; their request ids, oldest first."""
    ids = []
    for i in range(count):
        e = expect_error("NotAuthorizedException", cs.password_login, idp, user, password=f"Wrong-{i}-{cs.new_password()}")
        ids.append(e.response["ResponseMetadata"]["RequestId"])
    return ids


def test_a_wrong_password_is_found_by_event_name(trail, idp, make_user):
    user = make_user(prefix="tb-trail")
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    (request_id,) = failed_logins(idp, user, 1)

    found = None
    pages = trail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "InitiateAuth"}],
        StartTime=started,
        EndTime=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5),
    )
    for page in pages:
        for event in page["Events"]:
            assert event["EventName"] == "InitiateAuth", event
            if record_of(event)["requestID"] == request_id:
                found = event
                break
        if found:
            break
    assert found is not None, f"no InitiateAuth event with request id {request_id}"

    record = record_of(found)
    assert record["errorCode"] == "NotAuthorizedException", record
    assert record["errorMessage"] == cs.INCORRECT, record
    assert record["eventSource"] == "cognito-idp.amazonaws.com", record
    assert record["eventID"] == found["EventId"], (record, found)
    assert record["requestParameters"]["AuthFlow"] == "USER_PASSWORD_AUTH", record
    # The password never reaches the audit trail.
    assert "Wrong-" not in found["CloudTrailEvent"], record
    assert found["EventSource"] == "cognito-idp.amazonaws.com", found
    assert found["ReadOnly"] == "false", found
    assert isinstance(found["EventTime"], datetime.datetime), found
    assert abs(found["EventTime"].timestamp() - time.time()) < 120, found

    # The same event by its id; by the username, among the user's events (its creation too).
    by_id = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": found["EventId"]}])
    assert [e["EventId"] for e in by_id["Events"]] == [found["EventId"]], by_id
    assert "NextToken" not in by_id, by_id
    by_user = trail.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": user.username}])
    assert by_user["Events"][0]["EventId"] == found["EventId"], by_user
    assert {e["Username"] for e in by_user["Events"]} == {user.username}, by_user
    assert "AdminCreateUser" in {e["EventName"] for e in by_user["Events"]}, by_user


def test_pages_of_one_and_the_paginator_walk_every_event_once(trail, idp, make_user):
    user = make_user(prefix="tb-trail-pages")
    request_ids = failed_logins(idp, user, 3)
    by_user = [{"AttributeKey": "Username", "AttributeValue": user.username}]

    # The user's events (its creation, its password, the three failures), newest first.
    everything = trail.lookup_events(LookupAttributes=by_user)
    assert "NextToken" not in everything, everything
    expected = [e["EventId"] for e in everything["Events"]]
    assert len(expected) >= 4, everything
    failures = [record_of(e)["requestID"] for e in everything["Events"] if e["EventName"] == "InitiateAuth"]
    assert failures == list(reversed(request_ids)), failures

    # MaxResults=1 by hand: one event a page, a NextToken until the last.
    seen, token = [], None
    for _ in range(20):
        page = trail.lookup_events(LookupAttributes=by_user, MaxResults=1, **({"NextToken": token} if token else {}))
        assert len(page["Events"]) == 1, page
        seen.append(page["Events"][0]["EventId"])
        token = page.get("NextToken")
        if not token:
            break
    assert seen == expected, seen

    # botocore's paginator, with a page size and without.
    for config in ({"PageSize": 1}, {"PageSize": 2}, {}):
        pages = list(trail.get_paginator("lookup_events").paginate(LookupAttributes=by_user, PaginationConfig=config))
        ids = [e["EventId"] for p in pages for e in p["Events"]]
        assert ids == expected, (config, ids)
        assert len(pages) == -(-len(expected) // config.get("PageSize", 50)), (config, len(pages))
    full = trail.get_paginator("lookup_events").paginate(
        LookupAttributes=by_user, PaginationConfig={"PageSize": 1, "MaxItems": 2}
    ).build_full_result()
    assert [e["EventId"] for e in full["Events"]] == expected[:2], full
    assert "NextToken" in full, full

    # A token is only good for the lookup it came from.
    first = trail.lookup_events(LookupAttributes=by_user, MaxResults=1)
    expect_error(
        "InvalidNextTokenException",
        trail.lookup_events,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "InitiateAuth"}],
        NextToken=first["NextToken"],
    )


def test_refusals_carry_cloudtrails_exceptions(trail, cog):
    expect_error(
        "InvalidLookupAttributesException",
        trail.lookup_events,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "A"}, {"AttributeKey": "Username", "AttributeValue": "b"}],
    )
    expect_error(
        "InvalidLookupAttributesException",
        trail.lookup_events,
        LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "perhaps"}],
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    expect_error(
        "InvalidTimeRangeException", trail.lookup_events, StartTime=now, EndTime=now - datetime.timedelta(hours=1)
    )
    expect_error("InvalidMaxResultsException", trail.lookup_events, MaxResults=51)
    expect_error("InvalidNextTokenException", trail.lookup_events, NextToken="not-a-token-of-ours")
    # Only the admin credentials, signed for `cloudtrail`.
    expect_error("InvalidSignatureException", cloudtrail_client(cog, secret_key="wrong-secret").lookup_events)
    expect_error("MissingAuthenticationTokenException", cloudtrail_client(cog, unsigned=True).lookup_events)


def test_answers_match_botocores_cloudtrail_model(trail, trail_model, answers):
    # Make sure there is at least one answer with events and one error of each kind seen here.
    trail.lookup_events(MaxResults=2)
    op = trail_model.operation_model("LookupEvents")
    modelled = {e.name: e for e in op.error_shapes}
    assert answers, "no LookupEvents answers were captured"
    with_events = 0
    for name, status, raw in answers:
        assert name == "LookupEvents"
        body = cs.body_json(raw, name)
        if status == 200:
            problems = cs.shape_errors(body, op.output_shape)
            assert problems == [], problems
            with_events += bool(body.get("Events"))
        else:
            code = body["__type"]
            assert code in modelled or code in cs.COMMON_ERRORS, body
            if code in modelled:
                # CloudTrail's error shapes have no members; every AWS JSON error carries a message.
                rest = {k: v for k, v in body.items() if k not in ("__type", "message", "Message")}
                assert cs.shape_errors(rest, modelled[code]) == [], body
    assert with_events, "no answer carried events"
