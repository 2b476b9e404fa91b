#!/usr/bin/env python3
"""Claim 4: with a majority up the cluster keeps serving; a restarted node
catches up. Under light INCR load, repeatedly: SIGKILL the leader (kept down
4 s), SIGSTOP the leader 4 s, SIGKILL a follower. Measures the longest gap
between acked writes while 2 of 3 nodes run, and the restarted node's
catch-up time (its applied index reaching the leader's commit index).

usage: availability.py [--rounds 9] [--slow ...]
"""
import argparse, os, sys, time, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=9)
ap.add_argument("--root", default="/tmp/hostile6-avail")
ap.add_argument("--base", type=int, default=19700)
args = ap.parse_args()
C = Cluster(args.root, base=args.base)
C.start_all()
assert C.leader(timeout=20)
acks = []
stop = threading.Event()


def load(w):
    i = w % 3 + 1
    while not stop.is_set():
        if not C.alive(i) or i in C.paused:
            i = i % 3 + 1
            continue
        try:
            C.conn(i, 6).incr("a")
            acks.append(time.time())
        except Exception:
            i = i % 3 + 1
            time.sleep(0.01)


ts = [threading.Thread(target=load, args=(w,), daemon=True) for w in range(6)]
for t in ts:
    t.start()
time.sleep(2)
report = []
for r in range(args.rounds):
    kind = ["kill_leader", "stop_leader", "kill_follower"][r % 3]
    lead = C.leader()
    x = lead if kind != "kill_follower" else [i for i in C.ids if i != lead][0]
    t0 = time.time()
    if kind == "stop_leader":
        C.stop(x)
    else:
        C.kill(x)
    time.sleep(4)
    t1 = time.time()
    window = sorted(a for a in acks if t0 <= a <= t1)
    pts = [t0] + window + [t1]
    gap = max(b - a for a, b in zip(pts, pts[1:]))
    if kind == "stop_leader":
        C.cont(x)
    else:
        C.start(x)
    t2 = time.time()
    caught = None
    while time.time() - t2 < 30:
        try:
            li = C.info(C.leader())
            xi = C.info(x)
            if li and xi and int(xi["raft_applied_index"]) >= int(li["raft_commit_index"]) - 5:
                caught = time.time() - t2
                break
        except Exception:
            pass
        time.sleep(0.1)
    line = f"{kind} node {x}: acks in 4 s with 2/3 up={len(window)}, longest gap={gap:.2f}s, catch-up={caught}"
    report.append(line)
    print(line, flush=True)
    time.sleep(2)
stop.set()
C.stop_all()
os.system(f"grep -il panic {args.root}/n*.log && echo PANIC-FOUND")
