#!/usr/bin/env python3
"""Fresh-request availability while the leader is SIGSTOPped: after the pause
starts, send a new INCR to a follower every 0.25 s (new connection, 8 s
deadline) and print when the first one is acked (a new leader serving)."""
import os, sys, time, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster
C = Cluster("/tmp/hostile6-probe", base=19800)
C.start_all(); C.leader(timeout=20)
for r in range(4):
    lead = C.leader(); fol = [i for i in C.ids if i != lead]
    C.conn(fol[0]).incr("p")
    C.stop(lead); t0 = time.time(); res = []
    def probe(ts):
        try:
            C.conn(fol[r % 2], 8).incr("p"); res.append((ts - t0, time.time() - t0, "ok"))
        except Exception as e:
            res.append((ts - t0, time.time() - t0, str(e)[:50]))
    th = []
    while time.time() - t0 < 6:
        t = threading.Thread(target=probe, args=(time.time(),)); t.start(); th.append(t)
        time.sleep(0.25)
    for t in th: t.join()
    oks = sorted(x for x in res if x[2] == "ok")
    newl = C.leader(via=fol, timeout=2)
    print(f"round {r}: leader {lead} stopped; new leader {newl}; first acked fresh INCR: sent +{oks[0][0]:.2f}s acked +{oks[0][1]:.2f}s; sent earlier and failed: {sorted(set(x[2] for x in res if x[2] != 'ok'))}" if oks else f"round {r}: NO fresh INCR acked in 6 s", flush=True)
    C.cont(lead); time.sleep(2)
C.stop_all()
