"""Expiry races: SET k a PX t, then near t race an overwrite (SET without TTL), PERSIST, EXPIRE, or
SET ... EX long against the leader's expire sweep; with leader kills / transfers / follower kills.
At the end every outcome implied by acknowledged replies is checked on every node, and the engines of
all nodes are compared offline (keys, values, expiries).

usage: python3 exp.py --run run-exp1 --seed 1 --secs 40 -- --expire-sweep-ms 10 ...
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
ap.add_argument("--secs", type=float, default=40)
ap.add_argument("--workers", type=int, default=6)
ap.add_argument("--faults", type=int, default=1)
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)

expect = {}   # key -> ("present", value, has_ttl_long) | ("absent",) | ("either", values)
lock = threading.Lock()
stop = threading.Event()
errs = {}


def worker(w):
    wr = random.Random(A.seed * 77 + w)
    conn = None
    i = 0
    while not stop.is_set():
        if conn is None:
            try:
                conn = Conn(cl.port(wr.choice(cl.ids)), timeout=7, connect_timeout=0.5)
            except Exception:
                time.sleep(0.05)
                continue
        i += 1
        k = "e:%d:%d" % (w, i)
        t = wr.randint(20, 200)
        try:
            r = conn.cmd("SET", k, "a", "PX", str(t))
            if r != "OK":
                with lock:
                    # a definite error means no effect: the key must never appear
                    expect[k] = ("absent",) if (isinstance(r, Err) and not r.msg.startswith("TIMEOUT")) else ("either", None)
                    if isinstance(r, Err):
                        errs[r.msg[:40]] = errs.get(r.msg[:40], 0) + 1
                time.sleep(0.02)  # back off (TRYAGAIN during elections)
                continue
            time.sleep(max(0, (t + wr.randint(-30, 30)) / 1000.0))
            act = wr.choice(["set", "persist", "expire", "setex", "get", "pexpire_short_then_persist"])
            if act == "set":
                r = conn.cmd("SET", k, "b")
                e = ("present", "b", False) if r == "OK" else ("either", None)
            elif act == "setex":
                r = conn.cmd("SET", k, "c", "EX", "100000")
                e = ("present", "c", True) if r == "OK" else ("either", None)
            elif act == "persist":
                r = conn.cmd("PERSIST", k)
                e = ("present", "a", False) if r == 1 else (("absent",) if r == 0 else ("either", None))
            elif act == "expire":
                r = conn.cmd("EXPIRE", k, "100000")
                e = ("present", "a", True) if r == 1 else (("absent",) if r == 0 else ("either", None))
            elif act == "get":
                r = conn.cmd("GET", k)
                e = ("absent",)  # whatever GET said, by the end it must be gone
            else:
                r = conn.cmd("PEXPIRE", k, "15")
                time.sleep(0.015)
                r = conn.cmd("PERSIST", k)
                e = ("present", "a", False) if r == 1 else (("absent",) if r == 0 else ("either", None))
            if isinstance(r, Err):
                with lock:
                    errs[r.msg[:40]] = errs.get(r.msg[:40], 0) + 1
                if not r.msg.startswith("TIMEOUT") and act in ("set", "setex", "persist", "expire"):
                    e = ("absent",)  # error = no effect, and the PX key expires
            with lock:
                expect[k] = e
        except ConnLost:
            with lock:
                expect[k] = ("either", None)
                errs["connlost"] = errs.get("connlost", 0) + 1
            conn.close()
            conn = None


def faults():
    while not stop.is_set():
        time.sleep(rnd.uniform(2, 5))
        if stop.is_set():
            break
        l = cl.leader()
        if l is None:
            continue
        k = rnd.choice(["kill_leader", "transfer", "kill_follower", "pause_leader"])
        cl.ev("fault %s" % k)
        if k == "kill_leader":
            cl.kill(l)
            time.sleep(rnd.uniform(0.5, 2))
            cl.start(l)
        elif k == "transfer":
            f = rnd.choice([i for i in cl.ids if i != l])
            try:
                cl.ev("transfer %d->%d %r" % (l, f, one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(f))))
            except Exception as ex:
                cl.ev("transfer exc %r" % ex)
        elif k == "pause_leader":
            cl.pause(l)
            time.sleep(rnd.uniform(0.5, 2.5))
            cl.resume(l)
        else:
            f = rnd.choice([i for i in cl.ids if i != l])
            cl.kill(f)
            time.sleep(rnd.uniform(0.5, 3))
            cl.start(f)


def main():
    cl.ev("=== exp.py seed=%d extra=%s" % (A.seed, A.extra))
    cl.start_all()
    assert cl.wait_leader(30)
    ts = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(A.workers)]
    if A.faults:
        ts.append(threading.Thread(target=faults, daemon=True))
    for t in ts:
        t.start()
    time.sleep(A.secs)
    stop.set()
    for t in ts:
        t.join(15)
    cl.heal()
    cl.wait_leader(30)
    time.sleep(3)  # all PX (<=230ms) expired and swept
    bad = []
    for i in cl.ids:
        c = Conn(cl.port(i), timeout=10)
        items = sorted(expect.items())
        for j in range(0, len(items), 500):
            chunk = items[j:j + 500]
            rs = c.pipeline([("GET", k) for k, _ in chunk])
            for (k, e), r in zip(chunk, rs):
                if e[0] == "present" and r != e[1]:
                    bad.append((i, k, e, r))
                elif e[0] == "absent" and r is not None:
                    bad.append((i, k, e, r))
        c.close()
    counts = {}
    for e in expect.values():
        counts[e[0]] = counts.get(e[0], 0) + 1
    cl.ev("expectations %s; violations %d e.g. %s" % (counts, len(bad), bad[:10]))
    cl.wait_converged(60)
    rcs = cl.stop_all()
    ok, dumps = cl.compare_dumps("exp end")
    # engine: expired keys must be purged (none with expiry in the past)
    cl.ev("=== SUMMARY violations=%d dumps_equal=%s rcs=%s errs=%s records=%s" % (
        len(bad), ok, rcs, errs, {i: len(d) for i, d in dumps.items()}))
    return dumps


if __name__ == "__main__":
    try:
        dumps = main()
    finally:
        stop.set()
        for i in cl.ids:
            if cl.alive(i):
                cl.resume(i)
                cl.kill(i)
