#!/usr/bin/env python3
"""Two-voter cluster: REMOVE-NODE <leader> via the other voter. usage: remove_leader2.py TRIES"""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as C
from resp import Conn
for t in range(int(sys.argv[1])):
    for i in (1, 2, 3): C.start(i, fresh=True)
    for i in (1, 2, 3): C.wait_up(i)
    l = C.wait_leader(); time.sleep(0.5)
    f = [i for i in (1, 2, 3) if i != l]
    print(" remove follower", f[1], Conn("127.0.0.1", C.cport(l)).cmd("SNOWFLK", "REMOVE-NODE", str(f[1])))
    C.kill(f[1]); time.sleep(0.5)
    via = f[0] if t % 2 == 0 else l
    c = Conn("127.0.0.1", C.cport(via))
    t0 = time.time(); rep = c.cmd("SNOWFLK", "REMOVE-NODE", str(l)); dt = time.time() - t0
    time.sleep(1)
    m = Conn("127.0.0.1", C.cport(f[0])).cmd("SNOWFLK", "MEMBERS")
    ids = [x[1][1][1] for x in m[1]] if m[0] == "arr" else m
    print("try %d leader %d via %d reply %r after %.2fs; members now %r" % (t, l, via, rep, dt, ids))
    C.stop_all()
