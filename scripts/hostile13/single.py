"""One node (--replication none, or a one-member Raft cluster) on lazyfs:
write N acked keys, wait, SIGKILL, power loss, restart, count lost keys.

python3 single.py --mode none|raft [--wait 5] [--ext4] [--presync-datadir 1]
"""
import argparse, os, shutil, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfs import LazyMount, mounted
from h13 import Conn, SRV

ap = argparse.ArgumentParser()
ap.add_argument("--mode", default="none")
ap.add_argument("--wait", type=float, default=5)
ap.add_argument("--ext4", action="store_true")
ap.add_argument("--n", type=int, default=500)
ap.add_argument("--sync-datadir-after-start", type=int, default=0)
a = ap.parse_args()
ROOT = "/tmp/h13/single"
if os.path.exists(ROOT):
    if mounted(ROOT + "/m"):
        subprocess.run(["fusermount3", "-u", ROOT + "/m"])
    shutil.rmtree(ROOT)
m = LazyMount(ROOT + "/fs", ROOT + "/m", ext4=a.ext4)
m.mount()
dd = ROOT + "/m/d"
os.makedirs(dd)
for d in (dd, ROOT + "/m"):  # the data directory itself is durable
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)
PORT = 21301


def start():
    pf = ROOT + "/port"
    if os.path.exists(pf):
        os.unlink(pf)
    p = subprocess.Popen([SRV, "--data-dir", dd, "--listen", "127.0.0.1:%d" % PORT, "--peer-listen", "127.0.0.1:21302",
                          "--replication", a.mode, "--port-file", pf], stdout=open(ROOT + "/server.log", "a"), stderr=subprocess.STDOUT)
    for _ in range(300):
        if os.path.exists(pf) or p.poll() is not None:
            break
        time.sleep(0.05)
    time.sleep(1.0 if a.mode == "raft" else 0.2)
    return p


p = start()
if a.sync_datadir_after_start:
    fd = os.open(dd, os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)
c = Conn(PORT)
acked = 0
for i in range(a.n):
    r = c.cmd("SET", "key%d" % i, "val%d" % i)
    acked += r == "OK"
print("acked", acked, "of", a.n)
time.sleep(a.wait)
os.kill(p.pid, signal.SIGKILL)
p.wait()
print("powerloss:", m.powerloss())
print("after loss, data dir holds:", sorted(os.listdir(dd)))
p = start()
c = Conn(PORT)
lost = sum(1 for i in range(a.n) if c.cmd("GET", "key%d" % i) is None)
print("LOST %d of %d acked keys (mode %s, %s model)" % (lost, acked, a.mode, "ext4" if a.ext4 else "strict"))
os.kill(p.pid, signal.SIGKILL)
p.wait()
m.umount()
sys.exit(1 if lost else 0)
