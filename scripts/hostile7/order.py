"""Claim 1: pipelined replies in order, each read sees earlier writes in the
same pipeline; on leader and followers; thousands of commands; big values."""
import os, random, sys, time, socket
sys.path.insert(0, os.path.dirname(__file__))
# The cluster helper is the one of scripts/hostile6.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile6"))
from cluster import Cluster

def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

class Reader:
    def __init__(self, s): self.s = s; self.buf = b""
    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d: raise EOFError("closed")
        self.buf += d
    def line(self):
        while b"\r\n" not in self.buf: self._fill()
        l, self.buf = self.buf.split(b"\r\n", 1); return l
    def reply(self):
        l = self.line(); t = l[:1]
        if t in (b"+", b"-", b":"):
            return (t.decode(), l[1:])
        if t == b"$":
            n = int(l[1:])
            if n < 0: return ("$", None)
            while len(self.buf) < n + 2: self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]; return ("$", v)
        if t == b"*":
            return ("*", [self.reply() for _ in range(int(l[1:]))])
        raise ValueError(l)

def model_run(port, ncmds, seed, bigmax):
    rng = random.Random(seed)
    keys = [f"o{seed}:{i}" for i in range(5)]
    model = {}
    cmds, exp = [], []
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(30)
    # clear keys
    for k in keys:
        cmds.append(resp("DEL", k)); exp.append(None); model.pop(k, None)
    for _ in range(ncmds):
        k = rng.choice(keys); r = rng.random()
        if r < 0.15:
            n = rng.choice([1, 10, 1000, rng.randint(1, bigmax)])
            v = os.urandom(8).hex().encode() * (n // 16 + 1)
            v = v[:n]
            cmds.append(resp("SET", k, v)); model[k] = v; exp.append(("+", b"OK"))
        elif r < 0.25:
            v = b"x%d" % rng.randint(0, 999)
            cmds.append(resp("APPEND", k, v)); model[k] = model.get(k, b"") + v
            exp.append((":", str(len(model[k])).encode()))
        elif r < 0.30:
            cmds.append(resp("DEL", k)); exp.append((":", b"1" if k in model else b"0")); model.pop(k, None)
        elif r < 0.55:
            cmds.append(resp("GET", k)); exp.append(("$", model.get(k)))
        elif r < 0.7:
            cmds.append(resp("STRLEN", k)); exp.append((":", str(len(model.get(k, b""))).encode()))
        elif r < 0.8:
            cmds.append(resp("EXISTS", k)); exp.append((":", b"1" if k in model else b"0"))
        elif r < 0.9:
            cmds.append(resp("PTTL", k)); exp.append((":", b"-1" if k in model else b"-2"))
        else:
            cmds.append(resp("TTL", k)); exp.append((":", b"-1" if k in model else b"-2"))
    data = b"".join(cmds)
    import threading
    t = threading.Thread(target=lambda: s.sendall(data)); t.start()
    rd = Reader(s); bad = 0; errs = 0
    for i, e in enumerate(exp):
        got = rd.reply()
        if got[0] == "-":
            errs += 1
            if errs < 3: print("  err reply", i, got[1][:100])
            continue
        if e is not None and got != e:
            bad += 1
            if bad < 5: print("  MISMATCH at", i, "cmd", cmds[i][:60], "exp", str(e)[:80], "got", str(got)[:80])
    t.join(); s.settimeout(0.5)
    try:
        extra = s.recv(100)
        if extra: print("  EXTRA bytes after replies:", extra[:50]); bad += 1
    except socket.timeout: pass
    s.close()
    return bad, errs, len(data)

if __name__ == "__main__":
    c = Cluster("/tmp/h7-order", base=19100)
    try:
        c.start_all(); lead = c.leader(); print("leader", lead)
        tot = 0
        for rnd in range(int(sys.argv[1]) if len(sys.argv) > 1 else 6):
            for node in c.ids:
                for (n, big) in [(3000, 2000), (500, 3_000_000), (20000, 100)]:
                    t0 = time.time()
                    bad, errs, nb = model_run(c.client[node], n, rnd * 100 + node * 7 + n, big)
                    tot += bad
                    print(f"round {rnd} node {node}{'(L)' if node == lead else ''} cmds={n} bytes={nb} bad={bad} errs={errs} {time.time()-t0:.1f}s", flush=True)
        print("TOTAL mismatches", tot, "exit codes", c.exit_codes())
    finally:
        c.stop_all()
