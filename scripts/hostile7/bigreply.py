"""Claim 3: a pipelined run of GETs of large values on a follower makes a
forwarded Reads reply larger than the 64 MB peer frame."""
import os, sys, time, socket
sys.path.insert(0, os.path.dirname(__file__))
# The cluster helper is the one of scripts/hostile6.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile6"))
from cluster import Cluster
from order import resp, Reader

c = Cluster("/tmp/h7-big", base=19200)
try:
    c.start_all(); lead = c.leader(); fol = [i for i in c.ids if i != lead][0]
    print("leader", lead, "follower", fol)
    val = b"v" * (4 << 20)
    print("SET", c.conn(lead, 10).set("big", val))
    for node, n in [(lead, 40), (fol, 10), (fol, 20), (fol, 40)]:
        s = socket.create_connection(("127.0.0.1", c.client[node])); s.settimeout(30)
        t0 = time.time()
        s.sendall(b"".join(resp("GET", "big") for _ in range(n)) + resp("PING"))
        rd = Reader(s); kinds = {}
        try:
            for i in range(n + 1):
                r = rd.reply(); key = r[0] + (r[1][:60].decode() if r[0] != "$" else str(len(r[1] or b"")))
                kinds[key] = kinds.get(key, 0) + 1
        except Exception as e:
            kinds["EXC " + repr(e)] = 1
        print(f"node {node}{'(L)' if node==lead else ''} n={n} ({n*4} MB) -> {kinds} in {time.time()-t0:.1f}s", flush=True)
        s.close()
    # is the follower still serving?
    t0 = time.time()
    try: print("follower GET after:", len(c.conn(fol, 10).get("big") or ""), f"{time.time()-t0:.1f}s")
    except Exception as e: print("follower GET after: EXC", e)
    print("exit codes", c.exit_codes())
finally:
    c.stop_all()
