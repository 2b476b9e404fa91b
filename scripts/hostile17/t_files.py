"""Claims 4 and 5: --id mismatch; malformed IDENTITY / PEERS-SEEN; IDENTITY deleted with the log
intact; hardstate deleted. Each bad start must exit non-zero fast with a one-line error, no panic."""
import os, time, shutil, subprocess, lib

c = lib.Cluster("files"); c.start_all(); L = c.leader()
lib.write_keys(c.nodes[L], "k", 20); time.sleep(1)
n3 = c.nodes[3]; n3.kill()
good = {f: open(os.path.join(n3.dir, f)).read() for f in ("IDENTITY", "PEERS-SEEN")}

def attempt(label, args, expect_fail=True):
    t0 = time.time()
    p = subprocess.run([lib.BIN, "--data-dir", n3.dir, "--listen", n3.addr, "--peer-listen", n3.paddr,
                        "--peers", c.peers()] + lib.TIMING + args, capture_output=True, text=True, timeout=8) \
        if expect_fail else None
    out = (p.stdout + p.stderr)
    errs = [l for l in out.splitlines() if "ERROR" in l or "error" in l.lower()]
    print(f"[{label}] rc={p.returncode} {time.time()-t0:.2f}s panic={'panicked' in out} err={errs[-1][-260:] if errs else out[-200:]!r}")

try:
    attempt("id mismatch (--id 2 on node 3's dir)", ["--id", "2"])
except subprocess.TimeoutExpired:
    print("[id mismatch] DID NOT EXIT within 8s")
cases = {
  "IDENTITY": ["garbage line\n", "node=3\nincarnation=zz\n", "node=3\nincarnation=0000000000000000\n",
               "node=3\n", "", "node=x\nincarnation=0123456789abcdef\n", "node=3\nincarnation=123\n",
               "\x00\xff\x00binary", "node=3\nincarnation=0123456789ABCDEF\n", "node=3\nnode=4\nincarnation=0123456789abcdef\n"],
  "PEERS-SEEN": ["1\n", "x=0123456789abcdef\n", "1=0000000000000000\n", "1=\n", "1=0123456789abcdef\n1=fedcba9876543210\n",
                 "-1=0123456789abcdef\n", "3=0123456789abcdef\n", "\x00\x01"],
}
for f, texts in cases.items():
    for t in texts:
        open(os.path.join(n3.dir, f), "w").write(t)
        try:
            p = subprocess.Popen([lib.BIN, "--id", "3", "--data-dir", n3.dir, "--listen", n3.addr, "--peer-listen", n3.paddr,
                                  "--peers", c.peers()] + lib.TIMING, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                out, _ = p.communicate(timeout=4)
                errs = [l for l in out.splitlines() if "ERROR" in l or "rror" in l]
                print(f"[{f} {t!r}] rc={p.returncode} panic={'panicked' in out} msg={errs[-1][-200:] if errs else out[-200:]!r}")
            except subprocess.TimeoutExpired:
                p.kill(); p.wait()
                print(f"[{f} {t!r}] STARTED (not refused)")
        finally:
            open(os.path.join(n3.dir, f), "w").write(good[f])

# IDENTITY deleted, log intact -> new incarnation, refused by peers
os.remove(os.path.join(n3.dir, "IDENTITY"))
c.start(3); time.sleep(3)
new = open(os.path.join(n3.dir, "IDENTITY")).read().split()[-1]
print("IDENTITY deleted: old", good["IDENTITY"].split()[-1], "new", new)
for i in (1, 2):
    t = c.nodes[i].logtext()
    print(f"  node {i} refused 3: {'came back with another data directory' in t and 'peer=3' in t}")
print("  node 3 log:", [l[-160:] for l in lib.Node.logtext(n3).splitlines() if "incarnation" in l][:3])
print("  cluster still serves:", c.nodes[L].cmd("SET", "after", "1"))
n3.kill()
# hardstate deleted only
os.remove(os.path.join(n3.dir, "raft", "hardstate"))
c.start(3); time.sleep(3)
print("hardstate deleted: node 3 alive:", n3.alive(), "new incarnation:", open(os.path.join(n3.dir, "IDENTITY")).read().split()[-1] != new,
      "PEERS-SEEN exists:", os.path.exists(os.path.join(n3.dir, "PEERS-SEEN")))
print("  tail:", [l[-200:] for l in n3.logtext().splitlines()[-3:]])
print("root", c.root)
c.kill_all()
