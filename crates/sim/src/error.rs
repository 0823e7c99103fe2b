//! The simulator's error type at its library boundary.

use thiserror::Error;

/// Why the simulator could not start or apply a control request.
#[derive(Debug, Error)]
pub enum SimError {
    /// A [`crate::SimConfig`] field is out of range; the message names it and what is expected.
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// The listener given to [`crate::Sim::start`] has no local address.
    #[error("cannot read the listener's local address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// A fault request is malformed (e.g. a negative duration); the message says what is valid.
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    /// An order request names an unknown field or instrument or has a value of the wrong
    /// type; the message says which.
    #[error("invalid order: {0}")]
    InvalidOrder(String),
}
