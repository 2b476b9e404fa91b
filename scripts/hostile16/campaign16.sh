#!/bin/bash
# hostile16 campaign: fresh cluster per seed, every fault kind, no data-directory work-around.
# usage: campaign16.sh FIRST_SEED LAST_SEED [ROUNDS]   (env: H13_ROOT, H13_PORT_BASE, OUT)
cd "$(dirname "$0")"
R=${3:-6}
OUT=${OUT:-/tmp/h16/out}
mkdir -p $OUT
for s in $(seq $1 $2); do
  case $((s % 3)) in
    0) extra="";;                        # strict POSIX, all unsynced state dropped
    1) extra="--partial 0.5";;           # some writeback happened (prefixes, half the overwritten blocks)
    2) extra="--partial 0.5 --holes 1";; # out-of-order writeback: holes below surviving later pages
  esac
  echo "### seed $s $extra"
  timeout 1500 python3 h16.py --seed $s --rounds $R --dump-every 3 --sync-datadir 0 --presync 0 --keep \
     --faults all_power,one_power,crash_then_power,snap_install,member,backup_power,merge_power,recover_twice,double_power $extra > $OUT/camp-$s.txt 2>&1
  echo "rc=$?"; grep "SUMMARY\|STATS\|PROBLEM\|DID NOT" $OUT/camp-$s.txt | cut -c1-300 | head -12
  rm -rf $OUT/camp-$s-logs; cp -r ${H13_ROOT:-/tmp/h16/c}/logs $OUT/camp-$s-logs 2>/dev/null
done
