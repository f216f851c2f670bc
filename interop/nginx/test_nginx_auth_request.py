"""Interop: tokenbridge's /forward-auth behind a real nginx `auth_request`.

The `nginx` fixture starts the machine's nginx (in the foreground, every path inside a temporary
directory, never as the system service) on a free loopback port, in front of an echo backend run
by this module. Every request nginx takes first goes, as nginx's auth subrequest, to the running
demo's /forward-auth. The tests check what a client gets from nginx, what the backend receives
(and that it receives nothing for a refused request), and that the request id nginx hands back
finds the decision with `tokenbridge audit explain`.

Needs a running `tokenbridge demo` (TOKENBRIDGE_DEMO_JSON, as scripts/test exports it), the nginx
binary (Debian's nginx package; scripts/test installs it), and for the audit checks the
tokenbridge binary (TOKENBRIDGE_BIN, default target/release/tokenbridge) and the demo's data
directory (TOKENBRIDGE_DATA_DIR, default the directory holding demo.json). Without nginx the
tests fail: they never pass unrun.
"""

import base64
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
from interop_support import upstream_password_grant

HTTP_TIMEOUT = 10
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
CHALLENGE = 'Bearer realm="tokenbridge"'
# The identity headers forward-auth answers with (the defaults of authorizer.headers).
IDENTITY = ["X-Auth-Subject", "X-Auth-Username", "X-Auth-Groups", "X-Auth-Client-Id", "X-Auth-Scopes"]


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def nginx_var(header):
    """`X-Auth-Client-Id` -> `auth_client_id`, the nginx variable that carries it."""
    return header.lower().removeprefix("x-").replace("-", "_")


# --- the demo ---------------------------------------------------------------------------------


class Demo:
    """The running demo (demo.json) and the few calls that get tokens from it."""

    def __init__(self, info):
        self.info = info
        self.base = info["base_url"].rstrip("/")
        self.netloc = urllib.parse.urlsplit(self.base).netloc
        self.client_id = info["client"]["client_id"]
        self.client_auth = (self.client_id, info["client"]["client_secret"])
        self.upstream = info["upstream"]
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only: never through a proxy

    def user(self, username):
        for u in self.info["users"]:
            if u["username"] == username:
                return u
        pytest.fail(f"demo.json lists no user {username!r}")

    def upstream_id_token(self, username):
        return upstream_password_grant(self.http, self.upstream, self.user(username))["id_token"]

    def _with_fresh_upstream_token(self, username, use):
        """`use(fresh upstream id token)` until the broker takes it.

        Upstream tokens are one-time use and carry no jti: one asked for in the same second as
        another for the same user (say by the other interop suite) is byte-identical and refused
        as a replay. Wait for the next one then, and fail on any other refusal.
        """
        deadline = time.monotonic() + 10
        while True:
            r = use(self.upstream_id_token(username))
            if r.status_code == 200:
                return r.json()
            try:
                desc = str(r.json().get("error_description", "")).lower()
            except ValueError:
                desc = ""
            replay = r.status_code == 400 and ("used" in desc or "replay" in desc)
            assert replay and time.monotonic() < deadline, f"token for {username}: {r.status_code} {r.text}"
            time.sleep(0.3)

    def tokens(self, username):
        """/auth/exchange's answer for `username`."""
        return self._with_fresh_upstream_token(
            username,
            lambda t: self.http.post(
                f"{self.base}/auth/exchange", headers={"Authorization": f"Bearer {t}"}, timeout=HTTP_TIMEOUT
            ),
        )

    def narrowed_access_token(self, username, scope):
        """An access token with only `scope` (RFC 8693 token exchange with a scope parameter)."""
        body = self._with_fresh_upstream_token(
            username,
            lambda t: self.http.post(
                f"{self.base}/oauth2/token",
                auth=self.client_auth,
                data={
                    "grant_type": TOKEN_EXCHANGE,
                    "subject_token": t,
                    "subject_token_type": ID_TOKEN_TYPE,
                    "scope": scope,
                },
                timeout=HTTP_TIMEOUT,
            ),
        )
        return body["access_token"]


# --- the backend nginx fronts -----------------------------------------------------------------


class Backend:
    """Answers every request with what it saw (method, raw path, identity headers) as JSON, and
    counts the requests, so a test can tell that a refused request never got here."""

    ECHOED = ("x-auth-", "x-request-id", "x-forwarded-", "x-original-")

    def __init__(self):
        self.hits = []
        self._lock = threading.Lock()
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _echo(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                names = sorted({k.lower() for k in self.headers.keys() if k.lower().startswith(backend.ECHOED)})
                seen = {
                    "method": self.command,
                    "path": self.path,
                    # Lists, so a header sent twice (forged and real) shows as two values.
                    "headers": {n: self.headers.get_all(n) for n in names},
                    "body": body.decode("utf-8", "replace"),
                }
                with backend._lock:
                    backend.hits.append(seen)
                out = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Backend", "echo")
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="echo-backend", daemon=True)
        self.thread.start()

    def count(self):
        with self._lock:
            return len(self.hits)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# --- nginx ------------------------------------------------------------------------------------


def find_nginx():
    """The nginx binary: TOKENBRIDGE_NGINX, PATH, or Debian's /usr/sbin/nginx (not on every PATH)."""
    for candidate in (os.environ.get("TOKENBRIDGE_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = """\
{user}
worker_processes 1;
error_log {dir}/error.log notice;
pid {dir}/nginx.pid;

events {{
    worker_connections 128;
}}

http {{
    default_type application/octet-stream;
    log_format tb '$remote_addr "$request" $status auth=$auth_status request_id=$auth_request_id '
                  'upstream=$upstream_addr:$upstream_status';
    access_log {dir}/access.log tb;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream tokenbridge {{
        server {tokenbridge};
    }}
    upstream backend {{
        server 127.0.0.1:{backend_port};
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name _;

        location / {{
            auth_request /_auth;
{auth_request_set}
            auth_request_set $auth_status $upstream_status;
            auth_request_set $auth_request_id $upstream_http_x_request_id;
            auth_request_set $auth_www_authenticate $upstream_http_www_authenticate;

            # The identity as tokenbridge decided it, replacing whatever the client sent under
            # these names (an empty value drops the header).
{proxy_set_header}
            proxy_set_header X-Request-Id $auth_request_id;
            proxy_set_header Host $host;
            proxy_pass http://backend;

            # Refusals: nginx answers 401/403 itself. On a 401 it passes the subrequest's
            # WWW-Authenticate on, on a 403 it does not: @forbidden adds that challenge
            # (error="insufficient_scope"). The request id finds the decision in the audit log.
            add_header X-Request-Id $auth_request_id always;
            error_page 403 = @forbidden;
            # Any other answer of the subrequest is a 500 to nginx; @auth_error gives a 400
            # (a request tokenbridge cannot read) back as a 400.
            error_page 500 = @auth_error;
        }}

        location @forbidden {{
            add_header WWW-Authenticate $auth_www_authenticate always;
            add_header X-Request-Id $auth_request_id always;
            return 403;
        }}

        location @auth_error {{
            add_header X-Request-Id $auth_request_id always;
            if ($auth_status = 400) {{
                return 400;
            }}
            return 500;
        }}

        location = /_auth {{
            internal;
            proxy_pass http://tokenbridge/forward-auth;
            # Subrequests are GETs without a body: say what the original request was.
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-Host $host;
            # tokenbridge also reads these: never pass on the client's own.
            proxy_set_header X-Forwarded-Method "";
            proxy_set_header X-Forwarded-Uri "";
        }}
    }}
}}
"""


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # [(name, value)] as sent, repeats kept
        self.body = body

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name):
        values = self.all(name)
        return values[0] if values else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        head = "\n".join(f"{k}: {v}" for k, v in self.headers)
        return f"HTTP {self.status}\n{head}\n\n{self.body.decode('utf-8', 'replace')[:2000]}"


class Nginx:
    def __init__(self, binary, workdir, demo, backend):
        self.binary = binary
        self.dir = Path(workdir)
        self.demo = demo
        self.backend = backend
        self.port = None
        self.proc = None

    def conf(self):
        user = "user root;" if os.geteuid() == 0 else ""
        sets = "\n".join(
            f"            auth_request_set ${nginx_var(h)} $upstream_http_{h.lower().replace('-', '_')};"
            for h in IDENTITY
        )
        headers = "\n".join(f"            proxy_set_header {h} ${nginx_var(h)};" for h in IDENTITY)
        return NGINX_CONF.format(
            user=user,
            dir=self.dir,
            tokenbridge=self.demo.netloc,
            backend_port=self.backend.port,
            port=self.port,
            auth_request_set=sets,
            proxy_set_header=headers,
        )

    def log_tail(self, name, lines=60):
        try:
            text = (self.dir / name).read_text(errors="replace")
        except OSError as e:
            return f"({name}: {e})"
        return "\n".join(text.splitlines()[-lines:]) or f"({name} is empty)"

    def start(self):
        for attempt in range(3):
            self.port = free_port()
            conf = self.dir / "nginx.conf"
            conf.write_text(self.conf())
            (self.dir / "error.log").write_text("")
            cmd = [self.binary, "-p", f"{self.dir}/", "-c", str(conf), "-e", str(self.dir / "error.log")]
            test = subprocess.run(cmd + ["-t"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
            if test.returncode != 0:
                pytest.fail(f"nginx -t refuses the configuration:\n{test.stderr}\n--- nginx.conf ---\n{self.conf()}")
            with open(self.dir / "nginx.out", "wb") as out:
                self.proc = subprocess.Popen(
                    cmd + ["-g", "daemon off;"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            try:
                self._wait_ready()
                return
            except RuntimeError as e:
                self.stop()
                logs = f"--- error.log ---\n{self.log_tail('error.log')}\n--- output ---\n{self.log_tail('nginx.out')}"
                if "Address already in use" in logs and attempt < 2:
                    continue  # the free port was taken in between: another one
                pytest.fail(f"{e}\n{logs}")

    def _wait_ready(self):
        """Until nginx answers through the whole chain: a request without a token gets 401."""
        deadline = time.monotonic() + 20
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with status {self.proc.returncode} before it was ready")
            try:
                r = self.request("GET", "/demo/api/hello", timeout=2)
            except OSError as e:
                last = e
                time.sleep(0.1)
                continue
            if r.status == 401:
                return
            raise RuntimeError(f"nginx answered a request without a token with {r!r}, not 401")
        raise RuntimeError(f"nginx did not answer on 127.0.0.1:{self.port} within 20 s (last error: {last})")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # fast shutdown; the master stops its workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def raw_request(self, head, timeout=HTTP_TIMEOUT):
        """One request sent as the bytes `head` (request line and headers, without the blank
        line), for what http.client refuses to send, such as a raw byte in the path."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(head + b"\r\nConnection: close\r\n\r\n")
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            return Reply(resp.status, resp.getheaders(), resp.read())

    def request(self, method, path, headers=None, body=None, timeout=HTTP_TIMEOUT):
        """One request, the path sent exactly as given (no client-side dot-segment cleanup)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_info):
    return Demo(demo_info)


@pytest.fixture(scope="module")
def backend():
    b = Backend()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def nginx(demo, backend, tmp_path_factory):
    binary = find_nginx()
    if binary is None:
        pytest.fail("nginx is not installed (Debian: apt-get install nginx; scripts/test installs it)")
    version = subprocess.run([binary, "-V"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if "--with-http_auth_request_module" not in version.stderr + version.stdout:
        pytest.fail(f"{binary} is built without the auth_request module:\n{version.stderr}")
    n = Nginx(binary, tmp_path_factory.mktemp("nginx"), demo, backend)
    n.start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def alice(demo):
    """alice's tokens (groups admins and readers; the client's full scopes)."""
    return demo.tokens("alice")


@pytest.fixture(scope="module")
def bob(demo):
    """bob's tokens (group readers only)."""
    return demo.tokens("bob")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def first_failure(text):
    """(check, detail) of the step `audit explain` marks as the first failing check."""
    marked = [line for line in text.splitlines() if line.rstrip().endswith("<-- first failing check")]
    assert len(marked) == 1, f"expected one step marked as the first failing check:\n{text}"
    m = re.match(r"^\s*\d+\.\s+FAIL\s+(\S+)\s+(.*?)\s+<-- first failing check$", marked[0].rstrip())
    assert m, f"the marked step is not a FAIL line: {marked[0]!r}"
    return m.group(1), m.group(2)


def assert_refused(r, backend, before, status):
    assert r.status == status, f"expected {status} from nginx, got {r!r}"
    assert r.header("X-Backend") is None, f"the backend answered a refused request: {r!r}"
    assert backend.count() == before, f"the backend got a refused request: {backend.hits[before:]}"
    request_id = r.header("X-Request-Id")
    assert request_id, f"nginx passed no x-request-id of the decision back: {r!r}"
    return request_id


def challenge(r):
    values = r.all("WWW-Authenticate")
    assert len(values) == 1, f"expected one WWW-Authenticate, got {values}: {r!r}"
    assert values[0].startswith(CHALLENGE), values[0]
    return values[0]


# --- allowed ----------------------------------------------------------------------------------


def test_allowed_request_reaches_backend_with_the_identity(nginx, backend, demo, alice):
    before = backend.count()
    r = nginx.request("GET", "/demo/api/hello", headers=bearer(alice["access_token"]))
    assert r.status == 200 and r.header("X-Backend") == "echo", repr(r)
    assert backend.count() == before + 1
    seen = r.json()
    assert (seen["method"], seen["path"]) == ("GET", "/demo/api/hello")
    h = seen["headers"]
    assert h.get("x-auth-username") == ["alice"], h
    assert "admins" in h["x-auth-groups"][0].split(","), h
    assert h.get("x-auth-client-id") == [demo.client_id] == ["demo-web"], h
    assert len(h.get("x-auth-subject", [])) == 1 and h["x-auth-subject"][0].strip(), h
    assert "orders:write" in h["x-auth-scopes"][0].split(" "), h
    # The backend and the client see the decision's request id.
    assert h.get("x-request-id") == [r.header("X-Request-Id")] and r.header("X-Request-Id"), (h, r)


def test_post_with_a_body_reaches_backend_when_allowed(nginx, backend, alice):
    """The auth subrequest goes without the body; the proxied request keeps it."""
    before = backend.count()
    body = json.dumps({"item": "widget", "quantity": 2})
    r = nginx.request(
        "POST",
        "/demo/api/orders",
        headers={**bearer(alice["access_token"]), "Content-Type": "application/json"},
        body=body,
    )
    assert r.status == 200 and r.header("X-Backend") == "echo", repr(r)
    assert backend.count() == before + 1
    seen = r.json()
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/demo/api/orders", body)
    assert seen["headers"].get("x-auth-username") == ["alice"]


def test_forged_identity_headers_are_replaced(nginx, backend, alice):
    forged = {
        "X-Auth-Username": "root",
        "X-Auth-Subject": "forged-subject",
        "X-Auth-Groups": "root,wheel",
        "X-Auth-Client-Id": "forged-client",
        "X-Auth-Scopes": "everything",
        "X-Request-Id": "forged-request-id",
    }
    r = nginx.request("GET", "/demo/api/hello", headers={**bearer(alice["access_token"]), **forged})
    assert r.status == 200, repr(r)
    h = r.json()["headers"]
    assert h.get("x-auth-username") == ["alice"], h
    assert h.get("x-auth-subject") != ["forged-subject"] and len(h.get("x-auth-subject", [])) == 1, h
    groups = h["x-auth-groups"][0].split(",")
    assert "admins" in groups and "root" not in groups and "wheel" not in groups, h
    assert h.get("x-auth-client-id") == ["demo-web"], h
    assert "everything" not in h["x-auth-scopes"][0].split(" "), h
    assert h.get("x-request-id") != ["forged-request-id"] and len(h.get("x-request-id", [])) == 1, h


# --- refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("GET", "/demo/api/hello"), ("POST", "/demo/api/orders")])
def test_no_token_is_401_with_a_bare_challenge(nginx, backend, method, path):
    before = backend.count()
    r = nginx.request(method, path, body=b"{}" if method == "POST" else None)
    assert_refused(r, backend, before, 401)
    assert challenge(r) == CHALLENGE, "no credentials: the challenge names no error (RFC 6750 section 3.1)"


def _expired_lookalike(demo):
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": "not-a-key-of-this-issuer"}
    claims = {
        "iss": demo.base,
        "sub": "00000000-0000-4000-8000-000000000000",
        "client_id": demo.client_id,
        "token_use": "access",
        "scope": "openid orders:write",
        "iat": now - 7200,
        "exp": now - 3600,
    }
    part = lambda d: b64url(json.dumps(d, separators=(",", ":")).encode())  # noqa: E731
    return f"{part(header)}.{part(claims)}.{b64url(os.urandom(256))}"


def _flip_signature(token):
    head, payload, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64url(bytes(raw))}"


@pytest.mark.parametrize("kind", ["garbage", "expired-lookalike", "tampered-signature", "id-token"])
def test_bad_token_is_401_invalid_token(nginx, backend, demo, alice, kind):
    token = {
        "garbage": lambda: "definitely-not-a-token",
        "expired-lookalike": lambda: _expired_lookalike(demo),
        "tampered-signature": lambda: _flip_signature(alice["access_token"]),
        "id-token": lambda: alice["id_token"],  # this issuer's, but not an access token
    }[kind]()
    before = backend.count()
    r = nginx.request("GET", "/demo/api/hello", headers=bearer(token))
    assert_refused(r, backend, before, 401)
    assert 'error="invalid_token"' in challenge(r)


def test_missing_group_is_403_and_audit_explain_names_the_group_check(nginx, backend, bob, audit_explain):
    before = backend.count()
    r = nginx.request(
        "POST",
        "/demo/api/orders",
        headers={**bearer(bob["access_token"]), "Content-Type": "application/json"},
        body='{"item": "widget"}',
    )
    request_id = assert_refused(r, backend, before, 403)
    assert 'error="insufficient_scope"' in challenge(r)

    text = audit_explain(request_id)
    assert request_id in text, text
    assert "decision: DENIED" in text, text
    check, detail = first_failure(text)
    assert check == "group", f"the first failing check is {check!r} ({detail}), not the group check:\n{text}"
    assert "admins" in detail, text

    doc = audit_explain(request_id, as_json=True)
    assert doc["requestId"] == request_id
    assert len(doc["events"]) == 1, doc
    event = doc["events"][0]
    assert event["decision"] == "denied" and event["errorCode"] == "insufficient_scope", event
    failed = event["steps"][event["firstFailure"] - 1]
    assert (failed["check"], failed["outcome"]) == ("group", "fail"), event


def test_narrowed_token_is_403_and_audit_explain_names_the_missing_scope(nginx, backend, demo, audit_explain):
    token = demo.narrowed_access_token("alice", "openid")
    before = backend.count()
    r = nginx.request(
        "POST",
        "/demo/api/orders",
        headers={**bearer(token), "Content-Type": "application/json"},
        body='{"item": "widget"}',
    )
    request_id = assert_refused(r, backend, before, 403)
    assert 'error="insufficient_scope"' in challenge(r)

    text = audit_explain(request_id)
    check, detail = first_failure(text)
    assert check == "scope", f"the first failing check is {check!r} ({detail}), not the scope check:\n{text}"
    assert "needs scope orders:write" in detail, text
    assert "orders:write" not in detail.split("token has", 1)[-1], f"the narrowed token still has orders:write:\n{text}"


def test_unknown_path_is_403_even_with_a_good_token(nginx, backend, alice, audit_explain):
    before = backend.count()
    r = nginx.request("GET", "/demo/api/nope", headers=bearer(alice["access_token"]))
    request_id = assert_refused(r, backend, before, 403)
    text = audit_explain(request_id)
    assert "no route covers" in text, text


def test_public_healthz_needs_no_token_and_carries_no_identity(nginx, backend):
    before = backend.count()
    r = nginx.request("GET", "/healthz", headers={"X-Auth-Username": "root", "X-Auth-Groups": "admins"})
    assert r.status == 200 and r.header("X-Backend") == "echo", repr(r)
    assert backend.count() == before + 1
    seen = r.json()
    assert seen["path"] == "/healthz"
    h = seen["headers"]
    assert "root" not in h.get("x-auth-username", []), f"a forged header reached the backend: {h}"
    assert "admins" not in h.get("x-auth-groups", []), f"a forged header reached the backend: {h}"


# --- the original request as tokenbridge sees it ----------------------------------------------


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("GET", "/healthz/../demo/api/orders", 401),
        ("GET", "/healthz/./../demo/api/hello", 401),
        ("POST", "/healthz/../demo/api/orders", 401),
        # Escaped dot segments and slashes: servers read them differently, so they are refused.
        ("GET", "/healthz/%2e%2e/demo/api/orders", 400),
        ("GET", "/healthz/..%2fdemo/api/orders", 400),
    ],
)
def test_dot_segments_after_the_public_route_are_not_public(nginx, backend, method, path, status):
    before = backend.count()
    r = nginx.request(method, path, body=b"{}" if method == "POST" else None)
    assert r.status == status, f"{method} {path} without a token: expected {status} from nginx, got {r!r}"
    assert_refused(r, backend, before, r.status)


def test_a_raw_byte_in_the_path_is_a_400_naming_the_header(nginx, backend, bob, audit_explain, tokenbridge_bin, data_dir):
    """nginx passes the client's raw bytes on in X-Original-URI ($request_uri). tokenbridge once
    dropped such a header and decided on `/`; now the request is refused as unreadable, and the
    audit record keeps the path as sent."""
    before = backend.count()
    token = bob["access_token"].encode()
    r = nginx.raw_request(b"GET /demo/api/orders\xff HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token)
    request_id = assert_refused(r, backend, before, 400)

    check, detail = first_failure(audit_explain(request_id))
    assert check == "request", f"the first failing check is {check!r} ({detail})"
    assert "X-Original-URI is present but not visible ASCII" in detail, detail
    cmd = [tokenbridge_bin, "audit", "lookup", "--request-id", request_id, "--data-dir", data_dir]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    records = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert len(records) == 1, p.stdout
    assert records[0]["requestParameters"]["path"] == "/demo/api/orders%FF", records[0]
    assert records[0]["errorCode"] == "invalid_request", records[0]


def test_client_sent_original_request_headers_are_ignored(nginx, backend, bob):
    """A client that claims the request was `GET /healthz` (X-Forwarded-*/X-Original-* headers)
    is judged on what it really sent."""
    spoof = {
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Uri": "/healthz",
        "X-Original-Method": "GET",
        "X-Original-URI": "/healthz",
        "X-Forwarded-Host": "elsewhere.example",
    }
    before = backend.count()
    r = nginx.request("POST", "/demo/api/orders", headers=spoof, body=b"{}")
    assert_refused(r, backend, before, 401)
    # With bob's token the real request (POST /demo/api/orders) is judged: he is no admin.
    r = nginx.request("POST", "/demo/api/orders", headers={**spoof, **bearer(bob["access_token"])}, body=b"{}")
    assert_refused(r, backend, before, 403)
