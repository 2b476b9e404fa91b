"""Expiry races of the new commands, with a large --tick-ms so followers apply entries late.
Per round r: PSETEX k:r T a (T=120 ms) via node N, then at T+delta (delta -15..+25 ms) one of
SETNX k:r b | GETSET k:r b | SETEX k:r 1000 b | PSETEX k:r 1000000 b, via a random node.
Also SETEX s:r 100000 v (relative TTL; expiry must be identical on all nodes).
Checks: reply consistent with final state (SETNX :1 -> b present, no TTL; :0 -> key gone at the end;
GETSET 'a' or nil -> b present, no TTL); dumps identical (values and expiries) on all nodes.
usage: python3 exprace2.py --run run-exr1 --rounds 60 --seed 1 -- --tick-ms 400
"""
import argparse, os, random, time
import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from cluster import Cluster, RUN_ROOT
from resp import Conn, Err, one
ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True); ap.add_argument("--rounds", type=int, default=60); ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--base-client", type=int, default=17200); ap.add_argument("--base-peer", type=int, default=18200)
ap.add_argument("extra", nargs="*")
A = ap.parse_args(); rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra, base_client=A.base_client, base_peer=A.base_peer)
res = {}; bad = []
try:
    cl.start_all(); l = cl.wait_leader(30); assert l
    conns = {i: Conn(cl.port(i), timeout=10) for i in cl.ids}
    for r in range(A.rounds):
        k = "k:%d" % r
        T = 120
        c0 = conns[rnd.choice(cl.ids)]
        assert c0.cmd("PSETEX", k, str(T), "a") == "OK"
        t0 = time.time()
        conns[rnd.choice(cl.ids)].cmd("SETEX", "s:%d" % r, "100000", "v")
        delta = rnd.uniform(-15, 25)
        time.sleep(max(0, t0 + (T + delta) / 1000 - time.time()))
        op = rnd.choice(["SETNX", "GETSET", "SETEX", "PSETEX"])
        via = rnd.choice(cl.ids)
        args = {"SETNX": ("SETNX", k, "b"), "GETSET": ("GETSET", k, "b"), "SETEX": ("SETEX", k, "1000", "b"), "PSETEX": ("PSETEX", k, "1000000", "b")}[op]
        rep = conns[via].cmd(*args)
        res[k] = (op, rep, via, round(delta, 1))
    time.sleep(2.5)
    cl.wait_converged(60)
    rcs = cl.stop_all(); cl.ev("rcs %s" % rcs)
    ok, dumps = cl.compare_dumps("exprace2")
    d = dumps[1]
    kinds = {}
    for k, (op, rep, via, delta) in res.items():
        got = d.get(k)
        kinds[(op, repr(rep))] = kinds.get((op, repr(rep)), 0) + 1
        if op == "SETNX":
            if rep == 1 and (got is None or got[0] != "b" or got[1] is not None): bad.append((k, op, rep, via, delta, got))
            if rep == 0 and got is not None and (got[0] != "a" or got[1] is None): bad.append((k, op, rep, via, delta, got))
        elif op == "GETSET":
            if rep not in ("a", None) or got is None or got[0] != "b" or got[1] is not None: bad.append((k, op, rep, via, delta, got))
        else:
            if rep != "OK" or got is None or got[0] != "b" or got[1] is None: bad.append((k, op, rep, via, delta, got))
    cl.ev("=== SUMMARY rounds=%d outcomes=%s dumps_equal=%s inconsistent=%d %s self_exits=%s" % (A.rounds, kinds, ok, len(bad), bad[:5], cl.self_exits))
finally:
    for i in cl.ids:
        if cl.alive(i): cl.resume(i); cl.kill(i)
