import sys, time
from resp import Conn, Err
port=int(sys.argv[1]); mb=float(sys.argv[2]); key=sys.argv[3] if len(sys.argv)>3 else "big"
v=b"x"*int(mb*1024*1024)
c=Conn(port, timeout=60)
t=time.time(); r=c.cmd("SET",key,v); print("SET",mb,"MiB via",port,"->",r, "%.1fs"%(time.time()-t))
for p in (7601,7602,7603):
    try: print(" ",p,"STRLEN",Conn(p,timeout=30).cmd("STRLEN",key))
    except Exception as e: print(" ",p,e)
