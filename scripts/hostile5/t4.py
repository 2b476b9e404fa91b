# leader removes itself while SIGSTOPped; and kill another voter during a removal
import time, signal, threading
from lib import *
C=Cl("/tmp/h5t4",27600)
for i in (1,2,3): C.start(i)
time.sleep(3); C.start_writers(3)
def promote(n):
    for _ in range(60):
        r=C.cmd(C.leader() or 1,"SNOWFLK","PROMOTE",str(n))
        if r is True or r=="OK": return r
        time.sleep(0.3)
    return r
def async_cmd(i,*a):
    res={}; th=threading.Thread(target=lambda: res.setdefault("r",C.cmd(i,*a,t=15))); th.start(); return th,res
nid=3
for rd in range(3):
    nid+=1; C.start(nid,join=C.leader()); print("promote",nid,promote(nid)); time.sleep(0.5)
    l=C.leader(); th,res=async_cmd(l,"SNOWFLK","REMOVE-NODE",str(l)); time.sleep(0.003)
    C.P[l].send_signal(signal.SIGSTOP); time.sleep(2); C.P[l].send_signal(signal.SIGCONT); th.join()
    print(f"round {rd}: leader {l} REMOVE-NODE self, SIGSTOP 2s -> {res.get('r')}"); time.sleep(1.5)
    m=C.cmd(C.leader([i for i in C.P if i!=l]),"SNOWFLK","MEMBERS"); ids=[x["id"] for x in m]; print("  ids",ids)
    if l in ids: print("  retry",C.cmd(C.leader(),"SNOWFLK","REMOVE-NODE",str(l),t=15)); time.sleep(1)
    C.kill(l)
# remove X while killing Y (4 voters)
nid+=1; C.start(nid,join=min(C.P)); print("promote",nid,promote(nid)); time.sleep(0.5)
l=C.leader(); others=[i for i in C.P if i!=l]; x,y=others[0],others[1]
th,res=async_cmd(l,"SNOWFLK","REMOVE-NODE",str(x)); time.sleep(0.002); C.kill(y); th.join()
print(f"REMOVE-NODE {x} while SIGKILL {y} -> {res.get('r')}"); time.sleep(1)
C.kill(x); C.start(y, join=None) if y<=3 else C.start(y, join=C.leader()); time.sleep(3)
C.stop_writers(); time.sleep(1)
m=C.cmd(C.leader(),"SNOWFLK","MEMBERS"); ids=[x["id"] for x in m]; print("final ids",ids,"running",list(C.P))
ok=C.verify(ids); C.killall(); print("T4","PASS" if ok else "FAIL")
