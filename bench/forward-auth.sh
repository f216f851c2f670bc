#!/usr/bin/env bash
# Forward-auth benchmark: authorizer decisions per second over HTTP, with a warm cache and with
# the cache off, next to the machine's signature-verification bound.
#
# For each algorithm: start `tokenbridge demo` on a free loopback port (fresh data dir), get
# alice's access token through the real exchange, then drive `GET /forward-auth` (original
# request GET /demo/api/hello) with wrk for a bounded time:
#   warm   cache on (default): every decision after the first is a cache hit
#   cold        TOKENBRIDGE_AUTHORIZER_CACHE_CAPACITY=0: every decision verifies the signature;
#               the session's revocation state comes from the session cache (cache_seconds)
#   cold-store  both caches off (…_SESSION_CACHE_CAPACITY=0 too): the store is read every time
#   cold-norev  token cache off and TOKENBRIDGE_AUTHORIZER_CHECK_REVOCATION=false: signature only
# and `tokenbridge-bench verify` for signature verifications/s on 1 and 2 threads.
#
#   bench/forward-auth.sh                          # RS256 and ES256, 10 s per run, 64 connections
#   bench/forward-auth.sh --algorithms RS256 --duration 5 --connections 32
#
# Loopback only; bounded; the servers it starts are stopped. Results go to
# bench/results/forward-auth-<timestamp>/. Needs: cargo, curl, jq, wrk (Debian: wrk).
set -euo pipefail

ALGORITHMS="RS256 ES256"
DURATION=10
CONNECTIONS=64
WRK_THREADS=1
BUILD=1

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --algorithms) ALGORITHMS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --connections) CONNECTIONS="$2"; shift ;;
        --wrk-threads) WRK_THREADS="$2"; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done
for n in "$DURATION" "$CONNECTIONS" "$WRK_THREADS"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || { echo "not a positive number: $n" >&2; exit 2; }
done
[ "$DURATION" -le 120 ] || { echo "duration is capped at 120 s" >&2; exit 2; }
for tool in cargo curl jq wrk; do
    command -v "$tool" >/dev/null || { echo "$tool is required (Debian: apt-get install $tool)" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
OUT="$ROOT/bench/results/forward-auth-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
BIN="$ROOT/target/release"

if [ "$BUILD" = 1 ]; then build_release "$OUT/build.log"; fi
[ -x "$BIN/tokenbridge" ] && [ -x "$BIN/tokenbridge-bench" ] || { echo "release binaries missing" >&2; exit 1; }

{
    echo "tokenbridge forward-auth benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:    $(describe_commit)"
    echo "machine:   $(nproc) cores, $(cpu_model)"
    echo "load:      $(load_average) (before)"
    echo "settings:  wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, keep-alive, on the same machine as the server"
} | tee "$SUMMARY"

SERVER_PID=""
DATA_DIR=""
cleanup() { stop_server; [ -n "$DATA_DIR" ] && rm -rf "$DATA_DIR"; DATA_DIR=""; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server ALG LOGNAME [ENV=VALUE…]: the demo on the current DATA_DIR; sets BASE. A restart
# keeps the first run's port: the base URL is the tokens' issuer.
LISTEN=127.0.0.1:0
start_server() {
    local alg="$1" log="$2"
    shift 2
    rm -f "$DATA_DIR/demo.json"
    env "$@" "$BIN/tokenbridge" demo --listen "$LISTEN" --data-dir "$DATA_DIR" --algorithm "$alg" \
        >"$OUT/$log.log" 2>&1 &
    SERVER_PID=$!
    wait_for_demo "$DATA_DIR" "$OUT/$log.log" || exit 1
    LISTEN="${BASE#http://}"
}

# measure NAME: wrk against forward-auth; prints requests/s and p50/p99, checks every answer was 200.
measure() {
    local name="$1" check
    check="$(curl -s -o /dev/null -w '%{http_code}' "$BASE/forward-auth" -H "Authorization: Bearer $TOKEN" \
        -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /demo/api/hello')"
    [ "$check" = 200 ] || { echo "forward-auth answered $check before the $name run" >&2; exit 1; }
    local cpu0 cpu1 t0 t1
    cpu0="$(server_ticks)"; t0="$(date +%s.%N)"
    timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $TOKEN" -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /demo/api/hello' \
        "$BASE/forward-auth" >"$OUT/$ALG-$name.txt" 2>&1
    cpu1="$(server_ticks)"; t1="$(date +%s.%N)"
    local rps p50 p99 non2xx cores per_core
    rps="$(awk '/^Requests\/sec/{print $2}' "$OUT/$ALG-$name.txt")"
    p50="$(awk '$1=="50%"{print $2}' "$OUT/$ALG-$name.txt")"
    p99="$(awk '$1=="99%"{print $2}' "$OUT/$ALG-$name.txt")"
    non2xx="$(awk '/Non-2xx/{print $NF}' "$OUT/$ALG-$name.txt")"
    # The server's share of the machine (wrk takes the rest), and decisions per server core-second.
    cores="$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" \
        'BEGIN{printf "%.2f", (b-a)/hz/(t1-t0)}')"
    per_core="$(awk -v r="$rps" -v c="$cores" 'BEGIN{if (c>0) printf "%.0f", r/c; else print "n/a"}')"
    say "$(printf '  %-11s %10s decisions/s   p50 %-8s p99 %-8s non-2xx %-4s server %s cores = %s decisions per core-second' \
        "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "$cores" "$per_core")"
}

# CPU ticks (user + system) the server has used so far.
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

say ""
say "signature verification bound (tokenbridge-bench verify, 3 s each):"
"$BIN/tokenbridge-bench" verify --algorithms "$(echo "$ALGORITHMS" | tr ' ' ',')" --seconds 3 --threads 2 \
    | tee "$OUT/verify.jsonl" \
    | jq -r '"  \(.algorithm) \(.threads) thread(s): \(.verifications_per_second) verifications/s, \(.parse_and_verify_per_second) parse+verify/s"' \
    | tee -a "$SUMMARY"

for ALG in $ALGORITHMS; do
    say ""
    say "=== $ALG ==="
    DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tokenbridge-fa-$ALG.XXXXXX")"
    LISTEN=127.0.0.1:0
    start_server "$ALG" "server-$ALG-warm"
    UP_ID="$(jq -r .upstream.client_id "$DATA_DIR/demo.json")"
    UP_SECRET="$(jq -r .upstream.client_secret "$DATA_DIR/demo.json")"
    ID_TOKEN="$(curl -fsS "$BASE/demo-idp/token" -u "$UP_ID:$UP_SECRET" -d grant_type=password \
        -d username=alice@demo-upstream.example -d password=alice-upstream-pw | jq -r .id_token)"
    TOKEN="$(curl -fsS -X POST "$BASE/auth/exchange" -H "Authorization: Bearer $ID_TOKEN" | jq -r .access_token)"
    [ -n "$TOKEN" ] && [ "$TOKEN" != null ] || { echo "no access token from the exchange" >&2; exit 1; }
    measure warm
    stop_server
    # Same data dir: same keys and session, so the same token stays valid.
    start_server "$ALG" "server-$ALG-cold" TOKENBRIDGE_AUTHORIZER_CACHE_CAPACITY=0
    measure cold
    stop_server
    start_server "$ALG" "server-$ALG-cold-store" TOKENBRIDGE_AUTHORIZER_CACHE_CAPACITY=0 \
        TOKENBRIDGE_AUTHORIZER_SESSION_CACHE_CAPACITY=0
    measure cold-store
    stop_server
    start_server "$ALG" "server-$ALG-cold-norev" TOKENBRIDGE_AUTHORIZER_CACHE_CAPACITY=0 \
        TOKENBRIDGE_AUTHORIZER_CHECK_REVOCATION=false
    measure cold-norev
    cleanup
done
say ""
say "results: $OUT"
