"""3-node cluster helper: client ports 23101-3, peer ports 23201-3, data /tmp/h15/cl/n<id>."""
import os
import signal
import subprocess
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp import Conn

BIN = os.environ.get("SNOWFLK_BIN", "/work/target-h15/release/snowflk-server")
BASE = "/tmp/h15/cl"
PEERS = ",".join("%d=127.0.0.1:%d" % (i, 23200 + i) for i in (1, 2, 3))
procs = {}


def cport(i):
    return 23100 + i


def start(i, extra=(), fresh=False, base=BASE):
    d = "%s/n%d" % (base, i)
    if fresh:
        subprocess.run(["rm", "-rf", d])
    os.makedirs(base, exist_ok=True)
    log = open("%s/n%d.log" % (base, i), "ab")
    p = subprocess.Popen([BIN, "--id", str(i), "--data-dir", d, "--listen", "127.0.0.1:%d" % cport(i),
                          "--peer-listen", "127.0.0.1:%d" % (23200 + i), "--peers", PEERS,
                          "--tick-ms", "50", *extra], stdout=log, stderr=log)
    procs[i] = p
    with open("%s/pids" % base, "a") as f:
        f.write("%d\n" % p.pid)
    return p


def wait_up(i, timeout=20):
    t = time.time() + timeout
    while time.time() < t:
        try:
            c = Conn("127.0.0.1", cport(i), timeout=2)
            r = c.cmd("PING")
            c.close()
            if r[0] == "simple":
                return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


def kill(i, sig=signal.SIGKILL):
    p = procs.get(i)
    if p and p.poll() is None:
        p.send_signal(sig)
        p.wait()


def stop_all():
    for i in list(procs):
        kill(i, signal.SIGTERM)


def leader(via=None):
    for i in ([via] if via else [1, 2, 3]):
        try:
            c = Conn("127.0.0.1", cport(i), timeout=2)
            r = c.cmd("SNOWFLK", "LEADER")
            c.close()
            if r[0] == "arr" and r[1] and r[1][0][0] == "int":
                return r[1][0][1]
        except Exception:
            pass
    return None


def wait_leader(timeout=20):
    t = time.time() + timeout
    while time.time() < t:
        l = leader()
        if l:
            return l
        time.sleep(0.1)
    return None


def transfer(to, via=None):
    try:
        c = Conn("127.0.0.1", cport(via or to), timeout=10)
        r = c.cmd("SNOWFLK", "TRANSFER-LEADER", str(to))
        c.close()
        return r
    except Exception as e:
        return ("exc", str(e))
