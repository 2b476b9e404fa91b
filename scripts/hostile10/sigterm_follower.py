"""SIGTERM of a follower applies everything before exit: with a long tick
(so the follower holds committed entries back), write N keys, wait until the
follower's commit index covers them while its applied index lags, SIGTERM it,
dump its engine offline: every key and the applied index must be there.
Also: how long the follower's applied index takes to reach its commit index
once writes stop (claim: about a tick).

usage: sigterm_follower.py [tick_ms] [N]   (ports 19901-20003)
"""
import os, struct, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, dump_live

TICK = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100
c = Cluster("/tmp/h10-term", base=19900, extra=["--tick-ms", str(TICK), "--election-ticks", "10"])
try:
    c.start_all()
    lead = c.leader(timeout=60)
    fols = [i for i in c.ids if i != lead]
    r = c.conn(lead, 10)
    # catch-up latency after a burst
    for i in range(N):
        r.set(f"a:{i}", i)
    t0 = time.time(); li = c.info(lead)["raft_commit_index"]
    seen = None
    while time.time() - t0 < 10 * TICK / 1000:
        inf = c.info(fols[0])
        if seen is None and inf["raft_commit_index"] >= li:
            seen = time.time() - t0
        if inf["raft_applied_index"] >= li:
            break
        time.sleep(0.005)
    print(f"tick {TICK} ms: follower commit reached {li} after {seen:.3f}s, applied after {time.time()-t0:.3f}s")
    # SIGTERM while held back
    for i in range(N):
        r.set(f"b:{i}", i)
    target = c.info(lead)["raft_commit_index"]
    f = fols[1]
    while True:
        inf = c.info(f)
        if inf["raft_commit_index"] >= target:
            break
        time.sleep(0.002)
    print(f"follower {f}: commit {inf['raft_commit_index']} applied {inf['raft_applied_index']} (target {target}) at SIGTERM")
    code = c.term(f)
    d = dump_live(os.path.join(c.root, f"d{f}"))
    missing = [i for i in range(N) if "\\x00b:%d" % i not in d]
    ai = d.get("\\x01applied_index")
    print(f"exit {code}; engine applied_index record {ai}; missing b: keys: {len(missing)} {missing[:5]}")
finally:
    c.stop_all()
