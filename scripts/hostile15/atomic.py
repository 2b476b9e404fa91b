#!/usr/bin/env python3
"""Claim 2: torn visibility of MSET / MSETNX / MULTI under leadership moves and SIGKILL.

usage: atomic.py SEED DURATION_S
Starts a fresh 3-node cluster (cluster.py), runs:
  writer "mset":  MSET g0:0..7 = c       (via random node)
  writer "multi": MULTI; SET g1:0..7 c; EXEC
  writer "nx":    MSETNX g2:0..7 c  then UNLINK g2:0..7  (EXISTS must be 0 or 8)
  readers, one per node, pipelined MGET g0 / MGET g1 / EXISTS g2 x 10
  chaos: TRANSFER-LEADER every ~1.5 s, SIGKILL + restart of a random node every ~6 s
At the end checks that each writer's last acknowledged counter is visible (not lost).
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as C
from resp import Conn

seed = int(sys.argv[1])
dur = float(sys.argv[2])
R = random.Random(seed)
N = 8
G = {g: [("g%d:%d" % (g, i)).encode() for i in range(N)] for g in range(3)}
stop = threading.Event()
lock = threading.Lock()
stats = {"reads": 0, "torn": 0, "w_ok": {}, "w_err": {}, "errs": {}}
acked = {0: 0, 1: 0}     # last acknowledged counter
attempted = {0: 0, 1: 0}
torn_examples = []


def bump(d, k):
    with lock:
        d[k] = d.get(k, 0) + 1


def conn_to(i):
    return Conn("127.0.0.1", C.cport(i), timeout=8)


def writer(g, mode, wseed):
    r = random.Random(wseed)
    c = None
    n = 0
    while not stop.is_set():
        try:
            if c is None:
                c = conn_to(r.choice([1, 2, 3]))
            n += 1
            v = b"%d" % n
            if mode == "mset":
                attempted[g] = n
                rep = c.cmd(b"MSET", *[x for k in G[g] for x in (k, v)])
                ok = rep == ("simple", b"OK")
            elif mode == "multi":
                attempted[g] = n
                c.s.sendall(b"".join(__import__("resp").enc(x) for x in
                                     [[b"MULTI"]] + [[b"SET", k, v] for k in G[g]] + [[b"EXEC"]]))
                reps = [c.read() for _ in range(N + 2)]
                rep = reps[-1]
                ok = rep[0] == "arr" and all(x == ("simple", b"OK") for x in rep[1])
            else:  # nx
                rep = c.cmd(b"MSETNX", *[x for k in G[g] for x in (k, v)])
                ok = rep[0] == "int"
                rep2 = c.cmd(b"UNLINK", *G[g])
            if ok:
                if mode != "nx":
                    acked[g] = n
                bump(stats["w_ok"], mode)
            else:
                bump(stats["w_err"], mode)
                bump(stats["errs"], (rep[1][:40] if rep[0] == "err" else repr(rep)[:40]))
                if rep[0] == "err" and (rep[1].startswith(b"TRYAGAIN") or rep[1].startswith(b"ERR not leader")):
                    time.sleep(0.05)
        except Exception as e:
            bump(stats["errs"], "exc " + type(e).__name__)
            if c:
                c.close()
            c = None
            time.sleep(0.1)


def reader(node):
    c = None
    cmds = []
    for _ in range(10):
        cmds += [[b"MGET", *G[0]], [b"MGET", *G[1]], [b"EXISTS", *G[2]]]
    while not stop.is_set():
        try:
            if c is None:
                c = conn_to(node)
            reps = c.pipeline(cmds)
            for cmd, rep in zip(cmds, reps):
                if rep[0] == "err":
                    bump(stats["errs"], b"read " + rep[1][:40])
                    continue
                with lock:
                    stats["reads"] += 1
                if cmd[0] == b"MGET":
                    vals = [x[1] if x[0] == "bulk" else None for x in rep[1]]
                    if len(set(vals)) != 1:
                        with lock:
                            stats["torn"] += 1
                            if len(torn_examples) < 10:
                                torn_examples.append((node, cmd[1][:3], vals))
                else:
                    if rep[1] not in (0, N):
                        with lock:
                            stats["torn"] += 1
                            if len(torn_examples) < 10:
                                torn_examples.append((node, b"EXISTS g2", rep[1]))
        except Exception as e:
            bump(stats["errs"], "rexc " + type(e).__name__)
            if c:
                c.close()
            c = None
            time.sleep(0.2)


def chaos():
    r = random.Random(seed * 7 + 1)
    t_kill = time.time() + 6
    while not stop.is_set():
        time.sleep(r.uniform(0.8, 2.0))
        to = r.choice([1, 2, 3])
        rep = C.transfer(to, via=r.choice([1, 2, 3]))
        bump(stats["errs"], "transfer " + repr(rep)[:50])
        if time.time() > t_kill:
            victim = r.choice([1, 2, 3])
            C.kill(victim)
            bump(stats["errs"], "kill %d" % victim)
            time.sleep(r.uniform(0.5, 2.5))
            C.start(victim)
            t_kill = time.time() + r.uniform(4, 8)


os.system("mkdir -p /tmp/h15")
base = C.BASE
for i in (1, 2, 3):
    C.start(i, fresh=True)
for i in (1, 2, 3):
    assert C.wait_up(i)
print("leader", C.wait_leader())
ths = [threading.Thread(target=writer, args=(0, "mset", seed)),
       threading.Thread(target=writer, args=(1, "multi", seed + 1)),
       threading.Thread(target=writer, args=(2, "nx", seed + 2))]
ths += [threading.Thread(target=reader, args=(i,)) for i in (1, 2, 3)]
ths.append(threading.Thread(target=chaos))
for t in ths:
    t.start()
time.sleep(dur)
stop.set()
for t in ths:
    t.join()
# make sure all nodes are up, then check last acked values on every node as leader
for i in (1, 2, 3):
    if C.procs[i].poll() is not None:
        C.start(i)
for i in (1, 2, 3):
    C.wait_up(i)
C.wait_leader()
lost = 0
for i in (1, 2, 3):
    for _ in range(50):
        rep = C.transfer(i)
        if rep == ("simple", b"OK") and C.leader(i) == i:
            break
        time.sleep(0.2)
    c = conn_to(i)
    for g in (0, 1):
        rep = c.cmd(b"MGET", *G[g])
        vals = [int(x[1]) if x[0] == "bulk" else 0 for x in rep[1]]
        print("node %d leader=%s group %d values %s acked %d attempted %d" % (i, C.leader(i), g, set(vals), acked[g], attempted[g]))
        if len(set(vals)) != 1 or vals[0] < acked[g] or vals[0] > attempted[g]:
            lost += 1
            print("  !! LOST/TORN")
    c.close()
print("stats", {k: v for k, v in stats.items() if k != "errs"})
print("errors/events", sorted(stats["errs"].items(), key=lambda x: -x[1])[:25])
print("torn examples", torn_examples)
print("RESULT seed %d reads %d torn %d lost %d" % (seed, stats["reads"], stats["torn"], lost))
C.stop_all()
