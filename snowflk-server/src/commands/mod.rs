//! Client commands: from a request's arguments to a [`Command`].
//!
//! Parsing decides everything that does not depend on the data: arity,
//! syntax, limits, and relative times (kept relative to the op's clock,
//! see [`crate::ops::Deadline`]). What it cannot answer alone it returns as
//! a [`Command`] for the connection to run: a write or read for the backend,
//! or a connection / server / admin action.
//!
//! One file per family: [`strings`], [`keys`], [`server`] (ping, info,
//! config, client, command, hello, ...), [`admin`] (`SNOWFLK ...`). The
//! table of every command, for `COMMAND` and for unknown-command errors, is
//! [`table::COMMANDS`].

pub mod admin;
pub mod keys;
pub mod server;
pub mod strings;
pub mod table;

use crate::config::Limits;
use crate::ops::{ReadOp, Reply, WriteCmd};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A write: goes to [`crate::ops::Backend::write`] (or into a MULTI queue).
    Write(WriteCmd),
    /// A read: goes to [`crate::ops::Backend::read`].
    Read(ReadOp),
    /// Answered at once (PING, ECHO, COMMAND, CONFIG GET, errors...).
    Reply(Reply),
    /// A data command (a string or key command) whose name and arity are
    /// right but whose arguments are not: a syntax error, a number or time
    /// that does not parse or fit, a key or value over the limits. Redis
    /// reports these when the command runs, so inside `MULTI` the command
    /// is queued and this error is its slot in `EXEC`'s reply (the other
    /// commands still run); outside `MULTI` it is the reply. An unknown
    /// command or a wrong arity is a [`Command::Reply`]: inside `MULTI` it
    /// makes `EXEC` abort, as in Redis.
    Invalid(Reply),
    /// A connection-level command.
    Conn(ConnCmd),
    /// `INFO [section ...]` (lower-case sections; empty for the default set).
    Info(Vec<String>),
    /// `SNOWFLK ...`.
    Admin(AdminCmd),
}

/// Commands that act on the connection's own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnCmd {
    /// `HELLO [protover [AUTH user password] [SETNAME name]]`.
    Hello {
        /// Requested protocol version (2 or 3).
        proto: Option<u8>,
        /// `SETNAME`.
        name: Option<Vec<u8>>,
        /// `AUTH user password`.
        auth: Option<(String, Vec<u8>)>,
    },
    /// `AUTH [user] password` (no user: `default`).
    Auth {
        /// The user.
        user: String,
        /// The password.
        password: Vec<u8>,
    },
    /// `ACL WHOAMI`.
    AclWhoami,
    /// `ACL LIST`.
    AclList,
    /// `CLIENT SETNAME`.
    SetName(Vec<u8>),
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT ID`.
    Id,
    /// `CLIENT INFO` / `CLIENT LIST` (this connection only).
    ClientInfo,
    /// `QUIT`.
    Quit,
    /// `RESET`.
    Reset,
    /// `MULTI`.
    Multi,
    /// `EXEC`.
    Exec,
    /// `DISCARD`.
    Discard,
}

/// `SNOWFLK` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCmd {
    /// `SNOWFLK LEADER`: `[id, address]` or nil.
    Leader,
    /// `SNOWFLK MEMBERS`: one entry per member.
    Members,
    /// `SNOWFLK TRANSFER-LEADER id`.
    TransferLeader(u64),
    /// `SNOWFLK BACKUP dir`: a consistent image of this node's data.
    Backup(std::path::PathBuf),
    /// `SNOWFLK ADD-NODE id addr | PROMOTE id | REMOVE-NODE id`.
    Membership(crate::ops::MembershipChange),
}

/// What parsing needs besides the arguments.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Key and value limits.
    pub limits: Limits,
}

/// Parses one request (`args` is non-empty).
pub fn parse(args: &[Vec<u8>], ctx: &Ctx) -> Command {
    let Some(name) = args.first() else {
        return Command::Reply(Reply::error("ERR empty command"));
    };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let Some(spec) = table::find(&name) else {
        return Command::Reply(unknown_command(args));
    };
    if !spec.arity_ok(args.len()) {
        return Command::Reply(wrong_args(spec.name));
    }
    let a = Args { args, ctx };
    match spec.family {
        table::Family::Strings => strings::parse(&name, &a).unwrap_or_else(Command::Invalid),
        table::Family::Keys => keys::parse(&name, &a).unwrap_or_else(Command::Invalid),
        table::Family::Server => server::parse(&name, &a).unwrap_or_else(Command::Reply),
        table::Family::Admin => admin::parse(&name, &a).unwrap_or_else(Command::Reply),
    }
}

/// The arguments of one request, with checked accessors. Accessor errors
/// are the reply to send (`Err(Reply)`).
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    /// All arguments, the command name first.
    pub args: &'a [Vec<u8>],
    /// Parsing context.
    pub ctx: &'a Ctx,
}

/// A parse result: the command, or the error reply.
pub type Parsed = Result<Command, Reply>;

impl<'a> Args<'a> {
    /// Number of arguments, the name included.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Always false: a request has its name.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Argument `i`.
    pub fn raw(&self, i: usize) -> &'a [u8] {
        self.args.get(i).map_or(&[][..], |v| v.as_slice())
    }

    /// Argument `i` as a key, checked against the key size limit.
    pub fn key(&self, i: usize) -> Result<Vec<u8>, Reply> {
        let k = self.raw(i);
        if k.len() > self.ctx.limits.max_key_size {
            return Err(Reply::error(format!(
                "ERR key of {} bytes exceeds the limit of {} bytes",
                k.len(),
                self.ctx.limits.max_key_size
            )));
        }
        Ok(k.to_vec())
    }

    /// Argument `i` as a value, checked against the value size limit.
    pub fn value(&self, i: usize) -> Result<Vec<u8>, Reply> {
        let v = self.raw(i);
        if v.len() > self.ctx.limits.max_value_size {
            return Err(Reply::error(format!(
                "ERR value of {} bytes exceeds the limit of {} bytes",
                v.len(),
                self.ctx.limits.max_value_size
            )));
        }
        Ok(v.to_vec())
    }

    /// Arguments `from..` as keys.
    pub fn keys_from(&self, from: usize) -> Result<Vec<Vec<u8>>, Reply> {
        (from..self.len()).map(|i| self.key(i)).collect()
    }

    /// Argument `i` as an i64 (Redis syntax).
    pub fn int(&self, i: usize) -> Result<i64, Reply> {
        crate::state_machine::parse_i64(self.raw(i))
            .ok_or_else(|| Reply::error(crate::ops::errors::NOT_INTEGER))
    }

    /// Argument `i` upper-cased, for option names.
    pub fn upper(&self, i: usize) -> String {
        String::from_utf8_lossy(self.raw(i)).to_ascii_uppercase()
    }
}

/// `ERR wrong number of arguments for 'x' command`.
pub fn wrong_args(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

/// Redis's unknown-command error, naming the first arguments.
pub fn unknown_command(args: &[Vec<u8>]) -> Reply {
    let show = |a: &Vec<u8>| {
        let s = String::from_utf8_lossy(a);
        let s: String = s.chars().take(128).collect();
        s
    };
    let name = args.first().map(show).unwrap_or_default();
    let rest: String = args
        .iter()
        .skip(1)
        .take(8)
        .map(|a| format!("'{}' ", show(a)))
        .collect();
    Reply::error(format!(
        "ERR unknown command '{name}', with args beginning with: {rest}"
    ))
}

/// `ERR syntax error`.
pub fn syntax() -> Reply {
    Reply::error(crate::ops::errors::SYNTAX)
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Runs parsed commands against a state machine in a tempdir.

    use super::*;
    use crate::ops::WriteOp;
    use crate::state_machine::KvStateMachine;

    /// A state machine on a temp dir plus a clock the test controls.
    pub struct Harness {
        pub sm: KvStateMachine,
        pub now: u64,
        index: u64,
        _dir: tempfile::TempDir,
    }

    impl Harness {
        pub fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let sm = KvStateMachine::open(
                dir.path(),
                bitcask::Options::default().sync(bitcask::SyncPolicy::Never),
            )
            .unwrap();
            Self {
                sm,
                now: 1_000_000,
                index: 0,
                _dir: dir,
            }
        }

        /// Parses and runs a command given as words.
        pub fn run(&mut self, words: &[&str]) -> Reply {
            let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            let ctx = Ctx {
                limits: crate::config::Limits::default(),
            };
            match parse(&args, &ctx) {
                Command::Write(cmd) => {
                    self.index += 1;
                    self.sm
                        .apply(self.index, &WriteOp::new(cmd, self.now))
                        .unwrap()
                }
                Command::Read(op) => self.sm.read(&op, self.now).unwrap(),
                Command::Reply(r) | Command::Invalid(r) => r,
                other => panic!("not a data command: {other:?}"),
            }
        }
    }

    pub fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    pub fn is_err(r: &Reply, prefix: &str) -> bool {
        matches!(r, Reply::Error(m) if m.starts_with(prefix))
    }
}
