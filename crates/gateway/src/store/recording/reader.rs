//! Reading a recording: one segment's blocks in order ([`SegmentReader`], over any
//! `Read + Seek`, so tests use bytes in memory) and a day's frames in a time range
//! ([`DayRecording::frames`], seeking with the segments' indexes). A torn tail (a block cut
//! short by a crash) ends its segment quietly after the last complete block; a block whose
//! checksum fails is skipped. Both are reported as [`Damage`], never as a failure of the read.

use super::format::{
    BLOCK_HEADER_LEN, BlockHeader, FILE_HEADER_LEN, FileHeader, FormatError, Frame,
    INDEX_ENTRY_LEN, IndexEntry, RecordedBroker, open_block,
};
use super::writer::{index_path, segment_number};
use chrono::NaiveDate;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Something wrong found while reading, and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub path: PathBuf,
    /// Where in the file (the block's start).
    pub offset: u64,
    pub problem: DamageKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DamageKind {
    /// The segment ends inside a block (a crash while writing it): the rest is unreadable.
    TornTail(FormatError),
    /// One block's checksum or contents are bad; the blocks after it were read.
    BadBlock(FormatError),
    /// The file could not be opened or is not a recording.
    Unreadable(String),
}

/// One segment's blocks, in file order.
#[derive(Debug)]
pub struct SegmentReader<R> {
    src: R,
    header: FileHeader,
    offset: u64,
    end: u64,
    /// Set once a torn tail was met (no block follows it).
    torn: bool,
}

/// What [`SegmentReader::next_block`] found.
#[derive(Debug)]
pub enum Block {
    Frames(BlockHeader, Vec<Frame>),
    /// A complete block that failed its checksum (skipped; reading goes on).
    Bad {
        offset: u64,
        error: FormatError,
    },
    /// The segment ends inside a block at `offset` (nothing after it can be read).
    Torn {
        offset: u64,
        error: FormatError,
    },
}

impl<R: Read + Seek> SegmentReader<R> {
    pub fn open(mut src: R) -> std::io::Result<Result<Self, FormatError>> {
        let end = src.seek(SeekFrom::End(0))?;
        src.seek(SeekFrom::Start(0))?;
        let mut head = [0u8; FILE_HEADER_LEN];
        let got = read_up_to(&mut src, &mut head)?;
        let header = match FileHeader::decode(&head[..got]) {
            Ok(h) => h,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(Self {
            src,
            header,
            offset: FILE_HEADER_LEN as u64,
            end,
            torn: false,
        }))
    }

    pub fn header(&self) -> FileHeader {
        self.header
    }

    /// Continues at `offset` (a block's start, from the index).
    pub fn seek_block(&mut self, offset: u64) {
        self.offset = offset.clamp(FILE_HEADER_LEN as u64, self.end);
    }

    /// The next block, `None` at the end (or after a torn tail).
    pub fn next_block(&mut self) -> std::io::Result<Option<Block>> {
        if self.torn || self.offset >= self.end {
            return Ok(None);
        }
        let at = self.offset;
        self.src.seek(SeekFrom::Start(at))?;
        let mut head = [0u8; BLOCK_HEADER_LEN];
        let got = read_up_to(&mut self.src, &mut head)?;
        let header = match BlockHeader::decode(&head[..got]) {
            Ok(h) => h,
            Err(error) => return Ok(Some(self.tear(at, error))),
        };
        let len = u64::from(header.compressed_len);
        if at + BLOCK_HEADER_LEN as u64 + len > self.end {
            return Ok(Some(self.tear(at, FormatError::Truncated)));
        }
        let mut payload = vec![0u8; header.compressed_len as usize];
        self.src.read_exact(&mut payload)?;
        self.offset = at + BLOCK_HEADER_LEN as u64 + len;
        Ok(Some(match open_block(&header, &payload) {
            Ok(frames) => Block::Frames(header, frames),
            Err(error) => Block::Bad { offset: at, error },
        }))
    }

    fn tear(&mut self, offset: u64, error: FormatError) -> Block {
        self.torn = true;
        Block::Torn { offset, error }
    }
}

/// Reads as much of `buf` as the source has; returns how much.
fn read_up_to(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The intact entries of an index (a torn or damaged entry ends it).
pub fn read_index(bytes: &[u8]) -> Vec<IndexEntry> {
    bytes
        .chunks(INDEX_ENTRY_LEN)
        .map_while(IndexEntry::decode)
        .collect()
}

/// The directory of one IST day under the recordings root.
pub fn day_dir(root: &Path, day: NaiveDate) -> PathBuf {
    root.join(day.format("%Y-%m-%d").to_string())
}

/// The segments of one day, in the order they were written.
#[derive(Debug, Clone)]
pub struct DayRecording {
    pub segments: Vec<PathBuf>,
}

impl DayRecording {
    /// The segments under `root/<day>`; none if the day was not recorded.
    pub fn open(root: &Path, day: NaiveDate) -> std::io::Result<Self> {
        let dir = day_dir(root, day);
        let mut numbered: Vec<(u32, PathBuf)> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| Some((segment_number(&e.file_name().to_string_lossy())?, e.path())))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        numbered.sort();
        Ok(Self {
            segments: numbered.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// The frames received in `[from_ns, to_ns]`, in recorded order.
    pub fn frames(&self, from_ns: i64, to_ns: i64) -> Frames {
        Frames {
            segments: self.segments.clone().into(),
            current: None,
            pending: VecDeque::new(),
            from_ns,
            to_ns,
            damage: Vec::new(),
        }
    }
}

/// A frame and the broker whose socket it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFrame {
    pub broker: RecordedBroker,
    pub frame: Frame,
}

/// Iterator over a day's frames in a time range (see [`DayRecording::frames`]).
#[derive(Debug)]
pub struct Frames {
    segments: VecDeque<PathBuf>,
    current: Option<(PathBuf, SegmentReader<BufReader<File>>)>,
    pending: VecDeque<Frame>,
    from_ns: i64,
    to_ns: i64,
    damage: Vec<Damage>,
}

impl Frames {
    /// What was skipped so far.
    pub fn damage(&self) -> &[Damage] {
        &self.damage
    }

    /// Opens the next segment, positioned at the first block that can hold `from_ns`.
    fn open_next(&mut self) -> Option<()> {
        loop {
            let path = self.segments.pop_front()?;
            let opened = File::open(&path)
                .and_then(|f| SegmentReader::open(BufReader::new(f)))
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            match opened {
                Ok(mut reader) => {
                    if let Some(offset) = seek_offset(&path, self.from_ns) {
                        reader.seek_block(offset);
                    }
                    self.current = Some((path, reader));
                    return Some(());
                }
                Err(e) => self.damage.push(Damage {
                    path,
                    offset: 0,
                    problem: DamageKind::Unreadable(e),
                }),
            }
        }
    }

    /// Reads the current segment's next block into `pending`; `false` when the segment ended.
    fn fill(&mut self) -> bool {
        let Some((path, reader)) = self.current.as_mut() else {
            return false;
        };
        let block = match reader.next_block() {
            Ok(Some(b)) => b,
            Ok(None) => return false,
            Err(e) => {
                let offset = reader.offset;
                self.damage
                    .push(damage(path, offset, DamageKind::Unreadable(e.to_string())));
                return false;
            }
        };
        match block {
            Block::Frames(header, frames) => {
                if header.first_ns > self.to_ns {
                    return false;
                }
                if header.last_ns >= self.from_ns {
                    let (from, to) = (self.from_ns, self.to_ns);
                    let wanted = frames
                        .into_iter()
                        .filter(|f| f.ts_ns >= from && f.ts_ns <= to);
                    self.pending.extend(wanted);
                }
            }
            Block::Bad { offset, error } => {
                self.damage
                    .push(damage(path, offset, DamageKind::BadBlock(error)));
            }
            Block::Torn { offset, error } => {
                self.damage
                    .push(damage(path, offset, DamageKind::TornTail(error)));
                return false;
            }
        }
        true
    }
}

fn damage(path: &Path, offset: u64, problem: DamageKind) -> Damage {
    Damage {
        path: path.to_path_buf(),
        offset,
        problem,
    }
}

/// Where in `segment` reading for `from_ns` starts, from its index: the first block that ends
/// at or after it. `None`: read from the start (no index, or it does not reach that far —
/// blocks past the index's end, written before a crash tore the index, are still read).
fn seek_offset(segment: &Path, from_ns: i64) -> Option<u64> {
    let bytes = std::fs::read(index_path(segment)).ok()?;
    let entries = read_index(&bytes);
    let at = entries.iter().position(|e| e.last_ns >= from_ns);
    match at {
        Some(i) => Some(entries[i].offset),
        // Every indexed block ends before `from_ns`: start after the last one.
        None => entries.last().map(|e| e.offset),
    }
}

impl Iterator for Frames {
    type Item = RecordedFrame;

    fn next(&mut self) -> Option<RecordedFrame> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                let broker = self.current.as_ref().map(|(_, r)| r.header().broker)?;
                return Some(RecordedFrame { broker, frame });
            }
            if self.current.is_none() {
                self.open_next()?;
            }
            if !self.fill() {
                self.current = None;
            }
        }
    }
}
