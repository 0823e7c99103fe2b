//! The Kite front-end of the simulator: ticker WebSocket, REST endpoints and login page, all
//! speaking Kite Connect v3 on top of the broker-neutral market.

/// The login page.
pub(crate) mod login;
/// Market state → ticker packets.
pub(crate) mod packets;
/// Order postbacks for `POST /_sim/order`.
pub(crate) mod postback;
/// REST endpoints.
pub(crate) mod rest;
/// The ticker WebSocket.
pub(crate) mod ticker;

pub(crate) use login::router as login_router;
