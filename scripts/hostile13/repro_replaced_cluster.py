"""Finding 3, worse: a cluster whose members were all replaced by joined
nodes cannot elect a leader after every node is SIGKILLed and restarted
(nothing lost, no node missing, no power loss).

Cluster {1,2,3}; nodes 4, 5, 6 join one after another and are promoted; 1, 2,
3 are removed and stopped: voters {4,5,6}. 300 SETs. SIGKILL 4, 5, 6; restart
all three (neither --peers nor --join: JOINED tells them). Wait for a leader.

python3 repro_replaced_cluster.py [--wait 60] [--powerloss]
"""
import os, sys, time
os.environ.setdefault("H13_ROOT", "/tmp/h13/repl")
os.environ.setdefault("H13_PORT_BASE", "21850")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shutil, subprocess
import h13
from h13 import Cluster, Conn, cport, log, try_cmd, peer_line, tail_log
from lfs import mounted


class A:
    ext4 = False
    snapshot_entries = 100000
    trailing = 1024
    segment_bytes = 64 << 20
    max_file_size = 256 << 20
    partial = 0.0
    presync = 1
    server_args = ""


W = int(sys.argv[sys.argv.index("--wait") + 1]) if "--wait" in sys.argv else 60
PL = "--powerloss" in sys.argv
ROOT = h13.ROOT
IDS = (1, 2, 3, 4, 5, 6)
for i in IDS:
    if mounted("%s/m%d" % (ROOT, i)):
        subprocess.run(["fusermount3", "-u", "%s/m%d" % (ROOT, i)])
shutil.rmtree(ROOT, ignore_errors=True)
cl = Cluster(A)
cl.peers = ",".join("%d=127.0.0.1:%d" % (i, h13.pport(i)) for i in (1, 2, 3))
for i in IDS:
    if PL:
        cl.mount(i)
    else:
        os.makedirs(cl.ddir(i))
for i in (1, 2, 3):
    cl.start(i)
for i in (1, 2, 3):
    assert cl.wait_port(i)
cl.nodes = [1, 2, 3]
cl.leader(30)
time.sleep(1)
if PL:
    for i in (1, 2, 3):  # work-around for finding 1
        fd = os.open(cl.ddir(i), os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)
for n in (4, 5, 6):
    cl.start(n, join=1)
    assert cl.wait_port(n, 40), tail_log(n)
    cl.nodes.append(n)
    for _ in range(100):
        r = try_cmd(cport(cl.leader(5)), "SNOWFLK", "PROMOTE", str(n), timeout=15)
        if r == "OK":
            break
        time.sleep(0.3)
    log("promote", n, r)
for o in (1, 2, 3):
    ld = cl.leader(10)
    log("remove", o, try_cmd(cport(ld), "SNOWFLK", "REMOVE-NODE", str(o), timeout=15))
    time.sleep(1.5)
    cl.kill9([o])
    cl.nodes.remove(o)
ld = cl.leader(15)
log("leader of {4,5,6}:", ld)
if ld is None:
    cl.stop_all(); time.sleep(0.5); cl.umount_all(); sys.exit(2)
c = Conn(cport(ld))
acked = [k for k in ("key%d" % j for j in range(300)) if c.cmd("SET", k, "v") == "OK"]
c.close()
log("acked", len(acked))
time.sleep(2)
cl.kill9([4, 5, 6])
if PL:
    for i in (4, 5, 6):
        cl.powerloss(i, i)
for i in (4, 5, 6):
    cl.start(i, join=-1)
for i in (4, 5, 6):
    log("node", i, "started:", cl.wait_port(i, 30))
ld = cl.leader(W)
log("leader among {4,5,6} %d s after restarting all three:" % W, ld)
for i in (4, 5, 6):
    inf = cl.info(i) or {}
    log("node", i, {k: v for k, v in inf.items() if k in ("raft_role", "raft_term", "raft_commit_index", "raft_applied_index", "raft_last_log_index")})
    r = try_cmd(cport(i), "SNOWFLK", "MEMBERS")
    log("node", i, "MEMBERS addrs:", [(m[1], m[3]) for m in r] if isinstance(r, list) else r)
if ld:
    c = Conn(cport(ld))
    log("lost acked:", sum(1 for k in acked if c.cmd("GET", k) is None))
print(tail_log(4, 6))
cl.stop_all()
time.sleep(0.5)
cl.umount_all()
sys.exit(1 if ld is None else 0)
