#!/bin/bash
# Corruption: the tools and the server on damaged engine/raft/backup dirs.
T=/work/target-h14/release/snowflk-tools; S=/work/target-h14/release/snowflk-server
D=/tmp/h14/cor; rm -rf $D; mkdir -p $D
$S --data-dir $D/n --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981 --max-file-size 100000 >$D/log 2>&1 & P=$!
sleep 1
python3 - <<'PY'
import socket
s=socket.create_connection(("127.0.0.1",22980))
def enc(*a): return b"*%d\r\n"%len(a)+b"".join(b"$%d\r\n%s\r\n"%(len(x),x) for x in a)
buf=b"".join(enc(b"SET",b"k%d"%i,b"v"*100) for i in range(5000))
s.sendall(buf)
n=0
data=b""
while data.count(b"\r\n")<5000: data+=s.recv(65536)
PY
redis-cli -p 22980 snowflk backup $D/bk >/dev/null
kill -TERM $P; wait $P; echo "server exit $?"
run() { echo "--- $1"; shift; "$@" >$D/o 2>$D/e; rc=$?; echo "rc=$rc | $(tail -1 $D/o | cut -c1-200) | $(grep -v INFO $D/e | tail -2 | cut -c1-300 | tr '\n' ' ')"; }
for s in verify stat; do run "$s engine clean" $T $s --no-progress $D/n/engine; done
cp -a $D/n $D/n.orig
# flip one byte in the middle of a sealed data segment
f=$(ls $D/n/engine/*.data | head -2 | tail -1); sz=$(stat -c %s $f)
printf '\xAA' | dd of=$f bs=1 seek=$((sz/2)) conv=notrunc 2>/dev/null
echo "flipped a byte at $((sz/2)) of $(basename $f)"
for s in verify stat; do run "$s engine flipped" $T $s --no-progress $D/n/engine; done
run "dump engine flipped" $T dump --no-progress $D/n/engine
run "dump --live-only flipped" $T dump --live-only --no-progress $D/n/engine
run "merge engine flipped" $T merge $D/n/engine
run "server start on flipped engine" timeout 10 $S --data-dir $D/n --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981
ls $D/n/engine | head -30 | tr '\n' ' '; echo
# truncate a sealed segment
rm -rf $D/n; cp -a $D/n.orig $D/n
f=$(ls $D/n/engine/*.data | head -1); truncate -s -7 $f
run "verify truncated sealed" $T verify --no-progress $D/n/engine
run "server start truncated sealed" timeout 10 $S --data-dir $D/n --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981
# raft: flip a byte in the first raft segment / hardstate
rm -rf $D/n; cp -a $D/n.orig $D/n
f=$(ls $D/n/raft/log-*.seg | head -1); sz=$(stat -c %s $f); echo "raft seg $(basename $f) size $sz"
printf '\x55' | dd of=$f bs=1 seek=40 conv=notrunc 2>/dev/null
run "verify raft flipped" $T verify --no-progress $D/n/raft
run "stat raft flipped" $T stat --no-progress $D/n/raft
run "server start raft flipped" timeout 10 $S --data-dir $D/n --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981
rm -rf $D/n; cp -a $D/n.orig $D/n
printf '\x55' | dd of=$D/n/raft/hardstate bs=1 seek=30 conv=notrunc 2>/dev/null
run "verify hardstate flipped" $T verify --no-progress $D/n/raft
run "server start hardstate flipped" timeout 10 $S --data-dir $D/n --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981
rm -rf $D/n; cp -a $D/n.orig $D/n
rm $D/n/raft/hardstate
run "server start hardstate missing" timeout 10 $S --data-dir $D/n --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981
# backup: verify, flip, merge a backup, restore afterwards
run "verify backup" $T verify --no-progress $D/bk
cp -a $D/bk $D/bk2
run "merge a backup" $T merge $D/bk2
run "verify merged backup" $T verify --no-progress $D/bk2
rm -rf $D/r2; run "restore merged backup" timeout 5 $S --data-dir $D/r2 --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981 --restore $D/bk2
cp -a $D/bk $D/bk3; f=$(ls $D/bk3/*.data | head -1); sz=$(stat -c %s $f); printf '\xAA' | dd of=$f bs=1 seek=$((sz/2)) conv=notrunc 2>/dev/null
run "verify flipped backup" $T verify --no-progress $D/bk3
rm -rf $D/r3; run "restore flipped backup" timeout 5 $S --data-dir $D/r3 --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981 --restore $D/bk3
cp -a $D/bk $D/bk4; touch $D/bk4/CHECKPOINT.partial
run "verify backup with CHECKPOINT.partial" $T verify --no-progress $D/bk4
rm -rf $D/r4; run "restore partial backup" timeout 5 $S --data-dir $D/r4 --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981 --restore $D/bk4
cp -a $D/bk $D/bk5; rm $D/bk5/CHECKPOINT
run "verify backup without manifest" $T verify --no-progress $D/bk5
rm -rf $D/r5; run "restore backup without manifest" timeout 5 $S --data-dir $D/r5 --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981 --restore $D/bk5
rm -rf $D/r6; run "restore from an engine dir (not a backup)" timeout 5 $S --data-dir $D/r6 --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981 --restore $D/n.orig/engine
rm -rf $D/r7; run "restore into a dir holding a raft log" timeout 5 $S --data-dir $D/n.orig --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981 --restore $D/bk
