# Counter check: workers INCR one key via random nodes; chaos kills/pauses nodes.
import threading, random, time, sys, subprocess, collections
from resp import Conn, Err
PORTS=[7601,7602,7603]
KEY=sys.argv[1] if len(sys.argv)>1 else "ctr"
DUR=float(sys.argv[2]) if len(sys.argv)>2 else 30
NW=int(sys.argv[3]) if len(sys.argv)>3 else 8
PIPE=int(sys.argv[4]) if len(sys.argv)>4 else 1
stats=collections.Counter(); errs=collections.Counter(); lock=threading.Lock()
stop=False
def worker(i):
    c=None
    while not stop:
        try:
            if c is None: c=Conn(random.choice(PORTS), timeout=20)
            rs=c.pipe([("INCR",KEY)]*PIPE)
            with lock:
                for r in rs:
                    if isinstance(r,Err):
                        m=str(r)
                        if m.startswith("TIMEOUT"): stats["timeout"]+=1
                        else: stats["err"]+=1
                        errs[m[:60]]+=1
                    else: stats["ok"]+=1
        except Exception as e:
            # connection lost with outstanding requests: unknown outcome
            with lock: stats["connlost"]+=PIPE; errs["conn:"+type(e).__name__]+=1
            try: c.close()
            except: pass
            c=None; time.sleep(0.05)
        if PIPE>1 and c is not None and random.random()<0.3:
            try: c.close()
            except: pass
            c=None
ts=[threading.Thread(target=worker,args=(i,)) for i in range(NW)]
for t in ts: t.start()
time.sleep(DUR); stop=True
for t in ts: t.join()
time.sleep(3)
final=None
for p in PORTS:
    try:
        final=Conn(p).cmd("GET",KEY); print("node",p,"GET",final)
    except Exception as e: print("node",p,e)
final=int(final or 0)
print(dict(stats)); print(dict(errs))
lo=stats["ok"]; hi=stats["ok"]+stats["timeout"]+stats["connlost"]
print("final",final,"expected in [%d,%d]"%(lo,hi), "OK" if lo<=final<=hi else "VIOLATION")
