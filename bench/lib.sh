# shellcheck shell=bash
# Shared by the bench scripts (sourced, not run). They set SUMMARY (the results' summary.txt),
# BIN (target/release) and SERVER_PID (the one server running, or empty), which these use.

# say TEXT…: prints TEXT and adds it to the summary.
say() { echo "$@" | tee -a "$SUMMARY"; }

# build_release LOG: builds tokenbridge and tokenbridge-bench (release, bounded in time, output to
# LOG); exits the script when the build fails.
build_release() {
    local log="$1"
    echo "building (release)…"
    if ! timeout 1800 cargo build --release -p tokenbridge -p tokenbridge-bench >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "build failed (log: $log); --no-build uses the binaries already in target/release" >&2
        exit 1
    fi
}

# build_if_asked BUILD LOG SERVERS: builds when BUILD is 1, then checks the bench binary and, when
# SERVERS names tokenbridge, the server binary are there ($BENCH, $BIN/tokenbridge).
build_if_asked() {
    if [ "$1" = 1 ]; then build_release "$2"; fi
    [ -x "$BENCH" ] || { echo "$BENCH missing" >&2; exit 1; }
    case " $3 " in *" tokenbridge "*) [ -x "$BIN/tokenbridge" ] || { echo "$BIN/tokenbridge missing" >&2; exit 1; } ;; esac
}

# For the summaries' headers: the commit measured, the processor, the load averages.
describe_commit() {
    echo "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
}
cpu_model() { grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'; }
load_average() { uptime | sed 's/.*load average/load average/'; }

# say_quiet: is the machine quiet? Says how many cores were busy over 2 s (before anything of
# ours runs), with a warning when other work is running.
say_quiet() {
    local a b busy
    a="$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)"; sleep 2
    b="$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)"
    busy="$(awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", (b-a)/hz/2}')"
    say "quiet:     $busy cores busy before the runs$(awk -v x="$busy" 'BEGIN{if (x>0.2) print " — NOT quiet: other work is running, the figures will be noisy"}')"
}

# stop_server: stops the server started as $SERVER_PID (TERM, then KILL after 5 s) and reaps it.
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

# stop_server_and_remove_tmp_dirs: the EXIT trap of the scripts that keep their servers' data
# directories in TMP_DIRS.
stop_server_and_remove_tmp_dirs() {
    stop_server
    for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done
    TMP_DIRS=()
}

# wait_for_demo DATA_DIR LOG: waits (up to 30 s) until the demo started as $SERVER_PID has
# written DATA_DIR/demo.json and answers /healthz; sets BASE; fails (status 1, saying why) if the
# server dies, never becomes healthy, or is not on loopback.
wait_for_demo() {
    local dir="$1" log="$2"
    BASE=""
    for _ in $(seq 300); do
        if [ -s "$dir/demo.json" ]; then
            BASE="$(jq -r .base_url "$dir/demo.json" 2>/dev/null || true)"
            [ -n "$BASE" ] && curl -fsS --max-time 2 "$BASE/healthz" >/dev/null 2>&1 && break
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; see $log" >&2; return 1; }
        sleep 0.1
        BASE=""
    done
    [ -n "$BASE" ] || { echo "server did not become healthy in 30 s" >&2; return 1; }
    case "$BASE" in
        http://127.*|http://localhost*|http://\[::1\]*) ;;
        *) echo "refusing non-loopback $BASE" >&2; return 1 ;;
    esac
}

# start_demo DATA_DIR LOG DEMO-ARGS…: starts `tokenbridge demo` with DATA_DIR and DEMO-ARGS (e.g.
# --algorithm) on a free loopback port (port 0: the kernel picks it, demo.json tells), output to
# LOG, as SERVER_PID; then wait_for_demo (sets BASE; fails if the demo does not come up).
start_demo() {
    local dir="$1" log="$2"
    shift 2
    "$BIN/tokenbridge" demo --listen 127.0.0.1:0 --data-dir "$dir" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    wait_for_demo "$dir" "$log"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_http URL LOG NAME: until anything answers HTTP at URL (up to 30 s), while SERVER_PID lives.
wait_http() {
    local url="$1" log="$2" name="$3" code
    for _ in $(seq 300); do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "$url" 2>/dev/null || true)"
        [ -n "$code" ] && [ "$code" != 000 ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "$name exited; see $log" >&2; return 1; }
        sleep 0.1
    done
    echo "$name did not answer in 30 s; see $log" >&2
    return 1
}

# The JSON and text output of a `tokenbridge-bench` run, in the scripts' notes:
# errors_answered JSON: the errors by kind with their counts, and a sample answer of each kind.
errors_answered() {
    echo "$(jq -r '[.errors | to_entries[] | "\(.key) ×\(.value)"] | join(", ")' "$1") — e.g. $(jq -r '.error_samples | to_entries | map(.value) | join(" / ")' "$1")"
}
# why_no_results TXT STATUS: why a run gave no results: its last `tokenbridge-bench: ` error line
# in TXT (its stderr), else its exit status.
why_no_results() {
    local why
    why="$(grep '^tokenbridge-bench: ' "$1" | tail -n 1 | sed 's/^tokenbridge-bench: //' || true)"
    echo "${why:-exit status $2; see $1}"
}

# moto_installed VENV VERSION: moto[server] VERSION is what the venv VENV holds.
moto_installed() {
    [ -x "$1/bin/moto_server" ] && [ "$("$1/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" = "$2" ]
}

# ensure_moto VENV VERSION INSTALL LOG: makes sure the venv VENV holds moto[server]==VERSION,
# installing it (pinned, through pip in that venv; output to LOG) when it is missing and INSTALL
# is 1; exits the script when it is missing and cannot be installed.
ensure_moto() {
    local venv="$1" version="$2" install="$3" log="$4"
    moto_installed "$venv" "$version" && return 0
    [ "$install" = 1 ] || { echo "moto $version is not in $venv (run without --no-install)" >&2; exit 1; }
    echo "installing moto[server]==$version in $venv…"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    timeout 900 "$venv/bin/pip" install -q "moto[server]==$version" >"$log" 2>&1 \
        || { tail -n 20 "$log" >&2; exit 1; }
    moto_installed "$venv" "$version" || { echo "moto $version did not install" >&2; exit 1; }
}

# start_moto VENV LOG: moto_server of the venv VENV on a free loopback port, output to LOG, as
# SERVER_PID; sets MOTO_URL (http://127.0.0.1:PORT); fails if it does not answer within 30 s.
start_moto() {
    local port
    port="$(free_port)"
    "$1/bin/moto_server" -H 127.0.0.1 -p "$port" >"$2" 2>&1 &
    SERVER_PID=$!
    MOTO_URL="http://127.0.0.1:$port"
    wait_http "$MOTO_URL/" "$2" moto
}
