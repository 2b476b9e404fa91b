#!/usr/bin/env python3
"""Reply of SNOWFLK REMOVE-NODE <leader>, sent to the leader itself or via a follower. usage: remove_leader.py TRIES"""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as C
from resp import Conn
for t in range(int(sys.argv[1])):
    for i in (1, 2, 3): C.start(i, fresh=True)
    for i in (1, 2, 3): C.wait_up(i)
    l = C.wait_leader(); time.sleep(0.5)
    via = l if t % 2 == 0 else [i for i in (1, 2, 3) if i != l][0]
    c = Conn("127.0.0.1", C.cport(via)); c.cmd("SET", "a", "b")
    t0 = time.time(); rep = c.cmd("SNOWFLK", "REMOVE-NODE", str(l)); dt = time.time() - t0
    time.sleep(1)
    other = [i for i in (1, 2, 3) if i != l][0]
    m = Conn("127.0.0.1", C.cport(other)).cmd("SNOWFLK", "MEMBERS")
    ids = [x[1][1][1] for x in m[1]] if m[0] == "arr" else m
    print("try %d leader %d via %d reply %r after %.2fs; members now %r" % (t, l, via, rep, dt, ids))
    C.stop_all()
