"""Pipelines of the new commands through followers (and the leader) while leadership is transferred every 0.3-1 s
(and sometimes the leader is SIGSTOPped for 0.3-1.5 s). Each client owns key c:<w> and pipelines 40 ops mixing
GETSET c:<w> v / SETEX c:<w> 1000 v / PSETEX c:<w> 900000 v / SETNX c:<w> v (always :0 after the first write) /
SETNX n:<w>:<i> v (fresh: must be :1 or an error). Strict check per reply in order: GETSET must return the value of the
last op that got OK/a value (a definite error = no effect; TIMEOUT/lost = unknown, allowed). At the end GET c:<w> must be
consistent and dumps identical; every SETNX n: key answered :1 must be present, every one answered with an error absent.
usage: python3 pipetr.py --run run-ptr1 --dur 60 --seed 1
"""
import argparse, os, random, threading, time
import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one, enc
ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True); ap.add_argument("--dur", type=float, default=60); ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("extra", nargs="*")
A = ap.parse_args(); rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra, base_client=17200, base_peer=18200)
stop = threading.Event(); lock = threading.Lock(); bad = []; nk = {}; st = {"ok": 0, "err": 0, "unk": 0, "errs": {}}
def client(w):
    r = random.Random(A.seed * 100 + w); key = "c:%d" % w; possible = {None}; i = 0; conn = None; port = None
    while not stop.is_set():
        if conn is None:
            port = cl.port(r.choice(cl.ids))
            try: conn = Conn(port, timeout=8, connect_timeout=0.5)
            except OSError: time.sleep(0.05); continue
        batch = []
        for j in range(40):
            i += 1; v = "%d-%d" % (w, i); x = r.random()
            if x < 0.4: batch.append(("GETSET", key, v))
            elif x < 0.55: batch.append(("SETEX", key, "1000", v))
            elif x < 0.7: batch.append(("PSETEX", key, "900000", v))
            elif x < 0.8: batch.append(("SETNX", key, v))
            else: batch.append(("SETNX", "n:%d:%d" % (w, i), v))
        try: conn.s.sendall(b"".join(enc(c) for c in batch))
        except OSError: conn.close(); conn = None; continue
        for c in batch:
            try: rep = conn._read()
            except ConnLost:
                for cc in batch[batch.index(c):]:
                    if cc[1] == key: possible.add(cc[-1])
                    else: nk[cc[1]] = ("unk", cc[2])
                conn.close(); conn = None; break
            unk = isinstance(rep, Err) and rep.msg.startswith("TIMEOUT")
            if isinstance(rep, Err):
                with lock:
                    st["unk" if unk else "err"] += 1; m = rep.msg[:70]; st["errs"][m] = st["errs"].get(m, 0) + 1
            else:
                st["ok"] += 1
            if c[1] != key:
                nk[c[1]] = ("unk" if unk else ("err" if isinstance(rep, Err) else rep), c[2])
                if rep == 0: bad.append("fresh SETNX %s got 0" % c[1])
                continue
            if unk: possible.add(c[-1]); continue
            if isinstance(rep, Err): continue
            if c[0] == "GETSET":
                if rep not in possible: bad.append("GETSET %s via %d returned %r, expected %s" % (key, port, rep, sorted(map(str, possible))))
                possible = {c[2]}
            elif c[0] == "SETNX":
                if rep == 1 and None not in possible: bad.append("SETNX %s :1 but key should exist (%s)" % (key, possible))
                if rep == 1: possible = {c[2]}
                if rep == 0 and possible == {None}: bad.append("SETNX %s :0 but key should be absent" % key)
            else:
                possible = {c[-1]}
        if len(bad) > 20: break
    with lock: nk["FINAL:" + key] = possible
try:
    cl.start_all(); assert cl.wait_leader(30)
    ts = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(A.clients)]
    for t in ts: t.start()
    t_end = time.time() + A.dur; ntr = 0
    while time.time() < t_end:
        time.sleep(rnd.uniform(0.3, 1.0))
        l = cl.leader()
        if l is None: continue
        if rnd.random() < 0.2:
            cl.pause(l); time.sleep(rnd.uniform(0.3, 1.5)); cl.resume(l); continue
        t = rnd.choice([i for i in cl.ids if i != l])
        try: one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(t), timeout=2); ntr += 1
        except Exception as e: pass
    stop.set()
    for t in ts: t.join(20)
    cl.wait_leader(30); cl.wait_converged(60)
    rcs = cl.stop_all()
    ok, dumps = cl.compare_dumps("pipetr end"); d = dumps[1]
    for k, val in nk.items():
        if k.startswith("FINAL:"):
            got = d.get(k[6:]); g = got[0] if got else None
            if g not in val: bad.append("final %s = %r not in %s" % (k[6:], g, val))
            continue
        s, v = val
        if s == 1 and (d.get(k) is None or d[k][0] != v): bad.append("acked SETNX %s missing" % k)
        if s == "err" and d.get(k) is not None: bad.append("error SETNX %s present %r" % (k, d[k]))
    cl.ev("=== SUMMARY transfers=%d replies=%s dumps_equal=%s rcs=%s self_exits=%s bad=%d %s" % (ntr, st, ok, rcs, cl.self_exits, len(bad), bad[:10]))
finally:
    stop.set()
    for i in cl.ids:
        if cl.alive(i): cl.resume(i); cl.kill(i)
