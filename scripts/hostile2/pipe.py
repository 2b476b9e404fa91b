# Pipeline equivalence: same random command script sent (a) one by one and (b) pipelined,
# to leader and followers, on disjoint key prefixes; replies must be identical.
import random, sys
from resp import Conn, Err
seed=int(sys.argv[1]) if len(sys.argv)>1 else 1
N=int(sys.argv[2]) if len(sys.argv)>2 else 2000
rnd=random.Random(seed)
def gen(n):
    cmds=[]; inmulti=False
    for i in range(n):
        k="k%d"%rnd.randrange(8)
        r=rnd.random()
        if r<0.12: c=("SET",k,str(rnd.randrange(5)))
        elif r<0.2: c=("SET",k,"abc")
        elif r<0.35: c=("INCR",k)
        elif r<0.42: c=("APPEND",k,"x")
        elif r<0.5: c=("GET",k)
        elif r<0.55: c=("CAS",k,str(rnd.randrange(5)),str(rnd.randrange(5)))
        elif r<0.6: c=("DEL",k)
        elif r<0.63: c=("MGET",k,"k1","k2")
        elif r<0.66: c=("INCRBY",k,"notanumber")
        elif r<0.69: c=("SET",k,"v","NX")
        elif r<0.71: c=("GETDEL",k)
        elif r<0.73: c=("EXISTS",k)
        elif r<0.76: c=("MULTI",) if not inmulti else ("EXEC",); 
        elif r<0.77: c=("DISCARD",)
        elif r<0.78: c=("EXEC",)
        elif r<0.79: c=("BOGUS",k)
        elif r<0.80: c=("SET",k)
        elif r<0.82: c=("STRLEN",k)
        elif r<0.84: c=("DECRBY",k,"3")
        elif r<0.86: c=("MSET",k,"1","k7","2")
        elif r<0.88: c=("PING",)
        elif r<0.9: c=("SCAN","0") if not inmulti else ("GET",k)
        elif r<0.92: c=("INCR",k)
        else: c=("SET",k,str(rnd.randrange(100)))
        if c[0]=="MULTI": inmulti=True
        if c[0] in("EXEC","DISCARD"): inmulti=False
        cmds.append(c)
    if inmulti: cmds.append(("EXEC",))
    return cmds
base=gen(N)
def pref(cmds,p):
    out=[]
    for c in cmds:
        if c[0] in ("SET","INCR","APPEND","GET","CAS","DEL","INCRBY","GETDEL","EXISTS","STRLEN","DECRBY"):
            c=(c[0],p+c[1])+c[2:]
        elif c[0]=="MGET": c=("MGET",)+tuple(p+x for x in c[1:])
        elif c[0]=="MSET": c=("MSET",p+c[1],c[2],p+c[3],c[4])
        elif c[0]=="SCAN": c=("SCAN","0","MATCH",p+"*","COUNT","1000")
        out.append(c)
    return out
def norm(r,p):
    if isinstance(r,Err): return "ERR:"+str(r).split(" ")[0]+("" if "not leader" in str(r) else str(r))
    if isinstance(r,list):
        if len(r)==2 and isinstance(r[1],list) and r[0]==b"0":  # scan
            return sorted(x.decode().replace(p,"",1) for x in r[1])
        return [norm(x,p) for x in r]
    return r
L=Conn(7601).cmd("SNOWFLK","LEADER")[0]
print("leader",L)
res={}
for port in (7601,7602,7603):
    p1="s%d_%d_"%(seed,port); p2="p%d_%d_"%(seed,port)
    c=Conn(port)
    seq=[norm(c.cmd(*x),p1) for x in pref(base,p1)]
    c.close(); c=Conn(port)
    pip=[norm(x,p2) for x in c.pipe(pref(base,p2))]
    bad=[i for i in range(len(base)) if seq[i]!=pip[i]]
    print(port,"replies",len(seq),len(pip),"mismatches",len(bad))
    for i in bad[:10]: print("  ",i,base[i],"seq=",seq[i],"pipe=",pip[i])
    res[port]=(seq,pip)
a=res[7601][0]
for port in (7602,7603):
    d=[i for i in range(len(base)) if res[port][0][i]!=a[i]]
    print("seq 7601 vs",port,"mismatch",len(d))
    for i in d[:5]: print("  ",i,base[i],a[i],res[port][0][i])
