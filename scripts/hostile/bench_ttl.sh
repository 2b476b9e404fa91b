#!/usr/bin/env bash
# Claim 7 (group commit: SET throughput with -c 1 vs -c 50 on the leader) and
# claim 4's "TTLs agree across nodes" (PTTL read through each node).
cd "$(dirname "$0")/../.." || exit 1
BASE=${BASE:-21800}; source scripts/hostile/lib.sh
start_cluster || exit 1
L=$(leader 1); echo "leader $L"
for c in 1 50; do
  echo "-c $c: $(redis-benchmark -p "$(cport "$L")" -t set -n 3000 -c $c -r 100000 -d 100 -q 2>/dev/null | tr '\r' '\n' | grep -a 'requests per second' | tail -1)"
done
cli 1 SET ttlk v EX 1000 >/dev/null
for n in 1 2 3; do echo "node $n PTTL ttlk: $(cli "$n" PTTL ttlk)"; done
cli 2 SET ttl2 v PXAT $(( $(date +%s%3N) + 500000 )) >/dev/null
for n in 1 2 3; do echo "node $n PTTL ttl2: $(cli "$n" PTTL ttl2)"; done
