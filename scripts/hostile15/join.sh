#!/usr/bin/env bash
# Claim 5: --join with another cluster-id, restart with --join after the join member is gone, no re-add after removal.
# Ports 23401-23404 (client) 23501-23504 (peer), data /tmp/h15/join. Only kills pids it started.
B=${SNOWFLK_BIN:-/work/target-h15/release/snowflk-server}
D=/tmp/h15/join; rm -rf $D; mkdir -p $D
PIDS=()
cli() { redis-cli -p $1 "${@:2}"; }
start() { # id extra...
  local id=$1; shift
  $B --id $id --data-dir $D/n$id --listen 127.0.0.1:2340$id --peer-listen 127.0.0.1:2350$id --cluster-id alpha --tick-ms 50 "$@" >>$D/n$id.log 2>&1 &
  echo $! > $D/n$id.pid; PIDS+=($!)
}
waitup() { for i in $(seq 100); do cli $1 ping >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
members() { cli $1 snowflk members | tr '\n' ' '; echo; }
start 1; waitup 23401
echo "== node 5 with --cluster-id beta joins"
timeout 40 $B --id 5 --data-dir $D/n5 --listen 127.0.0.1:23405 --peer-listen 127.0.0.1:23505 --cluster-id beta --join 127.0.0.1:23401 >$D/n5.log 2>&1; echo "rc=$?"; tail -2 $D/n5.log
echo "members after beta attempt:"; members 23401
echo "== node 2 joins via 1, node 3 joins via 2"
start 2 --join 127.0.0.1:23401; waitup 23402; sleep 1
start 3 --join 127.0.0.1:23402; waitup 23403; sleep 1
members 23401
sleep 1; echo "promote 2: $(cli 23401 snowflk promote 2)"; echo "promote 3: $(cli 23401 snowflk promote 3)"
cli 23401 set k v >/dev/null
members 23401
echo "== stop node 2 (the member 3 joined through), remove it, restart 3 with its original flags"
kill $(cat $D/n2.pid); sleep 0.5
echo "remove 2: $(cli 23401 snowflk remove-node 2)"
kill $(cat $D/n3.pid); sleep 0.5
start 3 --join 127.0.0.1:23402; sleep 3
if cli 23403 ping >/dev/null 2>&1; then echo "node 3 restarted OK: get k via 3 = $(cli 23403 get k)"; else echo "!! node 3 did not restart"; tail -3 $D/n3.log; fi
members 23401
echo "== remove node 3, stop it, restart with old flags: must not reappear"
echo "remove 3: $(cli 23401 snowflk remove-node 3)"; sleep 0.5
kill $(cat $D/n3.pid); sleep 0.5
start 3 --join 127.0.0.1:23402; sleep 4
echo "node3 alive? $(kill -0 $(cat $D/n3.pid) 2>/dev/null && echo yes || echo no)"
echo "members on 1:"; members 23401
echo "n3 log tail:"; tail -3 $D/n3.log | cut -c1-300
echo "== also restart the removed 3 with --join 127.0.0.1:23401 (a live member)"
kill $(cat $D/n3.pid) 2>/dev/null; sleep 0.5
start 3 --join 127.0.0.1:23401; sleep 4
echo "members on 1:"; members 23401
for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null
