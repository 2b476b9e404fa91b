#!/bin/bash
# Every wrong config input: one line on stderr starting "snowflk-server:",
# exit 2 (bad flag/config) or 1 (other start-up failure), never a panic.
S=/work/target-h14/release/snowflk-server
D=/tmp/h14/cfg
rm -rf $D; mkdir -p $D; cd $D   # never run the server in the repo: data-dir "" means the cwd
n=0; bad=0
t() { # name, expected-rc, args...
  local name=$1 exp=$2; shift 2
  n=$((n+1))
  timeout 4 $S "$@" >$D/out 2>$D/err </dev/null
  local rc=$?
  local lines=$(grep -c '^snowflk-server: ' $D/err)
  local verdict=ok
  if [ $rc -eq 124 ]; then verdict="STARTED(timeout)"; fi
  if grep -qi "panick" $D/err; then verdict="PANIC"; fi
  if [ "$exp" != "any" ] && [ $rc -ne $exp ]; then verdict="$verdict rc!=$exp"; fi
  if [ $rc -ne 124 ] && [ $lines -ne 1 ]; then verdict="$verdict lines=$lines"; fi
  if [ $rc -ne 124 ] && ! tail -1 $D/err | grep -q '^snowflk-server: '; then verdict="$verdict last-line-not-error"; fi
  [ "$verdict" != ok ] && bad=$((bad+1))
  printf '%-40s rc=%-3s %-28s %s\n' "$name" "$rc" "$verdict" "$(grep -v INFO $D/err | tail -1 | head -c 250)"
}
cfg() { printf '%s\n' "$@" > $D/c.toml; }
P="--listen 127.0.0.1:22990 --peer-listen 127.0.0.1:22991 --data-dir $D/data"
cfg 'bogus-key = 1'; t "unknown key" 2 --config $D/c.toml $P
cfg 'id = "one"'; t "id wrong type" 2 --config $D/c.toml $P
cfg 'id = 0'; t "id zero" 2 --config $D/c.toml $P
cfg 'id = -3'; t "id negative" 2 --config $D/c.toml $P
cfg 'id = 1.5'; t "id float" 2 --config $D/c.toml $P
cfg 'id = 99999999999999999999999'; t "id huge" 2 --config $D/c.toml $P
cfg 'tick-ms = 0'; t "tick 0" 2 --config $D/c.toml $P
cfg 'election-ticks = 1'; t "election-ticks 1" 2 --config $D/c.toml $P
cfg 'heartbeat-ticks = 0'; t "heartbeat 0" 2 --config $D/c.toml $P
cfg 'heartbeat-ticks = 5' 'election-ticks = 10'; t "elect<5*hb" 2 --config $D/c.toml $P
cfg 'listen = "nonsense"'; t "listen garbage" 2 --config $D/c.toml --data-dir $D/data
cfg 'listen = 7379'; t "listen int" 2 --config $D/c.toml --data-dir $D/data
cfg 'replication = "paxos"'; t "replication bad" 2 --config $D/c.toml $P
cfg 'peers = "1=127.0.0.1:1,1=127.0.0.1:2"'; t "peers dup id" 2 --config $D/c.toml $P
cfg 'peers = "2=127.0.0.1:22992"'; t "peers without self" 2 --config $D/c.toml $P
cfg 'peers = "1=127.0.0.1:22991,2=garbage"'; t "peers garbage addr" 2 --config $D/c.toml $P
cfg 'peers = ["1=127.0.0.1:1"]'; t "peers array" 2 --config $D/c.toml $P
cfg '[[users]]' 'name = "a"' 'role = "admin"'; t "user without password" 2 --config $D/c.toml $P
cfg '[[users]]' 'name = "a"' 'password = "x"' 'role = "god"'; t "user bad role" 2 --config $D/c.toml $P
cfg '[[users]]' 'name = "a"' 'password = "x"' 'password-hash = "y"' 'role = "admin"'; t "user both pw" 2 --config $D/c.toml $P
cfg '[[users]]' 'name = "a"' 'password-hash = "notahash"' 'role = "admin"'; t "user bad hash" 2 --config $D/c.toml $P
cfg '[[users]]' 'name = "a"' 'password = "x"' 'role = "admin"' '[[users]]' 'name = "a"' 'password = "y"' 'role = "admin"'; t "user dup name" 2 --config $D/c.toml $P
cfg '[[users]]' 'name = "a"' 'password = "x"' 'colour = "red"'; t "user unknown key" 2 --config $D/c.toml $P
cfg '[[users]]' 'name = "default"' 'password = "x"' 'role="read-only"' ; t "user named default + requirepass" any --config $D/c.toml $P --requirepass y
cfg 'this is not toml'; t "not toml" 2 --config $D/c.toml $P
printf '\xff\xfe\x00' > $D/c.toml; t "binary file" 2 --config $D/c.toml $P
t "config missing" 2 --config $D/nope.toml $P
t "config is dir" 2 --config $D $P
cfg 'max-value-size = 0'; t "max-value-size 0" 2 --config $D/c.toml $P
cfg 'max-value-size = 99999999999'; t "max-value-size huge" any --config $D/c.toml $P
cfg 'max-key-size = 70000'; t "max-key-size > engine" 2 --config $D/c.toml $P
cfg 'max-connections = 0'; t "max-connections 0" 2 --config $D/c.toml $P
cfg 'snapshot-trailing-entries = -1'; t "trailing -1" 2 --config $D/c.toml $P
cfg 'raft-log-segment-bytes = 10'; t "segment bytes 10" 2 --config $D/c.toml $P
cfg 'max-file-size = 10'; t "max-file-size 10" 2 --config $D/c.toml $P
cfg 'tls-listen = "127.0.0.1:22993"'; t "tls without cert" 2 --config $D/c.toml $P
cfg 'tls-listen = "127.0.0.1:22993"' 'tls-cert-file = "/nonexistent"' 'tls-key-file = "/nonexistent"'; t "tls missing files" any --config $D/c.toml $P
cfg 'peer-cert-file = "/etc/hostname"'; t "peer cert only one of three" 2 --config $D/c.toml $P
cfg 'tls-auth-clients = "maybe"'; t "tls-auth-clients bad" 2 --config $D/c.toml $P
cfg 'log-format = "xml"'; t "log-format bad" 2 --config $D/c.toml $P
cfg 'log = "[[["'; t "log filter bad" 2 --config $D/c.toml $P
cfg 'join = "127.0.0.1:22999"' 'peers = "1=127.0.0.1:22991"'; t "join + peers" 2 --config $D/c.toml $P
t "join unreachable" 1 $P --join 127.0.0.1:22999
t "restore nonexistent" any $P --restore $D/nobackup
t "restore with peers" 2 $P --restore $D --peers 1=127.0.0.1:22991,2=127.0.0.1:22992
cfg 'id = 3'; t "flag wins over file (bad flag)" 2 --config $D/c.toml --id zero $P
t "unknown flag" 2 --frobnicate $P
t "tls-port and tls-listen" any --tls-port 22994 --tls-listen 127.0.0.1:22995 $P
t "port-file in missing dir" any --port-file /nonexistent/dir/p $P
t "data-dir is a file" 1 --listen 127.0.0.1:22990 --peer-listen 127.0.0.1:22991 --data-dir /etc/hostname
t "listen privileged/busy" 1 --listen 127.0.0.1:22 --peer-listen 127.0.0.1:22991 --data-dir $D/data
t "metrics listen garbage" 2 --metrics-listen foo $P
cfg 'requirepass = 5'; t "requirepass int" 2 --config $D/c.toml $P
cfg 'requirepass = ""'; t "requirepass empty" any --config $D/c.toml $P
cfg 'cluster-id = ""'; t "cluster-id empty" any --config $D/c.toml $P
cfg 'data-dir = ""'; t "data-dir empty" any --config $D/c.toml --listen 127.0.0.1:22990 --peer-listen 127.0.0.1:22991
cfg 'config = "other.toml"'; t "config key inside config" any --config $D/c.toml $P
echo "cases=$n bad=$bad"
