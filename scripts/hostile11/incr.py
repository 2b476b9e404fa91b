"""Exactly-once check for non-idempotent commands through forwarding followers under leader faults.
Clients INCR one counter and APPEND unique tokens to one string via random nodes (followers forward)
while the nemesis kills / pauses the leader or transfers leadership.
Checks: INCR replies are distinct; final counter in [acked, acked+unknown]; every acked APPEND token
appears exactly once, unknown tokens at most once, and tokens whose reply was a definite error never.

usage: python3 incr.py --run run-incr1 --secs 60 -- <server args>
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
ap.add_argument("--secs", type=float, default=60)
ap.add_argument("--clients", type=int, default=6)
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)
stop = threading.Event()
lock = threading.Lock()
incr_vals = []
incr_unknown = 0
tok = {"ok": [], "unknown": [], "err": []}
errs = {}


def client(cid):
    global incr_unknown
    cr = random.Random(A.seed * 31 + cid)
    conn = None
    n = 0
    while not stop.is_set():
        if conn is None:
            try:
                conn = Conn(cl.port(cr.choice(cl.ids)), timeout=7, connect_timeout=0.5)
            except Exception:
                time.sleep(0.05)
                continue
        n += 1
        isincr = cr.random() < 0.5
        t = "<%d.%d>" % (cid, n)
        try:
            r = conn.cmd("INCR", "ctr") if isincr else conn.cmd("APPEND", "str", t)
        except ConnLost:
            r = None
            conn.close()
            conn = None
        with lock:
            if isinstance(r, Err):
                errs[r.msg[:45]] = errs.get(r.msg[:45], 0) + 1
            unk = r is None or (isinstance(r, Err) and r.msg.startswith("TIMEOUT"))
            if isincr:
                if isinstance(r, int):
                    incr_vals.append(r)
                elif unk:
                    incr_unknown += 1
            else:
                tok["ok" if isinstance(r, int) else ("unknown" if unk else "err")].append(t)
        if isinstance(r, Err):
            time.sleep(0.01)


def nemesis():
    while not stop.is_set():
        time.sleep(rnd.uniform(1, 3))
        l = cl.leader()
        if l is None:
            continue
        k = rnd.choice(["kill_leader", "pause_leader", "transfer", "kill_follower", "transfer_kill"])
        cl.ev("nemesis %s" % k)
        f = rnd.choice([i for i in cl.ids if i != l])
        if k == "kill_leader":
            cl.kill(l); time.sleep(rnd.uniform(0.3, 2)); cl.start(l)
        elif k == "pause_leader":
            cl.pause(l); time.sleep(rnd.uniform(0.3, 3)); cl.resume(l)
        elif k == "transfer":
            try:
                one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(f))
            except Exception:
                pass
        elif k == "transfer_kill":
            try:
                one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(f))
            except Exception:
                pass
            time.sleep(rnd.choice([0, 0.02, 0.1]))
            cl.kill(f); time.sleep(rnd.uniform(0.3, 2)); cl.start(f)
        else:
            cl.kill(f); time.sleep(rnd.uniform(0.3, 2)); cl.start(f)


def main():
    cl.ev("=== incr.py extra=%s" % A.extra)
    cl.start_all()
    assert cl.wait_leader(30)
    ts = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(A.clients)]
    ts.append(threading.Thread(target=nemesis, daemon=True))
    for t in ts:
        t.start()
    time.sleep(A.secs)
    stop.set()
    for t in ts:
        t.join(20)
    cl.heal()
    l = cl.wait_leader(30)
    final_c = one(cl.port(l), "GET", "ctr", timeout=7)
    final_s = one(cl.port(l), "GET", "str", timeout=7) or ""
    viol = []
    fc = int(final_c or 0)
    if len(set(incr_vals)) != len(incr_vals):
        dup = len(incr_vals) - len(set(incr_vals))
        viol.append("duplicate INCR replies: %d" % dup)
    if not (len(incr_vals) <= fc <= len(incr_vals) + incr_unknown):
        viol.append("counter %d not in [%d, %d]" % (fc, len(incr_vals), len(incr_vals) + incr_unknown))
    if incr_vals and max(incr_vals) > fc:
        viol.append("max INCR reply %d > final %d" % (max(incr_vals), fc))
    import re
    counts = {}
    for m in re.findall(r"<\d+\.\d+>", final_s):
        counts[m] = counts.get(m, 0) + 1
    bad_ok = [t for t in tok["ok"] if counts.get(t, 0) != 1]
    bad_unk = [t for t in tok["unknown"] if counts.get(t, 0) > 1]
    bad_err = [t for t in tok["err"] if counts.get(t, 0) != 0]
    if bad_ok:
        viol.append("acked APPEND tokens not exactly once: %d e.g. %s" % (len(bad_ok), [(t, counts.get(t, 0)) for t in bad_ok[:5]]))
    if bad_unk:
        viol.append("unknown tokens more than once: %s" % bad_unk[:5])
    if bad_err:
        viol.append("tokens with a definite error reply present: %d e.g. %s" % (len(bad_err), bad_err[:5]))
    cl.ev("incr: acked=%d unknown=%d final=%d; append: ok=%d unknown=%d err=%d len=%d; errs=%s" % (
        len(incr_vals), incr_unknown, fc, len(tok["ok"]), len(tok["unknown"]), len(tok["err"]), len(final_s), errs))
    cl.wait_converged(60)
    rcs = cl.stop_all()
    ok, _ = cl.compare_dumps("incr end")
    cl.ev("=== SUMMARY violations=%s dumps_equal=%s rcs=%s" % (viol, ok, rcs))


try:
    main()
finally:
    stop.set()
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
