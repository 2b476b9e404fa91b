#!/bin/bash
# hostile13 campaign: fresh cluster per seed, all fault kinds, strict / partial / ext4 models.
# usage: campaign.sh FIRST_SEED LAST_SEED [ROUNDS]
cd "$(dirname "$0")"
R=${3:-6}
for s in $(seq $1 $2); do
  case $((s % 3)) in
    0) extra="";;
    1) extra="--partial 0.5";;
    2) extra="--ext4 --partial 0.3";;
  esac
  echo "### seed $s $extra"
  timeout 1200 python3 h13.py --seed $s --rounds $R --dump-every 3 \
     --faults all_power,one_power,crash_then_power,snap_install,double_power,member $extra > /tmp/h13/camp-$s.txt 2>&1
  echo "rc=$?"; grep "SUMMARY\|PROBLEM\|DID NOT" /tmp/h13/camp-$s.txt | cut -c1-300 | head -8
  cp -r /tmp/h13/c/logs /tmp/h13/camp-$s-logs 2>/dev/null
done
