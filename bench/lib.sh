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
