"""FINDING (claim 2/8): a peer whose configuration still shows a node as a LEARNER accepts that
node's wiped incarnation ("non-voting peer came back ... recorded"), even though the cluster already
promoted it and counted its acknowledgements. Once that peer receives the Promote entry it counts
the wiped node's votes -> a leader without acknowledged writes.
Setup: voters 1,2,3 (node 1 reaches 2 and 3 through frame-aware proxies, proxy.py); 4 and 5 join,
5 promoted. 2 and 3 SIGSTOPped. PROMOTE 4 (commits on 1,4,5). Proxies now pass Append entries only
up to the Promote entry. W = 200 writes acked (by 1,4,5). 4 SIGKILLed, wiped, restarted (MODE:
'peers' = --peers 1..5, 'join' = its original --join). 2,3 SIGCONT; once they recorded 4's new
incarnation the proxies deliver up to Promote. SIGKILL 1 and 5 (disks intact: 4 of 5 voters keep
their disks). Check whether 2/3/4 elect a leader and whether W survives (also after 1 and 5 return).
Usage: t_lagging_accept.py MODE"""
import sys, time, lib, proxy

mode = sys.argv[1] if len(sys.argv) > 1 else "peers"
def until(f, t=20):
    end = time.time() + t
    while time.time() < end:
        v = f()
        if v: return v
        time.sleep(0.05)

c = lib.Cluster(f"lagacc-{mode}", n=3)
n1, n2, n3 = c.nodes[1], c.nodes[2], c.nodes[3]
p2, p3 = proxy.Proxy(n2.pport), proxy.Proxy(n3.pport)
map1 = f"1={n1.paddr},2=127.0.0.1:{p2.port},3=127.0.0.1:{p3.port}"
n1.start(["--peers", map1]); c.start(2); c.start(3)
for n in (n1, n2, n3): assert n.wait_up()
L = c.leader(); assert L
if L != 1:
    c.nodes[L].cmd("SNOWFLK", "TRANSFER-LEADER", "1", timeout=10)
assert until(lambda: n1.info().get("raft_role") == "leader"), "1 not leader"
n4, n5 = c.add(4), c.add(5)
import os
via = n1 if os.environ.get("JOIN_VIA") == "1" else n2   # JOIN_VIA=1: 4 and 5 learn 2/3's proxy addresses from 1
for n in (n4, n5):
    n.start(["--join", via.addr]); assert n.wait_up()
def lag0(i):
    m = n1.cmd("SNOWFLK", "MEMBERS")
    return isinstance(m, list) and any(e["id"] == i and e["lag"] == 0 for e in m)
assert until(lambda: lag0(4) and lag0(5))
print("PROMOTE 5:", n1.cmd("SNOWFLK", "PROMOTE", "5", timeout=10))
pre = lib.write_keys(n1, "pre", 50)
time.sleep(1.5)   # everyone handshakes with everyone
print("2's record of 4 before:", [l for l in open(n2.dir + "/PEERS-SEEN").read().split() if l.startswith("4=")])
n2.stop(); n3.stop()
for p in (p2, p3): p.mode = "hold"
print("PROMOTE 4:", n1.cmd("SNOWFLK", "PROMOTE", "4", timeout=10))
limit = n1.info()["raft_last_log_index"]
print("Promote(4) is at or below index", limit, "; members:", [(e["id"], e["role"]) for e in n1.cmd("SNOWFLK", "MEMBERS")])
W = lib.write_keys(n1, "W", 200)
print("acked W writes:", len(W), " leader commit:", n1.info()["raft_commit_index"])
n4.kill(); n4.wipe()
if mode == "peers":
    n4.start(["--peers", f"1={n1.paddr},2={n2.paddr},3={n3.paddr},4={n4.paddr},5={n5.paddr}"])
else:
    n4.start(["--join", n1.addr])
time.sleep(1.5)
print("4 alive after restart:", n4.alive())
n2.cont(); n3.cont()
ok = until(lambda: all("non-voting peer came back" in n.logtext() for n in (n2, n3)), t=10)
print("2 and 3 replaced their record of 4 (accepted wiped node):", bool(ok))
for p in (p2, p3): p.limit = limit; p.mode = "limit"
until(lambda: n2.info().get("raft_last_log_index", 0) >= limit and n3.info().get("raft_last_log_index", 0) >= limit, t=10)
print("2/3 last index:", n2.info().get("raft_last_log_index"), n3.info().get("raft_last_log_index"), "proxy stats:", p2.stats, p3.stats)
n1.kill(); n5.kill()
print("killed 1 and 5 (disks intact)")
L2 = c.leader(among=[2, 3, 4], t=15)
print("new leader among 2,3,4:", L2)
if L2:
    miss, err = lib.count_present(c.nodes[L2], W)
    print(f"W keys missing on leader {L2}: {None if miss is None else len(miss)}/{len(W)}", err)
    print("members seen by new leader:", [(e["id"], e["role"], e["connected"]) for e in c.nodes[L2].cmd("SNOWFLK", "MEMBERS")])
    c.nodes[L2].cmd("SET", "after-loss", "x")
    for i in (1, 5): c.start(i) if i == 1 else c.nodes[5].start([])
    n1.kill(); n1.start(["--peers", map1]); n1.wait_up()
    time.sleep(5)
    L3 = c.leader(t=15)
    miss, err = lib.count_present(c.nodes[L3], W) if L3 else (None, "no leader")
    print(f"after 1 and 5 restarted: leader {L3}, W keys missing: {None if miss is None else len(miss)}/{len(W)}", err)
    print("1's applied:", n1.info().get("raft_applied_index"), " GET W0 on 1:", n1.cmd("GET", "W0"))
for i, n in c.nodes.items():
    t = n.logtext()
    print(f"node {i}: replaced={t.count('non-voting peer came back')} refused-voter={t.count('came back with another data directory')} panics={t.count('panicked')}")
print("root", c.root)
c.kill_all()
