#!/usr/bin/env python3
"""Claim 4: error replies / 0 replies change nothing. usage: errcontract.py PORT ROUNDS"""
import sys, random, time
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from resp import Conn
port, rounds = int(sys.argv[1]), int(sys.argv[2])
c = Conn("127.0.0.1", port)
R = random.Random(1)
K = [b"s", b"d", b"x", b"y"]
def snap():
    reps = c.pipeline([[b"GET", k] for k in K] + [[b"PTTL", k] for k in K])
    return [r if i < 4 else ("ttl", r[1] // 1000 if r[1] >= 0 else r[1]) for i, r in enumerate(reps)]
bad = 0; n = 0
for r in range(rounds):
    c.pipeline([[b"DEL", *K]])
    for k in K:
        if R.random() < 0.6:
            c.cmd(b"SET", k, b"v" + k, *R.choice([[], [b"EX", b"500"], [b"PX", b"1"]]))
    time.sleep(0.005)
    for cmd in ([b"RENAME", R.choice(K), R.choice(K)], [b"RENAMENX", R.choice(K), R.choice(K)],
                [b"MSETNX", R.choice(K), b"n1", R.choice(K), b"n2"], [b"GETEX", R.choice(K), b"EX", b"0"],
                [b"GETEX", R.choice(K), b"PX", b"abc"], [b"SET", R.choice(K), b"z", b"EX", b"-1"],
                [b"SET", R.choice(K), b"z", b"NX", b"XX"]):
        before = snap()
        rep = c.cmd(*cmd)
        after = snap()
        if rep[0] == "err" or rep == ("int", 0):
            n += 1
            if before != after:
                bad += 1
                print("!! %r -> %r\n  before %r\n  after  %r" % (cmd, rep, before, after))
print("RESULT port %d checked %d violations %d" % (port, n, bad))
