#!/usr/bin/env bash
# Memory after a burst: start `tokenbridge demo` (release build, fresh data dir, free loopback
# port), read its resident memory (VmRSS) at rest, drive one bounded burst at it
# (bench/memory_burst.py: 1,000 connections at once, 2,000 token exchanges, 200 requests with a
# 1 MB ClientId, 200 GraphQL answers of ~3.5 MB, 32 at a time), then read the RSS at the burst's
# peak, right after it and after 1, 10, 30 and 60 s of rest. A server that returns its memory
# comes back near its resting figure.
#
#   bench/memory.sh                                   # build, then measure
#   bench/memory.sh --no-build                        # the binary already in target/release
#   bench/memory.sh --binary /tmp/tokenbridge-old     # another build of the server
#   bench/memory.sh --concurrency 64 --rest 1,10,30,60,120
#
# Loopback only; bounded; the server it starts is stopped. Results go to
# bench/results/memory-<timestamp>/. Needs: cargo, curl, jq, python3.
set -euo pipefail

BUILD=1
BINARY=""
CONCURRENCY=32
REST="1,10,30,60"

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --binary) BINARY="$2"; BUILD=0; shift ;;
        --concurrency) CONCURRENCY="$2"; shift ;;
        --rest) REST="$2"; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done
[[ "$CONCURRENCY" =~ ^[0-9]+$ ]] && [ "$CONCURRENCY" -ge 1 ] && [ "$CONCURRENCY" -le 256 ] \
    || { echo "--concurrency: 1 to 256" >&2; exit 2; }
[[ "$REST" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "--rest: seconds, comma-separated" >&2; exit 2; }
for tool in cargo curl jq python3; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
OUT="$ROOT/bench/results/memory-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
BIN="$ROOT/target/release"
SERVER_PID=""
TMP_DIRS=()
trap stop_server_and_remove_tmp_dirs EXIT
trap 'exit 130' INT TERM

if [ "$BUILD" = 1 ]; then
    echo "building (release)…"
    timeout 1800 cargo build --release -p tokenbridge >"$OUT/build.log" 2>&1 \
        || { tail -n 20 "$OUT/build.log" >&2; exit 1; }
fi
if [ -n "$BINARY" ]; then
    BIN="$(mktemp -d)"
    TMP_DIRS+=("$BIN")
    cp "$BINARY" "$BIN/tokenbridge"
fi
[ -x "$BIN/tokenbridge" ] || { echo "$BIN/tokenbridge missing" >&2; exit 1; }

say "memory after a burst — commit $(describe_commit)${BINARY:+, binary $BINARY}"
say "machine:   $(cpu_model), $(nproc) cores; $(load_average)"
say_quiet
DATA_DIR="$(mktemp -d)"
TMP_DIRS+=("$DATA_DIR")
start_demo "$DATA_DIR" "$OUT/server.log"
timeout 900 python3 "$ROOT/bench/memory_burst.py" --demo-json "$DATA_DIR/demo.json" --pid "$SERVER_PID" \
    --concurrency "$CONCURRENCY" --rest-points "$REST" >"$OUT/burst.json"
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MB", k / 1024 }'; }
R="$OUT/burst.json"
say "burst:     $(jq -r '.burst_seconds' "$R") s ($(jq -c '.phases' "$R"))"
say "RSS:       at rest $(mib "$(jq '.rss_at_rest_kib' "$R")"), peak $(mib "$(jq '.rss_peak_kib' "$R")")"
for point in $(jq -r '.rss_after_kib | keys_unsorted[]' "$R"); do
    say "           ${point} s after the burst: $(mib "$(jq ".rss_after_kib[\"$point\"]" "$R")")"
done
say "results:   $OUT"
