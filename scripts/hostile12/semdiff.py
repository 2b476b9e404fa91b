"""Differential test of command semantics: real redis-server 7.0 (port 17500) vs a snowflk 3-node
cluster (commands sent to a FOLLOWER, port of a non-leader). Prints every sequence whose replies
differ (error text is compared by first word only). Each sequence starts with FLUSH of its keys.

usage: python3 semdiff.py --run run-sem
"""
import argparse
import os
import subprocess
import time

from cluster import Cluster, RUN_ROOT
from resp import Conn, Err

ap = argparse.ArgumentParser()
ap.add_argument("--run", default="run-sem")
A = ap.parse_args()

SEQS = [
    [("SET", "a", "1"), ("INCR", "a"), ("GET", "a")],
    [("SET", "a", "01"), ("INCR", "a")],
    [("SET", "a", " 1"), ("INCR", "a")],
    [("SET", "a", "-0"), ("INCR", "a")],
    [("SET", "a", "+1"), ("INCR", "a")],
    [("SET", "a", "9223372036854775807"), ("INCR", "a"), ("GET", "a")],
    [("SET", "a", "-9223372036854775808"), ("INCR", "a"), ("GET", "a")],
    [("SET", "a", ""), ("INCR", "a")],
    [("SET", "a", "1e3"), ("INCR", "a")],
    [("SET", "a", "abc"), ("INCR", "a"), ("GET", "a")],
    [("INCR", "a"), ("INCR", "a"), ("GET", "a")],
    [("APPEND", "a", "xy"), ("APPEND", "a", "z"), ("GET", "a"), ("STRLEN", "a")],
    [("SET", "a", "5"), ("APPEND", "a", "0"), ("INCR", "a")],
    [("MSET", "a", "1", "b", "2"), ("GET", "a"), ("GET", "b")],
    [("MSET", "a", "1", "b"), ("GET", "a")],
    [("MSET", "a", "1", "a", "2"), ("GET", "a")],
    [("MSET",)],
    [("MGET", "a", "b", "c")],
    [("SET", "a", "1", "NX"), ("SET", "a", "2", "NX"), ("GET", "a")],
    [("SET", "a", "1", "XX"), ("GET", "a")],
    [("SET", "a", "1"), ("SET", "a", "2", "GET")],
    [("SET", "a", "1", "EX", "100"), ("SET", "a", "2", "KEEPTTL"), ("TTL", "a")],
    [("SET", "a", "1", "EX", "100"), ("SET", "a", "2"), ("TTL", "a")],
    [("SET", "a", "1", "EX", "0")],
    [("SET", "a", "1", "EX", "-5")],
    [("SET", "a", "1", "PX", "0")],
    [("SET", "a", "1", "EX", "abc")],
    [("SET", "a", "1", "EX", "10", "PX", "100")],
    [("SET", "a", "1"), ("EXPIRE", "a", "0"), ("GET", "a"), ("EXISTS", "a")],
    [("SET", "a", "1"), ("EXPIRE", "a", "-1"), ("GET", "a")],
    [("SET", "a", "1"), ("PEXPIRE", "a", "100000"), ("PERSIST", "a"), ("PERSIST", "a"), ("TTL", "a")],
    [("EXPIRE", "nokey", "10"), ("PERSIST", "nokey"), ("TTL", "nokey"), ("PTTL", "nokey")],
    [("SET", "a", "1"), ("TTL", "a"), ("PTTL", "a")],
    [("SET", "a", "1", "EX", "100"), ("INCR", "a"), ("TTL", "a")],
    [("SET", "a", "x", "EX", "100"), ("APPEND", "a", "y"), ("TTL", "a")],
    [("SET", "a", "1"), ("EXPIRE", "a", "100", "NX"), ("EXPIRE", "a", "200", "NX"), ("TTL", "a")],
    [("SET", "a", "1"), ("EXPIRE", "a", "100", "XX"), ("TTL", "a")],
    [("SET", "a", "1"), ("EXPIRE", "a", "9223372036854775807")],
    [("SET", "a", "1"), ("PEXPIRE", "a", "9223372036854775807")],
    [("SET", "a", "1"), ("DEL", "a", "a", "b"), ("EXISTS", "a", "a")],
    [("SET", "a", "1"), ("EXISTS", "a", "a", "b")],
    [("MULTI",), ("SET", "a", "1"), ("INCR", "a"), ("EXEC",), ("GET", "a")],
    [("SET", "a", "x"), ("MULTI",), ("INCR", "a"), ("SET", "b", "1"), ("EXEC",), ("GET", "b")],
    [("MULTI",), ("SET", "a", "1"), ("NOSUCHCMD",), ("EXEC",), ("GET", "a")],
    [("MULTI",), ("SET", "a"), ("SET", "b", "1"), ("EXEC",), ("GET", "b")],
    [("MULTI",), ("MULTI",), ("SET", "a", "1"), ("EXEC",), ("GET", "a")],
    [("EXEC",)],
    [("DISCARD",)],
    [("MULTI",), ("SET", "a", "1"), ("DISCARD",), ("GET", "a")],
    [("MULTI",), ("EXEC",)],
    [("MULTI",), ("GET", "a"), ("SET", "a", "2"), ("GET", "a"), ("EXEC",)],
    [("MULTI",), ("SET", "a", "1", "EX", "100"), ("TTL", "a"), ("PERSIST", "a"), ("TTL", "a"), ("EXEC",)],
    [("MULTI",), ("INCR", "a"), ("APPEND", "a", "x"), ("INCR", "a"), ("GET", "a"), ("EXEC",), ("GET", "a")],
    [("SET", "a", "1"), ("WATCH", "a"), ("MULTI",), ("SET", "a", "2"), ("EXEC",), ("GET", "a")],
    [("SETNX", "a", "1"), ("SETNX", "a", "2"), ("GET", "a")],
    [("GETSET", "a", "1"), ("GETSET", "a", "2")],
    [("SET", "a", "1"), ("GETDEL", "a"), ("GET", "a")],
    [("INCRBY", "a", "5"), ("DECR", "a"), ("DECRBY", "a", "2"), ("GET", "a")],
    [("SET", "a", "9223372036854775806"), ("INCRBY", "a", "5"), ("GET", "a")],
    [("SETEX", "a", "100", "v"), ("TTL", "a"), ("PSETEX", "b", "100000", "v"), ("PTTL", "b")],
    [("SET", "a", "1", "EX", "100"), ("GETEX", "a", "PERSIST"), ("TTL", "a")],
    [("SET", "", "empty"), ("GET", ""), ("DEL", "")],
    [("SET", "a", "1"), ("RENAME", "a", "b"), ("GET", "b")],
    [("SET", "a", "1", "PX", "1"), ("SLEEP",), ("GET", "a"), ("EXISTS", "a"), ("TTL", "a"), ("INCR", "a"), ("GET", "a")],
    [("SET", "a", "x", "PX", "1"), ("SLEEP",), ("APPEND", "a", "y"), ("GET", "a"), ("TTL", "a")],
    [("SET", "a", "x", "PX", "1"), ("SLEEP",), ("PERSIST", "a"), ("EXPIRE", "a", "100"), ("GET", "a")],
    [("SET", "a", "x", "PX", "1"), ("SLEEP",), ("SET", "a", "y", "NX"), ("GET", "a")],
    [("SET", "a", "x", "PX", "1"), ("SLEEP",), ("MSET", "b", "1"), ("DEL", "a")],
]

CAS_SEQS = [
    [("CAS", "a", "x", "y"), ("GET", "a")],
    [("SET", "a", "x"), ("CAS", "a", "x", "y"), ("GET", "a"), ("CAS", "a", "x", "z"), ("GET", "a")],
    [("SET", "a", "x", "EX", "100"), ("CAS", "a", "x", "y"), ("TTL", "a")],
    [("SET", "a", "x", "PX", "1"), ("SLEEP",), ("CAS", "a", "x", "y"), ("GET", "a")],
    [("CAS", "a", "x")],
    [("CAS", "a", "", "y"), ("GET", "a")],
    [("SET", "a", ""), ("CAS", "a", "", "y"), ("GET", "a")],
    [("MULTI",), ("SET", "a", "x"), ("CAS", "a", "x", "y"), ("CAS", "a", "x", "z"), ("EXEC",), ("GET", "a")],
]


def norm(r):
    if isinstance(r, Err):
        return "ERR:" + r.msg.split(" ")[0]
    if isinstance(r, list):
        return [norm(x) for x in r]
    return r


def run(c, seq):
    for k in ("a", "b", "c", ""):
        c.cmd("DEL", k)
    out = []
    for cmd in seq:
        if cmd == ("SLEEP",):
            time.sleep(0.05)
            continue
        r = c.cmd(*cmd)
        if cmd[0] in ("TTL",) and isinstance(r, int) and r > 0:
            r = "TTL>0" if r > 90 else r
        if cmd[0] in ("PTTL",) and isinstance(r, int) and r > 0:
            r = "PTTL>0" if r > 90000 else r
        out.append(r)
    return out


def main():
    rd = os.path.join(RUN_ROOT, A.run)
    os.makedirs(rd, exist_ok=True)
    rs = subprocess.Popen(["redis-server", "--port", "17500", "--save", "", "--appendonly", "no", "--dir", rd],
                          stdout=open(os.path.join(rd, "redis.log"), "w"), stderr=subprocess.STDOUT)
    cl = Cluster(rd)
    try:
        cl.start_all()
        L = cl.wait_leader(30)
        F = [i for i in cl.ids if i != L][0]
        time.sleep(0.5)
        cr = Conn(17500)
        cs = Conn(cl.port(F))
        ndiff = 0
        for seq in SEQS:
            a = run(cr, seq)
            b = run(cs, seq)
            if [norm(x) for x in a] != [norm(x) for x in b]:
                ndiff += 1
                print("DIFF", seq)
                print("   redis  :", a)
                print("   snowflk:", b)
            elif a != b:
                print("msgdiff", seq, "\n   redis  :", a, "\n   snowflk:", b)
        print("== %d sequences, %d semantic differences" % (len(SEQS), ndiff))
        for seq in CAS_SEQS:
            print("CAS", seq, "->", run(cs, seq))
        cs.close()
        time.sleep(1)
        cl.wait_converged(20)
        cl.stop_all()
        cl.compare_dumps("semdiff end")
    finally:
        rs.kill()
        for i in cl.ids:
            if cl.alive(i):
                cl.kill(i)


main()
