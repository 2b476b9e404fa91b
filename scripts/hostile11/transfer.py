"""Leadership transfer to a follower whose apply lags its commit (large --tick-ms), under pipelined load.
Round: pipeline B INCRs of counter c and SET k v (all acked) on the leader L; TRANSFER-LEADER to F
immediately; then on F (new leader) GET k must be v, and INCR c must return (last acked)+1.
Optionally kill the old leader right after the transfer.

usage: python3 transfer.py --run run-tr1 --rounds 30 -- --tick-ms 500
"""
import argparse
import os
import random
import time

from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one

ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--rounds", type=int, default=30)
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)


def until_ok(port, *cmd, timeout=30):
    t0 = time.time()
    r = None
    while time.time() - t0 < timeout:
        try:
            r = one(port, *cmd, timeout=7)
        except Exception as e:
            r = Err("exc " + repr(e))
        if not isinstance(r, Err):
            return r, time.time() - t0
        if r.msg.startswith("TIMEOUT") or r.msg.startswith("exc"):
            return r, time.time() - t0
        time.sleep(0.005)
    return r, time.time() - t0


def main():
    cl.ev("=== transfer.py extra=%s" % A.extra)
    cl.start_all()
    viol = []
    last = 0  # last acked INCR value of counter c
    unknown_incr = False
    for rd in range(A.rounds):
        L = cl.wait_leader(30)
        F = rnd.choice([i for i in cl.ids if i != L])
        c = Conn(cl.port(L), timeout=10)
        B = rnd.choice([10, 100, 500, 1000])
        v = "v%d" % rd
        rs = c.pipeline([("INCR", "c")] * B + [("SET", "k", v)])
        c.close()
        incs = [r for r in rs[:-1] if isinstance(r, int)]
        if len(incs) != B or rs[-1] != "OK":
            cl.ev("round %d: pipeline errors %s" % (rd, set(repr(r) for r in rs if isinstance(r, Err))))
            unknown_incr = True
        if incs:
            if incs[0] != last + 1 and not unknown_incr:
                viol.append((rd, "incr seq", last, incs[0]))
                cl.ev("!!! INCR sequence gap: last=%d first=%d" % (last, incs[0]))
            last = incs[-1]
        try:
            tr = one(cl.port(L), "SNOWFLK", "TRANSFER-LEADER", str(F), timeout=7)
        except Exception as e:
            tr = repr(e)
        post = rnd.choice(["none", "none", "kill_old", "pause_old"])
        if post == "kill_old":
            cl.kill(L)
        elif post == "pause_old":
            cl.pause(L)
        g, dt = until_ok(cl.port(F), "GET", "k")
        i, dt2 = until_ok(cl.port(F), "INCR", "c")
        nl = cl.leader(F)
        cl.ev("round %d: B=%d L=%d->F=%d transfer=%r post=%s GET=%r (%.3fs) INCR=%r expected %d (leader now %s)" % (
            rd, B, L, F, tr, post, g, dt, i, last + 1, nl))
        if not isinstance(g, Err) and rs[-1] == "OK" and g != v:
            viol.append((rd, "GET", v, g))
            cl.ev("!!! stale GET after transfer: expected %r got %r" % (v, g))
        if isinstance(i, int):
            if i != last + 1 and not unknown_incr:
                viol.append((rd, "INCR", last + 1, i))
                cl.ev("!!! INCR after transfer returned %d, expected %d" % (i, last + 1))
            last = i
        else:
            unknown_incr = True  # timeout -> unknown; resync
        if unknown_incr:
            r, _ = until_ok(cl.port(F), "GET", "c")
            if not isinstance(r, Err):
                last = int(r)
                unknown_incr = False
        cl.heal()
        time.sleep(rnd.uniform(0.1, 0.6))
    cl.wait_leader(30)
    cl.wait_converged(60)
    rcs = cl.stop_all()
    ok, _ = cl.compare_dumps("transfer end")
    cl.ev("=== SUMMARY violations=%s dumps_equal=%s rcs=%s" % (viol, ok, rcs))


try:
    main()
finally:
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
