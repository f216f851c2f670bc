# shellcheck shell=bash
# Shared by the bench scripts (sourced, not run).

# wait_for_demo DATA_DIR LOG: waits (up to 30 s) until the demo started as $SERVER_PID has
# written DATA_DIR/demo.json and answers /healthz; sets BASE; exits if the server dies, never
# becomes healthy, or is not on loopback.
wait_for_demo() {
    local dir="$1" log="$2"
    BASE=""
    for _ in $(seq 300); do
        if [ -s "$dir/demo.json" ]; then
            BASE="$(jq -r .base_url "$dir/demo.json" 2>/dev/null || true)"
            [ -n "$BASE" ] && curl -fsS --max-time 2 "$BASE/healthz" >/dev/null 2>&1 && break
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; see $log" >&2; exit 1; }
        sleep 0.1
        BASE=""
    done
    [ -n "$BASE" ] || { echo "server did not become healthy in 30 s" >&2; exit 1; }
    case "$BASE" in
        http://127.*|http://localhost*|http://\[::1\]*) ;;
        *) echo "refusing non-loopback $BASE" >&2; exit 1 ;;
    esac
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
