//! The broker token shared through Redis (I/O part): every clustered node reads
//! `feedgate:token` each second and whenever its own token or its leadership changes, and acts
//! on [`super::token::decide`]: it hands a newer shared token to its auth task (which checks it,
//! uses it and writes it to its own token file), or, on the leader, writes its own token sealed
//! with the broker's documented expiry as the key's expiry.
//!
//! Followers learn of a new token by this poll rather than a pub/sub notice: one `GET` of a
//! few hundred bytes a second is nothing for Redis, needs no extra connection, and cannot miss
//! a notice sent while a node was reconnecting; a value seen before is not opened again. A
//! value that does not open (another `FEEDGATE_SECRET_KEY`) is logged once and ignored.

use super::elect::note_redis;
use super::sealed::SealKey;
use super::store::StoreError;
use super::token::{self, Account, Step, TOKEN_KEY};
use crate::model::clock::SharedClock;
use crate::model::repeats::Repeats;
use crate::store::token_file::TokenInUse;
use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Between two reads of the shared token.
pub const EVERY: Duration = Duration::from_secs(1);

/// What the token sharing works with.
pub struct TokenShareIo {
    pub conn: ConnectionManager,
    pub key: SealKey,
    pub account: Account,
    pub clock: SharedClock,
    /// The token this node's auth task uses.
    pub in_use: watch::Receiver<Option<TokenInUse>>,
    /// Hands a newer shared token to the auth task.
    pub take: mpsc::Sender<TokenInUse>,
    pub leading: watch::Receiver<bool>,
    /// The Redis URL, redacted, for log lines.
    pub redis: String,
    pub answer_within: Duration,
}

impl std::fmt::Debug for TokenShareIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenShareIo")
            .field("account", &self.account)
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

/// What the loop remembers between reads.
#[derive(Default)]
struct Seen {
    /// The last raw value read or written, and what it opened to (`None`: it did not open).
    raw: Option<Vec<u8>>,
    opened: Option<TokenInUse>,
    /// The shared value last handed to the auth task (not handed again).
    taken: Option<Vec<u8>>,
    trouble: Repeats,
}

/// Runs until `shutdown`.
pub async fn run(mut io: TokenShareIo, shutdown: CancellationToken) {
    let mut seen = Seen::default();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
            Ok(()) = io.in_use.changed() => {}
            Ok(()) = io.leading.changed() => {}
        }
        let result = round(&io, &mut seen).await;
        note_redis(&io.redis, &mut seen.trouble, result.as_ref().err());
    }
}

/// One read, and the step it calls for.
async fn round(io: &TokenShareIo, seen: &mut Seen) -> Result<(), StoreError> {
    let raw: Option<Vec<u8>> = query(io, redis::cmd("GET").arg(TOKEN_KEY)).await?;
    if raw != seen.raw {
        seen.opened = raw.as_deref().and_then(|r| open_logged(io, r));
        seen.raw = raw;
    }
    let own = io.in_use.borrow().clone();
    let leading = *io.leading.borrow();
    match token::decide(own.as_ref(), seen.opened.as_ref(), leading) {
        Step::Nothing => {}
        Step::Take(t) => {
            if seen.taken != seen.raw {
                tracing::info!(
                    redis = %io.redis,
                    "a newer broker token is in the cluster; taking it"
                );
                seen.taken.clone_from(&seen.raw);
                let _ = io.take.send(t).await;
            }
        }
        Step::Write => {
            if let Some(own) = own {
                write(io, seen, own).await?;
            }
        }
    }
    Ok(())
}

/// The leader's write: the sealed token, expiring with the broker's documented expiry.
async fn write(io: &TokenShareIo, seen: &mut Seen, own: TokenInUse) -> Result<(), StoreError> {
    let sealed = token::seal(&io.key, &io.account, &own);
    let mut cmd = redis::cmd("SET");
    cmd.arg(TOKEN_KEY).arg(&sealed);
    let left = own.expires.map(|e| (e - io.clock.now()).num_milliseconds());
    if let Some(ms) = left.filter(|ms| *ms > 0) {
        cmd.arg("PX").arg(ms);
    }
    let () = query(io, &cmd).await?;
    tracing::info!(redis = %io.redis, "shared the broker token with the cluster");
    seen.raw = Some(sealed);
    seen.opened = Some(own);
    Ok(())
}

/// Opens a value read from Redis; says once per value why it does not open.
fn open_logged(io: &TokenShareIo, raw: &[u8]) -> Option<TokenInUse> {
    match token::open(&io.key, &io.account, raw) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(
                key = TOKEN_KEY,
                error = %e,
                "ignoring the broker token shared in Redis: give every node of the cluster the same FEEDGATE_SECRET_KEY (and the same broker API key)"
            );
            None
        }
    }
}

async fn query<T: redis::FromRedisValue>(
    io: &TokenShareIo,
    cmd: &redis::Cmd,
) -> Result<T, StoreError> {
    let mut conn = io.conn.clone();
    match tokio::time::timeout(io.answer_within, cmd.query_async(&mut conn)).await {
        Ok(r) => r.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(io.answer_within)),
    }
}
