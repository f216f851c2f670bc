#!/usr/bin/env bash
# The console suite: the web console at /console driven end to end in a real headless Chromium
# (Debian's /usr/bin/chromium, through playwright-core), and its main paths (SRP sign-in, an
# explained refusal, a token exchange) in a real headless Firefox (Debian's /usr/bin/firefox-esr,
# through puppeteer-core over WebDriver BiDi), against a running `tokenbridge demo`; and a page on
# another loopback origin signing in with amazon-cognito-identity-js in Chromium (the Cognito
# door's CORS), which also starts a second demo of its own from the release binary; and a page on
# another loopback origin signing in through the demo pool's hosted UI with oidc-client-ts (code +
# PKCE, SSO on a second app client, logout); and a page on another loopback origin signing in with
# Amplify Auth (aws-amplify v6, bundled by esbuild from node_modules) through the hosted login
# page and the demo's SAML IdP against a `tokenbridge demo --tls` of its own (fetchAuthSession,
# getCurrentUser, signOut), which it starts from the release binary and stops.
#
#   interop/console/run.sh DEMO_JSON
#
# DEMO_JSON is the demo.json that `tokenbridge demo --data-dir DIR` wrote. Installs the pinned
# playwright-core, puppeteer-core, oidc-client-ts, aws-amplify and esbuild (npm ci, from
# package-lock.json; a package missing there fails its test) only when
# node_modules is missing or the lockfile, package.json or Node changed; never downloads a browser of its own
# (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, PUPPETEER_SKIP_DOWNLOAD=1): it drives the machine's
# Chromium and Firefox. Without Firefox the Chromium tests still run and the Firefox tests fail
# (scripts/test installs it; this script says so first). Then runs node's own test runner over
# test/: the spec report on stdout, a JUnit report in interop/console/junit.xml, whose path is the
# last line printed. The exit code is the test result. Any cwd, no stdin.
#
# Screenshots (full page, 1280x900 viewport) go to interop/artifacts/console/. The README's
# images are made by the same tests: with TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO set to a folder, they
# also save there the top of the page or the one section the README shows (01-password-tokens,
# 02-custom-auth-flow, 04-api-denied-explained, 05-audit .png), e.g.
#
#   TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO=docs/screenshots interop/console/run.sh /tmp/tb/demo.json
#
# (a relative folder is taken from the repository root). Knobs (environment):
#   CHROMIUM                           the browser to drive (default /usr/bin/chromium)
#   FIREFOX                            the Firefox to drive (default /usr/bin/firefox-esr)
#   TOKENBRIDGE_BIN                    the binary test/60-cognito-cors and test/80-amplify start
#                                      demos of their own from (default target/release/tokenbridge)
#   TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO also save the README screenshots in this folder
#   TOKENBRIDGE_CONSOLE_ARTIFACTS      write the screenshots here instead (then nothing is cleared
#                                      first; by default the earlier run's screenshots are)
#   TOKENBRIDGE_CONSOLE_HEADED=1       show the browser windows (needs a display), for debugging
set -euo pipefail

# shellcheck source=../lib/node-suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/node-suite.sh"
demo_json_arg "$@"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

require_node 20
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  echo "error: no Chromium at $CHROMIUM (Debian: apt-get install chromium; scripts/test does)" >&2
  exit 2
fi

export FIREFOX="${FIREFOX:-/usr/bin/firefox-esr}"
if [[ ! -x "$FIREFOX" ]]; then
  # Not a reason to skip the Chromium tests: test/50-firefox.test.mjs fails, saying the same.
  echo "error: no Firefox at $FIREFOX (Debian: apt-get install firefox-esr; scripts/test does):" \
    "the Firefox test will fail" >&2
fi

# Never fetch a browser build: the machine's Chromium and Firefox are the ones under test.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1

npm_ci_when_changed interop/console package.json package-lock.json

export TOKENBRIDGE_DEMO_JSON="$DEMO_JSON"
if [[ -z "${TOKENBRIDGE_CONSOLE_ARTIFACTS:-}" ]]; then
  # This run's screenshots only: none left over from an earlier run to mislead.
  export TOKENBRIDGE_CONSOLE_ARTIFACTS="$ROOT/interop/artifacts/console"
  rm -f "$TOKENBRIDGE_CONSOLE_ARTIFACTS"/*.png
fi
if [[ -n "${TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO:-}" && "$TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO" != /* ]]; then
  export TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO="$ROOT/$TOKENBRIDGE_CONSOLE_SCREENSHOTS_TO"
fi
rm -f junit.xml
rc=0
# One test file at a time: each launches its own browser, and the machine has two cores.
node --test --test-concurrency=1 \
  --test-reporter=junit --test-reporter-destination=junit.xml \
  --test-reporter=spec --test-reporter-destination=stdout \
  test/*.test.mjs </dev/null || rc=$?
echo "screenshots: ${TOKENBRIDGE_CONSOLE_ARTIFACTS#"$ROOT"/}/"
echo "$HERE/junit.xml"
exit "$rc"
