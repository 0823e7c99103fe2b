//! What `feedgate-bench` shares with its tests: the soak driver ([`soak`]), and the pieces it
//! shares with the binary's scenarios (the minimal WebSocket client [`ws`], the browser-like
//! [`login`]).

pub mod login;
pub mod soak;
pub mod ws;
