"""Engines diverge: an expired key purged on the leader stays in a follower's
engine when the follower applied the SET and the PurgeExpired entry in one
apply batch (the purge skips keys the batch itself wrote). Followers now apply
in batches of up to 256 entries / one tick (87873e5), so this is the common case.

usage: purge_divergence.py [N]   (ports 19301-19403)
"""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, dump_live, diff_dumps

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
c = Cluster("/tmp/h10-purge", base=19300, extra=["--expire-sweep-ms", "5"])
try:
    c.start_all()
    lead = c.leader()
    r = c.conn(lead)
    for i in range(N):
        assert r.set(f"pk:{i:04}", "v", px=20)
    r.set("plain", "x")
    # the leader purges everything: wait until its engine holds one user key
    end = time.time() + 20
    while time.time() < end and r.dbsize() != 1:
        time.sleep(0.05)
    # keyspace line: keys=...,expires=...
    time.sleep(0.5)
    applied = c.wait_caught_up()
    print("leader", lead, "applied", applied)
    for i in c.ids:
        print("node", i, "INFO keyspace:", c.conn(i).info("keyspace"))
    order = [i for i in c.ids if i != lead] + [lead]
    codes = {i: c.term(i) for i in order}
    print("exit codes", codes)
    dumps = {i: dump_live(os.path.join(c.root, f"d{i}")) for i in c.ids}
    for i in c.ids:
        user = [k for k in dumps[i] if k.startswith("\\x00")]
        print(f"node {i}: {len(user)} live user records in the engine")
    bad = False
    for i in c.ids:
        if i == lead:
            continue
        d = diff_dumps(dumps[lead], dumps[i])
        print(f"leader {lead} vs node {i}: {len(d)} differing keys", d[:3])
        bad |= bool(d)
    print("DIVERGED" if bad else "same")
finally:
    c.stop_all()
