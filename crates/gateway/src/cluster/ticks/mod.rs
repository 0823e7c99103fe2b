//! Ticks through Redis (DESIGN.md §9): the leader publishes every batch its hub receives,
//! and keeps the latest value per instrument in a hash; every other node subscribes and
//! feeds the batches into its own hub as the upstream would. `codec` is the wire format,
//! `tap` the hub's non-blocking copy of its input, `publish` the leader's side, `relay` the
//! subscriber's.

pub mod codec;
