//! The command table: every command the server knows, with Redis-style
//! arity and key positions, as `COMMAND` reports them.

use crate::ops::Reply;

/// Which file parses a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `strings.rs`.
    Strings,
    /// `keys.rs`.
    Keys,
    /// `server.rs`.
    Server,
    /// `admin.rs`.
    Admin,
}

/// One command.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Upper-case name.
    pub name: &'static str,
    /// Redis arity: `n > 0` exactly n arguments (name included), `n < 0` at least -n.
    pub arity: i32,
    /// Redis command flags (`write`, `readonly`, `fast`, ...).
    pub flags: &'static [&'static str],
    /// Position of the first key (0: none).
    pub first_key: i32,
    /// Position of the last key (-1: the last argument).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Where it is parsed.
    pub family: Family,
}

impl Spec {
    /// True if `n` arguments (name included) fit the arity.
    pub fn arity_ok(&self, n: usize) -> bool {
        let n = n as i64;
        let a = i64::from(self.arity);
        if a >= 0 { n == a } else { n >= -a }
    }

    /// The `COMMAND INFO` entry.
    pub fn info(&self) -> Reply {
        Reply::Array(vec![
            Reply::bulk(self.name.to_ascii_lowercase()),
            Reply::Int(i64::from(self.arity)),
            Reply::Array(
                self.flags
                    .iter()
                    .map(|f| Reply::Simple((*f).to_string()))
                    .collect(),
            ),
            Reply::Int(i64::from(self.first_key)),
            Reply::Int(i64::from(self.last_key)),
            Reply::Int(i64::from(self.step)),
        ])
    }
}

const W: &[&str] = &["write", "denyoom"];
const WF: &[&str] = &["write", "denyoom", "fast"];
const WD: &[&str] = &["write"];
const R: &[&str] = &["readonly"];
const RF: &[&str] = &["readonly", "fast"];
const S: &[&str] = &["fast", "loading", "stale"];
const ADM: &[&str] = &["admin", "noscript", "loading", "stale"];

macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $f:expr, $l:expr, $s:expr, $fam:ident) => {
        Spec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $f,
            last_key: $l,
            step: $s,
            family: Family::$fam,
        }
    };
}

/// Every command, sorted by name.
pub const COMMANDS: &[Spec] = &[
    spec!("ACL", -2, S, 0, 0, 0, Server),
    spec!("APPEND", 3, W, 1, 1, 1, Strings),
    spec!("AUTH", -2, S, 0, 0, 0, Server),
    spec!("CAS", 4, W, 1, 1, 1, Strings),
    spec!("CLIENT", -2, S, 0, 0, 0, Server),
    spec!("COMMAND", -1, S, 0, 0, 0, Server),
    spec!("CONFIG", -2, ADM, 0, 0, 0, Server),
    spec!("DBSIZE", 1, RF, 0, 0, 0, Keys),
    spec!("DECR", 2, WF, 1, 1, 1, Strings),
    spec!("DECRBY", 3, WF, 1, 1, 1, Strings),
    spec!("DEL", -2, WD, 1, -1, 1, Keys),
    spec!("DISCARD", 1, S, 0, 0, 0, Server),
    spec!("ECHO", 2, S, 0, 0, 0, Server),
    spec!("EXEC", 1, S, 0, 0, 0, Server),
    spec!("EXISTS", -2, RF, 1, -1, 1, Keys),
    spec!("EXPIRE", -3, WF, 1, 1, 1, Keys),
    spec!("EXPIREAT", -3, WF, 1, 1, 1, Keys),
    spec!("FLUSHDB", -1, WD, 0, 0, 0, Keys),
    spec!("GET", 2, RF, 1, 1, 1, Strings),
    spec!("GETDEL", 2, WF, 1, 1, 1, Strings),
    spec!("GETEX", -2, WF, 1, 1, 1, Strings),
    spec!("GETSET", 3, W, 1, 1, 1, Strings),
    spec!("HELLO", -1, S, 0, 0, 0, Server),
    spec!("INCR", 2, WF, 1, 1, 1, Strings),
    spec!("INCRBY", 3, WF, 1, 1, 1, Strings),
    spec!("INFO", -1, S, 0, 0, 0, Server),
    spec!("KEYS", 2, R, 0, 0, 0, Keys),
    spec!("MGET", -2, RF, 1, -1, 1, Strings),
    spec!("MSET", -3, W, 1, -1, 2, Strings),
    spec!("MSETNX", -3, W, 1, -1, 2, Strings),
    spec!("MULTI", 1, S, 0, 0, 0, Server),
    spec!("PERSIST", 2, WF, 1, 1, 1, Keys),
    spec!("PEXPIRE", -3, WF, 1, 1, 1, Keys),
    spec!("PEXPIREAT", -3, WF, 1, 1, 1, Keys),
    spec!("PING", -1, S, 0, 0, 0, Server),
    spec!("PSETEX", 4, W, 1, 1, 1, Strings),
    spec!("PTTL", 2, RF, 1, 1, 1, Keys),
    spec!("QUIT", -1, S, 0, 0, 0, Server),
    spec!("RENAME", 3, WD, 1, 2, 1, Keys),
    spec!("RENAMENX", 3, WF, 1, 2, 1, Keys),
    spec!("RESET", 1, S, 0, 0, 0, Server),
    spec!("SCAN", -2, R, 0, 0, 0, Keys),
    spec!("SELECT", 2, S, 0, 0, 0, Server),
    spec!("SET", -3, W, 1, 1, 1, Strings),
    spec!("SETEX", 4, W, 1, 1, 1, Strings),
    spec!("SETNX", 3, WF, 1, 1, 1, Strings),
    spec!("SNOWFLK", -2, ADM, 0, 0, 0, Admin),
    spec!("STRLEN", 2, RF, 1, 1, 1, Strings),
    spec!("TIME", 1, S, 0, 0, 0, Server),
    spec!("TOUCH", -2, RF, 1, -1, 1, Keys),
    spec!("TTL", 2, RF, 1, 1, 1, Keys),
    spec!("TYPE", 2, RF, 1, 1, 1, Keys),
    spec!("UNLINK", -2, WF, 1, -1, 1, Keys),
    spec!("UNWATCH", 1, S, 0, 0, 0, Server),
    spec!("WATCH", -2, S, 1, -1, 1, Server),
];

/// The position of upper-case `name` in [`COMMANDS`].
pub fn position(name: &str) -> Option<usize> {
    COMMANDS.binary_search_by(|s| s.name.cmp(name)).ok()
}

/// The spec of upper-case `name`.
pub fn find(name: &str) -> Option<&'static Spec> {
    COMMANDS
        .binary_search_by(|s| s.name.cmp(name))
        .ok()
        .map(|i| &COMMANDS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_findable() {
        assert!(COMMANDS.windows(2).all(|w| w[0].name < w[1].name));
        for s in COMMANDS {
            assert_eq!(find(s.name).map(|f| f.name), Some(s.name));
        }
        assert!(find("NOPE").is_none());
    }
}
