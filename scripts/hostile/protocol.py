#!/usr/bin/env python3
"""Claim 5: malformed RESP, limits, connection floods, garbage on the peer port.
Runs against an already running node (client port CPORT, peer port PPORT).
After every attack a fresh client must still get PONG, and a client that was
connected before the attacks must still work.
usage: protocol.py CPORT PPORT
"""
import os, socket, struct, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from resp import Conn, Err

CPORT, PPORT = int(sys.argv[1]), int(sys.argv[2])
bad = 0
bystander = Conn(CPORT)
assert bystander.cmd("SET", "by", "1") == "OK"


def alive(what):
    global bad
    try:
        c = Conn(CPORT, 5)
        r = c.cmd("PING")
        c.close()
        b = bystander.cmd("GET", "by")
        if r != "PONG" or b != b"1":
            bad += 1; print("VIOLATION after %s: ping %r bystander %r" % (what, r, b))
    except Exception as e:
        bad += 1; print("VIOLATION after %s: node unreachable: %s" % (what, e))


def raw(data, what, expect_close=True, wait=3.0):
    s = socket.create_connection(("127.0.0.1", CPORT), timeout=wait)
    try:
        s.sendall(data)
    except OSError:
        pass
    out = b""
    closed = False
    end = time.time() + wait
    try:
        while time.time() < end:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            out += d
    except socket.timeout:
        pass
    except OSError:
        closed = True
    s.close()
    print("%-40s -> %r%s" % (what, out[:120], " [closed]" if closed else " [open]"))
    if expect_close and not closed:
        global bad
        bad += 1; print("VIOLATION: %s: connection not closed" % what)
    alive(what)
    return out


raw(b"*1\r\n$-5\r\n", "negative bulk length")
raw(b"*-2\r\n", "negative array length", expect_close=False, wait=1)
raw(b"*1\r\n$99999999999999999999999\r\n", "huge bulk length (overflow)")
raw(b"*1\r\n$9223372036854775807\r\n", "bulk len i64::MAX")
raw(b"*9223372036854775807\r\n", "array len i64::MAX")
raw(b"*2000000\r\n", "array len > max-args")
raw(b"*1\r\n$536870913\r\n", "bulk len > max-value-size")
raw(b"*1\r\n$3\r\nabcXY", "missing CRLF after bulk")
raw(b"*1\r\n+PING\r\n", "simple string inside array")
raw(b"*1\r\n*1\r\n$4\r\nPING\r\n", "nested array")
raw(b"*abc\r\n", "non-numeric count")
raw(b"*1\r\n$4\r\nPI\x00G\r\n", "NUL in command", expect_close=False, wait=1)
raw(b"PING \"unbalanced\r\n", "inline unbalanced quote")
raw(b"SET a \"b\"c\r\n", "inline quote followed by char")
raw(b"x" * (1 << 20), "1 MiB inline line with no CRLF", wait=5)
raw(b"\r\n" * 1000 + b"PING\r\n", "empty inline lines", expect_close=False, wait=1)
raw(b"*0\r\n*1\r\n$4\r\nPING\r\n", "empty array then PING", expect_close=False, wait=1)
raw(b"*1\r\n$4\r\nPING\r\n" * 100000, "100k pipelined PINGs", expect_close=False, wait=5)
# oversized key in a well-formed request: error and connection kept
c = Conn(CPORT, 20)
r = c.cmd("SET", "k" * 70000, "v"); print("oversized key ->", r)
if not (isinstance(r, Err) and "limit" in r.args[0]):
    bad += 1; print("VIOLATION oversized key reply", r)
r = c.cmd("PING"); print("  same connection ->", r)
if r != "PONG": bad += 1; print("VIOLATION: connection unusable after oversized key")
# APPEND growing past the value limit
r = c.cmd("GET", "k" * 65534); print("max-size key GET ->", r)
r = c.cmd("SET", "k" * 65534, "v"); print("max-size key SET ->", r)
if r != "OK": bad += 1; print("VIOLATION: key at the documented limit refused", r)
r = c.cmd("MGET", *(["a"] * 100000)); print("MGET 100k keys ->", type(r), len(r) if isinstance(r, list) else r)
# 30 MB value
big = b"x" * (30 << 20)
r = c.cmd("SET", "bigv", big); print("30MB SET ->", r)
r = c.cmd("STRLEN", "bigv"); print("30MB STRLEN ->", r)
c.close()
alive("big values")
# many connections
socks = []
try:
    for i in range(3000):
        socks.append(socket.create_connection(("127.0.0.1", CPORT), timeout=5))
except OSError as e:
    print("opened", len(socks), "connections then", e)
print("opened", len(socks), "idle connections")
alive("3000 idle connections")
for s in socks: s.close()
# peer port garbage
def peer(data, what, wait=2):
    s = socket.create_connection(("127.0.0.1", PPORT), timeout=wait)
    try:
        s.sendall(data)
        end = time.time() + wait
        out = b""
        while time.time() < end:
            d = s.recv(4096)
            if not d: break
            out += d
    except OSError:
        out = b"<err>"
    s.close()
    print("peer %-34s -> %r" % (what, out[:80]))
    alive("peer " + what)
peer(b"GET / HTTP/1.1\r\n\r\n", "HTTP request")
peer(struct.pack("<I", 0xFFFFFFFF) + b"x" * 100, "huge length prefix")
peer(struct.pack("<I", 64 << 20) + b"x" * 100, "64MiB length prefix, short")
peer(struct.pack("<I", 0), "zero length frame")
peer(struct.pack("<I", 20) + os.urandom(20), "random 20B frame")
peer(os.urandom(5000), "5000 random bytes")
ps = []
for i in range(200):
    try: ps.append(socket.create_connection(("127.0.0.1", PPORT), timeout=2))
    except OSError: break
print("opened", len(ps), "silent peer connections")
alive("200 silent peer connections")
for s in ps: s.close()
print("RESULT", "FAIL" if bad else "PASS")
