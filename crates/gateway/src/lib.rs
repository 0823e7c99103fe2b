//! feedgate's gateway: the upstream broker feed, the hub that fans ticks out to clients, the
//! client WebSocket protocol and the HTTP API. See `docs/ARCHITECTURE.md` for the layers and
//! which folder may use which.

pub mod access;
pub mod auth;
pub mod brokers;
pub mod clients;
pub mod cluster;
pub mod config;
pub mod http;
pub mod hub;
pub mod json;
pub mod kite_compat;
pub mod model;
pub mod replay;
pub mod rest;
pub mod runtime;
pub mod status;
pub mod store;
pub mod upstream;
