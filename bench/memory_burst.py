#!/usr/bin/env python3
"""One bounded burst against a running `tokenbridge demo`, with the server's resident memory
(VmRSS of --pid) sampled throughout; prints the figures as one JSON object.

The burst, in order (each phase bounded in count and time):
  connections  --connections connections opened at once, each asking /healthz, then closed
  exchanges    upstream id tokens minted at the demo provider and exchanged at /auth/exchange
  echoes       unauthenticated InitiateAuth calls, each with another 1 MB ClientId (audit record,
               error, anything keyed by the client id)
  graphql      the item list filled (1,000 items), then answers of 10 lists of it (~3.5 MB each)
Then the server rests, and RSS is read right after and after each of --rest-points seconds.

Loopback only; standard library only.
"""

import argparse
import http.client
import json
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)


def request(host, port, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--demo-json", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--exchanges", type=int, default=2000)
    p.add_argument("--echoes", type=int, default=200)
    p.add_argument("--graphql", type=int, default=200)
    p.add_argument("--rest-points", default="1,10,30,60")
    a = p.parse_args()

    demo = json.load(open(a.demo_json))
    base = urllib.parse.urlparse(demo["base_url"])
    host, port = base.hostname, base.port
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing non-loopback {host}")
    up = demo["upstream"]
    alice = next(u for u in demo["users"] if u["username"] == "alice")
    pool_client = demo["cognito"]["client_id"]
    pool = ThreadPoolExecutor(a.concurrency)
    phases = {}

    time.sleep(2)
    at_rest = rss_kib(a.pid)
    sampler = Sampler(a.pid)
    sampler.start()
    started = time.time()

    # Many connections at once.
    t = time.time()
    socks = []
    for _ in range(a.connections):
        s = socket.create_connection((host, port), timeout=30)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: burst\r\n\r\n")
        socks.append(s)
    for s in socks:
        s.recv(4096)
    for s in socks:
        s.close()
    phases["connections"] = round(time.time() - t, 1)

    # Token exchanges, each with a freshly minted upstream token.
    basic = "Basic " + __import__("base64").b64encode(f"{up['client_id']}:{up['client_secret']}".encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "password", "username": alice["upstream_username"],
                                   "password": alice["upstream_password"]})
    token_path = urllib.parse.urlparse(up["token_endpoint"]).path

    def exchange(_):
        status, body = request(host, port, "POST", token_path, form,
                               {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            return status
        id_token = json.loads(body)["id_token"]
        return request(host, port, "POST", "/auth/exchange", "", {"Authorization": f"Bearer {id_token}"})[0]

    t = time.time()
    statuses = list(pool.map(exchange, range(a.exchanges)))
    phases["exchanges"] = round(time.time() - t, 1)
    phases["exchanges_ok"] = statuses.count(200)

    # Huge request values: 1 MB ClientIds, unauthenticated.
    def huge(i):
        return json.dumps({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": f"{i:08}" + "Z" * (1 << 20),
                           "AuthParameters": {"USERNAME": "alice", "PASSWORD": "x"}})
    aws = {"Content-Type": "application/x-amz-json-1.1",
           "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"}
    t = time.time()
    list(pool.map(lambda i: request(host, port, "POST", "/", huge(i), aws)[0], range(a.echoes)))
    phases["echoes"] = round(time.time() - t, 1)

    # Large GraphQL answers (within the API's limits).
    login = json.dumps({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": pool_client,
                        "AuthParameters": {"USERNAME": "alice", "PASSWORD": alice["password"]}})
    status, body = request(host, port, "POST", "/", login, aws)
    if status != 200:
        raise SystemExit(f"alice's sign-in failed: {status} {body[:200]!r}")
    token = json.loads(body)["AuthenticationResult"]["AccessToken"]
    gql = {"Content-Type": "application/json", "Authorization": token}
    name = "n" * 250
    for batch in range(40):
        adds = " ".join(f'a{i}: addItem(name: "{name}-{batch}-{i}") {{ id }}' for i in range(25))
        request(host, port, "POST", "/demo/graphql", json.dumps({"query": f"mutation {{ {adds} }}"}), gql)
    lists = " ".join(f"l{i}: listItems {{ id name owner createdAt }}" for i in range(10))
    query = json.dumps({"query": f"{{ {lists} }}"})
    t = time.time()
    sizes = list(pool.map(lambda _: len(request(host, port, "POST", "/demo/graphql", query, gql)[1]), range(a.graphql)))
    phases["graphql"] = round(time.time() - t, 1)
    phases["graphql_answer_bytes"] = max(sizes) if sizes else 0

    burst_seconds = round(time.time() - started, 1)
    sampler.stop.set()
    sampler.join()
    after = {"0": rss_kib(a.pid)}
    rested = 0
    for point in [int(x) for x in a.rest_points.split(",") if x]:
        time.sleep(max(0, point - rested))
        rested = point
        after[str(point)] = rss_kib(a.pid)
    print(json.dumps({"rss_at_rest_kib": at_rest, "rss_peak_kib": sampler.peak, "rss_after_kib": after,
                      "burst_seconds": burst_seconds, "phases": phases}))


if __name__ == "__main__":
    main()
