"""Random differential test: redis-server 7.0.15 (port 17500) vs a running snowflk cluster.
Commands: SETNX SETEX PSETEX GETSET mixed with SET(+opts) GET TTL PTTL EXPIRE PERSIST DEL INCR APPEND EXISTS STRLEN.
Modes per sequence: 'single' (one command at a time to a random node, incl. short 1-3 ms expiries + 15 ms sleeps),
'pipe' (whole sequence pipelined), 'multi' (MULTI ... EXEC), 'multi-err' (queue-time arity error -> EXECABORT).
Errors compared by full message. TTL allowed +-1, PTTL +-150 ms.
usage: python3 semdiff2.py --seed S --n 300 --ports 17001,17002,17003
"""
import argparse, random, time, sys
import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from resp import Conn, Err
ap = argparse.ArgumentParser()
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--n", type=int, default=300)
ap.add_argument("--ports", default="17001,17002,17003")
ap.add_argument("--redis", type=int, default=17500)
ap.add_argument("--no-bad-in-multi", action="store_true", help="no invalid SETEX/PSETEX/EXPIRE times inside MULTI (known queue-time difference)")
A = ap.parse_args()
rnd = random.Random(A.seed)
ports = [int(p) for p in A.ports.split(",")]
R = Conn(A.redis, timeout=20)
S = {p: Conn(p, timeout=20) for p in ports}
PFX = "sd%d:" % A.seed

def val():
    c = rnd.random()
    if c < 0.15: return ""
    if c < 0.35: return str(rnd.choice([0, 1, -1, 5, 9223372036854775806, 9223372036854775807, -9223372036854775808, 42]))
    if c < 0.5: return bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 12))).decode("latin1")
    if c < 0.55: return "\r\n$3\r\n*1\x00"
    if c < 0.58: return "x" * rnd.choice([1000, 70000, 1 << 20])
    return rnd.choice(["a", "bb", "hello", "0", "01", " 1", "1e3", "+1"])

def badsec():
    return rnd.choice(["0", "-1", "-0", "abc", "1.5", "", " 10", "+10", "010", "10x", "9223372036854775807",
                       "9223372036854775808", "-9223372036854775808", "9223372036854775", "9223372036854776",
                       "4611686018427388", "18446744073709551616", "1 ", "0x10"])

def key():
    return PFX + rnd.choice(["a", "b", "c"])

def op(short, nobad=False):
    k = key()
    global badsec
    bs = badsec if not nobad else (lambda: "100")
    c = rnd.random()
    longsec = str(rnd.choice([100, 1000, 86400, 4611686018427387, 3000000000]))
    if c < 0.12: return ("SETNX", k, val())
    if c < 0.24:
        if rnd.random() < 0.3: return ("SETEX", k, bs(), val())
        return ("SETEX", k, longsec, val())
    if c < 0.36:
        r = rnd.random()
        if r < 0.3: return ("PSETEX", k, bs(), val())
        if r < 0.6 and short: return ("PSETEX", k, str(rnd.randint(1, 3)), val())
        return ("PSETEX", k, str(rnd.choice([100000, 5000000, 9223372036854, 9223372036854775]) ), val())
    if c < 0.46: return ("GETSET", k, val())
    if c < 0.50:
        return rnd.choice([("SETNX", k), ("SETNX",), ("SETEX", k, "10"), ("PSETEX", k), ("GETSET", k), ("GETSET", k, "a", "b"),
                           ("SETNX", k, "a", "b"), ("SETEX", k, "10", "v", "x"), ("PSETEX",), ("SETEX",)])
    if c < 0.56:
        o = [("SET", k, val())]
        x = rnd.random()
        if x < 0.3: o = [("SET", k, val(), "EX", longsec)]
        elif x < 0.4: o = [("SET", k, val(), "KEEPTTL")]
        elif x < 0.5: o = [("SET", k, val(), "NX")]
        elif x < 0.6: o = [("SET", k, val(), "GET")]
        elif x < 0.7 and short: o = [("SET", k, val(), "PX", "2")]
        return o[0]
    if c < 0.64: return ("GET", k)
    if c < 0.70: return ("TTL", k)
    if c < 0.75: return ("PTTL", k)
    if c < 0.79: return ("EXPIRE", k, rnd.choice(["100", "0", "-1", "5000", "abc"] if not nobad else ["100", "5000", "-1"]))
    if c < 0.83: return ("PERSIST", k)
    if c < 0.86: return ("DEL", k)
    if c < 0.91: return ("INCR", k)
    if c < 0.95: return ("APPEND", k, val())
    if c < 0.98: return ("EXISTS", k)
    return ("STRLEN", k)

def same(c, a, b):
    if a == b: return True
    if isinstance(a, int) and isinstance(b, int):
        if c[0] == "TTL" and abs(a - b) <= 1 and a >= 0 and b >= 0: return True
        if c[0] == "PTTL" and abs(a - b) <= 150 and a >= 0 and b >= 0: return True
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and c == "EXEC":
        return all(same(("?",), x, y) for x, y in zip(a, b))
    return False

def short(r):
    s = repr(r)
    return s if len(s) < 200 else s[:200] + "...(%d)" % len(s)

nd = 0
counts = {}
for si in range(A.n):
    mode = rnd.choice(["single", "single", "pipe", "multi", "multi-err"])
    counts[mode] = counts.get(mode, 0) + 1
    p = rnd.choice(ports)
    s = S[p]
    pre = [("DEL", PFX + "a", PFX + "b", PFX + "c")]
    R.cmd(*pre[0]); s.cmd(*pre[0])
    seq = [op(mode == "single", A.no_bad_in_multi and mode.startswith("multi")) for _ in range(rnd.randint(3, 10))]
    diffs = []
    if mode == "single":
        for c in seq:
            p = rnd.choice(ports); s = S[p]
            a = R.cmd(*c); b = s.cmd(*c)
            if c[0] in ("PSETEX", "SET") and len(c) > 2 and (c[-1] == "2" or (c[0] == "PSETEX" and c[2] in ("1", "2", "3"))):
                time.sleep(0.015)
            if not same(c, a, b): diffs.append((c, a, b, p))
    elif mode == "pipe":
        a = R.pipeline(seq); b = s.pipeline(seq)
        for c, x, y in zip(seq, a, b):
            if not same(c, x, y): diffs.append((c, x, y, p))
    else:
        body = list(seq)
        if mode == "multi-err":
            body.insert(rnd.randrange(len(body) + 1), rnd.choice([("SETNX", key()), ("SETEX", key(), "10"), ("GETSET", key()), ("PSETEX", key(), "1")]))
        full = [("MULTI",)] + body + [("EXEC",)]
        a = R.pipeline(full); b = s.pipeline(full)
        for c, x, y in zip(full, a, b):
            if not same(c[0] if c[0] == "EXEC" else c, x, y): diffs.append((c, x, y, p))
    # final state check
    for k in ("a", "b", "c"):
        kk = PFX + k
        for c in (("GET", kk), ("TTL", kk)):
            a = R.cmd(*c); b = S[rnd.choice(ports)].cmd(*c)
            if not same(c, a, b): diffs.append((("FINAL",) + c, a, b))
    if diffs:
        nd += 1
        print("=== DIFF seq %d mode=%s port=%d" % (si, mode, p))
        for c in seq: print("   ", short(c))
        for d in diffs: print("  !", short(d[0]), "redis=", short(d[1]), "snowflk=", short(d[2]))
print("SUMMARY seed=%d sequences=%d modes=%s differing=%d" % (A.seed, A.n, counts, nd))
