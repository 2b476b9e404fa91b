"""Claim 3 (lagging mode uses 5 nodes): repair of a wiped voter (REMOVE-NODE, wipe, --join, PROMOTE), then lose another node.
mode=normal: every other node up during the repair.
mode=lagging: one surviving node (intact disk) is SIGKILLed before the repair and restarted after
PROMOTE; then the third node is killed -> the lagging node and the repaired one must elect.
newid=1: rejoin under a new id (4) instead of the old one.
Usage: t_repair.py MODE NEWID"""
import sys, time, lib

mode = sys.argv[1]; newid = sys.argv[2] == "1"

def until(f, t=20):
    end = time.time() + t
    while time.time() < end:
        v = f()
        if v: return v
        time.sleep(0.1)
    return None

N = 5 if mode == "lagging" else 3
c = lib.Cluster(f"repair-{mode}-{int(newid)}", n=N); c.start_all()
L = c.leader(); victim = [i for i in c.nodes if i != L][0]
lag = [i for i in c.nodes if i not in (L, victim)][0]
rest = [i for i in c.nodes if i not in (L, victim, lag)]
pre = lib.write_keys(c.nodes[L], "pre", 100)
# the voter loses its disk
c.nodes[victim].kill(); c.nodes[victim].wipe(); c.start(victim); time.sleep(2)
print("wiped voter back; leader", c.leader(), "refused logged:", "refused a voter" in c.nodes[L].logtext())
c.nodes[victim].kill()
if mode == "lagging":
    c.nodes[lag].kill()
print("REMOVE-NODE", victim, c.nodes[L].cmd("SNOWFLK", "REMOVE-NODE", str(victim), timeout=10))
mid = lib.write_keys(c.nodes[L], "mid", 100)
c.nodes[victim].wipe()
nid = 4 if newid else victim
if newid:
    n = c.add(4)
else:
    n = c.nodes[victim]
n.start(["--join", c.nodes[L].addr]); n.wait_up()
def caught():
    m = c.nodes[L].cmd("SNOWFLK", "MEMBERS")
    if isinstance(m, list):
        for e in m:
            if e["id"] == nid and e["lag"] == 0: return True
time.sleep(1)
print("caught up:", until(caught))
print("PROMOTE", nid, c.nodes[L].cmd("SNOWFLK", "PROMOTE", str(nid), timeout=10))
post = lib.write_keys(c.nodes[L], "post", 100)
print("members:", [(e["id"], e["role"]) for e in c.nodes[L].cmd("SNOWFLK", "MEMBERS")])
if mode == "lagging":
    c.start(lag); c.nodes[lag].wait_up(); time.sleep(3)
    print("lag node info:", {k: v for k, v in c.nodes[lag].info().items() if k.startswith("raft_peer") or k in ("raft_commit_index",)})
# now lose the old leader (and, with 5 nodes, one more: the lagging node and the repaired one are then needed)
c.nodes[L].kill()
if rest: c.nodes[rest[0]].kill()
alive = [i for i in c.nodes if c.nodes[i].alive()]
L2 = c.leader(among=alive, t=15)
print("after killing", L, rest[:1], "alive", alive, "new leader:", L2)
allk = pre + mid + post
if L2:
    r = lib.write_keys(c.nodes[L2], "after", 50)
    miss, err = lib.count_present(c.nodes[L2], allk)
    print("writes after:", len(r), "/50; missing acked:", None if miss is None else len(miss), err)
for i, nn in c.nodes.items():
    t = nn.logtext()
    print(f"node {i}: refused-voter lines={t.count('came back with another data directory')} link-refused={t.count('peer link refused')} replaced={t.count('non-voting peer came back')} panics={t.count('panicked')}")
print("root", c.root)
c.kill_all()
