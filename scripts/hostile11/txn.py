"""Atomicity of MULTI/EXEC and MSET across crashes. Each transaction i:
  MULTI; SET a:i v; INCR cnt; APPEND log <i>; SET b:i v; EXEC        (or MSET x:i 1 y:i 1)
Faults: SIGKILL all / leader / follower, SIGSTOP leader, transfer, at random moments.
End: for every i, a:i and b:i both present or both absent (x:i, y:i likewise); every acked txn present;
definite-error txns absent; cnt == number of present txns; log holds exactly the present txns' tokens, once.

usage: python3 txn.py --run run-txn1 --secs 50 -- <server args>
"""
import argparse
import os
import random
import re
import threading
import time

from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one

ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--secs", type=float, default=50)
ap.add_argument("--clients", type=int, default=5)
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)
stop = threading.Event()
lock = threading.Lock()
st = {}   # id -> (kind, 'ok'|'unknown'|'err')


def client(cid):
    cr = random.Random(A.seed * 7 + cid)
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
        i = "%d.%d" % (cid, n)
        kind = "txn" if cr.random() < 0.7 else "mset"
        try:
            if kind == "txn":
                rs = conn.pipeline([("MULTI",), ("SET", "a:" + i, "v"), ("INCR", "cnt"), ("APPEND", "log", "<%s>" % i),
                                    ("SET", "b:" + i, "v"), ("EXEC",)])
                ex = rs[-1]
                if isinstance(ex, list) and len(ex) == 4 and not any(isinstance(x, Err) for x in ex):
                    res = "ok"
                elif isinstance(ex, Err) and ex.msg.startswith("TIMEOUT"):
                    res = "unknown"
                elif isinstance(ex, Err):
                    res = "err"
                else:
                    res = "weird:" + repr(ex)[:80]
            else:
                r = conn.cmd("MSET", "x:" + i, "1", "y:" + i, "1")
                res = "ok" if r == "OK" else ("unknown" if isinstance(r, Err) and r.msg.startswith("TIMEOUT") else "err")
        except ConnLost:
            res = "unknown"
            conn.close()
            conn = None
        with lock:
            st[i] = (kind, res)
        if res == "err":
            time.sleep(0.01)


def nemesis():
    while not stop.is_set():
        time.sleep(rnd.uniform(1, 3))
        l = cl.leader()
        k = rnd.choice(["kill_all", "kill_leader", "kill_follower", "pause_leader", "transfer"])
        cl.ev("nemesis %s" % k)
        if k == "kill_all":
            for j in rnd.sample(cl.ids, 3):
                cl.kill(j)
            time.sleep(rnd.uniform(0.2, 1))
            for j in cl.ids:
                cl.start(j)
        elif l is None:
            continue
        elif k == "kill_leader":
            cl.kill(l); time.sleep(rnd.uniform(0.3, 1.5)); cl.start(l)
        elif k == "kill_follower":
            f = rnd.choice([j for j in cl.ids if j != l])
            cl.kill(f); time.sleep(rnd.uniform(0.3, 1.5)); cl.start(f)
        elif k == "pause_leader":
            cl.pause(l); time.sleep(rnd.uniform(0.3, 2.5)); cl.resume(l)
        else:
            try:
                one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(rnd.choice([j for j in cl.ids if j != l])))
            except Exception:
                pass


def main():
    cl.ev("=== txn.py extra=%s" % A.extra)
    cl.start_all()
    assert cl.wait_leader(30)
    ts = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(A.clients)]
    nt = threading.Thread(target=nemesis, daemon=True)
    for t in ts + [nt]:
        t.start()
    time.sleep(A.secs)
    stop.set()
    for t in ts + [nt]:
        t.join(20)
    cl.heal()
    l = cl.wait_leader(30)
    c = Conn(cl.port(l), timeout=20)
    items = sorted(st.items())
    viol = []
    present_txn = set()
    for j in range(0, len(items), 300):
        ch = items[j:j + 300]
        cmds = []
        for i, (kind, res) in ch:
            cmds += [("EXISTS", "a:" + i), ("EXISTS", "b:" + i)] if kind == "txn" else [("EXISTS", "x:" + i), ("EXISTS", "y:" + i)]
        rs = c.pipeline(cmds)
        for n_, (i, (kind, res)) in enumerate(ch):
            p, q = rs[2 * n_], rs[2 * n_ + 1]
            if p != q:
                viol.append(("torn", kind, i, res, p, q))
            if res == "ok" and not (p and q):
                viol.append(("acked-missing", kind, i, p, q))
            if res == "err" and (p or q):
                viol.append(("error-but-applied", kind, i, p, q))
            if res.startswith("weird"):
                viol.append(("weird reply", kind, i, res))
            if kind == "txn" and p and q:
                present_txn.add(i)
    cnt = int(c.cmd("GET", "cnt") or 0)
    log = c.cmd("GET", "log") or ""
    toks = re.findall(r"<([0-9.]+)>", log)
    if cnt != len(present_txn):
        viol.append(("cnt", cnt, len(present_txn)))
    if sorted(toks) != sorted(present_txn):
        viol.append(("log tokens", len(toks), len(set(toks)), len(present_txn),
                     sorted(set(toks) ^ present_txn)[:5]))
    c.close()
    counts = {}
    for kind, res in st.values():
        counts[(kind, res[:7])] = counts.get((kind, res[:7]), 0) + 1
    cl.ev("outcomes %s; present txns %d; cnt %d" % (sorted(counts.items()), len(present_txn), cnt))
    cl.wait_converged(60)
    rcs = cl.stop_all()
    ok, _ = cl.compare_dumps("txn end")
    cl.ev("=== SUMMARY violations=%d %s dumps_equal=%s rcs=%s self_exits=%s" % (len(viol), viol[:10], ok, rcs, cl.self_exits))


try:
    main()
finally:
    stop.set()
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i)
            cl.kill(i)
