"""hostile14 harness: raw RESP client (no retries), node/cluster manager,
acked-write recorder. Every process started is tracked by pid and killed by
pid only."""
import os, socket, subprocess, time, threading, signal, random, shutil, json

BIN = os.environ.get("H14_BIN", "/work/target-h14/release")
SERVER = BIN + "/snowflk-server"
TOOLS = BIN + "/snowflk-tools"
ROOT = "/tmp/h14"


class RespError(Exception):
    pass


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One raw RESP2 connection. No retries, no reconnects."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, sock=None):
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
        self.s = sock
        self.s.settimeout(timeout)
        self.buf = b""

    def close(self):
        try:
            self.s.close()
        except Exception:
            pass

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise ConnectionError("closed by server")
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                l = self.buf[:i]
                self.buf = self.buf[i + 2:]
                return l
            self._fill()

    def read(self):
        l = self._line()
        t, rest = l[:1], l[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v = self.buf[:n]
            self.buf = self.buf[n + 2:]
            return v
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        if t == b"%":  # resp3 map
            n = int(rest)
            return {self._k(self.read()): self.read() for _ in range(n)}
        if t == b"_":
            return None
        if t in (b"#",):
            return rest == b"t"
        if t == b",":
            return float(rest)
        raise ValueError("bad resp type %r" % l)

    def _k(self, k):
        return k.decode() if isinstance(k, bytes) else k

    def cmd(self, *args):
        self.s.sendall(enc(*args))
        return self.read()

    def pipeline(self, cmds):
        self.s.sendall(b"".join(enc(*c) for c in cmds))
        return [self.read() for _ in cmds]


def once(port, *args, timeout=10.0):
    c = Conn(port, timeout=timeout)
    try:
        return c.cmd(*args)
    finally:
        c.close()


class Node:
    def __init__(self, nid, base, peers=None, extra=None, data=None, join=None, name=None, cwd=None):
        self.cwd = cwd or ROOT
        self.id = nid
        self.port = base + nid  # client
        self.pport = base + 100 + nid
        self.mport = base + 200 + nid
        self.data = data or f"{ROOT}/{name or 'c'}{base}/n{nid}"
        self.peers = peers
        self.extra = list(extra or [])
        self.join = join
        self.proc = None
        self.log = self.data + ".log"
        self.stopped = False

    def args(self):
        a = [SERVER, "--id", str(self.id), "--data-dir", self.data,
             "--listen", f"127.0.0.1:{self.port}", "--peer-listen", f"127.0.0.1:{self.pport}",
             "--metrics-listen", f"127.0.0.1:{self.mport}"]
        if self.peers:
            a += ["--peers", self.peers]
        if self.join:
            a += ["--join", self.join]
        return a + self.extra

    def start(self, wait=True, extra_once=None):
        os.makedirs(os.path.dirname(self.data), exist_ok=True)
        lf = open(self.log, "ab")
        lf.write(b"=== start %f\n" % time.time())
        lf.flush()
        a = self.args() + list(extra_once or [])
        self.proc = subprocess.Popen(a, stdout=lf, stderr=lf, stdin=subprocess.DEVNULL, cwd=self.cwd)
        self.stopped = False
        PIDS.add(self.proc.pid)
        if wait:
            self.wait_up()
        return self

    def wait_up(self, t=20):
        end = time.time() + t
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.id} exited {self.proc.returncode}; log {self.log}")
            try:
                r = once(self.port, "PING", timeout=1)
                if r == "PONG":
                    return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"node {self.id} not up")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sig(self, s):
        if self.alive():
            os.kill(self.proc.pid, s)

    def kill(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.stopped = True

    def term(self, timeout=30):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        self.stopped = True
        return self.proc.returncode

    def pause(self):
        self.sig(signal.SIGSTOP)

    def resume(self):
        self.sig(signal.SIGCONT)

    def info(self, section="replication"):
        r = once(self.port, "INFO", section, timeout=3)
        d = {}
        for l in r.decode().splitlines():
            if ":" in l:
                k, v = l.split(":", 1)
                d[k] = v
        return d

    def role(self):
        try:
            return self.info().get("raft_role")
        except Exception:
            return None


PIDS = set()


def killall_tracked():
    for p in list(PIDS):
        try:
            os.kill(p, signal.SIGCONT)
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Cluster:
    def __init__(self, base, n=3, extra=None, name="c", fresh=True):
        self.base = base
        self.name = name
        d = f"{ROOT}/{name}{base}"
        if fresh and os.path.exists(d):
            shutil.rmtree(d)
        peers = ",".join(f"{i}=127.0.0.1:{base + 100 + i}" for i in range(1, n + 1))
        self.peers = peers
        self.extra = list(extra or [])
        self.nodes = {i: Node(i, base, peers=peers, extra=self.extra, name=name) for i in range(1, n + 1)}

    def start(self):
        for n in self.nodes.values():
            n.start(wait=False)
        for n in self.nodes.values():
            n.wait_up()
        return self

    def add_join(self, nid, via):
        n = Node(nid, self.base, peers=None, extra=self.extra, join=f"127.0.0.1:{via}", name=self.name)
        self.nodes[nid] = n
        return n

    def leader(self, t=20, among=None):
        end = time.time() + t
        while time.time() < end:
            for n in list(self.nodes.values()):
                if among and n.id not in among:
                    continue
                if n.alive() and not n.stopped:
                    try:
                        if n.info().get("raft_role") == "leader":
                            return n
                    except Exception:
                        pass
            time.sleep(0.1)
        return None

    def stop_all(self):
        for n in self.nodes.values():
            if n.alive():
                n.resume()
                n.kill()


class Writers:
    """Non-retrying writers. Each writer thread has its own connection to a
    (rotating) node; a write's key is unique; an ack is recorded only on +OK.
    An error reply other than TIMEOUT is recorded as 'noeffect' (the error
    contract says it had no effect)."""

    def __init__(self, ports, nthreads=4, prefix="w", pipeline=1, vsize=16):
        self.ports = list(ports)
        self.n = nthreads
        self.prefix = prefix
        self.pipeline = pipeline
        self.vsize = vsize
        self.acked = {}  # key -> value
        self.noeffect = {}  # key -> (value, err)
        self.unknown = {}
        self.errors = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = []
        self.count = 0
        self.ack_times = {}  # key -> time of ack
        self.err_samples = {}
        self.broken = {}  # sent, connection closed before its reply

    def _val(self, k):
        return (k + ":" + "x" * self.vsize)

    def run(self, ti):
        seq = 0
        conn = None
        rng = random.Random(ti)
        while not self.stop.is_set():
            if conn is None:
                port = rng.choice(self.ports)
                try:
                    conn = Conn(port, timeout=8)
                except Exception:
                    time.sleep(0.05)
                    continue
            batch = []
            for _ in range(self.pipeline):
                seq += 1
                k = f"{self.prefix}:{ti}:{seq}"
                batch.append(k)
            try:
                conn.s.sendall(b"".join(enc("SET", k, self._val(k)) for k in batch))
            except Exception:
                with self.lock:
                    for k in batch:
                        self.unknown[k] = self._val(k)
                conn.close(); conn = None
                continue
            broken = False
            for k in batch:
                if broken:
                    with self.lock:
                        self.unknown[k] = self._val(k)
                        self.broken[k] = self._val(k)
                    continue
                try:
                    r = conn.read()
                except Exception:
                    broken = True
                    with self.lock:
                        self.unknown[k] = self._val(k)
                        self.broken[k] = self._val(k)
                    continue
                with self.lock:
                    self.count += 1
                    if r == "OK":
                        self.acked[k] = self._val(k)
                        self.ack_times[k] = time.time()
                    elif isinstance(r, RespError):
                        m = str(r)
                        self.errors[m.split(" ")[0]] = self.errors.get(m.split(" ")[0], 0) + 1
                        self.err_samples.setdefault(m[:60], m)
                        if m.startswith("TRYAGAIN") or m.startswith("ERR not leader"):
                            time.sleep(0.005)
                        if m.startswith("TIMEOUT"):
                            self.unknown[k] = self._val(k)
                        else:
                            self.noeffect[k] = (self._val(k), m)
                    else:
                        self.unknown[k] = self._val(k)
            if broken:
                conn.close(); conn = None
        if conn:
            conn.close()

    def start(self):
        for i in range(self.n):
            t = threading.Thread(target=self.run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def snapshot_acked(self):
        with self.lock:
            return dict(self.acked)


def mget_all(port, keys, chunk=500):
    """Read keys through one node (linearizable). Returns dict key->value|None."""
    out = {}
    keys = list(keys)
    c = Conn(port, timeout=30)
    try:
        for i in range(0, len(keys), chunk):
            ks = keys[i:i + chunk]
            r = c.cmd("MGET", *ks)
            if isinstance(r, RespError):
                raise r
            for k, v in zip(ks, r):
                out[k] = v.decode() if v is not None else None
    finally:
        c.close()
    return out


def check(port, writers, label=""):
    acked = writers.snapshot_acked()
    got = mget_all(port, acked.keys())
    lost = [k for k, v in acked.items() if got.get(k) != v]
    ne = list(writers.noeffect.keys())
    gotne = mget_all(port, ne) if ne else {}
    applied_noeffect = [k for k in ne if gotne.get(k) is not None]
    print(f"[{label}] acked={len(acked)} lost={len(lost)} noeffect={len(ne)} "
          f"noeffect_but_applied={len(applied_noeffect)} unknown={len(writers.unknown)} errors={writers.errors}")
    print("  error samples:", list(writers.err_samples.values())[:12])
    if lost:
        print("  LOST sample:", lost[:10])
    if applied_noeffect:
        print("  NOEFFECT-APPLIED sample:", [(k, writers.noeffect[k][1]) for k in applied_noeffect[:10]])
    return lost, applied_noeffect


def tools(*args, timeout=120):
    r = subprocess.run([TOOLS] + list(args), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def dump_live(d):
    """key->value from a backup/engine dir via snowflk-tools dump --live-only --json --full."""
    rc, out, err = tools("dump", "--live-only", "--json", "--full", "--no-progress", d, timeout=600)
    res = {}
    for l in out.splitlines():
        o = json.loads(l)
        if o.get("kind") == "put":
            res[o["key"]] = o.get("value")
    return rc, res, err


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16)); i += 4; continue
            out.append({"n": 10, "r": 13, "t": 9, "\\": 92, '"': 34}[n]); i += 2; continue
        out += c.encode(); i += 1
    return bytes(out)


def backup_user_data(d):
    """user key -> (value, expiry) of a backup/engine dir, read with the offline tool."""
    rc, live, err = dump_live(d)
    res = {}
    for k, v in live.items():
        kb = unescape(k)
        if kb[:1] != b"\x00":
            continue
        vb = unescape(v)
        res[kb[1:].decode(errors="replace")] = (vb[9:].decode(errors="replace"), int.from_bytes(vb[1:9], "little"))
    return rc, res, err
