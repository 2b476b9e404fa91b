"""Finding 1, consequence: ONE node's power loss plus ONE process crash loses
acknowledged writes in a 3-node cluster.

The server never fsyncs DATA after creating DATA/engine, DATA/raft and
DATA/snapshots, so (strict POSIX semantics) a power loss can take all three
directories away. The node then restarts as a brand-new member: empty log,
term 0, no vote -- it forgets the entries it acknowledged.

Steps: fresh 3-node cluster on lazyfs (the data directories themselves exist
and are durable); pause follower B (SIGSTOP); write keys (acked by leader L and
follower A); power loss of A; restart A; SIGKILL L; resume B. A and B elect B
(A's log is empty), and every key written while B was paused is gone.

python3 repro_amnesia.py [--ext4]
"""
import os, signal, sys, time
os.environ.setdefault("H13_ROOT", "/tmp/h13/amn")
os.environ.setdefault("H13_PORT_BASE", "21400")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shutil, subprocess
import h13
from h13 import Cluster, Conn, cport, log, try_cmd
from lfs import mounted


class A:
    ext4 = "--ext4" in sys.argv
    snapshot_entries = 100000
    trailing = 1024
    segment_bytes = 1 << 20
    max_file_size = 4 << 20
    partial = 0.0
    presync = 1
    server_args = ""


ROOT = h13.ROOT
for i in (1, 2, 3):
    if mounted("%s/m%d" % (ROOT, i)):
        subprocess.run(["fusermount3", "-u", "%s/m%d" % (ROOT, i)])
shutil.rmtree(ROOT, ignore_errors=True)
cl = Cluster(A)
for i in (1, 2, 3):
    cl.mount(i)
for i in (1, 2, 3):
    cl.start(i)
for i in (1, 2, 3):
    assert cl.wait_port(i)
L = cl.leader(30)
A_, B = [i for i in (1, 2, 3) if i != L]
log("leader", L, "follower A", A_, "paused follower B", B)
time.sleep(2)
os.kill(cl.procs[B].pid, signal.SIGSTOP)
c = Conn(cport(L))
acked = [k for k in ("key%d" % j for j in range(300)) if c.cmd("SET", k, "v") == "OK"]
c.close()
log("acked", len(acked), "writes while B was paused (committed by L and A)")
time.sleep(3)
cl.kill9([A_])
log("power loss of A:", cl.powerloss(A_, 1))
log("A's data dir after the loss:", sorted(os.listdir(cl.ddir(A_))))
cl.start(A_)
cl.wait_port(A_)
time.sleep(1)
log("process crash of the leader L")
cl.kill9([L])
os.kill(cl.procs[B].pid, signal.SIGCONT)
cl.nodes = [A_, B]
nl = cl.leader(30)
log("new leader", nl)
c = Conn(cport(nl))
lost = [k for k in acked if c.cmd("GET", k) is None]
log("LOST %d of %d acknowledged writes" % (len(lost), len(acked)))
print(open("%s/logs/n%d.log" % (ROOT, A_)).read().split("==== start node")[-1][:1500])
cl.stop_all()
time.sleep(0.5)
cl.umount_all()
sys.exit(1 if lost else 0)
