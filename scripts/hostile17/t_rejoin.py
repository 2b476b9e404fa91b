"""New attacks on the ADD-NODE incarnation rule (bin2).
A. hand ADD-NODE with bad incarnations (0, short, long, non-hex, upper case) -> must be refused.
B. joined+promoted voter 4 wiped, restarted with its --join again WITHOUT REMOVE-NODE (same id/addr)
   -> must stay refused (the join must not rewrite 4's expected incarnation).
C. correct repair (REMOVE-NODE 4, wipe, --join, PROMOTE) while voter G is down (intact disk);
   with SNAP=1 the leader's log is compacted so G catches up by snapshot. G restarts; then the
   leader and one other voter are killed -> G + 4 + one must elect, no acked key lost.
D. 4 wiped a second time (no repair) -> refused by every node, incl. G; no leader can form from
   {G, wiped 4} + ... (checked with the key set).
Usage: t_rejoin.py SNAP(0/1)"""
import sys, time, lib

snap = len(sys.argv) > 1 and sys.argv[1] == "1"
EXTRA = ["--snapshot-entries", "50", "--snapshot-trailing-entries", "5"] if snap else []

def until(f, t=20):
    end = time.time() + t
    while time.time() < end:
        v = f()
        if v: return v
        time.sleep(0.1)

def ident(n):
    return [l for l in open(n.dir + "/IDENTITY").read().split("\n") if l.startswith("incarnation=")][0][12:]

def book(n):
    return n.cmd("SNOWFLK", "MEMBERS")

c = lib.Cluster(f"rejoin{int(snap)}", n=3)
for i in c.initial: c.start(i, EXTRA)
for i in c.initial: assert c.nodes[i].wait_up()
L = c.leader(); nL = c.nodes[L]
print("leader", L)
# --- A
n9 = c.add(9)
for inc in ["0000000000000000", "0", "123", "1234567890abcdef0", "xyzxyzxyzxyzxyzx", "ABCDEF0123456789", "-1", ""]:
    r = nL.cmd("SNOWFLK", "ADD-NODE", "9", n9.paddr, inc, timeout=10)
    print(f"A ADD-NODE 9 addr {inc!r}: {r!r}")
    if not isinstance(r, Exception):
        print("   members now:", [(e['id'], e['role']) for e in book(nL)])
        print("   REMOVE 9:", nL.cmd("SNOWFLK", "REMOVE-NODE", "9", timeout=10))
# --- join 4 and 5, promote both
n4, n5 = c.add(4), c.add(5)
for n in (n4, n5):
    n.start(["--join", nL.addr] + EXTRA); assert n.wait_up()
def lag0(i):
    m = c.nodes[c.leader()].cmd("SNOWFLK", "MEMBERS")
    return isinstance(m, list) and any(e["id"] == i and e["lag"] == 0 for e in m)
assert until(lambda: lag0(4) and lag0(5))
print("PROMOTE 4:", nL.cmd("SNOWFLK", "PROMOTE", "4", timeout=10), " PROMOTE 5:", nL.cmd("SNOWFLK", "PROMOTE", "5", timeout=10))
incA = ident(n4); print("4 incarnation A =", incA)
keys = lib.write_keys(nL, "a", 100)
# --- B: wipe 4 and --join again without REMOVE-NODE
n4.kill(); n4.wipe()
p = n4.start(["--join", nL.addr] + EXTRA); time.sleep(4)
print("B wiped 4 re-run with --join (no REMOVE): alive", n4.alive(), "rc", p.poll())
t4 = n4.logtext().split("==== start")[-1]
print("   4's last log lines:", [l[-200:] for l in t4.strip().splitlines()[-3:]])
try: incB = ident(n4)
except Exception as e: incB = repr(e)
print("   4 incarnation B =", incB)
print("   members:", [(e['id'], e['role'], e['connected']) for e in book(nL)])
for i in (1, 2, 3, 5):
    t = c.nodes[i].logtext()
    print(f"   node {i}: refused(came back)={t.count('came back with another data directory')} link-refused={t.count('peer link refused')}")
n4.kill()
# --- C: repair with G down
L = c.leader(); nL = c.nodes[L]
G = [i for i in (1, 2, 3, 5) if i != L][0]; nG = c.nodes[G]
print(f"C leader={L}, lagging G={G}")
nG.kill()
print("   REMOVE-NODE 4:", nL.cmd("SNOWFLK", "REMOVE-NODE", "4", timeout=10))
keys += lib.write_keys(nL, "b", 120)     # > snapshot-entries so G needs a snapshot when SNAP=1
n4.wipe(); n4.start(["--join", nL.addr] + EXTRA); assert n4.wait_up()
assert until(lambda: lag0(4))
print("   PROMOTE 4:", nL.cmd("SNOWFLK", "PROMOTE", "4", timeout=10))
incC = ident(n4); print("   4 incarnation C =", incC)
keys += lib.write_keys(nL, "c", 120)
if G in c.initial: c.start(G, EXTRA)
else: nG.start(EXTRA)
assert nG.wait_up(); time.sleep(3)
tg = nG.logtext().split("==== start")[-1]
print(f"   G after restart: snapshot installed={'snapshot installed' in tg} applied={nG.info().get('raft_applied_index')} leader commit={nL.info().get('raft_commit_index')} G link to 4={nG.info().get('raft_peer4', {}).get('connected')}")
print("   G refusals of 4 since restart:", tg.count("peer 4 presents"), tg.count("came back with another data directory"))
# kill the leader and one other voter that is not G/4 -> voters {1,2,3,5,4}: survivors G, 4, + one
others = [i for i in (1, 2, 3, 5) if i not in (L, G)]
victim = others[0]
nL.kill(); c.nodes[victim].kill()
surv = [G, 4] + others[1:]
print(f"   killed leader {L} and {victim}; survivors {surv}")
L2 = c.leader(among=surv, t=15)
print("   new leader:", L2)
if L2:
    miss, err = lib.count_present(c.nodes[L2], keys)
    print(f"   acked keys missing: {None if miss is None else len(miss)}/{len(keys)}", err)
    keys += lib.write_keys(c.nodes[L2], "d", 50)
# --- D: wipe 4 a second time (no repair)
for i in (L, victim):
    if i in c.initial: c.start(i, EXTRA)
    else: c.nodes[i].start(EXTRA)
time.sleep(3)
n4.kill(); n4.wipe(); n4.start(["--join", c.nodes[c.leader()].addr] + EXTRA); time.sleep(4)
print("D second wipe of 4: alive", n4.alive(), "rc", n4.proc.poll())
try: print("   4 incarnation D =", ident(n4))
except Exception as e: print("   no IDENTITY", e)
for i in (1, 2, 3, 5):
    t = c.nodes[i].logtext().split("==== start")[-1]
    print(f"   node {i} (since last start): refusals of 4 = {t.count('peer=4') and (t.count('came back with another data directory') + t.count('peer 4 presents'))} link to 4 = {c.nodes[i].info().get('raft_peer4', {}).get('connected')}")
L3 = c.leader(t=10)
miss, err = lib.count_present(c.nodes[L3], keys) if L3 else (None, "no leader")
print(f"   leader {L3}, acked keys missing {None if miss is None else len(miss)}/{len(keys)}", err)
print("panics:", sum(n.logtext().count("panicked") for n in c.nodes.values()))
print("root", c.root)
c.kill_all()
