"""Deterministic: with --expire-sweep-ms 0 (expired keys are never purged), an expired key must count as absent for
SETNX (:1), GETSET (nil, then value with no TTL), and SETNX :0 must not touch an existing TTL. Each through every node;
compared with redis-server (port 17500). Ports 17201-3."""
import os, time
import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from cluster import Cluster, RUN_ROOT
from resp import Conn
cl = Cluster(os.path.join(RUN_ROOT, "run-expired"), extra=["--expire-sweep-ms", "0"], base_client=17200, base_peer=18200)
R = Conn(17500)
try:
    cl.start_all(); cl.wait_leader(30)
    S = {i: Conn(cl.port(i)) for i in cl.ids}
    nd = 0
    for i in cl.ids:
        for seq in ([("PSETEX", "x%d" % i, "30", "a"), "sleep", ("SETNX", "x%d" % i, "b"), ("GET", "x%d" % i), ("TTL", "x%d" % i)],
                    [("SETEX", "y%d" % i, "1", "a"), "sleep1", ("GETSET", "y%d" % i, "b"), ("GET", "y%d" % i), ("TTL", "y%d" % i)],
                    [("SETEX", "z%d" % i, "100", "a"), ("SETNX", "z%d" % i, "b"), ("TTL", "z%d" % i), ("GET", "z%d" % i)],
                    [("PSETEX", "w%d" % i, "30", "a"), "sleep", ("EXISTS", "w%d" % i), ("APPEND", "w%d" % i, "q"), ("TTL", "w%d" % i), ("SETNX", "w%d" % i, "z"), ("GET", "w%d" % i)],
                    [("PSETEX", "v%d" % i, "30", "5"), "sleep", ("INCR", "v%d" % i), ("GETSET", "v%d" % i, "9"), ("TTL", "v%d" % i)]):
            for c in seq:
                if c == "sleep": time.sleep(0.06); continue
                if c == "sleep1": time.sleep(1.1); continue
                a = R.cmd(*c); b = S[i].cmd(*c)
                print("%s n%d %-30s redis=%r snowflk=%r" % ("SAME" if a == b else "DIFF", i, c, a, b))
                nd += a != b
    print("SUMMARY differing replies:", nd)
finally:
    for i in cl.ids:
        if cl.alive(i): cl.kill(i)
