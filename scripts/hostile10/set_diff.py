"""Differential test of SET (every option combination) mixed with DEL, INCR,
APPEND, EXPIRE, PERSIST, GETDEL on a few keys: one command at a time, inside
MULTI/EXEC, and in plain pipelines (which snowflk proposes as one Multi entry),
against a real redis-server. Replies compared (TTLs with a tolerance), then
every key's value and TTL on every node (each made leader in turn), then the
engines of all nodes offline after SIGTERM.

usage: set_diff.py [seed] [rounds]     (ports 19501-19603, redis on 19600)
"""
import os, random, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis
from cluster import Cluster, dump_live, diff_dumps

SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 1
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
rng = random.Random(SEED)
# Redis checks SET's syntax when EXEC runs it (the transaction goes on);
# snowflk at queue time (EXECABORT, documented): no bad SETs inside MULTI.
ERRORS = True
KEYS = [f"sk{i}" for i in range(4)]
NOW = int(time.time())


def gen_set(k):
    args = ["SET", k, rng.choice(["a", "bb", "7", "-3", "x" * 50])]
    opts = []
    c = rng.random()
    if c < 0.2: opts.append(["NX"])
    elif c < 0.4: opts.append(["XX"])
    if rng.random() < 0.35: opts.append(["GET"])
    e = rng.random()
    if e < 0.15: opts.append(["EX", str(rng.choice([100, 2000, 5000]))])
    elif e < 0.3: opts.append(["PX", str(rng.choice([100000, 3000000]))])
    elif e < 0.4: opts.append(["EXAT", str(NOW + rng.choice([500, 4000]))])
    elif e < 0.5: opts.append(["PXAT", str((NOW + rng.choice([700, 3000])) * 1000 + 123)])
    elif e < 0.55: opts.append(["EXAT", str(NOW - 100)])          # in the past: deleted
    elif e < 0.58: opts.append(["PXAT", "1"])
    elif e < 0.7: opts.append(["KEEPTTL"])
    elif ERRORS and e < 0.72: opts.append(["EX", rng.choice(["0", "-5", "abc"])])  # errors
    elif ERRORS and e < 0.73: opts += [["KEEPTTL"], ["EX", "10"]]               # syntax error
    rng.shuffle(opts)
    return args + [w for o in opts for w in o]


def gen():
    k = rng.choice(KEYS)
    r = rng.random()
    if r < 0.45: return gen_set(k)
    if r < 0.5: return ["DEL", k, rng.choice(KEYS)]
    if r < 0.56: return ["INCR", k]
    if r < 0.61: return ["APPEND", k, "z"]
    if r < 0.68:
        c = rng.choice([[], ["NX"], ["XX"], ["GT"], ["LT"]])
        return [rng.choice(["EXPIRE", "PEXPIRE"]), k, str(rng.choice([50, 3000, 900000]))] + c
    if r < 0.72: return ["EXPIREAT", k, str(NOW + rng.choice([-10, 6000]))]
    if r < 0.78: return ["PERSIST", k]
    if r < 0.8: return ["GETDEL", k]
    if r < 0.9: return ["GET", k]
    return [rng.choice(["TTL", "PTTL"]), k]


def norm(cmd, rep):
    if isinstance(rep, Exception):
        return "ERR"
    if isinstance(rep, list):
        return [norm(cmd, x) for x in rep]
    if cmd and cmd[0] in ("TTL", "PTTL") and isinstance(rep, int) and rep >= 0:
        scale = 1000 if cmd[0] == "PTTL" else 1
        return Ttl(rep // (5 * scale))     # 5 s buckets; compared with slack below
    return rep


class Ttl(int):
    pass


def same(a, b):
    if isinstance(a, Ttl) and isinstance(b, Ttl):
        return abs(a - b) <= 1
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def run_single(r, cmd):
    try:
        return r.execute_command(*cmd)
    except redis.ResponseError as e:
        return e


def run_batch(r, cmds, transaction):
    p = r.pipeline(transaction=transaction)
    for c in cmds:
        p.execute_command(*c)
    try:
        return p.execute(raise_on_error=False)
    except redis.ResponseError as e:   # EXECABORT
        return [e]


def state(r):
    out = {}
    for k in KEYS:
        v = r.get(k)
        pt = r.pttl(k)
        out[k] = (v, pt if pt < 0 else Ttl(pt // 5000))
    return out


rport = 19600
rs = subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no"],
                      stdout=subprocess.DEVNULL)
c = Cluster("/tmp/h10-setdiff", base=19500)
mismatch = 0
try:
    c.start_all()
    lead = c.leader()
    time.sleep(0.3)
    R = redis.Redis(port=rport, decode_responses=True)
    for _ in range(50):
        try: R.ping(); break
        except Exception: time.sleep(0.1)
    S = c.conn(lead, 10)
    for rnd in range(ROUNDS):
        mode = rng.choice(["single", "multi", "pipe"])

        ERRORS = mode != "multi"
        cmds = [gen() for _ in range(rng.randint(1, 8))]
        if mode == "single":
            a = [run_single(R, x) for x in cmds]; b = [run_single(S, x) for x in cmds]
        else:
            a = run_batch(R, cmds, mode == "multi"); b = run_batch(S, cmds, mode == "multi")
        na = [norm(x, y) for x, y in zip(cmds, a)] if len(a) == len(cmds) else norm(None, a)
        nb = [norm(x, y) for x, y in zip(cmds, b)] if len(b) == len(cmds) else norm(None, b)
        if not same(na, nb):
            mismatch += 1
            if mismatch <= 10:
                print(f"round {rnd} {mode}: {cmds}\n  redis   {a}\n  snowflk {b}")
        sa, sb = state(R), state(S)
        if not same(list(sa.values()), list(sb.values())):
            mismatch += 1
            if mismatch <= 10:
                print(f"round {rnd} {mode} STATE after {cmds}\n  redis   {sa}\n  snowflk {sb}")
            # resync snowflk's state to redis's so later rounds stay meaningful
            for k in KEYS:
                S.delete(k); R.delete(k)
    print(f"seed {SEED}: {ROUNDS} rounds, {mismatch} mismatches")
    ref = state(R)
    # every node, made leader, must read the same state
    for i in c.ids:
        ok = c.transfer_to(i)
        st = state(c.conn(i, 10))
        print(f"node {i} leader={ok}: {'same as redis' if same(list(st.values()), list(ref.values())) else ('DIFF', st, ref)}")
    c.wait_caught_up()
    for i in c.ids:
        c.term(i)
    dumps = {i: dump_live(os.path.join(c.root, f"d{i}")) for i in c.ids}
    for i in c.ids[1:]:
        d = diff_dumps(dumps[1], dumps[i])
        print(f"engine node 1 vs {i}: {len(d)} differing records", d[:3])
finally:
    c.stop_all()
    rs.terminate(); rs.wait()
