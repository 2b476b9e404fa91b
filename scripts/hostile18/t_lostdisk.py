#!/usr/bin/env python3
"""Lost-disk election around an upgrade. 3 voters start on OLD, some/all are upgraded to NEW
(SIGTERM + NEW on the same dir). Then: lagging node C SIGSTOPped, 200 writes acked by {A,B},
A and B SIGKILLed, one of them (W) wiped and restarted with binary WBIN, C continued.
{C,W} must not elect (C lacks the writes). Then the kept node restarts (NEW) and every acked
key must be present.
usage: t_lostdisk.py MODE ROUNDS
 MODE all-old : all upgraded, W restarted with OLD on an empty dir
 MODE all-new : all upgraded, W restarted with NEW on an empty dir (control)
 MODE mixed-old / mixed-new : W was never upgraded (still OLD when wiped); W restarted OLD / NEW
 MODE down-old : all upgraded, then all rolled back to OLD, W wiped and restarted OLD
"""
import sys, time, random, signal
from lib import *

mode = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 2

def one(rnd, wipe_leader):
    c = Cluster(f"ld-{mode}{rnd}")
    try:
        for i in c.initial: c.start(i, binary=OLD)
        for i in c.initial: assert c.nodes[i].wait_up()
        L = c.leader(); assert L
        others = [i for i in c.initial if i != L]
        lag = random.choice(others); holder = [i for i in others if i != lag][0]
        wiped = L if wipe_leader else holder; keep = holder if wipe_leader else L
        write_keys(c.nodes[L], "pre", 20)
        # upgrade
        up = list(c.initial) if not mode.startswith("mixed") else [i for i in c.initial if i != wiped]
        for i in up:
            c.nodes[i].kill(signal.SIGTERM); c.start(i, binary=NEW); assert c.nodes[i].wait_up()
            assert wait_caught_up(c, i), f"{i} not caught up"
            time.sleep(0.5)
        if mode == "down-old":
            for i in c.initial:
                c.nodes[i].kill(signal.SIGTERM); c.start(i, binary=OLD); c.nodes[i].wait_up()
                wait_caught_up(c, i, 10); time.sleep(0.5)
        time.sleep(1)
        L = c.leader(); assert L
        if L != keep and L != wiped:
            # make the leader one of the holders: transfer away from lag
            pass
        # writes acked while lag is stopped
        c.nodes[lag].stop()
        Lnow = c.leader(among=[keep, wiped], t=10)
        keys = write_keys(c.nodes[Lnow or keep], f"r{rnd}-", 200)
        for i in (keep, wiped): c.nodes[i].kill()
        c.nodes[lag].cont()
        c.nodes[wiped].wipe()
        wbin = OLD if mode.endswith("old") else NEW
        c.start(wiped, binary=wbin)
        time.sleep(5)
        bad = None
        for i in (lag, wiped):
            if c.nodes[i].info().get("raft_role") == "leader":
                bad = f"node {i} became leader"
        # writes on the {lag, wiped} side if it has a leader
        c.start(keep, binary=NEW if mode != "down-old" else OLD)
        L2 = c.leader(among=[keep, lag, wiped], t=20); time.sleep(2)
        miss, err = count_present(c.nodes[L2], keys) if L2 else (None, "no leader")
        logs = {i: c.nodes[i].logtext() for i in c.nodes}
        refused = sum(logs[i].count("version 1") + logs[i].count("another data directory") for i in (lag, keep))
        print(f"round {rnd} {mode} L={L} lag={lag} wiped={wiped} keep={keep}: acked={len(keys)} early-leader={bad} "
              f"final-leader={L2} missing={None if miss is None else len(miss)} err={err} refusal-lines={refused} "
              f"panics={panics(c)} root={c.root}", flush=True)
        return bad is None and miss == []
    finally:
        c.kill_all()

ok = sum(one(r, r % 2 == 1) for r in range(n))
print(f"{mode}: {ok}/{n} rounds held")
