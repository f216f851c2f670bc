#!/usr/bin/env bash
# Identity-pool chain benchmark: IAM policy evaluations and SigV4 verifications per second in
# process, SigV4-signed GraphQL calls per second over HTTP with identity-pool credentials, and
# GetCredentialsForIdentity (and STS AssumeRoleWithWebIdentity) per second over HTTP against
# tokenbridge and, with the same client loop, against moto's identity pool and STS (which check
# nothing), side by side.
#
#   bench/identity.sh                          # everything, tokenbridge signing with RS256
#   bench/identity.sh --algorithm ES256        # the demo's keys (its id tokens) are ES256
#   bench/identity.sh --seconds 5 --concurrency 16 --servers tokenbridge --no-micro
#   bench/identity.sh --no-build --no-install  # use what is already built and installed
#   bench/identity.sh --data-root /dev/shm     # the demo's database on tmpfs (the disk out of the way)
#
# In process (`tokenbridge-bench policy` and `sigv4`, MICRO seconds per figure, 1 and 2 threads):
# a 10-statement role with wildcards, a policy variable and two conditions, for an allowed and
# a denied request (evaluate, explain, parse); a signed POST /demo/graphql (check + finish).
# Over HTTP (`tokenbridge-bench graphql` and `identity`, closed loop, keep-alive, 1 s warm-up,
# then the measured seconds): servers run one at a time on free loopback ports: `tokenbridge
# demo` (fresh data dir) and moto in server mode (a pool made with CreateIdentityPool). Errors
# are counted apart, never as throughput. Everything it starts is stopped on exit.
#
# Installs when missing: moto[server] (pinned, the version bench/cognito.sh uses) in
# bench/.venv-peers. Results go to bench/results/identity-<timestamp>/.
# Needs: cargo, curl, jq, python3 (with venv).
set -euo pipefail

MOTO_VERSION="5.2.5"
SECONDS_EACH=10
MICRO_SECONDS=3
WARMUP=1
CONCURRENCY=32
THREADS=1
SERVERS="tokenbridge moto"
ACTIONS="credentials assume-role"
MICRO=1
BUILD=1
INSTALL=1
ALGORITHM="RS256"
DATA_ROOT="${TMPDIR:-/tmp}"
PEER_REGION="ap-northeast-1"

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH="$2"; shift ;;
        --micro-seconds) MICRO_SECONDS="$2"; shift ;;
        --concurrency) CONCURRENCY="$2"; shift ;;
        --threads) THREADS="$2"; shift ;;
        --servers) SERVERS="$2"; shift ;;
        --actions) ACTIONS="$2"; shift ;;
        --algorithm) ALGORITHM="$2"; shift ;;
        --data-root) DATA_ROOT="$2"; shift ;;
        --no-micro) MICRO=0 ;;
        --no-build) BUILD=0 ;;
        --no-install) INSTALL=0 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done
for n in "$SECONDS_EACH" "$MICRO_SECONDS" "$CONCURRENCY" "$THREADS"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || { echo "not a positive number: $n" >&2; exit 2; }
done
[ "$SECONDS_EACH" -le 10 ] || { echo "--seconds is capped at 10" >&2; exit 2; }
[ "$MICRO_SECONDS" -le 10 ] || { echo "--micro-seconds is capped at 10" >&2; exit 2; }
[ "$CONCURRENCY" -le 1024 ] || { echo "--concurrency is capped at 1024" >&2; exit 2; }
case "$ALGORITHM" in RS256|ES256|EdDSA) ;; *) echo "unknown algorithm: $ALGORITHM" >&2; exit 2 ;; esac
[ -d "$DATA_ROOT" ] || { echo "--data-root $DATA_ROOT is not a directory" >&2; exit 2; }
for s in $SERVERS; do
    case "$s" in tokenbridge|moto) ;; *) echo "unknown server: $s" >&2; exit 2 ;; esac
done
for a in $ACTIONS; do
    case "$a" in credentials|get-id|assume-role) ;; *) echo "unknown action: $a" >&2; exit 2 ;; esac
done
NEED="curl jq python3"
[ "$BUILD" = 1 ] && NEED="$NEED cargo"
for tool in $NEED; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
OUT="$ROOT/bench/results/identity-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
BIN="$ROOT/target/release"
BENCH="$BIN/tokenbridge-bench"
VENV="$ROOT/bench/.venv-peers"

# --- processes this script started, stopped on exit ---
SERVER_PID=""
TMP_DIRS=()
trap stop_server_and_remove_tmp_dirs EXIT
trap 'exit 130' INT TERM

case " $SERVERS " in *" moto "*)
    ensure_moto "$VENV" "$MOTO_VERSION" "$INSTALL" "$OUT/install-moto.log" ;;
esac

build_if_asked "$BUILD" "$OUT/build.log" "$SERVERS"

{
    echo "Identity-pool chain benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:    $(describe_commit)"
    echo "machine:   $(nproc) cores, $(cpu_model)"
    echo "load:      $(load_average) (before)"
    echo "settings:  in process ${MICRO_SECONDS}s per figure; over HTTP closed loop, $CONCURRENCY workers, ${WARMUP}s warm-up +"
    echo "           ${SECONDS_EACH}s measured, generator threads $THREADS, one server at a time, loopback; tokenbridge signs with $ALGORITHM,"
    echo "           its database in $DATA_ROOT ($(df -T "$DATA_ROOT" | awk 'NR==2{print $2}'))"
    echo "peers:     moto[server] $MOTO_VERSION (python $("${VENV}/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?'))"
} | tee "$SUMMARY"

say_quiet

# --- in process ---
if [ "$MICRO" = 1 ]; then
    say ""
    say "=== in process ==="
    timeout 300 "$BENCH" policy --seconds "$MICRO_SECONDS" --threads 2 --json >"$OUT/policy.jsonl" 2>"$OUT/policy.txt" \
        || { tail -n 5 "$OUT/policy.txt" >&2; echo "policy bench failed" >&2; }
    timeout 120 "$BENCH" sigv4 --seconds "$MICRO_SECONDS" --threads 2 --json >"$OUT/sigv4.jsonl" 2>"$OUT/sigv4.txt" \
        || { tail -n 5 "$OUT/sigv4.txt" >&2; echo "sigv4 bench failed" >&2; }
fi

# --- over HTTP ---
declare -A STATUS NOTE
RUNS=()

# file KEY: the results file of a run, without its extension (WHAT/SERVER → $OUT/WHAT-SERVER).
file() { echo "$OUT/${1//\//-}"; }

# run_load KEY SUBCOMMAND ARGS…: one measured run; its JSON is $(file KEY).json.
run_load() {
    local key="$1" sub="$2"
    shift 2
    local json txt rc=0
    json="$(file "$key").json"
    txt="$(file "$key").txt"
    RUNS+=("$key")
    echo "--- $key ---"
    timeout $((SECONDS_EACH + WARMUP + 120)) "$BENCH" "$sub" --concurrency "$CONCURRENCY" --seconds "$SECONDS_EACH" \
        --warmup "$WARMUP" --threads "$THREADS" --server-pid "$SERVER_PID" --label "$key" --json "$@" \
        >"$json" 2>"$txt" || rc=$?
    sed -n "/^tokenbridge-bench $sub/,\$p" "$txt"
    if [ "$rc" = 0 ] && [ -s "$json" ]; then
        STATUS[$key]=ok
        if [ "$(jq -r .errors_total "$json")" != 0 ]; then
            NOTE[$key]="$(errors_answered "$json")"
        fi
    elif [ "$rc" = 3 ] && [ -s "$json" ]; then
        STATUS[$key]=failed
        NOTE[$key]="nothing succeeded; answered: $(errors_answered "$json")"
    else
        STATUS[$key]=error
        NOTE[$key]="$(why_no_results "$txt" "$rc")"
    fi
}

skip() { # KEY WHY
    RUNS+=("$1"); STATUS[$1]=error; NOTE[$1]="$2"
}
skip_tokenbridge() { # WHY: every tokenbridge run reported as not run
    local a
    skip "graphql/tokenbridge" "$1"
    for a in $ACTIONS; do skip "$a/tokenbridge" "$1"; done
}

bench_tokenbridge() {
    local data log="$OUT/server-tokenbridge-$ALGORITHM.log" demo a
    data="$(mktemp -d "$DATA_ROOT/tokenbridge-identity.XXXXXX")"
    TMP_DIRS+=("$data")
    if ! start_demo "$data" "$log" --algorithm "$ALGORITHM"; then
        skip_tokenbridge "the demo did not start; see $log"
        stop_server
        return
    fi
    demo="$data/demo.json"
    if ! jq -e '.identity.identity_pool_id and .identity.graphql_url and .cognito.client_id' "$demo" >/dev/null; then
        skip_tokenbridge "demo.json has no identity object: this build has no identity pools"
        stop_server
        return
    fi
    say "tokenbridge ($ALGORITHM): identity pool $(jq -r .identity.identity_pool_id "$demo"), GraphQL at $(jq -r .identity.graphql_url "$demo"), pid $SERVER_PID"
    run_load "graphql/tokenbridge" graphql --demo-json "$demo"
    for a in $ACTIONS; do
        run_load "$a/tokenbridge" identity --demo-json "$demo" --action "$a"
    done
    stop_server
}

bench_moto() {
    local log="$OUT/server-moto.log" a
    if ! start_moto "$VENV" "$log"; then
        for a in $ACTIONS; do skip "$a/moto" "moto did not start; see $log"; done
        stop_server
        return
    fi
    say "moto: $MOTO_URL, pid $SERVER_PID"
    for a in $ACTIONS; do
        # A fresh pool per action (made by the bench with CreateIdentityPool).
        run_load "$a/moto" identity --endpoint "$MOTO_URL" --region "$PEER_REGION" --action "$a"
    done
    stop_server
}

for s in $SERVERS; do
    say ""
    say "=== $s ==="
    case "$s" in
        tokenbridge) bench_tokenbridge ;;
        moto) bench_moto ;;
    esac
done

# --- summary ---
micro_row() { # FILE BENCH OPERATION CASE LABEL
    local f="$1" one two ns
    [ -s "$f" ] || return 0
    one="$(jq -r --arg o "$3" --arg c "$4" 'select(.operation == $o and (.case // "") == $c and .threads == 1) | .per_second' "$f" | head -n 1)"
    two="$(jq -r --arg o "$3" --arg c "$4" 'select(.operation == $o and (.case // "") == $c and .threads == 2) | .per_second' "$f" | head -n 1)"
    [ -n "$one" ] || return 0
    ns="$(awk -v r="$one" 'BEGIN{printf "%.2f", 1e6/r}')"
    printf '%-34s %14s %14s %12s\n' "$5" "$(printf "%'.0f" "$one" 2>/dev/null || echo "$one")" \
        "$(printf "%'.0f" "${two:-0}" 2>/dev/null || echo "${two:-?}")" "$ns"
}
http_row() { # KEY
    local k="$1" j what server
    j="$(file "$1").json"
    what="${k%%/*}"; server="${k#*/}"
    case "$what" in
        graphql) what="GraphQL listItems (SigV4)" ;;
        credentials) what="GetCredentialsForIdentity" ;;
        get-id) what="GetId" ;;
        assume-role) what="AssumeRoleWithWebIdentity" ;;
    esac
    [ "$server" = tokenbridge ] && server="tokenbridge $ALGORITHM"
    case "${STATUS[$k]:-}" in
        ok) printf '%-27s %-17s %9s %8s %8s %7s %6s %8s %6s %6s\n' "$what" "$server" \
                "$(jq -r '.per_second | round' "$j")" "$(jq -r '.latency_ms.p50' "$j")" "$(jq -r '.latency_ms.p99' "$j")" \
                "$(jq -r .errors_total "$j")" "$(jq -r '.cpu_cores.server // "n/a"' "$j")" \
                "$(jq -r '.server_cpu_us_per_call // "n/a" | if type == "number" then round else . end' "$j")" \
                "$(jq -r '.cpu_cores.generator // "n/a"' "$j")" "$(jq -r '.cpu_cores.other // "n/a"' "$j")" ;;
        failed) printf '%-27s %-17s %9s\n' "$what" "$server" "FAILED" ;;
        *) printf '%-27s %-17s %9s\n' "$what" "$server" "not run" ;;
    esac
}
rate_of() { [ "${STATUS[$1]:-}" = ok ] && jq -r '.per_second' "$(file "$1").json"; }
{
    echo ""
    echo "load:      $(load_average) (after)"
    if [ "$MICRO" = 1 ]; then
        echo ""
        echo "=== in process: calls per second (1 thread = per core) ==="
        printf '%-34s %14s %14s %12s\n' "operation" "1 thread" "2 threads" "us, 1 thread"
        for c in allow-s3 allow-ip deny; do micro_row "$OUT/policy.jsonl" policy evaluate "$c" "policy evaluate, $c"; done
        for c in allow-s3 allow-ip deny; do micro_row "$OUT/policy.jsonl" policy explain "$c" "policy explain, $c"; done
        micro_row "$OUT/policy.jsonl" policy parse policy "policy parse (10 statements)"
        micro_row "$OUT/policy.jsonl" policy parse demo-role "policy parse (demo role, 1 stmt)"
        micro_row "$OUT/sigv4.jsonl" sigv4 verify "" "sigv4 verify (check + finish)"
        micro_row "$OUT/sigv4.jsonl" sigv4 check "" "sigv4 check alone"
        micro_row "$OUT/sigv4.jsonl" sigv4 sign "" "sigv4 sign (the bench's signer)"
        echo "(other processes during these figures, cores: policy $(jq -s '[.[].other_cores // 0] | max' "$OUT/policy.jsonl" 2>/dev/null || echo '?') at most,"
        echo " sigv4 $(jq -s '[.[].other_cores // 0] | max' "$OUT/sigv4.jsonl" 2>/dev/null || echo '?') at most)"
    fi
    echo ""
    echo "=== over HTTP: successes per second, closed loop, $CONCURRENCY workers ==="
    printf '%-27s %-17s %9s %8s %8s %7s %6s %8s %6s %6s\n' what server "calls/s" "p50 ms" "p99 ms" errors "srv" "srv µs" "gen" "other"
    for k in "${RUNS[@]}"; do http_row "$k"; done
    echo "(srv / gen / other: cores used by the server, the generator and anything else during the measured seconds —"
    echo " other above ~0.1 means the machine was not quiet; srv µs: server CPU per successful call)"
    echo ""
    echo "server threads (tokenbridge, cores):"
    for k in "${RUNS[@]}"; do
        case "$k" in */tokenbridge) ;; *) continue ;; esac
        [ "${STATUS[$k]:-}" = ok ] || continue
        echo "  $k: $(jq -r '.server_threads | to_entries | map(select(.value.cores >= 0.01)) | sort_by(-.value.cores) | map("\(.key) ×\(.value.threads) \(.value.cores)") | join(", ")' "$(file "$k").json")"
    done
    echo ""
    echo "notes (errors, failures):"
    any=0
    for k in "${RUNS[@]}"; do
        if [ -n "${NOTE[$k]:-}" ]; then echo "  $k: ${NOTE[$k]}"; any=1; fi
    done
    [ "$any" = 1 ] || echo "  none"
    echo ""
    echo "targets:"
    if [ "$MICRO" = 1 ] && [ -s "$OUT/policy.jsonl" ]; then
        jq -rs '[.[] | select(.operation == "evaluate" and .threads == 1)] | min_by(.per_second) |
            "  policy evaluations >= 1,000,000/s per core: slowest case \(.case) \(.per_second)/s on 1 thread: \(if .per_second >= 1000000 then "met" else "NOT met" end)"' \
            "$OUT/policy.jsonl"
    fi
    g="$(rate_of graphql/tokenbridge || true)"
    if [ -n "$g" ]; then
        awk -v r="$g" 'BEGIN{printf "  SigV4-signed GraphQL calls >= 15,000/s: %.0f/s (%.0f%%): %s\n", r, 100*r/15000, (r>=15000)?"met":"NOT met"}'
    fi
    for a in $ACTIONS; do
        t="$(rate_of "$a/tokenbridge" || true)"; m="$(rate_of "$a/moto" || true)"
        if [ -n "$t" ] && [ -n "$m" ]; then
            awk -v t="$t" -v m="$m" -v a="$a" 'BEGIN{printf "  %s: tokenbridge %.0f/s vs moto %.0f/s (%.2fx)\n", a, t, m, t/m}'
        fi
    done
    echo ""
    echo "results: $OUT"
} | tee -a "$SUMMARY"
