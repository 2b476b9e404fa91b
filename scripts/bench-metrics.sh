#!/usr/bin/env bash
# The cost of metrics collection (issue 11), on one `--replication none`
# node, without --metrics-listen (per-command metrics are then not
# recorded), with it, and with it while /metrics is scraped every second.
#
#   scripts/bench-metrics.sh [instructions|throughput|all]   default all
#
# instructions: counts instructions with valgrind (callgrind), which a noisy
#   shared machine does not disturb. Each configuration runs twice, with
#   SMALL and LARGE commands after the same preload, and the difference of
#   the two processes' totals over LARGE - SMALL is the cost of one command
#   (start-up, preload and shutdown cancel out). One client (-c 1), 100-byte
#   values over 1,000 keys, so GETs hit. Also the cost of one scrape.
# throughput: redis-benchmark, 50 clients, the three configurations
#   interleaved ROUNDS times.
# Needs redis-tools, valgrind and curl (Debian: apt-get install -y
# redis-tools valgrind curl). Output: CSV on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}
SMALL=${SMALL:-2000}
LARGE=${LARGE:-12000}
PRELOAD=${PRELOAD:-3000}
REQUESTS=${REQUESTS:-200000}
ROUNDS=${ROUNDS:-3}
SCRAPES=${SCRAPES:-100}
WORK=${BENCH_DIR:-$(pwd)/bench-work}/metrics
rm -rf "$WORK"
mkdir -p "$WORK"
source scripts/bench-lib.sh

PORT=7530
MPORT=7539

# Scrapes /metrics every second until killed.
scrape_every_second() {
  while true; do
    curl -sf "http://127.0.0.1:$MPORT/metrics" >/dev/null || true
    sleep 1
  done
}

# One server under callgrind: preload, N commands of TEST, optional extra
# scrapes; prints the process's total instruction count.
callgrind_run() { # name config test n
  local name=$1 config=$2 test=$3 n=$4 flags=() scraper=
  [[ $config != off ]] && flags=(--metrics-listen "127.0.0.1:$MPORT")
  rm -rf "$WORK/$name.data"
  start_bg "$WORK/$name.log" valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.cg" \
    "$BIN" --replication none --data-dir "$WORK/$name.data" --listen "127.0.0.1:$PORT" \
    --log warn "${flags[@]}"
  wait_ping "$PORT" 1200
  redis-benchmark -p "$PORT" -c 1 -n "$PRELOAD" -d 100 -r 1000 -t set -q >/dev/null
  if [[ $config == scraped ]]; then
    scrape_every_second &
    scraper=$!
  fi
  redis-benchmark -p "$PORT" -c 1 -n "$n" -d 100 -r 1000 -t "$test" -q >/dev/null
  if [[ $config == scrapes ]]; then
    for _ in $(seq 1 "$SCRAPES"); do
      curl -sf "http://127.0.0.1:$MPORT/metrics" >/dev/null
    done
  fi
  [[ -n $scraper ]] && { kill "$scraper"; wait "$scraper" 2>/dev/null || true; }
  stop_all
  # "summary: N" is the total of the only event collected, Ir.
  awk '/^summary:/ { print $2 }' "$WORK/$name.cg"
}

if [[ $WHAT == instructions || $WHAT == all ]]; then
  echo "config,test,instructions_small,instructions_large,instructions_per_command"
  for test in set get; do
    for config in off on scraped; do
      small=$(callgrind_run "$config-$test-small" "$config" "$test" "$SMALL")
      large=$(callgrind_run "$config-$test-large" "$config" "$test" "$LARGE")
      echo "$config,$test,$small,$large,$(( (large - small) / (LARGE - SMALL) ))"
    done
  done
  # One scrape: the same small run with SCRAPES scrapes after it.
  base=$(callgrind_run scrape-base on get "$SMALL")
  more=$(callgrind_run scrape-more scrapes get "$SMALL")
  echo "scrape,/metrics,$base,$more,$(( (more - base) / SCRAPES ))"
fi

if [[ $WHAT == throughput || $WHAT == all ]]; then
  echo "round,config,test,rps,avg_ms,p50_ms,p95_ms,p99_ms,max_ms"
  for round in $(seq 1 "$ROUNDS"); do
    for config in off on scraped; do
      flags=()
      [[ $config != off ]] && flags=(--metrics-listen "127.0.0.1:$MPORT")
      rm -rf "$WORK/tp.data"
      start_bg "$WORK/tp-$config.log" "$BIN" --replication none --data-dir "$WORK/tp.data" \
        --listen "127.0.0.1:$PORT" "${flags[@]}"
      wait_ping "$PORT"
      [[ $config == scraped ]] && { scrape_every_second & PIDS+=($!); }
      bench_csv "$round,$config" "$PORT" -c 50 -n "$REQUESTS" -d 100 -r 100000 -t set,get
      stop_all
    done
  done
fi
