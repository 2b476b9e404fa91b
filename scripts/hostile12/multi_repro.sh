#!/bin/bash
# Repro of the MULTI/EXEC difference: invalid SETEX/PSETEX time is rejected at queue time (-> EXECABORT, nothing
# applied) by snowflk, while Redis 7.0.15 queues it, runs EXEC, applies the other commands and returns the error in
# the EXEC array. Needs redis-server on 17500 (started here if absent). Uses a one-node snowflk on 17300.
cd "${H12_ROOT:-/tmp/hostile12}"
redis-cli -p 17500 ping >/dev/null 2>&1 || { redis-server --port 17500 --save '' --appendonly no --daemonize yes >/dev/null; sleep 0.5; }
rm -rf run-multirepro; mkdir -p run-multirepro
"${SNOWFLK_BIN:-$(dirname "$0")/../../target/release/snowflk-server}" --data-dir run-multirepro/n1 --listen 127.0.0.1:17300 --peer-listen 127.0.0.1:18300 > run-multirepro/n1.log 2>&1 &
PID=$!; sleep 1.5
for p in 17500 17300; do
  echo "== port $p ($( [ $p = 17500 ] && echo redis-server 7.0.15 || echo snowflk ))"
  printf 'DEL m1\r\nMULTI\r\nSET m1 before\r\nSETEX m1 abc v\r\nPSETEX m1 0 v\r\nEXEC\r\nGET m1\r\n' | redis-cli -p $p
done
kill $PID; wait $PID 2>/dev/null
