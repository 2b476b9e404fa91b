"""Finding 3: a joined member's peer address lives only in the (unsynced)
engine's member book. After a power loss of every node, the Raft log still
holds the ADD-NODE entry (the configuration counts node 4 as a voter) but the
engines lost the book record, so nodes that were not given node 4 in --peers
cannot dial it until the entry is committed and applied again -- which may
need node 4's own vote.

Steps: cluster {1,2,3}; node 4 joins, is promoted; node 3 is removed and
decommissioned: voters {1,2,4}. Leadership goes to node 2. Power loss of 1, 2
and 4. Node 2 stays down; 1 and 4 restart (2 of 3 voters: a quorum). Expect a
leader within an election or two; the bug: none is elected while node 2 is down.

python3 repro_member_book.py [--ext4] [--kill-only [--no-fuse]] [--wait SECONDS]
"""
import os, signal, sys, time
os.environ.setdefault("H13_ROOT", "/tmp/h13/book")
os.environ.setdefault("H13_PORT_BASE", "21800")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shutil, subprocess
import h13
from h13 import Cluster, Conn, cport, log, try_cmd, peer_line, tail_log
from lfs import mounted


class A:
    ext4 = "--ext4" in sys.argv
    snapshot_entries = 100000
    trailing = 1024
    segment_bytes = 64 << 20
    max_file_size = 256 << 20
    partial = 0.0
    presync = 1
    server_args = ""


ROOT = h13.ROOT
for i in (1, 2, 3, 4):
    if mounted("%s/m%d" % (ROOT, i)):
        subprocess.run(["fusermount3", "-u", "%s/m%d" % (ROOT, i)])
shutil.rmtree(ROOT, ignore_errors=True)
cl = Cluster(A)
for i in (1, 2, 3, 4):
    if "--no-fuse" in sys.argv:  # plain directories (with --kill-only): no lazyfs at all
        os.makedirs(cl.ddir(i))
    else:
        cl.mount(i)
for i in (1, 2, 3):
    cl.start(i)
for i in (1, 2, 3):
    assert cl.wait_port(i)
cl.leader(30)
time.sleep(1)
for i in (1, 2, 3):  # work-around for finding 1
    fd = os.open(cl.ddir(i), os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)
ld = cl.leader(10)
if ld != 2:  # node 2 leads while node 4 joins (and takes the join snapshot)
    log("transfer to 2:", try_cmd(cport(ld), "SNOWFLK", "TRANSFER-LEADER", "2", timeout=15))
    time.sleep(2)
log("leader at join time", cl.leader(10))
c = Conn(cport(cl.leader(10)))
for j in range(200):
    c.cmd("SET", "pre%d" % j, "x")
c.close()
cl.start(4, join=2)
assert cl.wait_port(4, 40), tail_log(4)
cl.nodes = [1, 2, 3, 4]
for _ in range(100):
    ld = cl.leader(5)
    p = peer_line(cl, ld, 4)
    if p and p.get("lag") not in (None, "-1") and int(p["lag"]) < 10:
        break
    time.sleep(0.2)
log("promote 4:", try_cmd(cport(cl.leader(5)), "SNOWFLK", "PROMOTE", "4", timeout=15))
log("remove 3:", try_cmd(cport(cl.leader(5)), "SNOWFLK", "REMOVE-NODE", "3", timeout=15))
time.sleep(1)
cl.kill9([3])
cl.nodes = [1, 2, 4]
ld = cl.leader(10)
if ld != 2:
    log("transfer to 2:", try_cmd(cport(ld), "SNOWFLK", "TRANSFER-LEADER", "2", timeout=15))
    time.sleep(2)
log("leader now", cl.leader(10), "members on 1:", (cl.info(1) or {}).get("raft_members"))
c = Conn(cport(2))
acked = [k for k in ("key%d" % j for j in range(300)) if c.cmd("SET", k, "v") == "OK"]
c.close()
log("acked", len(acked))
time.sleep(2)
cl.kill9([1, 2, 4])
if "--kill-only" not in sys.argv:
    for i in (1, 2, 4):
        cl.powerloss(i, i)
else:
    log("process crash only (SIGKILL), no power loss")
cl.start(1)
cl.start(4, join=-1)  # neither --peers nor --join: JOINED tells it it joined
cl.nodes = [1, 4]
for i in (1, 4):
    log("node", i, "started:", cl.wait_port(i, 30))
W = int(sys.argv[sys.argv.index("--wait") + 1]) if "--wait" in sys.argv else 20
ld = cl.leader(W)
log("leader among {1,4} (voters {1,2,4}) after %d s:" % W, ld)
inf = cl.info(1) or {}
log("node 1 INFO:", {k: v for k, v in inf.items() if k.startswith("raft_")})
r = try_cmd(cport(1), "SNOWFLK", "MEMBERS")
log("node 1 SNOWFLK MEMBERS:", r)
print("--- node 1 log after restart ---")
print(tail_log(1, 12))
print("--- node 4 log after restart ---")
print(tail_log(4, 12))
cl.start(2)
cl.wait_port(2, 30)
cl.nodes = [1, 2, 4]
ld2 = cl.leader(20)
log("after node 2 returns, leader:", ld2)
c = Conn(cport(ld2))
lost = [k for k in acked if c.cmd("GET", k) is None]
log("lost acked:", len(lost))
cl.stop_all()
time.sleep(0.5)
cl.umount_all()
sys.exit(1 if ld is None else 0)
