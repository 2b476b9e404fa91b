import socket, sys, time, resource
from resp import Conn
resource.setrlimit(resource.RLIMIT_NOFILE,(20000,20000))
port=int(sys.argv[1]); n=int(sys.argv[2])
ss=[]; fails=0
for i in range(n):
    try:
        s=socket.create_connection(("127.0.0.1",port),timeout=5); ss.append(s)
    except Exception as e: fails+=1
print("opened",len(ss),"fails",fails)
for s in ss: s.sendall(b"*1\r\n$4\r\nPING\r\n")
ok=0; other={}
for s in ss:
    try:
        d=s.recv(100)
        if d==b"+PONG\r\n": ok+=1
        else: other[d[:80]]=other.get(d[:80],0)+1
    except Exception as e: other[repr(e)[:40]]=other.get(repr(e)[:40],0)+1
print("PONG",ok,"other",other)
print("fresh client SET:",Conn(port).cmd("SET","mc","1"))
for s in ss: s.close()
