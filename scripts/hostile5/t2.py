# PROMOTE of a learner that is far behind (SIGSTOPped)
import time, signal
from lib import *
C=Cl("/tmp/h5t2",27400)
for i in (1,2,3): C.start(i)
time.sleep(3)
C.start(4,join=1); time.sleep(3)
l=C.leader(); print("leader",l,"members",C.cmd(l,"SNOWFLK","MEMBERS"))
C.P[4].send_signal(signal.SIGSTOP); print("SIGSTOP learner 4")
C.start_writers(3, live=lambda:[1,2,3])
res=[]
for k in range(20):
    time.sleep(0.3); r=C.cmd(C.leader([1,2,3]),"SNOWFLK","PROMOTE","4"); res.append(str(r)[:90])
print("promote replies during burst:", sorted(set(res)), "acked so far",len(C.acked))
l=C.leader([1,2,3]); print("members",C.cmd(l,"SNOWFLK","MEMBERS"))
# kill a non-leader voter: if 4 were voter we'd need 3/4 with only 2 alive
v=[i for i in (1,2,3) if i!=l][0]; C.kill(v); print("SIGKILL voter",v)
n0=len(C.acked); time.sleep(4); n1=len(C.acked)
print(f"acked writes in 4s with 2/3 voters up + stopped learner: {n1-n0}")
C.stop_writers()
C.start(v); time.sleep(2)
C.P[4].send_signal(signal.SIGCONT); print("SIGCONT 4")
for _ in range(60):
    r=C.cmd(C.leader([1,2,3]),"SNOWFLK","PROMOTE","4")
    if r is True or r=="OK": break
    time.sleep(0.3)
print("promote after resume:",r)
# promote-dead-learner-with-small-lag check
C.start(5,join=1); time.sleep(3)
C.P[5].send_signal(signal.SIGSTOP); time.sleep(1.5)
l=C.leader([1,2,3,4]); print("members with 5 stopped (no writes)",C.cmd(l,"SNOWFLK","MEMBERS"))
print("PROMOTE stopped-but-caught-up learner 5:",C.cmd(l,"SNOWFLK","PROMOTE","5",t=15))
C.P[5].send_signal(signal.SIGCONT); time.sleep(1)
ok=C.verify([i for i in (1,2,3,4)])
C.killall(); print("T2","PASS" if ok else "FAIL")
