# replace a dead voter: kill for good, join new, promote, remove dead; loop
import time, sys
from lib import *
C=Cl("/tmp/h5t3",27500)
for i in (1,2,3): C.start(i)
time.sleep(3); C.start_writers(3)
live=[1,2,3]; nid=3; ok=True
for rd in range(int(sys.argv[1]) if len(sys.argv)>1 else 2):
    time.sleep(1)
    l=C.leader(); victim = l if rd%2==0 else [i for i in live if i!=l][0]
    C.kill(victim); live.remove(victim); print(f"round {rd}: SIGKILL voter {victim} for good (leader was {l})")
    time.sleep(1)
    nid+=1; C.start(nid,join=live[0]); live.append(nid)
    for _ in range(80):
        r=C.cmd(C.leader(live) or live[0],"SNOWFLK","PROMOTE",str(nid))
        if r is True or r=="OK": break
        time.sleep(0.3)
    print("  promote",nid,r)
    for _ in range(20):
        r=C.cmd(C.leader(live) or live[0],"SNOWFLK","REMOVE-NODE",str(victim),t=15)
        if r is True or r=="OK" or "not a member" in str(r): break
        time.sleep(0.3)
    print("  remove dead",victim,r)
    print("  members",C.cmd(C.leader(live),"SNOWFLK","MEMBERS"))
time.sleep(1); C.stop_writers(); time.sleep(1)
ok=C.verify(live)
# full restart of survivors
for i in list(C.P): C.kill(i)
for i in live: C.start(i, join=None if i<=3 else None)
time.sleep(5); print("after full restart leader",C.leader(live))
ok=C.verify(live) and ok
C.killall(); print("T3","PASS" if ok else "FAIL")
