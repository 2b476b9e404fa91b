#!/usr/bin/env python3
"""Claim 3: linearizable reads from any node.

Phase 1: write on node A (acked), immediately read on node B != A: must see it.
Phase 2: SIGSTOP the leader, wait for a new leader (seen by the others),
  write k=new through the new leader, SIGCONT the old leader and immediately
  read k through it (and send reads queued *while* it was stopped): a reply
  with the old value is a stale read.
usage: reads.py BIN BASE [ROUNDS] [SEED]
"""
import os, random, signal, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from resp import Conn, Err

BIN, BASE = sys.argv[1], int(sys.argv[2])
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else random.randrange(1 << 30)
print("seed", SEED, flush=True)
rng = random.Random(SEED)
WORK = tempfile.mkdtemp(prefix="snowflk-reads.")
PEERS = ",".join("%d=127.0.0.1:%d" % (n, BASE + 10 + n) for n in (1, 2, 3))
procs = {}
bad = 0


def start(n):
    log = open(os.path.join(WORK, "n%d.log" % n), "ab")
    procs[n] = subprocess.Popen([BIN, "--id", str(n), "--data-dir", os.path.join(WORK, "n%d" % n),
                                 "--listen", "127.0.0.1:%d" % (BASE + n), "--peer-listen",
                                 "127.0.0.1:%d" % (BASE + 10 + n), "--peers", PEERS,
                                 "--tick-ms", "10", "--heartbeat-ticks", "5", "--election-ticks", "50"],
                                stdout=log, stderr=log)


def info(n, field):
    try:
        c = Conn(BASE + n, 1)
        s = c.cmd("INFO", "replication").decode()
        c.close()
        for l in s.split("\r\n"):
            if l.startswith(field + ":"):
                return l.split(":", 1)[1]
    except Exception:
        return None


def wait_for(pred, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return None


def retry(n, *args, deadline=20):
    end = time.time() + deadline
    while True:
        try:
            c = Conn(BASE + n, 10)
            r = c.cmd(*args)
            c.close()
        except OSError as e:
            r = Err("conn " + str(e))
        if not isinstance(r, Err) or time.time() > end:
            return r
        time.sleep(0.05)


try:
    for n in (1, 2, 3):
        start(n)
    wait_for(lambda: info(1, "raft_leader") not in (None, "none"))
    conns = {n: Conn(BASE + n) for n in (1, 2, 3)}
    # Phase 1
    for i in range(300):
        a = rng.choice((1, 2, 3)); b = rng.choice([x for x in (1, 2, 3) if x != a])
        r = conns[a].cmd("SET", "p1", str(i))
        if r != "OK":
            print("set err", r); continue
        g = conns[b].cmd("GET", "p1")
        if g != str(i).encode():
            bad += 1; print("VIOLATION phase1: SET p1 %d acked on node %d, GET on node %d -> %r" % (i, a, b, g))
    for c in conns.values(): c.close()
    print("phase 1 done", flush=True)
    # Phase 2
    for rnd in range(ROUNDS):
        old = int(wait_for(lambda: (lambda v: v if v not in (None, "none") else None)(info(rng.choice((1, 2, 3)), "raft_leader"))))
        others = [x for x in (1, 2, 3) if x != old]
        key = "p2-%d" % rnd
        assert retry(old, "SET", key, "old") == "OK"
        # connections to old leader opened before the pause
        pre = [Conn(BASE + old, 30) for _ in range(3)]
        procs[old].send_signal(signal.SIGSTOP)
        new = wait_for(lambda: (lambda v: int(v) if v not in (None, "none", str(old)) else None)(info(others[0], "raft_leader")), 30)
        if not new:
            print("no new leader"); procs[old].send_signal(signal.SIGCONT); continue
        r = retry(others[0], "SET", key, "new")
        if r != "OK":
            print("write on new leader failed", r)
        # reads queued on the paused old leader
        for c in pre:
            c.send_raw(Conn.encode("GET", key))
        procs[old].send_signal(signal.SIGCONT)
        for c in pre:
            try:
                g = c.read()
            except Exception as e:
                g = "conn lost %s" % e
            if g == b"old" and r == "OK":
                bad += 1; print("VIOLATION phase2 round %d: old leader %d served stale GET %s -> 'old' after 'new' acked" % (rnd, old, key))
            else:
                print("  queued read on old leader ->", g)
            c.close()
        c = Conn(BASE + old, 30)
        g = c.cmd("GET", key)
        print("  fresh read on old leader after SIGCONT ->", g, flush=True)
        if g == b"old" and r == "OK":
            bad += 1; print("VIOLATION phase2 round %d: stale fresh read" % rnd)
        c.close()
        wait_for(lambda: info(old, "raft_leader") not in (None, "none"))
    print("RESULT", "FAIL" if bad else "PASS", "seed", SEED, "work", WORK)
finally:
    for p in procs.values():
        p.send_signal(signal.SIGCONT); p.send_signal(signal.SIGKILL); p.wait()
