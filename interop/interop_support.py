"""Helpers shared by the interop suites (interop/python, interop/nginx, interop/cognito).

Importable as `interop_support` from every suite: pytest puts this directory on sys.path when it
loads interop/conftest.py (no __init__.py here, the default `prepend` import mode).
"""

HTTP_TIMEOUT = 10


def upstream_password_grant(http, upstream, user):
    """The demo upstream's answer (JSON) to the username-password grant for a demo.json user.

    `upstream` is demo.json's `upstream` object, `http` a requests session; asserts success.
    """
    r = http.post(
        upstream["token_endpoint"],
        auth=(upstream["client_id"], upstream["client_secret"]),
        data={
            "grant_type": "password",
            "username": user["upstream_username"],
            "password": user["upstream_password"],
        },
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, f"upstream password grant for {user['username']}: {r.status_code} {r.text}"
    return r.json()
