//! String commands: GET, GETEX, SET, SETNX, SETEX, PSETEX, GETSET, MGET, MSET,
//! MSETNX, INCR, INCRBY, DECR, DECRBY, GETDEL, APPEND, STRLEN, CAS.

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
        "MSET" | "MSETNX" => {
            if a.len().is_multiple_of(2) {
                return Err(super::wrong_args(&name.to_ascii_lowercase()));
            }
            let mut pairs = Vec::with_capacity(a.len() / 2);
            for i in (1..a.len()).step_by(2) {
                pairs.push((a.key(i)?, a.value(i + 1)?));
            }
            if name == "MSET" {
                Command::Write(WriteCmd::MSet { pairs })
            } else {
                Command::Write(WriteCmd::MSetNx { pairs })
            }
        }
        "GETEX" => return getex(a),
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

/// The expiry of option `opt` (`EX`, `PX`, `EXAT` or `PXAT`) whose number
/// is argument `i`, with Redis's error for a bad time in command `name`.
fn expiry_option(a: &Args<'_>, opt: &str, i: usize, name: &str) -> Result<SetExpiry, Reply> {
    let n = a.int(i)?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{name}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let n = n as u64;
    let ms = |v: u64| v.checked_mul(1000).ok_or_else(invalid);
    let expiry = match opt {
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
    if fits { Ok(expiry) } else { Err(invalid()) }
}

/// The expiry options of `SET` and `GETEX` as Redis reads them: an option
/// may repeat (the last one wins, and only its number is checked, after
/// every option is read); two different ones are a syntax error.
#[derive(Default)]
struct ExpiryOption {
    /// The option's name and the position of its number (none for
    /// `KEEPTTL` and `PERSIST`).
    last: Option<(String, Option<usize>)>,
}

impl ExpiryOption {
    /// Takes option `opt` at argument `i` if it is one of `allowed`;
    /// returns how many arguments it used (0: not an expiry option).
    fn take(
        &mut self,
        a: &Args<'_>,
        opt: &str,
        i: usize,
        allowed: &[&str],
    ) -> Result<usize, Reply> {
        if !allowed.contains(&opt) {
            return Ok(0);
        }
        if self.last.as_ref().is_some_and(|(seen, _)| seen != opt) {
            return Err(syntax());
        }
        let takes_number = matches!(opt, "EX" | "PX" | "EXAT" | "PXAT");
        if takes_number && i + 1 >= a.len() {
            return Err(syntax());
        }
        self.last = Some((opt.to_string(), takes_number.then_some(i + 1)));
        Ok(1 + usize::from(takes_number))
    }

    /// The expiry given (`None` if no option was), with Redis's error for
    /// a bad time in command `name`.
    fn resolve(self, a: &Args<'_>, name: &str) -> Result<Option<SetExpiry>, Reply> {
        Ok(match self.last {
            None => None,
            Some((opt, None)) if opt == "KEEPTTL" => Some(SetExpiry::Keep),
            Some((_, None)) => Some(SetExpiry::Clear),
            Some((opt, Some(i))) => Some(expiry_option(a, &opt, i, name)?),
        })
    }
}

/// `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]`: with no option, a read.
fn getex(a: &Args<'_>) -> Parsed {
    let key = a.key(1)?;
    let mut option = ExpiryOption::default();
    let mut i = 2;
    while i < a.len() {
        let used = option.take(a, &a.upper(i), i, &["EX", "PX", "EXAT", "PXAT", "PERSIST"])?;
        if used == 0 {
            return Err(syntax());
        }
        i += used;
    }
    Ok(match option.resolve(a, "getex") {
        Ok(None) => Command::Read(ReadOp::Get { key }),
        Ok(Some(expiry)) => Command::Write(WriteCmd::GetEx { key, expiry }),
        // A time that does not parse or fit: Redis answers nil for a
        // missing key before it looks at the time.
        Err(Reply::Error(error)) => Command::Read(ReadOp::GetExBadTime { key, error }),
        Err(other) => return Err(other),
    })
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
fn set(a: &Args<'_>) -> Parsed {
    let key = a.key(1)?;
    let value = a.value(2)?;
    let mut condition = SetCondition::Always;
    let mut option = ExpiryOption::default();
    let mut get = false;
    let mut i = 3;
    while i < a.len() {
        let opt = a.upper(i);
        let used = option.take(a, &opt, i, &["EX", "PX", "EXAT", "PXAT", "KEEPTTL"])?;
        if used > 0 {
            i += used;
            continue;
        }
        match opt.as_str() {
            "NX" | "XX" => {
                let wanted = if opt == "NX" {
                    SetCondition::IfAbsent
                } else {
                    SetCondition::IfPresent
                };
                if condition != SetCondition::Always && condition != wanted {
                    return Err(syntax());
                }
                condition = wanted;
            }
            "GET" => get = true,
            _ => return Err(syntax()),
        }
        i += 1;
    }
    let expiry = option.resolve(a, "set")?.unwrap_or(SetExpiry::Clear);
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
        // As in Redis 7, an option may repeat and the last one wins (only
        // its number is checked); NX with XX, or two expiry kinds, is a
        // syntax error.
        assert_eq!(
            h.run(&["SET", "r", "v", "EX", "0", "EX", "20"]),
            Reply::ok()
        );
        assert_eq!(h.run(&["TTL", "r"]), Reply::Int(20));
        assert_eq!(
            h.run(&["SET", "r", "v", "EX", "abc", "XX", "EX", "30"]),
            Reply::ok()
        );
        assert_eq!(h.run(&["TTL", "r"]), Reply::Int(30));
        assert_eq!(
            h.run(&["SET", "r", "w", "XX", "XX", "GET", "GET"]),
            bulk("v")
        );
        assert_eq!(h.run(&["SET", "r", "x", "NX", "NX"]), Reply::Nil);
        assert_eq!(h.run(&["SET", "r", "y", "KEEPTTL", "KEEPTTL"]), Reply::ok());
        assert_eq!(h.run(&["TTL", "r"]), Reply::Int(-1));
        assert!(is_err(
            &h.run(&["SET", "r", "v", "EX", "10", "KEEPTTL"]),
            "ERR syntax"
        ));
        assert!(is_err(
            &h.run(&["SET", "r", "v", "EX", "10", "EX"]),
            "ERR syntax"
        ));
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
    fn msetnx_sets_all_or_nothing() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["MSETNX", "a", "1", "b", "2"]), Reply::Int(1));
        assert_eq!(h.run(&["MSETNX", "b", "3", "c", "4"]), Reply::Int(0));
        assert_eq!(h.run(&["GET", "b"]), bulk("2"));
        assert_eq!(h.run(&["GET", "c"]), Reply::Nil);
        // A later pair for the same key wins.
        assert_eq!(h.run(&["MSETNX", "x", "1", "x", "2"]), Reply::Int(1));
        assert_eq!(h.run(&["GET", "x"]), bulk("2"));
        // An expired key counts as absent.
        h.run(&["SET", "e", "old", "PX", "5"]);
        h.now += 5;
        assert_eq!(h.run(&["MSETNX", "e", "new"]), Reply::Int(1));
        assert_eq!(h.run(&["TTL", "e"]), Reply::Int(-1));
        assert!(is_err(&h.run(&["MSETNX", "a"]), "ERR wrong number"));
        assert!(is_err(
            &h.run(&["MSETNX", "a", "1", "b"]),
            "ERR wrong number of arguments for 'msetnx'"
        ));
    }

    #[test]
    fn getex_reads_and_sets_the_expiry() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        assert_eq!(h.run(&["GETEX", "k"]), bulk("v"));
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(-1));
        assert_eq!(h.run(&["GETEX", "k", "EX", "10"]), bulk("v"));
        assert_eq!(h.run(&["PTTL", "k"]), Reply::Int(10_000));
        assert_eq!(h.run(&["GETEX", "k", "px", "5000"]), bulk("v"));
        assert_eq!(h.run(&["PTTL", "k"]), Reply::Int(5000));
        assert_eq!(h.run(&["GETEX", "k", "PERSIST"]), bulk("v"));
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(-1));
        assert_eq!(h.run(&["GETEX", "k", "PERSIST"]), bulk("v"));
        let at = (h.now / 1000 + 20).to_string();
        assert_eq!(h.run(&["GETEX", "k", "EXAT", &at]), bulk("v"));
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(20));
        // A time in the past: the value, and the key is gone.
        assert_eq!(h.run(&["GETEX", "k", "PXAT", "1"]), bulk("v"));
        assert_eq!(h.run(&["GET", "k"]), Reply::Nil);
        assert_eq!(h.run(&["GETEX", "k", "EX", "10"]), Reply::Nil);
        assert_eq!(h.run(&["EXISTS", "k"]), Reply::Int(0));
        // On a missing key a bad time is not looked at: nil, as in Redis 7.
        for bad in [
            &["EX", "0"][..],
            &["PX", "abc"],
            &["EXAT", "9223372036854776"],
            &["PX", "-100"],
        ] {
            let mut cmd = vec!["GETEX", "k"];
            cmd.extend_from_slice(bad);
            assert_eq!(h.run(&cmd), Reply::Nil, "{cmd:?}");
        }
        // On a present key it is the error, and nothing changes.
        h.run(&["SET", "k", "v"]);
        for bad in ["0", "-1"] {
            assert!(is_err(
                &h.run(&["GETEX", "k", "EX", bad]),
                "ERR invalid expire time in 'getex' command"
            ));
        }
        assert!(is_err(
            &h.run(&["GETEX", "k", "EX", "ten"]),
            "ERR value is not"
        ));
        assert_eq!(h.run(&["TTL", "k"]), Reply::Int(-1));
        for bad in [
            &["GETEX", "k", "FOO"][..],
            &["GETEX", "k", "EX"],
            &["GETEX", "k", "EX", "10", "PERSIST"],
        ] {
            assert!(is_err(&h.run(bad), "ERR syntax error"), "{bad:?}");
        }
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
