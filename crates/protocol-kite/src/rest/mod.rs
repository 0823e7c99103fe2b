//! Kite REST: response models and envelopes, credentials, the login checksum, the instrument
//! dump, price conversion, and the async client (the crate's only I/O).

/// Login checksum for `POST /session/token`.
pub mod checksum;
/// The async REST client.
pub mod client;
/// Success and error envelopes and Kite's `error_type` names.
pub mod envelope;
/// The client's error type and response classification.
pub mod error;
/// Historical candles: decoding Kite's rows.
pub mod historical;
/// The instrument dump CSV: parse and write.
pub mod instruments;
/// Response models of the endpoints the gateway uses.
pub mod models;
/// Decimal REST prices to integer wire units.
pub mod price;
/// Redacting credential newtypes.
pub mod secret;
/// Serde for Kite's `yyyy-mm-dd hh:mm:ss` timestamps.
pub mod time;
