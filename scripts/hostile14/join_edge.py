"""Joining with a wrong cluster id, a duplicate id, a stale data dir, a
foreign data dir, and restarting a joined node whose --join target is gone.
usage: python3 join_edge.py"""
import sys, os, time, shutil, subprocess
sys.path.insert(0, os.path.dirname(__file__))
from h14 import *

BASE = 22750
c = Cluster(BASE, 3, extra=["--snapshot-entries", "2000"], name="je").start()
W = Writers([n.port for n in c.nodes.values()], nthreads=2, pipeline=2).start()
problems = []


def P(*a):
    print(*a, flush=True)


def members(port):
    r = once(port, "SNOWFLK", "MEMBERS", timeout=5)
    out = {}
    for m in r:
        it = iter(m)
        d = {}
        for k in it:
            d[k.decode() if isinstance(k, bytes) else k] = next(it)
        out[int(d["id"])] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in d.items()}
    return {k: (v["role"], v["addr"], v.get("lag")) for k, v in out.items()}


def term_leader():
    L = c.leader(among={1, 2, 3, 4, 5, 6, 7})
    return (L.id, int(L.info()["raft_term"])) if L else None


def run_join(n, wait=25):
    n.start(wait=False)
    t0 = time.time()
    while time.time() - t0 < wait and n.alive():
        try:
            if once(n.port, "PING", timeout=1) == "PONG":
                break
        except Exception:
            pass
        time.sleep(0.2)
    return n.alive()


try:
    time.sleep(2)
    tl0 = term_leader()
    P("start:", tl0, members(c.nodes[1].port))
    # a) wrong cluster id
    n7 = Node(7, BASE, join=f"127.0.0.1:{BASE + 1}", extra=["--cluster-id", "other"], name="je")
    up = run_join(n7)
    time.sleep(5)
    P(f"a) wrong cluster id: process alive={n7.alive()} rc={n7.proc.returncode} members={members(c.nodes[1].port)}")
    P("   its log:", subprocess.run(["grep", "-v", " INFO ", n7.log], capture_output=True, text=True).stdout[-600:])
    P("   leader log mentions:", subprocess.run(f"grep -h 'refused peer' {c.nodes[1].log} {c.nodes[2].log} {c.nodes[3].log} | tail -2",
                                               shell=True, capture_output=True, text=True).stdout[-500:])
    n7.kill()
    m = members(c.nodes[1].port)
    if 7 in m:
        problems.append(f"a node with the wrong cluster id became a member: {m[7]}")
        # try to clean up
        try:
            P("   REMOVE-NODE 7:", once(c.leader().port, "SNOWFLK", "REMOVE-NODE", 7, timeout=10))
        except Exception as e:
            P("   REMOVE-NODE 7:", e)
    # b) duplicate id (2 is a member at BASE+102)
    n2b = Node(2, BASE, join=f"127.0.0.1:{BASE + 1}", name="je2")
    n2b.port = BASE + 42; n2b.pport = BASE + 142; n2b.mport = BASE + 242
    up = run_join(n2b)
    time.sleep(1)
    P(f"b) duplicate id 2: alive={n2b.alive()} rc={n2b.proc.returncode}; stderr tail:",
      open(n2b.log).read().strip().splitlines()[-1][:300])
    if n2b.alive():
        problems.append("duplicate id joiner is still running")
    n2b.kill()
    # c) stale data dir: join 5, remove it, stop, rejoin with the old dir
    n5 = c.add_join(5, BASE + 2)
    run_join(n5)
    time.sleep(3)
    P("c) 5 joined:", members(c.nodes[1].port).get(5))
    P("   PROMOTE 5:", once(c.leader().port, "SNOWFLK", "PROMOTE", 5, timeout=10))
    time.sleep(2)
    P("   REMOVE-NODE 5:", once(c.leader().port, "SNOWFLK", "REMOVE-NODE", 5, timeout=10))
    time.sleep(1)
    P("   SIGTERM 5 exit:", n5.term())
    time.sleep(3)  # the cluster moves on
    up = run_join(n5)
    time.sleep(5)
    P(f"   rejoin with stale dir: alive={n5.alive()} members={members(c.nodes[1].port)}")
    P("   its last lines:", open(n5.log).read().strip().splitlines()[-1][:300])
    # d) foreign data dir: a one-node cluster with id 6 and its own keys, then --join
    fd = f"{ROOT}/je-foreign6"
    shutil.rmtree(fd, ignore_errors=True)
    f6 = Node(6, BASE, data=fd, name="je")
    c.nodes[6] = f6
    f6.start()
    cc = Conn(f6.port)
    for i in range(0, 3000, 500):
        cc.pipeline([("SET", f"FOREIGN:{j}", "f") for j in range(i, i + 500)])
    cc.close()
    P("d) foreign node wrote 3000 keys, term", f6.info()["raft_term"], "index", f6.info()["raft_last_log_index"])
    f6.term()
    f6.join = f"127.0.0.1:{BASE + 1}"
    tl1 = term_leader()
    up = run_join(f6, 30)
    time.sleep(6)
    tl2 = term_leader()
    P(f"   foreign dir --join: alive={f6.alive()} rc={f6.proc.returncode} term/leader {tl1} -> {tl2}")
    P("   members:", members(c.nodes[1].port))
    P("   its last lines:", "\n     ".join(l[:250] for l in open(f6.log).read().strip().splitlines()[-4:]))
    L = c.leader()
    foreign_seen = once(L.port, "EXISTS", "FOREIGN:1")
    P("   FOREIGN:1 on the cluster:", foreign_seen)
    if foreign_seen:
        problems.append("foreign data visible in the cluster")
    if f6.alive():
        # promote it, make it leader, and look for foreign keys
        P("   PROMOTE 6:", once(L.port, "SNOWFLK", "PROMOTE", 6, timeout=10))
        time.sleep(2)
        P("   TRANSFER-LEADER 6:", once(c.leader().port, "SNOWFLK", "TRANSFER-LEADER", 6, timeout=10))
        time.sleep(2)
        L = c.leader()
        P("   leader now", L.id if L else None, "EXISTS FOREIGN:1 ->", once(L.port, "EXISTS", "FOREIGN:1"), "DBSIZE", once(L.port, "DBSIZE"))
        if once(L.port, "EXISTS", "FOREIGN:1"):
            problems.append("foreign data served after promote/transfer")
    W.finish()
    L = c.leader()
    lost, ne = check(L.port, W, "join_edge")
    if lost:
        problems.append(f"lost {len(lost)}")
    # compare engines of all running members
    time.sleep(2)
    engines = {}
    for n in list(c.nodes.values()):
        if n.alive() and n.id in (1, 2, 3, 5, 6):
            n.term()
            rc, data, err = backup_user_data(n.data + "/engine")
            engines[n.id] = set(data)
    ref = engines.get(1, set())
    for k, v in engines.items():
        fk = [x for x in v if x.startswith("FOREIGN")]
        P(f"   engine {k}: {len(v)} keys, foreign={len(fk)}, diff vs 1: {len(v ^ ref)}")
        if v != ref:
            problems.append(f"engine {k} differs from 1 by {len(v ^ ref)} keys (foreign {len(fk)})")
finally:
    W.stop.set()
    c.stop_all(); killall_tracked()
print("PROBLEMS:" if problems else "NO PROBLEMS", *problems, sep="\n  ")
