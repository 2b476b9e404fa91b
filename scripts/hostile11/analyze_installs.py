# For each follower snapshot install, how many newer snapshots had the leader(s) taken before the install was logged
import re, sys, glob
run = sys.argv[1]
taken = []  # (time, node, index)
inst = []
for f in glob.glob(run + "/n*.log"):
    node = f.split("/")[-1][1]
    for l in open(f, errors="replace"):
        l = re.sub(r"\x1b\[[0-9;]*m", "", l)
        m = re.match(r"(\S+)Z .*snapshot taken index=(\d+)", l)
        if m: taken.append((m.group(1), node, int(m.group(2))))
        m = re.match(r"(\S+)Z .*installing node=(\d+) index=(\d+)", l)
        if m: inst.append((m.group(1), m.group(2), int(m.group(3))))
for t, n, x in sorted(inst):
    newer = [(tt, nn, xx) for tt, nn, xx in taken if nn != n and xx > x and tt <= t and any(x == x2 and n2 == nn for _, n2, x2 in taken)]
    print(t, "node", n, "installs", x, "newer snapshots on sender before install:", len(newer))
