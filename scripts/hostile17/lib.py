"""Tiny harness for hostile tests of snowflk-server (real processes)."""
import os, re, shutil, signal, socket, subprocess, time, random
import redis

BIN = os.environ.get("SNOWFLK_BIN", "/tmp/hostile17/bin2/snowflk-server")
RUNS = os.environ.get("H_RUNS", "/tmp/hostile17/runs")
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
        self.bin = BIN

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
        self.root = f"{RUNS}/{name}-{int(time.time()*1000)%10**8}"
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
