//! The type-6 data frame and its records (spec §6.3): `S` snapshots, `U` positional updates
//! and `L` lite updates, several per frame, mixing topics. Values stay exactly as on the wire
//! (`i32`, with [`NO_VALUE`] meaning "unchanged / not available"); merging them into per-topic
//! state is [`super::state`]'s job.
//!
//! Layout choices (spec §6.3, §14):
//! * the u32 message number is always present (the Python layout; the Node SDK omits it when
//!   the auth reply's ack_count is 0, which this codec does not support);
//! * topic ids are big-endian and opaque;
//! * the two unknown bytes between a snapshot's values and its multiplier are kept verbatim
//!   ([`Snapshot::reserved`]) so a decode/encode round trip is byte-exact;
//! * snapshot topic names must be UTF-8 (as in the official client); in its three trailing
//!   strings invalid sequences are dropped, as the official client does (`errors='ignore'`);
//! * an unknown record kind fails the whole frame: without a length, the next record cannot be
//!   found.

use bytes::{BufMut, BytesMut};

use super::error::{CodecError, EncodeError};
use super::topic::TopicName;
use super::wire::{self, Reader};
use crate::price::{Scale, ScaleError};

/// `INT32_MIN`: the value is unchanged (updates) or not available (snapshots).
pub const NO_VALUE: i32 = i32::MIN;

/// Record kind bytes.
pub mod record_kind {
    /// `S`: snapshot.
    pub const SNAPSHOT: u8 = b'S';
    /// `U`: update.
    pub const UPDATE: u8 = b'U';
    /// `L`: lite update.
    pub const LITE: u8 = b'L';
}

/// Smallest record on the wire (an `L`: kind, topic id, value), for bounding allocations.
const MIN_RECORD_LEN: usize = 7;

/// A type-6 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFrame {
    /// The frame's message number (what an ack carries).
    pub message_number: u32,
    /// The records, in wire order.
    pub records: Vec<Record>,
}

/// One record of a data frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `S`: the full state of a topic; replaces anything known about its topic id.
    Snapshot(Snapshot),
    /// `U`: positional changes.
    Update(Update),
    /// `L`: a new last traded price.
    Lite(Lite),
}

impl Record {
    /// The topic id the record belongs to.
    pub fn topic_id(&self) -> u16 {
        match self {
            Record::Snapshot(s) => s.topic_id,
            Record::Update(u) => u.topic_id,
            Record::Lite(l) => l.topic_id,
        }
    }
}

/// An `S` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Opaque per-connection id that later `U`/`L` records refer to.
    pub topic_id: u16,
    /// The topic, e.g. `sf|nse_cm|3045`.
    pub topic: TopicName,
    /// Values in field-list order ([`super::fields`]); [`NO_VALUE`] = not available.
    pub values: Vec<i32>,
    /// The two unknown bytes after the values (send 0).
    pub reserved: u16,
    /// Price multiplier.
    pub multiplier: u16,
    /// Price precision (decimal places).
    pub precision: u8,
    /// String 1 (`exchange` in the Python client; real content unknown).
    pub exchange: String,
    /// String 2 (`exchange_token`).
    pub exchange_token: String,
    /// String 3 (`symbol`).
    pub symbol: String,
}

impl Snapshot {
    /// The price scale, or an error for a zero multiplier.
    pub fn scale(&self) -> Result<Scale, ScaleError> {
        Scale::new(self.multiplier, self.precision)
    }
}

/// A `U` record: values by position; fewer than the snapshot's count is normal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Topic id from the snapshot.
    pub topic_id: u16,
    /// Values from position 0; [`NO_VALUE`] = unchanged.
    pub values: Vec<i32>,
}

/// An `L` record: exactly one value, no count byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lite {
    /// Topic id from the snapshot.
    pub topic_id: u16,
    /// Last traded price (raw); [`NO_VALUE`] = unchanged.
    pub ltp: i32,
}

impl DataFrame {
    /// Reads the part after the 3-byte header.
    pub(crate) fn decode_body(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        let message_number = reader.u32("message number")?;
        let count = usize::from(reader.u16("record count")?);
        let mut records = Vec::with_capacity(count.min(reader.remaining() / MIN_RECORD_LEN));
        for _ in 0..count {
            let offset = reader.position();
            let record = match reader.u8("record kind")? {
                record_kind::SNAPSHOT => Record::Snapshot(decode_snapshot(reader)?),
                record_kind::UPDATE => {
                    let topic_id = reader.u16("topic id")?;
                    let n = reader.u8("value count")?;
                    let values = reader.i32s(usize::from(n), "update values")?;
                    Record::Update(Update { topic_id, values })
                }
                record_kind::LITE => Record::Lite(Lite {
                    topic_id: reader.u16("topic id")?,
                    ltp: reader.i32("lite value")?,
                }),
                kind => return Err(CodecError::UnknownRecord { kind, offset }),
            };
            records.push(record);
        }
        Ok(Self {
            message_number,
            records,
        })
    }

    /// Writes the part after the 3-byte header.
    pub(crate) fn encode_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        dst.put_u32(self.message_number);
        dst.put_u16(wire::count(
            "records",
            self.records.len(),
            usize::from(u16::MAX),
        )?);
        for record in &self.records {
            match record {
                Record::Snapshot(s) => {
                    dst.put_u8(record_kind::SNAPSHOT);
                    dst.put_u16(s.topic_id);
                    wire::put_str8(dst, "topic", s.topic.as_str().as_bytes())?;
                    put_values(dst, &s.values)?;
                    dst.put_u16(s.reserved);
                    dst.put_u16(s.multiplier);
                    dst.put_u8(s.precision);
                    wire::put_str8(dst, "exchange", s.exchange.as_bytes())?;
                    wire::put_str8(dst, "exchange token", s.exchange_token.as_bytes())?;
                    wire::put_str8(dst, "symbol", s.symbol.as_bytes())?;
                }
                Record::Update(u) => {
                    dst.put_u8(record_kind::UPDATE);
                    dst.put_u16(u.topic_id);
                    put_values(dst, &u.values)?;
                }
                Record::Lite(l) => {
                    dst.put_u8(record_kind::LITE);
                    dst.put_u16(l.topic_id);
                    dst.put_i32(l.ltp);
                }
            }
        }
        Ok(())
    }
}

fn decode_snapshot(reader: &mut Reader<'_>) -> Result<Snapshot, CodecError> {
    let topic_id = reader.u16("topic id")?;
    let topic = TopicName::from_wire(wire::utf8(reader.bytes8("topic")?, "topic")?);
    let n = reader.u8("value count")?;
    let values = reader.i32s(usize::from(n), "snapshot values")?;
    let reserved = reader.u16("snapshot reserved bytes")?;
    let multiplier = reader.u16("multiplier")?;
    let precision = reader.u8("precision")?;
    let mut text = |what| reader.bytes8(what).map(utf8_ignoring_errors);
    Ok(Snapshot {
        topic_id,
        topic,
        values,
        reserved,
        multiplier,
        precision,
        exchange: text("exchange")?,
        exchange_token: text("exchange token")?,
        symbol: text("symbol")?,
    })
}

/// UTF-8 with invalid sequences dropped, as the official client decodes these strings
/// (`errors='ignore'`). Dropping, unlike replacing with U+FFFD, never makes the text longer, so
/// a decoded snapshot always fits its u8 length again when re-encoded.
fn utf8_ignoring_errors(bytes: &[u8]) -> String {
    bytes.utf8_chunks().map(|chunk| chunk.valid()).collect()
}

fn put_values(dst: &mut BytesMut, values: &[i32]) -> Result<(), EncodeError> {
    dst.put_u8(wire::count("values", values.len(), usize::from(u8::MAX))?);
    for value in values {
        dst.put_i32(*value);
    }
    Ok(())
}
