#!/usr/bin/env bash
# snapshot-transfer write-throughput test; ports 7101-7103 / 8101-8103
set -u
BIN=$(realpath ${CARGO_TARGET_DIR:-target})/release/snowflk-server
D=${1:-/tmp/bs-cl}; mkdir -p $D; cd $D   # run after: cargo build --release -p snowflk-server
PEERS=1=127.0.0.1:8101,2=127.0.0.1:8102,3=127.0.0.1:8103
start() { id=$1; "$BIN" --id $id --data-dir $D/n$id --listen 127.0.0.1:710$id --peer-listen 127.0.0.1:810$id --peers $PEERS --snapshot-entries 20000 --snapshot-trailing-entries 1024 >>$D/n$id.log 2>&1 & echo $! > $D/n$id.pid; }
for id in 1 2 3; do start $id; done
sleep 3
L=$(redis-cli -p 7101 SNOWFLK LEADER | head -1); echo "leader: $L"
LP=710$L
F=$(( L==3 ? 2 : 3 )); echo "victim follower: $F"
echo "load $(date +%T)"; redis-benchmark -p $LP -t set -n 1000000 -r 1000000 -d 100 -c 50 -P 16 -q 2>&1 | tail -1
bench() { redis-benchmark -p $LP -t set -n 100000 -r 1000000 -d 100 -c 50 --csv 2>&1 | tail -1; }
for round in 1 2; do
  echo "== round $round baseline $(date +%T.%N)"; bench
  kill -9 $(cat n$F.pid); sleep 0.5
  redis-benchmark -p $LP -t set -n 100000 -r 1000000 -d 100 -c 50 -P 16 -q >/dev/null 2>&1
  sleep 1
  echo "== round $round transfer restart $(date +%T.%N)"; start $F; bench; echo "bench end $(date +%T.%N)"
  sleep 3
done
for id in 1 2 3; do kill $(cat n$id.pid); done
