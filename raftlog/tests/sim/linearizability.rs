//! A linearizability checker for a key-value store of registers (Wing &
//! Gong's search with memoization, as in Lowe's / Porcupine's WGL).
//!
//! Linearizability is local (Herlihy & Wing 1990): a history is linearizable
//! iff the sub-history of every key is, so each key is checked on its own.
//!
//! An operation has an invocation time and, if the client saw the outcome,
//! a return time. An operation whose outcome is unknown (a write that timed
//! out) has no return: it may take effect at any point after its
//! invocation, or never.

use std::collections::{BTreeMap, HashSet};

/// What an operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Write `value` (values are unique per history).
    Put(u64),
    /// Read and observed this value.
    Get(Option<u64>),
}

/// One client operation.
#[derive(Clone, Debug)]
pub struct Op {
    /// Client operation id (for reports only).
    pub id: u64,
    pub key: u8,
    pub kind: OpKind,
    /// Logical time of the invocation.
    pub invoke: u64,
    /// Logical time of the response; `None` if unknown (may never take effect).
    pub ret: Option<u64>,
}

/// Checks a whole history; on failure names the key and its operations.
pub fn check_history(ops: &[Op]) -> Result<(), String> {
    let mut by_key: BTreeMap<u8, Vec<Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key).or_default().push(op.clone());
    }
    for (key, ops) in by_key {
        if !check_register(&ops) {
            let mut lines = String::new();
            for op in &ops {
                lines.push_str(&format!(
                    "\n  #{} {:?} invoke={} ret={:?}",
                    op.id, op.kind, op.invoke, op.ret
                ));
            }
            return Err(format!("history of key {key} is not linearizable:{lines}"));
        }
    }
    Ok(())
}

/// Is this single-register history linearizable (initial value `None`)?
pub fn check_register(ops: &[Op]) -> bool {
    let n = ops.len();
    let words = n.div_ceil(64).max(1);
    let mut memo: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    let mut done = vec![0u64; words];
    let completed = ops.iter().filter(|o| o.ret.is_some()).count();
    search(ops, &mut done, 0, completed, None, &mut memo)
}

fn search(
    ops: &[Op],
    done: &mut Vec<u64>,
    done_completed: usize,
    completed: usize,
    state: Option<u64>,
    memo: &mut HashSet<(Vec<u64>, Option<u64>)>,
) -> bool {
    if done_completed == completed {
        return true; // every completed op linearized; pending ones may never happen
    }
    if !memo.insert((done.clone(), state)) {
        return false;
    }
    let is_done = |done: &Vec<u64>, i: usize| done[i / 64] & (1 << (i % 64)) != 0;
    // An op may go next only if it was invoked before every not-yet-linearized
    // op returned (otherwise real-time order forces that op first).
    let min_ret = ops
        .iter()
        .enumerate()
        .filter(|(i, _)| !is_done(done, *i))
        .filter_map(|(_, o)| o.ret)
        .min()
        .unwrap_or(u64::MAX);
    for (i, op) in ops.iter().enumerate() {
        if is_done(done, i) || op.invoke > min_ret {
            continue;
        }
        let next_state = match &op.kind {
            OpKind::Put(v) => Some(*v),
            OpKind::Get(v) => {
                if *v != state {
                    continue;
                }
                state
            }
        };
        done[i / 64] |= 1 << (i % 64);
        let dc = done_completed + usize::from(op.ret.is_some());
        let ok = search(ops, done, dc, completed, next_state, memo);
        done[i / 64] &= !(1 << (i % 64));
        if ok {
            return true;
        }
    }
    false
}
