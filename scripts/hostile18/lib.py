"""hostile18 harness: hostile17's lib.py (loaded from there, not copied) with
the old and new binaries and raw handshake helpers."""
import importlib.util, os, socket, struct, threading

os.environ.setdefault("H_RUNS", "/tmp/hostile18/runs")
OLD = os.environ.get("SNOWFLK_OLD_BIN", "/tmp/bench/old-snowflk-server")
NEW = os.environ.setdefault("SNOWFLK_BIN", "/tmp/bench/new2-snowflk-server")
_spec = importlib.util.spec_from_file_location(
    "hostile17_lib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile17", "lib.py"))
_h17 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_h17)
globals().update({k: v for k, v in vars(_h17).items() if not k.startswith("__")})
BIN = NEW



def fnv64(b):
    h = 0xcbf29ce484222325
    for c in b:
        h ^= c; h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h

CLUSTER = fnv64(b"snowflk")

def hello_v1(frm, to, cluster=CLUSTER, version=1, reserved=0):
    return b"SFKP" + struct.pack("<HHQQQ", version, reserved, cluster, frm, to)

def hello_v2(frm, to, inc, cluster=CLUSTER):
    return b"SFKP" + struct.pack("<HHQQQQ", 2, 0, cluster, frm, to, inc)

def raw_hello(paddr, data, read=16, timeout=2):
    host, port = paddr.split(":")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while len(out) < read:
            c = s.recv(read - len(out))
            if not c: break
            out += c
    except socket.timeout:
        pass
    return s, out

def varint(n):
    o = bytearray()
    while True:
        b = n & 0x7f; n >>= 7
        if n: o.append(b | 0x80)
        else: o.append(b); return bytes(o)

def frame_heartbeat(frm, to, term, commit=0, seq=0):
    body = b"\x00\x01" + varint(frm) + varint(to) + varint(term) + b"\x06" + varint(commit) + varint(seq)
    return struct.pack("<I", len(body)) + body

def frame_vote(frm, to, term, last_index, last_term):
    body = b"\x00\x01" + varint(frm) + varint(to) + varint(term) + b"\x02" + varint(last_index) + varint(last_term) + b"\x00"
    return struct.pack("<I", len(body)) + body


class Writer(threading.Thread):
    """SET w<i> through any node; records acknowledged keys and the longest gap."""
    def __init__(self, cl, prefix="w", ids=None):
        super().__init__(daemon=True)
        self.cl, self.prefix, self.ids = cl, prefix, ids
        self.acked, self.errors, self.gap = [], 0, 0.0
        self.stopev = threading.Event()
    def run(self):
        i, t, last = 0, 0, time.time()
        while not self.stopev.is_set():
            ids = self.ids or sorted(self.cl.nodes)
            nid = ids[t % len(ids)]
            n = self.cl.nodes[nid]
            k = f"{self.prefix}{i}"
            try:
                if not n.alive(): raise Exception("down")
                n.r(2).set(k, str(i))
                now = time.time(); self.gap = max(self.gap, now - last); last = now
                self.acked.append(k); i += 1
            except Exception:
                self.errors += 1; t += 1; time.sleep(0.01)
    def stop(self):
        self.stopev.set(); self.join()


def applied(n):
    try: return int(n.info().get("raft_applied_index", -1))
    except Exception: return -1

def commit(n):
    try: return int(n.info().get("raft_commit_index", -1))
    except Exception: return -1

def wait_caught_up(cl, nid, t=30):
    end = time.time() + t
    while time.time() < end:
        c = max(commit(cl.nodes[j]) for j in cl.nodes if j != nid and cl.nodes[j].alive()) if len(cl.nodes) > 1 else 0
        if c > 0 and applied(cl.nodes[nid]) >= c: return True
        time.sleep(0.05)
    return False

def check_all(cl, keys, ids=None):
    res = {}
    for i in (ids or sorted(cl.nodes)):
        n = cl.nodes[i]
        if not n.alive(): res[i] = "down"; continue
        miss, err = count_present(n, keys)
        res[i] = err if err else len(miss)
    return res

def panics(cl):
    return sum(n.logtext().count("panicked") for n in cl.nodes.values())
