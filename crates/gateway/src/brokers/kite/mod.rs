//! Kite Connect: the REST adapter ([`rest::KiteBroker`]), the binary ticker as a
//! [`crate::brokers::Wire`] ([`wire::KiteWire`]) and the documented token expiry.

pub mod expiry;
pub mod rest;
pub mod wire;
