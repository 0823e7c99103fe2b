//! A login completed on a node that does not lead: the callback's request token goes to the
//! leader, which alone exchanges it with the broker (it uses the API secret and holds the broker
//! sockets), and the callback waits, bounded, for its answer.
//!
//! Transport: a Redis list. The callback node `RPUSH`es `{id, deadline, sealed code}` on
//! `feedgate:exchange` and `BLPOP`s `feedgate:exchange:reply:<id>`; the leader `BLPOP`s
//! `feedgate:exchange` (only while it leads, and it pushes back a request it popped just as it
//! lost the lead), so each request is taken by exactly one node, unlike a pub/sub message that
//! every subscriber (or nobody, between two leaders) would get; a request waits in the list
//! through a failover and is answered by the new leader, and one whose deadline has passed is
//! dropped. Blocking pops run on their own connections, never on the shared multiplexed one.
//! The code is sealed ([`super::sealed`]) and bound to the request's id; the answer is `ok` or
//! an error text, never a token.

use super::sealed::{SealKey, aad};
use super::store::StoreError;
use super::token::Account;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, MultiplexedConnection};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The requests to the leader.
pub const EXCHANGE_KEY: &str = "feedgate:exchange";
/// How long a callback waits for the leader's answer.
pub const WAIT: Duration = Duration::from_secs(15);
/// How long an answer waits to be read.
const REPLY_TTL_MS: u64 = 60_000;

fn reply_key(id: &str) -> String {
    format!("{EXCHANGE_KEY}:reply:{id}")
}

/// What the login flow of a cluster uses in Redis: the shared connection for short requests,
/// the client for the blocking pops, and the sealing key and account.
#[derive(Clone)]
pub struct LoginLink {
    pub client: redis::Client,
    pub conn: ConnectionManager,
    pub key: SealKey,
    pub account: Account,
    /// The Redis URL, redacted, for log lines.
    pub redis: String,
    pub answer_within: Duration,
}

impl std::fmt::Debug for LoginLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLink")
            .field("account", &self.account)
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl LoginLink {
    /// One request on the shared connection, within the deadline.
    pub(super) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.answer_within, cmd.query_async(&mut conn)).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.answer_within)),
        }
    }

    /// A connection of its own for a blocking pop (no response timeout: the pop's own
    /// timeout bounds it, and the caller's deadline bounds both).
    pub(super) async fn blocking_conn(&self) -> Result<MultiplexedConnection, StoreError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.answer_within))
            .set_response_timeout(None);
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(self.answer_within, connect).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.answer_within)),
        }
    }

    /// The associated data of request `id`'s code.
    pub(super) fn code_aad(&self, id: &str) -> Vec<u8> {
        aad(&[
            EXCHANGE_KEY,
            &self.account.broker,
            &self.account.api_key,
            id,
        ])
    }
}

/// A request on the list.
#[derive(Serialize, Deserialize)]
pub(super) struct Request {
    pub id: String,
    /// The node the browser reached (for the leader's log line).
    pub from: String,
    /// Unix milliseconds after which nobody waits for the answer.
    pub deadline_ms: i64,
    /// The sealed code, hex.
    pub code: String,
}

/// The leader's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Reply {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
}

/// Why a forwarded login did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(
        "no leader answered within {} s (there may be no ingest node leading right now); start the login again in a minute",
        .0.as_secs()
    )]
    NoAnswer(Duration),
    #[error("{0}")]
    Failed(String),
    #[error(
        "cannot reach Redis to hand the login to the leader: {0}; start the login again in a minute"
    )]
    Redis(#[from] StoreError),
}

/// Hands `code` to the leader and waits up to `wait` for its answer (`node`: this node's name,
/// `now`: the wall clock, shared by every node, that dates the request).
pub async fn ask(
    link: &LoginLink,
    node: &str,
    code: &SecretString,
    now: DateTime<Utc>,
    wait: Duration,
) -> Result<(), ForwardError> {
    let id = hex::encode(rand::random::<[u8; 16]>());
    let sealed = link
        .key
        .seal(code.expose_secret().as_bytes(), &link.code_aad(&id));
    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    let request = Request {
        id: id.clone(),
        from: node.to_string(),
        deadline_ms: now.timestamp_millis().saturating_add(wait_ms),
        code: hex::encode(sealed),
    };
    let body = serde_json::to_string(&request).unwrap_or_default();
    // Listen before asking, so an answer cannot come before anyone waits for it.
    let mut waiting = link.blocking_conn().await?;
    let mut push = redis::cmd("RPUSH");
    push.arg(EXCHANGE_KEY).arg(&body);
    let _: i64 = link.query(&push).await?;
    let mut expire = redis::cmd("PEXPIRE");
    expire.arg(EXCHANGE_KEY).arg(wait_ms.saturating_mul(2));
    let _: i64 = link.query(&expire).await?;
    let mut pop = redis::cmd("BLPOP");
    pop.arg(reply_key(&id)).arg(wait.as_secs_f64());
    let got = tokio::time::timeout(wait + link.answer_within, pop.query_async(&mut waiting)).await;
    let answer: Option<(String, String)> = match got {
        Ok(r) => r.map_err(StoreError::from)?,
        Err(_) => None,
    };
    let Some((_, text)) = answer else {
        return Err(ForwardError::NoAnswer(wait));
    };
    match serde_json::from_str::<Reply>(&text) {
        Ok(Reply { ok: true, .. }) => Ok(()),
        Ok(Reply { error, .. }) => {
            Err(ForwardError::Failed(error.unwrap_or_else(|| {
                "the leader could not complete the login".into()
            })))
        }
        Err(_) => Err(ForwardError::Failed(
            "the leader's answer was not understood (do all nodes run the same feedgate version?)"
                .into(),
        )),
    }
}

/// Sends the leader's answer to request `id`.
pub(super) async fn answer(link: &LoginLink, id: &str, reply: &Reply) -> Result<(), StoreError> {
    let body = serde_json::to_string(reply).unwrap_or_default();
    let key = reply_key(id);
    let mut push = redis::cmd("RPUSH");
    push.arg(&key).arg(body);
    let _: i64 = link.query(&push).await?;
    let mut expire = redis::cmd("PEXPIRE");
    expire.arg(&key).arg(REPLY_TTL_MS);
    let _: i64 = link.query(&expire).await?;
    Ok(())
}
