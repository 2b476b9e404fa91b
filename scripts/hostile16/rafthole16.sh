#!/bin/bash
# hostile16: holes (out-of-order writeback) in Raft log files only: log segments
# grow by appends (no preallocation) so unsynced growth exists; --holes 2 puts
# holes only under raft/; everything else is plain partial.
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/h16/outR}; mkdir -p $OUT
for s in $(seq $1 $2); do
  echo "### seed $s raft holes"
  timeout 1200 python3 h16.py --seed $s --rounds ${3:-6} --keep --partial 0.7 --holes 2 \
     --server-args "--raft-log-preallocate-bytes 0" \
     --faults all_power,one_power,recover_twice,snap_install,crash_then_power,double_power > $OUT/r-$s.txt 2>&1
  echo "rc=$?"; grep "SUMMARY\|STATS\|PROBLEM\|DID NOT" $OUT/r-$s.txt | cut -c1-300 | head -12
  grep -h "hole in" ${H13_ROOT:-/tmp/h16/c}/fs*/lazyfs.log | sed 's/.*hole in //' > $OUT/r-$s-holes.txt
  rm -rf $OUT/r-$s-logs; cp -r ${H13_ROOT:-/tmp/h16/c}/logs $OUT/r-$s-logs 2>/dev/null
done
