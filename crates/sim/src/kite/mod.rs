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

/// One Kite ticker frame holding `updates` (instrument index in `universe`, its quote) in
/// `mode`, exactly as the simulator's ticker sends a round: for tools that need the simulator's
/// wire bytes without a socket (the benchmark's recorded trading day).
pub fn frame(
    universe: &crate::universe::Universe,
    updates: &[(usize, crate::market::Quote)],
    mode: feedgate_kite::Mode,
) -> bytes::Bytes {
    let packets: Vec<feedgate_kite::Packet> = updates
        .iter()
        .filter_map(|(idx, q)| universe.get(*idx).map(|i| packets::packet(i, q, mode)))
        .collect();
    let mut out = bytes::BytesMut::new();
    feedgate_kite::encode_frame(&packets, &mut out);
    out.freeze()
}
