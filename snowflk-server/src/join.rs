//! `snowflk-server --join ADDR`: a new node asks a running cluster to take
//! it in.
//!
//! 1. The new node connects to `ADDR` (any member's client address, plain
//!    RESP; `AUTH` with `--requirepass` if set) and reads `SNOWFLK
//!    MEMBERS`: the members' ids and peer addresses, so that its transport
//!    accepts the leader and can answer it ([`members`]).
//! 2. It starts its Raft node with no configuration: it never campaigns and
//!    takes no entries until the leader's snapshot gives it the
//!    configuration (see raftlog's crate docs, "Membership changes").
//! 3. It sends `SNOWFLK ADD-NODE <id> <peer address>` to `ADDR` (a follower
//!    forwards it to the leader) and retries while the answer is `TRYAGAIN`
//!    ([`add_self`]). The leader adds it as a learner; the operator promotes
//!    it with `SNOWFLK PROMOTE <id>` once `SNOWFLK MEMBERS` shows it caught
//!    up.
//!
//! A `JOINED` file in the data directory remembers that the node joined,
//! and the members' peer addresses it was told, so a restart (with or
//! without `--join`) never mistakes it for the founder of a one-member
//! cluster and can reach the initial members, whose addresses are not in
//! the member book (`--peers` gave them; members added later are in it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tracing::{info, warn};

/// The marker file of a node that joined a cluster.
pub const JOINED_MARKER: &str = "JOINED";

/// Longest reply accepted from the member asked (a member list is small).
const MAX_REPLY: usize = 16 << 20;

/// How long one request to the member may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The member could not be reached or broke the connection.
    #[error("--join {addr}: {reason}")]
    Unreachable {
        /// The address given.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The member answered with an error.
    #[error("--join {addr}: the member answered: {reply}")]
    Refused {
        /// The address given.
        addr: String,
        /// Its error reply.
        reply: String,
    },
    /// The member's answer is not what `SNOWFLK MEMBERS` returns.
    #[error("--join {addr}: unexpected reply: {reason}")]
    Malformed {
        /// The address given.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// This node's id is taken by another member.
    #[error(
        "--join {addr}: node id {id} is already a member at {member_addr}, not at this node's {own_addr}; pick another --id"
    )]
    IdTaken {
        /// The address given.
        addr: String,
        /// This node's id.
        id: u64,
        /// Where the member with that id listens.
        member_addr: String,
        /// This node's peer address.
        own_addr: String,
    },
    /// The member belongs to a cluster with another `--cluster-id`.
    #[error(
        "--join {addr}: that member's cluster id is {theirs:#018x}, not this node's {ours:#018x} (from --cluster-id {name:?}); give the --cluster-id its members run with"
    )]
    OtherCluster {
        /// The address given.
        addr: String,
        /// This node's `--cluster-id`.
        name: String,
        /// Its hash, as the peer handshake checks it.
        ours: u64,
        /// The member's.
        theirs: u64,
    },
    /// The marker file could not be written.
    #[error("cannot write {path}: {source}")]
    Marker {
        /// The marker's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A RESP reply, as much of it as joining needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

/// One client connection to a member.
struct Client {
    addr: String,
    stream: BufReader<TcpStream>,
}

impl Client {
    async fn connect(addr: &str, password: Option<&str>) -> Result<Self, JoinError> {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable(addr, "connecting timed out"))?
            .map_err(|e| unreachable(addr, &e.to_string()))?;
        let mut c = Client {
            addr: addr.to_string(),
            stream: BufReader::new(stream),
        };
        if let Some(p) = password {
            c.call(&["AUTH", p]).await?;
        }
        Ok(c)
    }

    /// Sends one command and reads its reply; an error reply is `Refused`.
    async fn call(&mut self, args: &[&str]) -> Result<Value, JoinError> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let addr = self.addr.clone();
        let exchange = async {
            self.stream.get_mut().write_all(&out).await?;
            read_value(&mut self.stream, 0).await
        };
        match tokio::time::timeout(IO_TIMEOUT, exchange).await {
            Err(_) => Err(unreachable(&addr, "the member did not answer in time")),
            Ok(Err(e)) => Err(unreachable(&addr, &e.to_string())),
            Ok(Ok(Value::Error(reply))) => Err(JoinError::Refused { addr, reply }),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

fn unreachable(addr: &str, reason: &str) -> JoinError {
    JoinError::Unreachable {
        addr: addr.to_string(),
        reason: reason.to_string(),
    }
}

fn bad_data(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one RESP2 value (nested arrays up to a small depth).
fn read_value<'a>(
    r: &'a mut BufReader<TcpStream>,
    depth: usize,
) -> crate::ops::BoxFuture<'a, std::io::Result<Value>> {
    Box::pin(async move {
        if depth > 4 {
            return Err(bad_data("reply nested too deeply"));
        }
        let mut line = Vec::new();
        let n = (&mut *r)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 || !line.ends_with(b"\r\n") {
            return Err(bad_data("connection closed or line too long"));
        }
        line.truncate(line.len() - 2);
        let (kind, rest) = line.split_first().ok_or_else(|| bad_data("empty line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        let int = || text.parse::<i64>().map_err(|_| bad_data("bad integer"));
        Ok(match kind {
            b'+' => Value::Simple(text),
            b'-' => Value::Error(text),
            b':' => Value::Int(int()?),
            b'$' => {
                let len = int()?;
                if len < 0 {
                    return Ok(Value::Bulk(None));
                }
                let len = usize::try_from(len).map_err(|_| bad_data("bad length"))?;
                if len > MAX_REPLY {
                    return Err(bad_data("bulk reply too large"));
                }
                let mut buf = vec![0; len + 2];
                r.read_exact(&mut buf).await?;
                buf.truncate(len);
                Value::Bulk(Some(buf))
            }
            b'*' => {
                let len = int()?;
                if len < 0 {
                    return Ok(Value::Array(None));
                }
                if len > 1 << 16 {
                    return Err(bad_data("array reply too long"));
                }
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(read_value(r, depth + 1).await?);
                }
                Value::Array(Some(items))
            }
            _ => return Err(bad_data("not a RESP2 reply")),
        })
    })
}

/// The members' ids and peer addresses from a `SNOWFLK MEMBERS` reply
/// (RESP2: one flat `[key, value, ...]` array per member).
fn parse_members(addr: &str, reply: &Value) -> Result<BTreeMap<u64, String>, JoinError> {
    let malformed = |reason: &str| JoinError::Malformed {
        addr: addr.to_string(),
        reason: reason.to_string(),
    };
    let Value::Array(Some(members)) = reply else {
        return Err(malformed("SNOWFLK MEMBERS did not return an array"));
    };
    let mut out = BTreeMap::new();
    for m in members {
        let Value::Array(Some(fields)) = m else {
            return Err(malformed("a member is not an array"));
        };
        let (mut id, mut peer) = (None, None);
        for pair in fields.chunks(2) {
            match pair {
                [Value::Bulk(Some(k)), Value::Int(v)] if k == b"id" => id = u64::try_from(*v).ok(),
                [Value::Bulk(Some(k)), Value::Bulk(Some(v))] if k == b"addr" => {
                    peer = Some(String::from_utf8_lossy(v).into_owned());
                }
                _ => {}
            }
        }
        match (id, peer) {
            (Some(id), Some(peer)) if id > 0 && !peer.is_empty() => {
                out.insert(id, peer);
            }
            _ => return Err(malformed("a member lacks an id or a peer address")),
        }
    }
    if out.is_empty() {
        return Err(malformed("the member list is empty"));
    }
    Ok(out)
}

/// Who is joining: what every request to the member needs.
#[derive(Debug, Clone, Copy)]
pub struct Joiner<'a> {
    /// A member's client address (`--join`).
    pub via: &'a str,
    /// `--requirepass`, sent with `AUTH`.
    pub password: Option<&'a str>,
    /// This node's id.
    pub id: u64,
    /// This node's `--cluster-id`.
    pub cluster_name: &'a str,
}

/// The `raft_cluster_id` field of an `INFO replication` reply, if any (a
/// member of an older build does not report it).
fn reported_cluster_id(reply: &Value) -> Option<u64> {
    let Value::Bulk(Some(text)) = reply else {
        return None;
    };
    String::from_utf8_lossy(text)
        .lines()
        .find_map(|l| l.strip_prefix("raft_cluster_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Asks the member at `j.via` for the cluster's members (id → peer
/// address). Fails if the member runs with another cluster id (the peer
/// handshake would refuse this node, so it must not be added), or if
/// another member already has this node's id at another address.
pub async fn members(
    j: Joiner<'_>,
    own_peer_addr: &str,
) -> Result<BTreeMap<u64, String>, JoinError> {
    let (addr, id) = (j.via, j.id);
    let mut c = Client::connect(addr, j.password).await?;
    let ours = crate::raft::backend::cluster_id(j.cluster_name);
    let info = match c.call(&["INFO", "replication"]).await {
        Ok(reply) => Some(reply),
        // Not a reason to refuse: the MEMBERS call below fails clearly if
        // the member cannot serve the join at all.
        Err(JoinError::Refused { .. }) => None,
        Err(e) => return Err(e),
    };
    if let Some(theirs) = info.as_ref().and_then(reported_cluster_id)
        && theirs != ours
    {
        return Err(JoinError::OtherCluster {
            addr: addr.to_string(),
            name: j.cluster_name.to_string(),
            ours,
            theirs,
        });
    }
    let reply = c.call(&["SNOWFLK", "MEMBERS"]).await?;
    let members = parse_members(addr, &reply)?;
    if let Some(existing) = members.get(&id)
        && existing != own_peer_addr
    {
        return Err(JoinError::IdTaken {
            addr: addr.to_string(),
            id,
            member_addr: existing.clone(),
            own_addr: own_peer_addr.to_string(),
        });
    }
    Ok(members)
}

/// Sends `SNOWFLK ADD-NODE id peer_addr` to `addr`, retrying while the
/// cluster answers `TRYAGAIN` or `TIMEOUT` (no leader yet, another change
/// in progress) for up to `patience`. "Already a member" is success only if
/// the member with this id listens at `peer_addr` (this node, restarted);
/// otherwise another node took the id first (two joins racing) and this
/// one must not run: [`JoinError::IdTaken`].
pub async fn add_self(
    j: Joiner<'_>,
    peer_addr: &str,
    incarnation: u64,
    patience: Duration,
) -> Result<(), JoinError> {
    let (addr, password, id) = (j.via, j.password, j.id);
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(100);
    let id_text = id.to_string();
    let incarnation_text = format!("{incarnation:016x}");
    loop {
        let attempt = async {
            let mut c = Client::connect(addr, password).await?;
            c.call(&[
                "SNOWFLK",
                "ADD-NODE",
                &id_text,
                peer_addr,
                &incarnation_text,
            ])
            .await
        };
        let retry = match attempt.await {
            Ok(_) => {
                info!(
                    node = id,
                    via = addr,
                    peer_addr,
                    "added to the cluster as a learner"
                );
                return Ok(());
            }
            Err(JoinError::Refused { reply, .. }) if reply.contains("already a member") => {
                let members = members(j, peer_addr).await?;
                if members.get(&id).map(String::as_str) == Some(peer_addr) {
                    tracing::warn!(
                        node = id,
                        via = addr,
                        "already a member of the cluster: fine if this node was stopped while joining; if its data directory is new because the old one was lost, every peer refuses it (docs/server.md, \"Lost disk\"): SNOWFLK REMOVE-NODE {id} first, then join again"
                    );
                    return Ok(());
                }
                // The cluster's member list can lag the change that made
                // the id a member: ask again until it shows the address.
                format!("node {id} is a member, but the member list does not show it yet")
            }
            Err(JoinError::Refused { reply, .. })
                if reply.starts_with("TRYAGAIN") || reply.starts_with("TIMEOUT") =>
            {
                reply
            }
            Err(e @ JoinError::Unreachable { .. }) => e.to_string(),
            Err(e) => return Err(e),
        };
        if tokio::time::Instant::now() + delay > deadline {
            return Err(JoinError::Refused {
                addr: addr.to_string(),
                reply: retry,
            });
        }
        warn!(node = id, via = addr, reason = %retry, "joining: retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// The first line of a `JOINED` file written before the cluster
/// acknowledged `ADD-NODE`.
const JOINING_LINE: &str = "# joining a cluster with --join: ADD-NODE not acknowledged yet; membership comes from the cluster";
/// The first line once it did.
const JOINED_LINE: &str =
    "# this node joined a cluster with --join; its membership comes from the cluster";

/// What a `JOINED` file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The members' peer addresses it was told when it joined.
    pub members: BTreeMap<u64, String>,
    /// The cluster acknowledged its `ADD-NODE`: a restart does not ask
    /// again, even with `--join` (whose member may be gone by then).
    pub acknowledged: bool,
}

/// Writes the `JOINED` file into `data_dir` durably
/// ([`bitcask::vfs::write_file_durably`]): a comment line saying whether the
/// cluster acknowledged the join, then the members as `ID=HOST:PORT,...`.
pub fn mark_joined(
    data_dir: &Path,
    members: &BTreeMap<u64, String>,
    acknowledged: bool,
) -> Result<(), JoinError> {
    let path = data_dir.join(JOINED_MARKER);
    let list: Vec<String> = members.iter().map(|(id, a)| format!("{id}={a}")).collect();
    let first = if acknowledged {
        JOINED_LINE
    } else {
        JOINING_LINE
    };
    let text = format!("{first}\n{}\n", list.join(","));
    bitcask::vfs::write_file_durably(&path, text.as_bytes()).map_err(|source| JoinError::Marker {
        path: path.clone(),
        source,
    })
}

/// What `data_dir`'s `JOINED` file says, if the node joined a cluster
/// (`Ok(None)`: it did not). A file of an older build, without the
/// "joining" line, counts as acknowledged.
pub fn joined(data_dir: &Path) -> Result<Option<Joined>, String> {
    let path = data_dir.join(JOINED_MARKER);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let acknowledged = !text.lines().any(|l| l.trim() == JOINING_LINE);
    let list = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let members = if list.is_empty() {
        BTreeMap::new()
    } else {
        crate::config::parse_peers(list).map_err(|e| format!("{}: {e}", path.display()))?
    };
    Ok(Some(Joined {
        members,
        acknowledged,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(Some(s.as_bytes().to_vec()))
    }

    /// A fake member of the cluster named `snowflk`: answers `SNOWFLK
    /// ADD-NODE` with "already a member", `SNOWFLK MEMBERS` with node `id` at
    /// `member_addr`, and `INFO replication` with the cluster id.
    async fn fake_member(id: u64, member_addr: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut s = BufReader::new(stream);
                    loop {
                        let Ok(Value::Array(Some(args))) = read_value(&mut s, 0).await else {
                            return;
                        };
                        let sub = match args.get(1) {
                            Some(Value::Bulk(Some(b))) => b.clone(),
                            _ => return,
                        };
                        let reply = if sub == b"replication" {
                            let text = format!(
                                "# Replication\r\nraft_cluster_id:{}\r\n",
                                crate::raft::backend::cluster_id("snowflk")
                            );
                            format!("${}\r\n{text}\r\n", text.len())
                        } else if sub == b"MEMBERS" {
                            format!(
                                "*1\r\n*4\r\n$2\r\nid\r\n:{id}\r\n$4\r\naddr\r\n${}\r\n{member_addr}\r\n",
                                member_addr.len()
                            )
                        } else {
                            format!(
                                "-ERR invalid membership change: node {id} is already a member\r\n"
                            )
                        };
                        if s.get_mut().write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_join_that_lost_the_race_for_its_id_fails() {
        let via = fake_member(5, "127.0.0.1:9001").await;
        let joiner = |id| Joiner {
            via: &via,
            password: None,
            id,
            cluster_name: "snowflk",
        };
        let r = add_self(joiner(5), "127.0.0.1:9002", 1, Duration::from_secs(5)).await;
        assert!(matches!(r, Err(JoinError::IdTaken { id: 5, .. })), "{r:?}");
        // The same node restarted (its own address): already a member is fine.
        add_self(joiner(5), "127.0.0.1:9001", 1, Duration::from_secs(5))
            .await
            .unwrap();
    }

    /// The peer handshake would refuse a node of another cluster, so it
    /// must not be added as a member either.
    #[tokio::test]
    async fn a_node_of_another_cluster_id_is_refused_before_add_node() {
        let via = fake_member(1, "127.0.0.1:9001").await;
        let joiner = |cluster_name| Joiner {
            via: &via,
            password: None,
            id: 4,
            cluster_name,
        };
        let r = members(joiner("other"), "127.0.0.1:9004").await;
        let Err(e @ JoinError::OtherCluster { .. }) = r else {
            panic!("joined another cluster: {r:?}");
        };
        assert!(e.to_string().contains("--cluster-id \"other\""), "{e}");
        let m = members(joiner("snowflk"), "127.0.0.1:9004").await.unwrap();
        assert_eq!(m, BTreeMap::from([(1, "127.0.0.1:9001".to_string())]));
    }

    #[test]
    fn a_joined_file_says_whether_the_join_was_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(joined(dir.path()).unwrap(), None);
        let members = BTreeMap::from([
            (1, "127.0.0.1:9001".to_string()),
            (2, "127.0.0.1:9002".to_string()),
        ]);
        for acknowledged in [false, true] {
            mark_joined(dir.path(), &members, acknowledged).unwrap();
            let j = joined(dir.path()).unwrap().unwrap();
            assert_eq!((j.members, j.acknowledged), (members.clone(), acknowledged));
        }
        // An older build's file (another comment line) counts as acknowledged.
        std::fs::write(
            dir.path().join(JOINED_MARKER),
            "# joined\n1=127.0.0.1:9001\n",
        )
        .unwrap();
        assert!(joined(dir.path()).unwrap().unwrap().acknowledged);
    }

    #[test]
    fn members_are_read_from_the_resp2_reply() {
        let member = |id: i64, addr: &str| {
            Value::Array(Some(vec![
                bulk("id"),
                Value::Int(id),
                bulk("addr"),
                bulk(addr),
                bulk("role"),
                bulk("voter"),
            ]))
        };
        let reply = Value::Array(Some(vec![member(1, "h:1"), member(2, "h:2")]));
        assert_eq!(
            parse_members("x", &reply).unwrap(),
            BTreeMap::from([(1, "h:1".to_string()), (2, "h:2".to_string())])
        );
        for bad in [
            Value::Int(3),
            Value::Array(Some(vec![])),
            Value::Array(Some(vec![member(0, "h:1")])),
            Value::Array(Some(vec![member(1, "")])),
            Value::Array(Some(vec![Value::Simple("no".into())])),
        ] {
            assert!(parse_members("x", &bad).is_err(), "{bad:?}");
        }
    }
}
