#!/usr/bin/env python3
"""Rolling upgrade of a 3-node cluster from OLD to NEW binary under a writer.

    python3 scripts/rolling-upgrade.py OLD_BIN NEW_BIN [WORK_DIR]

Starts three nodes on the old binary, runs a writer (SET k<i> i, one at a
time, through whichever node answers), then upgrades the nodes one by one:
SIGTERM, wait for exit 0, start the new binary on the same data directory,
wait until it has applied the leader's commit index. At the end every
acknowledged key must read back from every node, and the script prints the
longest gap between two acknowledged writes. Needs `pip install redis`.
Every process it starts is stopped when it ends.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import redis

OLD, NEW = sys.argv[1], sys.argv[2]
WORK = sys.argv[3] if len(sys.argv) > 3 else "/tmp/rolling-upgrade"
TIMING = ["--tick-ms", "10", "--heartbeat-ticks", "5", "--election-ticks", "50"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
client_ports = [free_port() for _ in range(3)]
peer_ports = [free_port() for _ in range(3)]
peers = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(peer_ports))
procs = {}


def start(i, binary):
    log = open(f"{WORK}/n{i + 1}.log", "a")
    log.write(f"===== start {binary}\n")
    log.flush()
    procs[i] = subprocess.Popen(
        [binary, "--id", str(i + 1), "--data-dir", f"{WORK}/n{i + 1}",
         "--listen", f"127.0.0.1:{client_ports[i]}",
         "--peer-listen", f"127.0.0.1:{peer_ports[i]}", "--peers", peers] + TIMING,
        stdout=subprocess.DEVNULL, stderr=log)


def conn(i):
    return redis.Redis(port=client_ports[i], socket_timeout=5, socket_connect_timeout=1)


def info(i):
    try:
        return conn(i).info("replication")
    except Exception:
        return {}


def wait(what, f, limit=60):
    end = time.time() + limit
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


acked, stop, last_ack, gaps, errors = [], threading.Event(), [time.time()], [0.0], [0]


def writer():
    i, target = 0, 0
    while not stop.is_set():
        key = f"k{i}"
        try:
            conn(target).set(key, i)
            now = time.time()
            gaps[0] = max(gaps[0], now - last_ack[0])
            last_ack[0] = now
            acked.append(key)
            i += 1
        except Exception:
            errors[0] += 1
            target = (target + 1) % 3
            time.sleep(0.01)


try:
    for i in range(3):
        start(i, OLD)
    wait("a leader", lambda: any(info(i).get("raft_role") == "leader" for i in range(3)))
    t = threading.Thread(target=writer)
    t.start()
    time.sleep(2)
    for i in [2, 1, 0]:
        procs[i].send_signal(signal.SIGTERM)
        rc = procs[i].wait(timeout=60)
        print(f"node {i + 1}: SIGTERM, exit {rc}")
        start(i, NEW)
        leader_commit = wait("a commit index", lambda: max(
            int(info(j).get("raft_commit_index", 0)) for j in range(3) if j != i))
        wait(f"node {i + 1} to catch up", lambda: int(info(i).get("raft_applied_index", 0)) >= leader_commit)
        print(f"node {i + 1}: on the new build, caught up to {leader_commit}")
        time.sleep(2)
    stop.set()
    t.join()
    missing = {}
    for i in range(3):
        c = conn(i)
        missing[i + 1] = sum(1 for k in acked if c.get(k) is None)
    print(f"acknowledged writes: {len(acked)}, failed attempts: {errors[0]}, "
          f"longest gap between acknowledged writes: {gaps[0]:.3f} s, missing per node: {missing}")
    v1 = sum(open(f"{WORK}/n{i + 1}.log").read().count("speaks peer protocol version 1") for i in range(3))
    print(f"log lines about version-1 peers: {v1}")
    sys.exit(0 if all(m == 0 for m in missing.values()) else 1)
finally:
    stop.set()
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()
