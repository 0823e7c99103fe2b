//! Fault injection: the [`Fault`] requests of the control API and how each is applied to the
//! connections open *now* (Kite ticker and Fyers data socket alike, through their control
//! blocks; how a socket obeys is `link`'s), the token stores, the upgrade gate and the REST
//! quote gate.

use crate::error::SimError;
use crate::link::ConnControl;
use crate::registry::{bump, lock};
use crate::shared::Shared;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;
use tracing::info;

/// Longest timed fault accepted (one day).
const MAX_FAULT_SECONDS: f64 = 86_400.0;

/// A fault to inject. JSON: `{"kind":"drop"}`, `{"kind":"stall","seconds":5}`, …
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Abort every ticker and data-socket connection without a close frame (clients see 1006).
    Drop,
    /// The connections open now send (and read) nothing, heartbeats included, for `seconds`;
    /// new connections are served normally.
    Stall { seconds: f64 },
    /// Invalidate every issued access token, Kite's and Fyers': Kite WS upgrades get 403 and
    /// REST 403 TokenException; Fyers socket auth gets `N` and REST 401/−16. Open connections
    /// keep streaming, as on the real servers.
    ExpireToken,
    /// Refuse ticker and data-socket upgrades with 403 for `seconds` while REST keeps working.
    RejectWs { seconds: f64 },
    /// Send one garbage binary frame to each open connection (ticker and data socket).
    Malformed,
    /// The connections open now keep sending frames but no market data for `seconds`: Kite
    /// 1-byte heartbeats and Fyers ping frames (`00 01 0B`) every few milliseconds, while the
    /// market batches they would have carried are dropped (not queued). Replies to client
    /// requests still go out; new connections are served normally. A gateway whose watchdog
    /// counts any frame as fresh data thinks this feed is healthy.
    HeartbeatFlood { seconds: f64 },
    /// Every authorized REST quote call (Kite `/quote`, `/quote/ltp`, `/quote/ohlc`; Fyers
    /// `/data/quotes`) is answered 429 in the broker's rate-limit shape for `seconds`.
    #[serde(rename = "rest_429")]
    Rest429 { seconds: f64 },
    /// End stalls, heartbeat floods, WS rejection and REST 429s now (expired tokens stay
    /// expired).
    Clear,
}

/// The accepted request shapes, for error messages.
pub(crate) const ACCEPTED_KINDS: &str = r#"{"kind":"drop"}, {"kind":"stall","seconds":S}, {"kind":"expire_token"}, {"kind":"reject_ws","seconds":S}, {"kind":"malformed"}, {"kind":"heartbeat_flood","seconds":S}, {"kind":"rest_429","seconds":S}, {"kind":"clear"}"#;

fn duration(seconds: f64) -> Result<Duration, SimError> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_FAULT_SECONDS) {
        return Err(SimError::InvalidFault(format!(
            "seconds must be a number in (0, {MAX_FAULT_SECONDS}], got {seconds}"
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Applies `fault`.
pub(crate) fn apply(shared: &Shared, fault: Fault) -> Result<(), SimError> {
    let counters = &shared.registry.counters;
    let now = Instant::now();
    match fault {
        Fault::Drop => {
            let conns = for_each_control(shared, |control| control.kill.cancel());
            bump(&counters.drops);
            info!(
                connections = conns,
                "fault: dropping every ticker and data-socket connection"
            );
        }
        Fault::Stall { seconds } => stall(shared, now + duration(seconds)?, seconds),
        Fault::ExpireToken => {
            lock(&shared.tokens).expire_all();
            lock(&shared.fyers.tokens).revoke_all();
            bump(&counters.token_expiries);
            info!("fault: every issued access token expired (kite and fyers)");
        }
        Fault::RejectWs { seconds } => {
            *lock(&shared.reject_ws_until) = Some(now + duration(seconds)?);
            bump(&counters.reject_ws);
            info!(seconds, "fault: refusing ticker upgrades");
        }
        Fault::Malformed => {
            let conns = for_each_control(shared, |control| {
                control.order(|orders| orders.malformed += 1);
            });
            info!(
                connections = conns,
                "fault: sending a malformed frame to each ticker and data-socket connection"
            );
        }
        Fault::HeartbeatFlood { seconds } => flood(shared, now + duration(seconds)?, seconds),
        Fault::Rest429 { seconds } => {
            *lock(&shared.rest_429_until) = Some(now + duration(seconds)?);
            bump(&counters.rest_429_faults);
            info!(seconds, "fault: answering rest quote calls with 429");
        }
        Fault::Clear => clear(shared),
    }
    Ok(())
}

/// Stalls the open connections until `until` (a longer stall already in force stays).
fn stall(shared: &Shared, until: Instant, seconds: f64) {
    let conns = for_each_control(shared, |control| {
        control.order(|orders| orders.stall_until = Some(later(orders.stall_until, until)));
    });
    bump(&shared.registry.counters.stalls);
    info!(
        connections = conns,
        seconds, "fault: stalling the open ticker and data-socket connections"
    );
}

/// Floods the open connections with heartbeats until `until` (a longer flood stays).
fn flood(shared: &Shared, until: Instant, seconds: f64) {
    let conns = for_each_control(shared, |control| {
        control.order(|orders| orders.flood_until = Some(later(orders.flood_until, until)));
    });
    bump(&shared.registry.counters.heartbeat_floods);
    info!(
        connections = conns,
        seconds,
        "fault: heartbeats but no market data on the open ticker and data-socket connections"
    );
}

/// Ends every timed fault now.
fn clear(shared: &Shared) {
    *lock(&shared.reject_ws_until) = None;
    *lock(&shared.rest_429_until) = None;
    for_each_control(shared, |control| {
        control.order(|orders| {
            orders.stall_until = None;
            orders.flood_until = None;
        });
    });
    bump(&shared.registry.counters.clears);
    info!("fault: cleared");
}

/// The later of a deadline already in force and a new one.
fn later(current: Option<Instant>, new: Instant) -> Instant {
    current.map_or(new, |c| c.max(new))
}

/// Applies `f` to the control block of every open connection, Kite ticker and Fyers data
/// socket alike; returns how many there were.
fn for_each_control(shared: &Shared, f: impl Fn(&ConnControl)) -> usize {
    let kite = shared.registry.connections();
    let fyers = shared.fyers.registry.connections();
    for conn in &kite {
        f(&conn.control);
    }
    for conn in &fyers {
        f(&conn.control);
    }
    kite.len() + fyers.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_shapes() {
        let cases = [
            (json!({"kind":"drop"}), Fault::Drop),
            (
                json!({"kind":"stall","seconds":5.0}),
                Fault::Stall { seconds: 5.0 },
            ),
            (json!({"kind":"expire_token"}), Fault::ExpireToken),
            (
                json!({"kind":"reject_ws","seconds":0.5}),
                Fault::RejectWs { seconds: 0.5 },
            ),
            (json!({"kind":"malformed"}), Fault::Malformed),
            (
                json!({"kind":"heartbeat_flood","seconds":3.0}),
                Fault::HeartbeatFlood { seconds: 3.0 },
            ),
            (
                json!({"kind":"rest_429","seconds":2.5}),
                Fault::Rest429 { seconds: 2.5 },
            ),
            (json!({"kind":"clear"}), Fault::Clear),
        ];
        for (value, fault) in cases {
            assert_eq!(
                serde_json::from_value::<Fault>(value.clone()).unwrap(),
                fault
            );
            assert_eq!(
                serde_json::to_value(fault).unwrap(),
                value.clone(),
                "{value}"
            );
        }
        assert_eq!(
            serde_json::from_value::<Fault>(json!({"kind":"stall","seconds":5})).unwrap(),
            Fault::Stall { seconds: 5.0 },
            "integer seconds are accepted"
        );
        for bad in [
            json!({"kind":"nope"}),
            json!({"kind":"stall"}),
            json!({"kind":"heartbeat_flood"}),
            json!({"kind":"rest_429"}),
            json!({"kind":"rest429","seconds":1}),
            json!({}),
            json!("drop"),
        ] {
            assert!(
                serde_json::from_value::<Fault>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations_are_validated() {
        assert!(duration(1.5).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
