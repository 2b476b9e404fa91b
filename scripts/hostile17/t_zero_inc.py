"""FINDING (claim 7/5): a hello whose incarnation is 0 from a peer id without a record is accepted
and recorded as 0000000000000000; the node's next start refuses its own PEERS-SEEN (exit 1).
Nodes 1,2 run; node 3 of the map is not started yet. Then node 3 starts normally."""
import socket, struct, time, lib
c = lib.Cluster("zeroinc"); n1 = c.nodes[1]
c.start(1); c.start(2); assert n1.wait_up() and c.nodes[2].wait_up()
cid = n1.info()["raft_cluster_id"]
s = socket.create_connection(("127.0.0.1", n1.pport))
s.sendall(b"SFKP" + struct.pack("<HHQQQQ", 2, 0, cid, 3, 1, 0)); time.sleep(0.3)
print("ack:", s.recv(16).hex()); s.close()
print("node1 PEERS-SEEN:", open(n1.dir + "/PEERS-SEEN").read().split("\n")[1:-1])
c.start(3); time.sleep(3)
print("real node 3 connected to 1?", c.nodes[3].info().get("raft_peer1", {}).get("connected"),
      "; node1 refusals of 3:", n1.logtext().count("came back with another data directory"))
n1.kill(); c.start(1); time.sleep(2)
print("node 1 restart: alive", n1.alive(), "rc", n1.proc.returncode, "|", n1.logtext().splitlines()[-1][-170:])
print("root", c.root); c.kill_all()
