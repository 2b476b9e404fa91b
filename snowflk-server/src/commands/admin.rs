//! `SNOWFLK LEADER | MEMBERS | TRANSFER-LEADER id | BACKUP dir | ADD-NODE id addr |
//! PROMOTE id | REMOVE-NODE id | HELP`: cluster admin.

use super::{AdminCmd, Args, Command, Parsed, wrong_args};
use crate::ops::{MembershipChange, NodeStatus, Reply};

/// A node id argument: a positive integer.
fn node_id(a: &Args<'_>, i: usize) -> Result<u64, Reply> {
    let id = a.int(i)?;
    if id <= 0 {
        return Err(Reply::error("ERR node id must be a positive integer"));
    }
    Ok(id as u64)
}

/// Parses `SNOWFLK ...` (arity already checked).
pub fn parse(_name: &str, a: &Args<'_>) -> Parsed {
    let sub = a.upper(1);
    Ok(match (sub.as_str(), a.len()) {
        ("LEADER", 2) => Command::Admin(AdminCmd::Leader),
        ("MEMBERS", 2) => Command::Admin(AdminCmd::Members),
        ("TRANSFER-LEADER", 3) => Command::Admin(AdminCmd::TransferLeader(node_id(a, 2)?)),
        ("ADD-NODE", 4 | 5) => {
            let id = node_id(a, 2)?;
            let addr = std::str::from_utf8(a.raw(3)).unwrap_or("");
            if !valid_peer_addr(addr) || addr.contains('#') {
                return Err(Reply::error(
                    "ERR the peer address must be host:port, e.g. 10.0.0.4:7380",
                ));
            }
            let incarnation = if a.len() == 5 {
                let text = std::str::from_utf8(a.raw(4)).unwrap_or("");
                Some(
                    crate::raft::identity::parse_incarnation(text).map_err(|e| {
                        Reply::error(format!(
                            "ERR {e}: give the one in the node's <data-dir>/IDENTITY"
                        ))
                    })?,
                )
            } else {
                None
            };
            Command::Admin(AdminCmd::Membership(MembershipChange::AddNode {
                id,
                addr: addr.to_string(),
                incarnation,
            }))
        }
        ("PROMOTE", 3) => Command::Admin(AdminCmd::Membership(MembershipChange::Promote(
            node_id(a, 2)?,
        ))),
        ("REMOVE-NODE", 3) => Command::Admin(AdminCmd::Membership(MembershipChange::Remove(
            node_id(a, 2)?,
        ))),
        ("BACKUP", 3) => {
            let Ok(dir) = std::str::from_utf8(a.raw(2)) else {
                return Err(Reply::error("ERR the backup directory must be UTF-8"));
            };
            if dir.is_empty() {
                return Err(Reply::error("ERR the backup directory must not be empty"));
            }
            Command::Admin(AdminCmd::Backup(dir.into()))
        }
        ("HELP", _) => Command::Reply(Reply::Array(
            [
                "SNOWFLK LEADER -- the leader's node id and peer address, or nil",
                "SNOWFLK MEMBERS -- every member: id, address, role, match index, connected",
                "SNOWFLK TRANSFER-LEADER <id> -- ask the leader to hand leadership to <id>",
                "SNOWFLK BACKUP <dir> -- write a consistent backup of this node's data into <dir> (new or empty, on the server's file system)",
                "SNOWFLK ADD-NODE <id> <peer-addr> [<incarnation>] -- add node <id>, listening for peers at <peer-addr>, as a learner (peers accept only the data-directory incarnation given, from its IDENTITY file; --join gives it)",
                "SNOWFLK PROMOTE <id> -- make learner <id> a voter (once it has caught up)",
                "SNOWFLK REMOVE-NODE <id> -- remove voter or learner <id> (the leader hands over first)",
            ]
            .iter()
            .map(|s| Reply::Simple((*s).to_string()))
            .collect(),
        )),
        (
            "LEADER" | "MEMBERS" | "TRANSFER-LEADER" | "BACKUP" | "ADD-NODE" | "PROMOTE"
            | "REMOVE-NODE",
            _,
        ) => {
            return Err(wrong_args(&format!("snowflk|{}", sub.to_ascii_lowercase())));
        }
        _ => {
            return Err(Reply::error(format!(
                "ERR unknown subcommand '{sub}'. Try SNOWFLK HELP."
            )));
        }
    })
}

/// `host:port` with a non-empty host (no spaces) and a port in 1..=65535.
fn valid_peer_addr(addr: &str) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && !addr.contains(char::is_whitespace)
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// `SNOWFLK LEADER`: `[id, peer address]`, or nil when no leader is known.
pub fn leader_reply(status: &NodeStatus) -> Reply {
    match status.leader {
        None => Reply::NilArray,
        Some(id) => {
            let addr = status
                .peers
                .iter()
                .find(|p| p.id == id)
                .map(|p| p.addr.clone())
                .unwrap_or_default();
            Reply::Array(vec![Reply::Int(id as i64), Reply::bulk(addr)])
        }
    }
}

/// `SNOWFLK MEMBERS`: per member, a map (RESP3) / flat array (RESP2) of
/// `id`, `addr`, `role` (`leader`/`voter`/`learner`), `match-index` (-1 if
/// unknown), `lag` (entries behind the leader's log; -1 if unknown: only
/// the leader knows), `connected` (0/1, 1 for this node), `self` (0/1).
pub fn members_reply(status: &NodeStatus) -> Reply {
    Reply::Array(
        status
            .peers
            .iter()
            .map(|p| {
                let role = if Some(p.id) == status.leader {
                    "leader"
                } else if p.voter {
                    "voter"
                } else {
                    "learner"
                };
                Reply::Map(vec![
                    (Reply::bulk("id"), Reply::Int(p.id as i64)),
                    (Reply::bulk("addr"), Reply::bulk(p.addr.clone())),
                    (Reply::bulk("role"), Reply::bulk(role)),
                    (
                        Reply::bulk("match-index"),
                        Reply::Int(p.match_index.map_or(-1, |m| m as i64)),
                    ),
                    (
                        Reply::bulk("lag"),
                        Reply::Int(p.lag.map_or(-1, |m| m as i64)),
                    ),
                    (
                        Reply::bulk("connected"),
                        Reply::Int(i64::from(p.connected || p.id == status.id)),
                    ),
                    (
                        Reply::bulk("self"),
                        Reply::Int(i64::from(p.id == status.id)),
                    ),
                ])
            })
            .collect(),
    )
}
