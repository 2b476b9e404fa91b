"""Claim E: acked writes of the new commands survive SIGKILL of all nodes.
Writers pipeline batches of SETEX d:<w>:<i> 100000 / PSETEX p:<w>:<i> 50000000 / SETNX n:<w>:<i> / GETSET g:<w> <i>
to the leader (or a follower with --via-follower). Every round: run 0.3-2 s, then SIGKILL all 3 (random order, 0-5 ms
apart; sometimes SIGSTOP all first), restart. After each restart: every acked key checked with GET via the new leader
(values, and PTTL > 0 for SETEX/PSETEX); GETSET chain g:<w> must hold the last acked value or a later unknown one.
End: converge, SIGTERM, dump compare, and every acked key present on every node with an expiry where expected.
usage: python3 dur2.py --run run-dur1 --rounds 12 --seed 1 -- --snapshot-entries 100 --snapshot-trailing-entries 5
"""
import argparse, os, random, threading, time, signal
import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one
ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True); ap.add_argument("--rounds", type=int, default=12); ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--writers", type=int, default=3); ap.add_argument("--via-follower", action="store_true")
ap.add_argument("extra", nargs="*")
A = ap.parse_args(); rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)
acked = {}   # key -> (value, needs_expiry)
chain = {}   # w -> (last acked value, set of later-unknown values)
lock = threading.Lock(); bad = []
seqs = [0] * A.writers

def writer(w, stop):
    conn = None
    while not stop.is_set():
        if conn is None:
            l = cl.leader()
            if l is None: time.sleep(0.05); continue
            tgt = l
            if A.via_follower: tgt = rnd.choice([i for i in cl.ids if i != l])
            try: conn = Conn(cl.port(tgt), timeout=5, connect_timeout=0.5)
            except Exception: time.sleep(0.05); continue
        batch = []
        for j in range(30):
            seqs[w] += 1; i = seqs[w]
            kind = i % 4
            if kind == 0: batch.append((("SETEX", "d:%d:%d" % (w, i), "100000", "v%d" % i), "d:%d:%d" % (w, i), "v%d" % i, True))
            elif kind == 1: batch.append((("PSETEX", "p:%d:%d" % (w, i), "50000000", "v%d" % i), "p:%d:%d" % (w, i), "v%d" % i, True))
            elif kind == 2: batch.append((("SETNX", "n:%d:%d" % (w, i), "v%d" % i), "n:%d:%d" % (w, i), "v%d" % i, False))
            else: batch.append((("GETSET", "g:%d" % w, "v%d" % i), None, "v%d" % i, False))
        try:
            conn.s.sendall(b"".join(__import__("resp").enc(b[0]) for b in batch))
            for b in batch:
                try:
                    r = conn._read()
                except ConnLost:
                    with lock:
                        for bb in batch[batch.index(b):]:
                            if bb[1] is None: chain[w][1].add(bb[2])
                    raise
                with lock:
                    if b[1] is None:
                        if isinstance(r, Err):
                            if r.msg.startswith("TIMEOUT"): chain[w][1].add(b[2])
                        else:
                            last, unk = chain[w]
                            if r != last and r not in unk: bad.append("GETSET g:%d returned %r, last acked %r unknown %s" % (w, r, last, len(unk)))
                            chain[w] = (b[2], set())
                    elif r == "OK" or r == 1:
                        acked[b[1]] = (b[2], b[3])
                    elif r == 0:
                        bad.append("SETNX %s on fresh key returned 0" % b[1])
        except (ConnLost, OSError):
            try: conn.close()
            except Exception: pass
            conn = None

def verify(tag):
    l = cl.wait_leader(30)
    c = Conn(cl.port(l), timeout=20)
    with lock: items = list(acked.items())
    miss = 0
    for s in range(0, len(items), 500):
        part = items[s:s + 500]
        rs = c.pipeline([("GET", k) for k, _ in part])
        ts = c.pipeline([("PTTL", k) for k, _ in part])
        for (k, (v, ex)), r, t in zip(part, rs, ts):
            if r != v or (ex and not (isinstance(t, int) and t > 0)) or (not ex and t != -1):
                miss += 1
                if miss < 5: cl.ev("LOST %s: expected %r ex=%s got %r pttl=%r" % (k, v, ex, r, t))
    for w in range(A.writers):
        r = c.cmd("GET", "g:%d" % w)
        last, unk = chain[w]
        if r != last and r not in unk: bad.append("%s: g:%d = %r, last acked %r" % (tag, w, r, last))
        else:
            chain[w] = (r, set())
    c.close()
    cl.ev("verify %s: %d acked keys, %d missing/wrong" % (tag, len(items), miss))
    if miss: bad.append("%s: %d acked missing" % (tag, miss))

try:
    cl.start_all(); assert cl.wait_leader(30)
    for w in range(A.writers): chain[w] = (None, set())
    for rd in range(A.rounds):
        stop = threading.Event()
        ts = [threading.Thread(target=writer, args=(w, stop), daemon=True) for w in range(A.writers)]
        for t in ts: t.start()
        time.sleep(rnd.uniform(0.3, 2.0))
        order = list(cl.ids); rnd.shuffle(order)
        if rnd.random() < 0.3:
            for i in order: cl.pause(i)
        for i in order:
            cl.kill(i); time.sleep(rnd.uniform(0, 0.005))
        stop.set()
        for t in ts: t.join(10)
        cl.start_all()
        verify("round %d" % rd)
    cl.wait_converged(60)
    rcs = cl.stop_all()
    ok, dumps = cl.compare_dumps("dur2 end")
    for i in cl.ids:
        d = dumps[i]; m = 0
        for k, (v, ex) in acked.items():
            g = d.get(k)
            if g is None or g[0] != v or (ex and g[1] is None) or (not ex and g[1] is not None): m += 1
        if m: bad.append("dump n%d: %d acked missing/wrong" % (i, m))
    cl.ev("=== SUMMARY rounds=%d acked=%d dumps_equal=%s rcs=%s self_exits=%s bad=%d %s" % (A.rounds, len(acked), ok, rcs, cl.self_exits, len(bad), bad[:10]))
finally:
    for i in cl.ids:
        if cl.alive(i): cl.resume(i); cl.kill(i)
