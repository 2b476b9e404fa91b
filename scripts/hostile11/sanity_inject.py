# Sanity check of the checker: inject a stale read into a recorded history; checker must FAIL.
import json, sys, checker
h = json.load(open(sys.argv[1]))
ops = [o for o in h["ops"] if o["key"] == "k1"]
sets = [o for o in ops if o["f"] == "set" and o["ret"] is not None]
gets = [o for o in ops if o["f"] == "get" and o["ret"] is not None]
# take a late get and make it return the value of an early acked set
g = gets[-len(gets)//3]
g["out"] = sets[5]["args"][0]
print("injected", g)
print(checker.check_key(ops, h["init"].get("k1"), 60))
