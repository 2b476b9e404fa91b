#!/usr/bin/env bash
# 3-node SET (T=get: GET; P=16: pipelined) on the leader with the CPU time and context switches of
# each node per request, and the log batch metrics; REDIS=1 (default) runs
# the durable redis-server reference first. BIN=path compares two builds:
#   BIN=old/snowflk-server scripts/bench-raft3-cpu.sh; scripts/bench-raft3-cpu.sh
# Needs redis-benchmark, redis-server, bc and curl; build the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/snowflk-server}
N=${N:-200000}
W=${BENCH_DIR:-$(pwd)/bench-work}/raft3-cpu; rm -rf $W; mkdir -p $W
ctx() { cat /proc/$1/task/*/status | awk '/ctxt_switches/{s+=$2} END{print s}'; }
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
PIDS=()
if [ "${REDIS:-1}" = 1 ]; then
redis-server --port 7400 --dir $W --appendonly yes --appendfsync always --save '' >$W/redis.log 2>&1 & RP=$!
sleep 0.5
redis-benchmark -p 7400 -c 50 -n $N -d 100 -r 100000 -t ${T:-set} -P 1 --csv | tail -1
kill $RP; wait $RP || true
fi
PEERS=1=127.0.0.1:8431,2=127.0.0.1:8432,3=127.0.0.1:8433
for id in 1 2 3; do
  env ${NODEENV:-} $BIN --id $id --data-dir $W/n$id --listen 127.0.0.1:743$id --peer-listen 127.0.0.1:843$id --peers $PEERS --metrics-listen 127.0.0.1:953$id ${EXTRA:-} >$W/n$id.log 2>&1 & PIDS+=($!)
done
for i in $(seq 100); do l=$(redis-cli -p 7431 SNOWFLK LEADER 2>/dev/null|head -1||true); [[ "$l" =~ ^[0-9]+$ ]] && break; sleep 0.1; done
[[ "$l" =~ ^[0-9]+$ ]] || { echo no leader; exit 1; }; echo leader $l
redis-benchmark -p 743$l -c 50 -n 100000 -d 100 -r 100000 -t set -q >/dev/null
declare -A c0 x0; for i in 0 1 2; do c0[$i]=$(cpu ${PIDS[$i]}); x0[$i]=$(ctx ${PIDS[$i]}); done
t0=$(date +%s.%N)
redis-benchmark -p 743$l -c 50 -n $N -d 100 -r 100000 -t ${T:-set} -P ${P:-1} --csv | tail -1
t1=$(date +%s.%N)
for i in 0 1 2; do c1=$(cpu ${PIDS[$i]}); x1=$(ctx ${PIDS[$i]}); echo "node $((i+1)) ctxsw_per_req $(echo "($x1-${x0[$i]})/$N" | bc -l | cut -c1-5) cpu_us_per_req $(echo "($c1-${c0[$i]})*10000/$N" | bc -l | cut -c1-6)"; done
for id in 1 2 3; do echo "n$id $(curl -s 127.0.0.1:953$id/metrics | grep -E "raft_log_(batch_entries|fsync_seconds)_(sum|count)" | tr "\n" " ")"; done
for p in ${PIDS[@]}; do kill $p; done; wait
