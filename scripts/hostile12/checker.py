"""Per-key linearizability checker (porcupine / Wing-Gong-Lowe with memoization).

history op: dict(key, f, args, out, call, ret)   ret=None -> unknown (may or may not have happened)
out 'UNKNOWN' for unknown. f in set/get/cas/del/incr/append.
"""
import json
import re
import sys
import time

INF = float("inf")
INT_RE = re.compile(r"^-?[0-9]+$")
UNKNOWN = "UNKNOWN"
NOTINT = "ERR_NOTINT"


def isint(s):
    return s is not None and bool(INT_RE.match(s)) and -(2 ** 63) <= int(s) < 2 ** 63 and (s == "0" or not s.lstrip("-").startswith("0"))


def step(state, f, args, out):
    if f == "set":
        return (out == "OK" or out == UNKNOWN), args[0]
    if f == "get":
        return out == state, state
    if f == "cas":
        e, n = args
        if out == UNKNOWN:
            return True, (n if state == e else state)
        if out == 1:
            return state == e, n
        if out == 0:
            return state != e, state
        return False, state
    if f == "del":
        if out == UNKNOWN:
            return True, None
        return out == (0 if state is None else 1), None
    if f == "incr":
        if state is None:
            nv = 1
        elif isint(state):
            nv = int(state) + 1
        else:
            nv = None
        if out == UNKNOWN:
            return True, (str(nv) if nv is not None else state)
        if out == NOTINT:
            return nv is None, state
        return nv is not None and out == nv, (str(nv) if nv is not None else state)
    if f == "append":
        nv = (state or "") + args[0]
        if out == UNKNOWN:
            return True, nv
        return out == len(nv), nv
    raise ValueError(f)


def check_key(ops, init, budget_s=120):
    """Returns (ok, info). ops: list of op dicts for one key."""
    n = len(ops)
    if n == 0:
        return True, "empty"
    # events: (time, kind(0=call,1=ret), id)
    evs = []
    for i, o in enumerate(ops):
        r = o["ret"] if o["ret"] is not None else INF
        evs.append((o["call"], 0, i))
        evs.append((r, 1, i))
    # calls before returns at equal timestamps (lenient)
    evs.sort(key=lambda e: (e[0], e[1]))
    m = len(evs)
    # doubly linked list over positions 0..m-1, head sentinel = -1
    nxt = list(range(1, m + 1))
    nxt[-1] = -1
    prv = list(range(-1, m - 1))
    head_next = 0
    call_pos = [0] * n
    ret_pos = [0] * n
    for p, (t, k, i) in enumerate(evs):
        if k == 0:
            call_pos[i] = p
        else:
            ret_pos[i] = p

    def unlink(p):
        nonlocal head_next
        a, b = prv[p], nxt[p]
        if a == -1:
            head_next = b
        else:
            nxt[a] = b
        if b != -1:
            prv[b] = a

    def relink(p):
        nonlocal head_next
        a, b = prv[p], nxt[p]
        if a == -1:
            head_next = p
        else:
            nxt[a] = p
        if b != -1:
            prv[b] = p

    state = init
    lin = 0
    cache = set()
    stack = []
    entry = head_next
    t0 = time.time()
    steps = 0
    best = 0
    best_info = None
    while head_next != -1:
        steps += 1
        if steps % 20000 == 0 and time.time() - t0 > budget_s:
            return None, "budget exceeded after %d steps" % steps
        t, k, i = evs[entry]
        if k == 0:
            o = ops[i]
            ok, ns = step(state, o["f"], o["args"], o["out"])
            if ok:
                nl = lin | (1 << i)
                key = (nl, ns)
                if key not in cache:
                    cache.add(key)
                    stack.append((i, state))
                    state = ns
                    lin = nl
                    unlink(call_pos[i])
                    unlink(ret_pos[i])
                    if len(stack) > best:
                        best = len(stack)
                    entry = head_next
                    continue
            entry = nxt[entry]
        else:
            # a return whose call was not linearized: backtrack
            if not stack:
                return False, describe_failure(ops, evs, i, init, best)
            i2, st = stack.pop()
            state = st
            lin &= ~(1 << i2)
            relink(ret_pos[i2])
            relink(call_pos[i2])
            entry = nxt[call_pos[i2]]
    return True, "ok (%d ops, %d steps)" % (n, steps)


def describe_failure(ops, evs, i, init, best):
    o = ops[i]
    return "no linearization; stuck at op %s; longest linearized prefix %d of %d ops" % (
        json.dumps(o), best, len(ops))


def check_history(hist, budget_s=120):
    """hist: dict(init={key:val}, ops=[...]). Returns list of (key, ok, info)."""
    bykey = {}
    for o in hist["ops"]:
        bykey.setdefault(o["key"], []).append(o)
    res = []
    for k in sorted(bykey):
        ok, info = check_key(bykey[k], hist["init"].get(k), budget_s)
        res.append((k, ok, info))
    return res


def window(ops, key, t_lo, t_hi):
    return [o for o in ops if o["key"] == key and o["call"] <= t_hi and (o["ret"] is None or o["ret"] >= t_lo)]


if __name__ == "__main__":
    for fn in sys.argv[1:]:
        h = json.load(open(fn))
        for k, ok, info in check_history(h):
            print(fn, k, "OK" if ok else ("FAIL" if ok is False else "UNDECIDED"), info)
