//! [`Txn`]: the semantics of every write command, applied to an overlay
//! of pending effects that later commands of the same batch see (a MULTI,
//! MSET with repeated keys, a batch of entries); the parent module commits
//! the overlay in one engine batch with the applied index.

use super::*;

/// Pending effects of the entries being applied, seen by later commands of
/// the same batch (a MULTI, MSET with repeated keys, a group of entries).
pub(super) struct Txn<'a> {
    pub(super) sm: &'a KvStateMachine,
    pub(super) engine: Arc<Bitcask>,
    pub(super) now: u64,
    /// Client key -> new state (`None`: deleted).
    pub(super) overlay: BTreeMap<Vec<u8>, Option<Value>>,
    /// FLUSHDB ran: keys not in the overlay are gone.
    pub(super) flushed: bool,
    /// Bytes put so far (an upper bound of the batch's payload).
    pub(super) bytes: usize,
}

impl<'a> Txn<'a> {
    pub(super) fn new(sm: &'a KvStateMachine, now: u64) -> Result<Self, Error> {
        Ok(Self {
            sm,
            engine: sm.engine()?,
            now,
            overlay: BTreeMap::new(),
            flushed: false,
            bytes: 0,
        })
    }

    /// The live value of `key` at `self.now`, including pending effects.
    fn get(&self, key: &[u8]) -> Result<Option<Value>, Error> {
        let v = match self.overlay.get(key) {
            Some(state) => state.clone(),
            None if self.flushed => None,
            None => {
                let ekey = user_key(key);
                match self.engine.get(&ekey)? {
                    Some(raw) => Some(decode_value(&ekey, raw)?),
                    None => None,
                }
            }
        };
        Ok(v.filter(|v| live(v.expiry, self.now)))
    }

    /// The first `limit` keys, in key order, whose expiry has passed at
    /// `self.now`, as if every earlier entry of this batch were already in
    /// the engine: the engine's volatile keys this batch did not touch, and
    /// the ones it wrote. The same keys however the log is cut into apply
    /// batches, so every node purges the same ones.
    pub(super) fn expired_keys(&self, limit: usize) -> Vec<Vec<u8>> {
        let volatile = self.sm.volatile.read();
        let mut from_engine = volatile
            .iter()
            .filter(|(k, e)| {
                !self.flushed && !live(**e, self.now) && !self.overlay.contains_key(*k)
            })
            .map(|(k, _)| k)
            .peekable();
        let mut from_batch = self
            .overlay
            .iter()
            .filter(|(_, state)| state.as_ref().is_some_and(|v| !live(v.expiry, self.now)))
            .map(|(k, _)| k)
            .peekable();
        let mut keys = Vec::new();
        while keys.len() < limit {
            // The two sets are disjoint: a key of the batch is skipped above.
            let next = match (from_engine.peek(), from_batch.peek()) {
                (Some(e), Some(b)) if e < b => from_engine.next(),
                (Some(_), None) => from_engine.next(),
                (_, Some(_)) => from_batch.next(),
                (None, None) => None,
            };
            match next {
                Some(k) => keys.push(k.clone()),
                None => break,
            }
        }
        keys
    }

    fn put(&mut self, key: &[u8], data: Vec<u8>, expiry: u64) {
        self.bytes += key.len() + data.len() + VALUE_HEADER_LEN;
        let state = live(expiry, self.now).then_some(Value { data, expiry });
        self.overlay.insert(key.to_vec(), state);
    }

    fn delete(&mut self, key: &[u8]) {
        self.overlay.insert(key.to_vec(), None);
    }

    /// `SET` with its options (and `SETNX`, which is `SET NX` with another reply).
    fn set(
        &mut self,
        key: &[u8],
        value: &[u8],
        condition: SetCondition,
        expiry: SetExpiry,
        get: bool,
    ) -> Result<Reply, Error> {
        if let Some(r) = check_sizes(key, value.len()) {
            return Ok(r);
        }
        // A plain SET does not depend on the old value: reading it
        // would cost an engine read on every node for every write.
        let needs_old =
            get || !matches!(condition, SetCondition::Always) || matches!(expiry, SetExpiry::Keep);
        let old = if needs_old { self.get(key)? } else { None };
        let proceed = match condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => old.is_none(),
            SetCondition::IfPresent => old.is_some(),
        };
        if proceed {
            let exp = match expiry {
                SetExpiry::Clear => 0,
                SetExpiry::Keep => old.as_ref().map_or(0, |v| v.expiry),
                SetExpiry::At(t) => t,
                SetExpiry::In(d) => self.now.saturating_add(d).min(crate::ops::MAX_EXPIRY_MS),
            };
            self.put(key, value.to_vec(), exp);
        }
        Ok(match (get, proceed) {
            (true, _) => old.map_or(Reply::Nil, |v| Reply::Bulk(v.data)),
            (false, true) => Reply::ok(),
            (false, false) => Reply::Nil,
        })
    }

    /// Runs one write command; `top` is false inside a MULTI.
    pub(super) fn run(&mut self, cmd: &WriteCmd, top: bool) -> Result<Reply, Error> {
        Ok(match cmd {
            WriteCmd::Set {
                key,
                value,
                condition,
                expiry,
                get,
            } => self.set(key, value, *condition, *expiry, *get)?,
            WriteCmd::SetNx { key, value } => {
                match self.set(key, value, SetCondition::IfAbsent, SetExpiry::Clear, false)? {
                    Reply::Nil => Reply::Int(0),
                    Reply::Simple(_) => Reply::Int(1),
                    other => other, // a size limit's error
                }
            }
            WriteCmd::Rename {
                src,
                dst,
                only_if_absent,
            } => {
                let Some(v) = self.get(src)? else {
                    return Ok(Reply::error(errors::NO_SUCH_KEY));
                };
                if src == dst {
                    return Ok(if *only_if_absent {
                        Reply::Int(0)
                    } else {
                        Reply::ok()
                    });
                }
                if *only_if_absent && self.get(dst)?.is_some() {
                    return Ok(Reply::Int(0));
                }
                self.delete(src);
                self.put(dst, v.data, v.expiry);
                if *only_if_absent {
                    Reply::Int(1)
                } else {
                    Reply::ok()
                }
            }
            WriteCmd::MSetNx { pairs } => {
                for (key, value) in pairs {
                    if let Some(r) = check_sizes(key, value.len()) {
                        return Ok(r);
                    }
                }
                for (key, _) in pairs {
                    if self.get(key)?.is_some() {
                        return Ok(Reply::Int(0));
                    }
                }
                for (key, value) in pairs {
                    self.put(key, value.clone(), 0);
                }
                Reply::Int(1)
            }
            WriteCmd::GetEx { key, expiry } => match self.get(key)? {
                None => Reply::Nil,
                Some(v) => {
                    let new_expiry = match *expiry {
                        // PERSIST; `Keep` is never proposed (no option is a read).
                        SetExpiry::Clear | SetExpiry::Keep => 0,
                        SetExpiry::At(t) => t,
                        SetExpiry::In(d) => {
                            self.now.saturating_add(d).min(crate::ops::MAX_EXPIRY_MS)
                        }
                    };
                    // A time not after now deletes the key (put does that);
                    // PERSIST of a key without an expiry writes nothing.
                    if new_expiry != v.expiry {
                        self.put(key, v.data.clone(), new_expiry);
                    }
                    Reply::Bulk(v.data)
                }
            },
            WriteCmd::Del { keys } => {
                let mut n = 0;
                for key in keys {
                    if self.get(key)?.is_some() {
                        self.delete(key);
                        n += 1;
                    }
                }
                Reply::Int(n)
            }
            WriteCmd::MSet { pairs } => {
                for (key, value) in pairs {
                    if let Some(r) = check_sizes(key, value.len()) {
                        return Ok(r);
                    }
                }
                for (key, value) in pairs {
                    self.put(key, value.clone(), 0);
                }
                Reply::ok()
            }
            WriteCmd::IncrBy { key, delta } => {
                if let Some(r) = check_sizes(key, 0) {
                    return Ok(r);
                }
                let (cur, expiry) = match self.get(key)? {
                    None => (0, 0),
                    Some(v) => match parse_i64(&v.data) {
                        Some(n) => (n, v.expiry),
                        None => return Ok(Reply::error(errors::NOT_INTEGER)),
                    },
                };
                let Some(new) = cur.checked_add(*delta) else {
                    return Ok(Reply::error(errors::OVERFLOW));
                };
                self.put(key, new.to_string().into_bytes(), expiry);
                Reply::Int(new)
            }
            WriteCmd::Append { key, value } => {
                let (mut data, expiry) = match self.get(key)? {
                    None => (Vec::new(), 0),
                    Some(v) => (v.data, v.expiry),
                };
                if let Some(r) = check_sizes(key, data.len().saturating_add(value.len())) {
                    return Ok(r);
                }
                data.extend_from_slice(value);
                let len = data.len() as i64;
                self.put(key, data, expiry);
                Reply::Int(len)
            }
            WriteCmd::GetDel { key } => match self.get(key)? {
                None => Reply::Nil,
                Some(v) => {
                    self.delete(key);
                    Reply::Bulk(v.data)
                }
            },
            WriteCmd::Expire {
                key,
                deadline,
                condition,
            } => {
                let at_ms = &deadline.resolve(self.now);
                let Some(v) = self.get(key)? else {
                    return Ok(Reply::Int(0));
                };
                let ok = match condition {
                    ExpireCondition::Always => true,
                    ExpireCondition::IfNone => v.expiry == 0,
                    ExpireCondition::IfSome => v.expiry != 0,
                    ExpireCondition::IfGreater => v.expiry != 0 && *at_ms > v.expiry,
                    ExpireCondition::IfLess => v.expiry == 0 || *at_ms < v.expiry,
                    ExpireCondition::IfSomeAndLess => v.expiry != 0 && *at_ms < v.expiry,
                };
                if !ok {
                    return Ok(Reply::Int(0));
                }
                // A time not after now deletes the key (put does that).
                self.put(key, v.data, (*at_ms).max(1));
                Reply::Int(1)
            }
            WriteCmd::Persist { key } => match self.get(key)? {
                Some(v) if v.expiry != 0 => {
                    self.put(key, v.data, 0);
                    Reply::Int(1)
                }
                _ => Reply::Int(0),
            },
            WriteCmd::Cas { key, expected, new } => {
                if let Some(r) = check_sizes(key, new.len()) {
                    return Ok(r);
                }
                match self.get(key)? {
                    Some(v) if v.data == *expected => {
                        self.put(key, new.clone(), v.expiry);
                        Reply::Int(1)
                    }
                    _ => Reply::Int(0),
                }
            }
            WriteCmd::FlushDb => {
                self.overlay.clear();
                self.flushed = true;
                Reply::ok()
            }
            WriteCmd::Multi(cmds) => {
                if !top {
                    return Ok(Reply::error("ERR MULTI calls can not be nested"));
                }
                let mut replies = Vec::with_capacity(cmds.len());
                for c in cmds {
                    replies.push(self.run(c, false)?);
                }
                Reply::Array(replies)
            }
            WriteCmd::Read(op) => {
                if !op.allowed_in_multi() {
                    return Ok(Reply::error("ERR command not allowed inside MULTI"));
                }
                self.read(op)?
            }
            WriteCmd::PurgeExpired { limit } => {
                if self.flushed {
                    return Ok(Reply::Int(0));
                }
                let victims = self.expired_keys(*limit as usize);
                let n = victims.len() as i64;
                for k in victims {
                    self.delete(&k);
                }
                Reply::Int(n)
            }
        })
    }

    pub(super) fn read(&self, op: &ReadOp) -> Result<Reply, Error> {
        Ok(match op {
            ReadOp::Get { key } => self.get(key)?.map_or(Reply::Nil, |v| Reply::Bulk(v.data)),
            ReadOp::MGet { keys } => {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    out.push(self.get(key)?.map_or(Reply::Nil, |v| Reply::Bulk(v.data)));
                }
                Reply::Array(out)
            }
            ReadOp::Exists { keys } => {
                let mut n = 0;
                for key in keys {
                    if self.exists(key)? {
                        n += 1;
                    }
                }
                Reply::Int(n)
            }
            ReadOp::StrLen { key } => Reply::Int(self.get(key)?.map_or(0, |v| v.data.len() as i64)),
            ReadOp::Ttl { key, unit } => match self.get(key)? {
                None => Reply::Int(-2),
                Some(v) if v.expiry == 0 => Reply::Int(-1),
                Some(v) => {
                    let left = v.expiry - self.now;
                    Reply::Int(match unit {
                        TtlUnit::Millis => i64::try_from(left).unwrap_or(i64::MAX),
                        // Redis rounds to the nearest second.
                        TtlUnit::Seconds => {
                            i64::try_from(left.saturating_add(500) / 1000).unwrap_or(i64::MAX)
                        }
                    })
                }
            },
            ReadOp::DbSize => Reply::Int(self.user_len() as i64),
            ReadOp::ExpiredCount => Reply::Int(self.sm.expired_count(self.now) as i64),
            ReadOp::GetExBadTime { key, error } => match self.get(key)? {
                None => Reply::Nil,
                Some(_) => Reply::Error(error.clone()),
            },
            ReadOp::Type { key } => Reply::Simple(
                if self.get(key)?.is_some() {
                    "string"
                } else {
                    "none"
                }
                .to_string(),
            ),
            ReadOp::Keyspace => {
                let expires = self.sm.volatile_len() - self.sm.expired_count(self.now);
                Reply::Array(vec![
                    Reply::Int(self.user_len() as i64),
                    Reply::Int(expires as i64),
                ])
            }
            ReadOp::Keys { pattern } => {
                let mut keys = self.live_keys(|k| glob_match(pattern, k));
                keys.sort();
                Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
            }
            ReadOp::Scan {
                cursor,
                pattern,
                count,
            } => self.scan(*cursor, pattern.as_deref(), (*count).max(1)),
        })
    }

    /// Existence without reading the value (no pending effects apply on the
    /// read-only path; inside a transaction, fall back to `get`).
    fn exists(&self, key: &[u8]) -> Result<bool, Error> {
        if !self.overlay.is_empty() || self.flushed {
            return Ok(self.get(key)?.is_some());
        }
        if !self.engine.contains_key(&user_key(key)) {
            return Ok(false);
        }
        Ok(match self.sm.volatile.read().get(key) {
            Some(&e) => live(e, self.now),
            None => true,
        })
    }

    fn user_len(&self) -> usize {
        let internal =
            usize::from(self.engine.contains_key(APPLIED_KEY)) + self.sm.members.borrow().len();
        let total = self.engine.len().saturating_sub(internal);
        total.saturating_sub(self.sm.expired_count(self.now))
    }

    /// Live client keys passing `filter` (unordered).
    fn live_keys(&self, mut filter: impl FnMut(&[u8]) -> bool) -> Vec<Vec<u8>> {
        let volatile = self.sm.volatile.read();
        self.engine
            .keys()
            .filter(|k| k.first() == Some(&USER_PREFIX))
            .map(|mut k| {
                k.remove(0);
                k
            })
            .filter(|k| volatile.get(k).is_none_or(|&e| live(e, self.now)))
            .filter(|k| filter(k))
            .collect()
    }

    /// SCAN: the cursor is a position in the 64-bit FNV-1a hash space of the
    /// keys; each call returns the `count` keys with the smallest hashes at
    /// or after it (plus any sharing the last hash), so a key present for
    /// the whole scan is returned at least once.
    fn scan(&self, cursor: u64, pattern: Option<&[u8]>, count: usize) -> Reply {
        let mut found: Vec<(u64, Vec<u8>)> = self
            .live_keys(|k| fnv1a(k) >= cursor)
            .into_iter()
            .map(|k| (fnv1a(&k), k))
            .collect();
        found.sort_unstable();
        let mut take = found.len().min(count);
        while take < found.len() && take > 0 && found[take].0 == found[take - 1].0 {
            take += 1;
        }
        let next = if take == found.len() {
            0
        } else {
            found[take - 1].0.checked_add(1).unwrap_or(0)
        };
        found.truncate(take);
        let keys = found
            .into_iter()
            .filter(|(_, k)| pattern.is_none_or(|p| glob_match(p, k)))
            .map(|(_, k)| Reply::Bulk(k))
            .collect();
        Reply::Array(vec![
            Reply::Bulk(next.to_string().into_bytes()),
            Reply::Array(keys),
        ])
    }
}

/// The size error reply if `key` or a value of `value_len` bytes is too long.
fn check_sizes(key: &[u8], value_len: usize) -> Option<Reply> {
    if key.len() > MAX_KEY_LEN {
        Some(Reply::error(errors::KEY_TOO_LARGE))
    } else if value_len > MAX_VALUE_LEN {
        Some(Reply::error(errors::TOO_LARGE))
    } else {
        None
    }
}
