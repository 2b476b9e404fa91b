"""Claim 6: normal operation. A writer thread records acked SETs while rounds of SIGKILL+restart of
one node, SIGSTOP/SIGCONT, SIGTERM+restart and kill-all+restart run; at the end every acked key
must be readable with its last acked value. Usage: t_normal.py ROUNDS"""
import sys, time, random, threading, signal, lib
R = int(sys.argv[1]) if len(sys.argv) > 1 else 10
c = lib.Cluster("normal"); c.start_all()
acked = {}; stop = False; errs = {"n": 0}
def writer():
    k = 0
    while not stop:
        n = c.nodes[random.choice(list(c.nodes))]
        try:
            r = n.r(2)
            key = f"k{k % 500}"; val = f"v{k}"
            if r.set(key, val): acked[key] = val
        except Exception: errs["n"] += 1
        k += 1
th = threading.Thread(target=writer, daemon=True); th.start()
log = []
for rnd in range(R):
    act = random.choice(["kill1", "stopcont", "term1", "killall", "kill-leader"])
    i = random.choice(list(c.nodes))
    if act == "kill-leader": i = c.leader() or i
    if act in ("kill1", "kill-leader"):
        c.nodes[i].kill(); time.sleep(random.uniform(0, 1)); c.start(i)
    elif act == "term1":
        rc = c.nodes[i].kill(signal.SIGTERM); log.append(f"SIGTERM rc={rc}"); c.start(i)
    elif act == "stopcont":
        c.nodes[i].stop(); time.sleep(random.uniform(0.2, 1.5)); c.nodes[i].cont()
    else:
        for n in c.nodes.values(): n.kill()
        for j in c.nodes: c.start(j)
    for n in c.nodes.values(): n.wait_up()
    time.sleep(random.uniform(0.5, 1.5))
    log.append(f"{act}({i})")
stop = True; th.join()
L = c.leader(); time.sleep(1)
r = c.nodes[L].r(5)
bad = [(k, v, r.get(k)) for k, v in acked.items() if r.get(k) != v]
print("actions:", " ".join(log))
print(f"acked keys {len(acked)}, wrong/missing {len(bad)} {bad[:3]}, client errors {errs['n']}, leader {L}")
for i, n in c.nodes.items():
    t = n.logtext()
    print(f"node {i}: starts={t.count('==== start')} refused-voter={t.count('came back with another data directory')} link-refused={t.count('peer link refused')} panics={t.count('panicked')} connected={n.info().get('raft_peer1', {}).get('connected')}")
print("root", c.root)
c.kill_all()
