"""Start/kill/pause a 3-node snowflk cluster on 127.0.0.1 (ports base+1..base+200).

Every process started here is tracked by pid; stop_all() ends only those.
"""
import os, signal, subprocess, time, shutil
import redis
from redis.retry import Retry
from redis.backoff import NoBackoff

BIN = os.environ.get("SNOWFLK_BIN", "/work/target-hostile10/release/snowflk-server")


class Cluster:
    def __init__(self, root, n=3, base=19100, extra=None):
        self.root = root
        self.n = n
        self.ids = list(range(1, n + 1))
        self.client = {i: base + i for i in self.ids}
        self.peer = {i: base + 100 + i for i in self.ids}
        self.procs = {}
        self.paused = set()
        self.extra = extra or []
        self.env = {}   # node id -> extra environment (e.g. LD_PRELOAD)
        self.starts = {i: 0 for i in self.ids}
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)

    def peers_arg(self):
        return ",".join(f"{i}=127.0.0.1:{self.peer[i]}" for i in self.ids)

    def start(self, i):
        assert i not in self.procs or self.procs[i].poll() is not None
        self.starts[i] += 1
        log = open(os.path.join(self.root, f"n{i}.log"), "ab")
        log.write(f"\n==== start #{self.starts[i]} at {time.time():.3f}\n".encode())
        log.flush()
        args = [BIN, "--id", str(i), "--data-dir", os.path.join(self.root, f"d{i}"),
                "--listen", f"127.0.0.1:{self.client[i]}",
                "--peer-listen", f"127.0.0.1:{self.peer[i]}",
                "--peers", self.peers_arg()] + self.extra
        env = dict(os.environ)
        env.update(self.env.get(i, {}))
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=log, env=env)
        self.paused.discard(i)

    def start_all(self):
        for i in self.ids:
            self.start(i)

    def alive(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def kill(self, i):
        p = self.procs.get(i)
        if p and p.poll() is None:
            if i in self.paused:
                os.kill(p.pid, signal.SIGCONT)
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        self.paused.discard(i)

    def stop(self, i):
        p = self.procs[i]
        os.kill(p.pid, signal.SIGSTOP)
        self.paused.add(i)

    def cont(self, i):
        p = self.procs[i]
        os.kill(p.pid, signal.SIGCONT)
        self.paused.discard(i)

    def term(self, i, timeout=15):
        p = self.procs.get(i)
        if p and p.poll() is None:
            if i in self.paused:
                self.cont(i)
            p.send_signal(signal.SIGTERM)
            try:
                return p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill(); p.wait()
                return "killed-after-term-timeout"
        return p.returncode if p else None

    def stop_all(self):
        for i in self.ids:
            self.kill(i)

    def exit_codes(self):
        return {i: (p.returncode if p.poll() is not None else None) for i, p in self.procs.items()}

    def conn(self, i, timeout=3):
        return redis.Redis(host="127.0.0.1", port=self.client[i], socket_timeout=timeout,
                           socket_connect_timeout=1, decode_responses=True,
                           # no client-side retries: a resent write would hide
                           # (or fake) an effect of the first attempt
                           retry=Retry(NoBackoff(), 0))

    def leader(self, via=None, timeout=10):
        """Leader id, asked of each live node until one agrees, or None."""
        end = time.time() + timeout
        while time.time() < end:
            for i in (via or self.ids):
                if not self.alive(i) or i in self.paused:
                    continue
                try:
                    r = self.conn(i, 1).execute_command("SNOWFLK", "LEADER")
                    if r:
                        return int(r[0])
                except Exception:
                    pass
            time.sleep(0.1)
        return None

    def info(self, i):
        try:
            return self.conn(i, 2).info("replication")
        except Exception:
            return None

    def wait_caught_up(self, timeout=60):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            infos = {i: self.info(i) for i in self.ids}
            if all(infos.values()):
                a = {i: infos[i].get("raft_applied_index") for i in self.ids}
                c = {i: infos[i].get("raft_commit_index") for i in self.ids}
                last = (a, c)
                if len(set(a.values())) == 1 and len(set(c.values())) == 1:
                    return a
            time.sleep(0.3)
        raise RuntimeError(f"not caught up: {last}")

    def transfer_to(self, target, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            lead = self.leader()
            if lead == target:
                return True
            try:
                self.conn(lead or target, 5).execute_command("SNOWFLK", "TRANSFER-LEADER", target)
            except Exception:
                pass
            time.sleep(0.3)
        return False

TOOLS = os.environ.get("SNOWFLK_TOOLS", "/work/target-hostile10/release/snowflk-tools")


def dump_live(datadir):
    """{key: value} (escaped strings as the tool prints them) of the live
    engine records of a node's data dir, read offline."""
    import json
    out = subprocess.run([TOOLS, "dump", "--json", "--live-only", "--full", "--no-progress",
                          os.path.join(datadir, "engine")], capture_output=True, check=True).stdout
    recs = {}
    for line in out.splitlines():
        r = json.loads(line)
        if r["kind"] == "put":
            recs[r["key"]] = r["value"]
    return recs


def diff_dumps(a, b):
    ks = sorted(set(a) | set(b))
    return [(k, a.get(k), b.get(k)) for k in ks if a.get(k) != b.get(k)]
