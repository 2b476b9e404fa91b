"""SIGTERM under heavy pipelined load; rolling restarts (the upgrade
procedure). usage: python3 sigterm.py SEED ROUNDS
Per round: SIGTERM a node (the leader in most rounds) while 6 clients
pipeline 64 SETs each; measure exit status and time, how the leadership
moved (transfer vs election), what the clients connected to the stopped node
got for the requests they had sent (answered / connection closed with
requests unanswered), then restart it. At the end every acked write must be
there, and /metrics + /health are scraped throughout."""
import sys, os, time, random, threading, urllib.request
sys.path.insert(0, os.path.dirname(__file__))
from h14 import *

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
rng = random.Random(seed)
BASE = 22900 - 50  # clients 22851.., peers 22951.., metrics 23051: too high -> override
c = Cluster(22860, 3, extra=["--snapshot-entries", "20000"], name="st")
for n in c.nodes.values():
    n.mport = 22940 + n.id  # keep metrics inside 22000-22999
c.start()
W = Writers([n.port for n in c.nodes.values()], nthreads=6, pipeline=64, vsize=24).start()
problems = []
health = {}
stop_scrape = threading.Event()


def scraper():
    while not stop_scrape.is_set():
        for n in list(c.nodes.values()):
            for path in ("/health", "/metrics"):
                try:
                    r = urllib.request.urlopen(f"http://127.0.0.1:{n.mport}{path}", timeout=2)
                    code = r.status
                    body = r.read()
                except urllib.error.HTTPError as e:
                    code = e.code; body = e.read()
                except Exception as e:
                    code = type(e).__name__; body = b""
                k = (n.id, path, code)
                health[k] = health.get(k, 0) + 1
                if path == "/metrics" and code == 200 and b"snowflk_raft_term" not in body:
                    problems.append(f"metrics of {n.id} lacks raft_term")
        time.sleep(0.2)


threading.Thread(target=scraper, daemon=True).start()
try:
    time.sleep(3)
    for r in range(rounds):
        L = c.leader()
        victim = L if rng.random() < 0.75 else rng.choice([n for n in c.nodes.values() if n.id != L.id])
        term0 = int(L.info()["raft_term"])
        errs0 = dict(W.errors); unk0 = len(W.unknown)
        t0 = time.time()
        victim.sig(signal.SIGTERM)
        try:
            victim.proc.wait(30)
        except Exception:
            problems.append(f"round {r}: node {victim.id} did not exit within 30 s")
            victim.kill()
        dt = time.time() - t0
        rc = victim.proc.returncode
        L2 = c.leader(t=15, among={n.id for n in c.nodes.values() if n.id != victim.id})
        t_lead = time.time() - t0
        term1 = int(L2.info()["raft_term"]) if L2 else None
        lines = [l for l in open(victim.log).read().splitlines()[-60:] if "transfer" in l.lower() or "hand" in l.lower()]
        P = print
        P(f"round {r}: SIGTERM node {victim.id} ({'leader' if victim is L else 'follower'}): exit {rc} after {dt:.2f}s; "
          f"new leader {L2.id if L2 else None} term {term0}->{term1} after {t_lead:.2f}s; "
          f"client errors since: { {k: W.errors.get(k, 0) - errs0.get(k, 0) for k in W.errors} } unknown +{len(W.unknown) - unk0}", flush=True)
        if lines:
            P("   ", lines[-1][-200:].replace("\x1b", ""))
        if rc != 0:
            problems.append(f"round {r}: SIGTERM exit {rc}")
            P(open(victim.log).read()[-1500:])
        time.sleep(rng.uniform(0.5, 2))
        victim.start()
        time.sleep(rng.uniform(1, 3))
    W.finish()
    L = c.leader()
    lost, ne = check(L.port, W, f"sigterm seed {seed}")
    if lost or ne:
        problems.append(f"lost {len(lost)} noeffect-applied {len(ne)}")
    br = mget_all(L.port, W.broken.keys())
    applied_unanswered = [k for k, v in br.items() if v is not None]
    print(f"requests sent whose connection closed before the reply: {len(W.broken)}; of them applied: {len(applied_unanswered)}", applied_unanswered[:5])
    if applied_unanswered:
        problems.append(f"{len(applied_unanswered)} requests executed by a stopping node but never answered (connection closed)")
    # pause a follower: its /health must go 503? (it has no link to... it cannot answer at all while stopped)
    F = [n for n in c.nodes.values() if n.id != L.id][0]
    # SIGSTOP the leader: the followers' /health should report no link / no leader for a while
    L.pause()
    time.sleep(0.5)
    samples = []
    for _ in range(20):
        try:
            r = urllib.request.urlopen(f"http://127.0.0.1:{F.mport}/health", timeout=2)
            samples.append((round(time.time() % 100, 1), r.status, r.read()[:60]))
        except urllib.error.HTTPError as e:
            samples.append((round(time.time() % 100, 1), e.code, e.read()[:60]))
        except Exception as e:
            samples.append((round(time.time() % 100, 1), type(e).__name__))
        time.sleep(0.25)
    L.resume()
    print("follower /health while the leader is SIGSTOPped:", samples)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{L.mport}/health", timeout=1)
    except Exception as e:
        pass
finally:
    stop_scrape.set()
    W.stop.set()
    c.stop_all(); killall_tracked()
print("scrapes:", sorted(health.items(), key=str))
print("PROBLEMS:" if problems else "NO PROBLEMS", *problems, sep="\n  ")
