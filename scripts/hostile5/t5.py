# two joiners race for the same id at different addresses; concurrent PROMOTE+REMOVE
import time, subprocess, threading
from lib import *
C=Cl("/tmp/h5t5",27700)
for i in (1,2,3): C.start(i)
time.sleep(3); C.start_writers(2)
a=[B,"--id","4","--listen","127.0.0.1:27704","--peer-listen","127.0.0.1:27754","--data-dir","/tmp/h5t5/n4a","--join","127.0.0.1:27701"]+FL
b=[B,"--id","4","--listen","127.0.0.1:27714","--peer-listen","127.0.0.1:27764","--data-dir","/tmp/h5t5/n4b","--join","127.0.0.1:27702"]+FL
pa=subprocess.Popen(a,stderr=open("/tmp/h5t5/l4a","w")); pb=subprocess.Popen(b,stderr=open("/tmp/h5t5/l4b","w"))
time.sleep(5); print("4a rc",pa.poll(),"4b rc",pb.poll())
print("members",[(x["id"],x["addr"],x["role"]) for x in C.cmd(C.leader(),"SNOWFLK","MEMBERS")])
res={}
def f(n,*x): res[n]=C.cmd(C.leader(),*x,t=15)
ts=[threading.Thread(target=f,args=("promote","SNOWFLK","PROMOTE","4")),threading.Thread(target=f,args=("remove","SNOWFLK","REMOVE-NODE","4"))]
[t.start() for t in ts]; [t.join() for t in ts]; print("concurrent PROMOTE/REMOVE 4:",res)
time.sleep(1); m=C.cmd(C.leader(),"SNOWFLK","MEMBERS"); print("members",[(x["id"],x["addr"],x["role"]) for x in m])
C.stop_writers(); ids=[x["id"] for x in m]
for p in (pa,pb):
    if p.poll() is None: p.kill(); p.wait()
ok=C.verify([i for i in ids if i in (1,2,3)]); C.killall(); print("T5","PASS" if ok else "FAIL")
