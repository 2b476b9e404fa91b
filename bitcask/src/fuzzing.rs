//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the test
//! that replays their corpora (`tests/fuzz_corpus.rs`), so both exercise the
//! same code. Each takes arbitrary bytes and panics only on a real bug.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::format::{FileHeader, Record};
use crate::vfs::{MemVfs, OpenMode, Vfs};
use crate::{Bitcask, Options, SyncPolicy};

/// Decodes `data` as a record; a successful decode must re-encode to the
/// same bytes.
pub fn record_decode(data: &[u8]) {
    if let Ok((record, len)) = Record::decode(data) {
        let mut out = Vec::new();
        record.encode_into(&mut out);
        assert_eq!(&out[..], &data[..len], "decode/encode round trip differs");
    }
}

/// Decodes `data` as a file header; a successful decode must re-encode to
/// the same bytes.
pub fn file_header_decode(data: &[u8]) {
    if let Ok(header) = FileHeader::decode(data) {
        assert_eq!(
            &header.encode()[..],
            &data[..crate::format::FILE_HEADER_LEN]
        );
    }
}

/// Opens a store whose only segment holds `data` (read-only, then
/// read-write), and reads every key. Any outcome but a panic is fine; a
/// successful read-write open must reopen to the same keys.
pub fn segment_recovery(data: &[u8]) {
    let vfs = MemVfs::new();
    let dir = Path::new("/fuzz");
    vfs.create_dir_all(dir).expect("mem dir");
    let path = crate::data_path(dir, 1);
    let file = vfs.open_file(&path, OpenMode::CreateNew).expect("mem file");
    file.write_all_at(data, 0).expect("mem write");
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .vfs(Arc::new(vfs.clone()));
    if let Ok(store) = Bitcask::open_read_only_with(dir, options.clone()) {
        for pair in store.iter() {
            let _ = pair;
        }
    }
    let Ok(store) = Bitcask::open(dir, options.clone()) else {
        return;
    };
    let mut keys: Vec<_> = store.keys().collect();
    for key in &keys {
        let _ = store.get(key);
    }
    drop(store);
    let store = Bitcask::open(dir, options).expect("a recovered store reopens");
    let mut again: Vec<_> = store.keys().collect();
    keys.sort();
    again.sort();
    assert_eq!(keys, again, "reopen changed the keys");
}

/// Decodes `data` as a sequence of hint items (entries, then a trailer);
/// every decoded entry must re-encode to the same bytes.
pub fn hint_decode(data: &[u8]) {
    let mut rest = data;
    while let Ok((item, len)) = crate::format::decode_hint_item(rest) {
        let mut out = Vec::new();
        match item {
            crate::format::HintItem::Entry(entry) => entry.encode_into(&mut out),
            crate::format::HintItem::Trailer(trailer) => trailer.encode_into(&mut out),
        }
        assert_eq!(&out[..], &rest[..len], "hint item round trip differs");
        rest = &rest[len..];
    }
}

/// The files of corpus `target` under `fuzz_dir` (`fuzz/corpus/<target>/`),
/// sorted, with their bytes, for the tests that replay corpora.
///
/// # Panics
/// If the corpus cannot be read or is empty: a replay test must not pass
/// by finding nothing.
pub fn corpus(fuzz_dir: &Path, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir.join("corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// The keys [`engine_ops`] writes: few, so operations collide (the empty
/// key included).
const ENGINE_KEYS: [&[u8]; 6] = [b"", b"a", b"b", b"key-3", b"k4", b"snowflake-5"];

/// An expiry far in the future (year 2096): a key with it is live.
const FAR_EXPIRY: u64 = 4_000_000_000_000;

/// What a key holds in the model: value and expiry (0 for none).
type ModelState = std::collections::BTreeMap<usize, (Vec<u8>, u64)>;

/// What a store shows: live key -> (value, expiry).
type Visible = std::collections::BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

/// Reads fuzz input bytes; zeros once it is used up.
struct ByteReader<'a> {
    data: &'a [u8],
}

impl ByteReader<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The model of [`engine_ops`]: the states the store went through since it
/// was last opened, and which of them a crash may fall back to.
#[derive(Debug)]
struct EngineModel {
    /// `states[0]` is what the store held when opened; one state per write since.
    states: Vec<ModelState>,
    /// The oldest state a crash may fall back to (everything up to it is durable).
    floor: usize,
    /// The store reported [`crate::Error::Failed`]: the newest state may or
    /// may not be on disk, and every write path must refuse.
    failed: bool,
    /// An error was returned since the open (under `Never`/`Interval` a
    /// close may then lose unsynced writes).
    dirty: bool,
}

impl EngineModel {
    fn fresh() -> Self {
        Self {
            states: vec![ModelState::new()],
            floor: 0,
            failed: false,
            dirty: false,
        }
    }

    fn current(&self) -> &ModelState {
        self.states.last().expect("at least one state")
    }

    fn last(&self) -> usize {
        self.states.len() - 1
    }
}

fn visible(state: &ModelState) -> Visible {
    let now = crate::now_millis();
    state
        .iter()
        .filter(|(_, (_, expiry))| *expiry == 0 || *expiry > now)
        .map(|(&k, (v, e))| (ENGINE_KEYS[k].to_vec(), (v.clone(), *e)))
        .collect()
}

fn observe(store: &Bitcask, what: &str, trace: &[String]) -> Visible {
    let mut seen = Visible::new();
    for key in ENGINE_KEYS {
        match store.get(key) {
            Ok(Some(value)) => {
                let expiry = store.expiry(key).unwrap_or(u64::MAX);
                seen.insert(key.to_vec(), (value, expiry));
            }
            Ok(None) => {}
            Err(e) => panic!("{what}: get({key:?}) failed: {e}\ntrace: {trace:#?}"),
        }
    }
    let keys = store.keys().count();
    assert_eq!(
        keys,
        seen.len(),
        "{what}: keys() lists {keys} keys, get finds {}\ntrace: {trace:#?}",
        seen.len()
    );
    assert_eq!(
        store.len(),
        seen.len(),
        "{what}: len() disagrees with get\ntrace: {trace:#?}"
    );
    seen
}

/// Finds the state in `range` that `seen` equals; panics (a violated claim)
/// if none does.
fn matching_state(
    model: &EngineModel,
    range: std::ops::RangeInclusive<usize>,
    seen: &Visible,
    what: &str,
    trace: &[String],
) -> usize {
    for i in range.clone().rev() {
        if &visible(&model.states[i]) == seen {
            return i;
        }
    }
    panic!(
        "{what}: the store holds {seen:?}, which is none of the acceptable states {range:?}: {:#?}\ntrace: {trace:#?}",
        model.states[range.clone()]
            .iter()
            .map(visible)
            .collect::<Vec<_>>()
    );
}

/// The harness of [`engine_ops`].
struct Engine {
    vfs: MemVfs,
    dir: PathBuf,
    options: Options,
    store: Option<Bitcask>,
    model: EngineModel,
    /// A fault is injected right now.
    faulty: bool,
    /// Counter that makes every written value distinct.
    writes: u64,
    trace: Vec<String>,
}

/// A put or delete of one key in the model.
type ModelOp = (usize, Option<(Vec<u8>, u64)>);

impl Engine {
    fn options(&self) -> Options {
        // A fresh clone: a handle from before a crash can no longer write.
        self.options.clone().vfs(Arc::new(self.vfs.clone()))
    }

    fn store(&self) -> &Bitcask {
        self.store.as_ref().expect("store is open")
    }

    fn value(&mut self, r: &mut ByteReader<'_>) -> Vec<u8> {
        self.writes += 1;
        let b = r.u8();
        let len = match b % 8 {
            0..=2 => usize::from(b / 8) % 24,
            3..=5 => 24 + usize::from(r.u8()) * 2,
            6 => 512 + usize::from(r.u16()) % 2048,
            _ => 3000 + usize::from(r.u16()) % 4000,
        };
        let mut value: Vec<u8> = self.writes.to_le_bytes().to_vec();
        value.resize(len.max(1), (self.writes % 251) as u8);
        value.truncate(len);
        value
    }

    fn expiry(&self, r: &mut ByteReader<'_>, zero_allowed: bool) -> u64 {
        match r.u8() % 3 {
            0 if zero_allowed => 0,
            0 | 1 => 1,
            _ => FAR_EXPIRY,
        }
    }

    /// Records the outcome of a write whose effect on the model is `ops`.
    fn wrote(&mut self, result: Result<(), crate::Error>, ops: &[ModelOp]) {
        self.note(&result);
        let was_failed = self.model.failed;
        match result {
            Ok(()) => {
                assert!(
                    !was_failed,
                    "a write succeeded on a store that had reported Error::Failed\ntrace: {:#?}",
                    self.trace
                );
                let mut next = self.model.current().clone();
                for (k, change) in ops {
                    match change {
                        Some(v) => next.insert(*k, v.clone()),
                        None => next.remove(k),
                    };
                }
                self.model.states.push(next);
                if self.options.sync == SyncPolicy::Always {
                    self.model.floor = self.model.last();
                }
            }
            Err(crate::Error::Failed { .. }) => {
                self.model.dirty = true;
                if !was_failed {
                    // The first write to hit it: outcome unknown.
                    let mut next = self.model.current().clone();
                    for (k, change) in ops {
                        match change {
                            Some(v) => next.insert(*k, v.clone()),
                            None => next.remove(k),
                        };
                    }
                    self.model.states.push(next);
                    self.model.failed = true;
                }
            }
            Err(e) => {
                assert!(
                    !was_failed,
                    "a write on a store that had reported Error::Failed got another error: {e}\ntrace: {:#?}",
                    self.trace
                );
                assert!(
                    self.faulty,
                    "a write failed without an injected fault: {e}\ntrace: {:#?}",
                    self.trace
                );
                self.model.dirty = true;
            }
        }
    }

    /// Records the outcome of an operation that must not change contents
    /// (rotate, merge, sync); `durable` if success makes everything durable.
    fn kept(&mut self, result: Result<(), crate::Error>, durable: bool) {
        self.note(&result);
        match result {
            Ok(()) => {
                assert!(
                    !self.model.failed,
                    "an operation succeeded on a store that had reported Error::Failed\ntrace: {:#?}",
                    self.trace
                );
                if durable {
                    self.model.floor = self.model.last();
                }
            }
            Err(crate::Error::Failed { .. }) => {
                self.model.dirty = true;
                self.model.failed = true;
            }
            Err(e) => {
                assert!(
                    !self.model.failed,
                    "an operation on a store that had reported Error::Failed got another error: {e}\ntrace: {:#?}",
                    self.trace
                );
                assert!(
                    self.faulty,
                    "an operation failed without an injected fault: {e}\ntrace: {:#?}",
                    self.trace
                );
                self.model.dirty = true;
            }
        }
    }

    /// Appends an error to the trace line of the step.
    fn note(&mut self, result: &Result<(), crate::Error>) {
        if let (Err(e), Some(last)) = (result, self.trace.last_mut()) {
            let e = e.to_string();
            last.push_str(" -> Err: ");
            last.extend(e.chars().take(160));
        }
    }

    /// While the store works, it shows the newest state.
    fn check_live(&self) {
        if self.model.failed {
            return; // Reads still work, but may show the unknown write.
        }
        let seen = observe(self.store(), "live store", &self.trace);
        let expected = visible(self.model.current());
        assert_eq!(
            seen, expected,
            "live store differs from the model\ntrace: {:#?}",
            self.trace
        );
    }

    /// Opens the store read-write after a close or a crash; what it holds
    /// must be one of the states in `range`, which then becomes the base.
    fn reopen(&mut self, lowest: usize) {
        assert!(self.store.is_none());
        let store = match Bitcask::open(&self.dir, self.options()) {
            Ok(store) => store,
            Err(e) => {
                assert!(
                    self.faulty,
                    "open failed without an injected fault: {e}\ntrace: {:#?}",
                    self.trace
                );
                self.vfs.clear_faults();
                self.faulty = false;
                Bitcask::open(&self.dir, self.options()).unwrap_or_else(|e| {
                    panic!(
                        "open failed once the faults were cleared: {e}\ntrace: {:#?}",
                        self.trace
                    )
                })
            }
        };
        let seen = observe(&store, "reopened store", &self.trace);
        let i = matching_state(
            &self.model,
            lowest..=self.model.last(),
            &seen,
            "reopened store",
            &self.trace,
        );
        let base = self.model.states.swap_remove(i);
        self.model = EngineModel::fresh();
        self.model.states[0] = base;
        self.store = Some(store);
    }

    /// Closes the store (dropping it: any error is only logged) and opens it again.
    fn close_and_reopen(&mut self) {
        drop(self.store.take());
        let lossy = self.options.sync != SyncPolicy::Always && (self.model.dirty || self.faulty);
        let lowest = if lossy {
            self.model.floor
        } else if self.model.failed {
            // The unknown write is the newest state: it or the one before.
            self.model.last().saturating_sub(1).max(self.model.floor)
        } else {
            self.model.last()
        };
        self.reopen(lowest);
    }

    /// The process dies; optionally the power goes too, keeping part of the
    /// unsynced bytes; then a new process opens the store.
    fn crash(&mut self, r: &mut ByteReader<'_>, power: bool) {
        let mut lowest = if self.options.sync == SyncPolicy::Always && !self.model.failed {
            self.model.last()
        } else {
            self.model.floor
        };
        if !power || r.u8().is_multiple_of(2) {
            self.vfs.process_crash();
        }
        if power {
            let mode = r.u8();
            let mut seed = u64::from(r.u16()) | 1;
            self.vfs.power_loss(|_, unsynced| match mode % 4 {
                0 => 0,
                1 => unsynced,
                2 => unsynced / 2,
                _ => {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed % (unsynced + 1)
                }
            });
            lowest = self.model.floor;
        }
        self.faulty = false;
        drop(self.store.take());
        self.reopen(lowest);
    }

    /// A read-only open next to the live writer shows a state it went through.
    fn read_only_open(&mut self) {
        let ro = Bitcask::open_read_only_with(&self.dir, self.options()).unwrap_or_else(|e| {
            panic!(
                "read-only open beside a writer failed: {e}\ntrace: {:#?}",
                self.trace
            )
        });
        let seen = observe(&ro, "read-only store", &self.trace);
        let lowest = if self.options.sync == SyncPolicy::Always && !self.model.failed {
            self.model.last()
        } else if self.options.sync == SyncPolicy::Always {
            self.model.last().saturating_sub(1)
        } else {
            0
        };
        matching_state(
            &self.model,
            lowest..=self.model.last(),
            &seen,
            "read-only store",
            &self.trace,
        );
        // A second look must not go backwards past what the first saw.
        drop(ro);
    }

    fn inject_fault(&mut self, r: &mut ByteReader<'_>) {
        let b = r.u8();
        let n = u64::from(r.u8() % 24);
        match b % 6 {
            0 => self.vfs.fail_after_ops(n),
            1 | 2 => self.vfs.fail_once_after_ops(n),
            3 => self
                .vfs
                .set_space_limit(Some(self.vfs.used_bytes() + n * 64)),
            4 => self.vfs.set_read_only(true),
            _ => {
                self.vfs.clear_faults();
                self.faulty = false;
                self.trace.push("clear faults".into());
                return;
            }
        }
        self.faulty = true;
        self.trace.push(format!("fault {} n={n}", b % 6));
    }

    /// Flips bytes of one file and checks that opening and reading it never
    /// panics. Ends the run: the model no longer applies.
    fn corrupt(&mut self, r: &mut ByteReader<'_>) {
        drop(self.store.take());
        self.vfs.clear_faults();
        let names = self.vfs.list_dir(&self.dir).unwrap_or_default();
        let names: Vec<_> = names
            .into_iter()
            .filter(|n| n != crate::LOCK_FILE)
            .collect();
        if names.is_empty() {
            return;
        }
        let path = self.dir.join(&names[usize::from(r.u8()) % names.len()]);
        let Ok(mut bytes) = self.vfs.read_whole(&path) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        for _ in 0..=r.u8() % 4 {
            let at = usize::from(r.u16()) % bytes.len();
            bytes[at] ^= r.u8() | 1;
        }
        if r.u8().is_multiple_of(4) {
            bytes.truncate(usize::from(r.u16()) % bytes.len());
        }
        self.vfs.write_whole(&path, &bytes).expect("mem write");
        if let Ok(ro) = Bitcask::open_read_only_with(&self.dir, self.options()) {
            for pair in ro.iter() {
                let _ = pair;
            }
        }
        if let Ok(store) = Bitcask::open(&self.dir, self.options()) {
            for key in ENGINE_KEYS {
                let _ = store.get(key);
            }
            for pair in store.iter() {
                let _ = pair;
            }
            let _ = store.put(b"after", b"corruption");
            let _ = store.merge_all();
        }
    }

    fn step(&mut self, r: &mut ByteReader<'_>) -> bool {
        let op = r.u8();
        match op % 20 {
            0..=4 => {
                let k = usize::from(r.u8()) % ENGINE_KEYS.len();
                let value = self.value(r);
                self.trace.push(format!("put {k} len {}", value.len()));
                let result = self.store().put(ENGINE_KEYS[k], &value);
                self.wrote(result, &[(k, Some((value, 0)))]);
            }
            5 | 6 => {
                let k = usize::from(r.u8()) % ENGINE_KEYS.len();
                self.trace.push(format!("delete {k}"));
                let live = visible(self.model.current()).contains_key(ENGINE_KEYS[k]);
                let result = self.store().delete(ENGINE_KEYS[k]);
                if let Ok(had) = result
                    && !self.model.failed
                {
                    assert_eq!(
                        had, live,
                        "delete({k}) said {had}, model says {live}\ntrace: {:#?}",
                        self.trace
                    );
                }
                let ops: &[ModelOp] = if live { &[(k, None)] } else { &[] };
                match result {
                    Ok(false) => {}
                    other => self.wrote(other.map(|_| ()), ops),
                }
            }
            7 | 8 => {
                let n = 1 + usize::from(r.u8()) % 5;
                let mut batch = Vec::new();
                let mut ops = Vec::new();
                for _ in 0..n {
                    let b = r.u8();
                    let k = usize::from(b) % ENGINE_KEYS.len();
                    if b & 0x80 != 0 {
                        batch.push(crate::BatchOp::delete(ENGINE_KEYS[k]));
                        ops.push((k, None));
                    } else {
                        let value = self.value(r);
                        let expiry = if b & 0x40 != 0 {
                            self.expiry(r, true)
                        } else {
                            0
                        };
                        batch.push(crate::BatchOp::Put {
                            key: ENGINE_KEYS[k].to_vec(),
                            value: value.clone(),
                            expiry,
                        });
                        ops.push((k, Some((value, expiry))));
                    }
                }
                self.trace
                    .push(format!("batch {ops:?}").chars().take(200).collect());
                let result = self.store().write_batch(&batch);
                self.wrote(result, &ops);
            }
            9 => {
                let k = usize::from(r.u8()) % ENGINE_KEYS.len();
                let value = self.value(r);
                let expiry = self.expiry(r, false);
                self.trace
                    .push(format!("put {k} len {} expiry {expiry}", value.len()));
                let result = self.store().put_with_expiry(ENGINE_KEYS[k], &value, expiry);
                self.wrote(result, &[(k, Some((value, expiry)))]);
            }
            10 => {
                let k = usize::from(r.u8()) % ENGINE_KEYS.len();
                let expiry = self.expiry(r, true);
                self.trace.push(format!("set_expiry {k} {expiry}"));
                let live = visible(self.model.current())
                    .get(ENGINE_KEYS[k])
                    .map(|(v, _)| v.clone());
                let result = self.store().set_expiry(ENGINE_KEYS[k], expiry);
                if let Ok(changed) = result
                    && !self.model.failed
                {
                    assert_eq!(
                        changed,
                        live.is_some(),
                        "set_expiry({k}) said {changed}\ntrace: {:#?}",
                        self.trace
                    );
                }
                match (result, live) {
                    (Ok(false), _) => {}
                    (other, Some(value)) => {
                        self.wrote(other.map(|_| ()), &[(k, Some((value, expiry)))])
                    }
                    (other, None) => self.wrote(other.map(|_| ()), &[]),
                }
            }
            11 => {
                self.trace.push("rotate".into());
                let result = self.store().rotate();
                self.kept(result, true);
            }
            12 => {
                let how = r.u8();
                let result = match how % 3 {
                    0 => self.store().merge().map(|_| ()),
                    1 => self.store().merge_all().map(|_| ()),
                    _ => {
                        let (ids, active) = self.store().segment_ids();
                        let sealed: Vec<u32> =
                            ids.into_iter().filter(|id| Some(*id) != active).collect();
                        let mask = r.u8();
                        let chosen: Vec<u32> = sealed
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
                            .map(|(_, id)| *id)
                            .collect();
                        if chosen.is_empty() {
                            return true;
                        }
                        self.store().merge_segments(&chosen).map(|_| ())
                    }
                };
                self.trace.push(format!("merge {} -> {result:?}", how % 3));
                // A successful merge (or merge_all) synced every write.
                let durable = !how.is_multiple_of(3);
                self.kept(result, durable);
            }
            13 => {
                self.trace.push("sync".into());
                let result = self.store().sync();
                self.kept(result, true);
            }
            14 => {
                self.trace.push("reopen".into());
                self.close_and_reopen();
            }
            15 => {
                self.trace.push("process crash".into());
                self.crash(r, false);
            }
            16 => {
                self.trace.push("power loss".into());
                self.crash(r, true);
            }
            17 => self.inject_fault(r),
            18 => {
                self.trace.push("read-only open".into());
                self.read_only_open();
            }
            _ => {
                if op >= 250 {
                    self.trace.push("corrupt".into());
                    self.corrupt(r);
                    return false;
                }
                self.trace.push("get".into());
            }
        }
        if let Some(last) = self.trace.last_mut() {
            last.push_str(&format!(
                " [states {}, floor {}]",
                self.model.states.len(),
                self.model.floor
            ));
        }
        self.check_live();
        true
    }
}

/// Runs an arbitrary sequence of writes, merges, rotations, reopens, crashes
/// of both kinds, injected faults and read-only opens on a [`MemVfs`] store
/// under the sync policy the first byte picks, and checks the store against
/// a model after every step: under `Always` nothing acknowledged is lost;
/// after any crash the store holds a prefix of the writes; an error other
/// than [`crate::Error::Failed`] means the write had no effect; merges never
/// change contents. Panics only on a violated claim.
pub fn engine_ops(data: &[u8]) {
    let mut r = ByteReader { data };
    let sync = match r.u8() % 3 {
        0 => SyncPolicy::Always,
        1 => SyncPolicy::Never,
        _ => SyncPolicy::Interval(std::time::Duration::from_millis(1 + u64::from(r.u8() % 8))),
    };
    let write_buffer_size = [64, 700, 4096, 64 * 1024][usize::from(r.u8() % 4)];
    let max_file_size = 4096 + u64::from(r.u8() % 4) * 1024;
    let merge = crate::MergePolicy {
        trigger_fragmentation: 30.0,
        include_fragmentation: 10.0,
        small_file_bytes: 2048,
        ..crate::MergePolicy::default()
    };
    let vfs = MemVfs::new();
    let options = Options::default()
        .sync(sync)
        .write_buffer_size(write_buffer_size)
        .max_file_size(max_file_size)
        .merge(merge);
    let mut engine = Engine {
        vfs,
        dir: PathBuf::from("/engine"),
        options,
        store: None,
        model: EngineModel::fresh(),
        faulty: false,
        writes: 0,
        trace: vec![format!(
            "{sync:?} buffer {write_buffer_size} max_file_size {max_file_size}"
        )],
    };
    engine.reopen(0);
    let mut steps = 0;
    while !r.is_empty() && steps < 200 {
        if !engine.step(&mut r) {
            return;
        }
        steps += 1;
    }
    // Finally: the power goes, and what is left is a prefix.
    engine.vfs.clear_faults();
    engine.faulty = false;
    engine.crash(
        &mut ByteReader {
            data: &[1, 3, 7, 0],
        },
        true,
    );
}
