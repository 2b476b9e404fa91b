# CAS-counter linearizability: clients GET v then CAS k v v+1 on shared keys via random nodes.
# Checks: (1) no two acknowledged CAS:1 with the same expected value; (2) a GET started after
# an acknowledged CAS v->v+1 completed returns >= v+1 (and after any GET returning x, later GETs >= x);
# (3) final value == #acked CAS:1 + (some subset of TIMEOUT/conn-lost CAS).
import threading, random, time, sys, collections
from resp import Conn, Err
PORTS=[7601,7602,7603]
DUR=float(sys.argv[1]) if len(sys.argv)>1 else 30
NW=int(sys.argv[2]) if len(sys.argv)>2 else 6
TAG=sys.argv[3] if len(sys.argv)>3 else "lin"
KEYS=["%s_%d"%(TAG,i) for i in range(2)]
lock=threading.Lock(); hist=[]; stats=collections.Counter(); errs=collections.Counter()
stop=False
def now(): return time.monotonic()
def worker(i):
    c=None; rnd=random.Random(i)
    while not stop:
        k=rnd.choice(KEYS)
        try:
            if c is None: c=Conn(rnd.choice(PORTS), timeout=20)
            t0=now(); r=c.cmd("GET",k); t1=now()
            if isinstance(r,Err):
                with lock: errs[str(r)[:50]]+=1
                continue
            v=int(r or 0)
            with lock: hist.append(("get",k,t0,t1,v))
            if v==0 and r is None:
                t0=now(); r=c.cmd("SET",k,"0","NX"); continue
            t0=now(); r=c.cmd("CAS",k,str(v),str(v+1)); t1=now()
            with lock:
                if isinstance(r,Err):
                    m=str(r); errs[m[:50]]+=1
                    stats["cas_timeout" if m.startswith("TIMEOUT") else "cas_err"]+=1
                elif r==1: hist.append(("cas",k,t0,t1,v)); stats["cas1"]+=1
                else: stats["cas0"]+=1
        except Exception as e:
            with lock: stats["connlost"]+=1; errs["conn:"+type(e).__name__]+=1
            c=None; time.sleep(0.05)
ts=[threading.Thread(target=worker,args=(i,)) for i in range(NW)]
for t in ts: t.start()
time.sleep(DUR); stop=True
for t in ts: t.join()
time.sleep(2)
viol=0
for k in KEYS:
    cas=[h for h in hist if h[0]=="cas" and h[1]==k]
    c=collections.Counter(h[4] for h in cas)
    dup=[v for v,n in c.items() if n>1]
    if dup: viol+=1; print(k,"DUPLICATE acked CAS expected values",dup[:10])
    # real-time: events sorted by completion; lower bound of value known at time t
    evs=sorted([(h[3],h[4]+1 if h[0]=="cas" else h[4]) for h in hist if h[1]==k])
    gets=[h for h in hist if h[0]=="get" and h[1]==k]
    import bisect
    ends=[e[0] for e in evs]; mx=[]; m=-1
    for e in evs: m=max(m,e[1]); mx.append(m)
    stale=0
    for g in gets:
        j=bisect.bisect_left(ends,g[2])-1
        if j>=0 and g[4]<mx[j]:
            stale+=1
            if stale<=5: print(k,"STALE GET started %.4f returned %d but %d was known by %.4f"%(g[2],g[4],mx[j],ends[j]))
    if stale: viol+=1
    fin=int(Conn(PORTS[0]).cmd("GET",k) or 0)
    print(k,"final",fin,"acked cas1",len(cas),"gets",len(gets))
print(dict(stats)); print(dict(errs)); print("VIOLATIONS" if viol else "OK")
