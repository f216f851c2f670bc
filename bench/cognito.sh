#!/usr/bin/env bash
# Cognito user-pool benchmark: InitiateAuth per second for REFRESH_TOKEN_AUTH, USER_PASSWORD_AUTH
# and CUSTOM_AUTH (two calls per login), with the same client loop (`tokenbridge-bench cognito`,
# raw AWS JSON 1.1) against tokenbridge and two emulators installed from their registries, moto
# (server mode) and cognito-local, side by side in one run.
#
#   bench/cognito.sh                          # every flow on every server, 10 s each, 32 workers
#   bench/cognito.sh --seconds 5 --concurrency 16
#   bench/cognito.sh --servers "moto cognito-local" --flows "refresh password"
#   bench/cognito.sh --no-build --no-install  # use what is already built and installed
#   bench/cognito.sh --algorithm ES256        # tokenbridge signs with ES256 (default RS256, as Cognito)
#
# Servers run one at a time on free loopback ports (tokenbridge: `tokenbridge demo`, its pool,
# client and users from demo.json; each emulator: a pool, an app client allowing
# USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH and CUSTOM_AUTH, and a user with a permanent password,
# made through the admin API by `tokenbridge-bench cognito-setup`). Every run is closed-loop,
# 1 s warm-up then the measured seconds; CUSTOM_AUTH answers on tokenbridge are fresh demo-upstream
# id tokens (one-time use), minted before the timed part. A server that answers with errors is
# reported with what it answered, never as throughput. Everything it starts is stopped on exit.
#
# Installs when missing: moto[server] (pinned) in bench/.venv-peers, cognito-local (pinned) in
# bench/.peers-node. Results go to bench/results/cognito-<timestamp>/.
# Needs: cargo, curl, jq, python3 (with venv), node and npm.
set -euo pipefail

MOTO_VERSION="5.2.5"
COGNITO_LOCAL_VERSION="5.3.0"
SECONDS_EACH=10
WARMUP=1
CONCURRENCY=32
THREADS=1
FLOWS="refresh password custom"
SERVERS="tokenbridge moto cognito-local"
BUILD=1
INSTALL=1
ALGORITHM="RS256"    # tokenbridge's signing algorithm (Cognito signs with RS256)
# The emulators' user (tokenbridge's come from demo.json).
PEER_USER="benchuser"
PEER_PASSWORD="bench-pw-12345"
PEER_REGION="ap-northeast-1"

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH="$2"; shift ;;
        --concurrency) CONCURRENCY="$2"; shift ;;
        --threads) THREADS="$2"; shift ;;
        --flows) FLOWS="$2"; shift ;;
        --servers) SERVERS="$2"; shift ;;
        --no-build) BUILD=0 ;;
        --no-install) INSTALL=0 ;;
        --algorithm) ALGORITHM="$2"; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done
for n in "$SECONDS_EACH" "$CONCURRENCY" "$THREADS"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || { echo "not a positive number: $n" >&2; exit 2; }
done
[ "$SECONDS_EACH" -le 60 ] || { echo "--seconds is capped at 60" >&2; exit 2; }
[ "$CONCURRENCY" -le 1024 ] || { echo "--concurrency is capped at 1024" >&2; exit 2; }
case "$ALGORITHM" in RS256|ES256|EdDSA) ;; *) echo "unknown algorithm: $ALGORITHM" >&2; exit 2 ;; esac
for f in $FLOWS; do
    case "$f" in refresh|password|custom) ;; *) echo "unknown flow: $f" >&2; exit 2 ;; esac
done
for s in $SERVERS; do
    case "$s" in tokenbridge|moto|cognito-local) ;; *) echo "unknown server: $s" >&2; exit 2 ;; esac
done
NEED="curl jq python3"
[ "$BUILD" = 1 ] && NEED="$NEED cargo"
case " $SERVERS " in *" cognito-local "*) NEED="$NEED node npm" ;; esac
for tool in $NEED; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
OUT="$ROOT/bench/results/cognito-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
BIN="$ROOT/target/release"
BENCH="$BIN/tokenbridge-bench"
VENV="$ROOT/bench/.venv-peers"
NODE_DIR="$ROOT/bench/.peers-node"
CL_START="$NODE_DIR/node_modules/cognito-local/lib/bin/start.js"

# --- processes this script started, stopped on exit ---
SERVER_PID=""
TMP_DIRS=()
trap stop_server_and_remove_tmp_dirs EXIT
trap 'exit 130' INT TERM

# --- install the emulators (pinned), only when missing ---
cl_ok() { [ -f "$CL_START" ] && [ "$(jq -r .version "$NODE_DIR/node_modules/cognito-local/package.json" 2>/dev/null)" = "$COGNITO_LOCAL_VERSION" ]; }
case " $SERVERS " in *" moto "*)
    ensure_moto "$VENV" "$MOTO_VERSION" "$INSTALL" "$OUT/install-moto.log" ;;
esac
case " $SERVERS " in *" cognito-local "*)
    if ! cl_ok; then
        [ "$INSTALL" = 1 ] || { echo "cognito-local $COGNITO_LOCAL_VERSION is not in $NODE_DIR (run without --no-install)" >&2; exit 1; }
        echo "installing cognito-local@$COGNITO_LOCAL_VERSION in $NODE_DIR…"
        mkdir -p "$NODE_DIR"
        timeout 900 npm install --prefix "$NODE_DIR" --no-audit --no-fund "cognito-local@$COGNITO_LOCAL_VERSION" \
            >"$OUT/install-cognito-local.log" 2>&1 || { tail -n 20 "$OUT/install-cognito-local.log" >&2; exit 1; }
        cl_ok || { echo "cognito-local $COGNITO_LOCAL_VERSION did not install" >&2; exit 1; }
    fi ;;
esac

# --- build ---
build_if_asked "$BUILD" "$OUT/build.log" "$SERVERS"

{
    echo "Cognito InitiateAuth benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:    $(describe_commit)"
    echo "machine:   $(nproc) cores, $(cpu_model)"
    echo "load:      $(load_average) (before)"
    echo "settings:  closed loop, $CONCURRENCY workers, ${WARMUP}s warm-up + ${SECONDS_EACH}s measured per flow and server;"
    echo "           generator threads $THREADS; one server running at a time; loopback only; tokenbridge signs with $ALGORITHM"
    echo "peers:     moto[server] $MOTO_VERSION (python $("${VENV}/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?')), cognito-local $COGNITO_LOCAL_VERSION (node $(node --version 2>/dev/null || echo '?'))"
} | tee "$SUMMARY"

say_quiet

# The machine's argon2 bound for tokenbridge's password logins (its own parameters and code).
"$BENCH" argon2 --seconds 3 --threads "$(nproc)" --json >"$OUT/argon2.jsonl" 2>"$OUT/argon2.txt" || true
ARGON2_PARAMS="$(tail -n 1 "$OUT/argon2.jsonl" | jq -r '.parameters | "argon2id m=\(.memory_kib) KiB, t=\(.iterations), p=\(.parallelism), \(.hashing_slots) hashing slots"' 2>/dev/null || echo unknown)"
ARGON2_BOUND="$(tail -n 1 "$OUT/argon2.jsonl" | jq -r '.verifications_per_second' 2>/dev/null || echo "")"
ARGON2_THREADS="$(tail -n 1 "$OUT/argon2.jsonl" | jq -r '.threads' 2>/dev/null || echo "")"
ARGON2_OTHER="$(tail -n 1 "$OUT/argon2.jsonl" | jq -r '.other_cores // "n/a"' 2>/dev/null || echo "n/a")"
# CPU time per verification with every core verifying (two at once cost more each than one
# alone: memory bandwidth), and the bound it gives: hardly moved by other work on the machine,
# unlike the measured rate.
ARGON2_CPU_MS="$(tail -n 1 "$OUT/argon2.jsonl" | jq -r '.cpu_ms_per_verification // empty' 2>/dev/null || echo "")"
ARGON2_CPU_BOUND="$(tail -n 1 "$OUT/argon2.jsonl" | jq -r '.cpu_bound_per_second // empty' 2>/dev/null || echo "")"
say "argon2:    tokenbridge hashes with $ARGON2_PARAMS; this machine verifies ${ARGON2_BOUND:-?}/s on ${ARGON2_THREADS:-?} threads (other processes meanwhile: $ARGON2_OTHER cores);"
say "           ${ARGON2_CPU_MS:-?} ms of CPU per verification: at most ${ARGON2_CPU_BOUND:-?}/s on $(nproc) cores"

declare -A RATE P50 P99 ERRS CORES OTHER NOTE STATUS

# run_flow SERVER FLOW ARGS…: one measured run; fills the tables.
run_flow() {
    local server="$1" flow="$2"
    shift 2
    local key="$flow/$server" json="$OUT/$server-$flow.json" txt="$OUT/$server-$flow.txt" rc=0
    echo "--- $server, $flow ---"
    timeout $((SECONDS_EACH + WARMUP + 720)) "$BENCH" cognito --flow "$flow" --concurrency "$CONCURRENCY" \
        --seconds "$SECONDS_EACH" --warmup "$WARMUP" --threads "$THREADS" --server-pid "$SERVER_PID" \
        --label "$server" --json "$@" >"$json" 2>"$txt" || rc=$?
    sed -n '/^tokenbridge-bench cognito/,$p' "$txt"
    if [ "$rc" = 0 ] && [ -s "$json" ]; then
        STATUS[$key]=ok
        RATE[$key]="$(jq -r '.logins_per_s * 10 | round / 10' "$json")"
        P50[$key]="$(jq -r '.latency_ms.p50 * 100 | round / 100' "$json")"
        P99[$key]="$(jq -r '.latency_ms.p99 * 100 | round / 100' "$json")"
        ERRS[$key]="$(jq -r .errors_total "$json")"
        CORES[$key]="$(jq -r '.cpu_cores.server // "n/a"' "$json")"
        OTHER[$key]="$(jq -r '.cpu_cores.other // "n/a"' "$json")"
        NOTE[$key]=""
        if [ "${ERRS[$key]}" != 0 ]; then
            NOTE[$key]="$(jq -r '.error_samples | to_entries | map("\(.key): \(.value)") | join("; ")' "$json")"
        fi
        if [ "$(jq -r .answers_exhausted "$json")" = true ]; then
            NOTE[$key]="ended early: answers ran out after $(jq -r .elapsed_s "$json") s. ${NOTE[$key]}"
        fi
    elif [ "$rc" = 3 ] && [ -s "$json" ]; then
        STATUS[$key]=failed
        ERRS[$key]="$(jq -r .errors_total "$json")"
        NOTE[$key]="no login succeeded; answered: $(errors_answered "$json")"
    else
        STATUS[$key]=error
        NOTE[$key]="$(why_no_results "$txt" "$rc")"
    fi
}

# skip_server SERVER WHY: every flow of SERVER reported as not run.
skip_server() {
    local f
    for f in $FLOWS; do STATUS["$f/$1"]=error; NOTE["$f/$1"]="$2"; done
}

# --- tokenbridge ---
bench_tokenbridge() {
    local data log="$OUT/server-tokenbridge.log" demo pw_user custom_user
    data="$(mktemp -d "${TMPDIR:-/tmp}/tokenbridge-cognito.XXXXXX")"
    TMP_DIRS+=("$data")
    start_demo "$data" "$log" --algorithm "$ALGORITHM" \
        || { skip_server tokenbridge "the demo did not start; see $log"; stop_server; return; }
    demo="$data/demo.json"
    if ! jq -e '.cognito.endpoint and .cognito.client_id' "$demo" >/dev/null; then
        skip_server tokenbridge "demo.json has no cognito object: this build has no Cognito user-pool API"
        stop_server
        return
    fi
    case "$(jq -r .cognito.endpoint "$demo")" in
        http://127.*|http://localhost*|http://\[::1\]*) ;;
        *) skip_server tokenbridge "refusing non-loopback cognito endpoint"; stop_server; return ;;
    esac
    say "tokenbridge: pool $(jq -r .cognito.user_pool_id "$demo") at $(jq -r .cognito.endpoint "$demo"), pid $SERVER_PID"
    # Password and refresh: the first linked user with a local password (alice); custom: erin
    # (no password, CUSTOM_AUTH only) when the demo has her, else that same user.
    pw_user="$(jq -r '[.users[] | select(.password != null and .expect == "linked")][0].username' "$demo")"
    custom_user="$(jq -r '([.users[] | select(.username == "erin" and .expect == "linked")][0].username) // empty' "$demo")"
    custom_user="${custom_user:-$pw_user}"
    local f
    for f in $FLOWS; do
        case "$f" in
            custom)
                # Size the answer supply from a short probe (its answers are spent, untimed).
                local probe="$OUT/tokenbridge-custom-probe" answers rate
                timeout 900 "$BENCH" cognito --flow custom --demo-json "$demo" --username "$custom_user" \
                    --concurrency "$CONCURRENCY" --threads "$THREADS" --seconds 2 --answers 3000 --json \
                    >"$probe.json" 2>"$probe.txt" || true
                rate="$(jq -r '.logins_per_s // 0' "$probe.json" 2>/dev/null || echo 0)"
                answers="$(awk -v r="${rate:-0}" -v s="$((SECONDS_EACH + WARMUP))" -v c="$CONCURRENCY" \
                    'BEGIN{n=int(r*1.3*s)+c+500; if(n<1000)n=1000; if(n>60000)n=60000; print n}')"
                echo "custom probe: ${rate:-?} logins/s; preparing $answers answers"
                run_flow tokenbridge custom --demo-json "$demo" --username "$custom_user" --answers "$answers"
                ;;
            *) run_flow tokenbridge "$f" --demo-json "$demo" --username "$pw_user" ;;
        esac
    done
    stop_server
}

# --- the emulators: a pool, a client and a user through the admin API ---
# setup_peer NAME ENDPOINT: creates them; sets PEER_POOL and PEER_CLIENT.
setup_peer() {
    local name="$1" endpoint="$2" out="$OUT/setup-$1.json"
    if ! timeout 60 "$BENCH" cognito-setup --endpoint "$endpoint" --region "$PEER_REGION" \
        --username "$PEER_USER" --password "$PEER_PASSWORD" >"$out" 2>"$OUT/setup-$name.txt"; then
        skip_server "$name" "setup failed: $(tail -n 1 "$OUT/setup-$name.txt")"
        return 1
    fi
    PEER_POOL="$(jq -r .user_pool_id "$out")"
    PEER_CLIENT="$(jq -r .client_id "$out")"
    say "$name: pool $PEER_POOL, client $PEER_CLIENT at $endpoint, pid $SERVER_PID"
}

bench_peer_flows() { # NAME ENDPOINT
    local name="$1" endpoint="$2" f
    for f in $FLOWS; do
        # The emulators are given one fixed answer: what they do with CUSTOM_AUTH is the result.
        run_flow "$name" "$f" --endpoint "$endpoint" --region "$PEER_REGION" --user-pool-id "$PEER_POOL" \
            --client-id "$PEER_CLIENT" --username "$PEER_USER" --password "$PEER_PASSWORD" \
            --custom-answer "tokenbridge-bench-answer"
    done
}

bench_moto() {
    local log="$OUT/server-moto.log"
    if start_moto "$VENV" "$log" && setup_peer moto "$MOTO_URL"; then
        bench_peer_flows moto "$MOTO_URL"
    else
        [ -n "${STATUS[${FLOWS%% *}/moto]:-}" ] || skip_server moto "moto did not start; see $log"
    fi
    stop_server
}

bench_cognito_local() {
    local port dir log="$OUT/server-cognito-local.log"
    port="$(free_port)"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/cognito-local.XXXXXX")"
    TMP_DIRS+=("$dir")
    # Its data (.cognito/) lives in its working directory. Plain usernames, as in the other
    # servers' pools (its default makes usernames email addresses).
    mkdir -p "$dir/.cognito"
    echo '{"UserPoolDefaults": {"UsernameAttributes": []}}' >"$dir/.cognito/config.json"
    (cd "$dir" && PORT="$port" HOST=127.0.0.1 exec node "$CL_START") >"$log" 2>&1 &
    SERVER_PID=$!
    if wait_http "http://127.0.0.1:$port/" "$log" cognito-local && setup_peer cognito-local "http://127.0.0.1:$port"; then
        bench_peer_flows cognito-local "http://127.0.0.1:$port"
    else
        [ -n "${STATUS[${FLOWS%% *}/cognito-local]:-}" ] || skip_server cognito-local "cognito-local did not start; see $log"
    fi
    stop_server
}

for s in $SERVERS; do
    say ""
    say "=== $s ==="
    case "$s" in
        tokenbridge) bench_tokenbridge ;;
        moto) bench_moto ;;
        cognito-local) bench_cognito_local ;;
    esac
done

# --- summary ---
cell() { # KEY: "rate p50 p99 errors cores"
    local k="$1"
    case "${STATUS[$k]:-}" in
        ok) printf '%10s %9s %9s %7s %8s %9s' "${RATE[$k]}" "${P50[$k]}" "${P99[$k]}" "${ERRS[$k]}" "${CORES[$k]}" "${OTHER[$k]}" ;;
        failed) printf '%10s %9s %9s %7s %8s %9s' "FAILED" "-" "-" "${ERRS[$k]}" "-" "-" ;;
        *) printf '%10s %9s %9s %7s %8s %9s' "not run" "-" "-" "-" "-" "-" ;;
    esac
}
best_peer() { # FLOW: "rate name" of the faster emulator that succeeded, or nothing
    local f="$1" s best="" name=""
    for s in moto cognito-local; do
        [ "${STATUS[$f/$s]:-}" = ok ] || continue
        if [ -z "$best" ] || awk -v a="${RATE[$f/$s]}" -v b="$best" 'BEGIN{exit !(a>b)}'; then
            best="${RATE[$f/$s]}"; name="$s"
        fi
    done
    [ -n "$best" ] && echo "$best $name"
}
{
    echo ""
    echo "load:      $(load_average) (after)"
    echo ""
    echo "=== InitiateAuth: logins/s (successes only; custom = InitiateAuth + RespondToAuthChallenge), latency ms per login ==="
    printf '%-9s %-14s %10s %9s %9s %7s %8s %9s\n' flow server "logins/s" "p50 ms" "p99 ms" errors "srv cpu" "other cpu"
    for f in $FLOWS; do
        for s in $SERVERS; do
            printf '%-9s %-14s %s\n' "$f" "$s" "$(cell "$f/$s")"
        done
    done
    echo ""
    echo "(srv cpu: the server's cores over the measured seconds; other cpu: cores used by anything but the server"
    echo " and the generator meanwhile — above ~0.1 the machine was not quiet and the figures are noisy)"
    echo ""
    echo "notes (errors, failures, what a server answered):"
    any=0
    for f in $FLOWS; do
        for s in $SERVERS; do
            if [ -n "${NOTE[$f/$s]:-}" ]; then echo "  $f / $s: ${NOTE[$f/$s]}"; any=1; fi
        done
    done
    [ "$any" = 1 ] || echo "  none"
    echo ""
    case " $FLOWS " in *" password "*)
        echo "password: tokenbridge verifies with $ARGON2_PARAMS (crates/core/src/password.rs);"
        echo "  this machine's argon2 bound: ${ARGON2_BOUND:-?} verifications/s measured on ${ARGON2_THREADS:-?} threads (tokenbridge-bench argon2;"
        echo "  other processes used $ARGON2_OTHER cores meanwhile); ${ARGON2_CPU_MS:-?} ms of CPU each, so at most ${ARGON2_CPU_BOUND:-?}/s on $(nproc) idle cores."
        echo "  moto $MOTO_VERSION and cognito-local $COGNITO_LOCAL_VERSION compare stored plain-text passwords (no hashing)."
        if [ "${STATUS[password/tokenbridge]:-}" = ok ]; then
            tb_ms="$(jq -r '.server_cpu_ms_per_login // empty' "$OUT/tokenbridge-password.json")"
            if [ -n "$ARGON2_BOUND" ]; then
                awk -v r="${RATE[password/tokenbridge]}" -v b="$ARGON2_BOUND" \
                    'BEGIN{printf "  tokenbridge: %s logins/s = %.0f%% of the measured argon2 rate\n", r, 100*r/b}'
            fi
            if [ -n "$tb_ms" ] && [ -n "$ARGON2_CPU_MS" ]; then
                awk -v t="$tb_ms" -v a="$ARGON2_CPU_MS" -v b="${ARGON2_CPU_BOUND:-0}" -v r="${RATE[password/tokenbridge]}" \
                    'BEGIN{printf "  tokenbridge: %.2f ms of server CPU per password login, %.0f%% of it the argon2 verification (%.2f ms);\n", t, 100*a/t, a;
                           printf "  %s logins/s = %.0f%% of the idle-machine argon2 bound (%s/s)\n", r, (b>0)?100*r/b:0, b}'
            fi
        fi ;;
    esac
    case " $FLOWS " in *" refresh "*)
        peer="$(best_peer refresh || true)"
        if [ "${STATUS[refresh/tokenbridge]:-}" = ok ] && [ -n "$peer" ]; then
            awk -v r="${RATE[refresh/tokenbridge]}" -v p="${peer% *}" -v n="${peer#* }" \
                'BEGIN{x=r/p; printf "refresh: tokenbridge %s/s = %.1fx the faster emulator (%s, %s/s); target >= 10x: %s\n", r, x, n, p, (x>=10)?"met":"NOT met"}'
        else
            echo "refresh: no ratio (tokenbridge or both emulators did not complete the refresh flow)"
        fi ;;
    esac
    echo ""
    echo "results: $OUT"
} | tee -a "$SUMMARY"
