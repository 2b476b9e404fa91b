#!/usr/bin/env bash
# Differential test: the same commands against redis-server (7.x) and a
# one-node snowflk; prints every reply that differs. TTL-dependent replies
# are made deterministic by using big TTLs and reading TTL (seconds) only.
#   scripts/hostile/diff_redis.sh [BIN] [BASE]
BIN=${1:-/work/target-hostile2/debug/snowflk-server}
BASE=${2:-21500}
W=$(mktemp -d /tmp/snowflk-diff.XXXXXX)
redis-server --port $((BASE+1)) --bind 127.0.0.1 --save '' --appendonly no --dir "$W" >/dev/null 2>&1 &
RP=$!
"$BIN" --data-dir "$W/s" --listen 127.0.0.1:$((BASE+2)) --peer-listen 127.0.0.1:$((BASE+3)) >"$W/s.log" 2>&1 &
SP=$!
trap 'kill $RP $SP 2>/dev/null; wait 2>/dev/null' EXIT
for p in $((BASE+1)) $((BASE+2)); do
  for _ in $(seq 200); do [[ "$(redis-cli -p $p PING 2>/dev/null)" == PONG ]] && break; sleep 0.05; done
done
BIG=$(( $(date +%s) + 100000 ))
CMDS=$(cat <<C
SET k v
SET k v NX
SET k w XX GET
SET nx1 v NX GET
SET k v GET NX
SET k v EX 0
SET k v EX -1
SET k v PX 0
SET k v EX 100 PX 100
SET k v KEEPTTL EX 10
SET k v EX 9223372036854775807
SET k v EX 9223372036854775
SET k v PX 9223372036854775807
SET k v EXAT 9223372036854775
SET k v EXAT 18446744073709551
TTL k
SET k v PXAT 9223372036854775807
TTL k
SET k v EX 1000
SET k v2 KEEPTTL
TTL k
SET k v3 XX
TTL k
SET k v EXAT $BIG
TTL k
SET k v ex 100 nx
SET k
SET k v BOGUS
SET k v EX abc
SET k v EX 1.5
SET n 10
INCR n
INCRBY n -20
DECRBY n 5
INCRBY n 9223372036854775807
SET n 9223372036854775807
INCR n
SET n -9223372036854775808
DECR n
DECRBY n -9223372036854775808
INCRBY n -9223372036854775808
SET n " 1"
INCR n
SET n "1 "
INCR n
SET n 01
INCR n
SET n +1
INCR n
SET n -0
INCR n
SET n ""
INCR n
SET n 1e3
INCR n
INCRBY n 1e3
INCRBY n 99999999999999999999
INCR newcounter
APPEND ap x
APPEND ap yz
STRLEN ap
STRLEN missing
GETDEL ap
GETDEL ap
SET e v
EXPIRE e 100
TTL e
EXPIRE e 50 GT
TTL e
EXPIRE e 200 GT
TTL e
EXPIRE e 100 LT
TTL e
EXPIRE e 300 NX
EXPIRE e 300 XX
PERSIST e
PERSIST e
TTL e
EXPIRE e 10 XX
EXPIRE e 10 GT
EXPIRE e 10 LT
TTL e
EXPIRE e 10 NX XX
EXPIRE e 10 GT LT
EXPIRE e 10 BOGUS
EXPIRE e abc
EXPIRE e 9223372036854775807
PEXPIRE e 9223372036854775807
EXPIRE e -1
EXISTS e
SET e v
EXPIRE e 0
EXISTS e
TTL missing
PTTL missing
EXPIRE missing 10
PERSIST missing
SET f v
EXPIREAT f $BIG
TTL f
EXPIREAT f 1
EXISTS f
MSET a 1 b 2 c 3
MSET a 1 b
MGET a b c zz
EXISTS a b zz a
DEL a b zz a
DBSIZE
SET cas old
CAS cas old new
GET cas
CAS cas old x
CAS nokey x y
GET
GET a b
PING
PING hi
PING a b
ECHO
ECHO hi
SELECT 0
SELECT 1
SELECT x
WATCH k
UNWATCH
FOOBAR
CLIENT SETNAME myname
CLIENT GETNAME
CLIENT SETNAME "has space"
CONFIG GET maxmemory
TYPE k
DEL k
GETDEL k
SET "" empty
GET ""
KEYS *
C
)
i=0
while IFS= read -r line; do
  [[ -z "$line" ]] && continue
  i=$((i+1))
  r=$(eval "redis-cli -p $((BASE+1)) $line" 2>&1 | tr '\n' '|')
  s=$(eval "redis-cli -p $((BASE+2)) $line" 2>&1 | tr '\n' '|')
  if [[ "$r" != "$s" ]]; then printf 'DIFF %-45s redis=%-40s snowflk=%s\n' "$line" "$r" "$s"; fi
done <<<"$CMDS"
echo "compared $i commands"
