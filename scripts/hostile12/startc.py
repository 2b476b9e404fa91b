import sys, time
from cluster import Cluster
cl = Cluster(sys.argv[1], extra=sys.argv[2:])
cl.start_all()
print("leader", cl.wait_leader(30))
