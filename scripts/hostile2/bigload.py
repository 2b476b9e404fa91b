# sustained large writes: count outcomes and leader changes
import threading, time, sys, collections, subprocess
from resp import Conn, Err
mb=int(sys.argv[1]); nc=int(sys.argv[2]); dur=float(sys.argv[3])
res=collections.Counter(); stop=False; lat=[]
def w(j):
    c=None; v=b"L"*(mb<<20); i=0
    while not stop:
        try:
            if c is None:
                L=Conn(7601).cmd("SNOWFLK","LEADER"); c=Conn(7600+(L[0] if L else 1),timeout=30)
            t=time.time(); r=c.cmd("SET","bl_%d_%d"%(j,i%4),v); lat.append(time.time()-t); i+=1
            res[str(r)[:60]]+=1
        except Exception as e: res["exc "+type(e).__name__]+=1; c=None; time.sleep(0.1)
def lc(): return int(subprocess.run("cat /tmp/hostile2/c/n*.log | grep -c 'role=leader'",shell=True,capture_output=True,text=True).stdout)
l0=lc()
ts=[threading.Thread(target=w,args=(j,)) for j in range(nc)]
for t in ts: t.start()
time.sleep(dur); stop=True
for t in ts: t.join()
print(mb,"MiB x",nc,"clients",dur,"s:",dict(res),"new leaders elected:",lc()-l0,"max latency %.1fs"%max(lat or [0]))
