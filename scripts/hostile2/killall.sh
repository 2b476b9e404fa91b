#!/usr/bin/env bash
# SIGKILL all three nodes in the same instant, N times
cd "$(dirname "$0")"; D=/tmp/hostile2/c
for r in $(seq ${1:-3}); do
  sleep 4; echo "$(date +%T.%N) kill all at once"
  P="$(cat $D/n1.pid) $(cat $D/n2.pid) $(cat $D/n3.pid)"; kill -9 $P
  for p in $P; do while kill -0 $p 2>/dev/null && [ "$(ps -o stat= -p $p)" != Z ]; do sleep 0.02; done; done
  sleep 0.5; for i in 1 2 3; do ./cluster.sh start1 $i; done
done
