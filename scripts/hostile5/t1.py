# membership change under SIGKILL of removed node / SIGSTOP of leader, with writers
import sys, time, threading, random, signal
from lib import *
C=Cl("/tmp/h5t1",27300)
for i in (1,2,3): C.start(i)
time.sleep(3); print("leader",C.leader())
C.start_writers(3)
nid=3; log=[]
def add_promote(nid, stop_leader=None):
    C.start(nid,join=1)
    for _ in range(60):
        r=C.cmd(C.leader() or 1,"SNOWFLK","PROMOTE",str(nid))
        if r is True or r=="OK": return True
        time.sleep(0.3)
    print("promote failed",nid,r); return False
def async_cmd(i,*a):
    res={}
    th=threading.Thread(target=lambda: res.setdefault("r",C.cmd(i,*a,t=15))); th.start(); return th,res
rounds=int(sys.argv[1]) if len(sys.argv)>1 else 4
for rd in range(rounds):
    nid+=1
    add_promote(nid)
    time.sleep(0.5)
    # variant: sometimes make the victim the leader first
    if rd%2==1:
        l=C.leader(); print("transfer to victim",nid,C.cmd(l,"SNOWFLK","TRANSFER-LEADER",str(nid))); time.sleep(0.5)
    l=C.leader(); d=random.choice([0,0.002,0.01,0.03,0.1])
    th,res=async_cmd(l,"SNOWFLK","REMOVE-NODE",str(nid))
    time.sleep(d); C.kill(nid); th.join()
    print(f"round {rd}: REMOVE-NODE {nid} via leader {l}, SIGKILL after {d}s -> {res.get('r')}")
    time.sleep(1)
    m=C.cmd(C.leader() or 1,"SNOWFLK","MEMBERS"); print("  members",m)
    ids=[x["id"] for x in m] if isinstance(m,list) else []
    if nid in ids or str(nid) in ids:
        print("  victim still member; retry remove", C.cmd(C.leader(),"SNOWFLK","REMOVE-NODE",str(nid),t=15))
# SIGSTOP leader during membership commands
for op in ("ADD","PROMOTE","REMOVE"):
    if op=="ADD":
        nid+=1; C.start(nid,join=1); time.sleep(0.05)  # join's ADD-NODE in flight
        l=C.leader(); C.P[l].send_signal(signal.SIGSTOP); time.sleep(2); C.P[l].send_signal(signal.SIGCONT)
        print("SIGSTOP leader",l,"during join ADD-NODE of",nid); time.sleep(2)
    elif op=="PROMOTE":
        l=C.leader(); th,res=async_cmd(l,"SNOWFLK","PROMOTE",str(nid)); time.sleep(0.005)
        C.P[l].send_signal(signal.SIGSTOP); time.sleep(2); C.P[l].send_signal(signal.SIGCONT); th.join()
        print("SIGSTOP leader",l,"during PROMOTE",nid,"->",res.get("r")); time.sleep(2)
        if res.get("r") not in (True,"OK"): print("  retry promote",C.cmd(C.leader(),"SNOWFLK","PROMOTE",str(nid),t=15))
    else:
        l=C.leader(); th,res=async_cmd(l,"SNOWFLK","REMOVE-NODE",str(nid)); time.sleep(0.005)
        C.P[l].send_signal(signal.SIGSTOP); time.sleep(2); C.P[l].send_signal(signal.SIGCONT); th.join()
        print("SIGSTOP leader",l,"during REMOVE-NODE",nid,"->",res.get("r")); time.sleep(2)
    print("  members",C.cmd(C.leader() or 1,"SNOWFLK","MEMBERS"))
time.sleep(1)
C.stop_writers(); time.sleep(1)
m=C.cmd(C.leader(),"SNOWFLK","MEMBERS"); ids=[int(x["id"]) for x in m]
print("final member ids",ids, "running",list(C.P))
for i in list(C.P):
    if i not in ids: C.kill(i)
ok=C.verify(ids)
C.killall(); print("T1", "PASS" if ok else "FAIL")
