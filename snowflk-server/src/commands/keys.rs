//! Key-space and expiry commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, RENAME,
//! RENAMENX, EXPIRE family, TTL, PTTL, PERSIST, DBSIZE, SCAN, KEYS, FLUSHDB.

use super::{Args, Command, Parsed, syntax};
use crate::ops::{Deadline, ExpireCondition, ReadOp, Reply, TtlUnit, WriteCmd};

/// Parses a key-space command (arity already checked).
pub fn parse(name: &str, a: &Args<'_>) -> Parsed {
    Ok(match name {
        // UNLINK frees memory in the background in Redis; here both are
        // one log entry.
        "DEL" | "UNLINK" => Command::Write(WriteCmd::Del {
            keys: a.keys_from(1)?,
        }),
        // TOUCH only updates access times in Redis, which snowflk does not
        // keep: it counts the existing keys, as EXISTS does.
        "EXISTS" | "TOUCH" => Command::Read(ReadOp::Exists {
            keys: a.keys_from(1)?,
        }),
        "TYPE" => Command::Read(ReadOp::Type { key: a.key(1)? }),
        "RENAME" | "RENAMENX" => Command::Write(WriteCmd::Rename {
            src: a.key(1)?,
            dst: a.key(2)?,
            only_if_absent: name == "RENAMENX",
        }),
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => return expire(name, a),
        "TTL" => Command::Read(ReadOp::Ttl {
            key: a.key(1)?,
            unit: TtlUnit::Seconds,
        }),
        "PTTL" => Command::Read(ReadOp::Ttl {
            key: a.key(1)?,
            unit: TtlUnit::Millis,
        }),
        "PERSIST" => Command::Write(WriteCmd::Persist { key: a.key(1)? }),
        "DBSIZE" => Command::Read(ReadOp::DbSize),
        "KEYS" => Command::Read(ReadOp::Keys {
            pattern: a.raw(1).to_vec(),
        }),
        "SCAN" => return scan(a),
        "FLUSHDB" => {
            if a.len() > 2 || (a.len() == 2 && !matches!(a.upper(1).as_str(), "SYNC" | "ASYNC")) {
                return Err(syntax());
            }
            Command::Write(WriteCmd::FlushDb)
        }
        _ => return Err(super::unknown_command(a.args)),
    })
}

fn expire(name: &str, a: &Args<'_>) -> Parsed {
    let key = a.key(1)?;
    let n = a.int(2)?;
    let lower = name.to_ascii_lowercase();
    let invalid = || Reply::error(format!("ERR invalid expire time in '{lower}' command"));
    let millis = match name {
        "EXPIRE" | "EXPIREAT" => n.checked_mul(1000).ok_or_else(invalid)?,
        _ => n,
    };
    if millis > 0
        && matches!(name, "EXPIRE" | "PEXPIRE")
        && !crate::ops::relative_expiry_fits(millis as u64)
    {
        return Err(invalid());
    }
    let deadline = match name {
        "EXPIRE" | "PEXPIRE" if millis > 0 => Deadline::In(millis as u64),
        // A time in the past (or now) deletes the key.
        "EXPIRE" | "PEXPIRE" => Deadline::At(0),
        _ => Deadline::At(millis.max(0) as u64),
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for i in 3..a.len() {
        match a.upper(i).as_str() {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => gt = true,
            "LT" => lt = true,
            other => return Err(Reply::error(format!("ERR Unsupported option {other}"))),
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Reply::error(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    // GT already needs an expiry (none counts as infinite); LT does not, so
    // XX LT is its own condition.
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::IfNone,
        (_, _, true, _) => ExpireCondition::IfGreater,
        (_, true, _, true) => ExpireCondition::IfSomeAndLess,
        (_, _, _, true) => ExpireCondition::IfLess,
        (_, true, ..) => ExpireCondition::IfSome,
        _ => ExpireCondition::Always,
    };
    Ok(Command::Write(WriteCmd::Expire {
        key,
        deadline,
        condition,
    }))
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE string]`.
fn scan(a: &Args<'_>) -> Parsed {
    let cursor = std::str::from_utf8(a.raw(1))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    let mut i = 2;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(syntax());
        }
        match a.upper(i).as_str() {
            "MATCH" => pattern = Some(a.raw(i + 1).to_vec()),
            "COUNT" => {
                let n = a.int(i + 1)?;
                if n < 1 {
                    return Err(syntax());
                }
                count = usize::try_from(n).unwrap_or(usize::MAX).min(1 << 20);
            }
            "TYPE" => {
                if !a.raw(i + 1).eq_ignore_ascii_case(b"string") {
                    // Only strings exist: a scan for any other type finds nothing.
                    return Ok(Command::Reply(Reply::Array(vec![
                        Reply::bulk("0"),
                        Reply::Array(vec![]),
                    ])));
                }
            }
            _ => return Err(syntax()),
        }
        i += 2;
    }
    Ok(Command::Read(ReadOp::Scan {
        cursor,
        pattern,
        count,
    }))
}

#[cfg(test)]
mod tests {
    use crate::commands::test_util::{Harness, bulk, is_err};
    use crate::ops::Reply;

    #[test]
    fn del_exists_dbsize_flush() {
        let mut h = Harness::new();
        h.run(&["MSET", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(h.run(&["EXISTS", "a", "a", "x"]), Reply::Int(2));
        assert_eq!(h.run(&["DBSIZE"]), Reply::Int(3));
        assert_eq!(h.run(&["DEL", "a", "a", "x"]), Reply::Int(1));
        assert_eq!(h.run(&["DBSIZE"]), Reply::Int(2));
        assert_eq!(h.run(&["FLUSHDB"]), Reply::ok());
        assert_eq!(h.run(&["DBSIZE"]), Reply::Int(0));
        assert_eq!(h.run(&["GET", "b"]), Reply::Nil);
        assert!(is_err(&h.run(&["FLUSHDB", "NOW"]), "ERR syntax"));
    }

    #[test]
    fn unlink_touch_type_rename_renamenx() {
        let mut h = Harness::new();
        h.run(&["SET", "a", "1", "EX", "100"]);
        h.run(&["SET", "b", "2"]);
        assert_eq!(h.run(&["TYPE", "a"]), Reply::Simple("string".into()));
        assert_eq!(h.run(&["TYPE", "nope"]), Reply::Simple("none".into()));
        assert_eq!(h.run(&["TOUCH", "a", "b", "nope", "a"]), Reply::Int(3));
        assert_eq!(h.run(&["UNLINK", "b", "nope"]), Reply::Int(1));
        assert_eq!(h.run(&["GET", "b"]), Reply::Nil);
        // A missing source is an error, for both.
        for cmd in ["RENAME", "RENAMENX"] {
            assert_eq!(
                h.run(&[cmd, "nope", "x"]),
                Reply::error("ERR no such key"),
                "{cmd}"
            );
        }
        // The value and its expiry move.
        assert_eq!(h.run(&["RENAME", "a", "c"]), Reply::ok());
        assert_eq!(h.run(&["GET", "a"]), Reply::Nil);
        assert_eq!(h.run(&["GET", "c"]), Reply::bulk("1"));
        assert_eq!(h.run(&["PTTL", "c"]), Reply::Int(100_000));
        // RENAME replaces the destination, its expiry included.
        h.run(&["SET", "d", "4", "EX", "5"]);
        h.run(&["PERSIST", "c"]);
        assert_eq!(h.run(&["RENAME", "c", "d"]), Reply::ok());
        assert_eq!(h.run(&["GET", "d"]), Reply::bulk("1"));
        assert_eq!(h.run(&["TTL", "d"]), Reply::Int(-1));
        // Onto itself: RENAME is OK, RENAMENX 0; nothing changes.
        assert_eq!(h.run(&["RENAME", "d", "d"]), Reply::ok());
        assert_eq!(h.run(&["RENAMENX", "d", "d"]), Reply::Int(0));
        assert_eq!(h.run(&["GET", "d"]), Reply::bulk("1"));
        h.run(&["SET", "e", "5"]);
        assert_eq!(h.run(&["RENAMENX", "d", "e"]), Reply::Int(0));
        assert_eq!(h.run(&["GET", "d"]), Reply::bulk("1"));
        assert_eq!(h.run(&["GET", "e"]), Reply::bulk("5"));
        assert_eq!(h.run(&["RENAMENX", "d", "f"]), Reply::Int(1));
        assert_eq!(h.run(&["GET", "f"]), Reply::bulk("1"));
        assert_eq!(h.run(&["EXISTS", "d"]), Reply::Int(0));
        // An expired source is missing; an expired destination is free.
        h.run(&["SET", "g", "v", "PX", "10"]);
        h.run(&["SET", "h", "w", "PX", "10"]);
        h.now += 10;
        assert_eq!(
            h.run(&["RENAME", "g", "x"]),
            Reply::error("ERR no such key")
        );
        assert_eq!(h.run(&["RENAMENX", "f", "h"]), Reply::Int(1));
        assert_eq!(h.run(&["GET", "h"]), Reply::bulk("1"));
        assert!(h.run(&["RENAME", "f"]).is_error());
        assert!(h.run(&["TYPE", "a", "b"]).is_error());
    }

    #[test]
    fn expire_ttl_persist() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["EXPIRE", "k", "10"]), Reply::Int(0));
        h.run(&["SET", "k", "v"]);
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(-1));
        assert_eq!(h.run(&["EXPIRE", "k", "10"]), Reply::Int(1));
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(10));
        assert_eq!(h.run(&["PEXPIRE", "k", "20000", "GT"]), Reply::Int(1));
        assert_eq!(h.run(&["PEXPIRE", "k", "5000", "GT"]), Reply::Int(0));
        assert_eq!(h.run(&["PEXPIRE", "k", "5000", "LT"]), Reply::Int(1));
        assert_eq!(h.run(&["EXPIRE", "k", "50", "NX"]), Reply::Int(0));
        assert_eq!(h.run(&["PTTL", "k"]), Reply::Int(5000));
        assert_eq!(h.run(&["PERSIST", "k"]), Reply::Int(1));
        assert_eq!(h.run(&["PERSIST", "k"]), Reply::Int(0));
        assert_eq!(h.run(&["EXPIRE", "k", "50", "XX"]), Reply::Int(0));
        let at = ((h.now + 30_000) / 1000).to_string();
        assert_eq!(h.run(&["EXPIREAT", "k", &at]), Reply::Int(1));
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(30));
        let at = (h.now + 700).to_string();
        assert_eq!(h.run(&["PEXPIREAT", "k", &at]), Reply::Int(1));
        assert_eq!(h.run(&["PTTL", "k"]), Reply::Int(700));
        assert_eq!(h.run(&["EXPIRE", "k", "-1"]), Reply::Int(1));
        assert_eq!(h.run(&["GET", "k"]), Reply::Nil);
        assert!(is_err(
            &h.run(&["EXPIRE", "k", "1", "NX", "XX"]),
            "ERR NX and XX"
        ));
        assert!(is_err(
            &h.run(&["EXPIRE", "k", "1", "GT", "LT"]),
            "ERR GT and LT"
        ));
        h.run(&["SET", "p", "v"]);
        assert_eq!(h.run(&["EXPIRE", "p", "10", "XX", "LT"]), Reply::Int(0));
        assert_eq!(h.run(&["EXPIRE", "p", "10", "LT"]), Reply::Int(1));
        assert_eq!(h.run(&["EXPIRE", "p", "5", "XX", "LT"]), Reply::Int(1));
        assert_eq!(h.run(&["TTL", "p"]), Reply::Int(5));
        assert!(is_err(
            &h.run(&["EXPIRE", "k", "1", "BOGUS"]),
            "ERR Unsupported"
        ));
        assert!(is_err(
            &h.run(&["EXPIRE", "k", &i64::MAX.to_string()]),
            "ERR invalid expire"
        ));
        // A relative time whose absolute expiry passes i64::MAX ms, as in Redis.
        h.run(&["SET", "q", "v"]);
        assert!(is_err(
            &h.run(&["PEXPIRE", "q", &i64::MAX.to_string()]),
            "ERR invalid expire"
        ));
        assert_eq!(h.run(&["PTTL", "q"]), Reply::Int(-1));
    }

    #[test]
    fn expiry_counts_and_purge() {
        let mut h = Harness::new();
        h.run(&["SET", "a", "1", "PX", "100"]);
        h.run(&["SET", "b", "1", "PX", "200"]);
        h.run(&["SET", "c", "1"]);
        assert_eq!(h.run(&["DBSIZE"]), Reply::Int(3));
        h.now += 150;
        assert_eq!(h.run(&["DBSIZE"]), Reply::Int(2));
        assert_eq!(h.run(&["EXISTS", "a", "b", "c"]), Reply::Int(2));
        assert_eq!(
            h.run(&["KEYS", "*"]),
            Reply::Array(vec![bulk("b"), bulk("c")])
        );
        assert_eq!(h.sm.expired_count(h.now), 1);
        let r =
            h.sm.apply(
                100,
                &crate::ops::WriteOp::new(crate::ops::WriteCmd::PurgeExpired { limit: 10 }, h.now),
            )
            .unwrap();
        assert_eq!(r, Reply::Int(1));
        assert_eq!(h.sm.expired_count(h.now), 0);
        assert_eq!(h.sm.volatile_len(), 1);
        assert_eq!(h.sm.store().unwrap().len(), 3, "b, c and the applied index");
    }

    #[test]
    fn keys_and_scan() {
        let mut h = Harness::new();
        let mut all = Vec::new();
        for i in 0..57 {
            let k = format!("key:{i}");
            h.run(&["SET", &k, "v"]);
            all.push(k);
        }
        h.run(&["SET", "other", "v"]);
        all.sort();
        let keys = h.run(&["KEYS", "key:*"]);
        assert_eq!(keys, Reply::Array(all.iter().map(|k| bulk(k)).collect()));
        // A full scan returns every key exactly once (no writes meanwhile).
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        let mut rounds = 0;
        loop {
            let Reply::Array(parts) = h.run(&["SCAN", &cursor, "MATCH", "key:*", "COUNT", "7"])
            else {
                panic!()
            };
            let (Reply::Bulk(c), Reply::Array(ks)) = (&parts[0], &parts[1]) else {
                panic!()
            };
            for k in ks {
                let Reply::Bulk(k) = k else { panic!() };
                seen.push(String::from_utf8(k.clone()).unwrap());
            }
            cursor = String::from_utf8(c.clone()).unwrap();
            rounds += 1;
            if cursor == "0" {
                break;
            }
            assert!(rounds < 100);
        }
        seen.sort();
        assert_eq!(seen, all);
        assert!(is_err(&h.run(&["SCAN", "x"]), "ERR invalid cursor"));
        assert!(is_err(&h.run(&["SCAN", "0", "COUNT", "0"]), "ERR syntax"));
        assert!(is_err(&h.run(&["SCAN", "0", "MATCH"]), "ERR syntax"));
    }
}
