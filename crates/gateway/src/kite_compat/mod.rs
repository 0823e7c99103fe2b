//! The server side of Kite's ticker protocol, for apps written against the official Kite
//! clients (DESIGN.md §11): ticks as Kite packets, and packets gathered into Kite frames.
//! Pure: the `/kite` connection task lives in `clients::kite`.

pub mod frames;
pub mod packets;

pub use frames::{FrameBuilder, HEARTBEAT_FRAME};
pub use packets::{encode, packet_of};
