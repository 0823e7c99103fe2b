//! feedgate's gateway: the upstream broker feed, the hub that fans ticks out to clients, the
//! client WebSocket protocol and the HTTP API. See `docs/ARCHITECTURE.md` for the design.

pub mod api;
pub mod archive;
pub mod auth;
pub mod broker;
pub mod candle_store;
pub mod candles;
pub mod client;
pub mod clock;
pub mod config;
pub mod fallback;
pub mod health;
pub mod hub;
pub mod instruments;
pub mod instruments_store;
pub mod lkv_store;
pub mod monitor;
pub mod persist;
pub mod price;
pub mod protocol;
pub mod rate_gate;
pub mod repeats;
pub mod runtime;
pub mod schedule;
pub mod secret;
pub mod snapshot;
pub mod status;
pub mod telemetry;
pub mod tick;
pub mod upstream;
pub mod web;
