#!/usr/bin/env bash
# usage: cluster.sh start|stop|kill ID|start1 ID|stopsig ID|cont ID|clean
BIN=/work/target-hostile/release/snowflk-server
D=/tmp/hostile2/c
PEERS=1=127.0.0.1:8601,2=127.0.0.1:8602,3=127.0.0.1:8603
start1() {
  id=$1
  mkdir -p $D
  $BIN --id $id --data-dir $D/n$id --listen 127.0.0.1:760$id --peer-listen 127.0.0.1:860$id \
    --peers $PEERS --tick-ms 10 --heartbeat-ticks 5 --election-ticks 50 ${EXTRA:-} >>$D/n$id.log 2>&1 &
  echo $! > $D/n$id.pid
}
case $1 in
  start) for i in 1 2 3; do start1 $i; done;;
  start1) start1 $2;;
  kill) p=$(cat $D/n$2.pid); kill -9 $p; while kill -0 $p 2>/dev/null && [ "$(ps -o stat= -p $p)" != Z ]; do sleep 0.02; done;;
  stopsig) kill -STOP $(cat $D/n$2.pid);;
  cont) kill -CONT $(cat $D/n$2.pid);;
  stop) for i in 1 2 3; do kill -CONT $(cat $D/n$i.pid) 2>/dev/null; kill $(cat $D/n$i.pid) 2>/dev/null; done;;
  clean) rm -rf $D;;
esac
