#!/usr/bin/env bash
# A value under --max-value-size (536870903) but over the peer frame limit
# (64 MiB) written on the leader: the entry cannot be replicated. Does the
# cluster still accept small writes afterwards?
cd "$(dirname "$0")/../.." || exit 1
BASE=${BASE:-21400}; source scripts/hostile/lib.sh
SIZE_MB=${SIZE_MB:-70}
start_cluster || exit 1
L=$(leader 1); echo "leader $L"
python3 - "$(cport "$L")" "$SIZE_MB" <<'PY'
import sys, os; sys.path.insert(0, "scripts/hostile")
from resp import Conn
c = Conn(int(sys.argv[1]), 60)
print("SET big (%s MiB) ->" % sys.argv[2], c.cmd("SET", "big", b"x" * (int(sys.argv[2]) << 20)))
PY
for n in 1 2 3; do echo "node $n: SET small -> $(timeout 20 redis-cli -p "$(cport "$n")" SET small 1)"; done
for n in 1 2 3; do echo "node $n: $(cli "$n" INFO replication | tr -d '\r' | grep -E 'raft_(role|commit_index|last_log_index|applied_index)' | tr '\n' ' ')"; done
grep -h -iE "frame|too large|exceed" "$WORK"/n*.log | head -5
echo "logs in $WORK"
