"""Claim 2/8: the classic lost-disk election. Writes acked by {A,B} while C is SIGSTOPped;
A and B are SIGKILLed; B (or the leader) is wiped; C and wiped B restart -> must NOT elect
(C lacks the writes). Then A restarts -> every acked key present. Usage: t_lostdisk.py ROUNDS"""
import sys, time, random, signal, lib

def one(rnd, wipe_leader):
    c = lib.Cluster(f"lostdisk{rnd}"); c.start_all()
    L = c.leader(); assert L
    others = [i for i in c.nodes if i != L]
    lag = random.choice(others)              # the node that will lack the writes
    holder = [i for i in others if i != lag][0]
    c.nodes[lag].stop()
    keys = lib.write_keys(c.nodes[L], f"r{rnd}-", 200)
    assert len(keys) == 200, len(keys)
    wiped = L if wipe_leader else holder
    keep = holder if wipe_leader else L
    for i in (L, holder): c.nodes[i].kill()
    c.nodes[lag].cont()
    c.nodes[wiped].wipe()
    c.start(wiped)
    time.sleep(4)
    bad = None
    for i in (lag, wiped):
        inf = c.nodes[i].info()
        if inf.get("raft_role") == "leader":
            bad = f"node {i} became leader with lag={lag} wiped={wiped}"
    c.start(keep)
    L2 = c.leader(among=[keep, lag], t=20)
    time.sleep(1)
    miss, err = lib.count_present(c.nodes[L2], keys) if L2 else (None, "no leader")
    logs = {i: c.nodes[i].logtext() for i in c.nodes}
    refused_acc = any("came back with another data directory" in logs[i] for i in (lag, keep))
    refused_dial = "refused by the peer" in logs[wiped] or "presents data-directory incarnation" in logs[wiped]
    c.kill_all()
    print(f"round {rnd} wipe_leader={wipe_leader} L={L} lag={lag} wiped={wiped}: bad={bad} newleader={L2} missing={None if miss is None else len(miss)} err={err} acceptor_log={refused_acc} wiped_log={refused_dial} root={c.root}", flush=True)
    return bad is None and miss == [] and refused_acc

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
ok = 0
for r in range(n):
    ok += one(r, wipe_leader=(r % 2 == 1))
print(f"{ok}/{n} rounds held")
