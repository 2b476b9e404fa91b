"""hostile16: claim 3 under power loss, no work-arounds.

Cluster {1,2,3} on lazy fs mounts (data directories created by the server:
nothing pre-synced). Nodes 4, 5, 6 join (--join through a random member) and
are promoted; 1, 2, 3 are removed. A client writes SETs to the leader all the
time. Once, at a step chosen by the seed (during a join, right after a
PROMOTE or a REMOVE-NODE), every running node is SIGKILLed and loses power,
then restarted (a node that was joining is started with --join again). At the
end SIGKILL + power loss of 4, 5, 6, restart with neither flag: a leader must
be elected and every acked SET be present.

python3 repl16.py --seed S [--partial P] [--holes 1] [--ext4]
"""
import argparse, os, random, shutil, subprocess, sys, threading, time
os.environ.setdefault("H13_ROOT", "/tmp/h16/repl")
os.environ.setdefault("H13_PORT_BASE", "24600")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h16
from h16 import Cluster, Conn, cport, log, try_cmd, tail_log, RespError
from lfs import mounted

ap = argparse.ArgumentParser()
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--partial", type=float, default=0.0)
ap.add_argument("--holes", type=int, default=0)
ap.add_argument("--ext4", action="store_true")
ap.add_argument("--wait", type=int, default=30)
a = ap.parse_args()
rnd = random.Random(a.seed)


class A:
    ext4 = a.ext4
    snapshot_entries = 2000
    trailing = 200
    segment_bytes = 1 << 20
    max_file_size = 4 << 20
    partial = a.partial
    holes = a.holes
    presync = 0
    server_args = ""


ROOT = h16.ROOT
IDS = (1, 2, 3, 4, 5, 6)
for i in IDS:
    if mounted("%s/m%d" % (ROOT, i)):
        subprocess.run(["fusermount3", "-u", "%s/m%d" % (ROOT, i)])
shutil.rmtree(ROOT, ignore_errors=True)
cl = Cluster(A)
cl.peers = ",".join("%d=127.0.0.1:%d" % (i, h16.pport(i)) for i in (1, 2, 3))
for i in IDS:
    cl.mount(i)
for i in (1, 2, 3):
    cl.start(i)
for i in (1, 2, 3):
    assert cl.wait_port(i)
cl.nodes = [1, 2, 3]
assert cl.leader(30)
problems = []
acked, stop = [], threading.Event()
joined_ok = set()


def writer():
    seq = 0
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                ld = cl.leader(2)
                if not ld:
                    continue
                conn = Conn(cport(ld), 5)
            seq += 1
            k = "r:%d:%d" % (a.seed, seq)
            r = conn.cmd("SET", k, "v%d" % seq)
            if r == "OK":
                acked.append(k)
            elif isinstance(r, RespError):
                conn.close(); conn = None; time.sleep(0.05)
        except Exception:
            if conn:
                conn.close()
            conn = None
            time.sleep(0.05)


th = threading.Thread(target=writer, daemon=True)
th.start()
steps = ["join4", "promote4", "join5", "promote5", "join6", "promote6", "remove1", "remove2", "remove3"]
cut_at = rnd.choice(steps)
log("seed", a.seed, "power loss of all at step", cut_at)
joining = None


def cut_all_running(seed):
    vict = [i for i in cl.nodes if cl.alive(i)]
    log("POWER LOSS of", vict)
    cl.kill9(vict)
    for i in vict:
        cl.powerloss(i, seed + i)
    for i in vict:
        if i == joining or (i >= 4 and i not in joined_ok):
            cl.start(i, join=rnd.choice([j for j in cl.nodes if j != i and j <= 3] or [4]))
        elif i >= 4:
            cl.start(i, join=-1)
        else:
            cl.start(i)
    for i in vict:
        if not cl.wait_port(i, 40):
            problems.append("node %d did not start after power loss at %s: %s" % (i, cut_at, tail_log(i, 8)))
            log("NODE DID NOT START", i, tail_log(i, 8))


def admin(*cmd):
    r = None
    for _ in range(120):
        ld = cl.leader(10)
        r = try_cmd(cport(ld or 4), *cmd, timeout=15)
        if r == "OK" or (isinstance(r, RespError) and ("already" in str(r) or "not a member" in str(r) or "is not a learner" in str(r))):
            return r
        time.sleep(0.3)
    problems.append("%s -> %r" % (cmd, r))
    return r


for st in steps:
    n = int(st[-1])
    if st.startswith("join"):
        joining = n
        cl.start(n, join=rnd.choice([j for j in cl.nodes]))
        cl.nodes.append(n)
        if st == cut_at:
            time.sleep(rnd.random() * 1.5)
            cut_all_running(a.seed * 7)
        if not cl.wait_port(n, 60):
            problems.append("node %d --join did not finish: %s" % (n, tail_log(n, 6)))
            log("JOIN FAILED", n, tail_log(n, 6))
            # the documented way: it exits; start it again with --join
            cl.start(n, join=rnd.choice([j for j in cl.nodes if j != n]))
            if not cl.wait_port(n, 60):
                break
        joined_ok.add(n)
        joining = None
    elif st.startswith("promote"):
        time.sleep(1.0)
        if st == cut_at:
            t = threading.Thread(target=admin, args=("SNOWFLK", "PROMOTE", str(n)))
            t.start()
            time.sleep(rnd.random() * 0.1)
            cut_all_running(a.seed * 7)
            t.join()
        log("promote", n, admin("SNOWFLK", "PROMOTE", str(n)))
    else:
        if st == cut_at:
            t = threading.Thread(target=admin, args=("SNOWFLK", "REMOVE-NODE", str(n)))
            t.start()
            time.sleep(rnd.random() * 0.1)
            cut_all_running(a.seed * 7)
            t.join()
        log("remove", n, admin("SNOWFLK", "REMOVE-NODE", str(n)))
        time.sleep(1.0)
        cl.kill9([n])
        cl.nodes.remove(n)
time.sleep(1 + rnd.random() * 2)
stop.set()
th.join(10)
log("acked SETs", len(acked), "members", h16.members_of(cl))
cl.kill9([4, 5, 6])
for i in (4, 5, 6):
    cl.powerloss(i, a.seed * 13 + i)
for i in (4, 5, 6):
    cl.start(i, join=-1)
for i in (4, 5, 6):
    if not cl.wait_port(i, 40):
        problems.append("final: node %d did not start: %s" % (i, tail_log(i, 8)))
ld = cl.leader(a.wait)
log("leader among {4,5,6} after the final power loss:", ld)
if ld is None:
    problems.append("no leader among {4,5,6} %d s after a power loss of all" % a.wait)
    for i in (4, 5, 6):
        inf = cl.info(i) or {}
        log("node", i, {k: v for k, v in inf.items() if k in ("raft_role", "raft_term", "raft_commit_index", "raft_applied_index", "raft_last_log_index")})
        log(tail_log(i, 5))
else:
    c = Conn(cport(ld), 30)
    lost = 0
    for j in range(0, len(acked), 500):
        ch = acked[j:j + 500]
        for k in ch:
            c.send("GET", k)
        for k in ch:
            if c.reply() is None:
                lost += 1
    log("lost acked SETs:", lost, "of", len(acked))
    if lost:
        problems.append("LOST %d of %d acked SETs" % (lost, len(acked)))
cl.stop_all()
time.sleep(0.5)
cl.umount_all()
log("RESULT seed", a.seed, "cut at", cut_at, "acked", len(acked), "powerlosses", h16.STATS["powerloss"], "problems", problems)
sys.exit(1 if problems else 0)
