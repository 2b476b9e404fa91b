# Client sends GETs of a 4 MiB value as fast as it can and never reads: does the server's memory grow?
import socket, sys, time, threading
from resp import Conn, enc
port=int(sys.argv[1]); pid=int(sys.argv[2]); limit_mb=int(sys.argv[3])
Conn(port,timeout=30).cmd("SET","nr_big",b"r"*(4<<20))
def rss():
    for l in open("/proc/%d/status"%pid):
        if l.startswith("VmRSS"): return int(l.split()[1])//1024
base=rss(); print("rss before",base,"MB")
s=socket.create_connection(("127.0.0.1",port)); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(0.5)
req=enc("GET","nr_big")*1000
sent=0; t=time.time(); peak=base
while time.time()-t<20:
    try: s.send(req); sent+=1000
    except socket.timeout: pass
    r=rss(); peak=max(peak,r)
    if r-base>limit_mb: print("ABORT: rss grew by",r-base,"MB after",sent,"GETs sent (%.1f GB of replies owed)"%(sent*4/1024)); break
print("sent",sent,"GETs; rss now",rss(),"peak",peak,"MB")
print("other client PING:",Conn(port,timeout=5).cmd("PING"))
s.close(); time.sleep(2); print("rss after close",rss())
