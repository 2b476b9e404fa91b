"""Membership changes under load with faults at every step.
usage: python3 membership.py SEED
3 nodes -> join 4,5 (learners) -> promote -> remove 1,2,3 (the leader
whenever it is one of them) -> join 6 -> promote: 4,5,6 replace every
original. A fault (SIGKILL+restart of a member, SIGSTOP leader, transfer,
SIGKILL of the leader *while* the change is in flight) at every step.
Admin replies are checked against the error contract (an error => MEMBERS
unchanged). At the end: every acked write readable with the right value;
the engines of the final members (after SIGTERM) identical; a removed node
restarted with its old flags must not disrupt (leader/term unchanged)."""
import sys, os, time, random, shutil, signal, threading, json
sys.path.insert(0, os.path.dirname(__file__))
from h14 import *

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
rng = random.Random(seed)
BASE = 22400
extra = ["--snapshot-entries", "4000", "--max-file-size", "2000000", "--request-timeout-ms", "4000"]
c = Cluster(BASE, 3, extra=extra, name="mb").start()
members = {1, 2, 3}
W = Writers([c.nodes[i].port for i in members], nthreads=4, pipeline=2, vsize=40).start()
problems = []
log = []


def P(*a):
    print(*a, flush=True)


def members_of(node):
    r = once(node.port, "SNOWFLK", "MEMBERS", timeout=5)
    if isinstance(r, RespError):
        return r
    out = {}
    for m in r:
        d = {}
        if isinstance(m, dict):
            d = {k: v for k, v in m.items()}
        else:
            it = iter(m)
            for k in it:
                d[k.decode() if isinstance(k, bytes) else k] = next(it)
        d = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in d.items()}
        out[int(d["id"])] = d
    return out


def leader():
    return c.leader(t=20, among=members)


def live_members():
    return [c.nodes[i] for i in members if c.nodes[i].alive()]


def admin(*args, via=None, tries=40):
    """Operator-style: retries TRYAGAIN (documented as 'not proposed'); on
    TIMEOUT checks MEMBERS. Each error reply is checked: MEMBERS unchanged."""
    for t in range(tries):
        L = via or leader()
        if L is None:
            time.sleep(0.5); continue
        try:
            before = members_of(L)
        except Exception:
            time.sleep(0.3); continue
        try:
            rep = once(L.port, "SNOWFLK", *args, timeout=15)
        except Exception as e:
            rep = e
        P(f"    {' '.join(map(str, args))} via {L.id}: {rep!r}")
        if rep == "OK":
            return rep
        if isinstance(rep, RespError) and not str(rep).startswith("TIMEOUT"):
            time.sleep(0.3)
            try:
                after = members_of(leader())
                if isinstance(before, dict) and isinstance(after, dict):
                    b = {k: v["role"] for k, v in before.items()}
                    a = {k: v["role"] for k, v in after.items()}
                    # roles may change by a concurrent leader change only in 'leader'/'voter'
                    norm = lambda d: {k: ("voter" if r == "leader" else r) for k, r in d.items()}
                    if norm(a) != norm(b):
                        problems.append(f"{args}: error {rep} but members {b} -> {a}")
            except Exception:
                pass
            if "invalid membership change" in str(rep):
                return rep
            time.sleep(0.5)
            continue
        # TIMEOUT or connection error: outcome unknown; look
        time.sleep(1)
        return rep
    return rep


def fault(step):
    f = rng.choice(["kill", "stop", "transfer", "none", "killleader"])
    L = leader()
    if L is None:
        return
    if f in ("kill", "killleader"):
        v = L if f == "killleader" else rng.choice([c.nodes[i] for i in members if i != L.id])
        P(f"  fault@{step}: SIGKILL {v.id}")
        v.kill(); time.sleep(rng.uniform(0.3, 2)); v.start(wait=False)
        try:
            v.wait_up()
        except Exception as e:
            problems.append(f"restart of {v.id} failed: {e}")
    elif f == "stop":
        P(f"  fault@{step}: SIGSTOP leader {L.id}")
        L.pause(); time.sleep(rng.uniform(2, 3.5)); L.resume()
    elif f == "transfer":
        t = rng.choice([i for i in members if i != L.id and c.nodes[i].alive()])
        try:
            r = once(L.port, "SNOWFLK", "TRANSFER-LEADER", t, timeout=10)
        except Exception as e:
            r = e
        P(f"  fault@{step}: transfer {L.id}->{t}: {r!r}")


def wait_caught_up(nid, t=60):
    end = time.time() + t
    while time.time() < end:
        L = leader()
        try:
            m = members_of(L)
            if nid in m and int(m[nid].get("lag", -1)) >= 0 and int(m[nid]["lag"]) < 50:
                return True
        except Exception:
            pass
        time.sleep(0.5)
    return False


def join(nid):
    via = rng.choice(live_members())
    n = c.add_join(nid, via.port)
    n.start(wait=False)
    # the joining process stays up once joined
    try:
        n.wait_up(40)
    except Exception as e:
        problems.append(f"join {nid} failed: {e}")
        return
    # restart it without --join from now on (docs: with or without; with
    # --join fails once the join target is gone: finding F2)
    if os.environ.get("KEEP_JOIN") != "1":
        n.join = None
    P(f"  joined {nid} via {via.id}; caught up: {wait_caught_up(nid)}")


def promote(nid):
    for _ in range(30):
        r = admin("PROMOTE", nid)
        if r == "OK" or "not a learner" in str(r):
            break
        time.sleep(1)
    members.add(nid)
    W.ports.append(c.nodes[nid].port)


def concurrent_kill_leader(args):
    """Send a change and SIGKILL the leader while it is in flight."""
    L = leader()
    res = []
    t = threading.Thread(target=lambda: res.append(
        (lambda: once(L.port, "SNOWFLK", *args, timeout=15))() if True else None))
    def run():
        try:
            res.append(once(L.port, "SNOWFLK", *args, timeout=15))
        except Exception as e:
            res.append(e)
    t = threading.Thread(target=run)
    t.start(); time.sleep(rng.uniform(0, 0.05)); L.kill(); t.join()
    P(f"  {args} with leader {L.id} SIGKILLed in flight: {res[0]!r}")
    time.sleep(1); L.start(wait=False)
    try:
        L.wait_up()
    except Exception as e:
        problems.append(f"restart {L.id}: {e}")


def remove(nid):
    L = leader()
    if rng.random() < 0.3 and L.id != nid:
        concurrent_kill_leader(("REMOVE-NODE", nid))
    m = members_of(leader())
    if nid in m:
        admin("REMOVE-NODE", nid)
    members.discard(nid)
    port = c.nodes[nid].port
    if port in W.ports:
        W.ports.remove(port)
    time.sleep(1)
    n = c.nodes[nid]
    rc = n.term(timeout=20)
    P(f"  removed {nid}; SIGTERM exit {rc}")
    if rc not in (0,):
        problems.append(f"removed node {nid} SIGTERM exit {rc}")


try:
    time.sleep(2)
    join(4); fault("join4"); promote(4); fault("promote4")
    join(5); fault("join5"); promote(5); fault("promote5")
    order = [1, 2, 3]
    rng.shuffle(order)
    # remove the leader first if it is an original
    L = leader()
    if L.id in order:
        order.remove(L.id); order.insert(0, L.id)
    for nid in order:
        remove(nid); fault(f"remove{nid}")
        if nid == order[0]:
            join(6); fault("join6"); promote(6); fault("promote6")
    time.sleep(2)
    L = leader()
    P("final members:", {k: v["role"] for k, v in members_of(L).items()})
    # restart a removed node with its old flags: must not disrupt
    st = {n.id: n.info() for n in live_members()}
    term0 = max(int(s["raft_term"]) for s in st.values())
    lead0 = L.id
    rem = c.nodes[order[0]]
    rem.start(wait=False)
    time.sleep(8)
    L2 = leader()
    term1 = max(int(n.info()["raft_term"]) for n in live_members())
    P(f"restarted removed node {rem.id}: leader {lead0}->{L2.id if L2 else None} term {term0}->{term1}; "
      f"removed node says role={rem.role()} alive={rem.alive()}")
    try:
        P("   removed node answers SET:", once(rem.port, "SET", "after-removal", "x", timeout=8))
        P("   removed node answers GET:", once(rem.port, "GET", "pre:never", timeout=8))
    except Exception as e:
        P("   removed node:", e)
    if L2 is None or L2.id != lead0 or term1 != term0:
        problems.append(f"removed node disrupted: leader {lead0}->{L2.id if L2 else None} term {term0}->{term1}")
    rem.kill()
    W.finish()
    L = leader()
    lost, ne = check(L.port, W, f"membership seed {seed}")
    if lost or ne:
        problems.append(f"lost={len(lost)} noeffect_applied={len(ne)}")
    # let followers apply, then compare engines
    time.sleep(2)
    dirs = []
    for n in live_members():
        rc = n.term()
        if rc != 0:
            problems.append(f"final SIGTERM of {n.id}: exit {rc}")
        dirs.append((n.id, n.data + "/engine"))
    datas = {}
    for nid, d in dirs:
        rc, data, err = backup_user_data(d)
        datas[nid] = data
        P(f"  node {nid} engine: {len(data)} user keys, dump rc={rc}")
    ref = datas[dirs[0][0]]
    for nid, d in datas.items():
        if {k: v[0] for k, v in d.items()} != {k: v[0] for k, v in ref.items()}:
            diff = set(d) ^ set(ref)
            problems.append(f"engine of {nid} differs from {dirs[0][0]}: {len(diff)} keys e.g. {list(diff)[:5]}")
finally:
    W.stop.set()
    c.stop_all(); killall_tracked()
print("PROBLEMS:" if problems else "NO PROBLEMS", *problems, sep="\n  ")
