#!/usr/bin/env bash
# Claim 5 on a 3-node cluster: protocol.py against node 1 (client + peer port),
# then every node must still be alive and the cluster must still write.
cd "$(dirname "$0")/../.." || exit 1
BASE=${BASE:-21300}; source scripts/hostile/lib.sh
start_cluster || exit 1
python3 scripts/hostile/protocol.py "$(cport 1)" $((BASE+11))
for n in 1 2 3; do
  kill -0 "${PID[$n]}" 2>/dev/null || fail "node $n died (log $WORK/n$n.log)"
done
[[ "$(cli 2 SET after attacks)" == OK ]] || fail "cluster cannot write after attacks"
grep -il "panic" "$WORK"/n*.log && fail "panic in logs"
echo "logs in $WORK"; exit ${FAILED:-0}
