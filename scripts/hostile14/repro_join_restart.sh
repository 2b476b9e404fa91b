#!/bin/bash
# F2: a joined node restarted with its original flags (incl. --join) fails
# to start once its --join target has been removed and stopped.
S=/work/target-h14/release/snowflk-server; D=/tmp/h14/jr; rm -rf $D; mkdir -p $D
P="1=127.0.0.1:22921,2=127.0.0.1:22922,3=127.0.0.1:22923"
for i in 1 2 3; do $S --id $i --data-dir $D/n$i --listen 127.0.0.1:2291$i --peer-listen 127.0.0.1:2292$i --peers $P >$D/n$i.log 2>&1 & echo $! > $D/n$i.pid; done
sleep 2
$S --id 4 --data-dir $D/n4 --listen 127.0.0.1:22914 --peer-listen 127.0.0.1:22924 --join 127.0.0.1:22911 >$D/n4.log 2>&1 & echo $! > $D/n4.pid
sleep 3
L=$(redis-cli -p 22912 snowflk leader | head -1); echo "leader $L"
redis-cli -p 22912 snowflk promote 4
redis-cli -p 22912 snowflk remove-node 1; sleep 1; kill -TERM $(cat $D/n1.pid); sleep 1
kill -TERM $(cat $D/n4.pid); sleep 1
echo "restart node 4 with the same command line:"
$S --id 4 --data-dir $D/n4 --listen 127.0.0.1:22914 --peer-listen 127.0.0.1:22924 --join 127.0.0.1:22911 >>$D/n4.log 2>&1; echo "exit $?"; tail -1 $D/n4.log
echo "restart node 4 without --join:"
$S --id 4 --data-dir $D/n4 --listen 127.0.0.1:22914 --peer-listen 127.0.0.1:22924 >>$D/n4.log 2>&1 & echo $! > $D/n4.pid; sleep 2; redis-cli -p 22914 snowflk members | head -3 ; redis-cli -p 22914 info replication | grep raft_role
for i in 2 3 4; do kill -TERM $(cat $D/n$i.pid) 2>/dev/null; done; wait
