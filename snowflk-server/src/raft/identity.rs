//! Which data directory a node id stands for: this node's incarnation and
//! the incarnations its peers must present.
//!
//! Raft's safety rests on every voter remembering what it promised: its
//! vote, and the entries it acknowledged. A node restarted under its old id
//! with an empty data directory (a lost disk, a wiped directory) forgot both,
//! and two such forgetful answers can elect a leader that lacks acknowledged
//! writes. Every Raft data directory therefore gets a random 64-bit
//! *incarnation* when its log is created (`<data-dir>/IDENTITY`), and the
//! peer handshake carries it both ways. The incarnation a peer must present
//! comes from one of two places:
//!
//! - A node added with `ADD-NODE` names its incarnation in that membership
//!   entry (`HOST:PORT#INCARNATION`), so every node learns it in log order,
//!   from the member book or from the entry itself, and a node that was
//!   down while an id was removed and added again learns the new one as it
//!   catches up.
//! - An initial member (`--peers`) has no such entry: each node records the
//!   first incarnation it sees for it (`<data-dir>/PEERS-SEEN`, written
//!   durably before the connection is used) and never replaces it.
//!
//! A peer presenting another incarnation is refused
//! (`AckStatus::ReplacedNode`), and live links re-judge when the membership
//! names a new one: a wiped node's votes and acknowledgements never count,
//! whatever role this node believes it has. Formats: `docs/format.md`,
//! "`IDENTITY` and `PEERS-SEEN`".
//!
//! What this does not catch: a data directory put back from an older copy
//! (same incarnation, older state), an initial member wiped before a peer
//! ever talked to it, and a member added by hand with `ADD-NODE` without
//! an incarnation (its peers fall back to the first one they see).
//! `docs/server.md` ("Lost disk") says what to do instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use tracing::{info, warn};

use raftlog::NodeId;

/// File name of a node's identity, in its data directory.
pub const IDENTITY_FILE: &str = "IDENTITY";
/// File name of the incarnations seen for peers, in the data directory.
pub const PEERS_SEEN_FILE: &str = "PEERS-SEEN";

const IDENTITY_COMMENT: &str = "# snowflk node identity: which data directory this node id stands for; never copy it to another node";
const PEERS_SEEN_COMMENT: &str =
    "# snowflk: the data-directory incarnation first seen for each peer id (ID=INCARNATION)";

/// Why an identity file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading or writing the file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file's text is not what this build writes.
    #[error("{path} line {line}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The data directory belongs to another node id.
    #[error(
        "{path} says this data directory is node {recorded}'s, but --id is {configured}: start it with --id {recorded}, or give node {configured} its own data directory"
    )]
    OtherNode {
        /// The identity file.
        path: PathBuf,
        /// The id in the file.
        recorded: NodeId,
        /// The id this node was started with.
        configured: NodeId,
    },
}

/// This node's identity: its id and its data directory's incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The node id the directory was created for.
    pub node: NodeId,
    /// Random, never 0, new whenever the Raft log starts empty.
    pub incarnation: u64,
}

impl NodeIdentity {
    /// Loads `<data_dir>/IDENTITY`, or writes a new one (durably) when it is
    /// missing or `log_is_new` (the Raft log was created by this start: any
    /// identity left beside it stood for state that is gone). A recorded id
    /// other than `node` is an error: the directory is another node's.
    pub fn load_or_create(
        data_dir: &Path,
        node: NodeId,
        log_is_new: bool,
    ) -> Result<NodeIdentity, IdentityError> {
        let path = data_dir.join(IDENTITY_FILE);
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => Some(parse_identity(&path, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(IdentityError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        match existing {
            Some(id) if id.node != node => Err(IdentityError::OtherNode {
                path,
                recorded: id.node,
                configured: node,
            }),
            Some(id) if !log_is_new => Ok(id),
            old => {
                let id = NodeIdentity {
                    node,
                    incarnation: new_incarnation(),
                };
                if old.is_some() {
                    warn!(
                        node,
                        "the raft log is new: this data directory gets a new incarnation, and peers that knew the old one will refuse it"
                    );
                }
                let text = format!(
                    "{IDENTITY_COMMENT}\nnode={}\nincarnation={:016x}\n",
                    id.node, id.incarnation
                );
                write_durably(&path, &text)?;
                info!(node, incarnation = %format!("{:016x}", id.incarnation), "new data-directory incarnation");
                Ok(id)
            }
        }
    }
}

fn new_incarnation() -> u64 {
    loop {
        let x: u64 = rand::random();
        if x != 0 {
            return x;
        }
    }
}

fn parse_identity(path: &Path, text: &str) -> Result<NodeIdentity, IdentityError> {
    let mut node = None;
    let mut incarnation = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| IdentityError::Malformed {
            path: path.to_path_buf(),
            line: n + 1,
            reason,
        };
        match line.split_once('=') {
            Some(("node", v)) => {
                node = Some(
                    v.parse::<NodeId>()
                        .map_err(|_| bad(format!("node id {v:?} is not a number")))?,
                )
            }
            Some(("incarnation", v)) => incarnation = Some(parse_incarnation(v).map_err(bad)?),
            _ => return Err(bad(format!("unexpected line {line:?}"))),
        }
    }
    match (node, incarnation) {
        (Some(node), Some(incarnation)) => Ok(NodeIdentity { node, incarnation }),
        _ => Err(IdentityError::Malformed {
            path: path.to_path_buf(),
            line: text.lines().count().max(1),
            reason: "a node= and an incarnation= line are required".into(),
        }),
    }
}

/// Parses an incarnation as files and `ADD-NODE` write it: 16 lower-case
/// hexadecimal digits, not all zeros.
pub fn parse_incarnation(v: &str) -> Result<u64, String> {
    let lower_hex = v.len() == 16 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match u64::from_str_radix(v, 16) {
        Ok(x) if x != 0 && lower_hex => Ok(x),
        _ => Err(format!(
            "incarnation {v:?} is not 16 lower-case hexadecimal digits other than all zeros"
        )),
    }
}

/// Writes `text` to `path` durably ([`bitcask::vfs::write_file_durably`]).
fn write_durably(path: &Path, text: &str) -> Result<(), IdentityError> {
    let write = || bitcask::vfs::write_file_durably(path, text.as_bytes());
    write().map_err(|source| IdentityError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// What [`Identities::judge`] decided about an incarnation a peer presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The expected incarnation: go on.
    Known,
    /// The first one seen for this id (an initial member); now recorded
    /// durably.
    Recorded,
    /// Another incarnation than the one expected: refuse it, it forgot
    /// its votes and acknowledged entries.
    Refused {
        /// The incarnation expected.
        known: u64,
    },
}

/// The incarnations seen per peer id, kept in `<data-dir>/PEERS-SEEN` (or
/// only in memory, for tests that run transports without a data directory).
#[derive(Debug)]
pub struct PeersSeen {
    path: Option<PathBuf>,
    seen: Mutex<BTreeMap<NodeId, u64>>,
}

impl PeersSeen {
    /// A record kept only in memory.
    pub fn in_memory() -> PeersSeen {
        PeersSeen {
            path: None,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Loads `<data_dir>/PEERS-SEEN` (empty if missing). With
    /// `log_is_new` the file is discarded first: what a former incarnation
    /// of this directory saw says nothing about the cluster it joins now.
    pub fn load(data_dir: &Path, log_is_new: bool) -> Result<PeersSeen, IdentityError> {
        let path = data_dir.join(PEERS_SEEN_FILE);
        let mut seen = BTreeMap::new();
        if log_is_new {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(IdentityError::Io {
                        action: "remove",
                        path,
                        source,
                    });
                }
            }
        } else {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    for (n, line) in text.lines().enumerate() {
                        let line = line.trim();
                        if line.is_empty() || line.starts_with('#') {
                            continue;
                        }
                        let bad = |reason: String| IdentityError::Malformed {
                            path: path.clone(),
                            line: n + 1,
                            reason,
                        };
                        let (id, inc) = line
                            .split_once('=')
                            .ok_or_else(|| bad(format!("expected ID=INCARNATION, got {line:?}")))?;
                        let id = id
                            .parse::<NodeId>()
                            .map_err(|_| bad(format!("node id {id:?} is not a number")))?;
                        let inc = parse_incarnation(inc).map_err(bad)?;
                        if seen.insert(id, inc).is_some() {
                            return Err(bad(format!("node id {id} appears twice")));
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(IdentityError::Io {
                        action: "read",
                        path,
                        source,
                    });
                }
            }
        }
        Ok(PeersSeen {
            path: Some(path),
            seen: Mutex::new(seen),
        })
    }

    /// The incarnation recorded for `peer`, if any.
    pub fn get(&self, peer: NodeId) -> Option<u64> {
        self.seen.lock().get(&peer).copied()
    }

    /// Judges `incarnation` presented by `peer` against the record: the
    /// first one seen is recorded (on disk before this returns; a handful
    /// of writes over a cluster's life, so the fsync is not worth a thread
    /// hop), any other is refused. A record is never replaced: a peer id
    /// that comes back with a new data directory must be added again
    /// (`ADD-NODE`), which names its incarnation in the replicated log.
    pub fn check(&self, peer: NodeId, incarnation: u64) -> Result<Verdict, IdentityError> {
        let mut seen = self.seen.lock();
        match seen.get(&peer) {
            Some(&known) if known == incarnation => return Ok(Verdict::Known),
            Some(&known) => return Ok(Verdict::Refused { known }),
            None => {}
        }
        let mut next = seen.clone();
        next.insert(peer, incarnation);
        if let Some(path) = &self.path {
            let mut text = format!("{PEERS_SEEN_COMMENT}\n");
            for (id, inc) in &next {
                text.push_str(&format!("{id}={inc:016x}\n"));
            }
            write_durably(path, &text)?;
        }
        *seen = next;
        Ok(Verdict::Recorded)
    }
}

/// Splits a member-book value (the context of an `ADD-NODE` entry) into
/// the peer address and the incarnation the added node presented, if the
/// entry names one: `HOST:PORT` or `HOST:PORT#INCARNATION` (16 lower-case
/// hexadecimal digits).
pub fn split_member(value: &str) -> (&str, Option<u64>) {
    match value.rsplit_once('#') {
        Some((addr, inc)) => match parse_incarnation(inc) {
            Ok(inc) => (addr, Some(inc)),
            Err(_) => (value, None),
        },
        None => (value, None),
    }
}

/// The member-book value of a node at `addr` with `incarnation`.
pub fn member_value(addr: &str, incarnation: Option<u64>) -> String {
    match incarnation {
        Some(inc) => format!("{addr}#{inc:016x}"),
        None => addr.to_string(),
    }
}

/// What the transport needs to judge a peer's incarnation: this node's own,
/// the incarnations the replicated membership names, and the local record
/// of those seen first.
#[derive(Debug)]
pub struct Identities {
    /// This node's data-directory incarnation, sent in every handshake.
    pub incarnation: u64,
    seen: PeersSeen,
    /// The incarnation each member was added with (`ADD-NODE`), from the
    /// applied member book and the membership entries in the log. It wins
    /// over the local record: every node learns it in log order.
    expected: parking_lot::RwLock<BTreeMap<NodeId, u64>>,
    /// Bumped whenever `expected` changes or a first incarnation is
    /// recorded, so that live links re-judge.
    generation: std::sync::atomic::AtomicU64,
}

impl Identities {
    /// This node's `incarnation` and the `seen` record.
    pub fn new(incarnation: u64, seen: PeersSeen) -> Identities {
        Identities {
            incarnation,
            seen,
            expected: parking_lot::RwLock::new(BTreeMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A random incarnation and a record in memory: for transports that
    /// run without a data directory.
    pub fn ephemeral() -> Identities {
        Identities::new(new_incarnation(), PeersSeen::in_memory())
    }

    /// The incarnations the membership names (see `expected`).
    pub fn set_expected(&self, expected: BTreeMap<NodeId, u64>) {
        let mut current = self.expected.write();
        if *current != expected {
            *current = expected;
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    /// Changes whenever [`Self::set_expected`] changes something or
    /// [`Self::judge`] records a first incarnation.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Judges `incarnation` presented by `peer`: against the membership's
    /// incarnation for it if there is one, else against the local record
    /// (see [`PeersSeen::check`]).
    pub fn judge(&self, peer: NodeId, incarnation: u64) -> Result<Verdict, IdentityError> {
        if let Some(&known) = self.expected.read().get(&peer) {
            return Ok(if known == incarnation {
                Verdict::Known
            } else {
                Verdict::Refused { known }
            });
        }
        let verdict = self.seen.check(peer, incarnation)?;
        if verdict == Verdict::Recorded {
            // A version-1 link of this peer can no longer be trusted.
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        Ok(verdict)
    }

    /// Whether an incarnation is known for `peer` (from the membership or
    /// the local record): it then must present one, which protocol
    /// version 1 cannot.
    pub fn knows(&self, peer: NodeId) -> bool {
        self.expected.read().contains_key(&peer) || self.seen.get(peer).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_survives_restarts_and_is_renewed_with_a_new_log() {
        let dir = tempfile::tempdir().unwrap();
        let first = NodeIdentity::load_or_create(dir.path(), 3, true).unwrap();
        assert_eq!(first.node, 3);
        let again = NodeIdentity::load_or_create(dir.path(), 3, false).unwrap();
        assert_eq!(again, first);
        let renewed = NodeIdentity::load_or_create(dir.path(), 3, true).unwrap();
        assert_ne!(renewed.incarnation, first.incarnation);
        let text = std::fs::read_to_string(dir.path().join(IDENTITY_FILE)).unwrap();
        assert!(text.contains(&format!("incarnation={:016x}", renewed.incarnation)));
    }

    #[test]
    fn a_directory_of_another_node_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        NodeIdentity::load_or_create(dir.path(), 3, true).unwrap();
        let err = NodeIdentity::load_or_create(dir.path(), 4, false).unwrap_err();
        assert!(matches!(
            err,
            IdentityError::OtherNode {
                recorded: 3,
                configured: 4,
                ..
            }
        ));
        assert!(err.to_string().contains("--id 3"), "{err}");
    }

    #[test]
    fn a_malformed_identity_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDENTITY_FILE);
        std::fs::write(&path, "# c\nnode=1\nincarnation=00000000000000zz\n").unwrap();
        let err = NodeIdentity::load_or_create(dir.path(), 1, false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("IDENTITY line 3"), "{msg}");
        std::fs::write(&path, "node=1\n").unwrap();
        assert!(NodeIdentity::load_or_create(dir.path(), 1, false).is_err());
    }

    #[test]
    fn the_first_incarnation_seen_is_recorded_and_no_other_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let seen = PeersSeen::load(dir.path(), false).unwrap();
        assert_eq!(seen.check(2, 0xaa).unwrap(), Verdict::Recorded);
        assert_eq!(seen.check(2, 0xaa).unwrap(), Verdict::Known);
        assert_eq!(
            seen.check(2, 0xbb).unwrap(),
            Verdict::Refused { known: 0xaa }
        );
        // The record is on disk: a restart refuses the other one too.
        let reloaded = PeersSeen::load(dir.path(), false).unwrap();
        assert_eq!(reloaded.get(2), Some(0xaa));
        assert_eq!(
            reloaded.check(2, 0xbb).unwrap(),
            Verdict::Refused { known: 0xaa }
        );
        // A new log forgets what the old incarnation saw.
        assert_eq!(PeersSeen::load(dir.path(), true).unwrap().get(2), None);
        assert!(!dir.path().join(PEERS_SEEN_FILE).exists());
    }

    /// A node that was down while a peer id was removed and added again
    /// learns the new incarnation from the log (hostile17 finding 1), and a
    /// node never trades a known incarnation for another on its own, so a
    /// stale view of who votes cannot let a wiped voter in (finding 2).
    #[test]
    fn the_membership_incarnation_wins_over_the_local_record() {
        let ids = Identities::new(1, PeersSeen::in_memory());
        let g = ids.generation();
        assert_eq!(ids.judge(4, 0xaa).unwrap(), Verdict::Recorded);
        assert_ne!(ids.generation(), g, "a version-1 link of node 4 must end");
        assert!(ids.knows(4));
        assert_eq!(
            ids.judge(4, 0xbb).unwrap(),
            Verdict::Refused { known: 0xaa }
        );
        let g = ids.generation();
        ids.set_expected(BTreeMap::from([(4, 0xbb)]));
        assert_ne!(ids.generation(), g, "live links must re-judge");
        assert_eq!(ids.judge(4, 0xbb).unwrap(), Verdict::Known);
        assert_eq!(
            ids.judge(4, 0xaa).unwrap(),
            Verdict::Refused { known: 0xbb }
        );
        let g = ids.generation();
        ids.set_expected(BTreeMap::from([(4, 0xbb)]));
        assert_eq!(ids.generation(), g, "no change, no re-judging");
    }

    #[test]
    fn member_values_carry_the_incarnation() {
        assert_eq!(split_member("10.0.0.4:7380"), ("10.0.0.4:7380", None));
        let v = member_value("[::1]:7380", Some(0x2c9e_1f0a_7b3d_5e80));
        assert_eq!(v, "[::1]:7380#2c9e1f0a7b3d5e80");
        assert_eq!(
            split_member(&v),
            ("[::1]:7380", Some(0x2c9e_1f0a_7b3d_5e80))
        );
        assert_eq!(split_member("h:1#zz"), ("h:1#zz", None));
        assert_eq!(member_value("h:1", None), "h:1");
    }

    #[test]
    fn upper_case_zero_and_duplicate_incarnations_are_refused() {
        assert!(parse_incarnation("2C9E1F0A7B3D5E80").is_err());
        assert!(parse_incarnation("0000000000000000").is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PEERS_SEEN_FILE),
            "2=00000000000000aa\n2=00000000000000bb\n",
        )
        .unwrap();
        let err = PeersSeen::load(dir.path(), false).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        std::fs::write(dir.path().join(IDENTITY_FILE), "").unwrap();
        let err = NodeIdentity::load_or_create(dir.path(), 1, false).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn a_malformed_peers_seen_file_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PEERS_SEEN_FILE),
            "# c\n2=00000000000000aa\nx\n",
        )
        .unwrap();
        let err = PeersSeen::load(dir.path(), false).unwrap_err();
        assert!(err.to_string().contains("PEERS-SEEN line 3"), "{err}");
    }
}
