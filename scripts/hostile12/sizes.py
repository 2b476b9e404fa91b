"""Odd sizes through a follower: empty key/value, binary, key at 65534 and 65535 bytes, values of 16 MiB and 100 MiB,
via SETNX/SETEX/PSETEX/GETSET; compare to redis-server where redis has no limit difference."""
import sys
import os as _os, sys as _sys; _sys.path.append(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "hostile11"))  # resp.py and checker.py are shared with hostile11
from resp import Conn, Err
R = Conn(17500, timeout=60); S = Conn(int(sys.argv[1]) if len(sys.argv) > 1 else 17002, timeout=60)
def both(*c):
    a = R.cmd(*c); b = S.cmd(*c)
    sa = repr(a)[:120] if not isinstance(a, str) or len(a) < 100 else "<str len %d>" % len(a)
    sb = repr(b)[:120] if not isinstance(b, str) or len(b) < 100 else "<str len %d>" % len(b)
    print(("SAME " if a == b else "DIFF ") + repr(c[0]) + " " + repr([len(x) if isinstance(x, (str, bytes)) else x for x in c[1:]]) + " redis=" + sa + " snowflk=" + sb, flush=True)
    return a, b
both("DEL", "")
both("SETNX", "", ""); both("SETNX", "", "x"); both("GETSET", "", "\x00\xff"); both("GET", ""); both("SETEX", "", "100", ""); both("TTL", ""); both("GETSET", "", "y"); both("TTL", ""); both("DEL", "")
bk = "\x00\r\n\xff" * 5
both("DEL", bk); both("SETNX", bk, bk); both("GETSET", bk, "\x00"); both("PSETEX", bk, "500000", bk * 3); both("GET", bk); both("DEL", bk)
for n in (65533, 65534, 65535):
    k = "K" * n
    both("DEL", k); both("SETNX", k, "v"); both("SETEX", k, "100", "w"); both("GETSET", k, "z"); both("PSETEX", k, "100000", "q"); both("GET", k); both("DEL", k)
for n in (16 << 20, 100 << 20):
    v = "V" * n
    both("DEL", "big"); both("SETNX", "big", v); both("GETSET", "big", v[:-1] + "w"); both("STRLEN", "big"); both("SETEX", "big", "1000", v); both("PSETEX", "big", "1000000", v); both("GETSET", "big", "s"); both("DEL", "big")
