//! What `feedgate-bench` shares with its tests: the soak driver ([`soak`]), and the pieces it
//! shares with the binary's scenarios (the minimal WebSocket client [`ws`], the browser-like
//! [`login`], a gateway started as `feedgate serve` starts it: [`kite_gateway`]).

pub mod kite_gateway;
pub mod login;
pub mod soak;
pub mod ws;
