#!/usr/bin/env python3
"""Claim 1 + 2: no acknowledged write is lost; errors mean no effect.

Writers SET unique keys (and INCR a per-writer counter) through random
nodes while a chaos thread SIGKILLs random nodes (leader preferred) and
restarts them; finally all three are SIGKILLed and restarted. Then:
  - every key whose SET got +OK must be present (on reads via every node);
  - every key whose SET got an error not starting with TIMEOUT (and no
    connection loss) must be ABSENT (error = no effect);
  - each per-writer counter must be >= the number of INCRs acknowledged
    and <= acknowledged + unknown.
usage: durability.py BIN BASE SECONDS [SEED]
"""
import os, random, signal, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from resp import Conn, Err

BIN, BASE, SECS = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else random.randrange(1 << 30)
print("seed", SEED, flush=True)
rng = random.Random(SEED)
WORK = tempfile.mkdtemp(prefix="snowflk-dur.")
PEERS = ",".join("%d=127.0.0.1:%d" % (n, BASE + 10 + n) for n in (1, 2, 3))
procs = {}


def start(n):
    log = open(os.path.join(WORK, "n%d.log" % n), "ab")
    procs[n] = subprocess.Popen([BIN, "--id", str(n), "--data-dir", os.path.join(WORK, "n%d" % n),
                                 "--listen", "127.0.0.1:%d" % (BASE + n), "--peer-listen",
                                 "127.0.0.1:%d" % (BASE + 10 + n), "--peers", PEERS,
                                 "--tick-ms", "10", "--heartbeat-ticks", "5", "--election-ticks", "50",
                                 "--request-timeout-ms", "3000"], stdout=log, stderr=log)


def kill(n):
    p = procs.pop(n, None)
    if p:
        p.send_signal(signal.SIGKILL)
        p.wait()


def wait_up(n, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            c = Conn(BASE + n, 1)
            if c.cmd("PING") == "PONG":
                c.close()
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def leader_of(n):
    try:
        c = Conn(BASE + n, 1)
        info = c.cmd("INFO", "replication").decode()
        c.close()
        for l in info.split("\r\n"):
            if l.startswith("raft_leader:"):
                v = l.split(":")[1]
                return None if v == "none" else int(v)
    except Exception:
        return None


acked, failed, unknown = set(), {}, set()
incr_ack = {}
incr_unknown = {}
lock = threading.Lock()
stop = threading.Event()


def writer(w):
    r = random.Random(SEED * 100 + w)
    c = None
    i = 0
    incr_ack[w] = 0
    incr_unknown[w] = 0
    while not stop.is_set():
        i += 1
        key = "w%d-%d" % (w, i)
        try:
            if c is None:
                c = Conn(BASE + r.choice((1, 2, 3)), 8)
            rep = c.cmd("SET", key, "v" + key)
            rep2 = c.cmd("INCR", "ctr%d" % w)
        except Exception:
            with lock:
                unknown.add(key)
                incr_unknown[w] += 1
            if c: c.close()
            c = None
            time.sleep(0.01)
            continue
        with lock:
            if rep == "OK":
                acked.add(key)
            elif isinstance(rep, Err) and rep.args[0].startswith("TIMEOUT"):
                unknown.add(key)
            else:
                failed[key] = rep
            if isinstance(rep2, int):
                incr_ack[w] += 1
            elif isinstance(rep2, Err) and rep2.args[0].startswith("TIMEOUT"):
                incr_unknown[w] += 1
            elif isinstance(rep2, Err) and not rep2.args[0].startswith(("TRYAGAIN", "ERR not leader", "CLUSTERDOWN")):
                print("odd INCR reply", rep2, flush=True)


try:
    for n in (1, 2, 3):
        start(n)
    for n in (1, 2, 3):
        assert wait_up(n), "node %d did not start" % n
    ts = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in ts:
        t.start()
    end = time.time() + SECS
    while time.time() < end:
        time.sleep(r := rng.uniform(0.3, 1.5))
        l = leader_of(rng.choice((1, 2, 3)))
        victim = l if (l and rng.random() < 0.7) else rng.choice((1, 2, 3))
        print("kill", victim, "(leader %s)" % l, flush=True)
        kill(victim)
        time.sleep(rng.uniform(0.0, 1.0))
        start(victim)
        wait_up(victim)
    print("kill all", flush=True)
    for n in (1, 2, 3):
        kill(n)
    stop.set()
    for t in ts:
        t.join()
    for n in (1, 2, 3):
        start(n)
    for n in (1, 2, 3):
        assert wait_up(n)
    print("acked %d failed %d unknown %d" % (len(acked), len(failed), len(unknown)), flush=True)
    bad = 0
    for n in (1, 2, 3):
        c = Conn(BASE + n, 10)
        # wait for a leader
        end = time.time() + 20
        while True:
            r = c.cmd("GET", "probe")
            if not isinstance(r, Err) or time.time() > end:
                break
            time.sleep(0.1)
        keys = sorted(acked)
        for k0 in range(0, len(keys), 500):
            chunk = keys[k0:k0 + 500]
            vals = c.cmd("MGET", *chunk)
            if isinstance(vals, Err):
                print("MGET error on node", n, vals); bad += 1; break
            for k, v in zip(chunk, vals):
                if v != ("v" + k).encode():
                    bad += 1
                    if bad < 20: print("VIOLATION: acked write %s missing/wrong via node %d: %r" % (k, n, v))
        fk = sorted(failed)
        for k0 in range(0, len(fk), 500):
            chunk = fk[k0:k0 + 500]
            vals = c.cmd("MGET", *chunk)
            for k, v in zip(chunk, vals):
                if v is not None:
                    bad += 1
                    print("VIOLATION: write %s got error %r yet is present via node %d" % (k, failed[k], n))
        for w in incr_ack:
            v = c.cmd("GET", "ctr%d" % w)
            v = int(v) if v else 0
            if not (incr_ack[w] <= v <= incr_ack[w] + incr_unknown[w]):
                bad += 1
                print("VIOLATION: ctr%d = %d, acked %d unknown %d" % (w, v, incr_ack[w], incr_unknown[w]))
        c.close()
    errs = {}
    for k, v in failed.items():
        errs[str(v)[:40]] = errs.get(str(v)[:40], 0) + 1
    print("error replies:", errs)
    print("RESULT", "FAIL" if bad else "PASS", "seed", SEED, "work", WORK)
finally:
    for n in list(procs):
        kill(n)
