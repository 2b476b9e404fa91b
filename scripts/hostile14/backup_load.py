"""Backup under load with faults.
usage: python3 backup_load.py SEED ROUNDS
3-node cluster on 22001-22003. Writers (non-retrying) run throughout. Each
round: snapshot the set of acked writes S, send SNOWFLK BACKUP to the leader;
also to a follower (must refuse and write nothing). Faults between rounds:
SIGKILL+restart, SIGSTOP/SIGCONT leader (backup sent to the paused leader
after resume), TRANSFER-LEADER. Every successful backup: verify passes, S is
a subset of its keys with the right values. Some backups are --restored and
the restored node must serve exactly the backup's data."""
import sys, os, time, random, shutil, signal, threading
sys.path.insert(0, os.path.dirname(__file__))
from h14 import *

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 12
rng = random.Random(seed)
BASE = 22000
BK = f"{ROOT}/bk{seed}"
shutil.rmtree(BK, ignore_errors=True)
os.makedirs(BK)
extra = ["--snapshot-entries", "3000", "--max-file-size", "1000000", "--merge-interval-ms", "3000",
         "--election-ticks", "10"]
c = Cluster(BASE, 3, extra=extra, name="bl").start()
W = Writers([n.port for n in c.nodes.values()], nthreads=4, pipeline=4, vsize=64).start()
results = []
problems = []
try:
    time.sleep(2)
    for r in range(rounds):
        L = c.leader()
        if L is None:
            problems.append(f"round {r}: no leader")
            continue
        # follower backup must refuse
        for f in c.nodes.values():
            if f.id != L.id and f.alive():
                fd = f"{BK}/follower-{r}-{f.id}"
                try:
                    rep = once(f.port, "SNOWFLK", "BACKUP", fd, timeout=10)
                except Exception as e:
                    rep = e
                if not (isinstance(rep, RespError)):
                    # could be it became leader meanwhile
                    if f.role() != "leader":
                        problems.append(f"round {r}: follower {f.id} backup answered {rep!r}")
                if isinstance(rep, RespError) and os.path.exists(fd) and os.listdir(fd):
                    problems.append(f"round {r}: follower refused ({rep}) but {fd} has {os.listdir(fd)}")
                break
        S = W.snapshot_acked()
        d = f"{BK}/b{r}"
        t0 = time.time()
        try:
            rep = once(L.port, "SNOWFLK", "BACKUP", d, timeout=30)
        except Exception as e:
            rep = e
        dt = time.time() - t0
        print(f"round {r}: leader {L.id} backup -> {rep!r} ({dt:.2f}s) acked-before={len(S)}", flush=True)
        if isinstance(rep, str) and rep.startswith("OK"):
            rc, out, err = tools("verify", "--no-progress", d)
            if rc != 0:
                problems.append(f"round {r}: verify rc={rc} {out[-300:]} {err[-300:]}")
            rc, data, err = backup_user_data(d)
            missing = [k for k, v in S.items() if data.get(k, (None,))[0] != v]
            if missing:
                problems.append(f"round {r}: backup {d} misses {len(missing)} acked writes e.g. {missing[:5]}")
            results.append((d, len(S), len(data), len(missing)))
        else:
            if os.path.exists(d) and "CHECKPOINT" in os.listdir(d):
                problems.append(f"round {r}: backup failed ({rep}) but complete backup in {d}")
        # a fault
        f = rng.choice(["kill", "stop", "transfer", "killleader", "none"])
        L = c.leader(t=10)
        if L is None:
            continue
        if f == "kill" or f == "killleader":
            victim = L if f == "killleader" else rng.choice([n for n in c.nodes.values() if n.id != L.id])
            victim.kill()
            print(f"  fault: SIGKILL node {victim.id}", flush=True)
            time.sleep(rng.uniform(0.5, 2.5))
            # backup while one is down
            L2 = c.leader(t=10)
            if L2:
                d2 = f"{BK}/b{r}-down"
                S2 = W.snapshot_acked()
                try:
                    rep = once(L2.port, "SNOWFLK", "BACKUP", d2, timeout=30)
                except Exception as e:
                    rep = e
                print(f"  backup with node {victim.id} down on leader {L2.id}: {rep!r}", flush=True)
                if isinstance(rep, str) and rep.startswith("OK"):
                    rc, data, err = backup_user_data(d2)
                    missing = [k for k, v in S2.items() if data.get(k, (None,))[0] != v]
                    if missing:
                        problems.append(f"round {r}: backup {d2} misses {len(missing)} acked e.g. {missing[:5]}")
                    results.append((d2, len(S2), len(data), len(missing)))
            victim.start()
        elif f == "stop":
            L.pause()
            print(f"  fault: SIGSTOP leader {L.id}", flush=True)
            time.sleep(rng.uniform(2.5, 4))
            L.resume()
            # immediately ask the (probably deposed) old leader for a backup
            d3 = f"{BK}/b{r}-deposed"
            S3 = W.snapshot_acked()
            try:
                rep = once(L.port, "SNOWFLK", "BACKUP", d3, timeout=30)
            except Exception as e:
                rep = e
            print(f"  backup on resumed old leader {L.id}: {rep!r}", flush=True)
            if isinstance(rep, str) and rep.startswith("OK"):
                rc, data, err = backup_user_data(d3)
                missing = [k for k, v in S3.items() if data.get(k, (None,))[0] != v]
                if missing:
                    problems.append(f"round {r}: deposed-leader backup {d3} misses {len(missing)} acked e.g. {missing[:5]}")
                results.append((d3, len(S3), len(data), len(missing)))
            elif os.path.exists(d3) and os.listdir(d3):
                problems.append(f"round {r}: deposed refused but {d3} has {os.listdir(d3)}")
        elif f == "transfer":
            tgt = rng.choice([n for n in c.nodes.values() if n.id != L.id])
            try:
                rep = once(L.port, "SNOWFLK", "TRANSFER-LEADER", tgt.id, timeout=10)
            except Exception as e:
                rep = e
            print(f"  fault: transfer {L.id}->{tgt.id}: {rep!r}", flush=True)
            # backup right after transfer on the old leader
            d4 = f"{BK}/b{r}-posttransfer"
            try:
                rep = once(L.port, "SNOWFLK", "BACKUP", d4, timeout=30)
            except Exception as e:
                rep = e
            print(f"  backup on old leader after transfer: {rep!r}", flush=True)
            if isinstance(rep, RespError) and os.path.exists(d4) and os.listdir(d4):
                problems.append(f"round {r}: post-transfer refused but {d4} has {os.listdir(d4)}")
        time.sleep(rng.uniform(0.5, 1.5))
    W.finish()
    L = c.leader()
    lost, ne = check(L.port, W, "final")
    if lost or ne:
        problems.append(f"final check lost={len(lost)} noeffect_applied={len(ne)}")
    # restore the last two successful backups and compare exactly
    for d, ns, nd, nm in results[-2:]:
        nd_dir = f"{ROOT}/restore{seed}-{os.path.basename(d)}"
        shutil.rmtree(nd_dir, ignore_errors=True)
        rn = Node(50, BASE, data=nd_dir, extra=["--restore", d])
        rn.start()
        rc, data, err = backup_user_data(d)
        got = mget_all(rn.port, data.keys())
        wrong = [k for k in data if got.get(k) != data[k][0]]
        dbs = once(rn.port, "DBSIZE")
        print(f"restore {d}: backup keys={len(data)} restored DBSIZE={dbs} wrong={len(wrong)}")
        if wrong or dbs != len(data):
            problems.append(f"restore {d}: wrong={len(wrong)} dbsize={dbs} vs {len(data)}")
        # the backup must be unchanged
        rc2, out2, err2 = tools("verify", "--no-progress", d)
        if rc2 != 0:
            problems.append(f"after restore verify {d} rc={rc2} {out2[-200:]}")
        rn.kill()
finally:
    W.stop.set()
    c.stop_all()
    killall_tracked()
print("backups:", len(results), [(os.path.basename(d), ns, nd, nm) for d, ns, nd, nm in results])
print("writes sent:", W.count, "acked:", len(W.acked))
print("PROBLEMS:" if problems else "NO PROBLEMS", *problems, sep="\n  ")
