//! Authentication and roles: `--requirepass` and `[[users]]` from the
//! config file; NOAUTH before AUTH, WRONGPASS, NOPERM per role, HELLO AUTH,
//! ACL WHOAMI / LIST, and failed attempts logged without the password.

mod common;

use common::Node;
use redis::{RedisResult, Value};

fn cmd<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> RedisResult<T> {
    let mut command = redis::cmd(args[0]);
    for a in &args[1..] {
        command.arg(*a);
    }
    command.query(c)
}

fn err_code(r: RedisResult<Value>) -> String {
    let e = r.expect_err("expected an error reply");
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
}

fn start(work: &std::path::Path) -> Node {
    let config = work.join("snowflk.toml");
    std::fs::write(
        &config,
        r#"
requirepass = "root-secret"

[[users]]
name = "reader"
password = "reader-secret"
role = "read-only"

[[users]]
name = "writer"
password = "writer-secret"
role = "read-write"
"#,
    )
    .unwrap();
    Node::start_none(work, "n", &["--config", &config.display().to_string()])
}

#[test]
fn unauthenticated_wrong_password_and_roles() {
    let work = tempfile::tempdir().unwrap();
    let node = start(work.path());
    let mut c = node.client();

    // Before AUTH: only AUTH, HELLO, PING, QUIT.
    assert_eq!(cmd::<String>(&mut c, &["PING"]).unwrap(), "PONG");
    let e = err_code(cmd(&mut c, &["GET", "k"]));
    assert!(e.starts_with("NOAUTH Authentication required"), "{e}");
    let e = err_code(cmd(&mut c, &["SET", "k", "v"]));
    assert!(e.starts_with("NOAUTH"), "{e}");
    let e = err_code(cmd(&mut c, &["HELLO", "3"]));
    assert!(e.starts_with("NOAUTH"), "{e}");

    // Wrong passwords, and an unknown user, are the same WRONGPASS.
    let e = err_code(cmd(&mut c, &["AUTH", "nope"]));
    assert!(e.starts_with("WRONGPASS"), "{e}");
    let e = err_code(cmd(&mut c, &["AUTH", "reader", "writer-secret"]));
    assert!(e.starts_with("WRONGPASS"), "{e}");
    let e = err_code(cmd(&mut c, &["AUTH", "ghost", "reader-secret"]));
    assert!(e.starts_with("WRONGPASS"), "{e}");
    assert!(err_code(cmd(&mut c, &["GET", "k"])).starts_with("NOAUTH"));

    // The default user (requirepass) is admin.
    let () = cmd(&mut c, &["AUTH", "root-secret"]).unwrap();
    assert_eq!(
        cmd::<String>(&mut c, &["ACL", "WHOAMI"]).unwrap(),
        "default"
    );
    let () = cmd(&mut c, &["SET", "k", "v"]).unwrap();
    let list: Vec<String> = cmd(&mut c, &["ACL", "LIST"]).unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    for line in &list {
        assert!(line.contains("$argon2id$"), "{line}");
        assert!(!line.contains("secret"), "{line}");
    }

    // read-only: reads yes, writes and admin no.
    let () = cmd(&mut c, &["AUTH", "reader", "reader-secret"]).unwrap();
    assert_eq!(cmd::<String>(&mut c, &["ACL", "WHOAMI"]).unwrap(), "reader");
    assert_eq!(cmd::<String>(&mut c, &["GET", "k"]).unwrap(), "v");
    let e = err_code(cmd(&mut c, &["SET", "k", "x"]));
    assert!(e.starts_with("NOPERM"), "{e}");
    assert!(e.contains("'set'"), "{e}");
    assert!(err_code(cmd(&mut c, &["DEL", "k"])).starts_with("NOPERM"));
    assert!(err_code(cmd(&mut c, &["ACL", "LIST"])).starts_with("NOPERM"));
    // A refused command inside MULTI aborts the transaction.
    let () = cmd(&mut c, &["MULTI"]).unwrap();
    assert!(err_code(cmd(&mut c, &["SET", "k", "x"])).starts_with("NOPERM"));
    assert!(err_code(cmd(&mut c, &["EXEC"])).starts_with("EXECABORT"));

    // read-write: writes yes, FLUSHDB / CONFIG / SNOWFLK BACKUP no.
    let () = cmd(&mut c, &["AUTH", "writer", "writer-secret"]).unwrap();
    let () = cmd(&mut c, &["SET", "k", "w"]).unwrap();
    assert!(err_code(cmd(&mut c, &["FLUSHDB"])).starts_with("NOPERM"));
    assert!(err_code(cmd(&mut c, &["CONFIG", "GET", "save"])).starts_with("NOPERM"));
    let backup = work.path().join("b").display().to_string();
    assert!(err_code(cmd(&mut c, &["SNOWFLK", "BACKUP", &backup])).starts_with("NOPERM"));
    assert!(!work.path().join("b").exists());
    let leader: Value = cmd(&mut c, &["SNOWFLK", "LEADER"]).unwrap();
    assert!(matches!(leader, Value::Array(_)), "{leader:?}");

    // HELLO 3 AUTH authenticates and switches protocol in one step.
    let mut h = node.client();
    let e = err_code(cmd(&mut h, &["HELLO", "3", "AUTH", "writer", "bad"]));
    assert!(e.starts_with("WRONGPASS"), "{e}");
    let hello: Value = cmd(&mut h, &["HELLO", "3", "AUTH", "writer", "writer-secret"]).unwrap();
    assert!(matches!(hello, Value::Map(_)), "{hello:?}");
    assert_eq!(cmd::<String>(&mut h, &["GET", "k"]).unwrap(), "w");
    // RESET forgets the user.
    let _: Value = cmd(&mut h, &["RESET"]).unwrap();
    assert!(err_code(cmd(&mut h, &["GET", "k"])).starts_with("NOAUTH"));

    // The redis crate authenticates from the URL.
    let url = format!("redis://reader:reader-secret@{}/", node.addr);
    let mut r = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(cmd::<String>(&mut r, &["GET", "k"]).unwrap(), "w");

    // Failed attempts are counted and logged with the client address,
    // never with the password.
    let info: String = cmd(&mut c, &["INFO", "stats"]).unwrap();
    assert!(info.contains("acl_access_denied_auth:4"), "{info}");
    drop(c);
    drop(h);
    drop(r);
    let log = node.stderr();
    assert!(log.contains("authentication failed"), "{log}");
    assert!(log.contains("127.0.0.1:"), "{log}");
    for secret in [
        "nope",
        "writer-secret",
        "reader-secret",
        "root-secret",
        "bad",
    ] {
        assert!(
            !log.lines()
                .any(|l| l.contains("authentication failed") && l.contains(secret)),
            "{secret} in {log}"
        );
    }
}

#[test]
fn bad_user_tables_and_hash_password() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("bad.toml");
    std::fs::write(&config, "[[users]]\nname = \"u\"\nrole = \"admin\"\n").unwrap();
    let (status, err) = common::run_to_exit(
        work.path(),
        &[
            "--replication",
            "none",
            "--config",
            &config.display().to_string(),
        ],
    );
    assert!(!status.success());
    assert!(
        err.contains("exactly one of password and password-hash"),
        "{err}"
    );

    // --hash-password prints a hash that a user table accepts.
    let mut child = std::process::Command::new(common::binary())
        .arg("--hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hunter2\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let good = work.path().join("good.toml");
    std::fs::write(
        &good,
        format!("[[users]]\nname = \"ops\"\npassword-hash = \"{hash}\"\nrole = \"admin\"\n"),
    )
    .unwrap();
    let node = Node::start_none(work.path(), "n", &["--config", &good.display().to_string()]);
    let mut c = node.client();
    let () = cmd(&mut c, &["AUTH", "ops", "hunter2"]).unwrap();
    assert_eq!(cmd::<String>(&mut c, &["ACL", "WHOAMI"]).unwrap(), "ops");
}
