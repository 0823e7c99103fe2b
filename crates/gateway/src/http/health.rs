//! `GET /api/system/health` (always HTTP 200: the verdict is in the body) and its sections.
//! Without a key the document is only `{"priority_status": …}` (for load balancers); a key
//! without the admin scope gets it without the broker account's user id and name.

use crate::http::AppState;
use crate::http::access::{Caller, unauthorized};
use crate::model::scope::Scope;
use crate::status::health::{AuthSection, FeedSection};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use feedgate_session::MarketStatus;
use serde_json::json;

pub async fn document(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let mut doc = app.health().document();
    match caller {
        Caller::Denied => unauthorized(),
        _ if !caller.allows(Scope::Read) => {
            Json(json!({"priority_status": doc.priority_status})).into_response()
        }
        _ => {
            if !caller.allows(Scope::Admin) {
                redact(&mut doc.auth);
            }
            Json(doc).into_response()
        }
    }
}

/// The broker account's identity is for admins only.
fn redact(auth: &mut AuthSection) {
    auth.user_id = None;
    auth.user_name = None;
}

pub async fn market(State(app): State<AppState>) -> Json<MarketStatus> {
    Json(app.health().market())
}

pub async fn auth(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<AuthSection> {
    let mut section = app.health().auth();
    if !caller.allows(Scope::Admin) {
        redact(&mut section);
    }
    Json(section)
}

pub async fn feed(State(app): State<AppState>) -> Json<FeedSection> {
    Json(app.health().feed())
}
