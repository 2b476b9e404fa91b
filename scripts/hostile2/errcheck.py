# Every write creates a unique key, so its effect is observable exactly:
#  OK reply   -> key must exist (no lost ack)      error (not TIMEOUT) -> key must NOT exist
import threading, random, time, sys, collections
from resp import Conn, Err
PORTS=[7601,7602,7603]
DUR=float(sys.argv[1]); NW=int(sys.argv[2]); PIPE=int(sys.argv[3]); TAG=sys.argv[4]
out={}; lock=threading.Lock(); stop=False
def worker(w):
    c=None; rnd=random.Random(w); seq=0
    while not stop:
        ks=[]
        for _ in range(PIPE): seq+=1; ks.append("%s_%d_%d"%(TAG,w,seq))
        cmds=[]
        for k in ks:
            r=rnd.random()
            if r<0.4: cmds.append(("SET",k,"1"))
            elif r<0.6: cmds.append(("INCR",k))
            elif r<0.7: cmds.append(("MSET",k,"1",k+"_m","2"))
            elif r<0.8: cmds.append(("SET",k,"1","NX","EX","100000"))
            elif r<0.9: cmds.append(("MULTI",)); cmds.append(("SET",k,"1")); cmds.append(("EXEC",))
            else: cmds.append(("APPEND",k,"a"))
        try:
            if c is None: c=Conn(rnd.choice(PORTS), timeout=20)
            rs=c.pipe(cmds)
        except Exception as e:
            with lock:
                for k in ks: out[k]=("lost",None)
            c=None; time.sleep(0.05); continue
        i=0; res=[]
        for cm in cmds:
            res.append(rs[i]); i+=1
        # map replies to keys (MULTI takes three replies; the EXEC reply counts)
        j=0
        with lock:
            for k in ks:
                cm=cmds[j]
                if cm[0]=="MULTI":
                    r=res[j+2]; 
                    if isinstance(res[j],Err) or isinstance(res[j+1],Err): r=res[j+1] if isinstance(res[j+1],Err) else res[j]
                    j+=3
                else: r=res[j]; j+=1
                if isinstance(r,Err): out[k]=("timeout" if str(r).startswith("TIMEOUT") else "err",str(r))
                else: out[k]=("ok",r)
        if rnd.random()<0.2:
            c.close(); c=None
ts=[threading.Thread(target=worker,args=(i,)) for i in range(NW)]
for t in ts: t.start()
time.sleep(DUR); stop=True
for t in ts: t.join()
time.sleep(3)
c=Conn(PORTS[0],timeout=30)
for _ in range(20):
    try: c.cmd("GET","x"); break
    except Exception: time.sleep(1); c=Conn(PORTS[0],timeout=30)
keys=list(out); ex={}
for i in range(0,len(keys),500):
    ch=keys[i:i+500]; rs=c.cmd("MGET",*ch)
    for k,v in zip(ch,rs): ex[k]=v is not None
cat=collections.Counter(v[0] for v in out.values()); print(dict(cat))
lost=[k for k in keys if out[k][0]=="ok" and not ex[k]]
bad=[k for k in keys if out[k][0]=="err" and ex[k]]
errs=collections.Counter(out[k][1][:60] for k in keys if out[k][0]=="err"); print(dict(errs))
print("LOST ACKED WRITES:",len(lost),lost[:5],[out[k] for k in lost[:5]])
print("ERROR REPLY BUT APPLIED:",len(bad),[(k,out[k][1]) for k in bad[:5]])
print("timeout/lost applied:",sum(ex[k] for k in keys if out[k][0] in("timeout","lost")),"of",sum(1 for k in keys if out[k][0] in("timeout","lost")))
