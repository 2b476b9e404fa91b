"""Durability: unique-key writes + INCR counters from several clients; repeatedly SIGKILL all nodes
(or a minority) mid-load; after restart every acknowledged write must be readable (on every node).

usage: python3 dur.py --run run-dur1 --seed 1 --rounds 10 -- <extra server args>
"""
import argparse
import os
import random
import threading
import time

from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one

ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--rounds", type=int, default=10)
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--mode", default="mixed", help="all|minority|mixed")
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)

acked = {}       # key -> value
unknown = {}     # key -> value
cnt_acked = {}   # cid -> max acked INCR result
cnt_unknown = {}  # cid -> number of unknown incrs
lock = threading.Lock()
running = threading.Event()
stop = threading.Event()
errs = {}


def client(cid):
    crnd = random.Random(A.seed * 100 + cid)
    seq = 0
    conn = None
    while not stop.is_set():
        if not running.is_set():
            if conn:
                conn.close()
                conn = None
            time.sleep(0.02)
            continue
        if conn is None:
            try:
                conn = Conn(cl.port(crnd.choice(cl.ids)), timeout=7, connect_timeout=0.5)
            except Exception:
                time.sleep(0.05)
                continue
        seq += 1
        x = crnd.random()
        try:
            if x < 0.7:
                k, v = "d:%d:%d" % (cid, seq), "v%d-%d" % (cid, seq)
                args = ("SET", k, v) if crnd.random() < 0.7 else ("SET", k, v, "EX", "100000")
                r = conn.cmd(*args)
                with lock:
                    if r == "OK":
                        acked[k] = v
                    elif isinstance(r, Err):
                        errs[r.msg[:40]] = errs.get(r.msg[:40], 0) + 1
                        if r.msg.startswith("TIMEOUT"):
                            unknown[k] = v
            elif x < 0.85:
                k1, k2 = "m:%d:%d:a" % (cid, seq), "m:%d:%d:b" % (cid, seq)
                r = conn.cmd("MSET", k1, "x", k2, "y")
                with lock:
                    if r == "OK":
                        acked[k1] = "x"
                        acked[k2] = "y"
                    elif isinstance(r, Err):
                        errs[r.msg[:40]] = errs.get(r.msg[:40], 0) + 1
                        if r.msg.startswith("TIMEOUT"):
                            unknown[k1] = "x"
                            unknown[k2] = "y"
            else:
                r = conn.cmd("INCR", "cnt:%d" % cid)
                with lock:
                    if isinstance(r, int):
                        cnt_acked[cid] = max(cnt_acked.get(cid, 0), r)
                    elif isinstance(r, Err):
                        errs[r.msg[:40]] = errs.get(r.msg[:40], 0) + 1
                        if r.msg.startswith("TIMEOUT"):
                            cnt_unknown[cid] = cnt_unknown.get(cid, 0) + 1
        except ConnLost:
            with lock:
                errs["connlost"] = errs.get("connlost", 0) + 1
                if x < 0.7:
                    unknown[k] = v
                elif x < 0.85:
                    unknown[k1] = "x"
                    unknown[k2] = "y"
                else:
                    cnt_unknown[cid] = cnt_unknown.get(cid, 0) + 1
            conn.close()
            conn = None


def verify(tag, nodes=None):
    nodes = nodes or cl.ids
    with lock:
        items = sorted(acked.items())
        ca = dict(cnt_acked)
        cu = dict(cnt_unknown)
    bad = 0
    for i in nodes:
        c = None
        for attempt in range(30):
            try:
                c = Conn(cl.port(i), timeout=10)
                r = c.cmd("GET", "__probe")
                if isinstance(r, Err):
                    raise ConnLost(r.msg)
                break
            except Exception:
                if c:
                    c.close()
                c = None
                time.sleep(0.5)
        if c is None:
            cl.ev("verify %s: node %d unreachable" % (tag, i))
            bad += 1
            continue
        missing = []
        for j in range(0, len(items), 500):
            chunk = items[j:j + 500]
            rs = c.pipeline([("GET", k) for k, _ in chunk])
            for (k, v), r in zip(chunk, rs):
                if r != v:
                    missing.append((k, v, r))
        for cid, mx in ca.items():
            r = c.cmd("GET", "cnt:%d" % cid)
            hi = mx + cu.get(cid, 0) + 0  # can't exceed acked max + unknowns (+ later acks none)
            if r is None or int(r) < mx:
                missing.append(("cnt:%d" % cid, ">=%d" % mx, r))
        c.close()
        if missing:
            bad += 1
            cl.ev("!!! verify %s node %d: %d acked writes missing/wrong, e.g. %s" % (tag, i, len(missing), missing[:10]))
    cl.ev("verify %s: %d acked keys, counters %s -> %s" % (tag, len(items), ca, "OK" if not bad else "FAIL"))
    return bad == 0


def main():
    cl.ev("=== dur.py seed=%d extra=%s mode=%s" % (A.seed, A.extra, A.mode))
    cl.start_all()
    assert cl.wait_leader(30)
    ts = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(A.clients)]
    for t in ts:
        t.start()
    fails = 0
    for rd in range(A.rounds):
        running.set()
        time.sleep(rnd.uniform(1, 4))
        mode = A.mode if A.mode != "mixed" else rnd.choice(["all", "all", "minority", "all_paused"])
        if mode == "all":
            order = rnd.sample(cl.ids, 3)
            for i in order:
                cl.kill(i)
                time.sleep(rnd.choice([0, 0, 0.002, 0.02]))
        elif mode == "all_paused":
            # pause all (freeze), then kill all: in-flight replies can't be sent after the pause
            for i in cl.ids:
                cl.pause(i)
            for i in cl.ids:
                cl.kill(i)
        else:
            l = cl.leader() or 1
            victim = l if rnd.random() < 0.6 else rnd.choice([i for i in cl.ids if i != l])
            cl.kill(victim)
        time.sleep(0.3)
        running.clear()
        time.sleep(0.3)
        # verify with the survivors first (minority case), then restart everybody
        if mode == "minority":
            assert cl.wait_leader(30)
            alive = [i for i in cl.ids if cl.alive(i)]
            if not verify("round %d (%s) survivors %s" % (rd, mode, alive), alive):
                fails += 1
        cl.heal()
        assert cl.wait_leader(30), "no leader after restart"
        if not verify("round %d (%s) after restart" % (rd, mode)):
            fails += 1
    stop.set()
    cl.wait_converged(60)
    rcs = cl.stop_all()
    ok, _ = cl.compare_dumps("dur end")
    cl.ev("=== SUMMARY rounds=%d fails=%d acked=%d unknown=%d errs=%s dumps_equal=%s rcs=%s" % (
        A.rounds, fails, len(acked), len(unknown), errs, ok, rcs))


try:
    main()
finally:
    stop.set()
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
