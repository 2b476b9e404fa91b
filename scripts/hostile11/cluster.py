"""Cluster manager for hostile tests. Ports 1700X (client), 1800X (peer)."""
import json
import os
import signal
import subprocess
import time

from resp import one, Err, ConnLost

# Release binaries (SNOWFLK_BIN / SNOWFLK_TOOLS) and where runs keep their
# data and logs (H11_ROOT).
_RELEASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "release")
SERVER = os.environ.get("SNOWFLK_BIN", os.path.join(_RELEASE, "snowflk-server"))
TOOLS = os.environ.get("SNOWFLK_TOOLS", os.path.join(_RELEASE, "snowflk-tools"))
RUN_ROOT = os.environ.get("H11_ROOT", "/tmp/hostile11")


class Cluster:
    def __init__(self, run_dir, extra=(), n=3, base_client=None, base_peer=None):
        # ports: env H11_BASE_CLIENT / H11_BASE_PEER (default 17000 / 18000) so two tests can run at once
        if base_client is None:
            base_client = int(os.environ.get("H11_BASE_CLIENT", "17000"))
        if base_peer is None:
            base_peer = int(os.environ.get("H11_BASE_PEER", "18000"))
        self.run_dir = run_dir
        self.extra = list(extra)
        self.n = n
        self.ids = list(range(1, n + 1))
        self.bc = base_client
        self.bp = base_peer
        self.procs = {}
        self.self_exits = []
        self.paused = set()
        os.makedirs(run_dir, exist_ok=True)
        self.events = open(os.path.join(run_dir, "events.log"), "a")

    def ev(self, msg):
        line = "%.3f %s %s" % (time.time(), time.strftime("%H:%M:%S"), msg)
        self.events.write(line + "\n")
        self.events.flush()
        print(line, flush=True)

    def port(self, i):
        return self.bc + i

    def peers(self):
        return ",".join("%d=127.0.0.1:%d" % (i, self.bp + i) for i in self.ids)

    def start(self, i):
        assert i not in self.procs or self.procs[i].poll() is not None
        old = self.procs.get(i)
        if old is not None and not getattr(old, "by_us", False):
            self.ev("!!! n%d had exited ON ITS OWN rc=%s" % (i, old.returncode))
            self.self_exits.append((i, old.returncode, time.time()))
        log = open(os.path.join(self.run_dir, "n%d.log" % i), "ab")
        log.write(("\n===== start n%d at %s =====\n" % (i, time.strftime("%H:%M:%S"))).encode())
        log.flush()
        args = [SERVER, "--id", str(i), "--data-dir", os.path.join(self.run_dir, "n%d" % i),
                "--listen", "127.0.0.1:%d" % self.port(i),
                "--peer-listen", "127.0.0.1:%d" % (self.bp + i),
                "--peers", self.peers(), "--log-format", "text"] + self.extra
        env = dict(os.environ, NO_COLOR="1")
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=log, env=env)
        self.paused.discard(i)
        self.ev("START n%d pid=%d" % (i, self.procs[i].pid))

    def start_all(self):
        for i in self.ids:
            self.start(i)

    def alive(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs.get(i)
        if p is None or p.poll() is not None:
            return None
        if i in self.paused and sig != signal.SIGCONT:
            pass
        if sig in (signal.SIGKILL, signal.SIGTERM):
            p.by_us = True
        p.send_signal(sig)
        self.ev("SIG%s n%d" % (signal.Signals(sig).name[3:], i))
        if sig == signal.SIGKILL:
            p.wait()
            self.paused.discard(i)
            return p.returncode
        return None

    def term(self, i, timeout=30):
        p = self.procs.get(i)
        if p is None or p.poll() is not None:
            return None
        if i in self.paused:
            self.resume(i)
        p.by_us = True
        p.send_signal(signal.SIGTERM)
        t0 = time.time()
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.ev("TERM n%d did not exit in %ss -> SIGKILL" % (i, timeout))
            p.kill()
            p.wait()
            return "timeout"
        self.ev("TERM n%d rc=%s in %.2fs" % (i, rc, time.time() - t0))
        return rc

    def pause(self, i):
        if self.alive(i) and i not in self.paused:
            self.procs[i].send_signal(signal.SIGSTOP)
            self.paused.add(i)
            self.ev("SIGSTOP n%d" % i)

    def resume(self, i):
        if self.alive(i) and i in self.paused:
            self.procs[i].send_signal(signal.SIGCONT)
            self.paused.discard(i)
            self.ev("SIGCONT n%d" % i)

    def heal(self):
        for i in list(self.paused):
            self.resume(i)
        for i in self.ids:
            if not self.alive(i):
                self.start(i)

    def info(self, i, timeout=2.0):
        r = one(self.port(i), "INFO", "replication", timeout=timeout)
        d = {}
        if isinstance(r, str):
            for l in r.splitlines():
                if ":" in l and not l.startswith("#"):
                    k, v = l.split(":", 1)
                    d[k.strip()] = v.strip()
        return d

    def leader(self, via=None):
        for i in ([via] if via else self.ids):
            if not self.alive(i) or i in self.paused:
                continue
            try:
                r = one(self.port(i), "SNOWFLK", "LEADER", timeout=1.0)
            except Exception:
                continue
            if isinstance(r, list) and r:
                return int(r[0])
        return None

    def wait_leader(self, timeout=30):
        t0 = time.time()
        while time.time() - t0 < timeout:
            l = self.leader()
            if l is not None and self.alive(l) and l not in self.paused:
                try:
                    if self.info(l).get("raft_role") == "leader":
                        return l
                except Exception:
                    pass
            time.sleep(0.1)
        return None

    def wait_converged(self, timeout=60):
        """All nodes up; same commit and applied index."""
        t0 = time.time()
        last = None
        while time.time() - t0 < timeout:
            try:
                infos = {i: self.info(i) for i in self.ids}
                ap = {i: int(infos[i]["raft_applied_index"]) for i in self.ids}
                cm = {i: int(infos[i]["raft_commit_index"]) for i in self.ids}
                last = (ap, cm)
                if len(set(ap.values())) == 1 and len(set(cm.values())) == 1 and list(ap.values())[0] == list(cm.values())[0]:
                    return ap
            except Exception as e:
                last = repr(e)
            time.sleep(0.2)
        self.ev("wait_converged TIMEOUT last=%s" % (last,))
        return None

    def stop_all(self, sig=signal.SIGTERM):
        rcs = {}
        for i in self.ids:
            if i in self.paused:
                self.resume(i)
        for i in self.ids:
            if sig == signal.SIGTERM:
                rcs[i] = self.term(i)
            else:
                rcs[i] = self.kill(i, sig)
        return rcs

    def dump(self, i):
        d = os.path.join(self.run_dir, "n%d" % i, "engine")
        r = subprocess.run([TOOLS, "--no-progress", "dump", "--live-only", "--json", "--full", d],
                           capture_output=True, text=True)
        recs = {}
        for l in r.stdout.splitlines():
            o = json.loads(l)
            if o.get("kind") != "put":
                continue
            key, rec = self.record(o)
            recs[key] = rec
        return r.returncode, recs, r.stderr

    # The dump's name for the engine's applied-index meta key.
    APPLIED_KEY = "\\x01applied_index"

    def record(self, o):
        """One `dump --json` put record as (key, (value, expiry))."""
        return o["key"], (o["value"], o.get("expiry"))

    def compare_dumps(self, tag=""):
        dumps = {}
        for i in self.ids:
            rc, recs, err = self.dump(i)
            if rc != 0:
                self.ev("DUMP n%d rc=%d stderr=%s" % (i, rc, err[:500]))
            dumps[i] = recs
        # the applied_index meta key legitimately differs when a leader hands over on SIGTERM
        # (new leader's no-op is applied after the old one exited): report it, don't count it
        ai = {i: dumps[i].get(self.APPLIED_KEY) for i in self.ids}
        self.ev("applied_index meta per node: %s" % {i: (v[0] if v else None) for i, v in ai.items()})
        dumps = {i: {k: v for k, v in d.items() if k != self.APPLIED_KEY} for i, d in dumps.items()}
        base = dumps[self.ids[0]]
        ok = True
        for i in self.ids[1:]:
            if dumps[i] != base:
                ok = False
                ks = set(base) | set(dumps[i])
                diffs = [k for k in sorted(ks) if base.get(k) != dumps[i].get(k)]
                self.ev("DIVERGENCE %s n1 vs n%d: %d keys differ, e.g. %s" % (
                    tag, i, len(diffs), [(k, base.get(k), dumps[i].get(k)) for k in diffs[:5]]))
        self.ev("compare_dumps %s: %s (%d records on n1)" % (tag, "EQUAL" if ok else "DIFFERENT", len(base)))
        return ok, dumps
