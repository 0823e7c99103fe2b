//! `GET /kite`: the WebSocket for apps written against Kite's official ticker clients
//! (DESIGN.md §11). `?api_key=KEY_ID&access_token=SECRET` are a feedgate key (any values with
//! access control off), read by `http::access::identify` before this handler runs.
//!
//! Refusals are HTTP answers to the upgrade, as Kite gives them, because that is what the
//! official clients report and act on: 403 for a missing or wrong key or one without the
//! `read` scope (pykiteconnect: "WebSocket connection upgrade failed (403 - Forbidden)"), 429
//! for a key at its `max_connections`. Admitted connections are served by
//! [`crate::clients::serve_kite`].

use crate::access::Principal;
use crate::config::AuthMode;
use crate::http::AppState;
use crate::http::access::Caller;
use crate::http::peer::ConnHold;
use crate::model::read_clock::ReadClock;
use crate::model::scope::Scope;
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tracing::Instrument;

/// Upgrades an admitted caller; refuses the others with Kite's status codes.
pub async fn upgrade(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    read: Option<Extension<ReadClock>>,
    hold: Option<Extension<ConnHold>>,
    ws: WebSocketUpgrade,
) -> Response {
    let principal = match admit(caller) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let keys = app.access().mode == AuthMode::Keys;
    let slot = if keys {
        match app.access().keys.connect(&principal) {
            Some(slot) => Some(slot),
            None => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    "this key has its max_connections open already",
                )
                    .into_response();
            }
        }
    } else {
        None
    };
    let read = read.map(|Extension(r)| r).unwrap_or_default();
    let mut ctx = app.client_context();
    ctx.order_updates = principal.scopes.allows(Scope::Orders);
    if let Some(max) = principal.max_symbols {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        ctx.limits.max_symbols = ctx.limits.max_symbols.min(max);
    }
    let span = if keys {
        tracing::info_span!("kite_client", key_id = %principal.key_id)
    } else {
        tracing::Span::none()
    };
    let shutdown = app.shutdown();
    let tracker = app.tracker();
    crate::http::ws::sized(ws, &ctx.limits)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "kite WebSocket upgrade failed"))
        .on_upgrade(move |socket| {
            let fut = crate::clients::serve_kite(socket, ctx, shutdown, read)
                // The key's slot and the connection's place under the caps are given back
                // when the connection ends.
                .map(move |()| drop((slot, hold)))
                .instrument(span);
            tracker.track_future(fut)
        })
}

/// The caller's principal, or Kite's refusal.
#[allow(clippy::result_large_err)]
fn admit(caller: Caller) -> Result<Principal, Response> {
    let forbidden = |why: &'static str| (StatusCode::FORBIDDEN, why).into_response();
    // With access control off, `identify` makes everyone a key with every scope.
    match caller {
        Caller::Key(p) if p.scopes.allows(Scope::Read) => Ok(p),
        Caller::Key(_) => Err(forbidden("this key lacks the read scope")),
        Caller::Denied => Err(forbidden("wrong or unknown key")),
        Caller::Anonymous => Err(forbidden(
            "a key is required: ?api_key=KEY_ID&access_token=SECRET",
        )),
    }
}
