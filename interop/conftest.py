"""Shared by the interop suites: what the running demo wrote (TOKENBRIDGE_DEMO_JSON), and the
tokenbridge binary's `audit explain` on the demo's data directory."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_info():
    """demo.json of the `tokenbridge demo` under test, as scripts/test exports it."""
    path = os.environ.get("TOKENBRIDGE_DEMO_JSON")
    if not path:
        pytest.exit(
            "TOKENBRIDGE_DEMO_JSON is not set: run scripts/test, or start `tokenbridge demo --data-dir DIR` "
            "and export TOKENBRIDGE_DEMO_JSON=DIR/demo.json",
            returncode=4,
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def tokenbridge_bin():
    """The tokenbridge binary: TOKENBRIDGE_BIN, default target/release/tokenbridge."""
    path = os.environ.get("TOKENBRIDGE_BIN") or str(ROOT / "target" / "release" / "tokenbridge")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"no tokenbridge binary at {path}: cargo build --release -p tokenbridge, or set TOKENBRIDGE_BIN")
    return path


@pytest.fixture(scope="session")
def data_dir():
    """The demo's data directory: TOKENBRIDGE_DATA_DIR, default the directory holding demo.json."""
    path = os.environ.get("TOKENBRIDGE_DATA_DIR") or os.path.dirname(os.environ["TOKENBRIDGE_DEMO_JSON"])
    assert os.path.isdir(path), f"the demo's data dir {path} does not exist"
    return path


@pytest.fixture(scope="session")
def audit_explain(tokenbridge_bin, data_dir):
    """audit_explain(request_id, as_json=False): `tokenbridge audit explain ID --data-dir DATA_DIR`
    (its text, or the parsed --json)."""

    def run(request_id, as_json=False):
        cmd = [tokenbridge_bin, "audit", "explain", request_id, "--data-dir", data_dir]
        cmd += ["--json"] if as_json else []
        env = dict(os.environ, NO_COLOR="1")
        # A decision's record is committed before the answer is sent: it must be there at once.
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=env)
        if p.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return json.loads(p.stdout) if as_json else p.stdout

    return run
