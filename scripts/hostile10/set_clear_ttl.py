"""A SET without KEEPTTL clears an existing TTL, on every node: for each of
many fixed command sequences (alone, in MULTI, in a pipeline; sent to the
leader and to a follower), the final value and TTL are checked on each node
made leader, then the engines are dumped offline after SIGTERM and compared.

usage: set_clear_ttl.py      (ports 19701-19803)
"""
import itertools, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, dump_live, diff_dumps

SEQS = {
    # name: (commands with K for the key, expected value, expect a ttl?)
    "ex_then_plain": ([["SET", "K", "1", "EX", "1000"], ["SET", "K", "2"]], "2", False),
    "px_then_plain": ([["SET", "K", "1", "PX", "1000000"], ["SET", "K", "2"]], "2", False),
    "expire_then_plain": ([["SET", "K", "1"], ["EXPIRE", "K", "1000"], ["SET", "K", "2"]], "2", False),
    "expire_then_get": ([["SET", "K", "1"], ["EXPIRE", "K", "1000"], ["SET", "K", "2", "GET"]], "2", False),
    "expire_then_xx": ([["SET", "K", "1"], ["EXPIRE", "K", "1000"], ["SET", "K", "2", "XX"]], "2", False),
    "expire_then_keep": ([["SET", "K", "1"], ["EXPIRE", "K", "1000"], ["SET", "K", "2", "KEEPTTL"]], "2", True),
    "keep_then_plain": ([["SET", "K", "1", "EX", "1000"], ["SET", "K", "2", "KEEPTTL"], ["SET", "K", "3"]], "3", False),
    "plain_then_incr": ([["SET", "K", "1", "EX", "1000"], ["SET", "K", "5"], ["INCR", "K"]], "6", False),
    "incr_keeps": ([["SET", "K", "1", "EX", "1000"], ["INCR", "K"]], "2", True),
    "append_keeps": ([["SET", "K", "1", "EX", "1000"], ["APPEND", "K", "x"]], "1x", True),
    "plain_then_expire": ([["SET", "K", "1", "EX", "1000"], ["SET", "K", "2"], ["EXPIRE", "K", "500", "NX"]], "2", True),
    "plain_then_expire_xx": ([["SET", "K", "1", "EX", "1000"], ["SET", "K", "2"], ["EXPIRE", "K", "500", "XX"]], "2", False),
    "persist_then_ex": ([["SET", "K", "1", "EX", "1000"], ["PERSIST", "K"], ["SET", "K", "2", "EX", "50"]], "2", True),
    "del_then_keep": ([["SET", "K", "1", "EX", "1000"], ["DEL", "K"], ["SET", "K", "2", "KEEPTTL"]], "2", False),
    "nx_fails_keeps": ([["SET", "K", "1", "EX", "1000"], ["SET", "K", "2", "NX"]], "1", True),
    "past_then_plain": ([["SET", "K", "1", "EX", "1000"], ["SET", "K", "2", "PXAT", "1"], ["SET", "K", "3"]], "3", False),
    "pxat_past_alone": ([["SET", "K", "1"], ["SET", "K", "2", "PXAT", "1"]], None, False),
    "exat_then_plain_get": ([["SET", "K", "1", "EXAT", str(int(time.time()) + 3000)], ["SET", "K", "2", "GET"]], "2", False),
}

c = Cluster("/tmp/h10-clear", base=19700)
bad = 0
try:
    c.start_all()
    lead = c.leader()
    fol = [i for i in c.ids if i != lead][0]
    expect = {}
    for (name, (cmds, val, ttl)), node, mode in itertools.product(SEQS.items(), [lead, fol], ["single", "multi", "pipe", "split"]):
        key = f"{name}:{mode}:{'L' if node == lead else 'F'}"
        r = c.conn(node, 10)
        cmds = [[key if w == "K" else w for w in x] for x in cmds]
        if mode == "single":
            for x in cmds: r.execute_command(*x)
        elif mode == "split":   # last command in its own pipeline
            p = r.pipeline(transaction=False)
            for x in cmds[:-1]: p.execute_command(*x)
            p.execute(); r.execute_command(*cmds[-1])
        else:
            p = r.pipeline(transaction=(mode == "multi"))
            for x in cmds: p.execute_command(*x)
            p.execute()
        expect[key] = (val, ttl)
    for i in c.ids:
        c.transfer_to(i)
        r = c.conn(i, 10)
        for key, (val, ttl) in expect.items():
            v, pt = r.get(key), r.pttl(key)
            ok = v == val and ((pt > 0) if ttl else (pt == (-2 if val is None else -1)))
            if not ok:
                bad += 1
                print(f"node {i}: {key}: got {v!r} pttl {pt}, want {val!r} ttl={ttl}")
    print(f"{len(expect)} keys x {len(c.ids)} nodes, {bad} wrong")
    c.wait_caught_up()
    for i in c.ids:
        c.term(i)
    dumps = {i: dump_live(os.path.join(c.root, f"d{i}")) for i in c.ids}
    for i in c.ids[1:]:
        d = diff_dumps(dumps[1], dumps[i])
        print(f"engine node 1 vs {i}: {len(d)} differing records", d[:3])
    # a cleared TTL is an all-zero expiry in the value header (9 bytes: version + 8)
    noexp = "\\x00" + "\\x00" * 8
    for key, (val, ttl) in expect.items():
        rec = dumps[1].get("\\x00" + key)
        if val is not None and not ttl and not (rec or "").startswith(noexp):
            print("engine holds an expiry for", key, rec)
finally:
    c.stop_all()
