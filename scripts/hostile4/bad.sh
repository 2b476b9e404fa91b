B=/work/target-hostile4/release/snowflk-server; D=/tmp/h4b; rm -rf $D; mkdir -p $D
F="--tick-ms 10 --heartbeat-ticks 5 --election-ticks 50"
$B --id 1 --listen 127.0.0.1:27201 --peer-listen 127.0.0.1:27251 --data-dir $D/n1 $F 2>$D/l1 & P1=$!
sleep 2
echo "--- join to dead address"; timeout 40 $B --id 5 --listen 127.0.0.1:27205 --peer-listen 127.0.0.1:27255 --data-dir $D/n5 --join 127.0.0.1:27299 $F 2>&1 | tail -2; echo rc=$?
echo "--- join with taken id 1"; timeout 40 $B --id 1 --listen 127.0.0.1:27206 --peer-listen 127.0.0.1:27256 --data-dir $D/n6 --join 127.0.0.1:27201 $F 2>&1 | tail -2; echo rc=${PIPESTATUS[0]}
echo "--- remove last voter"; redis-cli -p 27201 SNOWFLK REMOVE-NODE 1 2>/dev/null || python3 -c "import redis;r=redis.Redis(port=27201)
try: print(r.execute_command('SNOWFLK','REMOVE-NODE','1'))
except Exception as e: print('ERR',e)"
echo "--- promote unknown / not-caught-up"; python3 -c "import redis;r=redis.Redis(port=27201,decode_responses=True)
for a in (('PROMOTE','1'),('PROMOTE','42'),('REMOVE-NODE','42'),('ADD-NODE','0','127.0.0.1:1'),('ADD-NODE','3','127.0.0.1:99999')):
  try: print(a,r.execute_command('SNOWFLK',*a))
  except Exception as e: print(a,'ERR',e)
print(r.execute_command('SNOWFLK','MEMBERS'))"
kill -0 $P1 && echo node1 alive; kill $P1; wait
