#!/usr/bin/env python3
"""Hand-picked boundary cases, byte-compared against redis-server. usage: boundary.py [resp3]"""
import sys, time
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from resp import Conn
resp3 = "resp3" in sys.argv
ref = Conn("127.0.0.1", 23000); sut = Conn("127.0.0.1", 23001)
for c in (ref, sut):
    c.cmd("FLUSHDB")
    if resp3: c.cmd("HELLO", "3")
now = int(time.time())
L = "9223372036854775807"
cases = [
 ["SET","k","v","PXAT",L], ["PTTL","k"], ["TTL","k"], ["GETEX","k","PXAT",L], ["GETEX","k","EXAT","9223372036854775"],
 ["GETEX","k","EXAT","9223372036854776"], ["SET","k","v","EX","9223372036854775"], ["SET","k","v","EX","9223372036854"],
 ["GET","k"], ["SET","k","v","PX","9223372036854775807"], ["SET","k","v","PX","9223000000000000000"], ["GET","k"],
 ["SET","k","v","EXAT","9223372036854775"], ["PEXPIRETIME","k"], ["GET","k"],
 ["SET","k","v","EX","100"], ["RENAME","k","k"], ["PTTL","k"], ["RENAMENX","k","k"], ["RENAME","nokey","nokey"], ["RENAMENX","nokey","k"],
 ["RENAME","k","k2"], ["TTL","k2"], ["EXISTS","k"], ["SET","e","old","PX","1"], "SLEEP", ["RENAMENX","k2","e"], ["GET","e"], ["TTL","e"],
 ["SET","e2","x","PX","1"], "SLEEP", ["RENAME","e2","z"], ["GET","z"], ["RENAME","e","e2"], ["SET","m","1"], ["SET","mx","1","PX","1"], "SLEEP",
 ["MSETNX","mx","2","new","3"], ["MGET","mx","new"], ["MSETNX","m","9","q","9"], ["GET","q"], ["MSETNX","d","1","d","2"], ["GET","d"],
 ["TOUCH","m","m","nokey","m"], ["UNLINK","m","m","nokey"], ["DEL","d","d"], ["TYPE",""], ["SET","","\x00"], ["TYPE",""], ["RENAME","","\x00\xff"], ["TYPE","\x00\xff"],
 ["GETEX","\x00\xff","PERSIST"], ["GETEX","\x00\xff","EX","10","PX","10"], ["GETEX","\x00\xff","PERSIST","EX","10"], ["GETEX","\x00\xff","EX","10","EX","20","PERSIST"],
 ["GETEX","\x00\xff","ex","10","ex","20"], ["TTL","\x00\xff"], ["GETEX","\x00\xff","PXAT","1"], ["EXISTS","\x00\xff"],
 ["SET","k","v","GET","GET","NX"], ["SET","k","w","NX","GET"], ["SET","k","v","XX","NX"], ["SET","k","v","KEEPTTL","PX","10"], ["SET","k","v","PERSIST"],
 ["SET","k","v","EX","abc","EX","10"], ["TTL","k"], ["SET","k","v","EX","10","EX","abc"], ["SET","k","v","EX","0","EX"], ["SET","k","v","PX","10","EX","10"],
 ["GETEX","k","EX","abc","EX","10"], ["TTL","k"], ["GETEX","k","EXAT", str(now+100), "EXAT", str(now-100)], ["GET","k"],
 ["TIME","extra"], ["TYPE"], ["RENAME","a"], ["MSETNX","a","1","b"], ["GETEX"], ["UNLINK"], ["TOUCH"],
 ["MULTI"], ["SET","t","1"], ["RENAME","nokey","x"], ["RENAMENX","t","t"], ["MSETNX","t","2"], ["GETEX","t","EX","0"], ["GETEX","t","EX","5"], ["TYPE","t"], ["TOUCH","t","t"], ["UNLINK","t"], ["EXEC"],
 ["MULTI"], ["SET","t","1"], ["RENAME","a"], ["EXEC"], ["GET","t"],
 ["MULTI"], ["SET","t","1","EX","x"], ["SET","t","2"], ["EXEC"], ["GET","t"],
 ["MULTI"], ["GETEX","t","PERSIST"], ["GETEX","t"], ["EXEC"],
 ["SET","big","v","EXAT","1"], ["GET","big"], ["SETEX","k","0","v"], ["PSETEX","k","-1","v"], ["GETEX","k","PX","1","PX","2","PX","3"],
 ["SET","n","v","px","100000","PX","200000"], ["PTTL","n"], ["SET","n","v","NX","NX","NX"], ["SET","n","v","get","xx","KEEPTTL","keepttl"], ["TTL","n"],
 ["RENAMENX","n","n2"], ["RENAMENX","n","n2"], ["RENAMENX","n2","n2"], ["GET","n2"], ["TTL","n2"],
]
diffs = 0
for c in cases:
    if c == "SLEEP":
        time.sleep(0.05); continue
    a = ref.cmd_raw(*c); b = sut.cmd_raw(*c)
    same = a[0] == b[0]
    if not same and c[0] in ("TTL","PTTL") and a[1][0] == b[1][0] == "int" and abs(a[1][1]-b[1][1]) < 50: same = True
    if not same:
        diffs += 1
    print("%s %r\n   R %r\n   S %r" % ("  " if same else "!!", c, a[0], b[0]) if not same else "ok %r -> %r" % (c, a[0]))
print("resp%d cases %d diffs %d" % (3 if resp3 else 2, len(cases), diffs))
