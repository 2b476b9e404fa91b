"""Deposed-leader stale read/CAS attack.
Round: SET k x0 (acked) ; SIGSTOP leader L ; SET k x1 through a follower until acked (new leader) ;
then on a connection to L opened before the pause: GET k and CAS k x0 y (sent either while L is still
stopped, or right after SIGCONT). GET must return x1 (or an error); CAS must return 0 (or an error).

usage: python3 stale.py --run run-stale1 --rounds 20 -- <server args>
"""
import argparse
import os
import random
import time

from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one, enc

ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--rounds", type=int, default=20)
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)


def main():
    cl.ev("=== stale.py extra=%s" % A.extra)
    cl.start_all()
    viol = []
    stats = {}
    for rd in range(A.rounds):
        L = cl.wait_leader(30)
        F = rnd.choice([i for i in cl.ids if i != L])
        k = "s%d" % rd
        cL = Conn(cl.port(L), timeout=10)
        cL2 = Conn(cl.port(L), timeout=10)
        r = cL.cmd("SET", k, "x0")
        assert r == "OK", r
        cL.cmd("GET", k)
        cl.pause(L)
        t0 = time.time()
        r = None
        while time.time() - t0 < 30:
            try:
                r = one(cl.port(F), "SET", k, "x1", timeout=7)
            except Exception as e:
                r = Err(repr(e))
            if r == "OK":
                break
            time.sleep(0.01)
        acked = time.time() - t0
        mode = rnd.choice(["send_while_stopped", "send_after_cont", "send_after_cont_delay"])
        if mode == "send_while_stopped":
            cL.s.sendall(enc(("GET", k)))
            cL2.s.sendall(enc(("CAS", k, "x0", "y")))
            cl.resume(L)
        elif mode == "send_after_cont":
            cl.resume(L)
            cL.s.sendall(enc(("GET", k)))
            cL2.s.sendall(enc(("CAS", k, "x0", "y")))
        else:
            cl.resume(L)
            time.sleep(rnd.uniform(0.001, 0.05))
            cL.s.sendall(enc(("GET", k)))
            cL2.s.sendall(enc(("CAS", k, "x0", "y")))
        try:
            g = cL._read()
        except ConnLost as e:
            g = Err("connlost " + str(e))
        try:
            c = cL2._read()
        except ConnLost as e:
            c = Err("connlost " + str(e))
        cl.ev("round %d L=%d F=%d x1 acked after %.2fs mode=%s -> GET=%r CAS=%r" % (rd, L, F, acked, mode, g, c))
        key = (repr(g) if not isinstance(g, Err) else "err", repr(c) if not isinstance(c, Err) else "err")
        stats[key] = stats.get(key, 0) + 1
        if (not isinstance(g, Err) and g != "x1") or (not isinstance(c, Err) and c != 0):
            viol.append((rd, mode, g, c))
            cl.ev("!!! VIOLATION round %d: GET=%r CAS=%r" % (rd, g, c))
        # final state check
        fin = one(cl.port(F), "GET", k, timeout=7)
        if fin != "x1":
            viol.append((rd, "final", fin))
            cl.ev("!!! final GET %s = %r" % (k, fin))
        cL.close()
        cL2.close()
        time.sleep(rnd.uniform(0.2, 1.0))
    cl.wait_converged(30)
    rcs = cl.stop_all()
    ok, _ = cl.compare_dumps("stale end")
    cl.ev("=== SUMMARY violations=%s stats=%s dumps_equal=%s rcs=%s" % (viol, stats, ok, rcs))


try:
    main()
finally:
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
