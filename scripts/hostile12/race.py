"""Claims B, C, D, E in one campaign.
Clients (threads, no retries, random node, followers forward):
  * SETNX race: every 50 ms window w, all NR racers send SETNX g:w <racer>:<w> through random nodes.
    Check: at most one :1 per key; final value == winner's value; if no winner, value is from an unknown-outcome
    racer (or the key is absent); a value from a racer that got :0 or a definite error is a violation.
  * per-client chains c:<cid>: GETSET / SETEX / PSETEX(long) sequentially; GETSET must return exactly the last
    acked value (strict; unknowns allowed only since the last ack); TTL after an acked GETSET must be -1.
  * durability keys: SETEX d:<cid>:<seq> 100000 (acked -> must be on every node with an expiry; definite error -> absent),
    PSETEX e:<cid>:<seq> 300 (short; must be purged everywhere at the end).
Nemesis (every ~gap s): kill leader / pause leader / transfer leader / pause follower (snapshot install) /
kill follower+restart / transfer then kill new / kill all + restart. Any node that exits without a signal from us is
logged '!!! SELF-EXIT' with rc and log tail, then restarted.
End: heal, converge, SIGTERM all, compare engine dumps, run all checks.
usage: python3 race.py --run run-race1 --seed 1 --dur 240 -- --snapshot-entries 30 --snapshot-trailing-entries 2
"""
import argparse, os, random, threading, time, json, signal
import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from cluster import Cluster, RUN_ROOT
from resp import Conn, ConnLost, Err, one

ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--dur", type=float, default=240)
ap.add_argument("--gap", type=float, default=2.0)
ap.add_argument("--racers", type=int, default=6)
ap.add_argument("--chains", type=int, default=3)
ap.add_argument("--nemeses", default="kill_leader,pause_leader,transfer,pause_follower,kill_follower,transfer_kill_new,kill_all,pause_follower,kill_follower")
ap.add_argument("extra", nargs="*")
A = ap.parse_args()
rnd = random.Random(A.seed)
cl = Cluster(os.path.join(RUN_ROOT, A.run), extra=A.extra)
stop = threading.Event()
lock = threading.Lock()
viol = []
setnx = {}   # key -> list of (racer, value, outcome)  outcome: 1, 0, 'err', 'unk'
chain_viol = []
dkeys = {}   # key -> 'ack' | 'err' | 'unk'
ekeys = []
stats = {"ops": 0, "unk": 0, "err": 0}
def V(msg):
    with lock:
        viol.append(msg)
    cl.ev("VIOLATION " + msg)

def classify(r):
    if isinstance(r, Err):
        return "unk" if r.msg.startswith("TIMEOUT") else "err"
    return r

class Cli:
    def __init__(self, r):
        self.r = r; self.c = {}
    def cmd(self, *args):
        p = cl.port(self.r.choice(cl.ids))
        try:
            if p not in self.c:
                self.c[p] = Conn(p, timeout=8, connect_timeout=0.5)
            return self.c[p].cmd(*args)
        except ConnLost:
            c = self.c.pop(p, None)
            if c: c.close()
            return "LOST"
        except OSError:
            self.c.pop(p, None)
            return "NOCONN"   # connect failed: nothing was sent -> definite no-effect

def racer(rid):
    r = random.Random(A.seed * 1000 + rid); c = Cli(r); last = -1
    while not stop.is_set():
        w = int(time.time() * 20)
        if w == last:
            time.sleep(0.005); continue
        last = w
        k = "g:%d" % w; v = "%d:%d" % (rid, w)
        res = c.cmd("SETNX", k, v)
        out = "unk" if res == "LOST" else ("noconn" if res == "NOCONN" else classify(res))
        if out == "noconn": continue
        with lock:
            setnx.setdefault(k, []).append((rid, v, out)); stats["ops"] += 1
            if out == "unk": stats["unk"] += 1
            if out == "err": stats["err"] += 1
        if out not in (0, 1, "unk", "err"):
            V("SETNX weird reply %r" % (res,))

def chain(cid):
    r = random.Random(A.seed * 7777 + cid); c = Cli(r); key = "c:%d" % cid
    possible = {None}; seq = 0
    while not stop.is_set():
        seq += 1
        v = "%d-%d" % (cid, seq)
        x = r.random()
        if x < 0.45:
            res = c.cmd("GETSET", key, v)
            if res == "NOCONN": continue
            if res == "LOST" or (isinstance(res, Err) and res.msg.startswith("TIMEOUT")):
                possible.add(v)
            elif isinstance(res, Err):
                pass
            else:
                if res not in possible:
                    V("GETSET %s returned %r, expected one of %s" % (key, res, sorted(map(str, possible))))
                possible = {v}
                t = c.cmd("TTL", key)
                if isinstance(t, int) and t != -1:
                    V("TTL %s after acked GETSET = %r (expected -1)" % (key, t))
        elif x < 0.6:
            res = c.cmd(r.choice(["SETEX", "PSETEX"]), key, r.choice(["100000", "9999999"]), v)
            if res == "NOCONN": continue
            if res == "OK": possible = {v}
            elif res == "LOST" or (isinstance(res, Err) and res.msg.startswith("TIMEOUT")): possible.add(v)
        elif x < 0.9:
            k = "d:%d:%d" % (cid, seq)
            res = c.cmd("SETEX", k, "100000", k)
            if res == "NOCONN": continue
            with lock:
                dkeys[k] = "ack" if res == "OK" else ("unk" if res == "LOST" or res.msg.startswith("TIMEOUT") else "err")
        else:
            k = "e:%d:%d" % (cid, seq)
            res = c.cmd("PSETEX", k, "300", k)
            if res == "NOCONN": continue
            with lock: ekeys.append(k)

def check_selfexit():
    for i in cl.ids:
        p = cl.procs.get(i)
        if p is not None and p.poll() is not None and not getattr(p, "by_us", False):
            log = open(os.path.join(cl.run_dir, "n%d.log" % i), errors="replace").read().splitlines()
            cl.ev("!!! SELF-EXIT n%d rc=%s last lines: %s" % (i, p.returncode, log[-6:]))
            V("self-exit n%d rc=%s" % (i, p.returncode))
            cl.start(i)

def nemesis():
    t_end = time.time() + A.dur
    nems = A.nemeses.split(",")
    while time.time() < t_end:
        time.sleep(rnd.uniform(A.gap * 0.5, A.gap * 1.5))
        check_selfexit()
        l = cl.wait_leader(20)
        if l is None:
            cl.ev("no leader in 20 s; healing"); cl.heal(); continue
        fs = [i for i in cl.ids if i != l]
        n = rnd.choice(nems)
        cl.ev("nemesis %s (leader %d)" % (n, l))
        if n == "kill_leader":
            cl.kill(l); time.sleep(rnd.uniform(0.3, 2)); cl.start(l)
        elif n == "pause_leader":
            cl.pause(l); time.sleep(rnd.uniform(0.5, 2.5)); cl.resume(l)
        elif n == "transfer":
            t = rnd.choice(fs)
            try: cl.ev("TRANSFER -> %d: %r" % (t, one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(t))))
            except Exception as e: cl.ev("transfer exc %r" % e)
        elif n == "pause_follower":
            f = rnd.choice(fs); cl.pause(f); time.sleep(rnd.uniform(0.5, 2.5))
            if rnd.random() < 0.5:
                try: one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str([x for x in fs if x != f][0]))
                except Exception: pass
                cl.ev("transfer while follower %d paused" % f)
                time.sleep(rnd.uniform(0, 0.5))
            cl.resume(f)
        elif n == "kill_follower":
            f = rnd.choice(fs); cl.kill(f); time.sleep(rnd.uniform(0.5, 2.5)); cl.start(f)
        elif n == "transfer_kill_new":
            t = rnd.choice(fs)
            try: one(cl.port(l), "SNOWFLK", "TRANSFER-LEADER", str(t))
            except Exception: pass
            time.sleep(rnd.uniform(0, 0.2)); cl.kill(t); time.sleep(rnd.uniform(0.3, 1.5)); cl.start(t)
        elif n == "kill_all":
            order = list(cl.ids); rnd.shuffle(order)
            for i in order:
                cl.kill(i); time.sleep(rnd.uniform(0, 0.02))
            time.sleep(0.3)
            cl.start_all()
        check_selfexit()

def main():
    cl.ev("=== race.py seed=%d extra=%s" % (A.seed, A.extra))
    cl.start_all()
    assert cl.wait_leader(30)
    ts = [threading.Thread(target=racer, args=(i,), daemon=True) for i in range(A.racers)]
    ts += [threading.Thread(target=chain, args=(i,), daemon=True) for i in range(A.chains)]
    for t in ts: t.start()
    nemesis()
    stop.set()
    for t in ts: t.join(15)
    check_selfexit()
    cl.heal()
    cl.wait_leader(30)
    time.sleep(1.5)  # let e: keys expire and be purged
    cl.wait_converged(60)
    check_selfexit()
    rcs = cl.stop_all()
    cl.ev("TERM rcs %s" % rcs)
    ok, dumps = cl.compare_dumps("race end")
    if not ok: V("dumps differ")
    d = dumps[1]
    json.dump({"setnx": setnx, "dkeys": dkeys, "ekeys": ekeys}, open(os.path.join(cl.run_dir, "hist.json"), "w"))
    # SETNX checks
    winners = 0; nowin = 0
    for k, lst in setnx.items():
        wins = [x for x in lst if x[2] == 1]
        unk = {x[1] for x in lst if x[2] == "unk"}
        bad = {x[1] for x in lst if x[2] in (0, "err")}
        got = d.get(k)
        if len(wins) > 1: V("SETNX %s: %d winners %s" % (k, len(wins), wins))
        if wins:
            winners += 1
            if got is None or got[0] != wins[0][1]: V("SETNX %s: winner %s but value %r" % (k, wins[0][1], got))
        else:
            nowin += 1
            if got is not None and got[0] not in unk: V("SETNX %s: no winner, value %r not from unknown set %s" % (k, got, unk))
            if got is not None and got[0] in bad: V("SETNX %s: value from a loser/error %r" % (k, got))
        if got is not None and got[1] is not None: V("SETNX %s has expiry %r" % (k, got))
        if all(x[2] == 0 for x in lst) and got is None: V("SETNX %s all :0 but key absent" % k)
    # durability / error contract
    miss = [k for k, s in dkeys.items() if s == "ack" and (d.get(k) is None or d[k][1] is None)]
    errp = [k for k, s in dkeys.items() if s == "err" and d.get(k) is not None]
    epres = [k for k in ekeys if k in d]
    if miss: V("acked SETEX lost or without expiry: %d e.g. %s" % (len(miss), miss[:5]))
    if errp: V("definite-error SETEX present: %d e.g. %s" % (len(errp), errp[:5]))
    if epres: V("expired PSETEX keys still in dump: %d e.g. %s" % (len(epres), epres[:5]))
    cs = {}
    for s in dkeys.values(): cs[s] = cs.get(s, 0) + 1
    cl.ev("=== SUMMARY seed=%d setnx_keys=%d with_winner=%d no_winner=%d setnx_ops=%s dkeys=%s ekeys=%d self_exits=%s violations=%d" % (
        A.seed, len(setnx), winners, nowin, stats, cs, len(ekeys), cl.self_exits, len(viol)))
    for v in viol[:30]: cl.ev("  " + v)

try:
    main()
finally:
    stop.set()
    for i in cl.ids:
        if cl.alive(i):
            cl.resume(i); cl.kill(i)
