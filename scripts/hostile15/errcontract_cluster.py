#!/usr/bin/env python3
"""Runs errcontract.py through a follower of a fresh 3-node cluster."""
import os, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as C
for i in (1, 2, 3): C.start(i, fresh=True)
for i in (1, 2, 3): C.wait_up(i)
l = C.wait_leader(); f = [i for i in (1, 2, 3) if i != l][0]
print("leader", l, "testing via follower", f)
subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "errcontract.py"), str(C.cport(f)), sys.argv[1]])
C.stop_all()
