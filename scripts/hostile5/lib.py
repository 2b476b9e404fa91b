import subprocess, time, os, signal, threading, redis, shutil, sys
B="/work/target-hostile4/release/snowflk-server"
FL=["--tick-ms","10","--heartbeat-ticks","5","--election-ticks","50","--snapshot-entries","200","--snapshot-trailing-entries","50"]
class Cl:
    def __init__(s,D,base,init=(1,2,3)):
        s.D=D; s.base=base; s.P={}; s.init=init
        shutil.rmtree(D,True); os.makedirs(D)
        s.peers=",".join(f"{i}=127.0.0.1:{s.pp(i)}" for i in init)
        import atexit; atexit.register(s.killall)
        s.acked={}; s.failed=[]; s.unknown=[]; s.stop=False; s.lock=threading.Lock(); s.ths=[]
    def cp(s,i): return s.base+i
    def pp(s,i): return s.base+50+i
    def start(s,i,join=None):
        a=[B,"--id",str(i),"--listen",f"127.0.0.1:{s.cp(i)}","--peer-listen",f"127.0.0.1:{s.pp(i)}","--data-dir",f"{s.D}/n{i}"]+FL
        if join: a+=["--join",f"127.0.0.1:{s.cp(join)}"]
        elif i in s.init: a+=["--peers",s.peers]
        s.P[i]=subprocess.Popen(a,stderr=open(f"{s.D}/log{i}","a"),stdout=subprocess.DEVNULL)
    def c(s,i,t=8): return redis.Redis(port=s.cp(i),socket_timeout=t,decode_responses=True)
    def cmd(s,i,*a,t=8):
        try: return s.c(i,t).execute_command(*a)
        except Exception as e: return f"EXC {type(e).__name__} {e}"
    def kill(s,i,sig=9):
        p=s.P.get(i)
        if p: p.send_signal(sig)
        if sig==9 and p: p.wait(); del s.P[i]
    def leader(s,live=None):
        for i in list(live or s.P):
            r=s.cmd(i,"SNOWFLK","LEADER",t=1)
            if isinstance(r,list) and r: return int(r[0])
    def writer(s,t,live):
        n=0
        while not s.stop:
            n+=1; k=f"w{t}_{n}"
            l=s.leader(live())
            if l is None or l not in s.P: time.sleep(0.05); continue
            try: s.c(l,5).set(k,str(n)); s.acked[k]=str(n)
            except redis.exceptions.ResponseError as e:
                st=str(e)
                (s.unknown if st.startswith("TIMEOUT") else s.failed).append((k,st))
            except Exception as e: s.unknown.append((k,str(e)))
    def start_writers(s,n=3,live=None):
        s.stop=False
        live=live or (lambda: list(s.P))
        s.ths=[threading.Thread(target=s.writer,args=(t,live),daemon=True) for t in range(n)]; [t.start() for t in s.ths]
    def stop_writers(s):
        s.stop=True; [t.join() for t in s.ths]
    def verify(s,nodes):
        "make each node leader in turn; MGET all acked keys; check failed keys absent; compare MEMBERS, DBSIZE"
        out={}; ok=True
        keys=list(s.acked)
        for i in nodes:
            for _ in range(40):
                l=s.leader(nodes)
                if l==i: break
                if l: s.cmd(l,"SNOWFLK","TRANSFER-LEADER",str(i))
                time.sleep(0.3)
            if s.leader(nodes)!=i: print("VERIFY: could not make",i,"leader"); ok=False; continue
            r=s.c(i,20); lost=[]
            for j in range(0,len(keys),500):
                ks=keys[j:j+500]; vs=r.mget(ks)
                lost+=[k for k,v in zip(ks,vs) if v!=s.acked[k]]
            fk=[k for k,_ in s.failed]; fp=[]
            for j in range(0,len(fk),500):
                ks=fk[j:j+500]; fp+=[k for k,v in zip(ks,r.mget(ks)) if v is not None]
            uk=[k for k,_ in s.unknown]; up=sum(1 for j in range(0,len(uk),500) for v in r.mget(uk[j:j+500]) if v is not None) if uk else 0
            dbs=r.dbsize()
            out[i]=dict(lost=len(lost),failed_present=len(fp),unknown_present=up,dbsize=dbs)
            if lost or fp: ok=False; print("VERIFY node",i,"lost",lost[:5],"failed_present",fp[:5],[x for x in s.failed if x[0] in fp[:5]])
        mem={i:s.cmd(i,"SNOWFLK","MEMBERS") for i in nodes}
        def norm(m):
            try: return sorted((x["id"],x["addr"],x["role"]) for x in m)
            except Exception: return str(m)
        nm={i:str(norm(m)) for i,m in mem.items()}
        if len(set(nm.values()))!=1: ok=False; print("VERIFY MEMBERS differ",mem)
        print("failed samples",s.failed[:3],"unknown samples",s.unknown[:3])
        print(f"VERIFY acked={len(s.acked)} failed={len(s.failed)} unknown={len(s.unknown)} per-node={out} ok={ok}")
        print("members",mem[nodes[0]])
        return ok
    def killall(s):
        for i in list(s.P):
            try: s.P[i].send_signal(signal.SIGCONT)
            except Exception: pass
            s.kill(i)
