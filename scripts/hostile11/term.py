"""Follower SIGTERM under load: the follower must exit 0 having applied at least every entry it
reported as committed (INFO raft_commit_index) just before the signal. Also SIGKILL+restart catch-up.
Writes are acknowledged unique keys; after the run all acked keys must be present on every node
and engines must be identical.

usage: python3 term.py --run run-term1 --rounds 15 -- --tick-ms 300 --snapshot-entries 200
"""
import argparse
import os
import random
import subprocess
import threading
import time

from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one

ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--rounds", type=int, default=15)
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)
stop = threading.Event()
acked = {}
lock = threading.Lock()


def decode_u64(s):
    b = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1] == "x":
            b.append(int(s[i + 2:i + 4], 16)); i += 4
        elif s[i] == "\\":
            b.append({"t": 9, "n": 10, "r": 13, "0": 0, "\\": 92, '"': 34}[s[i + 1]]); i += 2
        else:
            b += s[i].encode(); i += 1
    return int.from_bytes(bytes(b[:8]), "little")


def writer(w):
    seq = 0
    conn = None
    while not stop.is_set():
        l = cl.leader()
        if conn is None:
            try:
                conn = Conn(cl.port(l or 1), timeout=7, connect_timeout=0.5)
            except Exception:
                time.sleep(0.05)
                continue
        # pipelined batch of 50 SETs
        batch = []
        for _ in range(50):
            seq += 1
            batch.append(("t:%d:%d" % (w, seq), "v%d" % seq))
        try:
            rs = conn.pipeline([("SET", k, v) for k, v in batch])
            with lock:
                for (k, v), r in zip(batch, rs):
                    if r == "OK":
                        acked[k] = v
            if any(isinstance(r, Err) for r in rs):
                conn.close(); conn = None; time.sleep(0.02)
        except ConnLost:
            conn.close(); conn = None


def main():
    cl.ev("=== term.py extra=%s" % A.extra)
    cl.start_all()
    assert cl.wait_leader(30)
    ts = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(3)]
    for t in ts:
        t.start()
    viol = []
    lagseen = 0
    for rd in range(A.rounds):
        time.sleep(rnd.uniform(1, 3))
        l = cl.wait_leader(30)
        f = rnd.choice([i for i in cl.ids if i != l])
        # poll until we see commit > applied on the follower (max 2s), then SIGTERM right away
        t0 = time.time()
        ci = ai0 = None
        while time.time() - t0 < 2:
            try:
                inf = cl.info(f)
                ci, ai0 = int(inf["raft_commit_index"]), int(inf["raft_applied_index"])
                if ci > ai0:
                    break
            except Exception:
                pass
        if ci is not None and ci > ai0:
            lagseen += 1
        how = "term" if rd % 3 != 2 else "kill"
        if how == "term":
            rc = cl.term(f)
            code, recs, err = cl.dump(f)
            ai = decode_u64(recs["\\x01applied_index"][0]) if "\\x01applied_index" in recs else None
            cl.ev("round %d: follower n%d SIGTERM rc=%s; before: commit=%s applied=%s; engine applied after exit=%s" % (
                rd, f, rc, ci, ai0, ai))
            if rc != 0 or ai is None or (ci is not None and ai < ci):
                viol.append((rd, f, rc, ci, ai0, ai))
                cl.ev("!!! VIOLATION round %d" % rd)
        else:
            cl.kill(f)
            cl.ev("round %d: follower n%d SIGKILL; before: commit=%s applied=%s" % (rd, f, ci, ai0))
        time.sleep(rnd.uniform(0, 1.5))
        cl.start(f)
    stop.set()
    for t in ts:
        t.join(10)
    cl.wait_leader(30)
    ap_ = cl.wait_converged(60)
    # every acked write on every node
    missing = {}
    for i in cl.ids:
        c = Conn(cl.port(i), timeout=20)
        items = sorted(acked.items())
        m = 0
        for j in range(0, len(items), 1000):
            ch = items[j:j + 1000]
            rs = c.pipeline([("GET", k) for k, _ in ch])
            m += sum(1 for (k, v), r in zip(ch, rs) if r != v)
        missing[i] = m
        c.close()
    rcs = cl.stop_all()
    ok, d = cl.compare_dumps("term end")
    cl.ev("=== SUMMARY violations=%s lag_seen_rounds=%d acked=%d missing=%s dumps_equal=%s rcs=%s" % (
        viol, lagseen, len(acked), missing, ok, rcs))


try:
    main()
finally:
    stop.set()
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
