//! A follower's staging of received snapshot chunks, through the same
//! function the persistence thread runs (`persist_batch`): chunks from a
//! peer that do not make a valid image are refused, never fatal.

use super::*;
use crate::raft::persist::persist_batch;
use crate::raft::snapshot::Incoming;
use raftlog::{MemLogStore, ReceivedChunk, SnapshotMeta};

fn meta(index: Index) -> SnapshotMeta {
    SnapshotMeta {
        index,
        term: 1,
        voters: vec![1, 2, 3],
        learners: vec![],
    }
}

/// A real image of a few hundred keys, as the leader streams it.
fn stream(tmp: &std::path::Path) -> Vec<u8> {
    let engine = bitcask::Bitcask::open(tmp.join("engine"), Default::default()).unwrap();
    for i in 0..300u32 {
        engine.put(format!("k{i}").as_bytes(), &[9u8; 64]).unwrap();
        if i % 100 == 99 {
            engine.rotate().unwrap();
        }
    }
    engine.checkpoint(tmp.join("image")).unwrap();
    let reader = ImageReader::open(&tmp.join("image")).unwrap();
    let (bytes, last) = reader.read(0, usize::MAX >> 1).unwrap();
    assert!(last);
    bytes
}

/// Feeds `bytes` in chunks of `step` bytes, as received chunks of ready
/// batches, one batch per chunk; returns each batch's result.
fn feed(
    images: &Images,
    incoming: &mut Incoming,
    m: &SnapshotMeta,
    bytes: &[u8],
    step: usize,
) -> Vec<Result<Persisted, FatalError>> {
    let mut store = MemLogStore::<u64>::new();
    let metrics = super::super::metrics::RaftMetrics::default();
    let mut results = Vec::new();
    let mut offset = 0;
    for data in bytes.chunks(step) {
        let last = offset + data.len() == bytes.len();
        let ready = Ready {
            received_chunks: vec![ReceivedChunk {
                meta: m.clone(),
                offset: offset as u64,
                data: data.to_vec(),
                last,
            }],
            ..Ready::default()
        };
        let r = persist_batch(
            &mut store,
            &metrics,
            Some(images),
            Some(&mut *incoming),
            ready,
        );
        offset += data.len();
        let stop = !matches!(&r, Ok(p) if p.refused.is_none());
        results.push(r);
        if stop {
            break;
        }
    }
    results
}

fn refusal(results: &[Result<Persisted, FatalError>]) -> String {
    match results.last() {
        Some(Ok(Persisted {
            refused: Some(r), ..
        })) => r.reason.clone(),
        other => panic!("expected a refused transfer, got {other:?}"),
    }
}

#[test]
fn a_malformed_stream_is_refused_and_the_staging_area_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let good = stream(tmp.path());
    let images = Images::open(tmp.path().join("snapshots")).unwrap();
    let (header, header_len) = super::super::snapshot::parse_header(&good)
        .unwrap()
        .unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut magic = good.clone();
    magic[0] ^= 1;
    cases.push(("bad magic", magic));
    let mut crc = good.clone();
    crc[header_len - 1] ^= 1;
    cases.push(("bad header checksum", crc));
    for name in ["../engine/x", "a/b", ".."] {
        let mut h = header.clone();
        h.files[0].name = name.into();
        let mut bytes = h.encode();
        bytes.extend_from_slice(&good[header_len..]);
        cases.push(("bad file name", bytes));
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"trailing");
    cases.push(("bytes past the end", longer));
    let mut short = header.clone();
    short.files[0].len += 1000;
    let mut bytes = short.encode();
    bytes.extend_from_slice(&good[header_len..]);
    cases.push(("a file longer than sent", bytes));
    for (what, bytes) in cases {
        let mut incoming = Incoming::new(images.incoming());
        let results = feed(&images, &mut incoming, &meta(5), &bytes, 4096);
        let reason = refusal(&results);
        assert!(!reason.is_empty(), "{what}");
        assert!(
            !images.incoming().exists(),
            "{what}: staging area left behind"
        );
        assert!(
            !images.image(5, 1).exists(),
            "{what}: a refused image was published"
        );
        // The same receiver takes a good stream afterwards.
        let results = feed(&images, &mut incoming, &meta(5), &good, 4096);
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(p) if p.refused.is_none())),
            "{what}: {results:?}"
        );
        std::fs::remove_dir_all(images.incoming()).ok();
    }
}

#[test]
fn a_corrupt_image_is_refused_naming_the_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let good = stream(tmp.path());
    let images = Images::open(tmp.path().join("snapshots")).unwrap();
    let (header, header_len) = super::super::snapshot::parse_header(&good)
        .unwrap()
        .unwrap();
    // Flip a bit in the middle of the first data segment.
    let first = &header.files[0];
    assert!(first.name.ends_with(".data"), "{}", first.name);
    let mut bad = good.clone();
    let at = header_len + first.len as usize / 2;
    bad[at] ^= 0x04;
    let mut incoming = Incoming::new(images.incoming());
    let results = feed(&images, &mut incoming, &meta(5), &bad, 1 << 20);
    let reason = refusal(&results);
    assert!(
        reason.contains(&first.name) && reason.contains("offset"),
        "{reason}"
    );
    assert!(!images.incoming().exists(), "staging area left behind");
    assert!(
        !images.image(5, 1).exists(),
        "a corrupt image was published"
    );
}
