"""Reproducer: the leader stops itself while a lagging follower is being sent a snapshot and the leader
keeps taking new snapshots (tiny --snapshot-entries). Load: pipelined SETs on the leader. Nemesis:
SIGSTOP a follower for a while (so it falls behind the purged log) then SIGCONT; repeat.
Detects any node process that exits without having been signalled by this script, and records its
exit code and the last ERROR lines of its log.

usage: python3 snapcrash.py --run run-snapcrash1 --rounds 20 -- --snapshot-entries 50 --snapshot-trailing-entries 10
"""
import argparse
import os
import random
import threading
import time

import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one

ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--rounds", type=int, default=20)
ap.add_argument("--pause", type=float, default=1.5)
ap.add_argument("--gap", type=float, default=2.0)
ap.add_argument("--vsize", type=int, default=100)
ap.add_argument("--nkeys", type=int, default=2000)
ap.add_argument("--how", default="pause", help="pause|kill|mixed: how the follower falls behind")
ap.add_argument("--base-client", type=int, default=17000)
ap.add_argument("--base-peer", type=int, default=18000)
ap.add_argument("--hammer", action="store_true")
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
ap2 = None
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra, base_client=A.base_client, base_peer=A.base_peer)
stop = threading.Event()


def writer(w):
    conn = None
    seq = 0
    while not stop.is_set():
        if conn is None:
            l = cl.leader()
            try:
                conn = Conn(cl.port(l or 1), timeout=5, connect_timeout=0.5)
            except Exception:
                time.sleep(0.05)
                continue
        try:
            def mk(j):
                k = "w%d:%d" % (w, (seq + j) % A.nkeys); v = "x" * A.vsize
                return [("SET", k, v), ("SETEX", k, "1000", v), ("PSETEX", k, "500000", v), ("GETSET", k, v), ("SETNX", k + "n%d" % seq, v)][j % 5]
            rs = conn.pipeline([mk(j) for j in range(20)])
            seq += 20
            if any(isinstance(r, Err) for r in rs):
                conn.close(); conn = None; time.sleep(0.05)
        except ConnLost:
            conn.close(); conn = None


def main():
    cl.ev("=== snapcrash.py extra=%s" % A.extra)
    cl.start_all()
    assert cl.wait_leader(30)
    ts = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(2)]
    for t in ts:
        t.start()
    crashes = []
    for rd in range(A.rounds):
        l = cl.wait_leader(30)
        f = rnd.choice([i for i in cl.ids if i != l])
        how = A.how if A.how != "mixed" else rnd.choice(["pause", "kill"])
        if how == "pause":
            cl.pause(f)
            time.sleep(rnd.uniform(A.pause * 0.5, A.pause * 1.5))
            cl.resume(f)
        else:
            cl.kill(f)
            time.sleep(rnd.uniform(A.pause * 0.5, A.pause * 1.5))
            cl.start(f)
        if rnd.random() < 0.4:
            time.sleep(rnd.uniform(0, 0.3))
            t = rnd.choice([i for i in cl.ids if i != l])
            try:
                cl.ev("TRANSFER %d -> %d: %r" % (l, t, one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(t))))
            except Exception as e:
                cl.ev("transfer exc %r" % e)
        time.sleep(rnd.uniform(A.gap * 0.5, A.gap * 1.5))
        for i in cl.ids:
            p = cl.procs[i]
            if p.poll() is not None:
                log = open(os.path.join(cl.run_dir, "n%d.log" % i), errors="replace").read().splitlines()
                errs = [x for x in log[-300:] if "ERROR" in x]
                cl.ev("!!! n%d exited on its own rc=%s (round %d, leader was %s, paused follower %s): %s" % (
                    i, p.returncode, rd, l, f, errs[-2:]))
                crashes.append((rd, i, p.returncode, l, f))
                cl.start(i)
    stop.set()
    cl.wait_leader(30)
    cl.wait_converged(60)
    rcs = cl.stop_all()
    ok, _ = cl.compare_dumps("snapcrash end")
    cl.ev("=== SUMMARY self-exits=%s dumps_equal=%s rcs=%s" % (crashes, ok, rcs))


try:
    main()
finally:
    stop.set()
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
