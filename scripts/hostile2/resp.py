import socket
class Err(Exception):
    pass
def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int): a = str(a).encode()
        if isinstance(a, str): a = a.encode()
        out.append(b"$%d\r\n" % len(a)); out.append(a); out.append(b"\r\n")
    return b"".join(out)
class Conn:
    def __init__(self, port, timeout=15):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d: raise ConnectionError("closed")
        self.buf += d
    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                l = self.buf[:i]; self.buf = self.buf[i+2:]; return l
            self._fill()
    def read(self):
        l = self._line(); t = l[:1]; r = l[1:]
        if t == b"+": return r.decode()
        if t == b"-": return Err(r.decode())
        if t == b":": return int(r)
        if t == b"$":
            n = int(r)
            if n < 0: return None
            while len(self.buf) < n + 2: self._fill()
            v = self.buf[:n]; self.buf = self.buf[n+2:]; return v
        if t == b"*":
            n = int(r)
            if n < 0: return None
            return [self.read() for _ in range(n)]
        if t == b"_": return None
        raise ValueError("bad reply %r" % l)
    def send(self, *args): self.s.sendall(enc(*args))
    def cmd(self, *args):
        self.send(*args); return self.read()
    def pipe(self, cmds):
        self.s.sendall(b"".join(enc(*c) for c in cmds))
        return [self.read() for _ in cmds]
    def close(self): self.s.close()
