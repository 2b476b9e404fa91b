//! The byte layout of every file the engine writes: the file header and the record.
//!
//! This module is the code twin of `docs/format.md`; the two change together.
//! Everything is little-endian. Nothing here does I/O: it encodes into and
//! decodes from byte slices, so the parsers can be fuzzed directly.
//!
//! ```text
//! file header (24 bytes)
//! 0   4  magic            b"SFLK"
//! 4   2  format version   u16 (currently 1)
//! 6   1  file kind        u8  (1 data, 2 hint, 3 raft log)
//! 7   1  reserved         u8  (0)
//! 8   8  segment id       u64
//! 16  4  reserved         u32 (0)
//! 20  4  header crc       u32, CRC32 of bytes 0..20
//!
//! record (33-byte header, then key and value)
//! 0   4  crc              u32, CRC32 of bytes 4..end of record
//! 4   1  kind             u8  (see RecordKind)
//! 5   8  seq              u64
//! 13  8  meta             u64 (expiry for Put, term for RaftEntry, ...)
//! 21  4  key length       u32
//! 25  4  value length     u32
//! 29  4  header crc       u32, CRC32 of bytes 4..29
//! 33  .. key, then value
//! ```
//!
//! The header CRC lets a reader trust a record's length before it has read
//! the record: a valid header whose length runs past the end of the file is
//! the torn tail of an interrupted append, while a damaged length field is
//! corruption (see [`crate::segment`]).

use std::fmt;

/// The four magic bytes every snowflk file starts with.
pub const MAGIC: [u8; 4] = *b"SFLK";
/// The format version this code writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the file header in bytes.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of a record header (everything before the key) in bytes.
pub const RECORD_HEADER_LEN: usize = 33;
/// Longest key a record may carry, in bytes (65,535). Longer keys are rejected
/// on write and treated as corruption when read back.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;
/// Longest value a record may carry, in bytes (512 MiB, Redis's bulk-string limit).
pub const MAX_VALUE_LEN: usize = 512 * 1024 * 1024;

/// What a file holds; the third field of the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FileKind {
    /// An engine data segment: Put, Tombstone and batch records.
    Data = 1,
    /// A hint file: the keydir entries of one sealed data segment.
    Hint = 2,
    /// A Raft log segment: RaftEntry and RaftHardState records.
    RaftLog = 3,
}

impl FileKind {
    /// Decodes the kind byte of a file header.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Data),
            2 => Some(Self::Hint),
            3 => Some(Self::RaftLog),
            _ => None,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Data => "data",
            Self::Hint => "hint",
            Self::RaftLog => "raft-log",
        })
    }
}

/// What a record means; the byte after the CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// Sets `key` to `value`; `meta` is the expiry in milliseconds since the
    /// Unix epoch, or 0 for none.
    Put = 1,
    /// Deletes `key`; the value is empty; `meta` is 0.
    Tombstone = 2,
    /// Opens an atomic batch: `meta` is the number of Put/Tombstone records
    /// that follow before the matching [`RecordKind::BatchCommit`]; key and
    /// value are empty.
    BatchBegin = 3,
    /// Closes an atomic batch: `meta` repeats the record count; key and value
    /// are empty. A batch without its commit record never happened.
    BatchCommit = 4,
    /// A Raft log entry: `seq` is the entry index, `meta` the entry term, the
    /// value the opaque payload; the key is empty.
    RaftEntry = 5,
    /// Raft hard state: `seq` is the current term, `meta` the vote (0 for
    /// none); the value may carry more state, the key is empty.
    RaftHardState = 6,
    /// Describes the segment; only ever the first record of a data segment.
    /// `seq` is 0, `meta` holds flags (bit 0: written complete by a merge),
    /// the key is empty, and the value lists the ids of the segments this one
    /// replaces (u32 little-endian each).
    SegmentInfo = 7,
}

impl RecordKind {
    /// Decodes the kind byte of a record.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Put),
            2 => Some(Self::Tombstone),
            3 => Some(Self::BatchBegin),
            4 => Some(Self::BatchCommit),
            5 => Some(Self::RaftEntry),
            6 => Some(Self::RaftHardState),
            7 => Some(Self::SegmentInfo),
            _ => None,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Put => "put",
            Self::Tombstone => "tombstone",
            Self::BatchBegin => "batch-begin",
            Self::BatchCommit => "batch-commit",
            Self::RaftEntry => "raft-entry",
            Self::RaftHardState => "raft-hard-state",
            Self::SegmentInfo => "segment-info",
        })
    }
}

/// Why bytes could not be decoded. Callers add the path and offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The slice ends before the structure does; `needed` is the total length
    /// the structure claims (or the header length, when even that is missing).
    #[error("incomplete: {needed} bytes needed, {available} available")]
    Incomplete {
        /// Bytes the structure needs in total.
        needed: u64,
        /// Bytes that were available.
        available: u64,
    },
    /// The file does not start with [`MAGIC`].
    #[error("bad magic {found:02x?}, not a snowflk file")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// The file was written by a newer (or unknown) format version.
    #[error("unsupported format version {found} (this build reads up to {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The version found in the header.
        found: u16,
    },
    /// A kind byte that no version of the format defines.
    #[error("unknown {what} kind byte {byte}")]
    UnknownKind {
        /// "file" or "record".
        what: &'static str,
        /// The byte found.
        byte: u8,
    },
    /// A length field beyond the documented limits.
    #[error("{what} length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// "key" or "value".
        what: &'static str,
        /// The length found.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The record header's own checksum does not match its bytes: its length
    /// fields cannot be trusted.
    #[error("record header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    HeaderChecksumMismatch {
        /// The checksum stored in the header.
        stored: u32,
        /// The checksum computed over the header.
        computed: u32,
    },
    /// The stored checksum does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The checksum stored in the bytes.
        stored: u32,
        /// The checksum computed over the bytes.
        computed: u32,
    },
    /// A reserved field that must be zero is not.
    #[error("reserved header field is not zero")]
    ReservedNotZero,
}

/// The header at the start of every file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// What the file holds.
    pub kind: FileKind,
    /// The segment this file belongs to (for a hint file: its data segment).
    pub segment_id: u64,
}

impl FileHeader {
    /// Encodes the header with the current [`FORMAT_VERSION`].
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut out = [0u8; FILE_HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[6] = self.kind as u8;
        out[8..16].copy_from_slice(&self.segment_id.to_le_bytes());
        let crc = crc32fast::hash(&out[0..20]);
        out[20..24].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and validates a header from the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() < FILE_HEADER_LEN {
            return Err(FormatError::Incomplete {
                needed: FILE_HEADER_LEN as u64,
                available: bytes.len() as u64,
            });
        }
        let magic: [u8; 4] = bytes[0..4].try_into().expect("4 bytes");
        if magic != MAGIC {
            return Err(FormatError::BadMagic { found: magic });
        }
        let stored = read_u32(bytes, 20);
        let computed = crc32fast::hash(&bytes[0..20]);
        if stored != computed {
            return Err(FormatError::ChecksumMismatch { stored, computed });
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version == 0 || version > FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion { found: version });
        }
        let kind = FileKind::from_byte(bytes[6]).ok_or(FormatError::UnknownKind {
            what: "file",
            byte: bytes[6],
        })?;
        if bytes[7] != 0 || read_u32(bytes, 16) != 0 {
            return Err(FormatError::ReservedNotZero);
        }
        Ok(Self {
            kind,
            segment_id: read_u64(bytes, 8),
        })
    }
}

/// A decoded record borrowing its key and value from the input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// What the record means.
    pub kind: RecordKind,
    /// Sequence number (engine) or log index (Raft).
    pub seq: u64,
    /// Kind-specific: expiry, term, batch count (see [`RecordKind`]).
    pub meta: u64,
    /// The key bytes (empty for non-key records).
    pub key: &'a [u8],
    /// The value bytes.
    pub value: &'a [u8],
}

impl Record<'_> {
    /// Total encoded length of this record.
    pub fn encoded_len(&self) -> usize {
        record_len(self.key.len(), self.value.len())
    }

    /// Appends the encoding of this record to `out`.
    ///
    /// # Panics
    /// If the key or value is longer than [`MAX_KEY_LEN`] / [`MAX_VALUE_LEN`];
    /// callers validate user input first (see [`check_lengths`]).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        assert!(
            check_lengths(self.key.len(), self.value.len()).is_ok(),
            "record lengths must be validated before encoding"
        );
        let start = out.len();
        out.reserve(self.encoded_len());
        out.extend_from_slice(&[0u8; 4]);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.meta.to_le_bytes());
        out.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.value.len() as u32).to_le_bytes());
        let header_crc = crc32fast::hash(&out[start + 4..start + 29]);
        out.extend_from_slice(&header_crc.to_le_bytes());
        out.extend_from_slice(self.key);
        out.extend_from_slice(self.value);
        let crc = crc32fast::hash(&out[start + 4..]);
        out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decodes one record from the start of `bytes`, verifying its checksum.
    /// Returns the record and its encoded length.
    pub fn decode(bytes: &[u8]) -> Result<(Record<'_>, usize), FormatError> {
        let header = RecordHeader::decode(bytes)?;
        let len = header.record_len();
        if (bytes.len() as u64) < len as u64 {
            return Err(FormatError::Incomplete {
                needed: len as u64,
                available: bytes.len() as u64,
            });
        }
        let computed = crc32fast::hash(&bytes[4..len]);
        if computed != header.crc {
            return Err(FormatError::ChecksumMismatch {
                stored: header.crc,
                computed,
            });
        }
        let key_end = RECORD_HEADER_LEN + header.key_len as usize;
        Ok((
            Record {
                kind: header.kind,
                seq: header.seq,
                meta: header.meta,
                key: &bytes[RECORD_HEADER_LEN..key_end],
                value: &bytes[key_end..len],
            },
            len,
        ))
    }
}

/// The fixed-size part of a record, decoded without the key and value, so a
/// reader can learn the record's length before it has all of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// The stored checksum (not yet verified).
    pub crc: u32,
    /// What the record means.
    pub kind: RecordKind,
    /// Sequence number or log index.
    pub seq: u64,
    /// Kind-specific metadata.
    pub meta: u64,
    /// Length of the key in bytes (within [`MAX_KEY_LEN`]).
    pub key_len: u32,
    /// Length of the value in bytes (within [`MAX_VALUE_LEN`]).
    pub value_len: u32,
}

impl RecordHeader {
    /// Decodes and checks a record header: its own checksum, the kind byte
    /// and the length limits. The record's checksum is checked only by
    /// [`Record::decode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() < RECORD_HEADER_LEN {
            return Err(FormatError::Incomplete {
                needed: RECORD_HEADER_LEN as u64,
                available: bytes.len() as u64,
            });
        }
        let stored = read_u32(bytes, 29);
        let computed = crc32fast::hash(&bytes[4..29]);
        if stored != computed {
            return Err(FormatError::HeaderChecksumMismatch { stored, computed });
        }
        let kind = RecordKind::from_byte(bytes[4]).ok_or(FormatError::UnknownKind {
            what: "record",
            byte: bytes[4],
        })?;
        let key_len = read_u32(bytes, 21);
        let value_len = read_u32(bytes, 25);
        check_lengths(key_len as usize, value_len as usize)?;
        Ok(Self {
            crc: read_u32(bytes, 0),
            kind,
            seq: read_u64(bytes, 5),
            meta: read_u64(bytes, 13),
            key_len,
            value_len,
        })
    }

    /// Total encoded length of the record this header starts.
    pub fn record_len(&self) -> usize {
        record_len(self.key_len as usize, self.value_len as usize)
    }
}

/// Encoded length of a record with the given key and value lengths.
pub fn record_len(key_len: usize, value_len: usize) -> usize {
    RECORD_HEADER_LEN + key_len + value_len
}

/// Checks key and value lengths against [`MAX_KEY_LEN`] and [`MAX_VALUE_LEN`].
pub fn check_lengths(key_len: usize, value_len: usize) -> Result<(), FormatError> {
    if key_len > MAX_KEY_LEN {
        return Err(FormatError::TooLong {
            what: "key",
            len: key_len as u64,
            max: MAX_KEY_LEN as u64,
        });
    }
    if value_len > MAX_VALUE_LEN {
        return Err(FormatError::TooLong {
            what: "value",
            len: value_len as u64,
            max: MAX_VALUE_LEN as u64,
        });
    }
    Ok(())
}

/// `SegmentInfo` flag: the segment was written complete by a merge.
pub const SEGMENT_FLAG_MERGED: u64 = 1;

/// Length of a hint entry header (everything before the key).
pub const HINT_ENTRY_HEADER_LEN: usize = 31;
/// Length of the hint trailer.
pub const HINT_TRAILER_LEN: usize = 29;
/// The kind byte that marks the hint trailer.
pub const HINT_TRAILER_KIND: u8 = 0xFF;

/// One entry of a hint file: where a Put or Tombstone record sits in the
/// data segment, without its value.
///
/// ```text
/// 0   4  crc           CRC32 of bytes 4..end of entry
/// 4   1  kind          1 put, 2 tombstone (as RecordKind)
/// 5   8  seq
/// 13  8  expiry        ms since the Unix epoch, 0 = none
/// 21  4  offset        of the record in the data segment
/// 25  4  value length
/// 29  2  key length
/// 31  .. key
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintEntry<'a> {
    /// [`RecordKind::Put`] or [`RecordKind::Tombstone`].
    pub kind: RecordKind,
    /// The record's sequence number.
    pub seq: u64,
    /// The record's expiry (0 for none).
    pub expiry: u64,
    /// Offset of the record in its data segment.
    pub offset: u32,
    /// Length of the record's value.
    pub value_len: u32,
    /// The key.
    pub key: &'a [u8],
}

/// What a hint file holds after its header: entries, then this trailer.
///
/// ```text
/// 0   4  crc           CRC32 of bytes 4..29
/// 4   1  kind          0xFF
/// 5   8  entry count
/// 13  8  data length   length of the data segment the hint describes
/// 21  8  max seq       highest sequence number of any record in it
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintTrailer {
    /// Number of entries before the trailer.
    pub entries: u64,
    /// Length in bytes of the data segment the hint describes.
    pub data_len: u64,
    /// Highest sequence number of any record in the data segment (batch
    /// markers included), so that sequence numbers are never reused.
    pub max_seq: u64,
}

/// A decoded item of a hint file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HintItem<'a> {
    /// An entry.
    Entry(HintEntry<'a>),
    /// The trailer (the last item).
    Trailer(HintTrailer),
}

impl HintEntry<'_> {
    /// Appends the encoding of this entry to `out`. The key must be at most
    /// [`MAX_KEY_LEN`] bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; 4]);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.expiry.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.value_len.to_le_bytes());
        out.extend_from_slice(&(self.key.len() as u16).to_le_bytes());
        out.extend_from_slice(self.key);
        let crc = crc32fast::hash(&out[start + 4..]);
        out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

impl HintTrailer {
    /// Appends the encoding of the trailer to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; 4]);
        out.push(HINT_TRAILER_KIND);
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&self.data_len.to_le_bytes());
        out.extend_from_slice(&self.max_seq.to_le_bytes());
        let crc = crc32fast::hash(&out[start + 4..]);
        out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// How many bytes the hint item starting at `bytes` occupies, judging by its
/// fixed-size part (at least 5 bytes needed: CRC and kind; then the header).
pub fn hint_item_len(bytes: &[u8]) -> Result<usize, FormatError> {
    if bytes.len() < 5 {
        return Err(FormatError::Incomplete {
            needed: 5,
            available: bytes.len() as u64,
        });
    }
    if bytes[4] == HINT_TRAILER_KIND {
        return Ok(HINT_TRAILER_LEN);
    }
    if bytes.len() < HINT_ENTRY_HEADER_LEN {
        return Err(FormatError::Incomplete {
            needed: HINT_ENTRY_HEADER_LEN as u64,
            available: bytes.len() as u64,
        });
    }
    let key_len = u16::from_le_bytes([bytes[29], bytes[30]]) as usize;
    Ok(HINT_ENTRY_HEADER_LEN + key_len)
}

/// Decodes one hint item (entry or trailer) from the start of `bytes`,
/// verifying its checksum. Returns the item and its length.
pub fn decode_hint_item(bytes: &[u8]) -> Result<(HintItem<'_>, usize), FormatError> {
    let len = hint_item_len(bytes)?;
    if bytes.len() < len {
        return Err(FormatError::Incomplete {
            needed: len as u64,
            available: bytes.len() as u64,
        });
    }
    let stored = read_u32(bytes, 0);
    let computed = crc32fast::hash(&bytes[4..len]);
    if stored != computed {
        return Err(FormatError::ChecksumMismatch { stored, computed });
    }
    if bytes[4] == HINT_TRAILER_KIND {
        return Ok((
            HintItem::Trailer(HintTrailer {
                entries: read_u64(bytes, 5),
                data_len: read_u64(bytes, 13),
                max_seq: read_u64(bytes, 21),
            }),
            len,
        ));
    }
    let kind = match RecordKind::from_byte(bytes[4]) {
        Some(kind @ (RecordKind::Put | RecordKind::Tombstone)) => kind,
        _ => {
            return Err(FormatError::UnknownKind {
                what: "hint entry",
                byte: bytes[4],
            });
        }
    };
    let value_len = read_u32(bytes, 25);
    check_lengths(0, value_len as usize)?;
    Ok((
        HintItem::Entry(HintEntry {
            kind,
            seq: read_u64(bytes, 5),
            expiry: read_u64(bytes, 13),
            offset: read_u32(bytes, 21),
            value_len,
            key: &bytes[HINT_ENTRY_HEADER_LEN..len],
        }),
        len,
    ))
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(kind: RecordKind, seq: u64, meta: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Record {
            kind,
            seq,
            meta,
            key,
            value,
        }
        .encode_into(&mut out);
        out
    }

    #[test]
    fn a_header_of_zero_bytes_never_decodes() {
        // The scan's fast skip over zero-filled space relies on this.
        assert!(RecordHeader::decode(&[0u8; RECORD_HEADER_LEN]).is_err());
        assert!(Record::decode(&[0u8; RECORD_HEADER_LEN + 64]).is_err());
    }

    #[test]
    fn file_header_round_trips_and_has_documented_layout() {
        let header = FileHeader {
            kind: FileKind::Hint,
            segment_id: 0x0102_0304_0506_0708,
        };
        let bytes = header.encode();
        assert_eq!(&bytes[0..4], b"SFLK");
        assert_eq!(&bytes[4..6], &[1, 0]);
        assert_eq!(bytes[6], 2);
        assert_eq!(&bytes[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(FileHeader::decode(&bytes), Ok(header));
    }

    #[test]
    fn file_header_errors() {
        let good = FileHeader {
            kind: FileKind::Data,
            segment_id: 7,
        }
        .encode();
        assert!(matches!(
            FileHeader::decode(&good[..23]),
            Err(FormatError::Incomplete { needed: 24, .. })
        ));
        let mut bad = good;
        bad[0] = b'X';
        assert!(matches!(
            FileHeader::decode(&bad),
            Err(FormatError::BadMagic { .. })
        ));
        let mut bad = good;
        bad[9] ^= 1;
        assert!(matches!(
            FileHeader::decode(&bad),
            Err(FormatError::ChecksumMismatch { .. })
        ));
        // A newer version with a valid checksum is reported as such, not as corruption.
        let mut newer = good;
        newer[4..6].copy_from_slice(&2u16.to_le_bytes());
        let crc = crc32fast::hash(&newer[0..20]);
        newer[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            FileHeader::decode(&newer),
            Err(FormatError::UnsupportedVersion { found: 2 })
        );
        let mut unknown = good;
        unknown[6] = 9;
        let crc = crc32fast::hash(&unknown[0..20]);
        unknown[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            FileHeader::decode(&unknown),
            Err(FormatError::UnknownKind {
                what: "file",
                byte: 9
            })
        );
    }

    #[test]
    fn record_round_trips_every_kind() {
        for kind in [
            RecordKind::Put,
            RecordKind::Tombstone,
            RecordKind::BatchBegin,
            RecordKind::BatchCommit,
            RecordKind::RaftEntry,
            RecordKind::RaftHardState,
            RecordKind::SegmentInfo,
        ] {
            let bytes = encode(kind, u64::MAX - 1, 42, b"key", b"value");
            assert_eq!(bytes.len(), RECORD_HEADER_LEN + 8);
            let (record, len) = Record::decode(&bytes).unwrap();
            assert_eq!(len, bytes.len());
            assert_eq!(record.kind, kind);
            assert_eq!(record.seq, u64::MAX - 1);
            assert_eq!(record.meta, 42);
            assert_eq!(record.key, b"key");
            assert_eq!(record.value, b"value");
        }
    }

    #[test]
    fn record_has_documented_layout() {
        let bytes = encode(RecordKind::Put, 3, 5, b"k", b"vv");
        assert_eq!(bytes[4], 1);
        assert_eq!(&bytes[5..13], &3u64.to_le_bytes());
        assert_eq!(&bytes[13..21], &5u64.to_le_bytes());
        assert_eq!(&bytes[21..25], &1u32.to_le_bytes());
        assert_eq!(&bytes[25..29], &2u32.to_le_bytes());
        assert_eq!(
            &bytes[29..33],
            &crc32fast::hash(&bytes[4..29]).to_le_bytes()
        );
        assert_eq!(&bytes[33..], b"kvv");
        assert_eq!(&bytes[0..4], &crc32fast::hash(&bytes[4..]).to_le_bytes());
    }

    #[test]
    fn empty_key_and_value_round_trip() {
        let bytes = encode(RecordKind::Put, 0, 0, b"", b"");
        let (record, _) = Record::decode(&bytes).unwrap();
        assert!(record.key.is_empty() && record.value.is_empty());
    }

    #[test]
    fn record_errors() {
        let bytes = encode(RecordKind::Put, 1, 0, b"key", b"value");
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    Record::decode(&bytes[..cut]),
                    Err(FormatError::Incomplete { .. })
                ),
                "cut at {cut}"
            );
        }
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Record::decode(&flipped).is_err(),
                "bit {bit} flip undetected"
            );
        }
        let mut bad_kind = bytes.clone();
        bad_kind[4] = 0;
        let crc = crc32fast::hash(&bad_kind[4..29]);
        bad_kind[29..33].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            Record::decode(&bad_kind),
            Err(FormatError::UnknownKind { .. })
        ));
        let reseal = |mut b: Vec<u8>| {
            let crc = crc32fast::hash(&b[4..29]);
            b[29..33].copy_from_slice(&crc.to_le_bytes());
            b
        };
        let mut huge = bytes.clone();
        huge[21..25].copy_from_slice(&(MAX_KEY_LEN as u32 + 1).to_le_bytes());
        assert!(matches!(
            RecordHeader::decode(&huge),
            Err(FormatError::HeaderChecksumMismatch { .. })
        ));
        assert!(matches!(
            RecordHeader::decode(&reseal(huge)),
            Err(FormatError::TooLong { what: "key", .. })
        ));
        let mut huge = bytes;
        huge[25..29].copy_from_slice(&(MAX_VALUE_LEN as u32 + 1).to_le_bytes());
        assert!(matches!(
            RecordHeader::decode(&reseal(huge)),
            Err(FormatError::TooLong { what: "value", .. })
        ));
    }

    #[test]
    fn hint_items_round_trip_and_detect_damage() {
        let mut bytes = Vec::new();
        let entry = HintEntry {
            kind: RecordKind::Tombstone,
            seq: 9,
            expiry: 77,
            offset: 1234,
            value_len: 0,
            key: b"gone",
        };
        entry.encode_into(&mut bytes);
        let trailer = HintTrailer {
            entries: 1,
            data_len: 4096,
            max_seq: 12,
        };
        trailer.encode_into(&mut bytes);
        let (item, len) = decode_hint_item(&bytes).unwrap();
        assert_eq!(item, HintItem::Entry(entry));
        assert_eq!(len, HINT_ENTRY_HEADER_LEN + 4);
        let (item, tlen) = decode_hint_item(&bytes[len..]).unwrap();
        assert_eq!(item, HintItem::Trailer(trailer));
        assert_eq!(tlen, HINT_TRAILER_LEN);
        for bit in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let first = decode_hint_item(&bad);
            let both_ok = first.is_ok_and(|(item, l)| {
                item == HintItem::Entry(entry) && decode_hint_item(&bad[l..]).is_ok()
            });
            assert!(!both_ok, "bit {bit} flip undetected");
        }
        for cut in 0..len {
            assert!(decode_hint_item(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn length_limits_are_inclusive() {
        assert!(check_lengths(MAX_KEY_LEN, MAX_VALUE_LEN).is_ok());
        assert!(check_lengths(MAX_KEY_LEN + 1, 0).is_err());
        assert!(check_lengths(0, MAX_VALUE_LEN + 1).is_err());
    }
}
