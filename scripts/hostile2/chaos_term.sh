#!/usr/bin/env bash
# SIGTERM the leader (graceful, with leadership hand-off), wait for exit, restart; also TRANSFER-LEADER
cd "$(dirname "$0")"; D=/tmp/hostile2/c
end=$((SECONDS+${1:-30}))
while [ $SECONDS -lt $end ]; do
  L=$(redis-cli -p 760$((RANDOM%3+1)) SNOWFLK LEADER 2>/dev/null | head -1)
  [[ "$L" =~ ^[123]$ ]] || { sleep 0.5; continue; }
  if [ $((RANDOM%2)) = 0 ]; then
    p=$(cat $D/n$L.pid); echo "$(date +%T.%N) TERM $L"; kill -TERM $p
    while kill -0 $p 2>/dev/null && [ "$(ps -o stat= -p $p)" != Z ]; do sleep 0.02; done
    ./cluster.sh start1 $L
  else
    T=$(( (L+RANDOM%2)%3+1 )); echo "$(date +%T.%N) transfer $L->$T: $(redis-cli -p 760$((RANDOM%3+1)) SNOWFLK TRANSFER-LEADER $T 2>&1)"
  fi
  sleep 1.$((RANDOM%9))
done
