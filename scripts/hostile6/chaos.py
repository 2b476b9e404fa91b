#!/usr/bin/env python3
"""Hostile workload + fault injection against a 3-node snowflk cluster.

Workers (threads) pipeline SETs of unique keys, INCRs on a few shared
counters and per-worker CAS chains through random nodes, recording every
reply as ok / error / unknown (TIMEOUT or lost connection). After each acked
batch a worker reads back through another node (read-your-acked-write).
Meanwhile the main thread injects faults: SIGKILL leader, leader+follower,
all nodes; SIGSTOP leader/follower 1-3 s; leadership transfers.
At the end every node is made leader in turn and every key is checked.

usage: chaos.py [--seconds 300] [--workers 12] [--seed N] [--root DIR]
"""
import argparse, json, os, random, sys, threading, time, collections
import redis
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster

ap = argparse.ArgumentParser()
ap.add_argument("--seconds", type=float, default=300)
ap.add_argument("--workers", type=int, default=12)
ap.add_argument("--seed", type=int, default=int(time.time()))
ap.add_argument("--root", default="/tmp/hostile6-chaos")
ap.add_argument("--faults", default="kill_leader,kill_leader_follower,stop_leader,stop_follower,kill_all,transfer,kill_follower,stop_leader_long")
ap.add_argument("--counters", type=int, default=4)
ap.add_argument("--slow", default="", help="per-node max fsync delay in us, e.g. 1:200000,3:20000 (LD_PRELOAD slowfsync.so)")
ap.add_argument("--extra", default="", help="extra server flags, space separated")
ap.add_argument("--base", type=int, default=19100)
args = ap.parse_args()
rnd = random.Random(args.seed)
print("seed", args.seed, flush=True)

C = Cluster(args.root, extra=args.extra.split(), base=args.base)
for part in filter(None, args.slow.split(",")):
    i, u = part.split(":")
    C.env[int(i)] = {"LD_PRELOAD": os.path.join(os.path.dirname(os.path.abspath(__file__)), "slowfsync.so"),
                     "SLOWFSYNC_US": u}
C.start_all()
assert C.leader(timeout=20), "no leader at start"

stop_load = threading.Event()
lock = threading.Lock()
sets = {}            # key -> (value, status, msg)
incrs = collections.defaultdict(list)   # ctr -> [(value, t_send, t_recv)]
incr_unknown = collections.Counter()
incr_error = collections.Counter()
cas_state = {}       # worker -> dict(last_acked, max_attempted)
violations = []      # (kind, detail)
errors_seen = collections.Counter()
acks_per_sec = collections.Counter()


def classify(exc):
    s = str(exc)
    if isinstance(exc, redis.exceptions.ConnectionError) and "connecting to" in s:
        return "error", "connect refused (never sent)"
    if isinstance(exc, redis.exceptions.ResponseError):
        if s.startswith("TIMEOUT"):
            return "unknown", s
        return "error", s
    return "unknown", type(exc).__name__ + ":" + s


def worker(w):
    wr = random.Random(args.seed * 1000 + w)
    seq = 0
    conns = {}
    cas_key = f"cas:{w}"
    cas_cur = None   # value we believe is there; None = unknown, re-read
    cas_state[w] = {"last_acked": 0, "max_attempted": 0}

    def conn(i):
        if i not in conns:
            conns[i] = C.conn(i, timeout=8)
        return conns[i]

    while not stop_load.is_set():
        node = wr.choice(C.ids)
        other = wr.choice([i for i in C.ids if i != node])
        r = conn(node)
        op = wr.random()
        n = wr.randint(1, 30)
        try:
            if op < 0.55:
                keys = []
                p = r.pipeline(transaction=False)
                for _ in range(n):
                    seq += 1
                    k, v = f"k:{w}:{seq}", f"v{w}.{seq}.{wr.randint(0, 1 << 30)}"
                    keys.append((k, v))
                    p.set(k, v)
                t0 = time.time()
                try:
                    res = p.execute(raise_on_error=False)
                except Exception as e:
                    conns.pop(node, None)
                    st, msg = classify(e)
                    with lock:
                        for k, v in keys:
                            sets[k] = (v, st, msg)
                        errors_seen[msg[:60]] += 1
                    continue
                t1 = time.time()
                acked = []
                with lock:
                    for (k, v), x in zip(keys, res):
                        if x is True:
                            sets[k] = (v, "ok", "")
                            acked.append((k, v))
                            acks_per_sec[int(t1)] += 1
                        else:
                            st, msg = classify(x) if isinstance(x, Exception) else ("weird", repr(x))
                            sets[k] = (v, st, msg)
                            errors_seen[msg[:60]] += 1
                if acked:
                    k, v = wr.choice(acked)
                    try:
                        got = conn(other).get(k)
                        if got != v:
                            with lock:
                                violations.append(("stale-read-after-ack", f"{k} want {v} got {got} via node {other}"))
                    except Exception:
                        conns.pop(other, None)
            elif op < 0.9:
                ctr = f"ctr:{wr.randrange(args.counters)}"
                p = r.pipeline(transaction=False)
                for _ in range(n):
                    p.incr(ctr)
                t0 = time.time()
                try:
                    res = p.execute(raise_on_error=False)
                except Exception as e:
                    conns.pop(node, None)
                    st, msg = classify(e)
                    with lock:
                        incr_unknown[ctr] += n
                        errors_seen[msg[:60]] += 1
                    continue
                t1 = time.time()
                mx = None
                with lock:
                    for x in res:
                        if isinstance(x, int) and not isinstance(x, bool):
                            incrs[ctr].append((x, t0, t1))
                            mx = x if mx is None else max(mx, x)
                            acks_per_sec[int(t1)] += 1
                        else:
                            st, msg = classify(x) if isinstance(x, Exception) else ("weird", repr(x))
                            if st == "error":
                                incr_error[ctr] += 1
                            else:
                                incr_unknown[ctr] += 1
                            errors_seen[msg[:60]] += 1
                if mx is not None:
                    try:
                        got = conn(other).get(ctr)
                        if got is None or int(got) < mx:
                            with lock:
                                violations.append(("stale-counter-read", f"{ctr} acked {mx} then read {got} via {other}"))
                    except Exception:
                        conns.pop(other, None)
            else:
                st_ = cas_state[w]
                if cas_cur is None:
                    try:
                        g = r.get(cas_key)
                    except Exception:
                        conns.pop(node, None)
                        continue
                    cas_cur = int(g) if g is not None else 0
                    if cas_cur < st_["last_acked"]:
                        with lock:
                            violations.append(("cas-went-back", f"{cas_key} read {cas_cur} < acked {st_['last_acked']}"))
                    if cas_cur == 0 and g is None:
                        # bootstrap: first value
                        try:
                            if r.set(cas_key, 0, nx=True):
                                pass
                        except Exception:
                            conns.pop(node, None)
                            cas_cur = None
                            continue
                nxt = cas_cur + 1
                st_["max_attempted"] = max(st_["max_attempted"], nxt)
                try:
                    x = r.execute_command("CAS", cas_key, str(cas_cur), str(nxt))
                except Exception as e:
                    conns.pop(node, None) if not isinstance(e, redis.exceptions.ResponseError) else None
                    cas_cur = None
                    with lock:
                        errors_seen[classify(e)[1][:60]] += 1
                    continue
                if x == 1:
                    st_["last_acked"] = nxt
                    cas_cur = nxt
                    with lock:
                        acks_per_sec[int(time.time())] += 1
                else:
                    cas_cur = None
        except Exception as e:  # anything unexpected: log, reconnect
            conns.pop(node, None)
            with lock:
                errors_seen["worker-exc " + type(e).__name__ + str(e)[:40]] += 1


threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(args.workers)]
for t in threads:
    t.start()

faults = args.faults.split(",")
fault_log = []
kills = 0
stops = 0
transfers = 0
unexpected_exits = []


def note(s):
    fault_log.append(f"{time.time():.3f} {s}")
    print(fault_log[-1], flush=True)


def check_unexpected():
    for i in C.ids:
        p = C.procs.get(i)
        if p is not None and p.poll() is not None and getattr(p, "_expected_dead", False) is False:
            unexpected_exits.append((i, p.returncode))
            note(f"UNEXPECTED exit of node {i} rc={p.returncode}; restarting")
            C.start(i)


def kill(i):
    global kills
    C.procs[i]._expected_dead = True
    C.kill(i)
    kills += 1


def restart(i):
    C.start(i)


t_end = time.time() + args.seconds
cycle = 0
while time.time() < t_end:
    cycle += 1
    time.sleep(rnd.uniform(0.5, 2.5))
    check_unexpected()
    f = rnd.choice(faults)
    lead = C.leader(timeout=10)
    if lead is None:
        note("no leader for 10 s with all nodes up")
        violations.append(("no-leader", f"cycle {cycle}"))
        continue
    fol = [i for i in C.ids if i != lead]
    if f == "kill_leader":
        note(f"kill -9 leader {lead}")
        kill(lead)
        time.sleep(rnd.uniform(0.2, 3))
        restart(lead)
    elif f == "kill_follower":
        x = rnd.choice(fol)
        note(f"kill -9 follower {x}")
        kill(x)
        time.sleep(rnd.uniform(0.2, 3))
        restart(x)
    elif f == "kill_leader_follower":
        x = rnd.choice(fol)
        note(f"kill -9 leader {lead} and follower {x}")
        kill(lead); kill(x)
        time.sleep(rnd.uniform(0.2, 2))
        restart(lead); restart(x)
    elif f == "kill_all":
        order = C.ids[:]
        rnd.shuffle(order)
        note(f"kill -9 all {order}")
        for i in order:
            kill(i)
        time.sleep(rnd.uniform(0.1, 1))
        for i in C.ids:
            restart(i)
    elif f == "stop_leader":
        d = rnd.uniform(1, 3)
        note(f"SIGSTOP leader {lead} {d:.1f}s")
        C.stop(lead); stops += 1
        time.sleep(d)
        C.cont(lead)
    elif f == "stop_leader_long":
        d = rnd.uniform(3, 6)
        note(f"SIGSTOP leader {lead} {d:.1f}s (re-election expected)")
        C.stop(lead); stops += 1
        time.sleep(d)
        C.cont(lead)
    elif f == "stop_follower":
        x = rnd.choice(fol)
        d = rnd.uniform(1, 3)
        note(f"SIGSTOP follower {x} {d:.1f}s")
        C.stop(x); stops += 1
        time.sleep(d)
        C.cont(x)
    elif f == "transfer":
        x = rnd.choice(fol)
        note(f"transfer leader {lead} -> {x}")
        transfers += 1
        try:
            C.conn(lead, 8).execute_command("SNOWFLK", "TRANSFER-LEADER", x)
        except Exception as e:
            note(f"  transfer reply: {e}")
    for i in C.ids:
        if hasattr(C.procs[i], "_expected_dead") and C.procs[i].poll() is None:
            pass

note("stopping load")
stop_load.set()
for t in threads:
    t.join(30)
check_unexpected()


def verify(tag):
    """Make each node leader in turn; check every key on it."""
    res = {}
    try:
        applied = C.wait_caught_up(90)
    except Exception as e:
        violations.append(("not-caught-up", f"{tag}: {e}"))
        applied = None
    note(f"[{tag}] caught up: {applied}")
    with lock:
        items = list(sets.items())
    for node in C.ids:
        if not C.transfer_to(node):
            violations.append(("transfer-failed", f"{tag}: could not make {node} leader"))
            continue
        r = C.conn(node, 20)
        lost = wrong = ghost = unk_applied = 0
        for off in range(0, len(items), 500):
            chunk = items[off:off + 500]
            vals = r.mget([k for k, _ in chunk])
            for (k, (v, st, msg)), got in zip(chunk, vals):
                if st == "ok":
                    if got is None:
                        lost += 1
                        if lost <= 5:
                            violations.append(("LOST-ack-set", f"{tag} node {node}: {k}={v}"))
                    elif got != v:
                        wrong += 1
                        violations.append(("wrong-value", f"{tag} node {node}: {k} want {v} got {got}"))
                elif st == "error":
                    if got is not None:
                        ghost += 1
                        if ghost <= 5:
                            violations.append(("error-reply-but-applied", f"{tag} node {node}: {k} ({msg})"))
                elif got is not None:
                    unk_applied += 1
        ctr_report = {}
        for ctr, lst in sorted(incrs.items()):
            got = int(r.get(ctr) or 0)
            vals = [x for x, _, _ in lst]
            dup = len(vals) - len(set(vals))
            mx = max(vals) if vals else 0
            lo = len(set(vals))
            hi = lo + incr_unknown[ctr]
            ctr_report[ctr] = dict(final=got, acked=len(vals), dups=dup, max_acked=mx,
                                   unknown=incr_unknown[ctr], error=incr_error[ctr])
            if dup:
                violations.append(("incr-duplicate", f"{tag} {ctr}: {dup} duplicate acked values"))
            if got < mx:
                violations.append(("incr-lost", f"{tag} node {node} {ctr}: final {got} < max acked {mx}"))
            if not (lo <= got <= hi):
                violations.append(("incr-count", f"{tag} node {node} {ctr}: final {got} not in [{lo},{hi}] (errors {incr_error[ctr]})"))
        cas_bad = 0
        for w, st in cas_state.items():
            g = r.get(f"cas:{w}")
            g = int(g) if g is not None else 0
            if not (st["last_acked"] <= g <= st["max_attempted"]):
                cas_bad += 1
                violations.append(("cas-final", f"{tag} node {node} cas:{w}={g} acked {st['last_acked']} attempted {st['max_attempted']}"))
        res[node] = dict(lost=lost, wrong=wrong, ghost=ghost, unknown_applied=unk_applied, cas_bad=cas_bad, counters=ctr_report)
        note(f"[{tag}] node {node}: {json.dumps(res[node])}")
    return res


def incr_realtime_check():
    bad = 0
    for ctr, lst in incrs.items():
        s = sorted(lst, key=lambda x: -x[0])
        min_recv = float("inf")
        for v, ts, tr in s:
            if min_recv < ts:
                bad += 1
                if bad <= 5:
                    violations.append(("incr-not-linearizable", f"{ctr}: value {v} sent at {ts} after a larger value was acked at {min_recv}"))
            min_recv = min(min_recv, tr)
    return bad


r1 = verify("after-chaos")
nonlin = incr_realtime_check()
note("final kill -9 of all nodes, restart, verify again")
for i in C.ids:
    kill(i)
C.start_all()
C.leader(timeout=20)
r2 = verify("after-final-kill-all")
check_unexpected()

acked_sets = sum(1 for v in sets.values() if v[1] == "ok")
summary = dict(
    seed=args.seed,
    kills=kills, stops=stops, transfers=transfers, cycles=cycle,
    acked_sets=acked_sets,
    error_sets=sum(1 for v in sets.values() if v[1] == "error"),
    unknown_sets=sum(1 for v in sets.values() if v[1] == "unknown"),
    acked_incrs=sum(len(v) for v in incrs.values()),
    acked_cas=sum(s["last_acked"] for s in cas_state.values()),
    incr_nonlinearizable=nonlin,
    unexpected_exits=unexpected_exits,
    violations=len(violations),
)
print("ERRORS SEEN:")
for m, c in errors_seen.most_common(25):
    print(f"  {c:7d} {m}")
print("VIOLATIONS:")
for v in violations[:60]:
    print("  ", v)
# zero-ack seconds during the run (availability)
if acks_per_sec:
    t0, t1 = min(acks_per_sec), max(acks_per_sec)
    gaps = [t for t in range(t0, t1 + 1) if acks_per_sec[t] == 0]
    summary["seconds_with_zero_acks"] = len(gaps)
    summary["run_seconds_with_acks"] = t1 - t0 + 1
print("SUMMARY", json.dumps(summary))
C.stop_all()
os.system(f"grep -il panic {args.root}/n*.log && echo PANIC-FOUND; grep -h 'snowflk-server:' {args.root}/n*.log | sort | uniq -c | head")
with open(os.path.join(args.root, "summary.json"), "w") as f:
    json.dump(dict(summary=summary, violations=violations, fault_log=fault_log, verify=[r1, r2]), f, indent=1)
