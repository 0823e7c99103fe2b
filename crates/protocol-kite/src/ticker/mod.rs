//! The Kite ticker WebSocket protocol: binary market-data frames, client requests and server
//! text messages. Sans-I/O: bytes in, typed values out (and back).

/// Streaming tokio-util codec for byte streams of back-to-back frames (recordings, tests).
pub mod codec;
/// Zero-copy decoding of one binary WebSocket message (the hot path).
pub mod decode;
/// Encoding of packets and frames (used by the simulator and round-trip tests).
pub mod encode;
/// The codec's error type.
pub mod error;
/// The binary packet types, mirroring the wire.
pub mod packet;
/// Client → server JSON requests (`subscribe`, `unsubscribe`, `mode`).
pub mod request;
/// Server → client JSON text frames (`order`, `error`, `message`).
pub mod text;

#[cfg(test)]
mod proptests;
