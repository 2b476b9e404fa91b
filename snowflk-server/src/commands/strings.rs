//! String commands: GET, SET, SETNX, SETEX, PSETEX, GETSET, MGET, MSET, INCR, INCRBY,
//! DECR, DECRBY, GETDEL, APPEND, STRLEN, CAS.

use super::{Args, Command, Parsed, syntax};
use crate::ops::{ReadOp, Reply, SetCondition, SetExpiry, WriteCmd};

/// Parses a string command (arity already checked).
pub fn parse(name: &str, a: &Args<'_>) -> Parsed {
    Ok(match name {
        "GET" => Command::Read(ReadOp::Get { key: a.key(1)? }),
        "SET" => return set(a),
        "SETNX" => Command::Write(WriteCmd::SetNx {
            key: a.key(1)?,
            value: a.value(2)?,
        }),
        "SETEX" => return set_with_expiry(a, "setex", 1000),
        "PSETEX" => return set_with_expiry(a, "psetex", 1),
        // Redis deprecates it for `SET key value GET`, which it is.
        "GETSET" => Command::Write(WriteCmd::Set {
            key: a.key(1)?,
            value: a.value(2)?,
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: true,
        }),
        "MGET" => Command::Read(ReadOp::MGet {
            keys: a.keys_from(1)?,
        }),
        "MSET" => {
            if a.len().is_multiple_of(2) {
                return Err(super::wrong_args("mset"));
            }
            let mut pairs = Vec::with_capacity(a.len() / 2);
            for i in (1..a.len()).step_by(2) {
                pairs.push((a.key(i)?, a.value(i + 1)?));
            }
            Command::Write(WriteCmd::MSet { pairs })
        }
        "INCR" => incr(a, 1)?,
        "DECR" => incr(a, -1)?,
        "INCRBY" => incr(a, a.int(2)?)?,
        "DECRBY" => {
            let n = a.int(2)?;
            let Some(neg) = n.checked_neg() else {
                return Err(Reply::error("ERR decrement would overflow"));
            };
            incr(a, neg)?
        }
        "GETDEL" => Command::Write(WriteCmd::GetDel { key: a.key(1)? }),
        "APPEND" => Command::Write(WriteCmd::Append {
            key: a.key(1)?,
            value: a.value(2)?,
        }),
        "STRLEN" => Command::Read(ReadOp::StrLen { key: a.key(1)? }),
        "CAS" => Command::Write(WriteCmd::Cas {
            key: a.key(1)?,
            expected: a.value(2)?,
            new: a.value(3)?,
        }),
        _ => return Err(super::unknown_command(a.args)),
    })
}

fn incr(a: &Args<'_>, delta: i64) -> Parsed {
    Ok(Command::Write(WriteCmd::IncrBy {
        key: a.key(1)?,
        delta,
    }))
}

/// `SETEX key seconds value` (`unit_ms` 1000) and `PSETEX key ms value`
/// (1): `SET key value EX|PX n`, with Redis's error for a bad time.
fn set_with_expiry(a: &Args<'_>, name: &str, unit_ms: u64) -> Parsed {
    let key = a.key(1)?;
    let n = a.int(2)?;
    let value = a.value(3)?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{name}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = (n as u64).checked_mul(unit_ms).ok_or_else(invalid)?;
    if !crate::ops::relative_expiry_fits(ms) {
        return Err(invalid());
    }
    Ok(Command::Write(WriteCmd::Set {
        key,
        value,
        condition: SetCondition::Always,
        expiry: SetExpiry::In(ms),
        get: false,
    }))
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
fn set(a: &Args<'_>) -> Parsed {
    let key = a.key(1)?;
    let value = a.value(2)?;
    let mut condition = SetCondition::Always;
    let mut expiry = SetExpiry::Clear;
    let mut expiry_given = false;
    let mut get = false;
    let mut i = 3;
    while i < a.len() {
        let opt = a.upper(i);
        match opt.as_str() {
            "NX" | "XX" => {
                if condition != SetCondition::Always {
                    return Err(syntax());
                }
                condition = if opt == "NX" {
                    SetCondition::IfAbsent
                } else {
                    SetCondition::IfPresent
                };
            }
            "GET" => get = true,
            "KEEPTTL" => {
                if expiry_given {
                    return Err(syntax());
                }
                expiry_given = true;
                expiry = SetExpiry::Keep;
            }
            "EX" | "PX" | "EXAT" | "PXAT" => {
                if expiry_given || i + 1 >= a.len() {
                    return Err(syntax());
                }
                expiry_given = true;
                i += 1;
                let n = a.int(i)?;
                let invalid = || Reply::error("ERR invalid expire time in 'set' command");
                if n <= 0 {
                    return Err(invalid());
                }
                let n = n as u64;
                let ms = |v: u64| v.checked_mul(1000).ok_or_else(invalid);
                expiry = match opt.as_str() {
                    "EX" => SetExpiry::In(ms(n)?),
                    "PX" => SetExpiry::In(n),
                    "EXAT" => SetExpiry::At(ms(n)?),
                    _ => SetExpiry::At(n),
                };
                let fits = match expiry {
                    SetExpiry::In(d) => crate::ops::relative_expiry_fits(d),
                    SetExpiry::At(t) => t <= crate::ops::MAX_EXPIRY_MS,
                    _ => true,
                };
                if !fits {
                    return Err(invalid());
                }
            }
            _ => return Err(syntax()),
        }
        i += 1;
    }
    Ok(Command::Write(WriteCmd::Set {
        key,
        value,
        condition,
        expiry,
        get,
    }))
}

#[cfg(test)]
mod tests {
    use crate::commands::test_util::{Harness, bulk, is_err};
    use crate::ops::Reply;

    #[test]
    fn get_set_options() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["GET", "k"]), Reply::Nil);
        assert_eq!(h.run(&["SET", "k", "v"]), Reply::ok());
        assert_eq!(h.run(&["get", "k"]), bulk("v"));
        assert_eq!(h.run(&["SET", "k", "w", "NX"]), Reply::Nil);
        assert_eq!(h.run(&["SET", "k", "w", "XX", "GET"]), bulk("v"));
        assert_eq!(h.run(&["SET", "new", "x", "XX"]), Reply::Nil);
        assert_eq!(h.run(&["GET", "new"]), Reply::Nil);
        assert_eq!(h.run(&["SET", "new", "x", "NX", "GET"]), Reply::Nil);
        assert_eq!(h.run(&["GET", "new"]), bulk("x"));
        assert!(is_err(&h.run(&["SET", "k", "v", "NX", "XX"]), "ERR syntax"));
        assert!(is_err(
            &h.run(&["SET", "k", "v", "EX", "1", "PX", "1"]),
            "ERR syntax"
        ));
        assert!(is_err(&h.run(&["SET", "k", "v", "EX"]), "ERR syntax"));
        assert!(is_err(
            &h.run(&["SET", "k", "v", "EX", "0"]),
            "ERR invalid expire"
        ));
        // Absolute expiries past i64::MAX ms are refused, as by Redis.
        for (opt, n) in [
            ("EX", "9223372036854775"),
            ("PX", "9223372036854775807"),
            ("EXAT", "18446744073709551"),
            ("EXAT", "9223372036854776"),
        ] {
            assert!(
                is_err(&h.run(&["SET", "k", "v", opt, n]), "ERR invalid expire"),
                "SET {opt} {n}"
            );
        }
        assert!(is_err(
            &h.run(&["SET", "k", "v", "EX", "x"]),
            "ERR value is not"
        ));
        assert!(is_err(&h.run(&["SET", "k"]), "ERR wrong number"));
    }

    #[test]
    fn set_expiry_and_keepttl() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v", "EX", "10"]);
        assert_eq!(h.run(&["PTTL", "k"]), Reply::Int(10_000));
        assert_eq!(h.run(&["SET", "k", "v2", "KEEPTTL"]), Reply::ok());
        assert_eq!(h.run(&["PTTL", "k"]), Reply::Int(10_000));
        h.run(&["SET", "k", "v3"]);
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(-1));
        let at = (h.now + 5000).to_string();
        h.run(&["SET", "k", "v", "PXAT", &at]);
        assert_eq!(h.run(&["PTTL", "k"]), Reply::Int(5000));
        h.now += 5000;
        assert_eq!(h.run(&["GET", "k"]), Reply::Nil);
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(-2));
        // Expired keys are absent for writes too.
        assert_eq!(h.run(&["SET", "k", "n", "NX"]), Reply::ok());
        h.run(&["SET", "p", "v", "PX", "1500"]);
        assert_eq!(h.run(&["TTL", "p"]), Reply::Int(2));
        let past = ((h.now - 1000) / 1000).to_string();
        assert_eq!(h.run(&["SET", "q", "v", "EXAT", &past]), Reply::ok());
        assert_eq!(h.run(&["GET", "q"]), Reply::Nil);
    }

    #[test]
    fn setnx_setex_psetex_getset() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["SETNX", "k", "a"]), Reply::Int(1));
        assert_eq!(h.run(&["SETNX", "k", "b"]), Reply::Int(0));
        assert_eq!(h.run(&["GET", "k"]), bulk("a"));
        assert_eq!(h.run(&["SETEX", "e", "10", "v"]), Reply::ok());
        assert_eq!(h.run(&["PTTL", "e"]), Reply::Int(10_000));
        assert_eq!(h.run(&["GET", "e"]), bulk("v"));
        assert_eq!(h.run(&["PSETEX", "p", "1500", "w"]), Reply::ok());
        assert_eq!(h.run(&["PTTL", "p"]), Reply::Int(1500));
        h.now += 1500;
        assert_eq!(h.run(&["GET", "p"]), Reply::Nil);
        // An expired key is absent for SETNX.
        assert_eq!(h.run(&["SETNX", "p", "again"]), Reply::Int(1));
        assert_eq!(h.run(&["TTL", "p"]), Reply::Int(-1));
        for (cmd, name) in [("SETEX", "setex"), ("PSETEX", "psetex")] {
            for bad in ["0", "-5"] {
                let r = h.run(&[cmd, "x", bad, "v"]);
                assert!(
                    is_err(&r, &format!("ERR invalid expire time in '{name}' command")),
                    "{cmd} {bad}: {r:?}"
                );
            }
            assert!(is_err(&h.run(&[cmd, "x", "ten", "v"]), "ERR value is not"));
            assert!(is_err(&h.run(&[cmd, "x", "10"]), "ERR wrong number"));
        }
        assert!(is_err(
            &h.run(&["SETEX", "x", "9223372036854775", "v"]),
            "ERR invalid expire time in 'setex'"
        ));
        assert_eq!(h.run(&["GET", "x"]), Reply::Nil);
        // GETSET: the old value (nil if none), and the TTL is cleared.
        assert_eq!(h.run(&["GETSET", "g", "1"]), Reply::Nil);
        h.run(&["SET", "g", "2", "EX", "100"]);
        assert_eq!(h.run(&["GETSET", "g", "3"]), bulk("2"));
        assert_eq!(h.run(&["GET", "g"]), bulk("3"));
        assert_eq!(h.run(&["TTL", "g"]), Reply::Int(-1));
        assert!(is_err(&h.run(&["SETNX", "k"]), "ERR wrong number"));
    }

    #[test]
    fn mget_mset() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["MSET", "a", "1", "b", "2", "a", "3"]), Reply::ok());
        assert_eq!(
            h.run(&["MGET", "a", "b", "c"]),
            Reply::Array(vec![bulk("3"), bulk("2"), Reply::Nil])
        );
        assert!(is_err(&h.run(&["MSET", "a", "1", "b"]), "ERR wrong number"));
    }

    #[test]
    fn incr_family() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["INCR", "n"]), Reply::Int(1));
        assert_eq!(h.run(&["INCRBY", "n", "10"]), Reply::Int(11));
        assert_eq!(h.run(&["DECR", "n"]), Reply::Int(10));
        assert_eq!(h.run(&["DECRBY", "n", "20"]), Reply::Int(-10));
        assert_eq!(h.run(&["GET", "n"]), bulk("-10"));
        h.run(&["SET", "s", "abc"]);
        assert!(is_err(
            &h.run(&["INCR", "s"]),
            "ERR value is not an integer"
        ));
        assert_eq!(h.run(&["GET", "s"]), bulk("abc"));
        h.run(&["SET", "m", &i64::MAX.to_string()]);
        assert!(is_err(
            &h.run(&["INCR", "m"]),
            "ERR increment or decrement would overflow"
        ));
        assert!(is_err(&h.run(&["INCRBY", "n", "1.5"]), "ERR value is not"));
        assert!(is_err(
            &h.run(&["DECRBY", "n", &i64::MIN.to_string()]),
            "ERR decrement"
        ));
        h.run(&["SET", "t", "5", "EX", "100"]);
        h.run(&["INCR", "t"]);
        assert_eq!(h.run(&["TTL", "t"]), Reply::Int(100));
    }

    #[test]
    fn getdel_append_strlen_cas() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["APPEND", "k", "ab"]), Reply::Int(2));
        assert_eq!(h.run(&["APPEND", "k", "cd"]), Reply::Int(4));
        assert_eq!(h.run(&["STRLEN", "k"]), Reply::Int(4));
        assert_eq!(h.run(&["STRLEN", "nope"]), Reply::Int(0));
        assert_eq!(h.run(&["CAS", "k", "x", "y"]), Reply::Int(0));
        assert_eq!(h.run(&["CAS", "k", "abcd", "y"]), Reply::Int(1));
        assert_eq!(h.run(&["CAS", "missing", "", "y"]), Reply::Int(0));
        assert_eq!(h.run(&["GETDEL", "k"]), bulk("y"));
        assert_eq!(h.run(&["GETDEL", "k"]), Reply::Nil);
        assert_eq!(h.run(&["GET", "k"]), Reply::Nil);
    }
}
