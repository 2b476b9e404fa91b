#!/usr/bin/env bash
# The cost of TLS on the client port, side by side in one run (issue 11):
# redis-benchmark SET/GET against one `--replication none` node on its plain
# port and on its TLS port, and the same for redis-server as the reference.
#
#   scripts/bench-tls.sh [REQUESTS]      default 100000 requests per test
#
# Needs redis-benchmark, redis-server and openssl (Debian: apt-get install
# -y redis-tools redis-server openssl). Certificates are made here, in
# $BENCH_DIR, and deleted with it. Output: CSV on stdout
# (target,transport,test,rps,avg,p50,p95,p99,max; latencies in ms).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-100000}
WORK=${BENCH_DIR:-$(pwd)/bench-work}/tls
rm -rf "$WORK"
mkdir -p "$WORK"
source scripts/bench-lib.sh

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

run() { # target transport port [tls flags...]
  local target=$1 transport=$2 port=$3
  shift 3
  bench_csv "$target,$transport" "$port" "$@" -c 50 -n "$REQUESTS" -d 100 -r 100000 -t set,get
}

TLS=(--tls --cacert "$WORK/cert.pem")
echo "target,transport,test,rps,avg_ms,p50_ms,p95_ms,p99_ms,max_ms"

redis-server --port 7500 --tls-port 7501 --tls-cert-file "$WORK/cert.pem" \
  --tls-key-file "$WORK/key.pem" --tls-auth-clients no --dir "$WORK" \
  --appendonly yes --appendfsync always --save '' >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_ping 7500
run redis-aof-always plain 7500
run redis-aof-always tls 7501 "${TLS[@]}"
stop_all

"$BIN" --replication none --data-dir "$WORK/none" --listen 127.0.0.1:7510 \
  --tls-listen 127.0.0.1:7511 --tls-cert-file "$WORK/cert.pem" --tls-key-file "$WORK/key.pem" \
  >"$WORK/none.log" 2>&1 &
PIDS+=($!)
wait_ping 7510
run snowflk-none plain 7510
run snowflk-none tls 7511 "${TLS[@]}"
stop_all
