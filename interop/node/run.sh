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

# shellcheck source=../lib/node-suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/node-suite.sh"
demo_json_arg "$@"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

require_node 20

npm_ci_when_changed interop/node package-lock.json

export TOKENBRIDGE_DEMO_JSON="$DEMO_JSON"
# The AWS SDK warns on every run that its releases after early 2027 need Node 22; the pinned
# version runs on Node 20, so that notice is noise here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
rm -f junit.xml
exec node --test \
  --test-reporter=junit --test-reporter-destination=junit.xml \
  --test-reporter=spec --test-reporter-destination=stdout \
  test/ </dev/null
