#!/usr/bin/env bash
# chaos.sh DURATION : repeatedly SIGKILL / SIGSTOP the leader (or random node) and restart
cd "$(dirname "$0")"
end=$((SECONDS+${1:-30}))
while [ $SECONDS -lt $end ]; do
  L=$(redis-cli -p 760$((RANDOM%3+1)) SNOWFLK LEADER 2>/dev/null | head -1)
  [[ "$L" =~ ^[123]$ ]] || L=$((RANDOM%3+1))
  [ $((RANDOM%3)) -eq 0 ] && L=$((RANDOM%3+1))
  case $((RANDOM%3)) in
    0) echo "$(date +%T) kill $L"; ./cluster.sh kill $L; sleep 0.$((RANDOM%9+1)); ./cluster.sh start1 $L;;
    1) echo "$(date +%T) stop $L"; ./cluster.sh stopsig $L; sleep 1.$((RANDOM%9)); ./cluster.sh cont $L;;
    2) echo "$(date +%T) kill-all"; for i in 1 2 3; do ./cluster.sh kill $i; done; sleep 0.3; for i in 1 2 3; do ./cluster.sh start1 $i; done;;
  esac
  sleep 1.$((RANDOM%9))
done
