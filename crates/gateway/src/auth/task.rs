//! The auth task: owns the [`Auth`] machine and the token store, validates tokens with the
//! broker, publishes the current token to the upstream, hot-reloads the token file, and takes
//! new tokens from the login callback. One clear log line per state change.
//!
//! The token file is followed by its *content*: a token is taken from it only when the file
//! holds a token other than the one last read from it or written to it, so a file token that
//! lost to `ZERODHA_ACCESS_TOKEN`/`FYERS_ACCESS_TOKEN` at start, or a file a failed save left
//! behind, never replaces the token in use.

use crate::auth::login::LoginStates;
use crate::auth::machine::{Auth, AuthAction, AuthEvent, AuthState, TokenOrigin};
use crate::brokers::{BrokerApi, BrokerError, SessionGrant};
use crate::model::clock::SharedClock;
use crate::model::secret::{CurrentToken, same_secret};
use crate::store::token_file::{
    FileFingerprint, StoreError, StoredToken, TokenInUse, TokenStore, Verdict,
};
use crate::upstream::FeedEvent;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long the answer to `POST /api/system/health/auth/verify` is reused: each check is a
/// broker round trip (up to 7 s) on the one auth task, so a flood of requests must not queue
/// broker calls ahead of a login.
pub const VERIFY_CACHE: Duration = Duration::from_secs(2);

/// Settings of the auth task.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// A token from the environment (`ZERODHA_ACCESS_TOKEN` or `FYERS_ACCESS_TOKEN`), if any.
    pub env_token: Option<SecretString>,
    pub store: TokenStore,
    /// Absolute URL of `/api/login`, for messages to people.
    pub login_url: String,
    /// How often the token file is checked for changes.
    pub file_poll: Duration,
}

/// What health and the dashboard show about auth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthView {
    pub state: AuthState,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub origin: Option<TokenOrigin>,
    pub issued_at: Option<DateTime<Utc>>,
    /// The broker's documented expiry (a hint: the broker decides).
    pub expiry_hint: Option<DateTime<Utc>>,
    pub failures: u32,
    pub last_error: Option<String>,
    pub login_url: String,
}

/// The answer to `POST /api/system/health/auth/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyResult {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why the auth task could not take a request. A login token that cannot be saved is not one:
/// it is used anyway (and the failure logged), since the person has just logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The task has stopped: feedgate is shutting down.
    #[error("feedgate is shutting down")]
    ShuttingDown,
}

enum Command {
    Verify(oneshot::Sender<VerifyResult>),
    /// A REST call with this token epoch got an auth error.
    Rejected(u64),
    /// A login's token; answered once it is saved and in use (before the broker's check).
    Grant(SessionGrant, oneshot::Sender<()>),
}

/// Handle for HTTP handlers and the scheduler.
#[derive(Debug, Clone)]
pub struct AuthHandle {
    commands: mpsc::Sender<Command>,
    pub view: watch::Receiver<AuthView>,
    pub logins: Arc<LoginStates>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Verify(_) => "Verify",
            Self::Rejected(_) => "Rejected",
            Self::Grant(..) => "Grant",
        })
    }
}

impl AuthHandle {
    /// Validates the current token against the broker now.
    pub async fn verify(&self) -> VerifyResult {
        let (tx, rx) = oneshot::channel();
        let stopped = VerifyResult {
            valid: false,
            user_id: None,
            user_name: None,
            error: Some(AuthError::ShuttingDown.to_string()),
        };
        if self.commands.send(Command::Verify(tx)).await.is_err() {
            return stopped;
        }
        rx.await.unwrap_or(stopped)
    }

    /// Reports that the broker rejected the token of `epoch` on a REST call.
    pub async fn report_rejected(&self, epoch: u64) {
        let _ = self.commands.send(Command::Rejected(epoch)).await;
    }

    /// Stores a token obtained by the login flow and switches the feed to it. Returns once the
    /// token is saved and published; the broker's check of it (health's `refreshing` → `valid`)
    /// follows.
    pub async fn store_grant(&self, grant: SessionGrant) -> Result<(), AuthError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Grant(grant, tx))
            .await
            .map_err(|_| AuthError::ShuttingDown)?;
        rx.await.map_err(|_| AuthError::ShuttingDown)
    }
}

/// Channels the task publishes to and listens on.
#[derive(Debug)]
pub struct AuthIo {
    pub broker: Arc<dyn BrokerApi>,
    pub clock: SharedClock,
    pub token: watch::Sender<Option<CurrentToken>>,
    pub state: watch::Sender<AuthState>,
    /// Upstream lifecycle events (rejections, connections); `None` when there is no upstream.
    pub feed_events: Option<broadcast::Receiver<FeedEvent>>,
    pub pre_market: mpsc::Receiver<()>,
    /// In a cluster: where the task says which token it uses, and where a newer token shared
    /// by the leader comes in (`None` for role `all`).
    pub shared: Option<SharedToken>,
}

/// The auth task's side of the cluster's token sharing.
#[derive(Debug)]
pub struct SharedToken {
    pub in_use: watch::Sender<Option<TokenInUse>>,
    pub take: mpsc::Receiver<TokenInUse>,
}

/// Starts the task; returns its handle.
pub fn spawn(
    cfg: AuthConfig,
    io: AuthIo,
    shutdown: CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) -> AuthHandle {
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let view = AuthView {
        state: AuthState::Required,
        user_id: None,
        user_name: None,
        origin: None,
        issued_at: None,
        expiry_hint: None,
        failures: 0,
        last_error: None,
        login_url: cfg.login_url.clone(),
    };
    let (view_tx, view_rx) = watch::channel(view);
    let task = Task {
        cfg,
        io,
        machine: Auth::default(),
        view: view_tx,
        epoch: 0,
        current: None,
        since: None,
        file_token: None,
        fingerprint: None,
        epoch_refused: false,
        last_verify: None,
    };
    tracker.spawn(task.run(cmd_rx, shutdown));
    AuthHandle {
        commands: cmd_tx,
        view: view_rx,
        logins: Arc::new(LoginStates::default()),
    }
}

struct Task {
    cfg: AuthConfig,
    io: AuthIo,
    machine: Auth,
    view: watch::Sender<AuthView>,
    epoch: u64,
    current: Option<StoredToken>,
    /// How recent the current token is (see [`TokenInUse::since`]).
    since: Option<DateTime<Utc>>,
    /// The token the file held when we last read or wrote it: the file only counts as changed
    /// when it holds something else.
    file_token: Option<SecretString>,
    /// The file's fingerprint when last looked at, to report an unreadable file once per change.
    fingerprint: Option<FileFingerprint>,
    /// The current epoch was refused (the upstream's socket, a fallback or a closed-hours quote
    /// call): whoever saw it waits for a new epoch, so a token found good again is republished.
    epoch_refused: bool,
    /// The last on-demand verification: when, for which epoch and state, and its answer.
    last_verify: Option<(Instant, u64, AuthState, VerifyResult)>,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        self.start().await;
        let mut events = self.io.feed_events.take();
        let mut poll = tokio::time::interval(self.cfg.file_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let hint = self
                .view
                .borrow()
                .expiry_hint
                .filter(|h| *h > self.io.clock.now());
            let hint_sleep = hint.and_then(|h| (h - self.io.clock.now()).to_std().ok());
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    Some(Command::Verify(reply)) => {
                        let r = self.verify_on_demand().await;
                        let _ = reply.send(r);
                    }
                    Some(Command::Rejected(epoch)) if epoch == self.epoch => {
                        self.epoch_refused = true;
                        self.apply(AuthEvent::Rejected, Some("the broker rejected the token on a REST call".into()));
                    }
                    Some(Command::Rejected(_)) => {}
                    Some(Command::Grant(grant, installed)) => self.accept_grant(grant, installed).await,
                    None => break,
                },
                ev = recv_event(&mut events) => match ev {
                    Ok(FeedEvent::AuthRejected { token_epoch, .. }) if token_epoch == self.epoch => {
                        self.epoch_refused = true;
                        self.apply(AuthEvent::Rejected, Some("the broker refused the WebSocket with this token".into()));
                    }
                    // Only a connection made with the current token proves it works; one made
                    // with an older token may be reported after a new one was installed.
                    Ok(FeedEvent::Connected { token_epoch, .. }) if token_epoch == self.epoch => {
                        self.apply(AuthEvent::FeedWorking, None);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        // The upstream is gone (shutdown); keep serving verify/login.
                        events = None;
                    }
                },
                Some(t) = recv_shared(&mut self.io.shared) => self.take_shared(t).await,
                Some(()) = self.io.pre_market.recv() => {
                    let actions = self.machine.on(AuthEvent::PreMarketCheck);
                    self.perform(actions).await;
                }
                _ = poll.tick() => self.poll_file().await,
                () = sleep_opt(hint_sleep) => {
                    tracing::info!("the broker's documented token expiry has passed; re-validating");
                    self.view.send_modify(|s| s.expiry_hint = None);
                    let actions = self.machine.on(AuthEvent::ExpiryHintPassed);
                    self.perform(actions).await;
                }
            }
        }
    }

    /// Starts from the token file (written by our own login flow or dropped in by the user) or
    /// the environment's token, whichever [`Task::choose_start_token`] picks.
    async fn start(&mut self) {
        // Only the token file's own leftovers: other stores may be writing in the same directory.
        let swept = self.cfg.store.sweep_leftovers();
        if swept > 0 {
            tracing::info!(
                files = swept,
                path = %self.cfg.store.path().display(),
                "removed temp files an interrupted write left next to the token file"
            );
        }
        self.fingerprint = self.cfg.store.fingerprint();
        let file = match self.cfg.store.load() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the token file");
                None
            }
        };
        self.file_token = file.as_ref().map(|f| f.token.clone());
        match self.choose_start_token(file).await {
            None => {
                tracing::warn!(
                    login_url = %self.cfg.login_url,
                    "no access token configured; log in at {} to start the feed", self.cfg.login_url
                );
                self.apply(AuthEvent::NoToken, None);
                self.publish_view();
            }
            Some((t, origin)) => self.install(t, origin, None).await,
        }
    }

    /// When both the file and the environment hold a token and they differ, the file wins if
    /// the broker accepts it, because it is the more recent login; otherwise the environment
    /// token is used and written to the file, so the file holds the token in use (`feedgate
    /// check` and the next start see the same choice).
    async fn choose_start_token(
        &mut self,
        file: Option<StoredToken>,
    ) -> Option<(StoredToken, TokenOrigin)> {
        let env = self.cfg.env_token.clone().map(|token| StoredToken {
            token,
            user_id: None,
            issued_at: None,
        });
        match (file, env) {
            (None, None) => None,
            (Some(f), None) => Some((f, TokenOrigin::TokenFile)),
            (None, Some(e)) => Some((e, TokenOrigin::Environment)),
            (Some(f), Some(e)) if same_secret(&f.token, &e.token) => {
                Some((f, TokenOrigin::TokenFile))
            }
            (Some(f), Some(e)) => match self.io.broker.profile(f.token.clone()).await {
                Ok(_) => Some((f, TokenOrigin::TokenFile)),
                Err(err) if err.is_auth() => {
                    tracing::info!(
                        path = %self.cfg.store.path().display(),
                        "the token file holds a rejected token; using the access token from the environment and saving it to the file"
                    );
                    if let Err(err) = self.write_file(&e).await {
                        tracing::warn!(error = %err, "cannot save the environment's access token to the token file; using it anyway");
                    }
                    Some((e, TokenOrigin::Environment))
                }
                Err(_) => Some((f, TokenOrigin::TokenFile)),
            },
        }
    }

    /// Makes `t` the current token, publishes it to the upstream and validates it. `since`:
    /// how recent it is, when known better than by its issue time or now.
    async fn install(&mut self, t: StoredToken, origin: TokenOrigin, since: Option<DateTime<Utc>>) {
        let actions = self.put_in_use(t, origin, since);
        self.perform(actions).await;
    }

    /// Makes `t` the current token and publishes it to the upstream and to health
    /// (`refreshing`); returns the actions that validate it.
    fn put_in_use(
        &mut self,
        t: StoredToken,
        origin: TokenOrigin,
        since: Option<DateTime<Utc>>,
    ) -> Vec<AuthAction> {
        self.since = Some(since.or(t.issued_at).unwrap_or_else(|| self.io.clock.now()));
        self.epoch += 1;
        let current = CurrentToken {
            epoch: self.epoch,
            token: t.token.clone(),
        };
        let hint = self.io.broker.expiry_hint(&t.token, t.issued_at);
        self.view.send_modify(|s| {
            s.user_id = t.user_id.clone();
            s.user_name = None;
            s.issued_at = t.issued_at;
            s.expiry_hint = hint;
            s.last_error = None;
        });
        self.current = Some(t);
        self.epoch_refused = false;
        self.last_verify = None;
        self.io.token.send_replace(Some(current));
        tracing::info!(origin = ?origin, "access token loaded");
        let actions = self.machine.on(AuthEvent::TokenStored { origin });
        self.publish_view();
        actions
    }

    fn apply(&mut self, event: AuthEvent, error: Option<String>) {
        let actions = self.machine.on(event);
        if let Some(e) = error {
            self.view.send_modify(|s| s.last_error = Some(e));
        }
        for a in actions {
            self.announce(&a);
        }
        self.republish_if_valid();
        self.publish_view();
    }

    /// Nobody uses a token epoch they saw refused (the upstream, the fallback, the closed-hours quotes).
    /// When the broker accepts that same token again (a check after a transient or
    /// misclassified refusal), publish it under a new epoch so they resume.
    fn republish_if_valid(&mut self) {
        if !self.epoch_refused || self.machine.state != AuthState::Valid {
            return;
        }
        let Some(t) = &self.current else { return };
        self.epoch_refused = false;
        self.epoch += 1;
        self.io.token.send_replace(Some(CurrentToken {
            epoch: self.epoch,
            token: t.token.clone(),
        }));
    }

    /// Writes `t` to the token file and remembers it as the file's content. On failure the file
    /// keeps its old content, which the poll does not take back: it has not changed since it was
    /// read.
    async fn write_file(&mut self, t: &StoredToken) -> Result<(), StoreError> {
        self.fingerprint = save_off_thread(&self.cfg.store, t).await?;
        self.file_token = Some(t.token.clone());
        Ok(())
    }

    fn announce(&self, a: &AuthAction) {
        match a {
            AuthAction::AnnounceLoginRequired => tracing::warn!(
                login_url = %self.cfg.login_url,
                "access token rejected by {}; log in at {}",
                self.io.broker.name(),
                self.cfg.login_url
            ),
            AuthAction::AnnounceValid => {
                tracing::info!("access token accepted again; feed resuming")
            }
            AuthAction::Validate => {}
        }
    }

    async fn perform(&mut self, actions: Vec<AuthAction>) {
        for a in actions {
            if a == AuthAction::Validate {
                self.verify().await;
            } else {
                self.announce(&a);
            }
        }
        self.publish_view();
    }

    async fn verify(&mut self) -> VerifyResult {
        let Some(t) = self.current.clone() else {
            return VerifyResult {
                valid: false,
                user_id: None,
                user_name: None,
                error: Some(format!("no access token; log in at {}", self.cfg.login_url)),
            };
        };
        let res = self.io.broker.profile(t.token.clone()).await;
        let (event, result) = match res {
            Ok(p) => {
                self.view.send_modify(|s| {
                    s.user_id = Some(p.user_id.clone());
                    s.user_name = Some(p.user_name.clone());
                    s.last_error = None;
                });
                (
                    AuthEvent::Validated,
                    VerifyResult {
                        valid: true,
                        user_id: Some(p.user_id),
                        user_name: Some(p.user_name),
                        error: None,
                    },
                )
            }
            Err(e) => {
                let msg = describe(&e, &self.cfg.login_url);
                self.view.send_modify(|s| s.last_error = Some(msg.clone()));
                let ev = if e.is_auth() {
                    AuthEvent::Rejected
                } else {
                    AuthEvent::CheckFailed
                };
                (
                    ev,
                    VerifyResult {
                        valid: false,
                        user_id: None,
                        user_name: None,
                        error: Some(msg),
                    },
                )
            }
        };
        let actions = self.machine.on(event);
        for a in &actions {
            self.announce(a);
        }
        self.republish_if_valid();
        self.publish_view();
        result
    }

    /// `POST /api/system/health/auth/verify`: a broker check, unless one for the same token and
    /// state was made less than [`VERIFY_CACHE`] ago, whose answer is reused.
    async fn verify_on_demand(&mut self) -> VerifyResult {
        if let Some((at, epoch, state, r)) = &self.last_verify
            && at.elapsed() < VERIFY_CACHE
            && *epoch == self.epoch
            && *state == self.machine.state
        {
            return r.clone();
        }
        let r = self.verify().await;
        self.last_verify = Some((Instant::now(), self.epoch, self.machine.state, r.clone()));
        r
    }

    /// A login: saves the token, puts it in use, answers the callback (`installed`), and only
    /// then asks the broker for the profile, so the browser's redirect does not wait for it.
    async fn accept_grant(&mut self, grant: SessionGrant, installed: oneshot::Sender<()>) {
        let stored = StoredToken {
            token: grant.token,
            user_id: Some(grant.user_id.clone()),
            issued_at: Some(self.io.clock.now()),
        };
        if let Err(e) = self.write_file(&stored).await {
            tracing::error!(error = %e, "cannot save the new access token; it is used now, but after a restart a new login is needed");
        }
        tracing::info!(user_id = %grant.user_id, "login completed");
        let actions = self.put_in_use(stored, TokenOrigin::Login, None);
        let _ = installed.send(());
        self.perform(actions).await;
        self.view
            .send_modify(|s| s.user_name = Some(grant.user_name));
    }

    /// A newer token the cluster's leader shared (a login completed on another node): saved to
    /// this node's token file and used like any other, unless it is the one in use already.
    async fn take_shared(&mut self, t: TokenInUse) {
        if self
            .current
            .as_ref()
            .is_some_and(|c| same_secret(&c.token, &t.token.token))
        {
            return;
        }
        if let Err(e) = self.write_file(&t.token).await {
            tracing::warn!(error = %e, "cannot save the cluster's access token to the token file; using it anyway");
        }
        self.install(t.token, TokenOrigin::Cluster, Some(t.since))
            .await;
    }

    /// Picks up a token file written by someone else (a script, a user): only when it holds a
    /// token other than the one last read from or written to it.
    async fn poll_file(&mut self) {
        // The file is tiny: read it on every poll and compare the token itself, so a rewrite
        // that keeps the size and lands within one mtime tick is still noticed.
        let fp = self.cfg.store.fingerprint();
        if fp.is_none() {
            // Removed: keep the token we have; a file created later is new content.
            self.fingerprint = None;
            self.file_token = None;
            return;
        }
        match self.cfg.store.load() {
            Ok(Some(t)) => {
                self.fingerprint = fp;
                if self
                    .file_token
                    .as_ref()
                    .is_some_and(|f| same_secret(f, &t.token))
                {
                    return;
                }
                self.file_token = Some(t.token.clone());
                if !self
                    .current
                    .as_ref()
                    .is_some_and(|c| same_secret(&c.token, &t.token))
                {
                    tracing::info!(path = %self.cfg.store.path().display(), "token file changed; switching to the new token");
                    self.install(t, TokenOrigin::TokenFile, None).await;
                }
            }
            Ok(None) => {}
            // Say so once per change of the file (a file being written non-atomically may be
            // caught half-way; the next poll reads it again).
            Err(e) => {
                if fp != self.fingerprint {
                    tracing::warn!(error = %e, "the token file changed but holds no usable token; keeping the current token");
                }
                self.fingerprint = fp;
            }
        }
    }

    fn publish_view(&mut self) {
        let state = self.machine.state;
        let failures = self.machine.failures;
        let origin = self.machine.origin;
        self.view.send_if_modified(|s| {
            let before = s.clone();
            s.state = state;
            s.failures = failures;
            s.origin = origin;
            *s != before
        });
        self.io
            .state
            .send_if_modified(|v| std::mem::replace(v, state) != state);
        self.publish_in_use();
    }

    /// Tells the cluster's token sharing which token is in use and what the broker made of it.
    fn publish_in_use(&self) {
        let Some(shared) = &self.io.shared else {
            return;
        };
        let verdict = match self.machine.state {
            AuthState::Valid => Verdict::Accepted,
            AuthState::Expired => Verdict::Refused,
            AuthState::Refreshing | AuthState::Required => Verdict::Unchecked,
        };
        let now = match (&self.current, self.since) {
            (Some(t), Some(since)) => Some(TokenInUse {
                token: t.clone(),
                since,
                expires: self.view.borrow().expiry_hint,
                verdict,
            }),
            _ => None,
        };
        shared.in_use.send_if_modified(|v| {
            let changed = match (v.as_ref(), now.as_ref()) {
                (Some(a), Some(b)) => {
                    !a.same_token(b) || a.since != b.since || a.verdict != b.verdict
                }
                (None, None) => false,
                _ => true,
            };
            if changed {
                v.clone_from(&now);
            }
            changed
        });
    }
}

/// Saves `t` on the blocking pool (the write fsyncs the file and its directory, which must not
/// hold up the runtime thread); returns the file's new fingerprint.
async fn save_off_thread(
    store: &TokenStore,
    t: &StoredToken,
) -> Result<Option<FileFingerprint>, StoreError> {
    let (store, t) = (store.clone(), t.clone());
    let path = store.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        store.save(&t)?;
        Ok(store.fingerprint())
    })
    .await
    .unwrap_or_else(|e| {
        Err(StoreError::Write {
            path,
            source: std::io::Error::other(e),
        })
    })
}

fn describe(e: &BrokerError, login_url: &str) -> String {
    match e {
        BrokerError::Auth(_) => {
            format!("access token rejected by the broker; log in at {login_url}")
        }
        other => other.to_string(),
    }
}

async fn recv_event(
    rx: &mut Option<broadcast::Receiver<FeedEvent>>,
) -> Result<FeedEvent, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_shared(shared: &mut Option<SharedToken>) -> Option<TokenInUse> {
    match shared {
        Some(s) => s.take.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
