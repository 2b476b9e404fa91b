#!/usr/bin/env python3
"""Differential test: random command sequences against redis-server (reference) and snowflk.

usage: diff.py SEED N_OPS [resp3] [--ref PORT] [--sut PORT]
Replies are compared byte by byte, except TTL/PTTL (tolerance) and TIME (shape + clock).
Short PX/PXAT-in-past keys are followed by a harness sleep so they are expired on both.
"""
import random
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from resp import Conn, enc

args = sys.argv[1:]
seed = int(args[0])
nops = int(args[1])
resp3 = "resp3" in args
ref_port = int(args[args.index("--ref") + 1]) if "--ref" in args else 23000
sut_port = int(args[args.index("--sut") + 1]) if "--sut" in args else 23001
verbose = "-v" in args
R = random.Random(seed)

KEYS = [b"a", b"b", b"c", b"", b"\x00\xff\r\n"]
VALS = [b"1", b"v", b"", b"\x00bin\xff", b"-5", b"9223372036854775807", b"xyz"]


def key():
    return R.choice(KEYS)


def val():
    return R.choice(VALS)


def now_s():
    return int(time.time())


def num_tok(kind):
    """A time argument: mostly valid, sometimes odd."""
    r = R.random()
    if r < 0.08:
        return R.choice([b"abc", b"1.5", b"", b" 10", b"10 ", b"+10", b"0x10", b"1e3", b"--1", b"-0", b"00010"])
    if r < 0.16:
        return R.choice([b"0", b"-1", b"-100", b"9223372036854775807", b"9223372036854775808",
                         b"-9223372036854775808", b"9223372036854775", b"9223372036854776",
                         b"18446744073709551615", b"9223372036854775806"])
    if kind == "EX":
        return str(R.choice([100, 200, 1000, 50000])).encode()
    if kind == "PX":
        return str(R.choice([1, 2, 100000, 500000])).encode()
    if kind == "EXAT":
        return str(R.choice([1, now_s() - 5, now_s() + 300, now_s() + 5000])).encode()
    if kind == "PXAT":
        return str(R.choice([1, int(time.time() * 1000) - 100, int(time.time() * 1000) + 400000])).encode()
    return b"1"


def case(s):
    return R.choice([s, s.lower(), s.capitalize()]) if R.random() < 0.3 else s


def expiry_opts(allowed):
    out = []
    k = R.randint(0, 3)
    if R.random() < 0.6:
        # mostly one kind, possibly repeated
        kind = R.choice(allowed)
        for _ in range(R.randint(1, 3)):
            out.append(case(kind))
            if kind in ("EX", "PX", "EXAT", "PXAT"):
                out.append(num_tok(kind).decode() if False else num_tok(kind))
        if R.random() < 0.1:
            out.append(case(R.choice(allowed)))
            if out[-1].upper() in ("EX", "PX", "EXAT", "PXAT") and R.random() < 0.7:
                out.append(num_tok(out[-1].upper()))
    return out


def gen_set():
    a = [case("SET"), key(), val()]
    opts = []
    parts = []
    if R.random() < 0.4:
        parts.append([case(R.choice(["NX", "XX"]))] * R.randint(1, 2))
    if R.random() < 0.3:
        parts.append([case("GET")] * R.randint(1, 2))
    e = expiry_opts(["EX", "PX", "EXAT", "PXAT", "KEEPTTL"])
    if e:
        parts.append(e)
    if R.random() < 0.03:
        parts.append([R.choice(["NX XX", "PERSIST", "FOO"])])
    R.shuffle(parts)
    # sometimes interleave: split expiry opts around NX/GET
    for p in parts:
        for t in p:
            opts.extend(t.split(" ") if isinstance(t, str) else [t])
    return a + opts


def gen_getex():
    return [case("GETEX"), key()] + expiry_opts(["EX", "PX", "EXAT", "PXAT", "PERSIST"]) + (
        [b"FOO"] if R.random() < 0.03 else [])


def gen_cmd():
    r = R.random()
    choices = [
        (10, gen_set),
        (8, gen_getex),
        (5, lambda: [case("RENAME"), key(), key()]),
        (5, lambda: [case("RENAMENX"), key(), key()]),
        (5, lambda: [case("MSETNX")] + [x for _ in range(R.randint(1, 3)) for x in (key(), val())]),
        (2, lambda: [case("MSET")] + [x for _ in range(R.randint(1, 3)) for x in (key(), val())]),
        (4, lambda: [case("TYPE"), key()]),
        (3, lambda: [case("UNLINK")] + [key() for _ in range(R.randint(1, 3))]),
        (2, lambda: [case("DEL")] + [key() for _ in range(R.randint(1, 3))]),
        (4, lambda: [case("TOUCH")] + [key() for _ in range(R.randint(1, 3))]),
        (3, lambda: [case("EXISTS")] + [key() for _ in range(R.randint(1, 3))]),
        (2, lambda: [case("TIME")]),
        (5, lambda: [case("GET"), key()]),
        (3, lambda: [case("MGET")] + [key() for _ in range(R.randint(1, 4))]),
        (4, lambda: [case("PTTL"), key()]),
        (3, lambda: [case("TTL"), key()]),
        (2, lambda: [case("PERSIST"), key()]),
        (2, lambda: [case(R.choice(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])), key(),
                     num_tok(R.choice(["EX", "PX", "EXAT", "PXAT"]))]),
        (1, lambda: [case("SETEX"), key(), num_tok("EX"), val()]),
        (1, lambda: [case("PSETEX"), key(), num_tok("PX"), val()]),
        (1, lambda: [case("GETSET"), key(), val()]),
        (1, lambda: [case("GETDEL"), key()]),
        # wrong arity
        (4, lambda: R.choice([
            [b"RENAME", key()], [b"RENAME", key(), key(), key()], [b"RENAMENX"], [b"RENAMENX", key()],
            [b"MSETNX"], [b"MSETNX", key()], [b"MSETNX", key(), val(), key()], [b"GETEX"],
            [b"TYPE"], [b"TYPE", key(), key()], [b"UNLINK"], [b"TOUCH"], [b"TIME", b"x"],
            [b"SET", key()], [b"GETEX", key(), b"EX"], [b"SET", key(), val(), b"EX"],
        ])),
    ]
    tot = sum(w for w, _ in choices)
    x = R.uniform(0, tot)
    for w, f in choices:
        x -= w
        if x <= 0:
            return [a.encode() if isinstance(a, str) else a for a in f()]
    return [b"PING"]


def short_expiry(c):
    up = [x.upper() if isinstance(x, bytes) else x for x in c]
    for i, t in enumerate(up):
        if t in (b"PX", b"PSETEX", b"PEXPIRE") and i + 1 < len(up) and up[i + 1] in (b"1", b"2"):
            return True
    if up and up[0] == b"PEXPIRE" and len(up) > 2 and up[2] in (b"1", b"2"):
        return True
    if up and up[0] == b"PSETEX" and len(up) > 2 and up[2] in (b"1", b"2"):
        return True
    return False


def cmdname(c):
    return c[0].upper() if c else b""


def close_int(a, b, tol):
    return abs(a - b) <= tol


def compare(c, rr, rs):
    """rr, rs: (raw, parsed). Returns None if equal, else reason."""
    name = cmdname(c)
    if rr[0] == rs[0]:
        return None
    pr, ps = rr[1], rs[1]
    if name in (b"TTL", b"PTTL") and pr[0] == "int" and ps[0] == "int":
        tol = 1 if name == b"TTL" else 60
        if pr[1] >= 0 and ps[1] >= 0 and close_int(pr[1], ps[1], tol):
            return None
    if name == b"TIME" and pr[0] == "arr" and ps[0] == "arr" and len(ps[1]) == 2 and all(
            x[0] == "bulk" and x[1].isdigit() for x in ps[1]):
        if abs(int(pr[1][0][1]) - int(ps[1][0][1])) <= 2:
            return None
    return "DIFF"


def compare_exec(queued, rr, rs):
    if rr[0] == rs[0]:
        return None
    pr, ps = rr[1], rs[1]
    if pr[0] != "arr" or ps[0] != "arr" or len(pr[1]) != len(ps[1]):
        return "DIFF"
    # re-encode each element raw for comparison: cheap approach via repr of parsed
    for c, a, b in zip(queued, pr[1], ps[1]):
        if a == b:
            continue
        if cmdname(c) in (b"TTL", b"PTTL") and a[0] == "int" and b[0] == "int" and a[1] >= 0 and b[1] >= 0 \
                and close_int(a[1], b[1], 1 if cmdname(c) == b"TTL" else 60):
            continue
        if cmdname(c) == b"TIME" and a[0] == "arr" and b[0] == "arr":
            continue
        return "DIFF in %r: %r vs %r" % (c, a, b)
    return None


ref = Conn("127.0.0.1", ref_port)
sut = Conn("127.0.0.1", sut_port)
for c in (ref, sut):
    c.cmd("FLUSHDB")
    if resp3:
        c.cmd("HELLO", "3")

diffs = 0
ops = 0
in_multi = False
queued = []
log = []
for i in range(nops):
    if not in_multi and R.random() < 0.07:
        c = [b"MULTI"]
        in_multi = True
        queued = []
    elif in_multi and (len(queued) >= R.randint(1, 6)):
        c = [R.choice([b"EXEC"] * 9 + [b"DISCARD"])]
    else:
        c = gen_cmd()
        while in_multi and c[0].upper() == b"TIME":  # documented: TIME is refused in MULTI
            c = gen_cmd()
    rr = ref.cmd_raw(*c)
    rs = sut.cmd_raw(*c)
    ops += 1
    log.append((c, rr[0], rs[0]))
    if c[0] == b"MULTI":
        why = None if rr[0] == rs[0] else "DIFF"
    elif c[0] in (b"EXEC", b"DISCARD"):
        why = compare_exec(queued, rr, rs) if c[0] == b"EXEC" else (None if rr[0] == rs[0] else "DIFF")
        in_multi = False
    elif in_multi:
        queued.append(c)
        why = None if rr[0] == rs[0] else "DIFF"
    else:
        why = compare(c, rr, rs)
    if why:
        diffs += 1
        print("seed %d op %d %s: %r\n  redis  : %r\n  snowflk: %r" % (seed, i, why, c, rr[0], rs[0]))
        if in_multi:
            print("  (in MULTI, queued so far: %r)" % queued)
        if c[0] == b"EXEC":
            print("  (queued: %r)" % queued)
        if "-ctx" in args:
            for e in log[-int(args[args.index("-ctx") + 1]):]:
                print("    ctx %r -> R %r S %r" % e)
        if not in_multi:
            ref.cmd("FLUSHDB"); sut.cmd("FLUSHDB")  # resync, avoid cascades
    elif verbose:
        print("ok %r -> %r" % (c, rr[0]))
    if short_expiry(c) and (rr[1][0] != "err"):
        time.sleep(0.03)
    if in_multi and short_expiry(c):
        pass
    if c[0] == b"EXEC" and any(short_expiry(q) for q in queued):
        time.sleep(0.03)
    # periodic cross-check of full state
    if not in_multi and i % 25 == 0:
        for k in KEYS:
            a = ref.cmd_raw(b"GET", k)
            b = sut.cmd_raw(b"GET", k)
            if a[0] != b[0]:
                diffs += 1
                print("seed %d op %d STATE GET %r: redis %r snowflk %r" % (seed, i, k, a[0], b[0]))
            a = ref.cmd(b"PTTL", k)
            b = sut.cmd(b"PTTL", k)
            if not (a == b or (a[1] >= 0 and b[1] >= 0 and abs(a[1] - b[1]) < 100)):
                diffs += 1
                print("seed %d op %d STATE PTTL %r: redis %r snowflk %r" % (seed, i, k, a, b))
print("seed %d resp%d ops %d diffs %d" % (seed, 3 if resp3 else 2, ops, diffs))
