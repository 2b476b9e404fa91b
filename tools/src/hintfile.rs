//! Streaming reader of hint files, item by item, for `dump` and `verify`.
//!
//! Unlike the engine's loader (which only needs to know whether a hint is
//! usable), this reader says where and why a hint stops making sense, and
//! hands out every item on the way, borrowing one reused buffer, so memory
//! stays bounded by the longest key.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bitcask::format::{
    FILE_HEADER_LEN, HINT_ENTRY_HEADER_LEN, HintItem, decode_hint_item, hint_item_len,
};

use crate::error::{Result, ToolError};

/// One step of a [`HintReader`].
#[derive(Debug)]
pub enum HintStep<'a> {
    /// A verified item at `offset`, `len` bytes long.
    Item {
        /// Offset of the item in the hint file.
        offset: u64,
        /// The item.
        item: HintItem<'a>,
        /// Its encoded length.
        len: u64,
    },
    /// The file ends at `offset` (cleanly, between items).
    End {
        /// The file length.
        offset: u64,
    },
    /// The bytes at `offset` are not a valid item; the reader stops here.
    Bad {
        /// Offset of the bad item.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Reads the items of one hint file after its (already checked) header.
#[derive(Debug)]
pub struct HintReader {
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
    buf: Vec<u8>,
    stopped: bool,
}

impl HintReader {
    /// Opens `path` and positions the reader after the file header.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| ToolError::io("open", path, e))?;
        file.seek(SeekFrom::Start(FILE_HEADER_LEN as u64))
            .map_err(|e| ToolError::io("read", path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            offset: FILE_HEADER_LEN as u64,
            buf: Vec::new(),
            stopped: false,
        })
    }

    /// The next item, the end of the file, or why the rest is unreadable.
    /// After `End` or `Bad`, every call returns `End`/`Bad` again.
    pub fn next_step(&mut self) -> Result<HintStep<'_>> {
        let offset = self.offset;
        if self.stopped {
            return Ok(HintStep::End { offset });
        }
        self.buf.clear();
        let got = self.fill_to(5)?;
        if got == 0 {
            self.stopped = true;
            return Ok(HintStep::End { offset });
        }
        let bad = |this: &mut Self, reason: String| {
            this.stopped = true;
            Ok(HintStep::Bad { offset, reason })
        };
        if got < 5 {
            return bad(self, format!("{got} stray bytes at the end of the file"));
        }
        if self.buf[4] != bitcask::format::HINT_TRAILER_KIND {
            let got = self.fill_to(HINT_ENTRY_HEADER_LEN)?;
            if got < HINT_ENTRY_HEADER_LEN {
                return bad(
                    self,
                    format!("truncated entry: {got} of {HINT_ENTRY_HEADER_LEN} header bytes"),
                );
            }
        }
        let len = match hint_item_len(&self.buf) {
            Ok(len) => len,
            Err(e) => return bad(self, e.to_string()),
        };
        let got = self.fill_to(len)?;
        if got < len {
            return bad(
                self,
                format!("truncated item: {got} of {len} bytes before the end of the file"),
            );
        }
        match decode_hint_item(&self.buf) {
            Ok((_, used)) if used != len => {
                bad(self, format!("item length {used} disagrees with {len}"))
            }
            Ok(_) => {
                self.offset += len as u64;
                let (item, _) = decode_hint_item(&self.buf).map_err(|e| ToolError::Corrupted {
                    path: self.path.clone(),
                    offset,
                    reason: e.to_string(),
                })?;
                Ok(HintStep::Item {
                    offset,
                    item,
                    len: len as u64,
                })
            }
            Err(e) => bad(self, e.to_string()),
        }
    }

    /// Reads until `buf` holds `want` bytes or the file ends; returns the length.
    fn fill_to(&mut self, want: usize) -> Result<usize> {
        while self.buf.len() < want {
            let have = self.buf.len();
            self.buf.resize(want, 0);
            match self.reader.read(&mut self.buf[have..]) {
                Ok(0) => {
                    self.buf.truncate(have);
                    break;
                }
                Ok(n) => self.buf.truncate(have + n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => self.buf.truncate(have),
                Err(e) => return Err(ToolError::io("read", &self.path, e)),
            }
        }
        Ok(self.buf.len())
    }
}
