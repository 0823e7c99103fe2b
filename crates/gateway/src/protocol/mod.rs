//! The client WebSocket protocol (DESIGN.md §6): request parsing and message encoding. Pure.

pub mod candle;
pub mod ist;
pub mod messages;
pub mod request;
pub mod ticker;
