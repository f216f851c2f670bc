#!/usr/bin/env bash
# Token-exchange benchmark: for each signing algorithm, start `tokenbridge demo` on a free
# loopback port with a fresh data directory (embedded SQLite, one-time use on), measure the
# maximum exchange rate (closed loop), then latency at half that rate (open loop), and print a
# summary. Loopback only; every step is bounded in time; the servers it starts are stopped.
#
#   bench/run.sh                       # RS256 and ES256, 15 s max-rate run, 10 s half-rate run
#   bench/run.sh --profile             # also perf-profile the server during the max-rate run
#   bench/run.sh --algorithms "ES256" --duration 10 --concurrency 32
#   bench/run.sh --data-root /dev/shm  # databases on tmpfs (takes the disk out of the picture)
#   bench/run.sh --postgres postgres://postgres@127.0.0.1:5432/test   # PostgreSQL instead of SQLite
#                                      # (a fresh database per run, created and dropped with psql)
#
# Results (JSON lines, server logs, profiles, summary.txt) go to bench/results/<timestamp>/.
# Needs: cargo, curl, jq; perf (Debian: linux-perf) for --profile, which it does not install.
set -euo pipefail

ALGORITHMS="RS256 ES256"
DURATION=15          # closed-loop (max throughput) seconds
HALF_DURATION=10     # open-loop (half rate) seconds
CONCURRENCY=64
PROBE_SECONDS=3      # unmeasured closed-loop probe before the max run: warms up, sizes the token supply
PROFILE=0
BUILD=1
DATA_ROOT="${TMPDIR:-/tmp}"
THREADS=1            # generator runtime threads
POSTGRES=""          # admin URL of a PostgreSQL server: use PostgreSQL instead of SQLite

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) PROFILE=1 ;;
        --no-build) BUILD=0 ;;
        --algorithms) ALGORITHMS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --half-duration) HALF_DURATION="$2"; shift ;;
        --concurrency) CONCURRENCY="$2"; shift ;;
        --threads) THREADS="$2"; shift ;;
        --data-root) DATA_ROOT="$2"; shift ;;
        --postgres) POSTGRES="$2"; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done
for n in "$DURATION" "$HALF_DURATION" "$CONCURRENCY" "$THREADS"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || { echo "not a positive number: $n" >&2; exit 2; }
done
[ "$DURATION" -le 120 ] && [ "$HALF_DURATION" -le 120 ] || { echo "durations are capped at 120 s" >&2; exit 2; }
for tool in cargo curl jq; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
OUT="$ROOT/bench/results/$STAMP"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
BIN="$ROOT/target/release"

# --- build ---
if [ "$BUILD" = 1 ]; then
    build_release "$OUT/build.log"
    tail -n 1 "$OUT/build.log"
fi
[ -x "$BIN/tokenbridge" ] && [ -x "$BIN/tokenbridge-bench" ] || { echo "release binaries missing" >&2; exit 1; }

# --- perf, if asked and usable ---
PERF_EVENT=""
PERF_NOTE=""
if [ "$PROFILE" = 1 ]; then
    if ! command -v perf >/dev/null; then
        PERF_NOTE="perf not installed (Debian: apt-get install linux-perf); no profile"
    elif ! perf stat -e instructions true >/dev/null 2>"$OUT/perf-check.txt"; then
        PERF_NOTE="perf cannot count here ($(tail -n 1 "$OUT/perf-check.txt")); no profile"
    else
        # In a VM the hardware counters are often '<not supported>'; the software clock still samples.
        if perf stat -e instructions true 2>&1 | grep -q "not supported"; then
            PERF_NOTE="hardware counters not supported here: sampling the cpu-clock software event"
        fi
        if perf record -q -e cpu-clock -o "$OUT/perf-check.data" -- true >/dev/null 2>&1; then
            PERF_EVENT="cpu-clock"
        else
            PERF_NOTE="perf record does not work here (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null)); no profile"
        fi
        rm -f "$OUT/perf-check.data"
    fi
fi

# --- the machine ---
{
    echo "tokenbridge exchange benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:    $(describe_commit)"
    echo "machine:   $(nproc) cores, $(cpu_model), $(free -g | awk '/^Mem:/{print $2}') GiB"
    echo "kernel:    $(uname -r); rustc $(rustc --version 2>/dev/null | cut -d' ' -f2)"
    echo "data root: $DATA_ROOT ($(df -T "$DATA_ROOT" | awk 'NR==2{print $2}'))"
    echo "load:      $(load_average) (before)"
    echo "settings:  max run ${DURATION}s closed-loop c=$CONCURRENCY; half-rate run ${HALF_DURATION}s open-loop; generator threads $THREADS"
    if [ -n "$PERF_NOTE" ]; then echo "profile:   $PERF_NOTE"; fi
} | tee "$SUMMARY"

SERVER_PID=""
DATA_DIR=""
DB=""
cleanup() {
    stop_server
    [ -n "$DATA_DIR" ] && rm -rf "$DATA_DIR"
    DATA_DIR=""
    if [ -n "$DB" ]; then
        psql "$POSTGRES" -XqAtc "DROP DATABASE IF EXISTS $DB" </dev/null || true
    fi
    DB=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench() { # label, extra args… ; prints the JSON line
    timeout 900 "$BIN/tokenbridge-bench" exchange --demo-json "$DATA_DIR/demo.json" --server-pid "$SERVER_PID" \
        --concurrency "$CONCURRENCY" --threads "$THREADS" --json "$@"
}

# Each run's figures, keyed ALG/max (the closed-loop maximum) and ALG/half (open loop at half of it).
declare -A RATE P50 P99 ERRORS MSX CORES

# keep_run ALG RUN: shows the run's summary and keeps its rate, latency percentiles and errors.
keep_run() {
    local key="$1/$2" j="$OUT/$1-$2.json"
    sed -n '/^tokenbridge-bench/,$p' "$OUT/$1-$2.txt" | tee -a "$SUMMARY"
    RATE[$key]="$(jq -r .throughput "$j")"
    P50[$key]="$(jq -r .latency_ms.p50 "$j")"
    P99[$key]="$(jq -r .latency_ms.p99 "$j")"
    ERRORS[$key]="$(jq -r '[.errors[]] | add // 0' "$j")"
}

for ALG in $ALGORITHMS; do
    say ""
    say "=== $ALG ==="
    DATA_DIR="$(mktemp -d "$DATA_ROOT/tokenbridge-bench-$ALG.XXXXXX")"
    STORAGE=()
    if [ -n "$POSTGRES" ]; then
        DB="tb_bench_$(echo "$ALG" | tr 'A-Z' 'a-z')_$$"
        psql "$POSTGRES" -XqAtc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" </dev/null
        STORAGE=(--storage-url "${POSTGRES%/*}/$DB")
        say "storage: PostgreSQL database $DB"
    fi
    start_demo "$DATA_DIR" "$OUT/server-$ALG.log" --algorithm "$ALG" "${STORAGE[@]}" || exit 1
    echo "server pid $SERVER_PID at $BASE, data $DATA_DIR"

    # 1. Probe: a short closed-loop run, unmeasured, to warm up and size the token supply.
    bench --label "$ALG probe" --duration "$PROBE_SECONDS" --tokens 6000 >"$OUT/$ALG-probe.json" 2>"$OUT/$ALG-probe.txt"
    PROBE_RATE="$(jq -r '.throughput' "$OUT/$ALG-probe.json")"
    TOKENS="$(awk -v r="$PROBE_RATE" -v d="$DURATION" -v c="$CONCURRENCY" 'BEGIN{n=int(r*1.3*d)+c+500; if(n>60000)n=60000; print n}')"
    echo "probe: $PROBE_RATE exchanges/s; minting $TOKENS tokens for the ${DURATION}s run"

    # 2. Maximum throughput, closed loop (optionally under perf).
    PERF_PID=""
    if [ -n "$PERF_EVENT" ]; then
        # Sample the middle of the measured phase (minting comes first; the bench prints when it starts).
        (
            for _ in $(seq 1200); do grep -q '^measuring' "$OUT/$ALG-max.txt" 2>/dev/null && break; sleep 0.25; done
            sleep 2
            timeout $((DURATION + 30)) perf record -q -e "$PERF_EVENT" -F 999 -p "$SERVER_PID" -o "$OUT/perf-$ALG.data" \
                -- sleep $((DURATION > 6 ? DURATION - 4 : 2)) >/dev/null 2>&1 || true
        ) &
        PERF_PID=$!
    fi
    bench --label "$ALG max" --duration "$DURATION" --tokens "$TOKENS" >"$OUT/$ALG-max.json" 2>"$OUT/$ALG-max.txt"
    [ -n "$PERF_PID" ] && wait "$PERF_PID" || true
    keep_run "$ALG" max
    MSX[$ALG]="$(jq -r '.server_cpu_ms_per_exchange // "n/a"' "$OUT/$ALG-max.json")"
    CORES[$ALG]="$(jq -r '.cpu_cores.server // "n/a"' "$OUT/$ALG-max.json")"

    # 3. Latency at half the measured maximum, open loop.
    HALF_RATE="$(awk -v r="${RATE[$ALG/max]}" 'BEGIN{h=int(r/2); if(h<1)h=1; print h}')"
    bench --label "$ALG half" --duration "$HALF_DURATION" --rate "$HALF_RATE" --warmup 1 \
        >"$OUT/$ALG-half.json" 2>"$OUT/$ALG-half.txt"
    keep_run "$ALG" half

    # 4. Where the server's time went.
    if [ -n "$PERF_EVENT" ] && [ -s "$OUT/perf-$ALG.data" ]; then
        perf report -i "$OUT/perf-$ALG.data" --stdio --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' \
            >"$OUT/perf-$ALG-threads.txt" || true
        perf report -i "$OUT/perf-$ALG.data" --stdio --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' \
            >"$OUT/perf-$ALG-symbols.txt" || true
        say "--- perf ($PERF_EVENT) of the server during the $ALG max run: by thread ---"
        head -n 6 "$OUT/perf-$ALG-threads.txt" | tee -a "$SUMMARY"
        say "--- by kind of work (symbols grouped) ---"
        awk '
            { pct = $1; sub("%", "", pct); dso = $2; sym = $0; sub(/^[^]]*\] /, "", sym)
              k = "other user space"
              if (dso ~ /kernel/) k = "kernel (syscalls, scheduling, network, file system)"
              else if (sym ~ /aws_lc|bn_|rsaz|ecp_|p256|sha256|sha512|ecdsa|ed25519/) k = "crypto (aws-lc: RSA/ECDSA signing, verification, hashing)"
              else if (sym ~ /sqlite|pcache|Btree|Vdbe|wal|Pager|pager/) k = "SQLite"
              else if (sym ~ /malloc|free|realloc|unlink_chunk|memmove|memcpy|memset|memcmp|rust_dealloc|rust_alloc|rdl_alloc/) k = "allocation and memory copies"
              else if (sym ~ /^syscall|pthread_|park|mio::|[Ww]aker|futex/) k = "thread wake-ups and locks (user side)"
              else if (sym ~ /serde_json|format_escaped|base64|form_urlencoded/) k = "JSON, base64 and form encoding"
              else if (sym ~ /hyper|axum|tower|h1::|http::/) k = "HTTP (hyper, axum)"
              else if (sym ~ /tokio|futures|sqlx|flume|parking_lot|crossbeam/) k = "async runtime, sqlx, channels"
              sum[k] += pct }
            END { for (k in sum) printf "  %6.2f%%  %s\n", sum[k], k }' "$OUT/perf-$ALG-symbols.txt" \
            | sort -rn | tee -a "$SUMMARY"
        say "--- top symbols ---"
        head -n 15 "$OUT/perf-$ALG-symbols.txt" | tee -a "$SUMMARY"
        # Syscall time per server thread during a short extra closed-loop run: shows how long
        # the SQLite writer thread waits (futex), writes the WAL (pwrite64) and checkpoints (fsync).
        if timeout 10 perf trace -s -e fsync -- true >/dev/null 2>&1; then
            (
                for _ in $(seq 1200); do grep -q '^measuring' "$OUT/$ALG-trace.txt" 2>/dev/null && break; sleep 0.25; done
                sleep 1
                timeout 20 perf trace -s -e fsync,fdatasync,pwrite64,futex -p "$SERVER_PID" -- sleep 3 \
                    >"$OUT/perf-trace-$ALG.txt" 2>&1 || true
            ) &
            TRACE_PID=$!
            bench --label "$ALG trace" --duration 6 --tokens 8000 >"$OUT/$ALG-trace.json" 2>"$OUT/$ALG-trace.txt"
            wait "$TRACE_PID" || true
            say "--- syscall time per server thread over 3 s of closed-loop load (perf trace -s; ms) ---"
            say "    (columns: syscall, calls, errors, total ms, min, avg, max, stddev)"
            # Only the busy threads: the runtime workers and the SQLite writer (the one writing the WAL).
            awk '/^ [a-z]/ { if (keep) printf "%s", block; block = $0 "\n"; keep = ($0 ~ /tokio/); next }
                 /^ +(fsync|fdatasync|pwrite64|futex) / { block = block $0 "\n"; if ($1 == "pwrite64") keep = 1 }
                 END { if (keep) printf "%s", block }' "$OUT/perf-trace-$ALG.txt" | tee -a "$SUMMARY" || true
        else
            say "(perf trace unavailable: no syscall summary)"
        fi
    fi
    cleanup
done

{
    echo ""
    echo "load:      $(load_average) (after)"
    echo ""
    echo "=== summary (exchanges/s; latency ms) ==="
    printf '%-6s | %10s %8s %8s %6s | %10s %8s %8s %6s | %13s %12s\n' \
        ALG "max rate" p50 p99 errors "half rate" p50 p99 errors "server ms/exch" "server cores"
    for ALG in $ALGORITHMS; do
        printf '%-6s | %10s %8s %8s %6s | %10s %8s %8s %6s | %13s %12s\n' "$ALG" \
            "${RATE[$ALG/max]}" "${P50[$ALG/max]}" "${P99[$ALG/max]}" "${ERRORS[$ALG/max]}" \
            "${RATE[$ALG/half]}" "${P50[$ALG/half]}" "${P99[$ALG/half]}" "${ERRORS[$ALG/half]}" "${MSX[$ALG]}" "${CORES[$ALG]}"
    done
    echo ""
    echo "targets: RS256 >= 2000/s, ES256 >= 8000/s, p99 < 5 ms at half load"
    for ALG in $ALGORITHMS; do
        case "$ALG" in RS256) T=2000 ;; ES256) T=8000 ;; *) T="" ;; esac
        [ -z "$T" ] && continue
        R=$(awk -v m="${RATE[$ALG/max]}" -v t="$T" 'BEGIN{print (m>=t)?"met":"NOT met"}')
        L=$(awk -v p="${P99[$ALG/half]}" 'BEGIN{print (p<5)?"met":"NOT met"}')
        echo "  $ALG: throughput ${RATE[$ALG/max]}/s vs $T/s: $R; p99 at half load ${P99[$ALG/half]} ms vs 5 ms: $L"
    done
    echo ""
    echo "results: $OUT"
} | tee -a "$SUMMARY"
