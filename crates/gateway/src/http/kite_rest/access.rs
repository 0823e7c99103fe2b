//! Who may read the Kite REST endpoints, answered in Kite's terms: no key or a wrong one is
//! 403 `TokenException` (pykiteconnect's session-expiry hook fires, as on Kite), a key without
//! the `read` scope 403 `PermissionException`. The caller was identified by
//! [`crate::http::access::identify`] (`Authorization: token KEY_ID:SECRET`).

use crate::http::access::Caller;
use crate::http::kite_rest::envelope::KiteFail;
use crate::model::scope::Scope;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use feedgate_kite::ErrorType;

/// Middleware: the route needs the `read` scope.
pub async fn require_read(req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>() {
        Some(c) if c.allows(Scope::Read) => next.run(req).await,
        Some(Caller::Key(p)) => {
            tracing::debug!(key_id = %p.key_id, path = req.uri().path(), "key lacks the read scope");
            KiteFail::new(
                ErrorType::PermissionException,
                "This key lacks the read scope.",
            )
            .into_response()
        }
        _ => KiteFail::token().into_response(),
    }
}

/// Whether `path` is one of the Kite REST routes (their refusals use Kite's envelope).
pub fn is_kite_path(path: &str) -> bool {
    matches!(
        path,
        "/quote" | "/quote/ltp" | "/quote/ohlc" | "/instruments"
    ) || path.starts_with("/instruments/")
}

/// The per-address wrong-key back-off on a Kite route: 429 `NetworkException`, Kite's own
/// answer to a client over a limit.
pub fn too_many_failures(wait_s: u64) -> Response {
    KiteFail::rate_limited(
        format!(
            "Too many requests: too many wrong keys from this address; try again in {wait_s} s."
        ),
        wait_s,
    )
    .into_response()
}
