import socket, time, sys, os
def rss(pid):
    for l in open("/proc/%d/status"%pid):
        if l.startswith("VmRSS"): return l.split()[1]+"kB"
def probe(port, payload, wait=0.5):
    s=socket.create_connection(("127.0.0.1",port),timeout=3)
    s.sendall(payload); time.sleep(wait)
    try: d=s.recv(4096)
    except Exception as e: d=repr(e).encode()
    s.close(); return d
port=int(sys.argv[1]); pid=int(sys.argv[2])
cases=[b"*1\r\n$999999999999\r\n", b"*99999999999\r\n", b"*2\r\n$-5\r\nab\r\n", b"*-3\r\n", b"*1\r\n$3\r\nabcd\r\n",
 b"SET \"abc x\r\n", b"*1\r\n$18446744073709551616\r\n", b"*1\r\n:5\r\n", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870000\r\nxx",
 b"\x00\xff\xfe"*100+b"\r\n", b"*1\r\n*1\r\n$4\r\nPING\r\n", b"*0\r\n*1\r\n$4\r\nPING\r\n", b"  \r\n*1\r\n$4\r\nPING\r\n",
 b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", b"*1\r\n$+3\r\nfoo\r\n", b"*1\r\n$ 3\r\nfoo\r\n", b"*1\r\n$3\nfoo\r\n", b"*1048577\r\n"]
for p in cases:
    print(repr(p[:50]), "->", probe(port,p)[:120])
print("rss", rss(pid))
# inline line without newline: 100 MiB
s=socket.create_connection(("127.0.0.1",port),timeout=5)
try:
    for i in range(100): s.sendall(b"A"*(1<<20))
    print("100MiB inline no newline: sent; rss", rss(pid))
    print(" reply", s.recv(200))
except Exception as e: print("inline", e, "rss", rss(pid))
s.close()
# many slow-loris connections declaring huge bulks
conns=[]
for i in range(200):
    s=socket.create_connection(("127.0.0.1",port),timeout=5)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$2\r\nkk\r\n$536870000\r\n"+b"x"*1000)
    conns.append(s)
time.sleep(1); print("200 conns declaring 512MiB bulks: rss", rss(pid))
from resp import Conn
print("other client PING:", Conn(port,timeout=5).cmd("PING"))
for s in conns: s.close()
time.sleep(0.5); print("rss after close", rss(pid))
