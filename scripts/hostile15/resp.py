"""Minimal raw RESP2/RESP3 client: no retries, no reconnects, replies kept as tagged tuples."""
import socket


def enc(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, host, port, timeout=10.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.cap = []

    def close(self):
        try:
            self.s.close()
        except Exception:
            pass

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise ConnectionError("closed")
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                l = self.buf[:i]
                self.cap.append(self.buf[:i + 2])
                self.buf = self.buf[i + 2:]
                return l
            self._fill()

    def _n(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        d = self.buf[:n]
        self.cap.append(self.buf[:n + 2])
        self.buf = self.buf[n + 2:]
        return d

    def read(self):
        """Returns (raw_bytes, parsed). parsed is tagged tuple."""
        start_buf = None
        l = self._line()
        t, rest = l[:1], l[1:]
        if t in (b"+",):
            return ("simple", rest)
        if t == b"-":
            return ("err", rest)
        if t == b":":
            return ("int", int(rest))
        if t == b"$":
            n = int(rest)
            if n < 0:
                return ("nil",)
            return ("bulk", self._n(n))
        if t == b"_":
            return ("nil3",)
        if t == b"#":
            return ("bool", rest)
        if t == b",":
            return ("double", rest)
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return ("nilarr",)
            return ({b"*": "arr", b"~": "set", b">": "push"}[t], [self.read() for _ in range(n)])
        if t == b"%":
            n = int(rest)
            return ("map", [(self.read(), self.read()) for _ in range(n)])
        if t == b"=":
            n = int(rest)
            return ("verb", self._n(n))
        if t == b"(":
            return ("bigint", rest)
        raise ValueError("bad type %r" % l)

    def read_raw(self):
        self.cap = []
        p = self.read()
        return b"".join(self.cap), p

    def cmd(self, *args):
        self.s.sendall(enc(args))
        return self.read()

    def cmd_raw(self, *args):
        self.s.sendall(enc(args))
        return self.read_raw()

    def pipeline(self, cmds):
        self.s.sendall(b"".join(enc(c) for c in cmds))
        return [self.read() for _ in cmds]
