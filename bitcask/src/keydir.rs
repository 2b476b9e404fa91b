//! The keydir: the in-memory hash index from key to the newest record's location.
//!
//! Memory per key is the number users of Bitcask engines complain about most,
//! so the layout is compact on purpose (measured in `docs/benchmarks.md`):
//!
//! - The keydir is split into [`SHARDS`] shards, each behind its own
//!   `RwLock`, chosen by middle bits of a randomly seeded hash, so readers
//!   and the writer rarely meet on the same lock and a flood of chosen keys
//!   cannot pile into one bucket chain.
//! - Each shard keeps every key's bytes back to back in one arena
//!   (`Vec<u8>`) — no allocation and no pointer per key.
//! - Each key's metadata is a 24-byte `Slot` in a dense `Vec`.
//! - The hash table holds only 4-byte slot numbers (plus hashbrown's one
//!   control byte), so its empty buckets cost 5 bytes, not a whole entry.
//!
//! Removing a key frees its slot for reuse and leaves a hole in the arena,
//! which is compacted when holes exceed half of it.
//!
//! Entries carry the record's sequence number, so entries can be applied in
//! any order (recovery from merged segments, replays) and the newest wins.
//! During recovery, tombstones are kept as entries too, so that an older put
//! found later cannot resurrect a deleted key; [`Keydir::purge_tombstones`]
//! drops them when recovery is done.

use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use parking_lot::RwLock;

/// Number of shards; a power of two.
pub const SHARDS: usize = 64;
/// The shard comes from bits 32.. of the hash: hashbrown uses the low bits
/// to pick a bucket and the top 7 as its per-bucket tag, so taking the shard
/// from either would leave every key of a shard with the same bits there
/// (the top bits did: nearly every lookup fell back to comparing keys).
const SHARD_SHIFT: u32 = 32;

/// The largest sequence number a keydir entry can hold (48 bits).
pub const MAX_SEQ: u64 = (1 << 48) - 1;

const VALUE_LEN_MASK: u32 = (1 << 30) - 1;
const TOMBSTONE_BIT: u32 = 1 << 30;
const EXPIRY_BIT: u32 = 1 << 31;
const FREE_SEGMENT: u32 = u32::MAX;

/// Where the newest record for a key lives, and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Segment id of the record.
    pub segment: u32,
    /// Byte offset of the record in its segment file.
    pub offset: u32,
    /// Length of the record's value.
    pub value_len: u32,
    /// The record's sequence number (at most [`MAX_SEQ`]).
    pub seq: u64,
    /// Expiry in milliseconds since the Unix epoch; 0 for none.
    pub expiry: u64,
    /// True for a tombstone (only present while recovering).
    pub tombstone: bool,
}

/// One key's metadata, packed into 24 bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key_start: u32,
    segment: u32,
    offset: u32,
    /// Value length in the low 30 bits, then the tombstone and expiry flags.
    value_len_flags: u32,
    key_len: u16,
    seq_high: u16,
    seq_low: u32,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 24);

impl Slot {
    fn seq(&self) -> u64 {
        (u64::from(self.seq_high) << 32) | u64::from(self.seq_low)
    }

    fn is_tombstone(&self) -> bool {
        self.value_len_flags & TOMBSTONE_BIT != 0
    }

    fn set_entry(&mut self, entry: &Entry) {
        debug_assert!(entry.seq <= MAX_SEQ);
        debug_assert!(entry.value_len <= VALUE_LEN_MASK);
        self.segment = entry.segment;
        self.offset = entry.offset;
        self.value_len_flags = entry.value_len
            | if entry.tombstone { TOMBSTONE_BIT } else { 0 }
            | if entry.expiry != 0 { EXPIRY_BIT } else { 0 };
        self.seq_high = (entry.seq >> 32) as u16;
        self.seq_low = entry.seq as u32;
    }
}

#[derive(Debug, Default)]
struct Shard {
    table: HashTable<u32>,
    slots: Vec<Slot>,
    keys: Vec<u8>,
    free_slots: Vec<u32>,
    dead_key_bytes: usize,
    /// Expiry times of the few slots that have one.
    expiries: HashMap<u32, u64>,
    /// Entries that are not tombstones.
    live: usize,
}

impl Shard {
    fn key(&self, slot: u32) -> &[u8] {
        let s = &self.slots[slot as usize];
        &self.keys[s.key_start as usize..s.key_start as usize + s.key_len as usize]
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        self.table.find(hash, |&i| self.key(i) == key).copied()
    }

    fn entry(&self, slot: u32) -> Entry {
        let s = &self.slots[slot as usize];
        Entry {
            segment: s.segment,
            offset: s.offset,
            value_len: s.value_len_flags & VALUE_LEN_MASK,
            seq: s.seq(),
            expiry: if s.value_len_flags & EXPIRY_BIT != 0 {
                self.expiries.get(&slot).copied().unwrap_or(0)
            } else {
                0
            },
            tombstone: s.is_tombstone(),
        }
    }

    fn set(&mut self, slot: u32, entry: &Entry) {
        let was_tombstone = self.slots[slot as usize].is_tombstone();
        self.slots[slot as usize].set_entry(entry);
        if entry.expiry != 0 {
            self.expiries.insert(slot, entry.expiry);
        } else if !self.expiries.is_empty() {
            self.expiries.remove(&slot);
        }
        match (was_tombstone, entry.tombstone) {
            (true, false) => self.live += 1,
            (false, true) => self.live -= 1,
            _ => {}
        }
    }

    fn insert_new(&mut self, hash: u64, key: &[u8], entry: &Entry, hasher: &impl BuildHasher) {
        if self.keys.len() + key.len() > u32::MAX as usize {
            self.compact_keys();
        }
        let key_start = self.keys.len() as u32;
        self.keys.extend_from_slice(key);
        let mut slot = Slot {
            key_start,
            segment: 0,
            offset: 0,
            value_len_flags: TOMBSTONE_BIT,
            key_len: key.len() as u16,
            seq_high: 0,
            seq_low: 0,
        };
        slot.set_entry(&Entry {
            tombstone: true,
            ..*entry
        });
        let index = match self.free_slots.pop() {
            Some(index) => {
                self.slots[index as usize] = slot;
                index
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        // Starts as a tombstone so `set` counts it live exactly once.
        self.set(index, entry);
        let Self {
            table, slots, keys, ..
        } = self;
        table.insert_unique(hash, index, |&i| {
            let s = &slots[i as usize];
            hasher.hash_one(&keys[s.key_start as usize..s.key_start as usize + s.key_len as usize])
        });
    }

    fn remove_slot(&mut self, hash: u64, slot: u32) {
        if let Ok(found) = self.table.find_entry(hash, |&i| i == slot) {
            found.remove();
        }
        let s = self.slots[slot as usize];
        if !s.is_tombstone() {
            self.live -= 1;
        }
        self.expiries.remove(&slot);
        self.dead_key_bytes += s.key_len as usize;
        self.slots[slot as usize].segment = FREE_SEGMENT;
        self.slots[slot as usize].key_len = 0;
        self.free_slots.push(slot);
        if self.dead_key_bytes > 4096 && self.dead_key_bytes * 2 > self.keys.len() {
            self.compact_keys();
        }
    }

    /// Rewrites the key arena without the holes left by removed keys.
    fn compact_keys(&mut self) {
        let mut keys = Vec::with_capacity(self.keys.len() - self.dead_key_bytes);
        for slot in &mut self.slots {
            if slot.segment == FREE_SEGMENT {
                continue;
            }
            let start = slot.key_start as usize;
            slot.key_start = keys.len() as u32;
            keys.extend_from_slice(&self.keys[start..start + slot.key_len as usize]);
        }
        self.keys = keys;
        self.dead_key_bytes = 0;
    }

    fn reserve(&mut self, additional: usize, hasher: &impl BuildHasher) {
        let Self {
            table, slots, keys, ..
        } = self;
        table.reserve(additional, |&i| {
            let s = &slots[i as usize];
            hasher.hash_one(&keys[s.key_start as usize..s.key_start as usize + s.key_len as usize])
        });
        slots.reserve(additional);
    }

    fn shrink_to_fit(&mut self, hasher: &impl BuildHasher) {
        let Self {
            table, slots, keys, ..
        } = self;
        table.shrink_to_fit(|&i| {
            let s = &slots[i as usize];
            hasher.hash_one(&keys[s.key_start as usize..s.key_start as usize + s.key_len as usize])
        });
        slots.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        self.table.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.keys.capacity()
            + self.free_slots.capacity() * 4
            + self.expiries.capacity() * 16
    }
}

/// The sharded keydir. All methods take `&self`; locks are held only for
/// in-memory work, never across I/O.
#[derive(Debug)]
pub struct Keydir {
    shards: Box<[RwLock<Shard>]>,
    hasher: foldhash::fast::RandomState,
}

impl Default for Keydir {
    fn default() -> Self {
        Self::new()
    }
}

/// What applying an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The entry was newer and is now the key's entry; `previous` is what it replaced.
    Replaced {
        /// The entry that was replaced, if any.
        previous: Option<Entry>,
    },
    /// The keydir already held a newer (or equal) entry; nothing changed.
    Stale,
}

impl Keydir {
    /// An empty keydir.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn locate(&self, key: &[u8]) -> (u64, &RwLock<Shard>) {
        let hash = self.hasher.hash_one(key);
        (
            hash,
            &self.shards[((hash >> SHARD_SHIFT) as usize) & (SHARDS - 1)],
        )
    }

    /// The key's entry (a tombstone only while recovering).
    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        let (hash, shard) = self.locate(key);
        let shard = shard.read();
        shard.find(hash, key).map(|slot| shard.entry(slot))
    }

    /// Makes `entry` the key's entry if its sequence number is higher than
    /// the current one's (or there is none).
    pub fn apply(&self, key: &[u8], entry: Entry) -> Applied {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write();
        match shard.find(hash, key) {
            Some(slot) => {
                let previous = shard.entry(slot);
                if previous.seq >= entry.seq {
                    return Applied::Stale;
                }
                shard.set(slot, &entry);
                Applied::Replaced {
                    previous: Some(previous),
                }
            }
            None => {
                shard.insert_new(hash, key, &entry, &self.hasher);
                Applied::Replaced { previous: None }
            }
        }
    }

    /// Removes the key if its entry's sequence number is below `seq`;
    /// returns the removed entry.
    pub fn remove_older(&self, key: &[u8], seq: u64) -> Option<Entry> {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write();
        let slot = shard.find(hash, key)?;
        let previous = shard.entry(slot);
        if previous.seq >= seq {
            return None;
        }
        shard.remove_slot(hash, slot);
        Some(previous)
    }

    /// Replaces the key's entry with `new` only if it is still exactly
    /// `expected` (same segment and offset). Used to switch entries to merged
    /// copies without overwriting a newer write.
    pub fn replace_if_unchanged(&self, key: &[u8], expected: (u32, u32), new: Entry) -> bool {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write();
        let Some(slot) = shard.find(hash, key) else {
            return false;
        };
        let current = shard.entry(slot);
        if (current.segment, current.offset) != expected {
            return false;
        }
        shard.set(slot, &new);
        true
    }

    /// Removes the key only if its entry is still exactly at `expected`
    /// (segment, offset); returns the removed entry.
    pub fn remove_if_unchanged(&self, key: &[u8], expected: (u32, u32)) -> Option<Entry> {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write();
        let slot = shard.find(hash, key)?;
        let current = shard.entry(slot);
        if (current.segment, current.offset) != expected {
            return None;
        }
        shard.remove_slot(hash, slot);
        Some(current)
    }

    /// `(segment, encoded record length)` of every live entry whose expiry
    /// is at or before `now`.
    pub fn expired_entries(&self, now: u64) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            for (&slot, &at) in &shard.expiries {
                let s = &shard.slots[slot as usize];
                if at <= now && !s.is_tombstone() && s.segment != FREE_SEGMENT {
                    let value_len = (s.value_len_flags & VALUE_LEN_MASK) as usize;
                    out.push((
                        s.segment,
                        crate::format::record_len(s.key_len as usize, value_len) as u64,
                    ));
                }
            }
        }
        out
    }

    /// Makes room for about `keys` more keys in total, spread over the
    /// shards, so that loading a known number of entries does not rehash the
    /// tables again and again as they grow.
    pub fn reserve(&self, keys: usize) {
        let per_shard = keys.div_ceil(SHARDS);
        for shard in self.shards.iter() {
            shard.write().reserve(per_shard, &self.hasher);
        }
    }

    /// Gives back memory of shards that are far larger than their contents
    /// (after a [`Keydir::reserve`] that counted dead entries).
    pub fn shrink_oversized(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            let used = shard.table.len();
            if shard.table.capacity() > 2 * used.max(16) {
                shard.shrink_to_fit(&self.hasher);
            }
        }
    }

    /// Drops every tombstone entry (the end of recovery).
    pub fn purge_tombstones(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            let dead: Vec<u32> = (0..shard.slots.len() as u32)
                .filter(|&i| {
                    let s = &shard.slots[i as usize];
                    s.segment != FREE_SEGMENT && s.is_tombstone()
                })
                .collect();
            for slot in dead {
                let hash = self.hasher.hash_one(shard.key(slot));
                shard.remove_slot(hash, slot);
            }
        }
    }

    /// Number of keys (tombstones excluded).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().live).sum()
    }

    /// Number of live entries whose expiry is at or before `now`.
    pub fn count_expired(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let shard = s.read();
                shard
                    .expiries
                    .iter()
                    .filter(|&(&slot, &at)| at <= now && !shard.slots[slot as usize].is_tombstone())
                    .count()
            })
            .sum()
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` for every entry of shard `shard`, under its read lock.
    pub fn for_each_in_shard(&self, shard: usize, mut f: impl FnMut(&[u8], Entry)) {
        let shard = self.shards[shard].read();
        for (i, slot) in shard.slots.iter().enumerate() {
            if slot.segment != FREE_SEGMENT {
                f(shard.key(i as u32), shard.entry(i as u32));
            }
        }
    }

    /// Heap bytes held by the keydir's own structures (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().heap_bytes()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entry(seq: u64) -> Entry {
        Entry {
            segment: seq as u32,
            offset: seq as u32 * 10,
            value_len: seq as u32 % 100,
            seq,
            expiry: 0,
            tombstone: false,
        }
    }

    #[test]
    fn newest_sequence_wins_in_any_order() {
        let keydir = Keydir::new();
        assert!(matches!(
            keydir.apply(b"k", entry(5)),
            Applied::Replaced { previous: None }
        ));
        assert_eq!(keydir.apply(b"k", entry(3)), Applied::Stale);
        assert_eq!(keydir.get(b"k"), Some(entry(5)));
        keydir.apply(b"k", entry(9));
        assert_eq!(keydir.get(b"k").unwrap().seq, 9);
        assert_eq!(keydir.remove_older(b"k", 8), None);
        assert_eq!(keydir.remove_older(b"k", 10).unwrap().seq, 9);
        assert_eq!(keydir.get(b"k"), None);
        assert!(keydir.is_empty());
    }

    #[test]
    fn tombstones_block_older_puts_until_purged() {
        let keydir = Keydir::new();
        keydir.apply(
            b"k",
            Entry {
                tombstone: true,
                ..entry(7)
            },
        );
        assert_eq!(keydir.apply(b"k", entry(3)), Applied::Stale);
        assert_eq!(keydir.len(), 0);
        keydir.apply(b"other", entry(1));
        keydir.purge_tombstones();
        assert_eq!(keydir.get(b"k"), None);
        assert_eq!(keydir.len(), 1);
    }

    #[test]
    fn large_random_workload_matches_a_btreemap() {
        use rand::{Rng, SeedableRng};
        let seed = 0x5eed;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let keydir = Keydir::new();
        let mut model = BTreeMap::new();
        for seq in 1..50_000u64 {
            let key = format!("key-{}", rng.random_range(0..5_000)).into_bytes();
            if rng.random_bool(0.3) {
                let removed = keydir.remove_older(&key, seq).map(|e| e.seq);
                assert_eq!(removed, model.remove(&key).map(|e: Entry| e.seq));
            } else {
                let e = Entry {
                    expiry: if rng.random_bool(0.1) { seq * 7 } else { 0 },
                    ..entry(seq)
                };
                keydir.apply(&key, e);
                model.insert(key, e);
            }
        }
        assert_eq!(keydir.len(), model.len());
        for (key, e) in &model {
            assert_eq!(keydir.get(key).as_ref(), Some(e), "seed {seed}");
        }
        let mut seen = 0;
        for shard in 0..SHARDS {
            keydir.for_each_in_shard(shard, |k, e| {
                assert_eq!(model.get(k), Some(&e));
                seen += 1;
            });
        }
        assert_eq!(seen, model.len());
    }

    #[test]
    fn replace_if_unchanged_only_replaces_the_expected_location() {
        let keydir = Keydir::new();
        keydir.apply(b"k", entry(5));
        assert!(!keydir.replace_if_unchanged(b"k", (1, 2), entry(6)));
        assert!(keydir.replace_if_unchanged(b"k", (5, 50), entry(6)));
        assert_eq!(keydir.get(b"k"), Some(entry(6)));
    }
}
