#!/usr/bin/env python3
"""Deposed-leader test: SIGSTOP the leader, let the others elect a new one and
acknowledge a newer value, then queue a GET (and a SET/INCR) on the paused old
leader's socket *before* SIGCONT. The old leader wakes with stale state and
queued log writes; its GET must see the newer value (or fail), its write
replies must be honest. Also a load thread keeps INCRing a counter.

usage: stale_leader.py [--rounds 20] [--slow 1:100000]
"""
import argparse, os, socket, sys, time, random, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=20)
ap.add_argument("--root", default="/tmp/hostile6-stale")
ap.add_argument("--base", type=int, default=19500)
ap.add_argument("--slow", default="")
args = ap.parse_args()

C = Cluster(args.root, base=args.base)
for part in filter(None, args.slow.split(",")):
    i, u = part.split(":")
    C.env[int(i)] = {"LD_PRELOAD": os.path.join(os.path.dirname(os.path.abspath(__file__)), "slowfsync.so"),
                     "SLOWFSYNC_US": u}
C.start_all()
assert C.leader(timeout=20)


def resp(*a):
    out = f"*{len(a)}\r\n"
    for x in a:
        x = str(x)
        out += f"${len(x.encode())}\r\n{x}\r\n"
    return out.encode()


def read_replies(sock, n, timeout=12):
    sock.settimeout(timeout)
    buf = b""
    replies = []
    try:
        while len(replies) < n:
            d = sock.recv(65536)
            if not d:
                break
            buf += d
            while b"\r\n" in buf and len(replies) < n:
                line, rest = buf.split(b"\r\n", 1)
                if line.startswith(b"$") and line != b"$-1":
                    ln = int(line[1:])
                    if len(rest) < ln + 2:
                        break
                    replies.append(rest[:ln].decode()); buf = rest[ln + 2:]
                else:
                    replies.append(line.decode()); buf = rest
    except Exception as e:
        replies.append(f"<{type(e).__name__}>")
    return replies


bad = []
acked_writes = {}   # key -> value acknowledged by the old leader
stop = threading.Event()
ctr_vals = []


def load():
    while not stop.is_set():
        i = random.choice(C.ids)
        if i in C.paused:
            continue
        try:
            v = C.conn(i, 8).incr("load")
            ctr_vals.append(v)
        except Exception:
            time.sleep(0.01)


lt = [threading.Thread(target=load, daemon=True) for _ in range(4)]
for t in lt:
    t.start()

for rnd_ in range(args.rounds):
    old = C.leader()
    C.conn(old, 8).set("x", f"a{rnd_}")
    s = socket.create_connection(("127.0.0.1", C.client[old]))
    C.stop(old)
    t0 = time.time()
    new = None
    while time.time() - t0 < 15:
        new = C.leader(via=[i for i in C.ids if i != old], timeout=1)
        if new and new != old:
            break
    if not new or new == old:
        bad.append(f"round {rnd_}: no new leader while {old} paused")
        C.cont(old)
        continue
    try:
        ok = C.conn(new, 8).set("x", f"b{rnd_}")
    except Exception as e:
        ok = f"<{e}>"
    # queued on the deposed leader before it wakes
    s.sendall(resp("GET", "x") + resp("SET", f"y{rnd_}", f"old{rnd_}") + resp("INCR", "load") + resp("GET", "x"))
    time.sleep(random.uniform(0, 0.05))
    C.cont(old)
    reps = read_replies(s, 4)
    s.close()
    print(f"round {rnd_}: old={old} new={new} set-b={ok} replies={reps}", flush=True)
    if ok is True:
        for idx in (0, 3):
            if idx < len(reps) and reps[idx] == f"a{rnd_}":
                bad.append(f"round {rnd_}: STALE READ from deposed leader {old}: got a{rnd_} after b{rnd_} acked")
    if len(reps) > 1 and reps[1] == "+OK":
        acked_writes[f"y{rnd_}"] = f"old{rnd_}"
    if len(reps) > 2 and reps[2].startswith(":"):
        ctr_vals.append(int(reps[2][1:]))
    time.sleep(0.5)

stop.set()
for t in lt:
    t.join(10)
C.wait_caught_up(60)
for node in C.ids:
    C.transfer_to(node)
    r = C.conn(node, 8)
    for k, v in acked_writes.items():
        if r.get(k) != v:
            bad.append(f"LOST {k} on node {node}")
    final = int(r.get("load"))
    if len(ctr_vals) != len(set(ctr_vals)):
        bad.append("duplicate INCR values")
    if ctr_vals and final < max(ctr_vals):
        bad.append(f"node {node}: counter {final} < acked {max(ctr_vals)}")
print(f"rounds={args.rounds} old-leader acked writes={len(acked_writes)} incr acks={len(ctr_vals)}")
print("BAD:", bad if bad else "none")
C.stop_all()
os.system(f"grep -il panic {args.root}/n*.log && echo PANIC-FOUND")
