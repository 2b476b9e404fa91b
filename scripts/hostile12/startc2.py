import sys
import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from cluster import Cluster
cl = Cluster(sys.argv[1], extra=sys.argv[2:], base_client=17200, base_peer=18200)
cl.start_all(); print("leader", cl.wait_leader(30)); open(sys.argv[1] + "/pids", "w").write(" ".join(str(p.pid) for p in cl.procs.values()))
