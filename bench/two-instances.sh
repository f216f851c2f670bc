#!/usr/bin/env bash
# Two demo instances on one PostgreSQL database, measured one instance alone and both behind a
# round-robin client (`tokenbridge-bench --also`). Loopback only, bounded (about a minute).
#   bench/two-instances.sh ES256 [postgres://postgres@127.0.0.1:5432]
# Needs release binaries (cargo build --release -p tokenbridge -p tokenbridge-bench), psql, curl.
set -u
ALG=${1:-ES256}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="$ROOT/target/release"
PG=${2:-postgres://postgres@127.0.0.1:5432}
psql $PG/test -XqAtc "DROP DATABASE IF EXISTS tb_two" -c "CREATE DATABASE tb_two" </dev/null
A_DIR=$(mktemp -d); B_DIR=$(mktemp -d)
trap 'rm -rf "$A_DIR" "$B_DIR"' EXIT
$B/tokenbridge demo --listen 127.0.0.1:18301 --data-dir "$A_DIR" --algorithm $ALG --storage-url $PG/tb_two > "$A_DIR/server.log" 2>&1 & PA=$!
for i in $(seq 100); do curl -fs 127.0.0.1:18301/healthz >/dev/null && break; sleep 0.2; done
$B/tokenbridge demo --listen 127.0.0.1:18302 --data-dir "$B_DIR" --algorithm $ALG --storage-url $PG/tb_two --public-url http://127.0.0.1:18301 > "$B_DIR/server.log" 2>&1 & PB=$!
for i in $(seq 100); do curl -fs 127.0.0.1:18302/healthz >/dev/null && break; sleep 0.2; done
echo "== one instance ($ALG)"
timeout 100 $B/tokenbridge-bench exchange --demo-json $A_DIR/demo.json --concurrency 64 --duration 10 --warmup 1 2>&1 | grep -E "throughput|latency|errors|cpu \(cores\)"
echo "== two instances ($ALG)"
timeout 100 $B/tokenbridge-bench exchange --demo-json $A_DIR/demo.json --also http://127.0.0.1:18302 --concurrency 64 --duration 10 --warmup 1 2>&1 | grep -E "throughput|latency|errors|cpu \(cores\)"
kill $PA $PB; wait
psql $PG/test -XqAtc "DROP DATABASE IF EXISTS tb_two" </dev/null
