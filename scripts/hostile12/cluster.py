"""Cluster manager for hostile12: hostile11's, with run data under H12_ROOT and
engine dumps decoded into user keys (stored as `\x00<key>`, values as
`<type 0x00><8-byte LE expiry ms, 0 = none><payload>`)."""
import importlib.util
import os
import sys

_H11 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile11")
sys.path.append(_H11)  # resp.py and checker.py are shared with hostile11
_spec = importlib.util.spec_from_file_location("h11_cluster", os.path.join(_H11, "cluster.py"))
_h11 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_h11)

SERVER, TOOLS = _h11.SERVER, _h11.TOOLS
RUN_ROOT = os.environ.get("H12_ROOT", "/tmp/hostile12")


def unesc(s):
    out = bytearray(); i = 0
    m = {"n": 10, "r": 13, "t": 9, "\\": 92, '"': 34, "0": 0}
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16)); i += 4; continue
            out.append(m[n]); i += 2; continue
        out.extend(ch.encode("utf-8")); i += 1
    return bytes(out)


class Cluster(_h11.Cluster):
    APPLIED_KEY = "META:\x01applied_index"

    def record(self, o):
        k = unesc(o["key"]); v = unesc(o["value"])
        if k[:1] == b"\x00" and v[:1] == b"\x00" and len(v) >= 9:
            ex = int.from_bytes(v[1:9], "little")
            return k[1:].decode("latin1"), (v[9:].decode("latin1"), ex or None)
        return "META:" + k.decode("latin1"), (v.decode("latin1"), o.get("expiry"))
