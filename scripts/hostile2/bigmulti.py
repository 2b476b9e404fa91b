import sys, time
from resp import Conn, Err
port=int(sys.argv[1]); mb=int(sys.argv[2]); n=int(sys.argv[3]); tag=sys.argv[4]
c=Conn(port,timeout=60); v=b"z"*(mb<<20)
cmds=[("MULTI",)]+[("SET","%s_%d"%(tag,i),v) for i in range(n)]+[("EXEC",)]
t=time.time(); rs=c.pipe(cmds); print([str(r)[:120] for r in rs], "%.1fs"%(time.time()-t))
time.sleep(1)
for p in (7601,7602,7603):
    try:
        cc=Conn(p,timeout=15); print(p,[cc.cmd("STRLEN","%s_%d"%(tag,i)) for i in range(n)], "SET after:", cc.cmd("SET",tag+"_after","1"))
    except Exception as e: print(p,repr(e))
