# same id, different address: sequential vs concurrent join
import time, subprocess, sys
from lib import *
C=Cl("/tmp/h5t6",27800)
for i in (1,2,3): C.start(i)
time.sleep(3)
def j(tag,port,via,conc=None):
    a=[B,"--id","4","--listen",f"127.0.0.1:{port}","--peer-listen",f"127.0.0.1:{port+50}","--data-dir",f"/tmp/h5t6/n4{tag}","--join",f"127.0.0.1:{via}"]+FL
    return subprocess.Popen(a,stderr=open(f"/tmp/h5t6/l4{tag}","w"))
pb=j("b",27814,27801); time.sleep(3)
pa=j("a",27804,27802); time.sleep(4); print("sequential: impostor rc",pa.poll(),"(expect non-zero exit)")
if pa.poll() is None: pa.kill(); pa.wait()
print("members",[(x["id"],x["addr"],x["role"]) for x in C.cmd(C.leader(),"SNOWFLK","MEMBERS")])
pb.kill(); pb.wait(); print(C.cmd(C.leader(),"SNOWFLK","REMOVE-NODE","4",t=15))
# concurrent, 3 trials with fresh ids
for t,nid in enumerate((5,6,7)):
    ps=[]
    for k,port in enumerate((27820+10*t, 27825+10*t)):
        a=[B,"--id",str(nid),"--listen",f"127.0.0.1:{port}","--peer-listen",f"127.0.0.1:{port+50}","--data-dir",f"/tmp/h5t6/c{nid}{k}","--join",f"127.0.0.1:{27801+k}"]+FL
        ps.append(subprocess.Popen(a,stderr=open(f"/tmp/h5t6/lc{nid}{k}","w")))
    time.sleep(4); m=[(x["id"],x["addr"]) for x in C.cmd(C.leader(),"SNOWFLK","MEMBERS") if x["id"]==nid]
    print(f"concurrent id {nid}: rcs",[p.poll() for p in ps],"member",m)
    for p in ps:
        if p.poll() is None: p.kill(); p.wait()
C.killall()
