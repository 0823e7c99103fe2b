//! The leader's side of logins completed on other nodes ([`super::forward`]): while this node
//! leads it pops forwarded request tokens from Redis, opens them, hands each to the login
//! exchange (the broker call and the auth task, wired by the runtime) and sends back `ok` or
//! the error text.

use super::elect::note_redis;
use super::forward::{EXCHANGE_KEY, LoginLink, Reply, Request, answer};
use super::store::StoreError;
use crate::model::clock::SharedClock;
use crate::model::repeats::Repeats;
use redis::aio::MultiplexedConnection;
use secrecy::SecretString;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// How long one pop blocks (leadership and shutdown are looked at in between).
const POP: Duration = Duration::from_secs(1);

/// A forwarded login for the exchange: the code and where its answer goes.
#[derive(Debug)]
pub struct Exchange {
    pub code: SecretString,
    /// The node the browser reached.
    pub from: String,
    /// `Err`: the text the callback's error page shows.
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// What the leader's side works with.
#[derive(Debug)]
pub struct ExchangeIo {
    pub link: LoginLink,
    pub leading: watch::Receiver<bool>,
    pub clock: SharedClock,
    pub exchanges: mpsc::Sender<Exchange>,
}

/// Runs until `shutdown`.
pub async fn serve(mut io: ExchangeIo, shutdown: CancellationToken) {
    let mut trouble = Repeats::default();
    let mut conn: Option<MultiplexedConnection> = None;
    loop {
        if !*io.leading.borrow_and_update() {
            conn = None;
            tokio::select! {
                () = shutdown.cancelled() => return,
                r = io.leading.changed() => if r.is_err() { shutdown.cancelled().await; return },
            }
            continue;
        }
        let popped = tokio::select! {
            () = shutdown.cancelled() => return,
            r = pop(&io.link, &mut conn) => r,
        };
        note_redis(&io.link.redis, &mut trouble, popped.as_ref().err());
        match popped {
            Ok(Some(text)) => handle(&io, text).await,
            Ok(None) => {}
            Err(_) => {
                conn = None;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(POP) => {}
                }
            }
        }
    }
}

/// One blocking pop of a request, on this side's own connection.
async fn pop(
    link: &LoginLink,
    conn: &mut Option<MultiplexedConnection>,
) -> Result<Option<String>, StoreError> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(link.blocking_conn().await?),
    };
    let mut cmd = redis::cmd("BLPOP");
    cmd.arg(EXCHANGE_KEY).arg(POP.as_secs_f64());
    let within = POP + link.answer_within;
    match tokio::time::timeout(within, cmd.query_async::<Option<(String, String)>>(c)).await {
        Ok(r) => Ok(r?.map(|(_, v)| v)),
        Err(_) => Err(StoreError::Timeout(within)),
    }
}

/// A popped request: pushed back if this node no longer leads, dropped if its callback no
/// longer waits, else exchanged and answered.
async fn handle(io: &ExchangeIo, text: String) {
    if !*io.leading.borrow() {
        let mut back = redis::cmd("LPUSH");
        back.arg(EXCHANGE_KEY).arg(&text);
        if let Err(e) = io.link.query::<i64>(&back).await {
            tracing::warn!(error = %e, "lost the lead holding a forwarded login, and could not put it back; the login must be started again");
        }
        return;
    }
    let Ok(req) = serde_json::from_str::<Request>(&text) else {
        tracing::warn!(
            key = EXCHANGE_KEY,
            "ignoring a forwarded login that is not understood (do all nodes run the same feedgate version?)"
        );
        return;
    };
    let left_ms = req.deadline_ms - io.clock.now().timestamp_millis();
    let Some(left) = u64::try_from(left_ms).ok().map(Duration::from_millis) else {
        tracing::info!(from = %req.from, "dropped a forwarded login whose callback stopped waiting");
        return;
    };
    let reply = match open_code(&io.link, &req) {
        None => Reply {
            ok: false,
            error: Some("the leader could not open the login code: every node of the cluster needs the same FEEDGATE_SECRET_KEY".into()),
        },
        Some(code) => exchange(io, code, req.from.clone(), left).await,
    };
    tracing::info!(from = %req.from, ok = reply.ok, "answered a login forwarded by another node");
    if let Err(e) = answer(&io.link, &req.id, &reply).await {
        tracing::warn!(from = %req.from, error = %e, "cannot send the answer to a forwarded login");
    }
}

fn open_code(link: &LoginLink, req: &Request) -> Option<SecretString> {
    let sealed = hex::decode(&req.code).ok()?;
    let plain = link.key.open(&sealed, &link.code_aad(&req.id)).ok()?;
    String::from_utf8(plain).ok().map(SecretString::from)
}

/// Runs the exchange, within what is left of the callback's wait.
async fn exchange(io: &ExchangeIo, code: SecretString, from: String, left: Duration) -> Reply {
    let (tx, rx) = oneshot::channel();
    let sent = io.exchanges.send(Exchange {
        code,
        from,
        reply: tx,
    });
    let done = tokio::time::timeout(left, async {
        sent.await.ok()?;
        rx.await.ok()
    })
    .await;
    match done {
        Ok(Some(Ok(()))) => Reply {
            ok: true,
            error: None,
        },
        Ok(Some(Err(text))) => Reply {
            ok: false,
            error: Some(text),
        },
        Ok(None) => Reply {
            ok: false,
            error: Some("the leader is shutting down; start the login again in a minute".into()),
        },
        Err(_) => Reply {
            ok: false,
            error: Some("the leader did not finish the login in time; start it again".into()),
        },
    }
}
