//! Fyers API v3 wire protocol for feedgate: the binary data-socket (HSM) codec without I/O
//! ([`hsm`]), symbol → topic resolution ([`symbol`]), the access token ([`token`]), exact price
//! scaling ([`price`]), and the REST models plus the one part that performs I/O, the REST client
//! ([`rest`]). The spec is `protocols/fyers.md` in the shared research tree; where it leaves a
//! choice open, the module that makes the choice documents it.

/// The HSM data-socket codec: frames, records, topics and per-topic merge state.
pub mod hsm;
/// Exact price scaling (`raw / (10^precision × multiplier)`) and the `Decimal` type.
pub mod price;
/// Fyers REST models, errors, login helpers and the async client.
pub mod rest;
/// Exchange segments and their fyToken prefixes.
pub mod segment;
/// Fyers symbols, fyTokens, index names and symbol → topic resolution.
pub mod symbol;
/// The `APPID:JWT` access token and its claims.
pub mod token;

pub use price::{Decimal, Scale};
pub use segment::Segment;
pub use symbol::{FyToken, FyersSymbol};
pub use token::{AccessToken, TokenError};
