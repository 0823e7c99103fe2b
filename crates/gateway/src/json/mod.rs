//! The client WebSocket protocol's JSON (DESIGN.md §6): request parsing and message encoding,
//! and the client-request fuzz check. Pure: no sockets, no tasks.

pub mod candle;
pub mod fuzz;
pub mod messages;
pub mod request;
pub mod ticker;
