#!/usr/bin/env python3
"""Node 4 joins (and is promoted) while the cluster runs OLD (its ADD-NODE names no incarnation).
All 4 are upgraded to NEW. Does every peer record 4's incarnation (PEERS-SEEN)? Then the
lost-disk election with 4 voters: 4 and another voter lag (SIGSTOP) ... simpler: 4 is wiped and
restarted with WBIN (OLD or NEW); it must be refused by all 3 peers, and a raw v1 hello claiming 4
must be refused.  usage: t_joined.py WBIN(old|new)"""
import sys, time, signal
from lib import *
wb = OLD if sys.argv[1] == "old" else NEW
c = Cluster(f"joined-{sys.argv[1]}")
try:
    for i in c.initial: c.start(i, binary=OLD)
    for i in c.initial: c.nodes[i].wait_up()
    L = c.leader(); write_keys(c.nodes[L], "a", 50)
    n4 = c.add(4); n4.start(["--join", c.nodes[L].addr], binary=OLD); n4.bin = OLD
    n4.wait_up(); time.sleep(2)
    print("promote:", c.nodes[c.leader()].cmd("SNOWFLK", "PROMOTE", "4"))
    for i in (1, 2, 3, 4):
        n = c.nodes[i]; n.kill(signal.SIGTERM)
        if i == 4: n.start([], binary=NEW); n.bin = NEW
        else: c.start(i, binary=NEW)
        n.wait_up(); print(f"upgraded {i}: caught_up={wait_caught_up(c, i)}"); time.sleep(0.5)
    time.sleep(2)
    for i in (1, 2, 3, 4):
        p = os.path.join(c.nodes[i].dir, "PEERS-SEEN")
        s = open(p).read() if os.path.exists(p) else "(none)"
        print(f"node {i} PEERS-SEEN: {[l for l in s.splitlines() if not l.startswith('#')]}")
    print("members:", c.nodes[c.leader()].cmd("SNOWFLK", "MEMBERS"))
    s, a = raw_hello(c.nodes[1].paddr, hello_v1(4, 1), read=8); s.close()
    print("raw v1 hello claiming 4 ->", a.hex())
    # wipe 4 and restart
    n4.kill(); n4.wipe()
    n4.start(["--join", c.nodes[1].addr] if False else ["--peers", c.peers([1, 2, 3, 4])], binary=wb)
    time.sleep(6)
    refused = {i: c.nodes[i].logtext().count("came back with another data directory") + c.nodes[i].logtext().count("refused a peer that speaks peer protocol version 1") for i in (1, 2, 3)}
    inf4 = n4.info()
    print(f"wiped 4 restarted with {wb.split('/')[-1]}: refusal lines per peer={refused}, node4 applied={inf4.get('raft_applied_index')} role={inf4.get('raft_role')}")
    print("panics:", panics(c))
finally:
    c.kill_all()
