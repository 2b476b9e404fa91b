#!/bin/sh
# Runs every benchmark of docs/benchmarks.md serially, logging the machine
# and the load average before each one. Usage (from the workspace root):
#   benches/run_all.sh [logfile]        # default: bench-results.log
# BENCH_OPEN_KEYS (default here 1000000,10000000) selects the open_hints
# key counts; CARGO_TARGET_DIR is honoured.
set -eu
log=${1:-bench-results.log}
export BENCH_OPEN_KEYS=${BENCH_OPEN_KEYS:-1000000,10000000}
{
  echo "== $(date -u +%FT%TZ) $(uname -r) nproc=$(nproc) $(grep -m1 'model name' /proc/cpuinfo)"
  df -h "${TMPDIR:-/tmp}" | tail -1
  for b in engine keydir_memory open_hints merge_throughput merge_latency peers; do
    echo "== snowflk-benches/$b: load $(cut -d' ' -f1-3 /proc/loadavg)"
    cargo bench -p snowflk-benches --bench "$b" 2>&1
  done
  echo "== raftlog: load $(cut -d' ' -f1-3 /proc/loadavg)"
  cargo bench -p raftlog 2>&1
  echo "== done $(date -u +%FT%TZ): load $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$log"
