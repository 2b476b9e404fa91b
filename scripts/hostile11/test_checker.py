from checker import check_key, UNKNOWN
def op(f,args,out,c,r): return dict(key="k",f=f,args=args,out=out,call=c,ret=r)
# ok: set a, get a
print(check_key([op("set",["a"],"OK",0,1), op("get",[],"a",2,3)], None))
# fail: lost write
print(check_key([op("set",["a"],"OK",0,1), op("get",[],None,2,3)], None)[0] is False)
# unknown write can be absent
print(check_key([op("set",["a"],UNKNOWN,0,None), op("get",[],None,2,3)], None))
# unknown write can be present
print(check_key([op("set",["a"],UNKNOWN,0,None), op("get",[],"a",2,3)], None))
# concurrency
print(check_key([op("set",["a"],"OK",0,5), op("get",[],"a",1,2), op("get",[],None,1.5,1.7)], None))
# stale read after
print(check_key([op("set",["a"],"OK",0,1), op("set",["b"],"OK",2,3), op("get",[],"a",4,5)], None)[0] is False)
print(check_key([op("incr",[],1,0,1), op("incr",[],2,2,3), op("cas",["2","x"],1,4,5), op("incr",[],"ERR_NOTINT",6,7),op("append",["y"],2,8,9),op("del",[],1,10,11),op("del",[],0,12,13)], None))
