//! Access control on HTTP (DESIGN.md §10): who the caller is ([`identify`], a middleware that
//! reads a key from the `Authorization` header, the WebSocket's Kite-style query or the
//! dashboard's session cookie, and applies the per-address back-off), and what a route needs
//! ([`require`]). Missing or wrong keys get the same 401, never a hint whether the id exists.

use crate::access::failures::{Failure, FailureGate};
use crate::access::origins::OriginPolicy;
use crate::access::sessions::Sessions;
use crate::access::shared::{self, Lookup, SharedSessions};
use crate::access::{KeyRing, Presented, Principal};
use crate::config::AuthMode;
use crate::http::peer::ClientAddr;
use crate::http::{AppState, kite_rest};
use crate::model::scope::Scope;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::time::Instant;

/// Refused login callbacks an address may send before it must wait.
const CALLBACK_FREE_FAILURES: u32 = 10;

/// The access side of the application state.
#[derive(Debug)]
pub struct AccessState {
    pub mode: AuthMode,
    pub keys: KeyRing,
    pub failures: FailureGate,
    pub sessions: Sessions,
    pub origins: OriginPolicy,
    /// Everyone, when access control is off (made once: cloning it shares its id).
    pub open: Principal,
    /// Per-address back-off on refused login callbacks (separate from keys: a stale tab's
    /// callback is no key guess).
    pub callback_failures: FailureGate,
    /// Held while a request token is exchanged: one exchange at a time.
    pub exchange: tokio::sync::Mutex<()>,
    /// Refused callbacks: the first of each kind is logged, the rest counted.
    pub bad_callbacks: std::sync::Mutex<crate::model::repeats::Repeats>,
    /// Browsers reach feedgate over https (`FEEDGATE_PUBLIC_URL`): cookies get `Secure`.
    pub secure_cookies: bool,
    /// The sessions every node of a cluster reads (none for role `all`).
    pub shared: Option<Arc<dyn SharedSessions>>,
}

impl AccessState {
    pub fn new(mode: AuthMode, keys: KeyRing, public_url: &str, allowed: &[String]) -> Self {
        Self {
            origins: OriginPolicy::new(public_url, allowed),
            open: Principal::open(),
            callback_failures: FailureGate::new(CALLBACK_FREE_FAILURES),
            exchange: tokio::sync::Mutex::new(()),
            bad_callbacks: std::sync::Mutex::default(),
            mode,
            keys,
            failures: FailureGate::default(),
            sessions: Sessions::default(),
            secure_cookies: public_url.starts_with("https://"),
            shared: None,
        }
    }

    /// Shares the dashboard sessions with the other nodes of a cluster.
    pub fn with_shared(mut self, shared: Arc<dyn SharedSessions>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Checks a presented key for a caller at `ip`, counting failures against the address.
    /// `Err(Some(wait))` while the address is shut out, `Err(None)` for a bad key.
    pub fn check(&self, ip: Option<IpAddr>, p: &Presented) -> Result<Principal, Option<u64>> {
        let now = Instant::now();
        if let Some(ip) = ip
            && let Err(wait) = self.failures.check(ip, now)
        {
            return Err(Some(wait.as_secs().max(1)));
        }
        if let Some(principal) = self.keys.verify(p) {
            if let Some(ip) = ip {
                self.failures.succeeded(ip);
            }
            return Ok(principal);
        }
        let Some(ip) = ip else {
            return Err(None);
        };
        match self.failures.failed(ip, now) {
            Failure::First => {
                tracing::warn!(client_ip = %ip, key_id = %p.id, "a request with a wrong or unknown key was refused");
            }
            Failure::Again(n) => {
                tracing::debug!(client_ip = %ip, key_id = %p.id, failures = n, "wrong or unknown key");
            }
            Failure::Blocked { failures, wait } => tracing::warn!(
                client_ip = %ip,
                failures,
                wait_s = wait.as_secs(),
                "repeated wrong keys from one address; refusing its key checks for a while"
            ),
        }
        Err(None)
    }
}

/// Who made a request, as [`identify`] found it (a request extension).
#[derive(Debug, Clone)]
pub enum Caller {
    /// No credential presented.
    Anonymous,
    /// A valid key (or anyone, when access control is off).
    Key(Principal),
    /// A credential was presented and is wrong.
    Denied,
}

impl Caller {
    pub fn allows(&self, scope: Scope) -> bool {
        matches!(self, Caller::Key(p) if p.scopes.allows(scope))
    }
}

/// The caller's address as [`client_ip`] found it (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// The address a request came from: the client behind a trusted proxy, else the TCP peer
/// (the server puts a [`ClientAddr`] in every request; a router served another way may carry
/// axum's `ConnectInfo`). The one place that decides it.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    if let Some(addr) = req.extensions().get::<ClientAddr>() {
        return Some(addr.ip);
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// Finds the caller and stores a [`Caller`] in the request. An address shut out by the
/// back-off gets 429 for any credential it presents.
pub async fn identify(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let access = app.access();
    let caller = if access.mode == AuthMode::Off {
        Caller::Key(access.open.clone())
    } else {
        match presented(&req) {
            Found::Nothing => {
                session_caller(access, crate::http::cookies::cookie_id(req.headers())).await
            }
            Found::Malformed => Caller::Denied,
            Found::Key(p) => match access.check(client_ip(&req), &p) {
                Ok(principal) => Caller::Key(principal),
                Err(Some(wait)) if kite_rest::access::is_kite_path(req.uri().path()) => {
                    return kite_rest::access::too_many_failures(wait);
                }
                Err(Some(wait)) => return too_many_failures(wait),
                Err(None) => Caller::Denied,
            },
        }
    };
    let ip = ClientIp(client_ip(&req));
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(ip);
    next.run(req).await
}

async fn session_caller(access: &AccessState, id: Option<String>) -> Caller {
    let Some(id) = id else {
        return Caller::Anonymous;
    };
    if let Some(shared) = &access.shared {
        shared_session(access, shared.as_ref(), &id).await;
    }
    access
        .sessions
        .principal(&id, Instant::now())
        .map_or(Caller::Anonymous, Caller::Key)
}

/// Brings this node's table in line with the cluster's for session `id` (see
/// [`crate::access::shared`]): adopts one signed in elsewhere, drops one signed out
/// elsewhere, writes back one only this node knows.
async fn shared_session(access: &AccessState, shared: &dyn SharedSessions, id: &str) {
    let digest = shared::digest(id);
    let now = Instant::now();
    match shared.get(digest.clone()).await {
        Lookup::Found { key_id, ttl } => match access.keys.principal_of(&key_id) {
            Some(p) => access.sessions.adopt(id, p, ttl, now),
            None => access.sessions.remove(id),
        },
        Lookup::SignedOut => access.sessions.remove(id),
        Lookup::Absent => {
            if let (Some(p), Some(ttl)) = (
                access.sessions.principal(id, now),
                access.sessions.remaining(id, now),
            ) {
                shared.put(digest, p.key_id, ttl).await;
            }
        }
        Lookup::Unavailable => {}
    }
}

enum Found {
    Nothing,
    Malformed,
    Key(Presented),
}

/// The key a request presents: the `Authorization` header, else (on the WebSocket paths)
/// Kite's `?api_key=ID&access_token=SECRET`.
fn presented(req: &Request) -> Found {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        return v
            .to_str()
            .ok()
            .and_then(Presented::from_authorization)
            .map_or(Found::Malformed, Found::Key);
    }
    let ws = matches!(
        req.uri().path(),
        "/ws/market" | "/api/websocket/stream" | "/kite" | "/kite/"
    );
    let Some(query) = req.uri().query().filter(|_| ws) else {
        return Found::Nothing;
    };
    let (mut id, mut secret) = (None, None);
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "api_key" => id = Some(v),
            "access_token" => secret = Some(v),
            _ => {}
        }
    }
    match (id, secret) {
        (None, None) => Found::Nothing,
        (Some(id), Some(secret)) => {
            Presented::from_parts(&id, &secret).map_or(Found::Malformed, Found::Key)
        }
        _ => Found::Malformed,
    }
}

/// Middleware: the route needs `scope`. No key or a wrong one: 401; a key without the scope:
/// 403.
pub async fn require(scope: Scope, req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>() {
        Some(c) if c.allows(scope) => next.run(req).await,
        Some(Caller::Key(p)) => {
            tracing::debug!(key_id = %p.key_id, scope = scope.as_str(), path = req.uri().path(), "key lacks the scope");
            forbidden(scope)
        }
        _ => unauthorized(),
    }
}

/// The one answer to a missing or wrong key.
pub fn unauthorized() -> Response {
    let body = json!({"error": {"code": "unauthorized",
        "message": "a valid feedgate key is required: send Authorization: Bearer KEY_ID:SECRET"}});
    let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"feedgate\""),
    );
    r
}

fn forbidden(scope: Scope) -> Response {
    let body = json!({"error": {"code": "forbidden",
        "message": format!("this key lacks the {} scope", scope.as_str())}});
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

pub fn too_many_failures(wait_s: u64) -> Response {
    let body = json!({"error": {"code": "rate_limited",
        "message": format!("too many wrong keys from this address; try again in {wait_s} s")}});
    let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&wait_s.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}
