"""Expiry-at-apply-time race with lagging follower apply (large --tick-ms): SET k 5 PX T, then just
before T do INCR / APPEND / CAS / PERSIST / EXPIRE / SET NX on the leader. If any node decided
'expired or not' with its own clock at its own (later, batched) apply time, replicas would diverge.
Checks replies against the final state and compares all engines offline.

usage: python3 exprace.py --run run-er1 --keys 600 -- --tick-ms 500 --election-ticks 6
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
ap.add_argument("--keys", type=int, default=600)
ap.add_argument("--workers", type=int, default=6)
ap.add_argument("--via", default="leader", help="leader|follower")
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)
res = {}
lock = threading.Lock()


def worker(w, port):
    r = random.Random(A.seed * 13 + w)
    c = Conn(port, timeout=10)
    for n in range(A.keys // A.workers):
        k = "x:%d:%d" % (w, n)
        T = r.randint(150, 400)
        t0 = time.time()
        if c.cmd("SET", k, "5", "PX", str(T)) != "OK":
            continue
        d = r.randint(-15, 25)
        time.sleep(max(0, (T - d) / 1000.0 - (time.time() - t0)))
        op = r.choice(["incr", "append", "cas", "persist", "expire", "setnx", "incr_persist"])
        if op == "incr":
            out = c.cmd("INCR", k)
        elif op == "append":
            out = c.cmd("APPEND", k, "z")
        elif op == "cas":
            out = c.cmd("CAS", k, "5", "7")
        elif op == "persist":
            out = c.cmd("PERSIST", k)
        elif op == "expire":
            out = c.cmd("EXPIRE", k, "100000")
        elif op == "setnx":
            out = c.cmd("SET", k, "n", "NX")
        else:
            out = c.pipeline([("INCR", k), ("PERSIST", k)])
        with lock:
            res[k] = (op, out, d)
    c.close()


def expected(op, out):
    """final value implied by the reply(ies), or '?'"""
    if op == "incr":
        return "1" if out == 1 else (None if out == 6 else "?")   # 6: TTL kept -> expires
    if op == "append":
        return "z" if out == 1 else (None if out == 2 else "?")
    if op == "cas":
        return None if out in (0, 1) else "?"   # CAS keeps TTL (observed) -> gone either way
    if op == "persist":
        return "5" if out == 1 else (None if out == 0 else "?")
    if op == "expire":
        return "5" if out == 1 else (None if out == 0 else "?")
    if op == "setnx":
        return "n" if out == "OK" else (None if out is None else "?")
    if op == "incr_persist":
        a, b = out
        if a == 1:
            return "1"      # fresh key without TTL; PERSIST -> 0
        if a == 6:
            return "6" if b == 1 else ("?" if b == 0 else "?")
        return "?"
    return "?"


def main():
    cl.ev("=== exprace.py extra=%s via=%s" % (A.extra, A.via))
    cl.start_all()
    l = cl.wait_leader(30)
    time.sleep(1)
    port = cl.port(l) if A.via == "leader" else cl.port([i for i in cl.ids if i != l][0])
    ts = [threading.Thread(target=worker, args=(w, port)) for w in range(A.workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    time.sleep(2)
    l = cl.wait_leader(30)
    c = Conn(cl.port(l), timeout=10)
    bad = []
    stats = {}
    for k, (op, out, d) in sorted(res.items()):
        e = expected(op, out)
        g = c.cmd("GET", k)
        stats[(op, repr(out))] = stats.get((op, repr(out)), 0) + 1
        if e != "?" and g != e:
            bad.append((k, op, out, d, "expected", e, "got", g))
    c.close()
    cl.ev("outcomes %s" % sorted(stats.items()))
    cl.ev("reply/final-state mismatches: %d e.g. %s" % (len(bad), bad[:8]))
    cl.wait_converged(30)
    rcs = cl.stop_all()
    ok, dumps = cl.compare_dumps("exprace end")
    cl.ev("=== SUMMARY mismatches=%d dumps_equal=%s rcs=%s" % (len(bad), ok, rcs))


try:
    main()
finally:
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
