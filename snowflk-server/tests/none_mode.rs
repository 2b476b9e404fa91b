//! The real binary with `--replication none`, driven by the `redis` crate
//! and by raw RESP bytes.

mod common;

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Node, read_to_close, read_until, run_to_exit};
use rand::{Rng, SeedableRng};
use redis::{Commands, RedisResult, Value};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn cmd<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> RedisResult<T> {
    let mut command = redis::cmd(args[0]);
    for a in &args[1..] {
        command.arg(*a);
    }
    command.query(c)
}

#[test]
fn every_command() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(work.path(), "n", &[]);
    let mut c = node.client();

    assert_eq!(cmd::<String>(&mut c, &["PING"]).unwrap(), "PONG");
    assert_eq!(cmd::<String>(&mut c, &["ECHO", "hi"]).unwrap(), "hi");
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "0"]).unwrap(), "OK");
    assert!(cmd::<String>(&mut c, &["SELECT", "1"]).is_err());

    // Strings.
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["SET", "k", "w", "NX"]).unwrap(),
        None
    );
    assert_eq!(
        cmd::<String>(&mut c, &["SET", "k", "w", "XX", "GET"]).unwrap(),
        "v"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["SET", "e", "1", "EX", "100"]).unwrap(),
        "OK"
    );
    let pttl: i64 = cmd(&mut c, &["PTTL", "e"]).unwrap();
    assert!(pttl > 90_000 && pttl <= 100_000, "{pttl}");
    assert_eq!(
        cmd::<String>(&mut c, &["SET", "e", "2", "KEEPTTL"]).unwrap(),
        "OK"
    );
    assert!(cmd::<i64>(&mut c, &["TTL", "e"]).unwrap() > 90);
    let at = (now_ms() + 50_000).to_string();
    assert_eq!(
        cmd::<String>(&mut c, &["SET", "p", "1", "PXAT", &at]).unwrap(),
        "OK"
    );
    let at = (now_ms() / 1000 + 50).to_string();
    assert_eq!(
        cmd::<String>(&mut c, &["SET", "p", "1", "EXAT", &at]).unwrap(),
        "OK"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["SET", "p", "1", "PX", "50000"]).unwrap(),
        "OK"
    );
    let _: () = c.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let got: Vec<Option<String>> = c.mget(&["a", "b", "zz"]).unwrap();
    assert_eq!(got, vec![Some("1".into()), Some("2".into()), None]);
    assert_eq!(c.incr::<_, _, i64>("n", 1).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["INCR", "n"]).unwrap(), 2);
    assert_eq!(cmd::<i64>(&mut c, &["INCRBY", "n", "10"]).unwrap(), 12);
    assert_eq!(cmd::<i64>(&mut c, &["DECR", "n"]).unwrap(), 11);
    assert_eq!(cmd::<i64>(&mut c, &["DECRBY", "n", "20"]).unwrap(), -9);
    let err = cmd::<i64>(&mut c, &["INCR", "k"]).unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    assert_eq!(cmd::<i64>(&mut c, &["APPEND", "ap", "ab"]).unwrap(), 2);
    assert_eq!(cmd::<i64>(&mut c, &["APPEND", "ap", "cd"]).unwrap(), 4);
    assert_eq!(cmd::<i64>(&mut c, &["STRLEN", "ap"]).unwrap(), 4);
    assert_eq!(cmd::<String>(&mut c, &["GETDEL", "ap"]).unwrap(), "abcd");
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["GETDEL", "ap"]).unwrap(),
        None
    );
    assert_eq!(cmd::<i64>(&mut c, &["CAS", "a", "1", "one"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["CAS", "a", "1", "two"]).unwrap(), 0);
    assert_eq!(cmd::<i64>(&mut c, &["CAS", "missing", "", "x"]).unwrap(), 0);
    assert_eq!(c.get::<_, String>("a").unwrap(), "one");

    // Keys and expiry.
    assert_eq!(
        cmd::<i64>(&mut c, &["EXISTS", "a", "b", "zz", "a"]).unwrap(),
        3
    );
    assert_eq!(cmd::<i64>(&mut c, &["EXPIRE", "a", "100"]).unwrap(), 1);
    assert!(cmd::<i64>(&mut c, &["TTL", "a"]).unwrap() > 90);
    assert_eq!(
        cmd::<i64>(&mut c, &["PEXPIRE", "a", "200000", "GT"]).unwrap(),
        1
    );
    let at = (now_ms() / 1000 + 300).to_string();
    assert_eq!(cmd::<i64>(&mut c, &["EXPIREAT", "a", &at]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["PERSIST", "a"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "a"]).unwrap(), -1);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "zz"]).unwrap(), -2);
    assert_eq!(cmd::<i64>(&mut c, &["PEXPIRE", "b", "1"]).unwrap(), 1);
    common::poll("b to expire", || {
        (cmd::<Option<String>>(&mut c, &["GET", "b"])
            .unwrap()
            .is_none())
        .then_some(())
    });
    let dbsize: i64 = cmd(&mut c, &["DBSIZE"]).unwrap();
    let mut keys: Vec<String> = cmd(&mut c, &["KEYS", "*"]).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["a", "e", "k", "n", "p"]);
    assert_eq!(dbsize, 5);
    let mut scanned: Vec<String> = c.scan_match("*").unwrap().collect();
    scanned.sort();
    assert_eq!(scanned, keys);
    let (_, some): (String, Vec<String>) =
        cmd(&mut c, &["SCAN", "0", "MATCH", "k*", "COUNT", "100"]).unwrap();
    assert_eq!(some, vec!["k"]);
    assert_eq!(cmd::<i64>(&mut c, &["DEL", "a", "k", "zz"]).unwrap(), 2);

    // Server, client and admin commands.
    let info: String = cmd(&mut c, &["INFO"]).unwrap();
    for needle in [
        "# Server",
        "redis_version:",
        "# Clients",
        "connected_clients:1",
        "# Replication",
        "replication:none",
        "raft_applied_index:",
        "# Persistence",
        "# Stats",
        "# Keyspace",
        "db0:keys=3,expires=2",
    ] {
        assert!(info.contains(needle), "INFO lacks {needle}: {info}");
    }
    let repl: String = cmd(&mut c, &["INFO", "replication"]).unwrap();
    assert!(repl.contains("role:master") && !repl.contains("# Server"));
    let count: i64 = cmd(&mut c, &["COMMAND", "COUNT"]).unwrap();
    assert!(count >= 40);
    let _: Value = cmd(&mut c, &["COMMAND", "DOCS"]).unwrap();
    let _: Value = cmd(&mut c, &["COMMAND", "INFO", "get"]).unwrap();
    let _: Value = cmd(&mut c, &["COMMAND"]).unwrap();
    let save: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "save"]).unwrap();
    assert_eq!(save, vec!["save".to_string(), String::new()]);
    assert_eq!(
        cmd::<String>(&mut c, &["CLIENT", "SETNAME", "tester"]).unwrap(),
        "OK"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["CLIENT", "GETNAME"]).unwrap(),
        "tester"
    );
    assert!(cmd::<i64>(&mut c, &["CLIENT", "ID"]).unwrap() >= 1);
    assert_eq!(
        cmd::<String>(&mut c, &["CLIENT", "SETINFO", "LIB-NAME", "x"]).unwrap(),
        "OK"
    );
    let leader: (i64, String) = cmd(&mut c, &["SNOWFLK", "LEADER"]).unwrap();
    assert_eq!(leader.0, 1);
    let members: Vec<Value> = cmd(&mut c, &["SNOWFLK", "MEMBERS"]).unwrap();
    assert_eq!(members.len(), 1);
    assert!(cmd::<String>(&mut c, &["SNOWFLK", "TRANSFER-LEADER", "2"]).is_err());
    let err = cmd::<String>(&mut c, &["NOSUCH", "x"]).unwrap_err();
    assert!(err.to_string().contains("unknown command"), "{err}");

    // MULTI/EXEC as one atomic write; DISCARD.
    let (x, y, n): (String, String, i64) = redis::pipe()
        .atomic()
        .set("tx1", "a")
        .append("tx1", "b")
        .ignore()
        .get("tx1")
        .cmd("INCR")
        .arg("n")
        .query(&mut c)
        .unwrap();
    assert_eq!((x.as_str(), y.as_str(), n), ("OK", "ab", -8));
    assert_eq!(cmd::<String>(&mut c, &["MULTI"]).unwrap(), "OK");
    assert_eq!(
        cmd::<String>(&mut c, &["SET", "gone", "1"]).unwrap(),
        "QUEUED"
    );
    assert_eq!(cmd::<String>(&mut c, &["DISCARD"]).unwrap(), "OK");
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["GET", "gone"]).unwrap(),
        None
    );
    assert!(cmd::<Value>(&mut c, &["EXEC"]).is_err());
    // A syntax error while queueing aborts the transaction.
    assert_eq!(cmd::<String>(&mut c, &["MULTI"]).unwrap(), "OK");
    assert_eq!(
        cmd::<String>(&mut c, &["SET", "gone", "1"]).unwrap(),
        "QUEUED"
    );
    assert!(cmd::<String>(&mut c, &["SET", "gone"]).is_err());
    let err = cmd::<Value>(&mut c, &["EXEC"]).unwrap_err();
    assert_eq!(err.kind(), redis::ErrorKind::ExecAbortError, "{err}");
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["GET", "gone"]).unwrap(),
        None
    );

    assert_eq!(cmd::<String>(&mut c, &["FLUSHDB"]).unwrap(), "OK");
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 0);
    assert_eq!(cmd::<String>(&mut c, &["RESET"]).unwrap(), "RESET");
    assert_eq!(cmd::<String>(&mut c, &["QUIT"]).unwrap(), "OK");
}

/// As in Redis: a command with bad arguments (not a bad name or arity) is
/// queued, its error is its place in `EXEC`'s reply, and the others run
/// (outside test hostile12: snowflk aborted the whole transaction).
#[test]
fn invalid_arguments_inside_multi_fail_only_their_command() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(work.path(), "n", &[]);
    let mut raw = node.raw();
    let words: &[&[&str]] = &[
        &["MULTI"],
        &["SET", "m1", "before"],
        &["SETEX", "m1", "abc", "v"],
        &["PSETEX", "m1", "0", "v"],
        &["SET", "m2", "x", "NX", "XX"],
        &["EXPIRE", "m1", "soon"],
        &["INCR", "c"],
        &["EXEC"],
        &["GET", "m1"],
    ];
    let mut pipe = redis::pipe();
    for w in words {
        let mut c = redis::cmd(w[0]);
        for a in &w[1..] {
            c.arg(*a);
        }
        pipe.add_command(c);
    }
    raw.write_all(&pipe.get_packed_pipeline()).unwrap();
    let mut reader = std::io::BufReader::new(raw);
    let mut parser = redis::Parser::new();
    let replies: Vec<Value> = (0..words.len())
        .map(|_| parser.parse_value(&mut reader).unwrap())
        .collect();
    assert_eq!(replies[0], Value::Okay);
    for (i, r) in replies[1..7].iter().enumerate() {
        assert_eq!(*r, Value::SimpleString("QUEUED".into()), "queued {i}");
    }
    let Value::Array(exec) = &replies[7] else {
        panic!("EXEC: {:?}", replies[7]);
    };
    let error = |v: &Value| match v {
        Value::ServerError(e) => format!("{} {}", e.code(), e.details().unwrap_or("")),
        other => panic!("not an error: {other:?}"),
    };
    assert_eq!(exec.len(), 6, "{exec:?}");
    assert_eq!(exec[0], Value::Okay);
    assert!(error(&exec[1]).contains("not an integer"), "{exec:?}");
    assert!(
        error(&exec[2]).contains("invalid expire time in 'psetex'"),
        "{exec:?}"
    );
    assert!(error(&exec[3]).contains("syntax"), "{exec:?}");
    assert!(error(&exec[4]).contains("not an integer"), "{exec:?}");
    assert_eq!(exec[5], Value::Int(1));
    assert_eq!(replies[8], Value::BulkString(b"before".to_vec()));
}

#[test]
fn pipelining_is_answered_in_order() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(work.path(), "n", &[]);
    let mut c = node.client();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.set(format!("k{i}"), i).ignore();
        pipe.cmd("INCR").arg("counter");
        pipe.get(format!("k{i}"));
    }
    let replies: Vec<i64> = pipe.query(&mut c).unwrap();
    for (i, pair) in replies.chunks(2).enumerate() {
        assert_eq!(pair, [i as i64 + 1, i as i64]);
    }
    // Writes only: submitted together, still applied and answered in order.
    let mut pipe = redis::pipe();
    for _ in 0..600 {
        pipe.cmd("INCR").arg("seq");
    }
    pipe.cmd("APPEND").arg("seq").arg("x");
    pipe.cmd("GET").arg("seq");
    let replies: Vec<redis::Value> = pipe.query(&mut c).unwrap();
    for (i, r) in replies[..600].iter().enumerate() {
        assert_eq!(*r, Value::Int(i as i64 + 1));
    }
    assert_eq!(replies[600], Value::Int(4));
    assert_eq!(replies[601], Value::BulkString(b"600x".to_vec()));
    // Raw: many requests in one write, in both syntaxes.
    let mut s = node.raw();
    s.write_all(b"PING\r\n*2\r\n$3\r\nGET\r\n$2\r\nk7\r\nECHO \"a b\"\r\n*1\r\n$4\r\nPING\r\n")
        .unwrap();
    let out = read_until(&mut s, b"+PONG\r\n$1\r\n7\r\n$3\r\na b\r\n+PONG\r\n");
    assert_eq!(out, b"+PONG\r\n$1\r\n7\r\n$3\r\na b\r\n+PONG\r\n");
}

#[test]
fn resp3_after_hello() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(work.path(), "n", &[]);
    let mut s = node.raw();
    s.write_all(b"HELLO 3\r\n").unwrap();
    let out = read_until(&mut s, b"modules\r\n*0\r\n");
    assert!(
        out.starts_with(b"%7\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    s.write_all(b"GET nope\r\nCONFIG GET appendonly\r\n")
        .unwrap();
    let out = read_until(&mut s, b"no\r\n");
    assert_eq!(out, b"_\r\n%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    s.write_all(b"HELLO 2\r\nGET nope\r\n").unwrap();
    let out = read_until(&mut s, b"$-1\r\n");
    assert!(out.starts_with(b"*14\r\n"));
}

#[test]
fn malformed_and_oversized_requests_close_only_their_connection() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(
        work.path(),
        "n",
        &[
            "--max-value-size",
            "1024",
            "--max-key-size",
            "100",
            "--max-args",
            "16",
        ],
    );
    let mut other = node.client();
    let _: () = other.set("x", "1").unwrap();
    let bad: &[&[u8]] = &[
        b"*1\r\n$x\r\n",
        b"*2\r\n+GET\r\n",
        b"*1\r\n$3\r\nGETX\r\n",
        b"*100\r\n",
        b"*2\r\n$3\r\nSET\r\n$2000\r\n",
        b"set a \"unbalanced\r\n",
    ];
    for input in bad {
        let mut s = node.raw();
        s.write_all(input).unwrap();
        let out = read_to_close(&mut s);
        assert!(
            out.starts_with(b"-ERR Protocol error"),
            "{:?} -> {:?}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(&out)
        );
        assert_eq!(other.get::<_, String>("x").unwrap(), "1");
    }
    // A too-long inline line.
    let mut s = node.raw();
    s.write_all(&vec![b'a'; 70 * 1024]).unwrap();
    assert!(read_to_close(&mut s).starts_with(b"-ERR Protocol error"));
    // A key over the key limit is an error reply; the connection stays.
    let mut c = node.client();
    let long_key = "k".repeat(101);
    let err = c.set::<_, _, ()>(&long_key, "v").unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    assert_eq!(cmd::<String>(&mut c, &["PING"]).unwrap(), "PONG");
    // Random garbage never takes the server down (seeded).
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for _ in 0..20 {
        let mut s = node.raw();
        let len = rng.random_range(1..2048);
        let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = s.write_all(&junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = read_to_close(&mut s);
    }
    assert_eq!(other.get::<_, String>("x").unwrap(), "1");
}

#[test]
fn connection_limit() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(work.path(), "n", &["--max-connections", "2"]);
    let mut a = node.client();
    let mut b = node.client();
    let mut s = node.raw();
    assert!(read_to_close(&mut s).starts_with(b"-ERR max number of clients reached"));
    assert_eq!(cmd::<String>(&mut a, &["PING"]).unwrap(), "PONG");
    assert_eq!(cmd::<String>(&mut b, &["PING"]).unwrap(), "PONG");
}

#[test]
fn sigterm_exits_cleanly_and_data_survives_restart() {
    let work = tempfile::tempdir().unwrap();
    let mut node = Node::start_none(work.path(), "n", &[]);
    {
        let mut c = node.client();
        for i in 0..200 {
            let _: () = c.set(format!("k{i}"), format!("v{i}")).unwrap();
        }
        let _: () = cmd(&mut c, &["SET", "ttl", "x", "EX", "1000"]).unwrap();
    }
    node.signal("TERM");
    let status = node.wait_exit();
    assert!(status.success(), "exit {status}: {}", node.stderr());
    assert!(
        node.stderr().contains("shut down cleanly"),
        "{}",
        node.stderr()
    );
    // Same directory: the lock was released and every write is there.
    let node = Node::start_none(work.path(), "n", &[]);
    let mut c = node.client();
    for i in 0..200 {
        assert_eq!(
            c.get::<_, String>(format!("k{i}")).unwrap(),
            format!("v{i}")
        );
    }
    assert!(cmd::<i64>(&mut c, &["TTL", "ttl"]).unwrap() > 900);
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 201);
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let work = tempfile::tempdir().unwrap();
    let mut node = Node::start_none(work.path(), "n", &[]);
    let mut c = node.client();
    for i in 0..100 {
        let _: () = c.set(format!("k{i}"), i).unwrap();
    }
    node.signal("KILL");
    let _ = node.wait_exit();
    let node = Node::start_none(work.path(), "n", &[]);
    let mut c = node.client();
    for i in 0..100 {
        assert_eq!(c.get::<_, i64>(format!("k{i}")).unwrap(), i);
    }
}

#[test]
fn concurrent_clients_increment_exactly() {
    let work = tempfile::tempdir().unwrap();
    let node = Node::start_none(work.path(), "n", &[]);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut c = node.client();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let _: i64 = c.incr("ctr", 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = node.client();
    assert_eq!(c.get::<_, i64>("ctr").unwrap(), 800);
}

#[test]
fn bad_start_is_one_line_error() {
    let work = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["--replication", "none", "--peers", "garbage"],
        &["--replication", "none", "--listen", "nowhere"],
        &["--replication", "none", "--bogus-flag"],
        &["--replication", "maybe"],
    ];
    for args in cases {
        let (status, err) = run_to_exit(work.path(), args);
        assert!(!status.success(), "{args:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("snowflk-server: "), "{args:?}: {err}");
    }
    // A busy port.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (status, err) = run_to_exit(
        work.path(),
        &[
            "--replication",
            "none",
            "--listen",
            &addr,
            "--data-dir",
            "d1",
        ],
    );
    assert!(!status.success());
    assert!(err.contains("cannot listen"), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| l.starts_with("snowflk-server:"))
            .count(),
        1,
        "{err}"
    );
    // A locked data directory.
    let node = Node::start_none(work.path(), "locked", &[]);
    let dir = node.data_dir.display().to_string();
    let (status, err) = run_to_exit(
        work.path(),
        &[
            "--replication",
            "none",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &dir,
        ],
    );
    assert!(!status.success());
    assert!(err.contains("locked"), "{err}");
    // --help explains with examples.
    let (status, _) = run_to_exit(work.path(), &["--help"]);
    assert!(status.success());
}

#[test]
fn help_lists_examples() {
    let out = std::process::Command::new(common::binary())
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Examples:") && text.contains("--replication"),
        "{text}"
    );
}

/// `snowflk-server` with no flags: a one-node store on 127.0.0.1:7379 with
/// its data in `./snowflk-data`. The default port is fixed, so the test
/// makes sure it talks to its own process (INFO's process_id).
#[test]
fn default_start_with_no_flags() {
    let work = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(common::binary())
        .current_dir(work.path())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let mut guard = Kill(child);
    let mut c = common::poll("the default server", || {
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!("exited with {status}");
        }
        let client = redis::Client::open("redis://127.0.0.1:7379/").ok()?;
        client
            .get_connection_with_timeout(std::time::Duration::from_secs(1))
            .ok()
    });
    let info: String = cmd(&mut c, &["INFO", "server"]).unwrap();
    assert!(
        info.contains(&format!("process_id:{pid}")),
        "another server owns 7379"
    );
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert!(work.path().join("snowflk-data").is_dir());
    drop(guard);
}

/// A one-member Raft cluster (no `--peers`) needs nobody's vote: it leads
/// from the start instead of after an election timeout. The timeout here is
/// ten minutes, so without the immediate campaign the first write would
/// answer TRYAGAIN.
#[test]
fn a_one_member_cluster_leads_at_once() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("solo");
    let args: Vec<String> = [
        "--data-dir",
        &data_dir.display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--tick-ms",
        "100",
        "--heartbeat-ticks",
        "1",
        "--election-ticks",
        "6000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let node = Node::start_with(work.path(), "solo", &args, data_dir);
    let mut c = node.client();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    let leader: Vec<redis::Value> = cmd(&mut c, &["SNOWFLK", "LEADER"]).unwrap();
    assert_eq!(leader.first(), Some(&Value::Int(1)), "{leader:?}");
}
