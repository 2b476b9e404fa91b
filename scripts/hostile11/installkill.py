"""SIGKILL a follower while it installs a snapshot (or the leader while sending one).
Round: SIGSTOP follower F (it falls behind the purged log), SIGCONT, watch F's log for
'snapshot received ... installing' and SIGKILL F (or the leader) 0-30 ms later; restart.
Load: unique-key SETs (acked recorded). End: all acked keys on the leader, identical engine dumps
(unique keys: a node that lost or skipped entries would differ).

usage: python3 installkill.py --run run-ik1 --rounds 25 -- --snapshot-entries 30 --snapshot-trailing-entries 0
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
ap.add_argument("--rounds", type=int, default=25)
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)
stop = threading.Event()
acked = {}
lock = threading.Lock()


def writer(w):
    conn = None
    seq = 0
    while not stop.is_set():
        if conn is None:
            try:
                conn = Conn(cl.port(cl.leader() or 1), timeout=5, connect_timeout=0.5)
            except Exception:
                time.sleep(0.05)
                continue
        batch = []
        for _ in range(20):
            seq += 1
            batch.append(("i:%d:%d" % (w, seq), "v" * 200 + str(seq)))
        try:
            rs = conn.pipeline([("SET", k, v) for k, v in batch])
            with lock:
                for (k, v), r in zip(batch, rs):
                    if r == "OK":
                        acked[k] = v
            if any(isinstance(r, Err) for r in rs):
                conn.close(); conn = None; time.sleep(0.03)
        except ConnLost:
            conn.close(); conn = None


def logsize(i):
    return os.path.getsize(os.path.join(cl.run_dir, "n%d.log" % i))


def wait_install(i, since, timeout=4):
    path = os.path.join(cl.run_dir, "n%d.log" % i)
    t0 = time.time()
    while time.time() - t0 < timeout:
        with open(path, "rb") as f:
            f.seek(since)
            if b"installing" in f.read():
                return True
        time.sleep(0.001)
    return False


def main():
    cl.ev("=== installkill.py extra=%s" % A.extra)
    cl.start_all()
    assert cl.wait_leader(30)
    ts = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(2)]
    for t in ts:
        t.start()
    hits = 0
    selfexit = []
    for rd in range(A.rounds):
        l = cl.wait_leader(30)
        f = rnd.choice([i for i in cl.ids if i != l])
        cl.pause(f)
        time.sleep(rnd.uniform(0.8, 1.5))
        pos = logsize(f)
        cl.resume(f)
        got = wait_install(f, pos)
        time.sleep(rnd.uniform(0, 0.03))
        victim = f if rnd.random() < 0.7 else l
        cl.kill(victim)
        hits += got
        cl.ev("round %d: install seen=%s on n%d, killed n%d" % (rd, got, f, victim))
        time.sleep(rnd.uniform(0.2, 1.0))
        cl.start(victim)
        time.sleep(rnd.uniform(0.5, 1.5))
        for i in cl.ids:
            if not cl.alive(i):
                selfexit.append((rd, i, cl.procs[i].returncode))
                cl.ev("!!! n%d exited on its own rc=%s" % (i, cl.procs[i].returncode))
                cl.start(i)
    stop.set()
    for t in ts:
        t.join(10)
    l = cl.wait_leader(30)
    cl.wait_converged(90)
    c = Conn(cl.port(l), timeout=20)
    items = sorted(acked.items())
    miss = 0
    for j in range(0, len(items), 1000):
        ch = items[j:j + 1000]
        rs = c.pipeline([("GET", k) for k, _ in ch])
        miss += sum(1 for (k, v), r in zip(ch, rs) if r != v)
    c.close()
    rcs = cl.stop_all()
    ok, _ = cl.compare_dumps("installkill end")
    cl.ev("=== SUMMARY installs_hit=%d/%d acked=%d missing=%d self_exits=%s dumps_equal=%s rcs=%s" % (
        hits, A.rounds, len(acked), miss, selfexit, ok, rcs))


try:
    main()
finally:
    stop.set()
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
