# Backup sent to a just-resumed (deposed) leader: does it contain a write acked by the new leader?
import subprocess, time, sys, socket, os, shutil
from resp import Conn, Err
D="/tmp/hostile2/c"
def pid(i): return int(open(D+"/n%d.pid"%i).read())
for trial in range(int(sys.argv[1])):
    L=Conn(7601).cmd("SNOWFLK","LEADER")[0]
    pre=Conn(7600+L, timeout=30)   # connection to the old leader, opened before the pause
    os.kill(pid(L),19)
    t=time.time(); newL=None
    while time.time()-t<10:
        o=[p for p in (1,2,3) if p!=L][0]
        try:
            r=Conn(7600+o,timeout=2).cmd("SNOWFLK","LEADER")
            if r and r[0]!=L: newL=r[0]; break
        except Exception: pass
        time.sleep(0.05)
    k="stale_%d_%d"%(trial,int(time.time()*1000))
    r=Conn(7600+newL,timeout=10).cmd("SET",k,"v")
    bk="/tmp/hostile2/stbk_%d"%trial; shutil.rmtree(bk,ignore_errors=True)
    os.kill(pid(L),18)
    pre.send("GET",k); pre.send("SNOWFLK","BACKUP",bk)
    g=pre.read(); b=pre.read()
    print("trial",trial,"old",L,"new",newL,"SET",r,"| GET on old:",g,"| BACKUP:",str(b)[:90])
    if isinstance(b,str):
        nd=bk+"_r"; shutil.rmtree(nd,ignore_errors=True)
        p=subprocess.Popen(["/work/target-hostile/release/snowflk-server","--data-dir",nd,"--restore",bk,"--listen","127.0.0.1:7693","--peer-listen","127.0.0.1:8693"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
        time.sleep(1.5); print("   restored GET",Conn(7693).cmd("GET",k)); p.terminate(); p.wait()
        shutil.rmtree(nd,ignore_errors=True)
    shutil.rmtree(bk,ignore_errors=True)
    time.sleep(1.5)
