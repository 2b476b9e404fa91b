"""hostile16: real damage (a flipped byte) inside the FSYNCED part of an
engine's active segment of one node, in Raft mode (plain directories, no
power loss). Since b6462d1 such an engine cuts its active segment at the
first damage (Options::replaceable_active_tail) and its owner replays the
log. Does the node come back with every acknowledged write, even when the
cut drops records below the recorded snapshot (the log before it is purged)?

python3 corrupt16.py --seed S [--where 0.1]   (where: fraction of the segment)
"""
import argparse, glob, json, os, random, shutil, signal, subprocess, sys, time
os.environ.setdefault("H13_ROOT", "/tmp/h16/corrupt")
os.environ.setdefault("H13_PORT_BASE", "24700")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h16
from h16 import Cluster, Conn, cport, log, tail_log, compare_dumps

ap = argparse.ArgumentParser()
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--where", type=float, default=-1)
ap.add_argument("--n", type=int, default=30000)
ap.add_argument("--pipe", type=int, default=200)
a = ap.parse_args()
rnd = random.Random(a.seed)


class A:
    ext4 = False
    snapshot_entries = 2000
    trailing = 200
    segment_bytes = 1 << 20
    max_file_size = 16 << 20
    partial = 0.0
    presync = 0
    server_args = ""


ROOT = h16.ROOT
shutil.rmtree(ROOT, ignore_errors=True)
cl = Cluster(A)
for i in (1, 2, 3):
    os.makedirs("%s/m%d" % (ROOT, i))
    cl.start(i)
for i in (1, 2, 3):
    assert cl.wait_port(i)
ld = cl.leader(30)
c = Conn(cport(ld), 10)
acked = {}
for j in range(0, a.n, a.pipe):
    for k in range(j, j + a.pipe):
        c.send("SET", "c:%d" % k, "val-%d-%s" % (k, "z" * rnd.randint(0, 100)))
    for k in range(j, j + a.pipe):
        if c.reply() == "OK":
            acked["c:%d" % k] = True
c.close()
log("acked", len(acked))
time.sleep(2)
for i in (1, 2, 3):
    cl.procs[i].send_signal(signal.SIGTERM)
for i in (1, 2, 3):
    cl.procs[i].wait(30)
victim = rnd.choice([1, 2, 3])
segs = sorted(glob.glob(cl.ddir(victim) + "/engine/*.data"))
act = segs[-1]
size = os.path.getsize(act)
w = a.where if a.where >= 0 else rnd.random()
off = 24 + int((size - 24) * w)
with open(act, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x40]))
log("flipped a byte of node", victim, act, "at", off, "of", size, "(fsynced by the clean shutdown)")
for i in (1, 2, 3):
    cl.start(i)
ok = {i: cl.wait_port(i, 30) for i in (1, 2, 3)}
log("started", ok)
print(tail_log(victim, 12))
res = 0
if not ok[victim]:
    log("victim refused to start (rc %s) - a correct answer for real damage" % cl.procs[victim].poll())
else:
    cl.leader(30)
    time.sleep(3)
    c = Conn(cport(victim), 30)
    keys = list(acked)
    lost = 0
    for j in range(0, len(keys), 500):
        ch = keys[j:j + 500]
        for k in ch:
            c.send("GET", k)
        for k in ch:
            if c.reply() is None:
                lost += 1
    c.close()
    log("victim", victim, "lost acked SETs:", lost, "of", len(keys))
    for i in (1, 2, 3):
        cl.procs[i].send_signal(signal.SIGTERM)
    for i in (1, 2, 3):
        cl.procs[i].wait(30)
    probs, n = compare_dumps(cl)
    log("dump compare:", probs[:3] or "equal", n)
    res = 1 if (lost or probs) else 0
cl.stop_all()
sys.exit(res)
