//! Writing a recording: frames gathered into a block ([`BlockBuilder`]), blocks appended to a
//! segment file with an index entry each ([`SegmentWriter`]). Blocking file I/O (the recorder
//! task runs it off the runtime's threads). When to seal a block, when to roll a day and what
//! to do about errors is the recorder task's business, not this module's.
//!
//! A writer never opens an existing segment: every start (and every day) creates the next
//! numbered file, so a segment torn by a crash stays exactly as the crash left it.

use super::format::{
    Compressor, FileHeader, Frame, INDEX_ENTRY_LEN, IndexEntry, RecordedBroker, push_frame,
    seal_block,
};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// zstd level for blocks. Level 1: on the simulator's frames (`feedgate-bench record-day`) it
/// writes full-mode packets as small as level 3 does and quote-mode ones 8 % larger, in half
/// the time; the negative (fast) levels save another 20-30 % of the time but write 35-50 % more.
pub const LEVEL: i32 = 1;
/// A block is sealed once this many uncompressed bytes wait (the recorder also seals about
/// every second).
pub const BLOCK_BYTES: usize = 256 * 1024;

/// Frames waiting to become one block.
#[derive(Debug, Default)]
pub struct BlockBuilder {
    records: Vec<u8>,
    frames: u32,
    first_ns: i64,
    last_ns: i64,
}

impl BlockBuilder {
    pub fn push(&mut self, frame: &Frame) {
        if self.frames == 0 {
            self.first_ns = frame.ts_ns;
            self.last_ns = frame.ts_ns;
        }
        // Earliest and latest, not first and last: shards share the block, and a time seek
        // must not skip a block whose frames arrived slightly out of order.
        self.first_ns = self.first_ns.min(frame.ts_ns);
        self.last_ns = self.last_ns.max(frame.ts_ns);
        self.frames += 1;
        push_frame(&mut self.records, frame);
    }

    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Uncompressed bytes gathered so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Takes what was gathered as a sealed block (header + compressed payload) and its index
    /// entry (offset still zero); the builder is empty afterwards. `None` when empty.
    pub fn seal(&mut self, z: &mut Compressor) -> std::io::Result<Option<SealedBlock>> {
        if self.is_empty() {
            return Ok(None);
        }
        let bytes = seal_block(&self.records, self.frames, self.first_ns, self.last_ns, z)?;
        let sealed = SealedBlock {
            bytes,
            entry: IndexEntry {
                offset: 0,
                first_ns: self.first_ns,
                last_ns: self.last_ns,
                frames: self.frames,
            },
            raw_len: self.records.len(),
        };
        self.records.clear();
        self.frames = 0;
        Ok(Some(sealed))
    }
}

/// A block ready for a segment.
#[derive(Debug)]
pub struct SealedBlock {
    pub bytes: Vec<u8>,
    pub entry: IndexEntry,
    /// Uncompressed length of its records.
    pub raw_len: usize,
}

/// One open segment file, its index, and the compression context its blocks share.
#[derive(Debug)]
pub struct SegmentWriter {
    path: PathBuf,
    file: File,
    index: File,
    offset: u64,
    compressor: Compressor,
}

/// The file name of segment `n` (zero-padded, so names sort by number).
pub fn segment_name(n: u32) -> String {
    format!("seg-{n:06}.fgr")
}

/// The index beside a segment.
pub fn index_path(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

/// The number of a segment file name, if it is one.
pub fn segment_number(name: &str) -> Option<u32> {
    name.strip_prefix("seg-")?
        .strip_suffix(".fgr")?
        .parse()
        .ok()
}

impl SegmentWriter {
    /// Creates the next segment in `day_dir` (creating the directory too).
    pub fn create(
        day_dir: &Path,
        broker: RecordedBroker,
        created_ns: i64,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(day_dir)?;
        let next = std::fs::read_dir(day_dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| segment_number(&e.file_name().to_string_lossy()))
            .max()
            .map_or(1, |n| n + 1);
        let path = day_dir.join(segment_name(next));
        // `create_new`: never extend or clobber a segment another start left behind.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let header = FileHeader { broker, created_ns }.encode();
        file.write_all(&header)?;
        let index = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(index_path(&path))?;
        Ok(Self {
            path,
            file,
            index,
            offset: header.len() as u64,
            compressor: Compressor::new(LEVEL)?,
        })
    }

    /// The same writer compressing at zstd `level` instead of [`LEVEL`] (measurements).
    pub fn with_level(self, level: i32) -> std::io::Result<Self> {
        Ok(Self {
            compressor: Compressor::new(level)?,
            ..self
        })
    }

    /// Seals the builder's frames into a block and appends it; the builder is empty afterwards.
    /// Returns the bytes added to disk (0 when there was nothing to write).
    pub fn write_block(&mut self, block: &mut BlockBuilder) -> std::io::Result<u64> {
        match block.seal(&mut self.compressor)? {
            Some(sealed) => self.append(&sealed),
            None => Ok(0),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a block, then its index entry. Returns the bytes added to disk. The block goes
    /// out in one write, straight to the file (no user-space buffer): once this returns, a
    /// `kill -9` cannot lose it.
    pub fn append(&mut self, block: &SealedBlock) -> std::io::Result<u64> {
        self.file.write_all(&block.bytes)?;
        let entry = IndexEntry {
            offset: self.offset,
            ..block.entry
        };
        self.offset += block.bytes.len() as u64;
        self.index.write_all(&entry.encode())?;
        Ok((block.bytes.len() + INDEX_ENTRY_LEN) as u64)
    }

    /// Flushes the segment to stable storage (at a day's end and at shutdown; between blocks
    /// the OS writes back, which survives a killed process but not a power cut).
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()?;
        self.index.sync_data()
    }
}
