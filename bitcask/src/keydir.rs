//! The keydir: the in-memory hash index from key to the newest record's location.
//!
//! Memory per key is the number users of Bitcask engines complain about most,
//! and a lookup's cost is its cache misses, so the layout is compact on
//! purpose (both measured in `docs/benchmarks.md`):
//!
//! - The keydir is split into [`SHARDS`] shards, each behind its own
//!   `RwLock`, chosen by bits 32.. of a randomly seeded hash, so readers and
//!   the writer rarely meet on the same lock and a flood of chosen keys
//!   cannot pile into one probe run.
//! - Each shard keeps its entries as *records* back to back in one arena
//!   (`Vec<u8>`): a 20-byte header (segment, offset, value length and flags,
//!   48-bit sequence number, key length) followed by the key, padded to 4
//!   bytes. No allocation and no pointer per key, and a lookup finds the
//!   metadata and the key bytes it compares in the same cache line or two.
//! - The hash table holds 8-byte buckets: a 32-bit *tag* (the low hash bits)
//!   and the record's index in the arena. Probing compares tags only, so a
//!   key is compared once per lookup, and one cache line usually answers
//!   the probe: a lookup costs about two cache misses (bucket, record).
//! - The table is *ordered* linear probing: an entry's home bucket is
//!   `tag * homes >> 32`, which grows with the tag, and the buckets hold
//!   their entries sorted by tag with no gap between an entry's home and its
//!   bucket. So a probe stops at the first larger tag, removal shifts the
//!   run back (no tombstones), and a resize is one sequential pass that
//!   reads no record and hashes no key — which lets the table grow by 1.5x
//!   and run at up to 85 % load, instead of doubling.
//!
//! Removing a key marks its record dead; the arena is compacted when dead
//! bytes exceed half of it.
//!
//! Entries carry the record's sequence number, so entries can be applied in
//! any order (recovery from merged segments, replays) and the newest wins.
//! Recovery does not apply entries one by one: each loading thread collects
//! its entries into a [`KeydirPart`] (appends only: no lock, no lookup), and
//! [`Keydir::absorb`] builds every shard from the parts at once, on several
//! threads — sorting by tag instead of probing, keeping the newest entry of
//! each key and dropping tombstones, and sizing everything exactly.
//! Entries applied one by one with [`Keydir::apply`] keep tombstones as
//! entries too, so that an older put found later cannot resurrect a deleted
//! key; [`Keydir::purge_tombstones`] drops them.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

/// Number of shards; a power of two.
pub const SHARDS: usize = 64;
/// The shard comes from bits 32.. of the hash; the tag (which also picks
/// the home bucket) is bits 0..32, so the two are independent.
const SHARD_SHIFT: u32 = 32;

/// The largest sequence number a keydir entry can hold (48 bits).
pub const MAX_SEQ: u64 = (1 << 48) - 1;

const VALUE_LEN_MASK: u32 = (1 << 30) - 1;
const TOMBSTONE_BIT: u32 = 1 << 30;
const EXPIRY_BIT: u32 = 1 << 31;
/// The segment field of a dead record.
const FREE_SEGMENT: u32 = u32::MAX;

// Record header, in the arena (native byte order: memory only).
const REC_SEGMENT: usize = 0;
const REC_OFFSET: usize = 4;
const REC_FLAGS: usize = 8;
const REC_SEQ_LOW: usize = 12;
const REC_SEQ_HIGH: usize = 16;
const REC_KEY_LEN: usize = 18;
const REC_HEADER: usize = 20;
/// Records start at multiples of this; a record's index is its offset / 4.
const REC_ALIGN: usize = 4;

/// An empty bucket (no record has index `u32::MAX`).
const EMPTY: u64 = u64::MAX;
/// Maximum load of the table: 17/20 = 85 %.
const MAX_LOAD_NUM: usize = 17;
const MAX_LOAD_DEN: usize = 20;
/// Buckets past the last home position, where the last runs spill.
const TAIL: usize = 8;
/// In a part's buckets (not in a table), marks a tombstone's record index,
/// so that building a shard reads no record of a key that occurs once.
const PENDING_TOMBSTONE: u32 = 1 << 31;

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

/// Bytes a record with a key of `key_len` bytes takes in the arena.
fn record_size(key_len: usize) -> usize {
    (REC_HEADER + key_len).next_multiple_of(REC_ALIGN)
}

fn flags_of(entry: &Entry) -> u32 {
    debug_assert!(entry.value_len <= VALUE_LEN_MASK);
    entry.value_len
        | if entry.tombstone { TOMBSTONE_BIT } else { 0 }
        | if entry.expiry != 0 { EXPIRY_BIT } else { 0 }
}

fn rd32(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn rd16(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes(bytes[at..at + 2].try_into().expect("2 bytes"))
}

fn wr32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_ne_bytes());
}

/// Writes the location fields of `entry` into the header at `header`.
fn write_entry(header: &mut [u8], entry: &Entry) {
    debug_assert!(entry.seq <= MAX_SEQ);
    wr32(header, REC_SEGMENT, entry.segment);
    wr32(header, REC_OFFSET, entry.offset);
    wr32(header, REC_FLAGS, flags_of(entry));
    wr32(header, REC_SEQ_LOW, entry.seq as u32);
    header[REC_SEQ_HIGH..REC_SEQ_HIGH + 2]
        .copy_from_slice(&((entry.seq >> 32) as u16).to_ne_bytes());
}

/// Appends a record for `key` and `entry` to `arena`; returns its index.
/// The arena grows by a quarter at a time, not by doubling (memory per key).
fn push_record(arena: &mut Vec<u8>, key: &[u8], entry: &Entry) -> u32 {
    let at = arena.len();
    let size = record_size(key.len());
    assert!(
        (at + size) / REC_ALIGN < u32::MAX as usize,
        "keydir shard arena beyond 16 GiB"
    );
    if arena.capacity() - at < size {
        arena.reserve_exact(size.max(at / 4).max(4096));
    }
    let mut header = [0u8; REC_HEADER];
    write_entry(&mut header, entry);
    header[REC_KEY_LEN..REC_KEY_LEN + 2].copy_from_slice(&(key.len() as u16).to_ne_bytes());
    arena.extend_from_slice(&header);
    arena.extend_from_slice(key);
    arena.resize(at + size, 0);
    (at / REC_ALIGN) as u32
}

/// The arena's records: `(index, header, key)` of every record, dead or not.
fn records(arena: &[u8]) -> impl Iterator<Item = (u32, &[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= arena.len() {
            return None;
        }
        let header = &arena[at..at + REC_HEADER];
        let key_len = rd16(header, REC_KEY_LEN) as usize;
        let key = &arena[at + REC_HEADER..at + REC_HEADER + key_len];
        let index = (at / REC_ALIGN) as u32;
        at += record_size(key_len);
        Some((index, header, key))
    })
}

/// The entry in a record header (expiry: 0 or, if flagged, `expiry`).
fn entry_of(header: &[u8], expiry: impl FnOnce() -> u64) -> Entry {
    let flags = rd32(header, REC_FLAGS);
    Entry {
        segment: rd32(header, REC_SEGMENT),
        offset: rd32(header, REC_OFFSET),
        value_len: flags & VALUE_LEN_MASK,
        seq: (u64::from(rd16(header, REC_SEQ_HIGH)) << 32) | u64::from(rd32(header, REC_SEQ_LOW)),
        expiry: if flags & EXPIRY_BIT != 0 { expiry() } else { 0 },
        tombstone: flags & TOMBSTONE_BIT != 0,
    }
}

/// The ordered linear-probing table of one shard (see the module docs).
///
/// Invariants: every non-empty bucket `b` sits at or after its home
/// `home(tag(b))`, with no empty bucket in between; non-empty buckets are
/// sorted by tag in bucket order; `len` counts them.
#[derive(Debug, Default)]
struct Table {
    buckets: Vec<u64>,
    /// Number of home positions (0 only while the table has no bucket).
    homes: u64,
    len: usize,
}

fn bucket(tag: u32, index: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(index)
}

fn tag_of(bucket: u64) -> u32 {
    (bucket >> 32) as u32
}

/// Homes needed for `n` entries at the maximum load.
fn homes_for(n: usize) -> u64 {
    (n * MAX_LOAD_DEN).div_ceil(MAX_LOAD_NUM).max(1) as u64
}

impl Table {
    fn home(&self, tag: u32) -> usize {
        ((u64::from(tag) * self.homes) >> 32) as usize
    }

    /// The bucket position and record index of the entry with `tag` for
    /// which `is_key(index)` holds.
    fn find(&self, tag: u32, mut is_key: impl FnMut(u32) -> bool) -> Option<(usize, u32)> {
        if self.homes == 0 {
            return None;
        }
        let mut at = self.home(tag);
        while let Some(&b) = self.buckets.get(at) {
            if b == EMPTY || tag_of(b) > tag {
                return None;
            }
            if tag_of(b) == tag && is_key(b as u32) {
                return Some((at, b as u32));
            }
            at += 1;
        }
        None
    }

    /// Adds an entry (the caller knows its key is not in the table).
    fn insert(&mut self, tag: u32, index: u32) {
        if (self.len + 1) * MAX_LOAD_DEN > self.homes as usize * MAX_LOAD_NUM {
            let grown = (self.homes + self.homes / 2).max(homes_for(self.len + 1));
            self.rebuild(grown);
        }
        let mut at = self.home(tag);
        while at < self.buckets.len() {
            let b = self.buckets[at];
            if b == EMPTY || tag_of(b) > tag {
                break;
            }
            at += 1;
        }
        let mut end = at;
        while end < self.buckets.len() && self.buckets[end] != EMPTY {
            end += 1;
        }
        if end == self.buckets.len() {
            push_bucket(&mut self.buckets, EMPTY);
        }
        self.buckets.copy_within(at..end, at + 1);
        self.buckets[at] = bucket(tag, index);
        self.len += 1;
    }

    /// Removes the bucket at `at`, shifting its run back.
    fn remove_at(&mut self, mut at: usize) {
        loop {
            match self.buckets.get(at + 1) {
                Some(&next) if next != EMPTY && self.home(tag_of(next)) <= at => {
                    self.buckets[at] = next;
                    at += 1;
                }
                _ => {
                    self.buckets[at] = EMPTY;
                    break;
                }
            }
        }
        self.len -= 1;
    }

    /// Re-lays the table with `homes` home positions: one pass in bucket order.
    fn rebuild(&mut self, homes: u64) {
        let old = std::mem::take(&mut self.buckets);
        *self = Self::from_sorted(homes, old.into_iter().filter(|&b| b != EMPTY));
    }

    /// A table of `homes` home positions holding `sorted` (buckets in
    /// ascending tag order).
    fn from_sorted(homes: u64, sorted: impl Iterator<Item = u64>) -> Self {
        let mut table = Self {
            buckets: Vec::new(),
            homes,
            len: 0,
        };
        table.buckets = vec![EMPTY; homes as usize + TAIL];
        let mut next_free = 0;
        for b in sorted {
            let at = table.home(tag_of(b)).max(next_free);
            if at == table.buckets.len() {
                push_bucket(&mut table.buckets, b);
            } else {
                table.buckets[at] = b;
            }
            next_free = at + 1;
            table.len += 1;
        }
        table
    }

    /// Replaces the record index of every bucket by `map(index)`.
    fn remap(&mut self, mut map: impl FnMut(u32) -> u32) {
        for b in self.buckets.iter_mut().filter(|b| **b != EMPTY) {
            *b = bucket(tag_of(*b), map(*b as u32));
        }
    }
}

/// Pushes onto the bucket vector without doubling its capacity.
fn push_bucket(buckets: &mut Vec<u64>, b: u64) {
    if buckets.len() == buckets.capacity() {
        buckets.reserve_exact(TAIL);
    }
    buckets.push(b);
}

#[derive(Debug, Default)]
struct Shard {
    table: Table,
    /// Records: header then key, each padded to [`REC_ALIGN`].
    arena: Vec<u8>,
    /// Bytes of dead records in the arena.
    dead_bytes: usize,
    /// Expiry times of the few records that have one, by record index.
    expiries: HashMap<u32, u64>,
    /// Entries that are not tombstones.
    live: usize,
}

impl Shard {
    fn header(&self, index: u32) -> &[u8] {
        let at = index as usize * REC_ALIGN;
        &self.arena[at..at + REC_HEADER]
    }

    fn key(&self, index: u32) -> &[u8] {
        let at = index as usize * REC_ALIGN;
        let key_len = rd16(&self.arena, at + REC_KEY_LEN) as usize;
        &self.arena[at + REC_HEADER..at + REC_HEADER + key_len]
    }

    fn is_key(&self, index: u32, key: &[u8]) -> bool {
        let at = index as usize * REC_ALIGN;
        rd16(&self.arena, at + REC_KEY_LEN) as usize == key.len()
            && self.arena.get(at + REC_HEADER..at + REC_HEADER + key.len()) == Some(key)
    }

    /// `(bucket position, record index)` of `key`.
    fn find(&self, hash: u64, key: &[u8]) -> Option<(usize, u32)> {
        self.table
            .find(hash as u32, |index| self.is_key(index, key))
    }

    fn entry(&self, index: u32) -> Entry {
        entry_of(self.header(index), || {
            self.expiries.get(&index).copied().unwrap_or(0)
        })
    }

    fn is_tombstone(&self, index: u32) -> bool {
        rd32(self.header(index), REC_FLAGS) & TOMBSTONE_BIT != 0
    }

    fn set(&mut self, index: u32, entry: &Entry) {
        let was_tombstone = self.is_tombstone(index);
        let at = index as usize * REC_ALIGN;
        write_entry(&mut self.arena[at..at + REC_HEADER], entry);
        if entry.expiry != 0 {
            self.expiries.insert(index, entry.expiry);
        } else if !self.expiries.is_empty() {
            self.expiries.remove(&index);
        }
        match (was_tombstone, entry.tombstone) {
            (true, false) => self.live += 1,
            (false, true) => self.live -= 1,
            _ => {}
        }
    }

    fn insert_new(&mut self, hash: u64, key: &[u8], entry: &Entry) {
        if self.arena.len() + record_size(key.len()) >= (u32::MAX as usize) * REC_ALIGN
            && self.dead_bytes > 0
        {
            self.compact();
        }
        let index = push_record(&mut self.arena, key, entry);
        if entry.expiry != 0 {
            self.expiries.insert(index, entry.expiry);
        }
        if !entry.tombstone {
            self.live += 1;
        }
        self.table.insert(hash as u32, index);
    }

    fn remove(&mut self, at: usize, index: u32) {
        self.table.remove_at(at);
        if !self.is_tombstone(index) {
            self.live -= 1;
        }
        if !self.expiries.is_empty() {
            self.expiries.remove(&index);
        }
        self.kill(index);
        if self.dead_bytes > 4096 && self.dead_bytes * 2 > self.arena.len() {
            self.compact();
        }
    }

    /// Marks a record dead (it must no longer be in the table).
    fn kill(&mut self, index: u32) {
        let at = index as usize * REC_ALIGN;
        wr32(&mut self.arena, at + REC_SEGMENT, FREE_SEGMENT);
        let key_len = rd16(&self.arena, at + REC_KEY_LEN) as usize;
        self.dead_bytes += record_size(key_len);
    }

    /// Rewrites the arena without its dead records, and the table's and the
    /// expiries' record indexes with it.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.dead_bytes);
        // Each live record's new index goes into its old offset field.
        let mut forward = Vec::new();
        for (index, header, key) in records(&self.arena) {
            if rd32(header, REC_SEGMENT) != FREE_SEGMENT {
                let new = (arena.len() / REC_ALIGN) as u32;
                arena.extend_from_slice(header);
                arena.extend_from_slice(key);
                arena.resize(arena.len().next_multiple_of(REC_ALIGN), 0);
                forward.push((index, new));
            }
        }
        for &(index, new) in &forward {
            wr32(
                &mut self.arena,
                index as usize * REC_ALIGN + REC_OFFSET,
                new,
            );
        }
        let old = std::mem::replace(&mut self.arena, arena);
        self.table
            .remap(|index| rd32(&old, index as usize * REC_ALIGN + REC_OFFSET));
        self.expiries = self
            .expiries
            .iter()
            .map(|(&index, &at)| (rd32(&old, index as usize * REC_ALIGN + REC_OFFSET), at))
            .collect();
        self.dead_bytes = 0;
    }

    fn reserve(&mut self, additional: usize) {
        let homes = homes_for(self.table.len + additional);
        if homes > self.table.homes {
            self.table.rebuild(homes);
        }
    }

    fn shrink_to_fit(&mut self) {
        self.table.rebuild(homes_for(self.table.len));
        self.arena.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        self.table.buckets.capacity() * std::mem::size_of::<u64>()
            + self.arena.capacity()
            + self.expiries.capacity() * 16
    }

    /// Builds this (empty) shard from loaded parts: see [`Keydir::absorb`].
    fn build(&mut self, pieces: Vec<PartShard>) {
        debug_assert!(self.table.len == 0 && self.arena.is_empty());
        // One arena: the parts' arenas back to back (the only one is moved).
        let mut pending = Vec::with_capacity(pieces.iter().map(|p| p.pending.len()).sum());
        let mut expiries = Vec::new();
        let total_bytes: usize = pieces.iter().map(|p| p.arena.len()).sum();
        let mut arena = Vec::new();
        for piece in pieces {
            let base = (arena.len() / REC_ALIGN) as u32;
            if arena.is_empty() {
                arena = piece.arena;
                arena.reserve_exact(total_bytes - arena.len());
            } else {
                arena.extend_from_slice(&piece.arena);
            }
            pending.extend(piece.pending.iter().map(|&b| b + u64::from(base)));
            expiries.extend(piece.expiries.iter().map(|&(i, at)| (i + base, at)));
        }
        assert!(
            arena.len() / REC_ALIGN < PENDING_TOMBSTONE as usize,
            "keydir shard arena beyond 8 GiB while loading"
        );
        self.arena = arena;
        sort_buckets(&mut pending);

        // Keep the newest entry of each key; drop tombstones.
        let mut kept = 0;
        let mut group = Vec::new();
        let mut i = 0;
        while i < pending.len() {
            let tag = tag_of(pending[i]);
            let mut j = i + 1;
            while j < pending.len() && tag_of(pending[j]) == tag {
                j += 1;
            }
            if j == i + 1 {
                // The common case: the key's only entry; its record is not read.
                let index = pending[i] as u32;
                if index & PENDING_TOMBSTONE != 0 {
                    self.kill(index & !PENDING_TOMBSTONE);
                } else {
                    pending[kept] = bucket(tag, index);
                    kept += 1;
                }
                i = j;
                continue;
            }
            // Equal tags: nearly always the same key written several times.
            group.clear();
            for &b in &pending[i..j] {
                let index = b as u32 & !PENDING_TOMBSTONE;
                let same = {
                    let key = self.key(index);
                    group.iter().position(|&g: &u32| self.key(g) == key)
                };
                match same {
                    Some(at) => {
                        let winner = group[at];
                        if self.entry(index).seq > self.entry(winner).seq {
                            group[at] = index;
                            self.kill(winner);
                        } else {
                            self.kill(index);
                        }
                    }
                    None => group.push(index),
                }
            }
            for &index in &group {
                if self.is_tombstone(index) {
                    self.kill(index);
                } else {
                    pending[kept] = bucket(tag, index);
                    kept += 1;
                }
            }
            i = j;
        }
        pending.truncate(kept);
        self.live = kept;
        self.table = Table::from_sorted(homes_for(kept), pending.into_iter());
        self.expiries = expiries
            .into_iter()
            .filter(|&(index, _)| rd32(self.header(index), REC_SEGMENT) != FREE_SEGMENT)
            .collect();
        if self.dead_bytes > self.arena.len() / 8 {
            self.compact();
        } else if self.arena.capacity() - self.arena.len() > self.arena.len() / 16 {
            self.arena.shrink_to_fit();
        }
    }
}

/// Runs `f(shard)` for every shard, on several threads if `entries` is
/// large enough to pay for them.
fn on_shards(entries: usize, f: impl Fn(usize) + Sync) {
    let threads = if entries < 1 << 16 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let shard = next.fetch_add(1, Ordering::Relaxed);
            if shard >= SHARDS {
                break;
            }
            f(shard);
        }
    };
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
}

/// Sorts buckets by tag: one counting pass on the top bits, then each small
/// group (about one bucket) sorted on its own.
fn sort_buckets(buckets: &mut Vec<u64>) {
    let n = buckets.len();
    if n < 1024 {
        buckets.sort_unstable();
        return;
    }
    let bits = (usize::BITS - n.leading_zeros()).min(22);
    let shift = 64 - bits;
    let mut starts = vec![0u32; (1 << bits) + 1];
    for &b in buckets.iter() {
        starts[(b >> shift) as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut sorted = vec![0u64; n];
    let mut next = starts.clone();
    for &b in buckets.iter() {
        let group = (b >> shift) as usize;
        sorted[next[group] as usize] = b;
        next[group] += 1;
    }
    for w in starts.windows(2) {
        let group = &mut sorted[w[0] as usize..w[1] as usize];
        if group.len() > 1 {
            group.sort_unstable();
        }
    }
    *buckets = sorted;
}

/// Entries collected by one loading thread for [`Keydir::absorb`]: per
/// shard, the records (as in a shard's arena) and their unsorted buckets.
#[derive(Debug)]
pub struct KeydirPart {
    hasher: foldhash::fast::RandomState,
    shards: Vec<PartShard>,
    entries: usize,
}

#[derive(Debug, Default)]
struct PartShard {
    arena: Vec<u8>,
    pending: Vec<u64>,
    expiries: Vec<(u32, u64)>,
}

impl KeydirPart {
    /// Adds an entry for `key` (appends only; no lookup).
    pub fn push(&mut self, key: &[u8], entry: Entry) {
        let hash = self.hasher.hash_one(key);
        let shard = &mut self.shards[((hash >> SHARD_SHIFT) as usize) & (SHARDS - 1)];
        let index = push_record(&mut shard.arena, key, &entry);
        assert!(index < PENDING_TOMBSTONE, "keydir part beyond 8 GiB");
        let flag = if entry.tombstone {
            PENDING_TOMBSTONE
        } else {
            0
        };
        shard.pending.push(bucket(hash as u32, index | flag));
        if entry.expiry != 0 {
            shard.expiries.push((index, entry.expiry));
        }
        self.entries += 1;
    }

    /// Number of entries pushed.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True if nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
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
        shard.find(hash, key).map(|(_, index)| shard.entry(index))
    }

    /// Makes `entry` the key's entry if its sequence number is higher than
    /// the current one's (or there is none).
    pub fn apply(&self, key: &[u8], entry: Entry) -> Applied {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write();
        match shard.find(hash, key) {
            Some((_, index)) => {
                let previous = shard.entry(index);
                if previous.seq >= entry.seq {
                    return Applied::Stale;
                }
                shard.set(index, &entry);
                Applied::Replaced {
                    previous: Some(previous),
                }
            }
            None => {
                shard.insert_new(hash, key, &entry);
                Applied::Replaced { previous: None }
            }
        }
    }

    /// Removes the key if its entry's sequence number is below `seq`;
    /// returns the removed entry.
    pub fn remove_older(&self, key: &[u8], seq: u64) -> Option<Entry> {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write();
        let (at, index) = shard.find(hash, key)?;
        let previous = shard.entry(index);
        if previous.seq >= seq {
            return None;
        }
        shard.remove(at, index);
        Some(previous)
    }

    /// Replaces the key's entry with `new` only if it is still exactly
    /// `expected` (same segment and offset). Used to switch entries to merged
    /// copies without overwriting a newer write.
    pub fn replace_if_unchanged(&self, key: &[u8], expected: (u32, u32), new: Entry) -> bool {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write();
        let Some((_, index)) = shard.find(hash, key) else {
            return false;
        };
        let current = shard.entry(index);
        if (current.segment, current.offset) != expected {
            return false;
        }
        shard.set(index, &new);
        true
    }

    /// Removes the key only if its entry is still exactly at `expected`
    /// (segment, offset); returns the removed entry.
    pub fn remove_if_unchanged(&self, key: &[u8], expected: (u32, u32)) -> Option<Entry> {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.write();
        let (at, index) = shard.find(hash, key)?;
        let current = shard.entry(index);
        if (current.segment, current.offset) != expected {
            return None;
        }
        shard.remove(at, index);
        Some(current)
    }

    /// `(segment, encoded record length)` of every live entry whose expiry
    /// is at or before `now`.
    pub fn expired_entries(&self, now: u64) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            for (&index, &at) in &shard.expiries {
                let entry = shard.entry(index);
                if at <= now && !entry.tombstone && entry.segment != FREE_SEGMENT {
                    out.push((
                        entry.segment,
                        crate::format::record_len(shard.key(index).len(), entry.value_len as usize)
                            as u64,
                    ));
                }
            }
        }
        out
    }

    /// Makes room in the hash tables for about `keys` more keys in total,
    /// spread over the shards, so that applying a known number of entries
    /// does not resize the tables as they grow.
    pub fn reserve(&self, keys: usize) {
        let per_shard = keys.div_ceil(SHARDS);
        for shard in self.shards.iter() {
            shard.write().reserve(per_shard);
        }
    }

    /// Gives back memory of shards that are far larger than their contents
    /// (after a [`Keydir::reserve`] that counted dead entries).
    pub fn shrink_oversized(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            let used = shard.table.len;
            if shard.table.homes > 2 * homes_for(used.max(16)) {
                shard.shrink_to_fit();
            }
        }
    }

    /// Drops every tombstone entry (the end of recovery).
    pub fn purge_tombstones(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            let dead: Vec<u32> = records(&shard.arena)
                .filter(|(_, header, _)| {
                    rd32(header, REC_SEGMENT) != FREE_SEGMENT
                        && rd32(header, REC_FLAGS) & TOMBSTONE_BIT != 0
                })
                .map(|(index, _, _)| index)
                .collect();
            for index in dead {
                // Indexes move when a removal compacts the arena: look the key up.
                let key = shard.key(index).to_vec();
                let hash = self.hasher.hash_one(&key[..]);
                if let Some((at, index)) = shard.find(hash, &key) {
                    shard.remove(at, index);
                }
            }
        }
    }

    /// An empty part for loading entries on one thread, to be given to
    /// [`Keydir::absorb`].
    pub fn part(&self) -> KeydirPart {
        KeydirPart {
            hasher: self.hasher,
            shards: (0..SHARDS).map(|_| PartShard::default()).collect(),
            entries: 0,
        }
    }

    /// Adds the entries of `parts` (made by [`Keydir::part`] of this keydir)
    /// the way recovery needs it: for each key the entry with the highest
    /// sequence number wins, whatever part and order it came in, and a
    /// winning tombstone removes the key. Shards are built on several
    /// threads when there are many entries. On an empty keydir, each shard
    /// is built at once — sorted by tag, sized exactly — instead of entry by
    /// entry; otherwise the entries are applied one by one and tombstones
    /// then purged.
    pub fn absorb(&self, parts: Vec<KeydirPart>) {
        let total: usize = parts.iter().map(|p| p.entries).sum();
        let mut per_shard: Vec<Vec<PartShard>> = (0..SHARDS).map(|_| Vec::new()).collect();
        for part in parts {
            for (shard, piece) in part.shards.into_iter().enumerate() {
                if !piece.pending.is_empty() {
                    per_shard[shard].push(piece);
                }
            }
        }
        let fresh = self.shards.iter().all(|s| {
            let s = s.read();
            s.table.len == 0 && s.arena.is_empty()
        });
        if !fresh {
            for pieces in per_shard {
                for piece in pieces {
                    let expiries: HashMap<u32, u64> = piece.expiries.iter().copied().collect();
                    for (index, header, key) in records(&piece.arena) {
                        let expiry = || expiries.get(&index).copied().unwrap_or(0);
                        self.apply(key, entry_of(header, expiry));
                    }
                }
            }
            self.purge_tombstones();
            return;
        }
        let work: Vec<Mutex<Vec<PartShard>>> = per_shard.into_iter().map(Mutex::new).collect();
        on_shards(total, |shard| {
            let pieces = std::mem::take(&mut *work[shard].lock());
            if !pieces.is_empty() {
                self.shards[shard].write().build(pieces);
            }
        });
    }

    /// Live keys and their encoded record bytes, per segment (what the
    /// statistics count as live), summed over the shards on several threads.
    pub fn live_by_segment(&self) -> BTreeMap<u32, (u64, u64)> {
        let sums = Mutex::new(BTreeMap::<u32, (u64, u64)>::new());
        on_shards(self.len(), |shard| {
            let mut local: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
            // Records come in load order: runs of one segment.
            let mut run: Option<(u32, u64, u64)> = None;
            let shard = self.shards[shard].read();
            for (_, header, key) in records(&shard.arena) {
                let entry = entry_of(header, || 0);
                if entry.segment == FREE_SEGMENT || entry.tombstone {
                    continue;
                }
                let bytes = crate::format::record_len(key.len(), entry.value_len as usize) as u64;
                match &mut run {
                    Some((segment, keys, sum)) if *segment == entry.segment => {
                        *keys += 1;
                        *sum += bytes;
                    }
                    _ => {
                        if let Some((segment, keys, sum)) = run.take() {
                            let c = local.entry(segment).or_default();
                            c.0 += keys;
                            c.1 += sum;
                        }
                        run = Some((entry.segment, 1, bytes));
                    }
                }
            }
            if let Some((segment, keys, sum)) = run {
                let c = local.entry(segment).or_default();
                c.0 += keys;
                c.1 += sum;
            }
            let mut sums = sums.lock();
            for (segment, (keys, bytes)) in local {
                let c = sums.entry(segment).or_default();
                c.0 += keys;
                c.1 += bytes;
            }
        });
        sums.into_inner()
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
                    .filter(|&(&index, &at)| at <= now && !shard.is_tombstone(index))
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
        for (index, header, key) in records(&shard.arena) {
            if rd32(header, REC_SEGMENT) != FREE_SEGMENT {
                f(
                    key,
                    entry_of(header, || shard.expiries.get(&index).copied().unwrap_or(0)),
                );
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
        check_invariants(&keydir);
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

    /// Checks the table invariants of every shard (see [`Table`]).
    fn check_invariants(keydir: &Keydir) {
        for shard in keydir.shards.iter() {
            let shard = shard.read();
            let t = &shard.table;
            let mut len = 0;
            let mut last_tag = 0u32;
            for (at, &b) in t.buckets.iter().enumerate() {
                if b == EMPTY {
                    continue;
                }
                len += 1;
                assert!(tag_of(b) >= last_tag, "buckets sorted by tag");
                last_tag = tag_of(b);
                let home = t.home(tag_of(b));
                assert!(home <= at, "bucket before its home");
                assert!(
                    t.buckets[home..at].iter().all(|&x| x != EMPTY),
                    "gap in a run"
                );
                let index = b as u32;
                assert_ne!(rd32(shard.header(index), REC_SEGMENT), FREE_SEGMENT);
                assert_eq!(
                    keydir.hasher.hash_one(shard.key(index)) as u32,
                    tag_of(b),
                    "tag is the key's hash"
                );
            }
            assert_eq!(len, t.len);
            assert!(t.len * MAX_LOAD_DEN <= t.homes as usize * MAX_LOAD_NUM || t.len == 0);
        }
    }

    #[test]
    fn table_keeps_its_invariants_through_inserts_and_removals() {
        // Few homes and many equal or close tags: long runs, shifts both ways.
        let mut t = Table::default();
        let mut model = std::collections::BTreeMap::new();
        let mut rng = 0x1234_5678_u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            rng >> 33
        };
        for index in 0..5_000u32 {
            if next() % 3 == 0 && !model.is_empty() {
                let (&index, &tag) = model.iter().nth(next() as usize % model.len()).unwrap();
                let (at, found) = t.find(tag, |i| i == index).unwrap();
                assert_eq!(found, index);
                t.remove_at(at);
                model.remove(&index);
            } else {
                let tag = ((next() % 64) as u32) << 26 | (next() % 4) as u32;
                t.insert(tag, index);
                model.insert(index, tag);
            }
            if index % 97 == 0 {
                let tags: Vec<u32> = t
                    .buckets
                    .iter()
                    .filter(|&&b| b != EMPTY)
                    .map(|&b| tag_of(b))
                    .collect();
                assert!(tags.windows(2).all(|w| w[0] <= w[1]));
                assert_eq!(t.len, model.len());
                for (&index, &tag) in &model {
                    assert!(t.find(tag, |i| i == index).is_some(), "lost {index}");
                }
            }
        }
        t.rebuild(homes_for(t.len));
        for (&index, &tag) in &model {
            assert!(t.find(tag, |i| i == index).is_some());
        }
    }

    #[test]
    fn removals_compact_the_arena_and_keep_every_entry() {
        let keydir = Keydir::new();
        let n = 200_000u64;
        for i in 0..n {
            let e = Entry {
                expiry: if i % 7 == 0 { i + 1 } else { 0 },
                ..entry(i + 1)
            };
            keydir.apply(format!("key-{i}").as_bytes(), e);
        }
        let before = keydir.heap_bytes();
        for i in (0..n).filter(|i| i % 10 != 0) {
            assert!(
                keydir
                    .remove_older(format!("key-{i}").as_bytes(), u64::MAX)
                    .is_some()
            );
        }
        check_invariants(&keydir);
        assert_eq!(keydir.len(), (n / 10) as usize);
        for i in 0..n {
            let got = keydir.get(format!("key-{i}").as_bytes());
            if i % 10 == 0 {
                let want = Entry {
                    expiry: if i % 7 == 0 { i + 1 } else { 0 },
                    ..entry(i + 1)
                };
                assert_eq!(got, Some(want), "key-{i}");
            } else {
                assert_eq!(got, None);
            }
        }
        assert_eq!(
            keydir.count_expired(u64::MAX),
            (0..n).filter(|i| i % 70 == 0).count()
        );
        assert!(
            keydir
                .shards
                .iter()
                .all(|s| s.read().dead_bytes * 2 <= s.read().arena.len().max(8192))
        );
        keydir.shrink_oversized();
        check_invariants(&keydir);
        assert!(keydir.heap_bytes() < before / 2);
    }

    /// Random entries over a small key space, split over several parts.
    fn random_parts(keydir: &Keydir, seed: u64, parts: usize, n: u64) -> Vec<(Vec<u8>, Entry)> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut all = Vec::new();
        for _ in 0..n {
            let key = format!("k{}", rng.random_range(0..n / 3 + 1)).into_bytes();
            let e = Entry {
                seq: rng.random_range(1..n * 4),
                tombstone: rng.random_bool(0.2),
                expiry: if rng.random_bool(0.1) {
                    rng.random_range(1..1000)
                } else {
                    0
                },
                ..entry(rng.random_range(1..1000))
            };
            let e = Entry {
                expiry: if e.tombstone { 0 } else { e.expiry },
                ..e
            };
            all.push((key, e));
        }
        let _ = (keydir, parts);
        all
    }

    #[test]
    fn absorbing_parts_equals_applying_then_purging() {
        for (seed, n, parts) in [
            (1u64, 50u64, 1usize),
            (2, 3_000, 3),
            (3, 100_000, 4),
            (4, 20_000, 1),
        ] {
            let applied = Keydir::new();
            let absorbed = Keydir::new();
            let entries = random_parts(&absorbed, seed, parts, n);
            for (key, e) in &entries {
                applied.apply(key, *e);
            }
            applied.purge_tombstones();
            let mut split: Vec<KeydirPart> = (0..parts).map(|_| absorbed.part()).collect();
            for (i, (key, e)) in entries.iter().enumerate() {
                split[i % parts].push(key, *e);
            }
            assert_eq!(
                split.iter().map(KeydirPart::len).sum::<usize>(),
                entries.len()
            );
            absorbed.absorb(split);
            check_invariants(&absorbed);
            assert_eq!(absorbed.len(), applied.len(), "seed {seed}");
            for (key, _) in &entries {
                let (a, b) = (applied.get(key), absorbed.get(key));
                // Equal sequence numbers of one key may keep either entry.
                assert_eq!(a.map(|e| e.seq), b.map(|e| e.seq), "seed {seed}");
                if let (Some(a), Some(b)) = (a, b) {
                    assert_eq!(a.tombstone, b.tombstone);
                }
            }
            assert_eq!(
                absorbed.count_expired(u64::MAX),
                applied.count_expired(u64::MAX)
            );
            let mut by_segment: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
            for shard in 0..SHARDS {
                applied.for_each_in_shard(shard, |key, e| {
                    let c = by_segment.entry(e.segment).or_default();
                    c.0 += 1;
                    c.1 += crate::format::record_len(key.len(), e.value_len as usize) as u64;
                });
            }
            assert_eq!(absorbed.live_by_segment(), by_segment, "seed {seed}");
            // Absorbing into a keydir that has entries applies one by one.
            let mut more = absorbed.part();
            more.push(b"new", entry(1));
            more.push(
                entries[0].0.as_slice(),
                Entry {
                    seq: u64::MAX >> 16,
                    ..entry(2)
                },
            );
            absorbed.absorb(vec![more]);
            check_invariants(&absorbed);
            assert_eq!(absorbed.get(b"new"), Some(entry(1)));
            assert_eq!(absorbed.get(&entries[0].0).unwrap().seq, u64::MAX >> 16);
            // And the absorbed keydir keeps working as a keydir.
            for (key, e) in entries.iter().take(500) {
                absorbed.apply(
                    key,
                    Entry {
                        seq: e.seq + n * 8,
                        tombstone: false,
                        ..*e
                    },
                );
            }
            check_invariants(&absorbed);
        }
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
