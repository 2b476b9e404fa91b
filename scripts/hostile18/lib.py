"""Tiny harness for hostile tests of snowflk-server (real processes)."""
import os, re, shutil, signal, socket, subprocess, time, random
import redis

OLD = "/tmp/bench/old-snowflk-server"
NEW = "/tmp/bench/new2-snowflk-server"
BIN = NEW
TIMING = ["--tick-ms", "10", "--heartbeat-ticks", "5", "--election-ticks", "50"]


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


class Node:
    def __init__(self, root, nid):
        self.id = nid
        self.dir = os.path.join(root, f"n{nid}")
        self.log = os.path.join(root, f"n{nid}.log")
        self.port = free_port(); self.pport = free_port()
        self.proc = None
        self.extra = []
        self.bin = NEW

    @property
    def addr(self): return f"127.0.0.1:{self.port}"
    @property
    def paddr(self): return f"127.0.0.1:{self.pport}"

    def start(self, args, binary=None):
        binary = binary or self.bin
        f = open(self.log, "a")
        f.write(f"\n==== start {time.time():.3f} bin={binary} args={args}\n"); f.flush()
        self.proc = subprocess.Popen([binary, "--id", str(self.id), "--data-dir", self.dir,
                                      "--listen", self.addr, "--peer-listen", self.paddr,
                                      "--expire-sweep-ms", "0"] + TIMING + args,
                                     stdout=f, stderr=subprocess.STDOUT)
        return self.proc

    def alive(self): return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            try: os.kill(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError: pass
            self.proc.send_signal(sig)
            try: self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill(); self.proc.wait()
        return self.proc.returncode if self.proc else None

    def stop(self): os.kill(self.proc.pid, signal.SIGSTOP)
    def cont(self): os.kill(self.proc.pid, signal.SIGCONT)

    def wipe(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def r(self, timeout=3):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout, decode_responses=True)

    def cmd(self, *a, timeout=3):
        try:
            return self.r(timeout).execute_command(*a)
        except Exception as e:
            return e

    def info(self):
        v = self.cmd("INFO", "replication")
        if isinstance(v, dict): return v
        return {}

    def logtext(self):
        try: return re.sub(r"\x1b\[[0-9;]*m", "", open(self.log, errors="replace").read())
        except FileNotFoundError: return ""

    def wait_up(self, t=15):
        end = time.time() + t
        while time.time() < end:
            if self.proc.poll() is not None: return False
            if self.cmd("PING", timeout=0.5) is True or self.cmd("PING", timeout=0.5) == "PONG": return True
            time.sleep(0.05)
        return False


class Cluster:
    def __init__(self, name, n=3, ids=None):
        self.root = f"/tmp/hostile18/runs/{name}-{int(time.time()*1000)%10**8}"
        os.makedirs(self.root, exist_ok=True)
        self.nodes = {}
        for i in (ids or range(1, n + 1)):
            self.nodes[i] = Node(self.root, i)
        self.initial = sorted(self.nodes)

    def peers(self, ids=None):
        return ",".join(f"{i}={self.nodes[i].paddr}" for i in (ids or self.initial))

    def start(self, i, extra=None, binary=None):
        if binary: self.nodes[i].bin = binary
        return self.nodes[i].start(["--peers", self.peers()] + (extra or []))

    def start_all(self):
        for i in self.initial: self.start(i)
        for i in self.initial: assert self.nodes[i].wait_up(), f"node {i} did not come up"

    def add(self, nid):
        n = Node(self.root, nid); self.nodes[nid] = n; return n

    def join(self, nid, via):
        n = self.nodes[nid]
        return n.start(["--join", self.nodes[via].addr])

    def leader(self, among=None, t=15):
        end = time.time() + t
        while time.time() < end:
            for i in (among or self.nodes):
                n = self.nodes[i]
                if not n.alive(): continue
                inf = n.info()
                if inf.get("role") in ("master", "leader") or str(inf.get("raft_role", "")).lower() == "leader":
                    return i
            time.sleep(0.1)
        return None

    def kill_all(self):
        for n in self.nodes.values(): n.kill()


def write_keys(node, prefix, n, timeout=3):
    ok = []
    r = node.r(timeout)
    for k in range(n):
        try:
            if r.set(f"{prefix}{k}", f"v{k}"):
                ok.append(f"{prefix}{k}")
        except Exception:
            pass
    return ok


def count_present(node, keys, timeout=5):
    r = node.r(timeout)
    miss = []
    for k in keys:
        try:
            v = r.get(k)
        except Exception as e:
            return None, str(e)
        if v is None: miss.append(k)
    return miss, None


import struct, threading

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
