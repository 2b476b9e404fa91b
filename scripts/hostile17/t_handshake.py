"""Claim 7: garbage / truncated / v1 / other-version hellos against a live node's peer port, and
all-zero incarnations in a hello and in an ack from a fake peer that has no record yet.
Node 3 of the peers map is never started: its address is a fake acceptor run by this script."""
import socket, struct, time, os, random, threading, lib

CID = None
c = lib.Cluster("hs")
n1, n2, n3 = c.nodes[1], c.nodes[2], c.nodes[3]
# fake acceptor on node 3's peer address: answers each hello with a chosen ack
fake_mode = {"ack": None}
fs = socket.socket(); fs.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); fs.bind(("127.0.0.1", n3.pport)); fs.listen(16)
def fake():
    while True:
        try: s, _ = fs.accept()
        except OSError: return
        try:
            s.settimeout(2); h = s.recv(40)
            a = fake_mode["ack"]
            if a is not None: s.sendall(a(h))
            time.sleep(0.2)
        except Exception: pass
        s.close()
threading.Thread(target=fake, daemon=True).start()
c.start(1); c.start(2)
assert n1.wait_up() and n2.wait_up()
L = c.leader(among=[1, 2]); print("leader", L)
CID = n1.info()["raft_cluster_id"]
def hello(ver=2, res=0, frm=3, to=1, inc=0x1111111111111111, cid=None):
    return b"SFKP" + struct.pack("<HHQQQ", ver, res, cid if cid is not None else CID, frm, to) + (struct.pack("<Q", inc) if ver == 2 else b"")
def send(b, label, hold=0.3):
    s = socket.create_connection(("127.0.0.1", n1.pport)); s.settimeout(4)
    try:
        if b: s.sendall(b)
        time.sleep(hold)
        try: r = s.recv(64)
        except socket.timeout: r = b"<timeout>"
    except Exception as e: r = repr(e).encode()
    s.close()
    ok = n1.alive() and n1.cmd("SET", "hs", label) is True
    print(f"[{label}] reply={r[:16].hex()} node1 alive+serving={ok}")
cases = [
  (os.urandom(40), "random 40 bytes"), (os.urandom(3), "3 random bytes"), (b"", "connect+close"),
  (hello(ver=1)[:32], "v1 32-byte hello"), (hello(ver=1)[:8], "v1 first 8 bytes only"),
  (hello(ver=3) + os.urandom(10), "version 3"), (hello(ver=0), "version 0"), (hello(ver=65535), "version 65535"),
  (hello()[:20], "truncated v2 hello (20 bytes)"), (hello()[:39], "39 bytes"),
  (hello(res=1), "reserved=1"), (hello(cid=CID ^ 1), "wrong cluster id"), (hello(frm=1), "from = self"),
  (hello(frm=0), "from = 0"), (hello(frm=99), "from = unknown 99"), (hello(to=2), "to = other node"),
  (hello(frm=2, inc=0x2222), "from=2 with a wrong incarnation (known voter)"),
  (hello() + struct.pack("<I", 0), "accepted hello then zero-length frame"),
  (hello() + struct.pack("<I", 0xFFFFFFFF), "accepted hello then 4 GiB length"),
  (hello() + struct.pack("<I", 5) + b"\x00\x05\xff\xff\xff", "accepted hello then bad postcard"),
  (b"SFKP" + os.urandom(36), "magic + random"),
]
for b, label in cases:
    send(b, label)
# slow loris
socks = [socket.create_connection(("127.0.0.1", n1.pport)) for _ in range(50)]
for s in socks: s.sendall(b"SFK")
time.sleep(4); print("50 idle half-hellos, node serving:", n1.cmd("SET", "x", "y"))
for s in socks: s.close()
# zero incarnation in a hello from node 3's id (no record existed?) -- see PEERS-SEEN
seen = open(n1.dir + "/PEERS-SEEN").read()
print("node1 PEERS-SEEN now:", seen.split("\n")[1:-1])
# zero incarnation in an ack from 'node 3' to node 2's dialer
fake_mode["ack"] = lambda h: b"SFKA" + struct.pack("<HBBQ", 2, 0, 0, 0)
time.sleep(3)
print("node2 PEERS-SEEN now:", open(n2.dir + "/PEERS-SEEN").read().split("\n")[1:-1])
for n in (n1, n2):
    n.kill(); c.start(n.id)
time.sleep(3)
for n in (n1, n2):
    print(f"node {n.id} restart: alive={n.alive()} rc={n.proc.returncode} last={n.logtext().splitlines()[-1][-200:]!r}")
t = n1.logtext()
print("panics:", t.count("panicked"), n2.logtext().count("panicked"))
print("root", c.root)
c.kill_all(); fs.close()
