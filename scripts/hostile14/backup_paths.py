"""Hostile backup destinations. A 1-node raft store and a 3-node cluster, preloaded.
usage: python3 backup_paths.py"""
import sys, os, time, shutil, subprocess
sys.path.insert(0, os.path.dirname(__file__))
from h14 import *

BASE = 22300
P = f"{ROOT}/bp"
shutil.rmtree(P, ignore_errors=True)
os.makedirs(P)
c = Cluster(BASE, 3, extra=["--max-file-size", "1000000", "--snapshot-entries", "5000"], name="bp").start()
L = c.leader()
# preload ~12 MB
conn = Conn(L.port)
for i in range(0, 60000, 500):
    conn.pipeline([("SET", f"pre:{j}", f"v{j}" + "y" * 200) for j in range(i, i + 500)])
conn.close()
W = Writers([n.port for n in c.nodes.values()], nthreads=2, pipeline=2, vsize=32).start()
data_dir = L.data
results = []

def bk(label, d, expect_ok, node=None):
    node = node or c.leader()
    pre = sorted(os.listdir(d)) if isinstance(d, str) and os.path.isdir(d) else None
    S = W.snapshot_acked()
    try:
        rep = once(node.port, "SNOWFLK", "BACKUP", d, timeout=60)
    except Exception as e:
        rep = e
    ok = isinstance(rep, str) and rep.startswith("OK")
    note = ""
    real = d if os.path.isabs(d) else os.path.join(node.cwd, d)
    if ok:
        rc, out, err = tools("verify", "--no-progress", real)
        rc2, data, _ = backup_user_data(real)
        miss = [k for k, v in S.items() if data.get(k, (None,))[0] != v]
        note = f"verify rc={rc} keys={len(data)} missing_acked={len(miss)}"
        if rc != 0 or miss:
            note += " PROBLEM " + out[-200:]
    else:
        if os.path.isdir(real):
            contents = sorted(os.listdir(real))
            if "CHECKPOINT" in contents and (pre is None or "CHECKPOINT" not in pre):
                note = f"PROBLEM: refused but complete backup left: {contents[:6]}"
            else:
                note = f"dir now holds {contents[:6]}{'...' if len(contents) > 6 else ''} (before: {pre[:6] if pre is not None else None})"
        else:
            note = "dir does not exist"
    flag = "" if ok == expect_ok else "  <-- UNEXPECTED"
    print(f"{label:45s} -> {str(rep)[:170]}\n{'':45s}    {note}{flag}", flush=True)
    results.append((label, ok, expect_ok, note))
    return rep

try:
    bk("new dir", f"{P}/b-new", True)
    bk("existing empty dir", (os.makedirs(f"{P}/b-empty"), f"{P}/b-empty")[1], True)
    os.makedirs(f"{P}/b-nonempty"); open(f"{P}/b-nonempty/keep.txt", "w").write("mine")
    bk("existing non-empty dir", f"{P}/b-nonempty", False)
    print("   keep.txt still there:", os.path.exists(f"{P}/b-nonempty/keep.txt"))
    os.makedirs(f"{P}/b-subdir/sub")
    bk("existing dir holding an empty subdir", f"{P}/b-subdir", False)
    bk("same dir as an earlier backup", f"{P}/b-new", False)
    bk("inside data dir (abs)", f"{data_dir}/bk", False)
    bk("inside engine dir", f"{data_dir}/engine/bk", False)
    bk("data dir itself", data_dir, False)
    bk("inside data dir via ..", f"{data_dir}/engine/../bk2", False)
    bk("inside data dir via //./", f"{data_dir}//./bk3", False)
    os.symlink(data_dir, f"{P}/link-to-data")
    bk("via symlink to data dir", f"{P}/link-to-data/bk", False)
    os.makedirs(f"{data_dir}/emptyinside", exist_ok=True)
    os.symlink(f"{data_dir}/emptyinside", f"{P}/link-to-empty-inside")
    bk("symlink -> empty dir inside data dir", f"{P}/link-to-empty-inside", False)
    os.symlink(f"{data_dir}/dangling-target", f"{P}/dangling")
    bk("dangling symlink -> into data dir", f"{P}/dangling", False)
    print("   dangling target created?", os.path.exists(f"{data_dir}/dangling-target"))
    os.makedirs(f"{P}/outside-target")
    os.symlink(f"{P}/outside-target", f"{P}/link-outside")
    bk("symlink -> empty dir outside", f"{P}/link-outside", True)
    shutil.rmtree("/dev/shm/h14", ignore_errors=True)
    bk("/dev/shm (other fs)", "/dev/shm/h14/b", True)
    # restore from /dev/shm backup
    rn = Node(60, BASE, data=f"{P}/restored-shm", extra=["--restore", "/dev/shm/h14/b"])
    rn.start(); print("   restored from shm: DBSIZE", once(rn.port, "DBSIZE")); rn.kill()
    bk("read-only fs", "/tmp/h14/mnt/ro/b", False)
    bk("full disk (3 MiB tmpfs)", "/tmp/h14/mnt/small/b", False)
    print("   small tmpfs after:", os.listdir("/tmp/h14/mnt/small"), subprocess.run(["df", "-h", "/tmp/h14/mnt/small"], capture_output=True, text=True).stdout.splitlines()[-1])
    if os.path.isdir("/tmp/h14/mnt/small/b"):
        print("   small/b contents:", os.listdir("/tmp/h14/mnt/small/b"))
    bk("retry into same dir after full-disk failure (still full?)", "/tmp/h14/mnt/small/b", False)
    bk("relative path", "relbk/x", True)
    print("   relative landed in", L.cwd, os.path.exists(os.path.join(L.cwd, "relbk/x/CHECKPOINT")))
    bk("parent is a regular file", "/etc/hostname/x", False)
    bk("empty string", "", False)
    bk("path with NUL-free weird chars", f"{P}/we ird\nname", True)
    bk("root /", "/", False)
    bk("/proc", "/proc/h14bk", False)
    f = [n for n in c.nodes.values() if n.id != c.leader().id][0]
    bk("follower", f"{P}/b-follower", False, node=f)
    # concurrent backups into the same new dir
    import threading
    reps = []
    def go():
        try:
            reps.append(once(c.leader().port, "SNOWFLK", "BACKUP", f"{P}/b-conc", timeout=60))
        except Exception as e:
            reps.append(e)
    ts = [threading.Thread(target=go) for _ in range(4)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print("concurrent same dir:", [str(r)[:100] for r in reps])
    rc, out, err = tools("verify", "--no-progress", f"{P}/b-conc"); print("   verify:", rc, out.strip()[-150:])
finally:
    W.finish()
    L = c.leader()
    if L: check(L.port, W, "bp final")
    c.stop_all(); killall_tracked()
