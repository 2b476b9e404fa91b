# Pipelines whose commands each fit alone but together straddle the one-entry limit.
import sys, time
from resp import Conn, Err
LIM=67043328
port=int(sys.argv[1]); tag=sys.argv[2]
c=Conn(port,timeout=120)
# single command that fits alone: value as large as accepted alone
def test(name, cmds):
    t=time.time(); rs=c.pipe(cmds); bad=[(i,str(r)[:110]) for i,r in enumerate(rs) if isinstance(r,Err)]
    print(name, "n=%d"%len(cmds), "errors:",bad[:4], "%.1fs"%(time.time()-t))
for x in (0, 40, 200):
    half=LIM//2 - x
    test("2x(LIM/2-%d)+small"%x, [("SET",tag+"a",b"a"*half),("SET",tag+"b",b"b"*half),("INCR",tag+"c")])
test("max alone then small", [("SET",tag+"m",b"m"*(LIM-60)),("SET",tag+"n","1")])
test("small then max alone", [("SET",tag+"n","1"),("SET",tag+"m",b"m"*(LIM-60))])
test("MULTI near max", [("MULTI",),("SET",tag+"p",b"p"*(LIM//2-100)),("SET",tag+"q",b"q"*(LIM//2-100)),("EXEC",)])
test("70000 x 900B", [("SET","%s_s%d"%(tag,i),b"s"*900) for i in range(70000)])
