"""BACKUP on a leader whose followers are both SIGSTOPped (it cannot confirm
its read index): must answer TRYAGAIN and write nothing."""
import sys, os, time, shutil
sys.path.insert(0, os.path.dirname(__file__))
from h14 import *
c = Cluster(22300, 3, extra=["--request-timeout-ms", "2000"], name="bi").start()
try:
    L = c.leader()
    once(L.port, "SET", "a", "1")
    fs = [n for n in c.nodes.values() if n.id != L.id]
    for f in fs: f.pause()
    d = f"{ROOT}/bi-bk"; shutil.rmtree(d, ignore_errors=True)
    t0 = time.time()
    try:
        r = once(L.port, "SNOWFLK", "BACKUP", d, timeout=20)
    except Exception as e:
        r = e
    print(f"backup on isolated leader: {r!r} after {time.time() - t0:.1f}s; dir exists={os.path.exists(d)} contents={os.listdir(d) if os.path.exists(d) else None}")
    for f in fs: f.resume()
finally:
    c.stop_all(); killall_tracked()
