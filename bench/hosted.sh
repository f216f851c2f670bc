#!/usr/bin/env bash
# Hosted sign-in and SAML benchmark: at the demo pool's domain (`tokenbridge demo`, its hosted_ui
# in demo.json), code redemptions per second (POST /oauth2/token, authorization_code + PKCE
# verifier) and hosted password sign-ins per second (GET /oauth2/authorize + POST /login) against
# the argon2 bound, with the server's CPU per operation; then SAML Response verifications per
# second in process (`cargo bench -p tokenbridge-saml --bench verify`).
#
#   bench/hosted.sh                            # both flows, 10 s each, 32 workers, and SAML
#   bench/hosted.sh --seconds 5 --concurrency 16 --flows redeem
#   bench/hosted.sh --no-build --no-saml       # use what is already built; no SAML figures
#   bench/hosted.sh --algorithm ES256          # the pool signs with ES256 (default RS256, as Cognito)
#   bench/hosted.sh --data-root /dev/shm       # the demo's database on tmpfs (the disk out of the way)
#
# `tokenbridge-bench hosted` drives both flows, closed loop, 1 s warm-up then the measured
# seconds, against one `tokenbridge demo` on a free loopback port with a fresh data directory.
# redeem: the codes are minted before the timed part (one password sign-in per worker for a
# sign-in session cookie, then SSO authorizes with it, each code with its own S256 challenge),
# each redeemed once; only a 200 carrying id, access and refresh tokens counts. password: a fresh
# browser each time (sign-in page, its anti-forgery token and cookie, then the form); only a 302
# to the redirect_uri with a code and the state sent counts. The argon2 bound: the verification's
# rate on one core with tokenbridge's own parameters and code (in the bench process), times the
# cores the server may run on. A server answering errors is reported with what it answered.
# The load average is printed before each figure. Everything it starts is stopped on exit.
#
# Results go to bench/results/hosted-<timestamp>/. Needs: cargo, curl, jq.
set -euo pipefail

SECONDS_EACH=10
WARMUP=1
CONCURRENCY=32
THREADS=1
FLOWS="redeem password"
ARGON2_SECONDS=3
BUILD=1
SAML=1
ALGORITHM="RS256"
DATA_ROOT="${TMPDIR:-/tmp}"

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH="$2"; shift ;;
        --concurrency) CONCURRENCY="$2"; shift ;;
        --threads) THREADS="$2"; shift ;;
        --flows) FLOWS="$2"; shift ;;
        --argon2-seconds) ARGON2_SECONDS="$2"; shift ;;
        --algorithm) ALGORITHM="$2"; shift ;;
        --data-root) DATA_ROOT="$2"; shift ;;
        --no-build) BUILD=0 ;;
        --no-saml) SAML=0 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done
for n in "$SECONDS_EACH" "$CONCURRENCY" "$THREADS" "$ARGON2_SECONDS"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || { echo "not a positive number: $n" >&2; exit 2; }
done
[ "$SECONDS_EACH" -le 60 ] || { echo "--seconds is capped at 60" >&2; exit 2; }
[ "$ARGON2_SECONDS" -le 10 ] || { echo "--argon2-seconds is capped at 10" >&2; exit 2; }
[ "$CONCURRENCY" -le 1024 ] || { echo "--concurrency is capped at 1024" >&2; exit 2; }
case "$ALGORITHM" in RS256|ES256|EdDSA) ;; *) echo "unknown algorithm: $ALGORITHM" >&2; exit 2 ;; esac
for f in $FLOWS; do
    case "$f" in redeem|password) ;; *) echo "unknown flow: $f" >&2; exit 2 ;; esac
done
[ -d "$DATA_ROOT" ] || { echo "--data-root $DATA_ROOT is not a directory" >&2; exit 2; }
NEED="curl jq"
{ [ "$BUILD" = 1 ] || [ "$SAML" = 1 ]; } && NEED="$NEED cargo"
for tool in $NEED; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
OUT="$ROOT/bench/results/hosted-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
BIN="$ROOT/target/release"
BENCH="$BIN/tokenbridge-bench"

# --- processes this script started, stopped on exit ---
SERVER_PID=""
TMP_DIRS=()
trap stop_server_and_remove_tmp_dirs EXIT
trap 'exit 130' INT TERM

build_if_asked "$BUILD" "$OUT/build.log" tokenbridge
# The SAML bench is compiled now, so that no compiling overlaps a measurement.
if [ "$BUILD" = 1 ] && [ "$SAML" = 1 ]; then
    timeout 1800 cargo bench --no-run -p tokenbridge-saml --bench verify >"$OUT/build-saml.log" 2>&1 \
        || { tail -n 20 "$OUT/build-saml.log" >&2; echo "the SAML bench did not build" >&2; exit 1; }
fi

{
    echo "Hosted sign-in and SAML benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:    $(describe_commit)"
    echo "machine:   $(nproc) cores, $(cpu_model)"
    echo "load:      $(load_average) (before)"
    echo "settings:  closed loop, $CONCURRENCY workers, ${WARMUP}s warm-up + ${SECONDS_EACH}s measured per flow;"
    echo "           generator threads $THREADS, on the server's machine; loopback only; the pool signs with $ALGORITHM;"
    echo "           its database in $DATA_ROOT ($(df -T "$DATA_ROOT" | awk 'NR==2{print $2}'))"
} | tee "$SUMMARY"
say_quiet

declare -A RATE P50 P99 ERRS CORES OTHER MS NOTE STATUS

# run_flow FLOW: one measured run against the demo started as SERVER_PID; fills the tables.
run_flow() {
    local flow="$1" json="$OUT/$1.json" txt="$OUT/$1.txt" rc=0
    say ""
    say "--- $flow --- $(load_average) (before)"
    timeout $((SECONDS_EACH + WARMUP + 600)) "$BENCH" hosted --flow "$flow" --demo-json "$DEMO" \
        --concurrency "$CONCURRENCY" --seconds "$SECONDS_EACH" --warmup "$WARMUP" --threads "$THREADS" \
        --argon2-seconds "$ARGON2_SECONDS" --server-pid "$SERVER_PID" --label "tokenbridge $ALGORITHM" --json \
        >"$json" 2>"$txt" || rc=$?
    sed -n '/^tokenbridge-bench hosted/,$p' "$txt" | tee -a "$SUMMARY"
    if [ "$rc" = 0 ] && [ -s "$json" ]; then
        STATUS[$flow]=ok
        RATE[$flow]="$(jq -r '.per_second * 10 | round / 10' "$json")"
        P50[$flow]="$(jq -r '.latency_ms.p50 * 100 | round / 100' "$json")"
        P99[$flow]="$(jq -r '.latency_ms.p99 * 100 | round / 100' "$json")"
        ERRS[$flow]="$(jq -r .errors_total "$json")"
        CORES[$flow]="$(jq -r '.cpu_cores.server // "n/a"' "$json")"
        OTHER[$flow]="$(jq -r '.cpu_cores.other // "n/a"' "$json")"
        MS[$flow]="$(jq -r '.server_cpu_ms_per_op // "n/a"' "$json")"
        NOTE[$flow]=""
        if [ "${ERRS[$flow]}" != 0 ]; then
            NOTE[$flow]="$(jq -r '.error_samples | to_entries | map("\(.key): \(.value)") | join("; ")' "$json")"
        fi
        if [ "$(jq -r .codes_exhausted "$json")" = true ]; then
            NOTE[$flow]="ended early: the codes ran out after $(jq -r .elapsed_s "$json") s. ${NOTE[$flow]}"
        fi
    elif [ "$rc" = 3 ] && [ -s "$json" ]; then
        STATUS[$flow]=failed
        ERRS[$flow]="$(jq -r .errors_total "$json")"
        NOTE[$flow]="none succeeded; answered: $(errors_answered "$json")"
    else
        STATUS[$flow]=error
        NOTE[$flow]="$(why_no_results "$txt" "$rc")"
    fi
}

# --- the demo ---
DATA="$(mktemp -d "$DATA_ROOT/tokenbridge-hosted.XXXXXX")"
TMP_DIRS+=("$DATA")
DEMO="$DATA/demo.json"
if start_demo "$DATA" "$OUT/server.log" --algorithm "$ALGORITHM"; then
    if ! jq -e '.hosted_ui.domain_url and .hosted_ui.client_id' "$DEMO" >/dev/null; then
        for f in $FLOWS; do STATUS[$f]=error; NOTE[$f]="demo.json has no hosted_ui: this build has no hosted sign-in"; done
    else
        case "$(jq -r .hosted_ui.domain_url "$DEMO")" in
            http://127.*|http://localhost*|http://\[::1\]*)
                say "tokenbridge: domain $(jq -r .hosted_ui.domain_url "$DEMO"), client $(jq -r .hosted_ui.client_id "$DEMO"), pid $SERVER_PID"
                for f in $FLOWS; do run_flow "$f"; done ;;
            *) for f in $FLOWS; do STATUS[$f]=error; NOTE[$f]="refusing a non-loopback domain URL"; done ;;
        esac
    fi
else
    for f in $FLOWS; do STATUS[$f]=error; NOTE[$f]="the demo did not start; see $OUT/server.log"; done
fi
stop_server

# --- SAML in process ---
SAML_STATUS="not run (--no-saml)"
if [ "$SAML" = 1 ]; then
    say ""
    say "--- SAML verification in process --- $(load_average) (before)"
    if timeout 1800 cargo bench -p tokenbridge-saml --bench verify >"$OUT/saml-verify.txt" 2>"$OUT/saml-verify.log"; then
        SAML_STATUS=ok
        grep '^SAML' "$OUT/saml-verify.txt" | tee -a "$SUMMARY"
    else
        SAML_STATUS="failed: $(tail -n 1 "$OUT/saml-verify.log")"
        say "$SAML_STATUS"
    fi
fi

# --- summary ---
cell() { # FLOW
    local k="$1"
    case "${STATUS[$k]:-}" in
        ok) printf '%10s %9s %9s %7s %8s %9s %10s' "${RATE[$k]}" "${P50[$k]}" "${P99[$k]}" "${ERRS[$k]}" "${CORES[$k]}" "${OTHER[$k]}" "${MS[$k]}" ;;
        failed) printf '%10s %9s %9s %7s %8s %9s %10s' "FAILED" "-" "-" "${ERRS[$k]}" "-" "-" "-" ;;
        *) printf '%10s %9s %9s %7s %8s %9s %10s' "not run" "-" "-" "-" "-" "-" "-" ;;
    esac
}
{
    echo ""
    echo "load:      $(load_average) (after)"
    echo ""
    echo "=== hosted sign-in at the pool domain: per second (successes only), latency ms, server CPU ==="
    printf '%-9s %10s %9s %9s %7s %8s %9s %10s\n' flow "per s" "p50 ms" "p99 ms" errors "srv cpu" "other cpu" "srv ms/op"
    for f in $FLOWS; do printf '%-9s %s\n' "$f" "$(cell "$f")"; done
    echo "(redeem: code redemptions; password: sign-ins, 2 HTTP requests each; srv cpu: the server's cores over"
    echo " the measured seconds; other cpu: cores used by anything but the server and the generator — above ~0.1"
    echo " the machine was not quiet and the figures are noisy)"
    echo ""
    echo "notes:"
    any=0
    for f in $FLOWS; do
        if [ -n "${NOTE[$f]:-}" ]; then echo "  $f: ${NOTE[$f]}"; any=1; fi
    done
    [ "$any" = 1 ] || echo "  none"
    if [ "${STATUS[password]:-}" = ok ] && jq -e .argon2 "$OUT/password.json" >/dev/null 2>&1; then
        jq -r '.argon2 as $a | "argon2 bound: \($a.per_core_per_second)/s per core (\($a.cpu_ms_per_verification) ms of CPU each; argon2id m=\($a.parameters.memory_kib) KiB t=\($a.parameters.iterations) p=\($a.parameters.parallelism), \($a.parameters.source)) × \($a.server_cores) server cores = \($a.bound_per_second)/s\n  (\($a.server_cores) verifications at once measured \($a.measured_on_all_cores_per_second)/s); hosted password sign-ins \(.per_second)/s = \((100 * .per_second / $a.bound_per_second) | round)% of the bound; at the \(.cpu_cores.server) cores the server got: \($a.bound_at_server_cores_used)/s"' "$OUT/password.json"
    fi
    echo ""
    echo "SAML (cargo bench -p tokenbridge-saml --bench verify, one thread, 2 s per line): $SAML_STATUS"
    [ "$SAML_STATUS" = ok ] && grep '^SAML' "$OUT/saml-verify.txt" | sed 's/^/  /'
    echo ""
    echo "results: $OUT"
} | tee -a "$SUMMARY"
