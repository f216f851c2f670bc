"""Shared by the interop suites: what the running demo wrote (TOKENBRIDGE_DEMO_JSON)."""

import json
import os

import pytest


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
