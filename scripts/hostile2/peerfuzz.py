import socket, time, sys, os, struct, random
from resp import Conn
pport=int(sys.argv[1]); cport=int(sys.argv[2])
def send(p, wait=0.3):
    try:
        s=socket.create_connection(("127.0.0.1",pport),timeout=2); s.sendall(p); time.sleep(wait)
        try: d=s.recv(200)
        except Exception as e: d=repr(e).encode()
        s.close(); return d
    except Exception as e: return repr(e)
print("huge prefix", send(struct.pack("<I",0xFFFFFFFF)+b"x"*100))
print("64MiB+1 prefix", send(struct.pack("<I",64*1024*1024+1)))
print("exact 64MiB prefix, trickle", send(struct.pack("<I",64*1024*1024)+b"\x01"*1000))
print("zero prefix", send(struct.pack("<I",0)*10))
r=random.Random(1)
for i in range(200): send(bytes(r.randrange(256) for _ in range(r.randrange(1,300))), wait=0.01)
print("200 random garbage sent")
# 100 connections that send 4 bytes header claiming 60MiB then stall (handshake limit 64)
ss=[]
for i in range(100):
    try:
        s=socket.create_connection(("127.0.0.1",pport),timeout=2); s.sendall(struct.pack("<I",60<<20)+b"\x00"*10); ss.append(s)
    except Exception as e: print("conn",i,e); break
time.sleep(1)
print("cluster still serving:", Conn(cport,timeout=10).cmd("SET","peerfuzz","1"), Conn(cport).cmd("GET","peerfuzz"))
time.sleep(2)
print("after 3s, write:", Conn(cport,timeout=10).cmd("INCR","peerfuzz"))
for s in ss: s.close()
