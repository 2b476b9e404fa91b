//! One printer for records, used by `snowflk-tools dump`, by test output and
//! by logs, so a record looks the same everywhere.
//!
//! ```
//! use bitcask::describe::{escape, describe_record};
//! use bitcask::format::{Record, RecordKind};
//!
//! assert_eq!(escape(b"a\x00b\"", 16), "a\\x00b\\\"");
//! let record = Record { kind: RecordKind::Put, seq: 7, meta: 0, key: b"user:1", value: b"ada" };
//! assert_eq!(describe_record(&record, 64), r#"put seq=7 key="user:1" value="ada""#);
//! ```

use std::fmt::Write;

use crate::format::{Record, RecordKind};

/// Escapes bytes for display: printable ASCII as is (with `\` and `"`
/// escaped), everything else as `\xNN`. At most `limit` input bytes are
/// shown; more are summarised as `...(+N bytes)`.
pub fn escape(bytes: &[u8], limit: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(limit) + 2);
    for &b in bytes.iter().take(limit) {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if bytes.len() > limit {
        let _ = write!(out, "...(+{} bytes)", bytes.len() - limit);
    }
    out
}

/// A one-line description of a record: its kind and the fields that kind
/// uses, with key and value escaped and cut at `limit` bytes.
pub fn describe_record(record: &Record<'_>, limit: usize) -> String {
    let key = escape(record.key, limit);
    let value = escape(record.value, limit);
    match record.kind {
        RecordKind::Put if record.meta != 0 => format!(
            "put seq={} expiry={} key=\"{key}\" value=\"{value}\"",
            record.seq, record.meta
        ),
        RecordKind::Put => format!("put seq={} key=\"{key}\" value=\"{value}\"", record.seq),
        RecordKind::Tombstone => format!("tombstone seq={} key=\"{key}\"", record.seq),
        RecordKind::BatchBegin => {
            format!("batch-begin seq={} count={}", record.seq, record.meta)
        }
        RecordKind::BatchCommit => {
            format!("batch-commit seq={} count={}", record.seq, record.meta)
        }
        RecordKind::RaftEntry => format!(
            "raft-entry index={} term={} payload=\"{value}\"",
            record.seq, record.meta
        ),
        RecordKind::RaftHardState => format!(
            "raft-hard-state term={} vote={} extra=\"{value}\"",
            record.seq, record.meta
        ),
        RecordKind::SegmentInfo => {
            let replaces: Vec<String> = record
                .value
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")).to_string())
                .collect();
            format!(
                "segment-info flags={} replaces=[{}]",
                record.meta,
                replaces.join(",")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_reversible_enough_and_truncates() {
        assert_eq!(escape(b"plain", 10), "plain");
        assert_eq!(escape(&[0xff, b'\n'], 10), "\\xff\\n");
        assert_eq!(escape(b"abcdef", 3), "abc...(+3 bytes)");
    }

    #[test]
    fn every_kind_is_described() {
        for (kind, expect) in [
            (RecordKind::Tombstone, "tombstone seq=1 key=\"k\""),
            (RecordKind::BatchBegin, "batch-begin seq=1 count=2"),
            (RecordKind::BatchCommit, "batch-commit seq=1 count=2"),
            (
                RecordKind::RaftEntry,
                "raft-entry index=1 term=2 payload=\"v\"",
            ),
        ] {
            let record = Record {
                kind,
                seq: 1,
                meta: 2,
                key: b"k",
                value: b"v",
            };
            assert_eq!(describe_record(&record, 8), expect);
        }
    }
}
