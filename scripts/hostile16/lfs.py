"""Control of lazyfs mounts: mount, power loss, unmount."""
import os, subprocess, time

LAZYFS = os.environ.get("LAZYFS", "/tmp/h13/lazyfs")


def mounted(mnt):
    mnt = os.path.realpath(mnt)
    with open("/proc/mounts") as f:
        return any(line.split()[1] == mnt for line in f)


class LazyMount:
    def __init__(self, base, mnt, ext4=False):
        self.base, self.mnt, self.ext4 = base, mnt, ext4
        self.proc = None
        os.makedirs(base, exist_ok=True)
        os.makedirs(mnt, exist_ok=True)

    def mount(self):
        assert not mounted(self.mnt), self.mnt
        args = [LAZYFS, self.base, self.mnt] + (["--ext4"] if self.ext4 else [])
        self.proc = subprocess.Popen(args, stdout=open(self.base + "/daemon.out", "a"), stderr=subprocess.STDOUT)
        for _ in range(200):
            if mounted(self.mnt):
                return
            time.sleep(0.02)
        raise RuntimeError("lazyfs did not mount " + self.mnt)

    def ctl(self, cmd, timeout=60):
        out = self.base + "/ctl.out"
        try:
            os.unlink(out)
        except FileNotFoundError:
            pass
        fd = os.open(self.base + "/ctl", os.O_WRONLY)
        os.write(fd, (cmd + "\n").encode())
        os.close(fd)
        t = time.time()
        while time.time() - t < timeout:
            if os.path.exists(out):
                return open(out).read().strip()
            time.sleep(0.02)
        raise RuntimeError("lazyfs ctl timeout " + cmd)

    def umount(self):
        for i in range(100):
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("umount failed: " + r.stderr.decode())
        if self.proc:
            self.proc.wait(timeout=30)
            self.proc = None

    def powerloss(self, p=0.0, seed=1, holes=0):
        """Everything not fsynced is dropped (p>0: kept with probability p). The
        caller must have killed every process using the fs."""
        r = self.ctl("powerloss %f %d %d" % (p, seed, holes))
        self.umount()
        self.mount()
        return r

    def stats(self):
        return self.ctl("stats")
