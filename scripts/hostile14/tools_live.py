"""Offline tools next to a running node, on a stopped node, on corruption.
usage: python3 tools_live.py [SECONDS]"""
import sys, os, time, random, shutil, subprocess, glob
sys.path.insert(0, os.path.dirname(__file__))
from h14 import *

secs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
BASE = 22700
d = f"{ROOT}/tl"
shutil.rmtree(d, ignore_errors=True)
# one-member raft node with small segments, frequent snapshots/purges and merges
n = Node(1, BASE, data=f"{d}/n1", extra=[
    "--max-file-size", "200000", "--merge-interval-ms", "300", "--snapshot-entries", "500",
    "--snapshot-trailing-entries", "50", "--raft-log-segment-bytes", "65536",
    "--raft-log-preallocate-bytes", "16384"])
n.start()
W = Writers([n.port], nthreads=3, pipeline=4, vsize=100).start()
# overwrite a small key range too so merges have something to drop
stopov = False
def overwriter():
    c = Conn(n.port)
    i = 0
    while not W.stop.is_set():
        c.pipeline([("SET", f"ow:{(i + j) % 300}", "z" * 300) for j in range(20)] + [("DEL", f"ow:{i % 300}")])
        i += 20
import threading
threading.Thread(target=overwriter, daemon=True).start()
problems = []
stats = {}
end = time.time() + secs
it = 0
while time.time() < end:
    it += 1
    for sub, target in [("verify", "engine"), ("verify", "raft"), ("stat", "engine"), ("stat", "raft"),
                        ("dump", "raft"), ("dump", "engine")]:
        args = [sub, "--no-progress", f"{n.data}/{target}"]
        if sub == "dump" and target == "engine":
            args = ["dump", "--live-only", "--keys-only", "--no-progress", f"{n.data}/{target}"]
        rc, out, err = tools(*args, timeout=120)
        key = f"{sub} {target}"
        stats.setdefault(key, {}).setdefault(rc, 0)
        stats[key][rc] += 1
        if rc != 0:
            problems.append(f"live {key}: rc={rc} {(out[-300:] if sub == 'verify' else '')} {err[-400:]}")
    # snapshot dirs
    for sdir in glob.glob(f"{n.data}/snapshots/snapshot-*"):
        rc, out, err = tools("verify", "--no-progress", sdir)
        stats.setdefault("verify snapshot", {}).setdefault(rc, 0)
        stats["verify snapshot"][rc] += 1
        if rc not in (0,) and os.path.exists(sdir):
            problems.append(f"live verify snapshot {sdir}: rc={rc} {out[-300:]} {err[-300:]}")
    rc, out, err = tools("merge", f"{n.data}/engine")
    stats.setdefault("merge engine(live)", {}).setdefault(rc, 0)
    stats["merge engine(live)"][rc] += 1
    if rc != 4:
        problems.append(f"live merge engine rc={rc} {out[-200:]} {err[-300:]}")
print("live iterations:", it, stats, flush=True)
W.finish()
print("engine/ listing:", sorted(os.listdir(f"{n.data}/engine"))[:8], "raft/ listing:", sorted(os.listdir(f"{n.data}/raft"))[:8])
for args in [("merge", f"{n.data}/raft"), ("merge", n.data), ("verify", n.data), ("dump", f"{n.data}/nope"),
             ("stat", f"{n.data}/snapshots")]:
    rc, out, err = tools(*args)
    print(f"{' '.join(a.replace(ROOT, '') for a in args):40s} rc={rc} {err.strip()[:200]} {out.strip()[:120]}")
check(n.port, W, "before stop")
rc = n.term()
print("SIGTERM exit:", rc)
# stopped: verify, stat, merge, then restart and check every acked write
for args in [("verify", f"{n.data}/engine"), ("verify", f"{n.data}/raft"), ("stat", f"{n.data}/raft"),
             ("merge", f"{n.data}/engine")]:
    rc, out, err = tools(*args)
    print(f"stopped {args[0]} {os.path.basename(args[1])}: rc={rc} {out.strip().splitlines()[-1][:200] if out.strip() else ''} {err.strip()[:200]}")
    if rc != 0:
        problems.append(f"stopped {args}: rc={rc} {out[-300:]} {err[-300:]}")
rc, out, err = tools("verify", f"{n.data}/engine")
print("verify after merge:", rc, out.strip().splitlines()[-1][:200])
n.start()
lost, ne = check(n.port, W, "after offline merge + restart")
if lost:
    problems.append(f"after offline merge+restart lost {len(lost)}")
n.kill()
print("PROBLEMS:" if problems else "NO PROBLEMS", *problems[:30], sep="\n  ")
if len(problems) > 30:
    print(f"  ... {len(problems)} total")
killall_tracked()
