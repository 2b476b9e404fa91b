#!/usr/bin/env python3
"""Raw version-1 peers against NEW nodes.
 A) all-NEW 3-node cluster: a v1 hello claiming each known id is refused (status 1);
    malformed/truncated v1 (and other-version) hellos refused, no panic.
 B) 3-node NEW cluster with node 3 never started: a v1 hello claiming 3 is accepted;
    a frame with term T1 is delivered (node 2's term jumps); then the real node 3 (NEW) starts,
    presents its incarnation; another frame (term T2) on the same v1 socket must NOT be delivered.
 C) fake acceptor on node 3's address answering v2 hellos with v1 acks: NEW dialer falls back
    to v1 only while 3's incarnation is unknown."""
import sys, time, socket, struct, threading
from lib import *

def term(n):
    try: return int(n.info().get("raft_term", -1))
    except Exception: return -1

def ack_str(b):
    if len(b) < 8: return f"closed({b.hex()})"
    return f"ver={struct.unpack('<H', b[4:6])[0]} status={b[6]} len={len(b)}"

res = []
# ---------------- A
c = Cluster("rawA"); c.start_all(); L = c.leader(); time.sleep(1)
try:
    n2 = c.nodes[2]
    for frm in (1, 3):
        s, a = raw_hello(n2.paddr, hello_v1(frm, 2), read=16); s.close()
        print(f"A v1 hello from={frm} (known) -> {ack_str(a)}"); res.append(("A known", a[6:7] == b"\x01"))
    cases = {
        "v1 reserved=1": hello_v1(3, 2, reserved=1),
        "v1 wrong cluster": hello_v1(3, 2, cluster=1),
        "v1 from=self": hello_v1(2, 2),
        "v1 from unknown 9": hello_v1(9, 2),
        "v1 to=3": hello_v1(3, 3),
        "v1 from=0": hello_v1(0, 2),
        "v1 truncated 8": hello_v1(3, 2)[:8],
        "v1 truncated 20": hello_v1(3, 2)[:20],
        "v1 truncated 31": hello_v1(3, 2)[:31],
        "v0": hello_v1(3, 2, version=0),
        "v3": hello_v1(3, 2, version=3),
        "vffff": hello_v1(3, 2, version=0xffff),
        "v1 + 40 garbage": hello_v1(3, 2) + b"\xff" * 40,
        "v1 from=u64max": hello_v1(2**64 - 1, 2),
    }
    for name, data in cases.items():
        t0 = time.time()
        try:
            s, a = raw_hello(n2.paddr, data, read=16, timeout=5); s.close()
        except Exception as e:
            a = str(e).encode()
        print(f"A {name:20s} -> {ack_str(a) if isinstance(a, bytes) else a} ({time.time()-t0:.2f}s)")
    # 200 random half-hellos in parallel
    import random
    def junk():
        for _ in range(20):
            try:
                d = hello_v1(random.choice([1, 3, 9]), 2)[:random.randint(0, 32)]
                s, a = raw_hello(n2.paddr, d, read=8, timeout=0.3); s.close()
            except Exception: pass
    ts = [threading.Thread(target=junk) for _ in range(10)]; [t.start() for t in ts]; [t.join() for t in ts]
    ok = write_keys(c.nodes[c.leader()], "afterA", 50)
    print(f"A after junk: writes ok {len(ok)}/50, alive={[c.nodes[i].alive() for i in c.nodes]}, panics={panics(c)}")
    res.append(("A alive", len(ok) == 50 and panics(c) == 0))
finally:
    c.kill_all()

# ---------------- B
c = Cluster("rawB")
try:
    for i in (1, 2): c.start(i)
    for i in (1, 2): c.nodes[i].wait_up()
    L = c.leader(among=[1, 2]); time.sleep(0.5)
    n2 = c.nodes[2]
    s, a = raw_hello(n2.paddr, hello_v1(3, 2), read=8)
    print(f"B v1 hello from=3 (unknown) -> {ack_str(a)}")
    t_before = term(n2)
    s.sendall(frame_heartbeat(3, 2, 500)); time.sleep(0.5)
    t1 = term(n2)
    print(f"B term before={t_before} after T1=500 frame: {t1}")
    c.start(3); c.nodes[3].wait_up()
    end = time.time() + 10
    while time.time() < end and "3=" not in open(os.path.join(n2.dir, "PEERS-SEEN")).read() if os.path.exists(os.path.join(n2.dir, "PEERS-SEEN")) else True:
        time.sleep(0.05)
    time.sleep(0.3)
    seen = open(os.path.join(n2.dir, "PEERS-SEEN")).read() if os.path.exists(os.path.join(n2.dir, "PEERS-SEEN")) else ""
    t_mid = term(n2)
    try:
        s.sendall(frame_heartbeat(3, 2, 90000)); time.sleep(0.1); s.sendall(frame_heartbeat(3, 2, 90001)); err = None
    except Exception as e: err = e
    time.sleep(0.5)
    t2 = term(n2)
    print(f"B PEERS-SEEN has 3: {'3=' in seen}; term before T2 frame={t_mid}, after={t2}, send error={err}")
    res.append(("B frame after known not delivered", t2 < 90000))
    s.close()
    # a new v1 hello claiming 3 is now refused
    s, a = raw_hello(n2.paddr, hello_v1(3, 2), read=8); s.close()
    print(f"B v1 hello from=3 after real 3 seen -> {ack_str(a)}"); res.append(("B refused later", a[6:7] == b"\x01"))
finally:
    c.kill_all()

# ---------------- C
def fake_acceptor(port, log, status=1, stop=None):
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port)); srv.listen(16); srv.settimeout(0.2)
    while not stop.is_set():
        try: conn, _ = srv.accept()
        except socket.timeout: continue
        conn.settimeout(1)
        try:
            h = conn.recv(64)
            ver = struct.unpack("<H", h[4:6])[0] if len(h) >= 6 else None
            log.append(ver)
            conn.sendall(b"SFKA" + struct.pack("<H", 1) + bytes([status, 0]))
            if status == 0:
                try:
                    d = conn.recv(4096); log.append(("frames", len(d)))
                except Exception: pass
        except Exception: pass
        conn.close()
    srv.close()

for known in (False, True):
  for st in (1, 0):
    c = Cluster(f"rawC{int(known)}{st}")
    try:
        if known:
            c.start_all(); c.leader(); time.sleep(1); c.nodes[3].kill()
        else:
            for i in (1, 2): c.start(i)
            for i in (1, 2): c.nodes[i].wait_up()
        log = []; stop = threading.Event()
        th = threading.Thread(target=fake_acceptor, args=(c.nodes[3].pport, log, st, stop)); th.start()
        time.sleep(3); stop.set(); th.join()
        vers = [x for x in log if not isinstance(x, tuple)]; fr = [x for x in log if isinstance(x, tuple)]
        print(f"C known={known} fake-ack-status={st}: hellos by version {{1: {vers.count(1)}, 2: {vers.count(2)}}}, frame reads={fr[:3]}")
        if known: res.append((f"C known st={st} no v1 fallback", vers.count(1) == 0))
        print(f"   panics={panics(c)}")
    finally:
        c.kill_all()

print("RESULTS:", res)
print("held:", sum(1 for _, v in res if v), "/", len(res))
