#!/usr/bin/env python3
"""Claim 3: replicas apply alike. usage: replica.py SEED N_OPS [chaos]
Random new-command writes through all 3 nodes (3 concurrent clients, one per node), optional leader transfers;
then each node is made leader in turn and GET/PTTL of every key compared; then nodes are stopped
and `snowflk-tools dump --live-only` of each engine dir compared.
"""
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as C
from resp import Conn

seed = int(sys.argv[1])
nops = int(sys.argv[2])
chaos = "chaos" in sys.argv
KEYS = [b"k%d" % i for i in range(12)] + [b"", b"\x00\xff"]
TOOLS = os.environ.get("SNOWFLK_TOOLS", "/work/target-h15/release/snowflk-tools")


def gen(R):
    k = lambda: R.choice(KEYS)
    v = lambda: R.choice([b"a", b"bb", b"", b"\x00\x01", b"%d" % R.randint(0, 99)])
    ex = lambda: R.choice([[b"EX", b"%d" % R.randint(100, 1000)], [b"PX", b"1"], [b"PX", b"%d" % R.randint(200000, 900000)],
                           [b"EXAT", b"%d" % (time.time() + 500)], [b"PXAT", b"1"], [b"PXAT", b"%d" % (time.time() * 1000 + 600000)]])
    r = R.randrange(12)
    if r == 0:
        e = ex()
        return [b"SET", k(), v()] + e + e[:1] + [e[1]] + R.choice([[], [b"NX"], [b"XX"], [b"GET"], [b"KEEPTTL"][:0]])
    if r == 1:
        return [b"SET", k(), v(), b"KEEPTTL", b"KEEPTTL"] + R.choice([[], [b"XX"]])
    if r == 2:
        e = ex()
        return [b"GETEX", k()] + e + R.choice([[], e])
    if r == 3:
        return [b"GETEX", k(), b"PERSIST", b"PERSIST"]
    if r == 4:
        return [b"RENAME", k(), k()]
    if r == 5:
        return [b"RENAMENX", k(), k()]
    if r == 6:
        return [b"MSETNX"] + [x for _ in range(R.randint(1, 3)) for x in (k(), v())]
    if r == 7:
        return [b"MSET"] + [x for _ in range(R.randint(1, 4)) for x in (k(), v())]
    if r == 8:
        return [b"UNLINK"] + [k() for _ in range(R.randint(1, 3))]
    if r == 9:
        return [b"MULTI"]
    if r == 10:
        return [b"SET", k(), v()] + ex()
    return [b"GETEX", k(), b"EX", b"0"]  # error: no effect


def client(node, cseed, n, out):
    R = random.Random(cseed)
    c = Conn("127.0.0.1", C.cport(node), timeout=10)
    errs = {}
    i = 0
    while i < n:
        cmd = gen(R)
        try:
            if cmd == [b"MULTI"]:
                body = [gen(R) for _ in range(R.randint(1, 4))]
                body = [b for b in body if b != [b"MULTI"]]
                reps = c.pipeline([[b"MULTI"]] + body + [[b"EXEC"]])
                rep = reps[-1]
            else:
                rep = c.cmd(*cmd)
            if rep[0] == "err":
                key = rep[1][:30]
                errs[key] = errs.get(key, 0) + 1
        except Exception as e:
            errs[type(e).__name__] = errs.get(type(e).__name__, 0) + 1
            c.close()
            time.sleep(0.3)
            c = Conn("127.0.0.1", C.cport(node), timeout=10)
        i += 1
    out[node] = errs


for i in (1, 2, 3):
    C.start(i, fresh=True)
for i in (1, 2, 3):
    C.wait_up(i)
C.wait_leader()
out = {}
ths = [threading.Thread(target=client, args=(i, seed * 10 + i, nops, out)) for i in (1, 2, 3)]
stopc = threading.Event()


def chaos_loop():
    r = random.Random(seed)
    while not stopc.is_set():
        time.sleep(r.uniform(0.5, 1.5))
        C.transfer(r.choice([1, 2, 3]))


if chaos:
    ths.append(threading.Thread(target=chaos_loop))
for t in ths:
    t.start()
for t in ths[:3]:
    t.join()
stopc.set()
for t in ths[3:]:
    t.join()
print("client errors", out)
time.sleep(1)
views = {}
for i in (1, 2, 3):
    for _ in range(60):
        if C.leader(i) == i:
            break
        C.transfer(i)
        time.sleep(0.3)
    c = Conn("127.0.0.1", C.cport(i))
    assert C.leader(i) == i, "could not make %d leader" % i
    t0 = time.time() * 1000
    reps = c.pipeline([[b"GET", k] for k in KEYS] + [[b"PTTL", k] for k in KEYS])
    n = len(KEYS)
    views[i] = [(k, reps[j], reps[n + j][1] if reps[n + j][1] < 0 else int(t0 + reps[n + j][1])) for j, k in enumerate(KEYS)]
    c.close()
bad = 0
for j, k in enumerate(KEYS):
    a, b, c3 = views[1][j], views[2][j], views[3][j]
    same_val = a[1] == b[1] == c3[1]
    exps = [a[2], b[2], c3[2]]
    same_exp = (all(e < 0 for e in exps) and len(set(exps)) == 1) or (all(e >= 0 for e in exps) and max(exps) - min(exps) < 3000)
    if not (same_val and same_exp):
        bad += 1
        print("!! key %r: %r" % (k, [views[i][j][1:] for i in (1, 2, 3)]))
print("live view: keys %d differing %d" % (len(KEYS), bad))
print("sample", [(v[0], v[1][1][:10] if v[1][0] == 'bulk' else v[1][0], v[2]) for v in views[1][:6]])
C.stop_all()
time.sleep(0.5)
dumps = {}
for i in (1, 2, 3):
    r = subprocess.run([TOOLS, "dump", "--live-only", "--full", "%s/n%d/engine" % (C.BASE, i)], capture_output=True)
    lines = r.stdout.decode(errors="replace").splitlines()
    # strip "<file>:<offset> " and "seq=N " (layout may differ per node); keep key/value/expiry
    norm = sorted(re.sub(r" seq=\d+", "", l.split(" ", 1)[1]) for l in lines if " " in l)
    dumps[i] = norm
    print("node %d dump rc %d lines %d stderr %r" % (i, r.returncode, len(lines), r.stderr[:200]))
    if i == 1:
        print("  e.g.", lines[:3])
same = dumps[1] == dumps[2] == dumps[3]
print("dump equal:", same)
if not same:
    for i in (2, 3):
        s1, si = set(dumps[1]), set(dumps[i])
        print(" only in 1 vs %d: %r\n only in %d: %r" % (i, sorted(s1 - si)[:10], i, sorted(si - s1)[:10]))
print("RESULT seed %d live_diff %d dump_equal %s" % (seed, bad, same))
