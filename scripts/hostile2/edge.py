# one max-size SET while small writes run concurrently; then check the cluster still commits.
import sys, time, threading
from resp import Conn, Err
port=int(sys.argv[1]); tag=sys.argv[2]
LIM=67043328
stop=False; cnt=[0,0]
def small():
    c=Conn(port)
    while not stop:
        rs=c.pipe([("SET",tag+"_s","x"*100)]*20); cnt[0]+=sum(r=="OK" for r in rs); cnt[1]+=sum(r!="OK" for r in rs)
ts=[threading.Thread(target=small) for _ in range(3)]
for t in ts: t.start()
c=Conn(port,timeout=60)
# request size as counted: try largest that is accepted
for size in (LIM-100, LIM-60, LIM-40):
    v=b"q"*size
    t=time.time(); r=c.cmd("SET",tag,v); print("SET value",size,"->",str(r)[:150],"%.1fs"%(time.time()-t))
time.sleep(2); stop=True
for t in ts: t.join()
print("small ok/err",cnt)
for p in (7601,7602,7603):
    cc=Conn(p,timeout=15); print(p,"STRLEN",cc.cmd("STRLEN",tag),"INCR",cc.cmd("INCR",tag+"_ctr"))
