#!/usr/bin/env python3
"""Rolling upgrade OLD->NEW (or NEW->OLD->NEW) under a writer, with variations.
usage: t_roll.py MODE [ROUNDS]
 MODE: term-leaderfirst | term-leaderlast | kill (SIGKILL instead of SIGTERM) |
       kill-mid (SIGKILL the freshly started NEW node once before it caught up) |
       crash-other (SIGKILL another, not yet upgraded, node while one is mid-upgrade, restart it OLD) |
       down-up (upgrade all, then roll all back to OLD, then up again)
Checks: every acked key on every node, longest gap, panics."""
import sys, time, random, signal
from lib import *

mode = sys.argv[1]; rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
bad = 0
for rnd in range(rounds):
    cl = Cluster(f"roll-{mode}")
    try:
        for i in cl.initial: cl.start(i, binary=OLD)
        for i in cl.initial: assert cl.nodes[i].wait_up()
        assert cl.leader()
        w = Writer(cl); w.start(); time.sleep(1.5)
        def upgrade(i, binary):
            n = cl.nodes[i]
            sig = signal.SIGKILL if mode == "kill" else signal.SIGTERM
            rc = n.kill(sig)
            cl.start(i, binary=binary)
            if mode == "kill-mid":
                time.sleep(random.uniform(0.05, 0.4)); n.kill(); cl.start(i, binary=binary)
            if mode == "crash-other":
                others = [j for j in cl.initial if j != i and cl.nodes[j].bin == OLD]
                if others:
                    j = random.choice(others); cl.nodes[j].kill(); time.sleep(0.3); cl.start(j, binary=OLD)
            ok = n.wait_up() and wait_caught_up(cl, i)
            print(f"  node {i} -> {binary.split('/')[-1]} rc={rc} caught_up={ok}", flush=True)
            time.sleep(1)
            return ok
        order = list(cl.initial)
        L = cl.leader()
        if mode == "term-leaderlast": order = [x for x in order if x != L] + [L]
        else: order = [L] + [x for x in order if x != L]
        for i in order: upgrade(i, NEW)
        if mode == "down-up":
            for i in order: upgrade(i, OLD)
            for i in order: upgrade(i, NEW)
        time.sleep(1)
        w.stop()
        res = check_all(cl, w.acked)
        for i in cl.initial: wait_caught_up(cl, i, 10)
        res = check_all(cl, w.acked)
        p = panics(cl)
        v1 = sum(n.logtext().count("version 1") for n in cl.nodes.values())
        print(f"round {rnd}: acked={len(w.acked)} errors={w.errors} gap={w.gap:.2f}s missing={res} panics={p} v1-lines={v1} dir={cl.root}", flush=True)
        if any(v != 0 for v in res.values()) or p or w.gap > 3: bad += 1
    finally:
        cl.kill_all()
print(f"{mode}: bad rounds {bad}/{rounds}")
