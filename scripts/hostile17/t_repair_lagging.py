"""FINDING: a node that is down (intact disk) while a wiped voter is repaired keeps refusing the
repaired voter forever; a cluster of {lagging node, repaired node, X} cannot survive losing X.
4 initial voters 1..4. V (a follower) loses its disk. G (another follower) is SIGKILLed.
REMOVE-NODE V; wipe V; V --join; PROMOTE V; G restarted (intact disk), catches up;
REMOVE-NODE of the 4th node (healthy) -> voters {L, G, V}; kill L -> G and V should elect.
Usage: t_repair_lagging.py [restart_g_again]"""
import sys, time, lib

def until(f, t=20):
    end = time.time() + t
    while time.time() < end:
        v = f()
        if v: return v
        time.sleep(0.1)

c = lib.Cluster("replag", n=4); c.start_all()
L = c.leader(); fol = [i for i in c.nodes if i != L]
V, G, X = fol
print(f"leader={L} victim={V} lagging={G} extra={X}")
pre = lib.write_keys(c.nodes[L], "pre", 100)
c.nodes[V].kill(); c.nodes[V].wipe()
c.nodes[G].kill()
print("REMOVE-NODE V:", c.nodes[L].cmd("SNOWFLK", "REMOVE-NODE", str(V), timeout=10))
c.nodes[V].start(["--join", c.nodes[L].addr]); c.nodes[V].wait_up()
def caught():
    m = c.nodes[L].cmd("SNOWFLK", "MEMBERS")
    return isinstance(m, list) and any(e["id"] == V and e["lag"] == 0 for e in m)
until(caught); time.sleep(0.5)
print("PROMOTE V:", c.nodes[L].cmd("SNOWFLK", "PROMOTE", str(V), timeout=10))
c.start(G); c.nodes[G].wait_up(); time.sleep(3)
if len(sys.argv) > 1:
    c.nodes[G].kill(); c.start(G); c.nodes[G].wait_up(); time.sleep(3); print("restarted G once more")
print("G applied:", c.nodes[G].info().get("raft_applied_index"), "L commit:", c.nodes[L].info().get("raft_commit_index"))
print("REMOVE-NODE X:", c.nodes[L].cmd("SNOWFLK", "REMOVE-NODE", str(X), timeout=10))
c.nodes[X].kill()
mid = lib.write_keys(c.nodes[L], "mid", 100)
print("members:", [(e["id"], e["role"], e["connected"]) for e in c.nodes[L].cmd("SNOWFLK", "MEMBERS")])
print(f"G's view of V:", c.nodes[G].info().get(f"raft_peer{V}"))
c.nodes[L].kill()
print(f"killed leader {L}; survivors G={G}, V={V} (2 of 3 voters, disks intact)")
L2 = c.leader(among=[G, V], t=15)
print("new leader:", L2)
if L2:
    miss, err = lib.count_present(c.nodes[L2], pre + mid)
    print("missing:", miss and len(miss), err)
else:
    for i in (G, V): print(i, {k: c.nodes[i].info().get(k) for k in ("raft_role", "raft_term", "raft_leader")})
    print("write on G:", c.nodes[G].cmd("SET", "x", "1", timeout=8))
gl = c.nodes[G].logtext(); vl = c.nodes[V].logtext()
import re
print("G log: refused-voter lines:", gl.count("came back with another data directory"), " link-refused:", gl.count("peer link refused"))
print("V log: link-refused:", vl.count("peer link refused"))
print("G PEERS-SEEN:", open(c.nodes[G].dir + "/PEERS-SEEN").read().split("\n")[1:-1], " V IDENTITY:", open(c.nodes[V].dir + "/IDENTITY").read().split("\n")[2])
print("root", c.root)
c.kill_all()
