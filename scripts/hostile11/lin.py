"""Randomized concurrent workload + nemesis + per-phase linearizability check + dump convergence.

usage: python3 lin.py --run run-lin1 --seed 1 --phases 8 --phase-secs 15 -- <extra server args>
"""
import argparse
import json
import os
import random
import signal
import sys
import threading
import time

from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one
import checker

ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--phases", type=int, default=6)
ap.add_argument("--phase-secs", type=float, default=15)
ap.add_argument("--clients", type=int, default=6)
ap.add_argument("--keys", type=int, default=4)
ap.add_argument("--restart-every", type=int, default=3, help="full SIGTERM stop + dump compare every N phases")
ap.add_argument("--nemeses", default="all")
ap.add_argument("extra", nargs="*")
A = ap.parse_args()

rnd = random.Random(A.seed)
RUN = os.path.join(RUN_ROOT, A.run)
cl = Cluster(RUN, extra=A.extra)
KEYS = ["k%d" % i for i in range(A.keys)]

lock = threading.Lock()
ops = []          # current phase history
running = threading.Event()
stop_all = threading.Event()
idle = [threading.Event() for _ in range(A.clients)]
errcount = {}
T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def classify(r):
    """-> 'ok' | 'unknown' | 'noeffect' | 'notint'"""
    if isinstance(r, Err):
        m = r.msg
        if m.startswith("TIMEOUT"):
            return "unknown"
        if "not an integer" in m:
            return "notint"
        return "noeffect"
    return "ok"


def client(cid):
    crnd = random.Random(A.seed * 1000 + cid)
    seq = 0
    conn = None
    while not stop_all.is_set():
        if not running.is_set():
            idle[cid].set()
            time.sleep(0.02)
            continue
        idle[cid].clear()
        if conn is None:
            node = crnd.choice(cl.ids)
            try:
                conn = Conn(cl.port(node), timeout=7.0, connect_timeout=0.5)
            except Exception:
                time.sleep(0.05)
                continue
        seq += 1
        val = "c%d-%d" % (cid, seq)
        k = crnd.choice(KEYS)
        k2 = crnd.choice(KEYS)
        x = crnd.random()
        # build command and per-key projected ops
        if x < 0.25:
            cmd, proj = ("SET", k, val), [(k, "set", [val])]
        elif x < 0.50:
            cmd, proj = ("GET", k), [(k, "get", [])]
        elif x < 0.62:
            # CAS with expected = last value we saw or a random recent one
            exp = "c%d-%d" % (crnd.randrange(A.clients), crnd.randrange(max(1, seq - 30), seq + 1)) if crnd.random() < 0.3 else getattr(conn, "last_seen", {}).get(k, "1")
            cmd, proj = ("CAS", k, exp, val), [(k, "cas", [exp, val])]
        elif x < 0.68:
            cmd, proj = ("DEL", k), [(k, "del", [])]
        elif x < 0.78:
            cmd, proj = ("INCR", k), [(k, "incr", [])]
        elif x < 0.83:
            cmd, proj = ("APPEND", k, "+" + val), [(k, "append", ["+" + val])]
        elif x < 0.90 and k2 != k:
            cmd, proj = ("MSET", k, val, k2, val + "m"), [(k, "set", [val]), (k2, "set", [val + "m"])]
        elif x < 1.0 and k2 != k:
            cmd = "TXN"
            proj = [(k, "set", [val]), (k2, "incr", []), (k, "get", [])]
        else:
            cmd, proj = ("GET", k), [(k, "get", [])]
        t_call = now()
        outs = None
        try:
            if cmd == "TXN":
                rs = conn.pipeline([("MULTI",), ("SET", k, val), ("INCR", k2), ("GET", k), ("EXEC",)])
                ex = rs[-1]
                if isinstance(ex, Err):
                    cls = classify(ex)
                    outs = None if cls != "unknown" else ["UNKNOWN"] * 3
                    errcount[ex.msg[:40]] = errcount.get(ex.msg[:40], 0) + 1
                elif ex is None:
                    outs = None
                else:
                    outs = []
                    for r in ex:
                        c = classify(r)
                        outs.append(r if c == "ok" else (checker.NOTINT if c == "notint" else ("UNKNOWN" if c == "unknown" else "DROP")))
                    if "DROP" in outs:
                        # an error inside EXEC other than notint: record as anomaly (commands in EXEC don't roll back)
                        errcount["EXEC-inner:" + repr(ex)[:40]] = errcount.get("EXEC-inner:" + repr(ex)[:40], 0) + 1
                        outs = ["UNKNOWN" if o == "DROP" else o for o in outs]
                t_ret = now()
                unknown = outs is not None and all(o == "UNKNOWN" for o in outs)
            else:
                r = conn.cmd(*cmd)
                t_ret = now()
                c = classify(r)
                if c == "ok":
                    outs = [r] * len(proj)
                    if cmd[0] == "GET" and r is not None:
                        if not hasattr(conn, "last_seen"):
                            conn.last_seen = {}
                        conn.last_seen[k] = r
                elif c == "notint":
                    outs = [checker.NOTINT]
                elif c == "unknown":
                    outs = ["UNKNOWN"] * len(proj)
                else:
                    outs = None
                if isinstance(r, Err):
                    errcount[r.msg[:40]] = errcount.get(r.msg[:40], 0) + 1
                unknown = c == "unknown"
        except ConnLost as e:
            t_ret = None
            outs = ["UNKNOWN"] * len(proj)
            unknown = True
            errcount["connlost"] = errcount.get("connlost", 0) + 1
            conn.close()
            conn = None
        if outs is None:
            time.sleep(crnd.uniform(0.005, 0.03))  # back off after a definite error (TRYAGAIN etc.)
            continue
        if cmd != "TXN" and cmd[0] == "MSET" and outs[0] not in ("OK", "UNKNOWN"):
            outs = ["BAD:" + repr(outs[0])] * 2
        with lock:
            for (kk, f, args), out in zip(proj, outs):
                if unknown or out == "UNKNOWN":
                    if f == "get":
                        continue
                    ops.append(dict(key=kk, f=f, args=args, out="UNKNOWN", call=t_call, ret=None, c=cid))
                else:
                    ops.append(dict(key=kk, f=f, args=args, out=out, call=t_call, ret=t_ret, c=cid))


def leader_or_none():
    return cl.leader()


def followers(l):
    return [i for i in cl.ids if i != l]


def transfer(to):
    l = cl.leader()
    if l is None:
        return None
    try:
        r = one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(to), timeout=5.0)
    except Exception as e:
        r = repr(e)
    cl.ev("TRANSFER-LEADER %d -> %d: %r" % (l, to, r))
    return r


term_failures = []


def nem_term_follower():
    l = cl.leader()
    if l is None:
        return
    f = rnd.choice(followers(l))
    try:
        ci = int(cl.info(f)["raft_commit_index"])
    except Exception:
        ci = None
    rc = cl.term(f)
    # check the follower applied everything it knew was committed
    code, recs, err = cl.dump(f)
    ai = decode_u64(recs.get("\\x01applied_index", (None,))[0])
    cl.ev("follower n%d SIGTERM rc=%s commit_before=%s engine_applied=%s" % (f, rc, ci, ai))
    if rc != 0 or (ci is not None and ai is not None and ai < ci):
        term_failures.append((f, rc, ci, ai))
        cl.ev("!!! SIGTERM follower violation n%d rc=%s commit_before=%s applied=%s" % (f, rc, ci, ai))
    time.sleep(rnd.uniform(0, 2))
    cl.start(f)


def decode_u64(s):
    if s is None:
        return None
    b = unescape(s)
    return int.from_bytes(b[:8], "little")


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            d = s[i + 1]
            if d == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            m = {"t": 9, "n": 10, "r": 13, "0": 0, "\\": 92, '"': 34, "'": 39}
            if d in m:
                out.append(m[d])
                i += 2
                continue
        out += c.encode()
        i += 1
    return bytes(out)


def nemesis(kind):
    l = cl.leader()
    if kind == "kill_leader":
        if l:
            cl.kill(l)
            time.sleep(rnd.uniform(0.2, 3))
            cl.start(l)
    elif kind == "kill_follower":
        if l:
            f = rnd.choice(followers(l))
            cl.kill(f)
            time.sleep(rnd.uniform(0.2, 4))
            cl.start(f)
    elif kind == "pause_leader":
        if l:
            cl.pause(l)
            time.sleep(rnd.uniform(0.5, 4))
            cl.resume(l)
    elif kind == "pause_follower":
        if l:
            f = rnd.choice(followers(l))
            cl.pause(f)
            time.sleep(rnd.uniform(0.5, 5))
            cl.resume(f)
    elif kind == "transfer_then_kill_new":
        if l:
            f = rnd.choice(followers(l))
            transfer(f)
            time.sleep(rnd.choice([0, 0.01, 0.05, 0.2]))
            cl.kill(f)
            time.sleep(rnd.uniform(0.3, 2))
            cl.start(f)
    elif kind == "transfer_then_kill_old":
        if l:
            f = rnd.choice(followers(l))
            transfer(f)
            time.sleep(rnd.choice([0, 0.01, 0.05]))
            cl.kill(l)
            time.sleep(rnd.uniform(0.3, 2))
            cl.start(l)
    elif kind == "transfer_loop":
        for _ in range(rnd.randint(3, 8)):
            l = cl.leader()
            if l:
                transfer(rnd.choice(followers(l)))
            time.sleep(rnd.uniform(0.05, 0.6))
    elif kind == "kill_all":
        for i in rnd.sample(cl.ids, 3):
            cl.kill(i)
            time.sleep(rnd.choice([0, 0, 0.01, 0.1]))
        time.sleep(rnd.uniform(0.1, 1))
        for i in rnd.sample(cl.ids, 3):
            cl.start(i)
    elif kind == "term_follower":
        nem_term_follower()
    elif kind == "pause_leader_kill_follower":
        # leader paused -> election; kill a follower around when it would become candidate/leader
        if l:
            cl.pause(l)
            time.sleep(rnd.uniform(0.5, 2.5))
            f = rnd.choice(followers(l))
            cl.kill(f)
            time.sleep(rnd.uniform(0.1, 1))
            cl.resume(l)
            time.sleep(rnd.uniform(0.1, 1))
            cl.start(f)
    elif kind == "lag_follower":
        # follower down long enough that the leader snapshots past it -> snapshot install
        if l:
            f = rnd.choice(followers(l))
            cl.kill(f) if rnd.random() < 0.5 else cl.pause(f)
            time.sleep(rnd.uniform(3, 7))
            if f in cl.paused:
                cl.resume(f)
            else:
                cl.start(f)
    elif kind == "pause_all":
        order = rnd.sample(cl.ids, 3)
        for i in order:
            cl.pause(i)
        time.sleep(rnd.uniform(0.5, 3))
        for i in rnd.sample(cl.ids, 3):
            cl.resume(i)
            time.sleep(rnd.choice([0, 0.05, 0.5]))
    elif kind == "term_leader":
        if l:
            rc = cl.term(l)
            if rc != 0:
                term_failures.append(("leader", l, rc))
                cl.ev("!!! leader SIGTERM rc=%s" % rc)
            time.sleep(rnd.uniform(0.1, 1.5))
            cl.start(l)
    elif kind == "kill_follower_then_leader":
        if l:
            f = rnd.choice(followers(l))
            cl.kill(f)
            time.sleep(rnd.uniform(0.5, 2))
            cl.start(f)
            time.sleep(rnd.choice([0.05, 0.3, 1.0]))
            cl.kill(l)
            time.sleep(rnd.uniform(0.3, 2))
            cl.start(l)


NEMS = ["kill_leader", "kill_follower", "pause_leader", "pause_follower", "transfer_then_kill_new",
        "transfer_then_kill_old", "transfer_loop", "kill_all", "term_follower", "pause_leader_kill_follower",
        "lag_follower", "kill_follower_then_leader", "pause_all", "term_leader"]
if A.nemeses != "all":
    NEMS = A.nemeses.split(",")


def final_reads():
    """Linearizable reads of every key through every node; all must agree."""
    vals = {}
    for k in KEYS:
        per = {}
        for i in cl.ids:
            for attempt in range(20):
                t_call = now()
                try:
                    r = one(cl.port(i), "GET", k, timeout=7)
                except Exception as e:
                    r = Err("exc " + repr(e))
                t_ret = now()
                if not isinstance(r, Err):
                    break
                time.sleep(0.3)
            per[i] = r
            if not isinstance(r, Err):
                ops.append(dict(key=k, f="get", args=[], out=r, call=t_call, ret=t_ret, c="final%d" % i))
        vals[k] = per
    return vals


def main():
    cl.ev("=== lin.py seed=%d extra=%s nemeses=%s" % (A.seed, A.extra, NEMS))
    cl.start_all()
    assert cl.wait_leader(30), "no leader"
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(A.clients)]
    for t in threads:
        t.start()
    init = {k: None for k in KEYS}
    results = []
    total_ops = 0
    for ph in range(A.phases):
        global ops
        with lock:
            ops = []
        running.set()
        t_end = time.time() + A.phase_secs
        time.sleep(1.0)
        while time.time() < t_end:
            kind = rnd.choice(NEMS)
            cl.ev("phase %d nemesis %s" % (ph, kind))
            nemesis(kind)
            time.sleep(rnd.uniform(0.5, 2.5))
        running.clear()
        for e in idle:
            e.wait(20)
        cl.heal()
        l = cl.wait_leader(30)
        cl.ev("phase %d quiesced, leader=%s, errs=%s" % (ph, l, errcount))
        fv = final_reads()
        agree = all(len(set(map(repr, per.values()))) == 1 for per in fv.values())
        hist = dict(init=init, ops=ops, phase=ph)
        fn = os.path.join(RUN, "hist-phase%d.json" % ph)
        json.dump(hist, open(fn, "w"))
        res = checker.check_history(hist, budget_s=60)
        nops = len(ops)
        total_ops += nops
        bad = [(k, ok, info) for k, ok, info in res if ok is not True]
        cl.ev("phase %d: %d ops, final reads agree=%s %s; check: %s" % (
            ph, nops, agree, {k: v[1] for k, v in fv.items()}, "ALL OK" if not bad else bad))
        results.append((ph, nops, agree, bad))
        # next init: the final values (all nodes agree if ok)
        init = {k: (fv[k][1] if not isinstance(fv[k][1], Err) else None) for k in KEYS}
        if (ph + 1) % A.restart_every == 0 or ph == A.phases - 1:
            ap_ = cl.wait_converged(60)
            cl.ev("converged applied=%s" % ap_)
            rcs = cl.stop_all()
            cl.ev("stop_all rcs=%s" % rcs)
            ok, dumps = cl.compare_dumps("after phase %d" % ph)
            results.append(("dump", ph, ok, rcs))
            if ph != A.phases - 1:
                cl.start_all()
                cl.wait_leader(30)
    stop_all.set()
    for i in cl.ids:
        if cl.alive(i):
            cl.kill(i)
    cl.ev("=== SUMMARY total_ops=%d term_failures=%s" % (total_ops, term_failures))
    for r in results:
        cl.ev("  %s" % (r,))
    cl.ev("errcount=%s" % errcount)


try:
    main()
finally:
    stop_all.set()
    for i in cl.ids:
        if cl.alive(i):
            if i in cl.paused:
                cl.resume(i)
            cl.kill(i)
