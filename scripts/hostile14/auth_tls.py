"""Authentication, roles (incl. forwarded requests), TLS client port with
reload, mutual TLS on the peer port with a wrong CA.
usage: bash mkcerts.sh && python3 auth_tls.py"""
import sys, os, time, shutil, ssl, socket, subprocess, signal
sys.path.insert(0, os.path.dirname(__file__))
from h14 import *

CD = f"{ROOT}/certs"
BASE = 22600
D = f"{ROOT}/at"
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
problems = []


def P(*a):
    print(*a, flush=True)


cfg = f"""requirepass = "adminpw"
[[users]]
name = "ro"
password = "ropw"
role = "read-only"
[[users]]
name = "rw"
password = "rwpw"
role = "read-write"
"""
open(f"{D}/users.toml", "w").write(cfg)
peers = ",".join(f"{i}=127.0.0.1:{BASE + 100 + i}" for i in (1, 2, 3))
nodes = {}
for i in (1, 2, 3):
    for f in ("pem", "key"):
        shutil.copy(f"{CD}/server.{f}", f"{D}/n{i}-server.{f}")
        shutil.copy(f"{CD}/peer{i}.{f}", f"{D}/n{i}-peer.{f}")
    shutil.copy(f"{CD}/ca1.pem", f"{D}/n{i}-ca.pem")
    ex = ["--config", f"{D}/users.toml", "--tls-listen", f"127.0.0.1:{BASE + 50 + i}",
          "--tls-cert-file", f"{D}/n{i}-server.pem", "--tls-key-file", f"{D}/n{i}-server.key",
          "--tls-ca-cert-file", f"{D}/n{i}-ca.pem",
          "--peer-cert-file", f"{D}/n{i}-peer.pem", "--peer-key-file", f"{D}/n{i}-peer.key",
          "--peer-trusted-ca-file", f"{D}/n{i}-ca.pem"]
    nodes[i] = Node(i, BASE, peers=peers, extra=ex, data=f"{D}/n{i}")
for n in nodes.values():
    n.start(wait=False)
for n in nodes.values():
    n.wait_up()


def authed(port, user, pw):
    c = Conn(port)
    r = c.cmd("AUTH", user, pw) if user else c.cmd("AUTH", pw)
    assert r == "OK", r
    return c


def leader():
    for _ in range(100):
        for n in nodes.values():
            try:
                c = authed(n.port, None, "adminpw")
                r = c.cmd("INFO", "replication"); c.close()
                if b"raft_role:leader" in r:
                    return n
            except Exception:
                pass
        time.sleep(0.2)


L = leader()
F = [n for n in nodes.values() if n.id != L.id][0]
P("leader", L.id, "follower", F.id)
adm = authed(L.port, None, "adminpw")
adm.pipeline([("SET", f"k{i}", "orig") for i in range(40)] + [("SET", "n", "5")])

# 1. unauthenticated
c = Conn(F.port)
for cmd in [("GET", "k1"), ("SET", "k1", "x"), ("DEL", "k1"), ("FLUSHDB",), ("SNOWFLK", "LEADER"), ("INFO",), ("MULTI",)]:
    r = c.cmd(*cmd)
    ok = isinstance(r, RespError) and str(r).startswith("NOAUTH")
    P(f"  noauth {cmd}: {r!r}" + ("" if ok else "   <-- UNEXPECTED"))
    if not ok:
        problems.append(f"unauthenticated {cmd} -> {r!r}")
for cmd in [("PING",), ("HELLO", "3"), ("AUTH", "wrong"), ("AUTH", "ro", "wrong"), ("HELLO", "3", "AUTH", "ro", "bad")]:
    P(f"  noauth {cmd}: {c.cmd(*cmd)!r}")
c.close()

WRITES = [("SET", "k1", "x"), ("SET", "k2", "x", "GET"), ("SETNX", "newk", "x"), ("SETEX", "k3", "100", "x"),
          ("PSETEX", "k4", "100000", "x"), ("GETSET", "k5", "x"), ("MSET", "k6", "x", "k7", "x"), ("INCR", "n"),
          ("INCRBY", "n", "3"), ("DECR", "n"), ("DECRBY", "n", "2"), ("GETDEL", "k8"), ("APPEND", "k9", "x"),
          ("CAS", "k10", "orig", "x"), ("DEL", "k11"), ("UNLINK", "k12"), ("EXPIRE", "k13", "1"),
          ("PEXPIRE", "k14", "1"), ("EXPIREAT", "k15", "1"), ("PEXPIREAT", "k16", "1"), ("PERSIST", "k17"),
          ("FLUSHDB",), ("FLUSHDB", "ASYNC"), ("set", "k18", "lower"), ("SeT", "k19", "mixed"),
          ("MSETNX", "zz1", "x"), ("GETEX", "k20", "EX", "1"), ("RENAME", "k21", "k22"), ("SET", "k23", "x", "KEEPTTL")]
ADMIN = [("SNOWFLK", "BACKUP", f"{D}/bk-by-ro"), ("SNOWFLK", "backup", f"{D}/bk-by-ro2"), ("SNOWFLK", "TRANSFER-LEADER", "1"),
         ("SNOWFLK", "ADD-NODE", "9", "127.0.0.1:22999"), ("SNOWFLK", "PROMOTE", "9"), ("SNOWFLK", "REMOVE-NODE", "3"),
         ("CONFIG", "GET", "*"), ("ACL", "LIST"), ("SNOWFLK", "remove-node", "3")]


def state():
    a = authed(L.port, None, "adminpw")
    r = a.cmd("MGET", *[f"k{i}" for i in range(40)], "n", "newk", "zz1")
    ttl = [a.cmd("PTTL", f"k{i}") for i in (3, 4, 13, 14, 15, 16, 17, 20)]
    m = a.cmd("SNOWFLK", "MEMBERS")
    a.close()
    return r, ttl, len(m)


for user, pw, cmds in [("ro", "ropw", WRITES + ADMIN), ("rw", "rwpw", ADMIN + [("FLUSHDB",)])]:
    for via in (L, F):
        for hello in (False, True):
            before = state()
            c = Conn(via.port)
            if hello:
                r = c.cmd("HELLO", "2", "AUTH", user, pw)
                assert isinstance(r, list), r
            else:
                assert c.cmd("AUTH", user, pw) == "OK"
            for cmd in cmds:
                r = c.cmd(*cmd)
                if not (isinstance(r, RespError) and str(r).startswith("NOPERM")):
                    P(f"  {user} via {'leader' if via is L else 'follower'} {cmd}: {r!r}   <-- NOT REFUSED")
                    problems.append(f"{user} via {via.id} {cmd} -> {r!r}")
            # MULTI with a write inside
            rs = c.pipeline([("MULTI",), ("GET", "k1"), ("SET", "k1", "multi"), ("EXEC",)]) if user == "ro" else []
            if rs:
                P(f"  {user} MULTI/SET/EXEC via {via.id}: {rs!r}")
            c.close()
            time.sleep(0.3)
            after = state()
            if after[0] != before[0] or after[2] != before[2]:
                problems.append(f"{user} via {via.id} hello={hello}: refused commands changed state: {before} -> {after}")
                P("  STATE CHANGED", before, after)
            if os.path.exists(f"{D}/bk-by-ro") or os.path.exists(f"{D}/bk-by-ro2"):
                problems.append(f"backup dir created by {user}")
    P(f"{user}: refused set checked via leader and follower")

# rw user can write via the follower (forwarded), ro can read via the follower
c = Conn(F.port); c.cmd("AUTH", "rw", "rwpw")
P("rw SET via follower:", c.cmd("SET", "rwk", "v"), "rw GET:", c.cmd("GET", "rwk"), "rw WHOAMI:", c.cmd("ACL", "WHOAMI"))
c.close()
c = Conn(F.port); c.cmd("AUTH", "ro", "ropw")
P("ro GET via follower:", c.cmd("GET", "rwk"), "ro MEMBERS ok:", not isinstance(c.cmd("SNOWFLK", "MEMBERS"), RespError),
  "ro RESET:", c.cmd("RESET"), "after RESET GET:", c.cmd("GET", "rwk"))
c.close()

# 2. TLS client port
def tls_conn(port, cert=None, key=None, ca=f"{CD}/ca1.pem"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    return Conn(None, sock=s), s


tport = BASE + 50 + L.id
for label, cert, key in [("good client cert", f"{CD}/client.pem", f"{CD}/client.key"),
                         ("no client cert", None, None), ("wrong-CA client cert", f"{CD}/badclient.pem", f"{CD}/badclient.key")]:
    try:
        cc, s = tls_conn(tport, cert, key)
        r = cc.cmd("AUTH", "ro", "ropw")
        r2 = cc.cmd("GET", "k30")
        P(f"TLS {label}: AUTH {r!r} GET {r2!r}")
        if cert is None or "wrong" in label:
            problems.append(f"TLS {label} accepted")
        cc.close()
    except Exception as e:
        P(f"TLS {label}: refused ({type(e).__name__}: {str(e)[:100]})")
        if cert and "good" in label:
            problems.append(f"TLS good client refused: {e}")
# plain RESP to the TLS port
try:
    r = once(tport, "PING", timeout=3)
    P("plain RESP on TLS port:", r)
except Exception as e:
    P("plain RESP on TLS port: refused", type(e).__name__)


def server_serial(port):
    cc, s = tls_conn(port, f"{CD}/client.pem", f"{CD}/client.key")
    der = s.getpeercert(binary_form=True)
    cc.close()
    return hash(der)


s0 = server_serial(tport)
# reload with a bad cert: garbage written aside and renamed over, then SIGHUP
open(f"{D}/tmp.pem", "w").write("-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n")
os.rename(f"{D}/tmp.pem", f"{D}/n{L.id}-server.pem")
L.sig(signal.SIGHUP)
time.sleep(1)
try:
    s1 = server_serial(tport)
    P("after bad cert + SIGHUP: TLS still works, same cert:", s1 == s0)
except Exception as e:
    P("after bad cert + SIGHUP: TLS BROKEN", e)
    problems.append(f"bad cert reload broke TLS: {e}")
log = open(L.log).read()
P("  log has 'reload failed; keeping the old ones':", "keeping the old ones" in log)
P("  ", [l[-250:] for l in log.splitlines() if "reload" in l][-2:])
# key/cert mismatch: server2 cert with server key
shutil.copy(f"{CD}/server2.pem", f"{D}/tmp.pem"); os.rename(f"{D}/tmp.pem", f"{D}/n{L.id}-server.pem")
time.sleep(3)  # file-change detection (2 s)
try:
    s2 = server_serial(tport)
    P("mismatched key/cert (file change): still old cert:", s2 == s0)
    if s2 != s0:
        problems.append("mismatched key/cert was loaded")
except Exception as e:
    P("mismatched key/cert: TLS BROKEN", e)
    problems.append(f"mismatched key/cert broke TLS: {e}")
# a good new pair
shutil.copy(f"{CD}/server2.key", f"{D}/tmp.key"); os.rename(f"{D}/tmp.key", f"{D}/n{L.id}-server.key")
L.sig(signal.SIGHUP); time.sleep(1.5)
s3 = server_serial(tport)
P("new valid pair: new cert served:", s3 != s0)
if s3 == s0:
    problems.append("valid new cert not reloaded")
P("  ", [l[-200:] for l in open(L.log).read().splitlines() if "reload" in l][-3:])
# empty (half-written) cert file written in place + SIGHUP
open(f"{D}/n{L.id}-server.pem", "w").close()
L.sig(signal.SIGHUP); time.sleep(1)
try:
    P("empty cert file + SIGHUP: TLS still works:", server_serial(tport) == s3)
except Exception as e:
    problems.append(f"empty cert file broke TLS: {e}")
shutil.copy(f"{CD}/server2.pem", f"{D}/n{L.id}-server.pem")

# 3. peer mTLS with a wrong CA: restart follower F with a rogue peer cert
F.kill()
for f in ("pem", "key"):
    shutil.copy(f"{CD}/roguepeer.{f}", f"{D}/n{F.id}-peer.{f}")
F.start(wait=False)
time.sleep(6)
a = authed(L.port, None, "adminpw")
a.cmd("SET", "after-rogue", "1")
info = F.info() if False else None
c = Conn(F.port); c.cmd("AUTH", "adminpw"); fi = c.cmd("INFO", "replication").decode(); c.close()
fl = {l.split(":")[0]: l.split(":", 1)[1] for l in fi.splitlines() if ":" in l}
P(f"rogue-cert node {F.id}: role={fl.get('raft_role')} leader={fl.get('raft_leader')} applied={fl.get('raft_applied_index')} term={fl.get('raft_term')}")
logs = open(L.log).read() + open(nodes[[i for i in nodes if i not in (L.id, F.id)][0]].log).read()
refused = [l for l in logs.splitlines() if "refused peer connection" in l and "TLS" in l]
P("  leader/other logs 'refused peer connection ... TLS':", len(refused), refused[-1][-260:] if refused else "")
if fl.get("raft_leader") not in ("0", "", None) and fl.get("raft_leader") != "None":
    # it should not know a leader through a refused link (unless it became one...)
    pass
# does the rest still serve?
P("cluster still serves:", a.cmd("GET", "after-rogue"))
# restore the right cert: it must rejoin (file change reload on the peer port)
for f in ("pem", "key"):
    shutil.copy(f"{CD}/peer{F.id}.{f}", f"{D}/tmp.{f}"); os.rename(f"{D}/tmp.{f}", f"{D}/n{F.id}-peer.{f}")
F.sig(signal.SIGHUP)
time.sleep(5)
c = Conn(F.port); c.cmd("AUTH", "adminpw"); fi = c.cmd("INFO", "replication").decode(); c.close()
fl = {l.split(":")[0]: l.split(":", 1)[1] for l in fi.splitlines() if ":" in l}
P(f"after fixing the cert + SIGHUP: node {F.id} role={fl.get('raft_role')} leader={fl.get('raft_leader')} applied={fl.get('raft_applied_index')}")
a.close()
for n in nodes.values():
    rc = n.term()
    P(f"SIGTERM {n.id}: exit {rc}")
killall_tracked()
print("PROBLEMS:" if problems else "NO PROBLEMS", *problems, sep="\n  ")
