//! Data-driven scenario tests: each `tests/scenarios/*.txt` file is a script
//! of commands (lines starting with `> `) followed by their recorded output.
//! The test replays the commands and compares the output; run with
//! `UPDATE_GOLDEN=1` to rewrite the files, then review the diff.
//!
//! Commands:
//! - `cluster nodes=N [prevote=B] [checkquorum=B] [max_append=N] [seed=N]` — a fresh cluster
//! - `campaign ID` — start an election on ID now
//! - `tick ID.. [n=N]` / `tick all [n=N]` — advance the clocks only
//! - `run ticks=N` — N rounds of: tick every node, then deliver everything;
//!   prints only state changes
//! - `stabilize` — deliver queued messages (FIFO, including new ones) until none are left
//! - `deliver [from=ID] [to=ID] [n=N]` / `drop [from=ID] [to=ID] [n=N]` — the queued
//!   messages that match (at most N of them, oldest first)
//! - `partition 1 2 / 3 4 5`, `isolate ID`, `heal`
//! - `propose ID|leader KEY=VALUE`, `read ID KEY`, `transfer ID TO`
//! - `crash ID`, `restart ID`, `hold ID` (stop persisting: a slow disk), `release ID`
//! - `status`, `log [ID..]`

mod sim;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use raftlog::{Config, EntryPayload, NodeId, Status};
use sim::cluster::{Cluster, Event};
use sim::kv::Cmd;

struct Runner {
    cluster: Option<Cluster>,
    out: String,
    last: BTreeMap<NodeId, Option<Status>>,
    next_id: u64,
}

fn parse_kv(args: &[&str]) -> BTreeMap<String, String> {
    args.iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn node_ids(args: &[&str]) -> Vec<NodeId> {
    args.iter()
        .filter(|a| !a.contains('='))
        .filter_map(|a| a.parse().ok())
        .collect()
}

fn describe(s: &Option<Status>) -> String {
    match s {
        None => "down".into(),
        Some(s) => format!(
            "{} t{} leader={} commit={} last={}@{}",
            s.role,
            s.term,
            s.leader.map_or("-".into(), |l| l.to_string()),
            s.commit,
            s.last_index,
            s.last_term
        ),
    }
}

impl Runner {
    fn c(&mut self) -> Result<&mut Cluster, String> {
        self.cluster
            .as_mut()
            .ok_or_else(|| "no cluster: use `cluster nodes=N` first".to_string())
    }

    fn snapshot(&self) -> BTreeMap<NodeId, Option<Status>> {
        let Some(c) = &self.cluster else {
            return BTreeMap::new();
        };
        c.ids
            .iter()
            .map(|&i| (i, c.raft(i).map(|r| r.status())))
            .collect()
    }

    /// Prints role/term/leader and commit changes since the last call.
    fn report_changes(&mut self) {
        let now = self.snapshot();
        for (id, s) in &now {
            let before = self.last.get(id).cloned().flatten();
            let changed = match (&before, s) {
                (Some(a), Some(b)) => {
                    a.role != b.role
                        || a.term != b.term
                        || a.leader != b.leader
                        || a.commit != b.commit
                }
                (None, None) => false,
                _ => true,
            };
            if changed {
                let _ = writeln!(self.out, "  n{id}: {}", describe(s));
            }
        }
        self.last = now;
        // Applied entries and served reads, as the application sees them.
        let events = self
            .cluster
            .as_mut()
            .map(|c| std::mem::take(&mut c.events))
            .unwrap_or_default();
        for ev in events {
            match ev {
                Event::ReadServed {
                    node,
                    context,
                    key,
                    value,
                } => {
                    let _ = writeln!(self.out, "  n{node}: read #{context} k{key} = {value:?}");
                }
                Event::ReadDropped { node, context } => {
                    let _ = writeln!(self.out, "  n{node}: read #{context} dropped");
                }
                Event::Applied { .. } | Event::SnapshotInstalled { .. } => {}
            }
        }
    }

    fn deliver_round(
        &mut self,
        from: Option<NodeId>,
        to: Option<NodeId>,
        limit: Option<u64>,
        keep_going: bool,
        drop: bool,
    ) -> Result<(), String> {
        loop {
            let c = self.c()?;
            let queued = std::mem::take(&mut c.net.in_flight);
            let mut budget = limit.unwrap_or(u64::MAX);
            let (selected, rest): (Vec<_>, Vec<_>) = queued.into_iter().partition(|m| {
                let take = budget > 0
                    && from.is_none_or(|f| m.msg.from == f)
                    && to.is_none_or(|t| m.msg.to == t);
                if take {
                    budget -= 1;
                }
                take
            });
            c.net.in_flight = rest;
            if selected.is_empty() {
                return Ok(());
            }
            for m in selected {
                let c = self.c()?;
                if drop {
                    let _ = writeln!(self.out, "dropped {}", m.msg);
                    continue;
                }
                let blocked = c.net.is_blocked(m.msg.from, m.msg.to) || !c.is_up(m.msg.to);
                let line = format!("{}{}", m.msg, if blocked { "  (lost)" } else { "" });
                c.deliver(m.msg)?;
                let _ = writeln!(self.out, "{line}");
                self.report_changes();
            }
            if !keep_going {
                return Ok(());
            }
        }
    }

    fn exec(&mut self, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (cmd, args) = words.split_first().ok_or("empty command")?;
        let kv = parse_kv(args);
        let get = |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok());
        let flag = |k: &str, default: bool| kv.get(k).map_or(default, |v| v == "true");
        match *cmd {
            "cluster" => {
                let n = get("nodes").ok_or("nodes=N required")?;
                let (pre_vote, check_quorum) = (flag("prevote", true), flag("checkquorum", true));
                let max_append = get("max_append").unwrap_or(64) as usize;
                let c = Cluster::new(n, get("seed").unwrap_or(0), |id, voters| {
                    let mut c = Config::new(id, voters);
                    c.pre_vote = pre_vote;
                    c.check_quorum = check_quorum;
                    c.max_entries_per_append = max_append;
                    c
                });
                self.cluster = Some(c);
                self.last = self.snapshot();
                self.exec("status")?;
            }
            "campaign" => {
                for id in node_ids(args) {
                    self.c()?.campaign(id)?;
                }
                self.report_changes();
            }
            "tick" => {
                let n = get("n").unwrap_or(1);
                let ids = if args.first() == Some(&"all") {
                    self.c()?.ids.clone()
                } else {
                    node_ids(args)
                };
                for _ in 0..n {
                    for &id in &ids {
                        self.c()?.tick(id)?;
                    }
                }
                self.report_changes();
            }
            "run" => {
                let n = get("ticks").ok_or("ticks=N required")?;
                for _ in 0..n {
                    let c = self.c()?;
                    c.now += 1;
                    for id in c.ids.clone() {
                        self.c()?.tick(id)?;
                        self.report_changes();
                    }
                    loop {
                        let c = self.c()?;
                        let Some(m) = c.net.take_due(c.now, &mut c.rng) else {
                            break;
                        };
                        c.deliver(m)?;
                        self.report_changes();
                    }
                }
            }
            "stabilize" => self.deliver_round(None, None, None, true, false)?,
            "deliver" => self.deliver_round(get("from"), get("to"), get("n"), false, false)?,
            "drop" => self.deliver_round(get("from"), get("to"), get("n"), false, true)?,
            "partition" => {
                let text = args.join(" ");
                let (a, b) = text.split_once('/').ok_or("partition A.. / B..")?;
                let parse = |s: &str| {
                    s.split_whitespace()
                        .filter_map(|x| x.parse().ok())
                        .collect::<Vec<NodeId>>()
                };
                let (a, b) = (parse(a), parse(b));
                self.c()?.net.partition(&a, &b);
            }
            "isolate" => {
                let c = self.c()?;
                let ids = c.ids.clone();
                for id in node_ids(args) {
                    let others: Vec<NodeId> = ids.iter().copied().filter(|&x| x != id).collect();
                    c.net.partition(&[id], &others);
                }
            }
            "heal" => self.c()?.net.heal(),
            "propose" => {
                let target = match args.first() {
                    Some(&"leader") => self.c()?.leader().ok_or("no leader")?,
                    Some(x) => x.parse().map_err(|_| "propose ID KEY=VALUE")?,
                    None => return Err("propose ID KEY=VALUE".into()),
                };
                let (k, v) = args
                    .get(1)
                    .and_then(|a| a.split_once('='))
                    .ok_or("propose ID KEY=VALUE")?;
                let key = k
                    .trim_start_matches('k')
                    .parse()
                    .map_err(|_| "key must be kN")?;
                let value: u64 = v.parse().map_err(|_| "value must be a number")?;
                self.next_id += 1;
                let id = self.next_id;
                let res = self.c()?.propose(target, Cmd { id, key, value })?;
                match res {
                    Ok(p) => {
                        let _ = writeln!(self.out, "n{target}: proposed at {}@{}", p.index, p.term);
                    }
                    Err(e) => {
                        let _ = writeln!(self.out, "n{target}: refused: {e}");
                    }
                }
                self.report_changes();
            }
            "read" => {
                let ids = node_ids(args);
                let target = *ids.first().ok_or("read ID KEY")?;
                let key = args
                    .get(1)
                    .map(|k| k.trim_start_matches('k'))
                    .and_then(|k| k.parse().ok())
                    .ok_or("read ID kN")?;
                self.next_id += 1;
                let ctx = self.next_id;
                match self.c()?.read(target, ctx, key)? {
                    Ok(()) => {
                        let _ = writeln!(self.out, "n{target}: read #{ctx} k{key} started");
                    }
                    Err(e) => {
                        let _ = writeln!(self.out, "n{target}: refused: {e}");
                    }
                }
                self.report_changes();
            }
            "transfer" => {
                let ids = node_ids(args);
                let (from, to) = (
                    *ids.first().ok_or("transfer ID TO")?,
                    *ids.get(1).ok_or("transfer ID TO")?,
                );
                if let Err(e) = self.c()?.transfer(from, to)? {
                    let _ = writeln!(self.out, "n{from}: refused: {e}");
                }
                self.report_changes();
            }
            "crash" => {
                for id in node_ids(args) {
                    self.c()?.crash(id)?;
                }
                self.report_changes();
            }
            "restart" => {
                for id in node_ids(args) {
                    self.c()?.restart(id)?;
                }
                self.report_changes();
            }
            "hold" | "release" => {
                for id in node_ids(args) {
                    let c = self.c()?;
                    if let Some(n) = c.nodes.get_mut(&id) {
                        n.hold = *cmd == "hold";
                    }
                    if *cmd == "release" {
                        c.process(id)?;
                    }
                }
                self.report_changes();
            }
            "status" => {
                let snap = self.snapshot();
                for (id, s) in &snap {
                    let _ = writeln!(self.out, "n{id}: {}", describe(s));
                }
            }
            "log" => {
                let c = self.c()?;
                let ids = if node_ids(args).is_empty() {
                    c.ids.clone()
                } else {
                    node_ids(args)
                };
                let mut text = String::new();
                for id in ids {
                    let entries: Vec<String> = c
                        .log_of(id)
                        .iter()
                        .map(|e| match &e.payload {
                            EntryPayload::Noop => format!("{}@{} noop", e.index, e.term),
                            EntryPayload::Command(cmd) => format!("{}@{} {cmd:?}", e.index, e.term),
                            EntryPayload::ConfChange(_) => e.to_string(),
                        })
                        .collect();
                    let up = if c.is_up(id) { "" } else { " (down, stored)" };
                    let _ = writeln!(
                        text,
                        "n{id}{up}: {}",
                        if entries.is_empty() {
                            "(empty)".into()
                        } else {
                            entries.join(" | ")
                        }
                    );
                }
                self.out.push_str(&text);
            }
            other => return Err(format!("unknown command `{other}`")),
        }
        Ok(())
    }
}

fn run_script(name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut runner = Runner {
        cluster: None,
        out: String::new(),
        last: BTreeMap::new(),
        next_id: 0,
    };
    let mut generated = String::new();
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("> ") {
            generated.push_str(line);
            generated.push('\n');
            runner.out.clear();
            if let Err(e) = runner.exec(cmd) {
                panic!("{name}: `{cmd}` failed: {e}");
            }
            generated.push_str(&runner.out);
            generated.push('\n');
        } else if line.starts_with('#') {
            generated.push_str(line);
            generated.push('\n');
        }
    }
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    if generated != text {
        let first_diff = generated
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name}: output differs from the recorded one at line {} \n--- recorded\n{}\n--- actual\n{}\n\
             (if the change is intended: UPDATE_GOLDEN=1 cargo test -p raftlog --test scenarios, then review the diff)",
            first_diff + 1,
            text.lines()
                .skip(first_diff)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
            generated
                .lines()
                .skip(first_diff)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

#[test]
fn split_vote() {
    run_script("split_vote.txt");
}

#[test]
fn leader_isolated() {
    run_script("leader_isolated.txt");
}

#[test]
fn stale_leader_higher_term_follower() {
    run_script("stale_leader_higher_term.txt");
}

#[test]
fn figure_8() {
    run_script("figure8.txt");
}

#[test]
fn follower_lost_disk_tail() {
    run_script("lost_disk_tail.txt");
}

#[test]
fn leadership_transfer_and_reads() {
    run_script("transfer_and_reads.txt");
}
