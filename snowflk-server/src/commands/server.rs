//! Server and connection commands: PING, ECHO, INFO, COMMAND, CONFIG GET,
//! CLIENT, SELECT, HELLO, QUIT, RESET, MULTI/EXEC/DISCARD, WATCH.

use super::{Args, Command, ConnCmd, Parsed, syntax, table, wrong_args};
use crate::ops::Reply;
use crate::state_machine::glob_match;

/// Parses a server command (arity already checked).
pub fn parse(name: &str, a: &Args<'_>) -> Parsed {
    Ok(match name {
        "PING" => match a.len() {
            1 => Command::Reply(Reply::Simple("PONG".into())),
            2 => Command::Reply(Reply::Bulk(a.raw(1).to_vec())),
            _ => return Err(wrong_args("ping")),
        },
        "ECHO" => Command::Reply(Reply::Bulk(a.raw(1).to_vec())),
        // The clock of the node that answers (not replicated, as in Redis).
        "TIME" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Command::Reply(Reply::Array(vec![
                Reply::bulk(now.as_secs().to_string()),
                Reply::bulk(now.subsec_micros().to_string()),
            ]))
        }
        "INFO" => Command::Info(
            (1..a.len())
                .map(|i| String::from_utf8_lossy(a.raw(i)).to_ascii_lowercase())
                .collect(),
        ),
        "COMMAND" => Command::Reply(command(a)),
        "CONFIG" => Command::Reply(config(a)),
        "CLIENT" => return client(a),
        "SELECT" => Command::Reply(match a.raw(1) {
            b"0" => Reply::ok(),
            _ => Reply::error("ERR DB index is out of range (snowflk has only database 0)"),
        }),
        "HELLO" => return hello(a),
        "AUTH" => match a.len() {
            2 => Command::Conn(ConnCmd::Auth {
                user: "default".into(),
                password: a.raw(1).to_vec(),
            }),
            3 => Command::Conn(ConnCmd::Auth {
                user: String::from_utf8_lossy(a.raw(1)).into_owned(),
                password: a.raw(2).to_vec(),
            }),
            _ => return Err(syntax()),
        },
        "ACL" => match (a.upper(1).as_str(), a.len()) {
            ("WHOAMI", 2) => Command::Conn(ConnCmd::AclWhoami),
            ("LIST", 2) => Command::Conn(ConnCmd::AclList),
            ("WHOAMI" | "LIST", _) => {
                return Err(wrong_args(&format!(
                    "acl|{}",
                    a.upper(1).to_ascii_lowercase()
                )));
            }
            (other, _) => {
                return Err(Reply::error(format!(
                    "ERR unknown subcommand '{other}'. snowflk supports ACL WHOAMI and ACL LIST; users are configured in the TOML file"
                )));
            }
        },
        "QUIT" => Command::Conn(ConnCmd::Quit),
        "RESET" => Command::Conn(ConnCmd::Reset),
        "MULTI" => Command::Conn(ConnCmd::Multi),
        "EXEC" => Command::Conn(ConnCmd::Exec),
        "DISCARD" => Command::Conn(ConnCmd::Discard),
        "WATCH" => Command::Reply(Reply::error(
            "ERR WATCH is not supported; use CAS for optimistic updates",
        )),
        "UNWATCH" => Command::Reply(Reply::ok()),
        _ => return Err(super::unknown_command(a.args)),
    })
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND INFO name...`, `COMMAND DOCS`,
/// `COMMAND LIST`.
fn command(a: &Args<'_>) -> Reply {
    if a.len() == 1 {
        return Reply::Array(table::COMMANDS.iter().map(table::Spec::info).collect());
    }
    match a.upper(1).as_str() {
        "COUNT" => Reply::Int(table::COMMANDS.len() as i64),
        "LIST" => Reply::Array(
            table::COMMANDS
                .iter()
                .map(|s| Reply::bulk(s.name.to_ascii_lowercase()))
                .collect(),
        ),
        "INFO" => {
            if a.len() == 2 {
                return Reply::Array(table::COMMANDS.iter().map(table::Spec::info).collect());
            }
            Reply::Array(
                (2..a.len())
                    .map(|i| table::find(&a.upper(i)).map_or(Reply::NilArray, table::Spec::info))
                    .collect(),
            )
        }
        // Documentation is not served: an empty map makes redis-cli fall
        // back to its built-in help.
        "DOCS" => Reply::Map(vec![]),
        "GETKEYS" => Reply::error("ERR COMMAND GETKEYS is not supported"),
        other => Reply::error(format!(
            "ERR unknown subcommand '{other}'. Try COMMAND HELP."
        )),
    }
}

/// The parameters `CONFIG GET` knows, with fixed values.
const CONFIG: &[(&str, &str)] = &[
    ("appendfsync", "always"),
    ("appendonly", "no"),
    ("databases", "1"),
    ("maxclients", "10000"),
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("proto-max-bulk-len", "536870912"),
    ("save", ""),
    ("timeout", "0"),
];

/// `CONFIG GET pattern...` (what clients and redis-benchmark ask at
/// connect); `CONFIG SET` and the rest are refused.
fn config(a: &Args<'_>) -> Reply {
    match a.upper(1).as_str() {
        "GET" if a.len() >= 3 => {
            let mut pairs = Vec::new();
            for (k, v) in CONFIG {
                if (2..a.len()).any(|i| glob_match(&a.raw(i).to_ascii_lowercase(), k.as_bytes())) {
                    pairs.push((Reply::bulk(*k), Reply::bulk(*v)));
                }
            }
            Reply::Map(pairs)
        }
        "GET" => wrong_args("config|get"),
        "RESETSTAT" => Reply::ok(),
        other => Reply::error(format!(
            "ERR CONFIG {other} is not supported; configure snowflk with flags or its TOML file"
        )),
    }
}

fn client(a: &Args<'_>) -> Parsed {
    Ok(match a.upper(1).as_str() {
        "SETNAME" if a.len() == 3 => {
            let name = a.raw(2);
            if name.iter().any(|&b| b <= b' ' || b > b'~') {
                return Err(Reply::error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            Command::Conn(ConnCmd::SetName(name.to_vec()))
        }
        "GETNAME" if a.len() == 2 => Command::Conn(ConnCmd::GetName),
        "ID" if a.len() == 2 => Command::Conn(ConnCmd::Id),
        "INFO" if a.len() == 2 => Command::Conn(ConnCmd::ClientInfo),
        "LIST" => Command::Conn(ConnCmd::ClientInfo),
        "SETINFO" if a.len() == 4 => match a.upper(2).as_str() {
            "LIB-NAME" | "LIB-VER" => Command::Reply(Reply::ok()),
            other => {
                return Err(Reply::error(format!("ERR Unrecognized option '{other}'")));
            }
        },
        "SETNAME" | "GETNAME" | "ID" | "INFO" | "SETINFO" => {
            return Err(wrong_args(&format!("client|{}", a.upper(1))));
        }
        other => {
            return Err(Reply::error(format!(
                "ERR unknown subcommand '{other}'. Try CLIENT HELP."
            )));
        }
    })
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
fn hello(a: &Args<'_>) -> Parsed {
    if a.len() == 1 {
        return Ok(Command::Conn(ConnCmd::Hello {
            proto: None,
            name: None,
            auth: None,
        }));
    }
    let proto = match a.raw(1) {
        b"2" => 2,
        b"3" => 3,
        v if crate::state_machine::parse_i64(v).is_some() => {
            return Err(Reply::error("NOPROTO unsupported protocol version"));
        }
        _ => {
            return Err(Reply::error(
                "ERR Protocol version is not an integer or out of range",
            ));
        }
    };
    let mut name = None;
    let mut auth = None;
    let mut i = 2;
    while i < a.len() {
        match a.upper(i).as_str() {
            "AUTH" if i + 2 < a.len() => {
                auth = Some((
                    String::from_utf8_lossy(a.raw(i + 1)).into_owned(),
                    a.raw(i + 2).to_vec(),
                ));
                i += 3;
            }
            "SETNAME" if i + 1 < a.len() => {
                name = Some(a.raw(i + 1).to_vec());
                i += 2;
            }
            _ => return Err(syntax()),
        }
    }
    Ok(Command::Conn(ConnCmd::Hello {
        proto: Some(proto),
        name,
        auth,
    }))
}

#[cfg(test)]
mod tests {
    use crate::commands::test_util::{Harness, bulk, is_err};
    use crate::commands::{Command, ConnCmd, Ctx, parse};
    use crate::ops::Reply;

    fn p(words: &[&str]) -> Command {
        let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        parse(
            &args,
            &Ctx {
                limits: crate::config::Limits::default(),
            },
        )
    }

    #[test]
    fn ping_echo_select_config_command() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(h.run(&["ping", "hi"]), bulk("hi"));
        assert_eq!(h.run(&["ECHO", "x"]), bulk("x"));
        let Reply::Array(time) = h.run(&["TIME"]) else {
            panic!("TIME is not an array");
        };
        let [Reply::Bulk(secs), Reply::Bulk(micros)] = time.as_slice() else {
            panic!("TIME: {time:?}");
        };
        let secs: u64 = std::str::from_utf8(secs).unwrap().parse().unwrap();
        let micros: u32 = std::str::from_utf8(micros).unwrap().parse().unwrap();
        assert!(
            secs > 1_700_000_000 && micros < 1_000_000,
            "{secs} {micros}"
        );
        assert_eq!(h.run(&["SELECT", "0"]), Reply::ok());
        assert!(is_err(&h.run(&["SELECT", "1"]), "ERR DB index"));
        assert_eq!(
            h.run(&["CONFIG", "GET", "save"]),
            Reply::Map(vec![(bulk("save"), bulk(""))])
        );
        assert_eq!(
            h.run(&["CONFIG", "GET", "appendonly"]),
            Reply::Map(vec![(bulk("appendonly"), bulk("no"))])
        );
        assert!(is_err(
            &h.run(&["CONFIG", "SET", "x", "y"]),
            "ERR CONFIG SET"
        ));
        let Reply::Int(n) = h.run(&["COMMAND", "COUNT"]) else {
            panic!()
        };
        assert!(n > 30);
        let Reply::Array(info) = h.run(&["COMMAND", "INFO", "get", "nope"]) else {
            panic!()
        };
        assert_eq!(info[1], Reply::NilArray);
        let Reply::Array(get) = &info[0] else {
            panic!()
        };
        assert_eq!(get[0], bulk("get"));
        assert_eq!(get[1], Reply::Int(2));
        assert_eq!(h.run(&["COMMAND", "DOCS"]), Reply::Map(vec![]));
        assert!(is_err(
            &h.run(&["NOPE", "a"]),
            "ERR unknown command 'NOPE', with args beginning with: 'a'"
        ));
        assert!(is_err(
            &h.run(&["GET"]),
            "ERR wrong number of arguments for 'get' command"
        ));
    }

    #[test]
    fn connection_commands() {
        assert_eq!(
            p(&["HELLO", "3", "SETNAME", "me"]),
            Command::Conn(ConnCmd::Hello {
                proto: Some(3),
                name: Some(b"me".to_vec()),
                auth: None,
            })
        );
        assert!(
            matches!(p(&["HELLO", "4"]), Command::Reply(Reply::Error(m)) if m.starts_with("NOPROTO"))
        );
        assert_eq!(
            p(&["HELLO", "3", "AUTH", "u", "p", "SETNAME", "n"]),
            Command::Conn(ConnCmd::Hello {
                proto: Some(3),
                name: Some(b"n".to_vec()),
                auth: Some(("u".into(), b"p".to_vec())),
            })
        );
        assert_eq!(
            p(&["AUTH", "pw"]),
            Command::Conn(ConnCmd::Auth {
                user: "default".into(),
                password: b"pw".to_vec()
            })
        );
        assert_eq!(p(&["ACL", "WHOAMI"]), Command::Conn(ConnCmd::AclWhoami));
        assert_eq!(
            p(&["CLIENT", "SETNAME", "x"]),
            Command::Conn(ConnCmd::SetName(b"x".to_vec()))
        );
        assert!(matches!(
            p(&["CLIENT", "SETNAME", "a b"]),
            Command::Reply(Reply::Error(_))
        ));
        assert_eq!(p(&["client", "getname"]), Command::Conn(ConnCmd::GetName));
        assert_eq!(p(&["CLIENT", "ID"]), Command::Conn(ConnCmd::Id));
        assert_eq!(
            p(&["CLIENT", "SETINFO", "LIB-NAME", "redis-rs"]),
            Command::Reply(Reply::ok())
        );
        assert_eq!(p(&["MULTI"]), Command::Conn(ConnCmd::Multi));
        assert_eq!(p(&["QUIT"]), Command::Conn(ConnCmd::Quit));
        assert_eq!(
            p(&["INFO", "Replication"]),
            Command::Info(vec!["replication".into()])
        );
    }
}
