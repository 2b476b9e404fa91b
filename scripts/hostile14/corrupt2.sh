#!/bin/bash
# A backup with one flipped byte (backup taken to another fs so it is an
# independent copy): does --restore notice? what do clients read?
# And: a backup on the same fs shares inodes with the live engine.
T=/work/target-h14/release/snowflk-tools; S=/work/target-h14/release/snowflk-server
D=/tmp/h14/cor2; rm -rf $D /dev/shm/h14c; mkdir -p $D
$S --data-dir $D/n --listen 127.0.0.1:22980 --peer-listen 127.0.0.1:22981 --max-file-size 100000 >$D/log 2>&1 & P=$!
sleep 1
for i in $(seq 0 4999); do echo "SET k$i value-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; done | redis-cli -p 22980 --pipe >/dev/null
redis-cli -p 22980 snowflk backup /dev/shm/h14c/bk
redis-cli -p 22980 snowflk backup $D/samefs
ls -li $D/n/engine/0000000002.data $D/samefs/0000000002.data /dev/shm/h14c/bk/0000000002.data | awk '{print $1, $3, $NF}'
kill -TERM $P; wait $P
f=/dev/shm/h14c/bk/0000000002.data; sz=$(stat -c %s $f)
OFF=${OFF:-$((sz/2+30))}; echo flip at $OFF; printf '\xAA' | dd of=$f bs=1 seek=$OFF conv=notrunc 2>/dev/null
$T verify --no-progress /dev/shm/h14c/bk | tail -2
$S --data-dir $D/r --listen 127.0.0.1:22982 --peer-listen 127.0.0.1:22983 --restore /dev/shm/h14c/bk >$D/rlog 2>&1 & R=$!
sleep 1.5
echo "restore process alive: $(kill -0 $R 2>/dev/null && echo yes || echo no)"; grep -v INFO $D/rlog | tail -3
echo "DBSIZE: $(redis-cli -p 22982 dbsize)"
bad=0; errs=0
for i in $(seq 0 4999); do echo "GET k$i"; done | redis-cli -p 22982 > $D/gets.txt
paste -d' ' <(seq 0 4999) $D/gets.txt | awk '{ if ($2 != "value-"$1"-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") print }' | head -5
echo "wrong GETs: $(paste -d' ' <(seq 0 4999) $D/gets.txt | awk '{ if ($2 != "value-"$1"-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") print }' | wc -l)"
redis-cli -p 22982 set after-restore 1
kill -TERM $R; wait $R; echo "restored node SIGTERM exit $?"
# same-fs backup: in-place damage of the live engine's sealed segment also damages the backup
f=$D/n/engine/0000000003.data; sz=$(stat -c %s $f)
printf '\xAA' | dd of=$f bs=1 seek=$((sz/2)) conv=notrunc 2>/dev/null
echo "after flipping a byte in the LIVE engine's 0000000003.data, the same-fs backup verifies as:"; $T verify --no-progress $D/samefs | tail -1
