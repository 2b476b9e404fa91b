"""Totals over h16 run outputs: python3 summarize16.py FILE..."""
import ast, re, sys
tot = {"runs": 0, "rounds": 0, "powerloss": 0, "holes": 0, "checked": 0, "distinct": 0, "incr": 0,
       "backups": 0, "backup_keys": 0, "acked_ops": 0, "unknown": 0, "err": 0, "problems": 0}
kinds = {}
for fn in sys.argv[1:]:
    txt = open(fn).read()
    m = re.search(r"SUMMARY seed \d+ rounds (\d+) acked SETs checked \(cumulative per round\) (\d+) distinct acked SETs (\d+) acked INCRs (\d+) problems (\d+)", txt)
    if not m:
        continue
    tot["runs"] += 1
    tot["rounds"] += int(m[1]); tot["checked"] += int(m[2]); tot["distinct"] += int(m[3]); tot["incr"] += int(m[4]); tot["problems"] += int(m[5])
    st = ast.literal_eval(re.search(r"STATS (\{.*\})", txt)[1])
    tot["powerloss"] += st["powerloss"]; tot["holes"] += st["holes"]
    tot["backups"] += st["backups_checked"]; tot["backup_keys"] += st["backup_keys_checked"]
    for r in re.finditer(r"round \d+ (\w+) ops (\{[^}]*\})", txt):
        kinds[r[1]] = kinds.get(r[1], 0) + 1
        d = ast.literal_eval(r[2])
        tot["acked_ops"] += d.get("ack", 0); tot["unknown"] += d.get("unknown", 0); tot["err"] += d.get("err", 0)
print(tot)
print(kinds)
