//! The watch channels the status-bearing tasks talk through. They are made before any task
//! starts, because readers (the hub, upstream, clients) start before some writers (the
//! monitor, the fallback loop); each sender goes to the one task that publishes it.

use crate::auth::AuthState;
use crate::model::gauges::Gauges;
use crate::model::live::FeedLive;
use crate::model::secret::CurrentToken;
use crate::status::view::ClientStatus;
use std::sync::Arc;
use tokio::sync::watch;

/// Every channel, split by who holds which end.
#[derive(Debug)]
pub(super) struct Links {
    pub(super) reads: StatusReads,
    pub(super) monitor: MonitorSenders,
    pub(super) auth: AuthSenders,
    /// Whether the REST fallback is polling; published by the fallback loop.
    pub(super) fallback: watch::Sender<bool>,
}

/// The reading ends (never polled here: a clone starts from the first value).
#[derive(Debug, Clone)]
pub(super) struct StatusReads {
    pub(super) gauges: Arc<Gauges>,
    pub(super) feed_live: watch::Receiver<FeedLive>,
    pub(super) status: watch::Receiver<ClientStatus>,
    pub(super) quality: watch::Receiver<f64>,
    pub(super) fallback: watch::Receiver<bool>,
    pub(super) auth_state: watch::Receiver<AuthState>,
    pub(super) token: watch::Receiver<Option<CurrentToken>>,
}

/// What the status monitor publishes.
#[derive(Debug)]
pub(super) struct MonitorSenders {
    pub(super) status: watch::Sender<ClientStatus>,
    pub(super) feed_live: watch::Sender<FeedLive>,
    pub(super) quality: watch::Sender<f64>,
}

/// What the auth task publishes.
#[derive(Debug)]
pub(super) struct AuthSenders {
    pub(super) token: watch::Sender<Option<CurrentToken>>,
    pub(super) state: watch::Sender<AuthState>,
}

impl Links {
    pub(super) fn new() -> Self {
        let (feed_live_tx, feed_live) = watch::channel(FeedLive::DOWN);
        let (status_tx, status) = watch::channel(ClientStatus::starting());
        let (quality_tx, quality) = watch::channel(100.0);
        let (fallback_tx, fallback) = watch::channel(false);
        // Until the auth task has looked at the token, say it is being checked.
        let (auth_state_tx, auth_state) = watch::channel(AuthState::Refreshing);
        let (token_tx, token) = watch::channel(None);
        Self {
            reads: StatusReads {
                gauges: Arc::new(Gauges::default()),
                feed_live,
                status,
                quality,
                fallback,
                auth_state,
                token,
            },
            monitor: MonitorSenders {
                status: status_tx,
                feed_live: feed_live_tx,
                quality: quality_tx,
            },
            auth: AuthSenders {
                token: token_tx,
                state: auth_state_tx,
            },
            fallback: fallback_tx,
        }
    }
}
