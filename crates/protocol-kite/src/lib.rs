//! Zerodha Kite Connect v3 wire protocol, without I/O: the ticker's binary frames and JSON
//! requests, the REST models, and the login checksum. The REST client in [`rest`] is the only
//! part that performs I/O.

/// Kite REST API: models, secrets, checksum, instrument CSV and the async client.
pub mod rest;
/// Exchange segments and their price divisors.
pub mod segment;

/// The ticker WebSocket protocol (binary frames, requests, text frames).
pub mod ticker;

pub use rest::checksum::checksum;
pub use rest::client::{
    DEFAULT_BASE_URL, DEFAULT_INSTRUMENTS_TIMEOUT, DEFAULT_TIMEOUT, KiteRest,
    MAX_LTP_OHLC_INSTRUMENTS, MAX_QUOTE_INSTRUMENTS,
};
pub use rest::envelope::{ErrorEnvelope, ErrorType, SuccessEnvelope};
pub use rest::error::KiteError;
pub use rest::historical::{CandleRowError, HistoricalCandle};
pub use rest::instruments::{
    INSTRUMENT_COLUMNS, InstrumentRecord, InstrumentRow, InstrumentWriter, InstrumentsError,
    parse_instruments, parse_instruments_body, write_instruments,
};
pub use rest::models::{
    LtpQuote, OhlcDecimal, OhlcQuote, Profile, Quote, QuoteDepth, QuoteDepthLevel, Session,
    UserMeta,
};
pub use rest::price::price_to_raw;
pub use rest::secret::{AccessToken, ApiSecret, Redacted, RequestToken};
pub use segment::{InstrumentToken, Segment};
pub use ticker::codec::{DEFAULT_MAX_FRAME_LEN, Frame, FrameCodec, StreamError};
pub use ticker::decode::{Message, Packets, decode_packet, parse_message};
pub use ticker::encode::{
    HEARTBEAT, MAX_PACKETS_PER_FRAME, encode_frame, encode_frames, encode_packet, frame_len,
};
pub use ticker::error::CodecError;
pub use ticker::packet::{
    Depth, DepthLevel, FullPacket, IndexFullPacket, IndexQuotePacket, LtpPacket, Mode, Ohlc,
    Packet, QuotePacket,
};
pub use ticker::request::{Request, RequestError};
pub use ticker::text::{TextError, TextMessage};
