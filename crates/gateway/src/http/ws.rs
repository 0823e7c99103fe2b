//! The client WebSocket endpoint (`/ws/market`, alias `/api/websocket/stream`): upgrade with
//! buffer sizes tuned for many mostly-idle clients, admit the caller (DESIGN.md §10), then
//! hand the socket to [`crate::clients::serve`].
//!
//! Admission: a key from the `Authorization` header or Kite's `?api_key=&access_token=` query
//! (checked by `http::access::identify` before the upgrade), the dashboard's session cookie,
//! or, for browsers that can set neither, a first message `{"action":"auth","key":"ID:SECRET"}`
//! within [`AUTH_TIMEOUT`]. A missing or wrong key gets `{"type":"error","code":"unauthorized"}`
//! and close 4001; a key without the `read` scope close 4003; a key at its `max_connections`
//! close 1013. A key's `max_symbols` lowers the connection's symbol cap; a key with the
//! `orders` scope (any connection with access control off) receives broker order updates.
//!
//! The socket's limits come from [`crate::clients::ClientLimits`]: inbound messages and frames
//! of at most `max_message_bytes` (64 KiB; a larger one gets an `error` and close 1009), and
//! at most `max_pending_out_bytes` held for a client that does not read (pongs included).

use crate::access::{ConnectionSlot, Presented, Principal};
use crate::clients::ClientContext;
use crate::config::AuthMode;
use crate::http::AppState;
use crate::http::access::{Caller, ClientIp};
use crate::http::peer::ConnHold;
use crate::model::read_clock::ReadClock;
use crate::model::scope::Scope;
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::FutureExt;
use futures_util::future::Either;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Initial read buffer per connection. Client requests are small (tungstenite grows the buffer
/// when a larger one arrives); its 128 KiB default would cost 128 KiB per idle client.
const READ_BUFFER: usize = 1024;
/// Outgoing bytes gathered before a socket write.
const WRITE_BUFFER: usize = 16 * 1024;
/// How long a connection without a key has to send its `auth` message.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Close codes: no or a wrong key; a key without the scope.
pub const CLOSE_UNAUTHORIZED: u16 = 4001;
pub const CLOSE_FORBIDDEN: u16 = 4003;
/// How long the last words to a refused client may take.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// Upgrades and admits. `read` (the connection's read clock) and `hold` (its place under the
/// connection caps) come from the server, which puts them in every request.
pub async fn upgrade(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    read: Option<Extension<ReadClock>>,
    hold: Option<Extension<ConnHold>>,
    ws: WebSocketUpgrade,
) -> Response {
    let read = read.map(|Extension(r)| r).unwrap_or_default();
    let ctx = app.client_context();
    let shutdown = app.shutdown();
    let tracker = app.tracker();
    sized(ws, &ctx.limits)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "client WebSocket upgrade failed"))
        .on_upgrade(move |socket| {
            // Admission is boxed and the serving future is chained with combinators rather
            // than awaited inside an `async fn` that takes the socket: such a wrapper would
            // keep its own copy of the socket and context beside the serving future's for the
            // connection's whole life (rust-lang/rust#62958), over 1 KiB per idle client.
            let admission = Box::pin(admit(socket, app, caller, ip, ctx, shutdown.clone()));
            let fut = admission.then(move |admitted| match admitted {
                Some(Admitted {
                    socket,
                    ctx,
                    slot,
                    span,
                }) => Either::Left(
                    crate::clients::serve(socket, ctx, shutdown, read)
                        // The key's slot and the connection's place under the caps are given
                        // back when the connection ends.
                        .map(move |()| drop((slot, hold)))
                        .instrument(span),
                ),
                None => Either::Right(std::future::ready(())),
            });
            // Tracked so graceful shutdown waits for every client to get its close frame.
            tracker.track_future(fut)
        })
}

/// The upgrade with the socket's buffers and limits (see the module docs), for both client
/// endpoints.
pub(crate) fn sized(
    ws: WebSocketUpgrade,
    limits: &crate::clients::ClientLimits,
) -> WebSocketUpgrade {
    let max_message = limits.max_message_bytes;
    // Tungstenite requires the bound to exceed the write buffer.
    let max_pending = limits.max_pending_out_bytes.max(2 * WRITE_BUFFER);
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(max_pending)
        .max_message_size(max_message)
        .max_frame_size(max_message)
}

/// A connection let in: its socket and context, the key's connection slot (held for the
/// connection's life) and the span that names the key in its log lines.
struct Admitted {
    socket: WebSocket,
    ctx: ClientContext,
    slot: Option<ConnectionSlot>,
    span: tracing::Span,
}

/// Finds the caller's key (see the module docs) and applies its limits; `None` once the
/// connection has been refused.
async fn admit(
    mut socket: WebSocket,
    app: AppState,
    caller: Caller,
    ip: Option<IpAddr>,
    mut ctx: ClientContext,
    shutdown: CancellationToken,
) -> Option<Admitted> {
    let principal = match caller {
        Caller::Key(p) => p,
        Caller::Denied => {
            refuse_unauthorized(socket, "wrong or unknown key").await;
            return None;
        }
        Caller::Anonymous => tokio::select! {
            p = first_message_auth(&mut socket, &app, ip) => p?,
            () = shutdown.cancelled() => return None,
        },
    };
    if !principal.scopes.allows(Scope::Read) {
        let text = error_json("forbidden", "this key lacks the read scope", &None);
        farewell(socket, Some(text), CLOSE_FORBIDDEN, "forbidden").await;
        return None;
    }
    let keys = app.access().mode == AuthMode::Keys;
    // Counted only with keys: the open mode has no per-key limit to enforce.
    let slot = if keys {
        let Some(slot) = app.access().keys.connect(&principal) else {
            let text = error_json(
                "too_many_connections",
                "this key has its max_connections open already",
                &None,
            );
            farewell(socket, Some(text), 1013, "too many connections").await;
            return None;
        };
        Some(slot)
    } else {
        None
    };
    // Order updates only with the scope (the open mode's principal holds every scope).
    ctx.order_updates = principal.scopes.allows(Scope::Orders);
    if let Some(max) = principal.max_symbols {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        ctx.limits.max_symbols = ctx.limits.max_symbols.min(max);
    }
    // The key id on every line the connection logs; with access control off, the disabled
    // span (entering it is one branch).
    let span = if keys {
        tracing::info_span!("client", key_id = %principal.key_id)
    } else {
        tracing::Span::none()
    };
    Some(Admitted {
        socket,
        ctx,
        slot,
        span,
    })
}

/// The sign-in message of a browser that cannot send headers.
#[derive(Debug, Deserialize)]
struct AuthMessage {
    action: String,
    key: Option<String>,
    #[serde(default)]
    id: Option<Value>,
}

/// Waits up to [`AUTH_TIMEOUT`] for `{"action":"auth","key":"ID:SECRET"}`; answers an `ack`
/// and returns the principal, or refuses the connection and returns `None`.
async fn first_message_auth(
    socket: &mut WebSocket,
    app: &AppState,
    ip: Option<IpAddr>,
) -> Option<Principal> {
    let deadline = tokio::time::Instant::now() + AUTH_TIMEOUT;
    let text = loop {
        match tokio::time::timeout_at(deadline, socket.recv()).await {
            Err(_) => {
                let why = "no key within 5 s: send {\"action\":\"auth\",\"key\":\"KEY_ID:SECRET\"} first, or an Authorization header";
                refuse_unauthorized_ref(socket, why).await;
                return None;
            }
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return None,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(Message::Text(t)))) => break t,
            Ok(Some(Ok(Message::Binary(_)))) => {
                refuse_unauthorized_ref(socket, "the first message must be the auth request").await;
                return None;
            }
        }
    };
    let msg = serde_json::from_str::<AuthMessage>(&text)
        .ok()
        .filter(|m| m.action == "auth");
    let (presented, id) = match msg {
        Some(m) => (m.key.as_deref().and_then(Presented::parse_pair), m.id),
        None => (None, None),
    };
    let Some(presented) = presented else {
        refuse_unauthorized_ref(
            socket,
            "a key is required: send {\"action\":\"auth\",\"key\":\"KEY_ID:SECRET\"} first",
        )
        .await;
        return None;
    };
    match app.access().check(ip, &presented) {
        Ok(p) => {
            let mut ack = json!({"type": "ack", "action": "auth", "key_id": &*p.key_id});
            if let Some(id) = id {
                ack["id"] = id;
            }
            let sent = socket.send(Message::Text(Utf8Bytes::from(ack.to_string())));
            tokio::time::timeout(FAREWELL_TIMEOUT, sent)
                .await
                .ok()?
                .ok()?;
            Some(p)
        }
        Err(Some(wait)) => {
            let why = format!("too many wrong keys from this address; try again in {wait} s");
            let text = error_json("rate_limited", &why, &id);
            send_close(socket, Some(text), 1013, "rate limited").await;
            None
        }
        Err(None) => {
            let text = error_json("unauthorized", "wrong or unknown key", &id);
            send_close(socket, Some(text), CLOSE_UNAUTHORIZED, "unauthorized").await;
            None
        }
    }
}

fn error_json(code: &str, message: &str, id: &Option<Value>) -> Utf8Bytes {
    let mut v = json!({"type": "error", "code": code, "message": message});
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    Utf8Bytes::from(v.to_string())
}

async fn refuse_unauthorized(socket: WebSocket, why: &str) {
    let text = error_json("unauthorized", why, &None);
    farewell(socket, Some(text), CLOSE_UNAUTHORIZED, "unauthorized").await;
}

async fn refuse_unauthorized_ref(socket: &mut WebSocket, why: &str) {
    let text = error_json("unauthorized", why, &None);
    send_close(socket, Some(text), CLOSE_UNAUTHORIZED, "unauthorized").await;
}

async fn farewell(mut socket: WebSocket, text: Option<Utf8Bytes>, code: u16, reason: &'static str) {
    send_close(&mut socket, text, code, reason).await;
}

/// Best effort and bounded: a client that does not read cannot hold the task.
async fn send_close(
    socket: &mut WebSocket,
    text: Option<Utf8Bytes>,
    code: u16,
    reason: &'static str,
) {
    let words = async {
        if let Some(t) = text {
            socket.send(Message::Text(t)).await?;
        }
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        socket.send(Message::Close(Some(frame))).await
    };
    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, words).await;
}
