//! The client WebSocket protocol's JSON (DESIGN.md §6): request parsing and message encoding.
//! Pure: no sockets, no tasks.

pub mod candle;
pub mod messages;
pub mod request;
pub mod ticker;
