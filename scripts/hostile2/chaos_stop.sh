#!/usr/bin/env bash
# SIGSTOP the leader for 0.6-2.5 s, SIGCONT, repeat
cd "$(dirname "$0")"
end=$((SECONDS+${1:-30}))
while [ $SECONDS -lt $end ]; do
  L=$(redis-cli -p 760$((RANDOM%3+1)) SNOWFLK LEADER 2>/dev/null | head -1)
  [[ "$L" =~ ^[123]$ ]] || { sleep 0.5; continue; }
  echo "$(date +%T.%N) stop $L"; ./cluster.sh stopsig $L; sleep $((RANDOM%2)).$((RANDOM%9+6)); ./cluster.sh cont $L
  sleep 0.$((RANDOM%9+1))
done
