#!/usr/bin/env bash
# The Node interop suite: amazon-cognito-identity-js and aws-jwt-verify (plus the AWS SDK for
# JavaScript for the admin setup) against a running `tokenbridge demo`.
#
#   interop/node/run.sh DEMO_JSON
#
# DEMO_JSON is the demo.json that `tokenbridge demo --data-dir DIR` wrote. Installs the pinned
# packages (npm ci, from package-lock.json) only when node_modules is missing or the lockfile or
# Node changed, then runs node's own test runner over test/: the spec report on stdout, a JUnit
# report in interop/node/junit.xml. The exit code is the test result. Any cwd, no stdin.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 DEMO_JSON" >&2
  exit 2
fi
if [[ ! -r "$1" ]]; then
  echo "error: cannot read $1 (the demo.json of a running \`tokenbridge demo\`)" >&2
  exit 2
fi
DEMO_JSON="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: node and npm are needed (Node 20 or later)" >&2
  exit 2
fi
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
if ((NODE_MAJOR < 20)); then
  echo "error: Node $(node --version) is too old: the suite needs Node 20 or later" >&2
  exit 2
fi

# node_modules is current when it was installed from this very lockfile by this very Node.
STAMP="node_modules/.tokenbridge-install.sha256"
want="$({ cat package-lock.json; node --version; } | sha256sum | cut -d' ' -f1)"
if [[ ! -d node_modules || "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]]; then
  echo "interop/node: npm ci (package-lock.json)"
  rm -f "$STAMP"
  npm ci --no-audit --no-fund </dev/null
  echo "$want" >"$STAMP"
fi

export TOKENBRIDGE_DEMO_JSON="$DEMO_JSON"
# The AWS SDK warns on every run that its releases after early 2027 need Node 22; the pinned
# version runs on Node 20, so that notice is noise here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
rm -f junit.xml
exec node --test \
  --test-reporter=junit --test-reporter-destination=junit.xml \
  --test-reporter=spec --test-reporter-destination=stdout \
  test/ </dev/null
