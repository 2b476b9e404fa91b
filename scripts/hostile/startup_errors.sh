#!/usr/bin/env bash
# Claim 6: wrong flags, bad peer map, busy port, locked data dir: one line on
# stderr, non-zero exit, no panic. Then SIGTERM with writes in flight: exit 0
# and data intact after restart.
cd "$(dirname "$0")/../.." || exit 1
BIN=${BIN:-/work/target-hostile2/debug/snowflk-server}
BASE=${BASE:-21700}
W=$(mktemp -d /tmp/snowflk-start.XXXXXX)
FAILED=0
try() { # expected-nonzero description args...
  local what=$1; shift
  timeout 10 "$BIN" "$@" >"$W/out" 2>"$W/err"; local rc=$?
  local lines; lines=$(grep -c . "$W/err")
  printf '%-38s rc=%-3s lines=%s %s\n' "$what" "$rc" "$lines" "$(head -c 160 "$W/err" | tr '\n' ' ')"
  if [[ $rc == 0 || $rc == 124 || $lines != 1 ]] || grep -q panick "$W/err"; then echo "  VIOLATION: $what"; FAILED=1; fi
}
L="--listen 127.0.0.1:$((BASE+1)) --peer-listen 127.0.0.1:$((BASE+2)) --data-dir $W/d"
try "unknown flag" --bogus
try "id 0" --id 0 $L
try "id not a number" --id x $L
try "peers missing self" --id 4 $L --peers 1=127.0.0.1:1,2=127.0.0.1:2
try "peers garbage" $L --peers garbage
try "peers duplicate id" $L --peers 1=127.0.0.1:1,1=127.0.0.1:2
try "peers empty addr" $L --peers 1=,2=127.0.0.1:2
try "peers bad port" $L --peers 1=127.0.0.1:99999
try "peers trailing comma" --id 1 $L --peers 1=127.0.0.1:$((BASE+2)),
try "listen unparsable" --listen nonsense --data-dir "$W/d"
try "election < 5 heartbeats" $L --heartbeat-ticks 10 --election-ticks 10
try "tick-ms 0" $L --tick-ms 0
try "max-key-size too big" $L --max-key-size 10000000
try "replication bogus" $L --replication bogus
try "config missing" --config "$W/nope.toml"
printf 'bogus_key = 1\n' >"$W/c.toml"; try "config unknown key" --config "$W/c.toml"
printf 'not toml [[[\n' >"$W/c2.toml"; try "config unparsable" --config "$W/c2.toml"
touch "$W/file"; try "data dir is a file" --listen 127.0.0.1:$((BASE+1)) --data-dir "$W/file"
# busy port / locked dir
python3 -c "import socket,time;s=socket.socket();s.bind(('127.0.0.1',$((BASE+5))));s.listen();time.sleep(30)" & HOLD=$!
sleep 0.3
try "busy client port" --listen 127.0.0.1:$((BASE+5)) --data-dir "$W/d2"
try "busy peer port" --listen 127.0.0.1:$((BASE+6)) --peer-listen 127.0.0.1:$((BASE+5)) --data-dir "$W/d3" --peers 1=127.0.0.1:$((BASE+5)),2=127.0.0.1:1
kill $HOLD
"$BIN" $L >"$W/a.log" 2>&1 & A=$!
for _ in $(seq 200); do [[ "$(redis-cli -p $((BASE+1)) PING 2>/dev/null)" == PONG ]] && break; sleep 0.05; done
try "locked data dir" --listen 127.0.0.1:$((BASE+7)) --peer-listen 127.0.0.1:$((BASE+8)) --data-dir "$W/d"
# SIGTERM with in-flight writes (pipelined, 20 connections)
python3 - $((BASE+1)) "$A" <<'PY' || FAILED=1
import sys, os, signal, threading, time; sys.path.insert(0, "scripts/hostile")
from resp import Conn
port, pid = int(sys.argv[1]), int(sys.argv[2])
acked = []; lock = threading.Lock()
def w(t):
    c = Conn(port, 20)
    for i in range(100000):
        try: r = c.cmd("SET", "t%d-%d" % (t, i), "v")
        except Exception: return
        if r == "OK":
            with lock: acked.append("t%d-%d" % (t, i))
        else:
            return
ts = [threading.Thread(target=w, args=(t,)) for t in range(20)]
[t.start() for t in ts]
time.sleep(1.0)
os.kill(pid, signal.SIGTERM)
[t.join() for t in ts]
print("acked before/while SIGTERM:", len(acked))
open("/tmp/snowflk-acked.txt", "w").write("\n".join(acked))
PY
wait $A; echo "exit status after SIGTERM: $?"
"$BIN" $L >>"$W/a.log" 2>&1 & A=$!
for _ in $(seq 200); do [[ "$(redis-cli -p $((BASE+1)) PING 2>/dev/null)" == PONG ]] && break; sleep 0.05; done
missing=0; while read -r k; do [[ -n "$k" ]] || continue; [[ "$(redis-cli -p $((BASE+1)) EXISTS "$k")" == 1 ]] || { missing=$((missing+1)); }; done < <(shuf -n 300 /tmp/snowflk-acked.txt)
echo "sampled 300 acked keys after restart: $missing missing"; [[ $missing == 0 ]] || { echo VIOLATION; FAILED=1; }
kill -TERM $A; wait $A; echo "second SIGTERM exit: $?"
grep -i panick "$W"/*.log && FAILED=1
echo "RESULT $([[ $FAILED == 0 ]] && echo PASS || echo FAIL) ($W)"
