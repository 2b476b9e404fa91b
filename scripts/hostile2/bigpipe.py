import sys, time, threading
from resp import Conn, Err
port=int(sys.argv[1]); n=int(sys.argv[2]); kb=int(sys.argv[3]); tag=sys.argv[4]; nc=int(sys.argv[5]) if len(sys.argv)>5 else 1
res={}
def run(j):
    c=Conn(port, timeout=120); v=b"y"*(kb*1024)
    cmds=[]
    for i in range(n):
        cmds.append(("SET","%s_%d_%d"%(tag,j,i),v))
        if i%100==50: cmds.append(("INCR","%s_%d_0"%(tag,j)))   # data error in middle
    t=time.time(); rs=c.pipe(cmds); res[j]=(rs,time.time()-t)
ts=[threading.Thread(target=run,args=(j,)) for j in range(nc)]
for t in ts: t.start()
for t in ts: t.join()
import collections
for j,(rs,dt) in res.items():
    print("conn",j,"replies",len(rs),collections.Counter(str(r)[:70] for r in rs),"%.1fs"%dt)
for p in (7601,7602,7603):
    c=Conn(p,timeout=60); ks=c.cmd("KEYS",tag+"_*"); print(p,"keys",len(ks))
