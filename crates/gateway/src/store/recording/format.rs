//! The recording file format (docs/RECORDING.md), sans I/O: a segment's file header, a block's
//! header and checksum, the frame records inside a block, and the index entries beside a
//! segment. Encoding and decoding only; files are opened and walked by the writer and reader.
//!
//! Every integer is little-endian. A block's checksum covers its header (bar the checksum
//! itself) and its compressed payload, so a torn or overwritten header is caught as surely as
//! a torn payload.

use bytes::Bytes;

/// The first bytes of every segment file. The `\r\n\x1a` tail (as in PNG) catches a transfer
/// that rewrote line ends or stopped at a DOS end-of-file byte.
pub const FILE_MAGIC: [u8; 8] = *b"FGREC\r\n\x1a";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// The first bytes of every block.
pub const BLOCK_MAGIC: [u8; 4] = *b"FGB1";
/// Length of a block header.
pub const BLOCK_HEADER_LEN: usize = 40;
/// Length of one frame record's header (its bytes follow).
pub const FRAME_HEADER_LEN: usize = 16;
/// Length of one index entry.
pub const INDEX_ENTRY_LEN: usize = 32;
/// No block is larger than this, compressed or not: a header claiming more is damage, not a
/// reason to allocate gigabytes.
pub const MAX_BLOCK_LEN: u32 = 64 << 20;

/// Which broker's socket a segment recorded (decides how its frames decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedBroker {
    Kite,
    Fyers,
}

impl RecordedBroker {
    fn code(self) -> u8 {
        match self {
            Self::Kite => 1,
            Self::Fyers => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Kite),
            2 => Some(Self::Fyers),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kite => "kite",
            Self::Fyers => "fyers",
        }
    }
}

/// What one record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A WebSocket text frame, as received.
    Text,
    /// A WebSocket binary frame, as received.
    Binary,
    /// A new broker connection of the shard is live (no bytes): per-connection decoder state
    /// (Fyers' snapshots) starts over here.
    Connected,
    /// What the shard's decoder needs for the frames after it (broker-specific bytes; Fyers:
    /// the topic table as JSON), written after every subscription change.
    Context,
}

impl FrameKind {
    fn code(self) -> u8 {
        match self {
            Self::Text => 0,
            Self::Binary => 1,
            Self::Connected => 2,
            Self::Context => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Text),
            1 => Some(Self::Binary),
            2 => Some(Self::Connected),
            3 => Some(Self::Context),
            _ => None,
        }
    }
}

/// One recorded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Receive time, nanoseconds since the Unix epoch (the gateway's clock).
    pub ts_ns: i64,
    /// The broker connection (shard index) it arrived on.
    pub shard: u16,
    pub kind: FrameKind,
    /// The frame's payload exactly as received.
    pub data: Bytes,
}

/// Why bytes are not what the format says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a feedgate recording (bad magic)")]
    FileMagic,
    #[error("recording format version {0} is not supported (this build reads {VERSION})")]
    Version(u16),
    #[error("unknown broker code {0}")]
    Broker(u8),
    #[error("truncated")]
    Truncated,
    #[error("bad block magic")]
    BlockMagic,
    #[error("block length {0} is out of range")]
    BlockLen(u32),
    #[error("block checksum mismatch")]
    Checksum,
    #[error("cannot decompress a block: {0}")]
    Decompress(String),
    #[error("frame record {0} is malformed")]
    Record(usize),
}

/// A segment's file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub broker: RecordedBroker,
    /// When the segment was created (ns since the Unix epoch).
    pub created_ns: i64,
}

impl FileHeader {
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[..8].copy_from_slice(&FILE_MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[10] = self.broker.code();
        // b[11..16]: reserved, zero.
        b[16..24].copy_from_slice(&self.created_ns.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, FormatError> {
        if b.len() < FILE_HEADER_LEN {
            return Err(FormatError::Truncated);
        }
        if b[..8] != FILE_MAGIC {
            return Err(FormatError::FileMagic);
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != VERSION {
            return Err(FormatError::Version(version));
        }
        let broker = RecordedBroker::from_code(b[10]).ok_or(FormatError::Broker(b[10]))?;
        Ok(Self {
            broker,
            created_ns: le_i64(&b[16..24]),
        })
    }
}

/// A block's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    pub compressed_len: u32,
    pub uncompressed_len: u32,
    pub frames: u32,
    pub first_ns: i64,
    pub last_ns: i64,
    /// CRC-32 of the header's other bytes and the compressed payload.
    pub crc: u32,
}

impl BlockHeader {
    /// The header's bytes, checksum last.
    pub fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = self.encode_without_crc();
        b[36..40].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    fn encode_without_crc(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[..4].copy_from_slice(&BLOCK_MAGIC);
        b[4..8].copy_from_slice(&self.compressed_len.to_le_bytes());
        b[8..12].copy_from_slice(&self.uncompressed_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.frames.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_ns.to_le_bytes());
        b[24..32].copy_from_slice(&self.last_ns.to_le_bytes());
        // b[32..36]: reserved, zero.
        b
    }

    /// Parses a header; its lengths are range-checked, its checksum is checked by
    /// [`BlockHeader::verify`] once the payload is read.
    pub fn decode(b: &[u8]) -> Result<Self, FormatError> {
        if b.len() < BLOCK_HEADER_LEN {
            return Err(FormatError::Truncated);
        }
        // The reserved bytes must be zero: the checksum does not cover what they hold.
        if b[..4] != BLOCK_MAGIC || b[32..36] != [0; 4] {
            return Err(FormatError::BlockMagic);
        }
        let h = Self {
            compressed_len: le_u32(&b[4..8]),
            uncompressed_len: le_u32(&b[8..12]),
            frames: le_u32(&b[12..16]),
            first_ns: le_i64(&b[16..24]),
            last_ns: le_i64(&b[24..32]),
            crc: le_u32(&b[36..40]),
        };
        for len in [h.compressed_len, h.uncompressed_len] {
            if len > MAX_BLOCK_LEN {
                return Err(FormatError::BlockLen(len));
            }
        }
        Ok(h)
    }

    fn checksum(&self, payload: &[u8]) -> u32 {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&self.encode_without_crc()[..36]);
        hasher.update(payload);
        hasher.finalize()
    }

    /// Whether `payload` is the intact payload this header was written with.
    pub fn verify(&self, payload: &[u8]) -> Result<(), FormatError> {
        if payload.len() != self.compressed_len as usize {
            return Err(FormatError::Truncated);
        }
        if self.checksum(payload) != self.crc {
            return Err(FormatError::Checksum);
        }
        Ok(())
    }
}

/// One entry of a segment's index: where a block starts and which times it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub offset: u64,
    pub first_ns: i64,
    pub last_ns: i64,
    pub frames: u32,
}

impl IndexEntry {
    pub fn encode(&self) -> [u8; INDEX_ENTRY_LEN] {
        let mut b = [0u8; INDEX_ENTRY_LEN];
        b[..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.first_ns.to_le_bytes());
        b[16..24].copy_from_slice(&self.last_ns.to_le_bytes());
        b[24..28].copy_from_slice(&self.frames.to_le_bytes());
        let crc = crc32fast::hash(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// `None` for a torn or damaged entry.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < INDEX_ENTRY_LEN || crc32fast::hash(&b[..28]) != le_u32(&b[28..32]) {
            return None;
        }
        Some(Self {
            offset: u64::from_le_bytes(b[..8].try_into().ok()?),
            first_ns: le_i64(&b[8..16]),
            last_ns: le_i64(&b[16..24]),
            frames: le_u32(&b[24..28]),
        })
    }
}

/// Appends one frame record to a block's uncompressed bytes.
pub fn push_frame(out: &mut Vec<u8>, frame: &Frame) {
    out.extend_from_slice(&frame.ts_ns.to_le_bytes());
    out.extend_from_slice(&frame.shard.to_le_bytes());
    out.push(frame.kind.code());
    out.push(0);
    out.extend_from_slice(&(frame.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&frame.data);
}

/// A zstd compression context kept across blocks: making a fresh one per block (allocating
/// and initialising its tables) costs about as much as compressing a second of a quiet feed.
pub struct Compressor(zstd::bulk::Compressor<'static>);

impl Compressor {
    pub fn new(level: i32) -> std::io::Result<Self> {
        zstd::bulk::Compressor::new(level).map(Self)
    }
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compressor")
    }
}

/// Compresses a block's records into header + payload bytes.
pub fn seal_block(
    records: &[u8],
    frames: u32,
    first_ns: i64,
    last_ns: i64,
    z: &mut Compressor,
) -> std::io::Result<Vec<u8>> {
    let payload = z.0.compress(records)?;
    let mut header = BlockHeader {
        compressed_len: payload.len() as u32,
        uncompressed_len: records.len() as u32,
        frames,
        first_ns,
        last_ns,
        crc: 0,
    };
    header.crc = header.checksum(&payload);
    let mut out = Vec::with_capacity(BLOCK_HEADER_LEN + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decompresses a verified block's payload into its frames.
pub fn open_block(header: &BlockHeader, payload: &[u8]) -> Result<Vec<Frame>, FormatError> {
    header.verify(payload)?;
    let records = zstd::bulk::decompress(payload, header.uncompressed_len as usize)
        .map_err(|e| FormatError::Decompress(e.to_string()))?;
    if records.len() != header.uncompressed_len as usize {
        return Err(FormatError::Decompress(
            "length differs from the header".into(),
        ));
    }
    let records = Bytes::from(records);
    let mut frames = Vec::with_capacity(header.frames as usize);
    let mut at = 0usize;
    while at < records.len() {
        let i = frames.len();
        let head = records
            .get(at..at + FRAME_HEADER_LEN)
            .ok_or(FormatError::Record(i))?;
        let kind = FrameKind::from_code(head[10]).ok_or(FormatError::Record(i))?;
        let len = le_u32(&head[12..16]) as usize;
        let start = at + FRAME_HEADER_LEN;
        let end = start.checked_add(len).filter(|e| *e <= records.len());
        let end = end.ok_or(FormatError::Record(i))?;
        frames.push(Frame {
            ts_ns: le_i64(&head[..8]),
            shard: u16::from_le_bytes([head[8], head[9]]),
            kind,
            data: records.slice(start..end),
        });
        at = end;
    }
    if frames.len() != header.frames as usize {
        return Err(FormatError::Record(frames.len()));
    }
    Ok(frames)
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ts_ns: i64, data: &'static [u8]) -> Frame {
        Frame {
            ts_ns,
            shard: 2,
            kind: FrameKind::Binary,
            data: Bytes::from_static(data),
        }
    }

    fn block(frames: &[Frame]) -> Vec<u8> {
        let mut records = Vec::new();
        for f in frames {
            push_frame(&mut records, f);
        }
        let (first, last) = (frames[0].ts_ns, frames[frames.len() - 1].ts_ns);
        seal_block(
            &records,
            frames.len() as u32,
            first,
            last,
            &mut Compressor::new(3).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_block_round_trips() {
        let frames = vec![
            frame(1, b"\x00\x01abc"),
            Frame {
                kind: FrameKind::Text,
                ..frame(2, b"{\"type\":\"order\"}")
            },
            Frame {
                kind: FrameKind::Connected,
                ..frame(3, b"")
            },
        ];
        let bytes = block(&frames);
        let header = BlockHeader::decode(&bytes).unwrap();
        assert_eq!((header.frames, header.first_ns, header.last_ns), (3, 1, 3));
        let got = open_block(&header, &bytes[BLOCK_HEADER_LEN..]).unwrap();
        assert_eq!(got, frames);
    }

    #[test]
    fn any_flipped_bit_fails_the_checksum() {
        let bytes = block(&[frame(5, b"some payload bytes")]);
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            let opened = BlockHeader::decode(&damaged)
                .and_then(|h| open_block(&h, &damaged[BLOCK_HEADER_LEN..]));
            assert!(opened.is_err(), "a flip at byte {i} went unnoticed");
        }
    }

    #[test]
    fn headers_reject_what_is_not_theirs() {
        let h = FileHeader {
            broker: RecordedBroker::Fyers,
            created_ns: 42,
        };
        assert_eq!(FileHeader::decode(&h.encode()), Ok(h));
        let mut b = h.encode();
        b[8] = 9;
        assert_eq!(FileHeader::decode(&b), Err(FormatError::Version(9)));
        assert_eq!(FileHeader::decode(b"FGREC"), Err(FormatError::Truncated));
        assert_eq!(
            FileHeader::decode(&[0u8; FILE_HEADER_LEN]),
            Err(FormatError::FileMagic)
        );
        let mut big = block(&[frame(1, b"x")]);
        big[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            BlockHeader::decode(&big),
            Err(FormatError::BlockLen(u32::MAX))
        );
    }

    #[test]
    fn index_entries_round_trip_and_catch_damage() {
        let e = IndexEntry {
            offset: 24,
            first_ns: -5,
            last_ns: 7,
            frames: 3,
        };
        let mut b = e.encode();
        assert_eq!(IndexEntry::decode(&b), Some(e));
        assert_eq!(IndexEntry::decode(&b[..31]), None);
        b[3] ^= 1;
        assert_eq!(IndexEntry::decode(&b), None);
    }
}
