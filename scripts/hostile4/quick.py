import subprocess, time, os, signal, threading, redis, shutil, sys
B="/work/target-hostile4/release/snowflk-server"; D="/tmp/h4"; shutil.rmtree(D,True); os.makedirs(D)
BASE=27100; P={}
def cp(i): return BASE+i
def pp(i): return BASE+50+i
FL=["--tick-ms","10","--heartbeat-ticks","5","--election-ticks","50","--snapshot-entries","200","--snapshot-trailing-entries","50"]
peers=",".join(f"{i}=127.0.0.1:{pp(i)}" for i in (1,2,3))
def start(i,join=None):
    a=[B,"--id",str(i),"--listen",f"127.0.0.1:{cp(i)}","--peer-listen",f"127.0.0.1:{pp(i)}","--data-dir",f"{D}/n{i}"]+FL
    a+= ["--join",f"127.0.0.1:{join}"] if join else (["--peers",peers] if i<=3 else [])
    P[i]=subprocess.Popen(a,stderr=open(f"{D}/log{i}","a"),stdout=subprocess.DEVNULL)
def c(i): return redis.Redis(port=cp(i),socket_timeout=8,decode_responses=True)
def cmd(i,*a):
    try: return c(i).execute_command(*a)
    except Exception as e: return f"EXC {e}"
def leader():
    for i in list(P):
        r=cmd(i,"SNOWFLK","LEADER")
        if isinstance(r,list) and r: return int(r[0])
acked={}; failed=[]; unknown=[]; stop=False
def writer(t):
    n=0
    while not stop:
        n+=1; k=f"k{t}_{n}"
        l=leader()
        if l is None or l not in P: time.sleep(0.05); continue
        try: c(l).set(k,str(n)); acked[k]=str(n)
        except Exception as e:
            s=str(e)
            (unknown if s.startswith("TIMEOUT") or "Timeout" in s or "Connection" in s or "closed" in s else failed).append((k,s))
for i in (1,2,3): start(i)
time.sleep(3); print("leader",leader())
ths=[threading.Thread(target=writer,args=(t,)) for t in range(3)]; [t.start() for t in ths]
time.sleep(3)
start(4,join=cp(1)); time.sleep(0.5)
print("kill joiner mid-catchup"); P[4].send_signal(9); P[4].wait(); start(4); time.sleep(3)
print("members",cmd(1,"SNOWFLK","MEMBERS"))
print("bad promote 9",cmd(1,"SNOWFLK","PROMOTE","9"),"promote voter 1",cmd(1,"SNOWFLK","PROMOTE","1"))
print("add existing",cmd(1,"SNOWFLK","ADD-NODE","2","127.0.0.1:1"),"bad addr",cmd(1,"SNOWFLK","ADD-NODE","7","garbage"))
for _ in range(20):
    r=cmd(1,"SNOWFLK","PROMOTE","4"); print("promote4",r)
    if r=="OK" or r is True: break
    time.sleep(0.5)
l=leader(); print("remove leader",l,cmd(l,"SNOWFLK","REMOVE-NODE",str(l))); time.sleep(2)
print("new leader",leader())
l2=leader(); print("SIGKILL leader",l2); P[l2].send_signal(9); P[l2].wait(); time.sleep(3); start(l2); time.sleep(3)
lr=[leader() for _ in range(10) if not time.sleep(0.3)]; print("leaders while removed node",l,"still runs:",lr)
stop=True; [t.join() for t in ths]; time.sleep(2)
rem=[i for i in P if i!=l]; print("members final",cmd(rem[0],"SNOWFLK","MEMBERS"))
L=leader(); r=c(L); lost=[k for k,v in acked.items() if r.get(k)!=v]
bad=[k for k,s in failed if r.get(k) is not None]
print(f"acked={len(acked)} failed={len(failed)} unknown={len(unknown)} lost={len(lost)} failed_but_present={len(bad)}",lost[:5],bad[:5],failed[:3])
# restart all
for i in list(P): P[i].send_signal(9); P[i].wait()
for i in rem: start(i, None)
time.sleep(5); L=leader(); print("after full restart leader",L,"members",cmd(L,"SNOWFLK","MEMBERS") if L else None)
if L: r=c(L); print("lost after restart",sum(1 for k,v in acked.items() if r.get(k)!=v))
for i in list(P): P[i].send_signal(9)
