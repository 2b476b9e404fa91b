# Helpers shared by the scripts/bench-*.sh scripts; source it after `cd` to
# the repository root. Builds snowflk-server in release mode and sets BIN;
# start_bg runs a command in the background and stop_all (also on exit)
# stops everything start_bg started.
# shellcheck shell=bash

cargo build --release -p snowflk-server >&2
BIN=${CARGO_TARGET_DIR:-target}/release/snowflk-server
PIDS=()

start_bg() { # log-file command...
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  PIDS+=($!)
}

stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap stop_all EXIT INT TERM

wait_ping() { # port [tries]
  for _ in $(seq 1 "${2:-200}"); do
    if redis-cli -p "$1" PING 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "port $1 never answered PING" >&2
  return 1
}

wait_leader() { # port -> prints the leader's client port
  for _ in $(seq 1 200); do
    local l
    l=$(redis-cli -p "$1" SNOWFLK LEADER 2>/dev/null | head -1 || true)
    if [[ "$l" =~ ^[0-9]+$ ]]; then echo "$l"; return 0; fi
    sleep 0.05
  done
  echo "no leader" >&2
  return 1
}

# redis-benchmark in CSV, one line per test: prefix,test,rps,avg,p50,p95,p99,max
bench_csv() { # prefix port redis-benchmark-args...
  local prefix=$1 port=$2
  shift 2
  redis-benchmark -p "$port" "$@" --csv 2>/dev/null |
    tail -n +2 | tr -d '"' |
    while IFS=, read -r test rps avg min p50 p95 p99 max; do
      echo "$prefix,$test,$rps,$avg,$p50,$p95,$p99,$max"
    done
}
