//! The auth task against a scripted broker, in paused time: which token is published (and
//! under which epoch), what the token file ends up holding, what health is told, and how many
//! broker checks are made.

use super::*;
use crate::brokers::UserProfile;
use crate::model::clock::TokioClock;
use crate::model::instruments::{Instrument, InstrumentSpec};
use crate::model::tick::Tick;
use futures_util::future::BoxFuture;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_util::task::TaskTracker;

const WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_secs(2);

/// Answers profile calls from a table (token → answer), after `profile_delay`; counts them.
#[derive(Debug, Default)]
struct ScriptedBroker {
    profiles: Mutex<HashMap<String, Result<UserProfile, BrokerError>>>,
    profile_calls: AtomicUsize,
    profile_delay: Duration,
}

impl ScriptedBroker {
    fn answer(&self, token: &str, answer: Result<UserProfile, BrokerError>) {
        self.profiles
            .lock()
            .unwrap()
            .insert(token.to_string(), answer);
    }

    fn accept(&self, token: &str, user_name: &str) {
        self.answer(
            token,
            Ok(UserProfile {
                user_id: "AB1234".into(),
                user_name: user_name.into(),
            }),
        );
    }

    fn reject(&self, token: &str) {
        self.answer(token, Err(BrokerError::Auth("TokenException".into())));
    }

    fn calls(&self) -> usize {
        self.profile_calls.load(Ordering::SeqCst)
    }
}

impl BrokerApi for ScriptedBroker {
    fn name(&self) -> &'static str {
        "kite"
    }

    fn profile(&self, token: SecretString) -> BoxFuture<'static, Result<UserProfile, BrokerError>> {
        self.profile_calls.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .profiles
            .lock()
            .unwrap()
            .get(token.expose_secret())
            .cloned()
            .unwrap_or_else(|| Err(BrokerError::Auth("unknown token".into())));
        let delay = self.profile_delay;
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            answer
        })
    }

    fn quotes(
        &self,
        _token: SecretString,
        _instruments: Vec<Arc<Instrument>>,
        _received_ms: i64,
    ) -> BoxFuture<'static, Result<Vec<Tick>, BrokerError>> {
        Box::pin(async { Err(BrokerError::Invalid("not scripted".into())) })
    }

    fn instruments(&self) -> BoxFuture<'static, Result<Vec<InstrumentSpec>, BrokerError>> {
        Box::pin(async { Err(BrokerError::Invalid("not scripted".into())) })
    }

    fn login_url(&self, state: &str) -> String {
        format!("http://broker.test/login?state={state}")
    }

    fn exchange(
        &self,
        _request_token: String,
    ) -> BoxFuture<'static, Result<SessionGrant, BrokerError>> {
        Box::pin(async { Err(BrokerError::Invalid("not scripted".into())) })
    }

    fn quote_batch(&self) -> usize {
        500
    }

    fn quote_interval(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// A running auth task and the ends of its channels.
struct Harness {
    auth: AuthHandle,
    broker: Arc<ScriptedBroker>,
    token: watch::Receiver<Option<CurrentToken>>,
    events: broadcast::Sender<FeedEvent>,
    store: TokenStore,
    _dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Harness {
    /// Starts the task with `file` in the token file (if any) and `env` as the environment's
    /// token (if any).
    async fn start(
        broker: ScriptedBroker,
        file: Option<&str>,
        env: Option<&str>,
        store_at: impl FnOnce(&Path) -> TokenStore,
    ) -> Self {
        Self::start_with(broker, file, env, store_at, None).await
    }

    /// [`Harness::start`] in a cluster: `shared` is the token sharing's side.
    async fn start_with(
        broker: ScriptedBroker,
        file: Option<&str>,
        env: Option<&str>,
        store_at: impl FnOnce(&Path) -> TokenStore,
        shared: Option<SharedToken>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = store_at(dir.path());
        if let Some(t) = file {
            std::fs::write(store.path(), format!("{{\"access_token\":\"{t}\"}}")).unwrap();
        }
        let broker = Arc::new(broker);
        let (token_tx, token) = watch::channel(None);
        let (view_tx, _) = watch::channel(crate::auth::AuthState::Valid);
        let (events, events_rx) = broadcast::channel(16);
        let (_pre_market_tx, pre_market) = mpsc::channel(1);
        let shutdown = CancellationToken::new();
        let auth = spawn(
            AuthConfig {
                env_token: env.map(SecretString::from),
                store: store.clone(),
                login_url: "http://127.0.0.1:8080/api/login".into(),
                file_poll: POLL,
            },
            AuthIo {
                broker: broker.clone(),
                clock: Arc::new(TokioClock::starting_at(
                    DateTime::parse_from_rfc3339("2026-11-23T10:00:00+05:30")
                        .unwrap()
                        .to_utc(),
                )),
                token: token_tx,
                state: view_tx,
                feed_events: Some(events_rx),
                pre_market,
                shared,
            },
            shutdown.clone(),
            &TaskTracker::new(),
        );
        Self {
            auth,
            broker,
            token,
            events,
            store,
            _dir: dir,
            shutdown,
        }
    }

    async fn kite(broker: ScriptedBroker, file: Option<&str>, env: Option<&str>) -> Self {
        Self::start(broker, file, env, |d| TokenStore::new(d, "kite")).await
    }

    /// Waits until the auth view satisfies `f`.
    async fn until(&self, what: &str, f: impl FnMut(&AuthView) -> bool) -> AuthView {
        let mut rx = self.auth.view.clone();
        match tokio::time::timeout(WAIT, rx.wait_for(f)).await {
            Ok(Ok(s)) => s.clone(),
            _ => panic!("{what}: {:?}", *self.auth.view.borrow()),
        }
    }

    fn state(&self) -> AuthState {
        self.auth.view.borrow().state
    }

    /// The published token as (epoch, token).
    fn published(&self) -> Option<(u64, String)> {
        self.token
            .borrow()
            .as_ref()
            .map(|t| (t.epoch, t.token.expose_secret().to_string()))
    }

    fn file_token(&self) -> Option<String> {
        self.store
            .load()
            .unwrap()
            .map(|t| t.token.expose_secret().to_string())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn a_rejected_file_token_never_replaces_the_working_env_token() {
    let broker = ScriptedBroker::default();
    broker.reject("file-tok");
    broker.accept("env-tok", "Env User");
    let h = Harness::kite(broker, Some("file-tok"), Some("env-tok")).await;
    h.until("valid with the env token", |s| s.state == AuthState::Valid)
        .await;
    assert_eq!(h.published(), Some((1, "env-tok".into())));
    // The file now holds the token in use, so a restart or `feedgate check` agree.
    assert_eq!(h.file_token().as_deref(), Some("env-tok"));

    // Many polls later: the file token was never installed.
    tokio::time::sleep(POLL * 5).await;
    assert_eq!(h.state(), AuthState::Valid);
    assert_eq!(h.published(), Some((1, "env-tok".into())));
    assert_eq!(h.auth.view.borrow().origin, Some(TokenOrigin::Environment));

    // A token written to the file later is new content, and is used.
    h.broker.accept("fresh-tok", "Env User");
    std::fs::write(h.store.path(), "fresh-tok\n").unwrap();
    h.until("switched to the new file token", |s| {
        s.origin == Some(TokenOrigin::TokenFile) && s.state == AuthState::Valid
    })
    .await;
    assert_eq!(h.published(), Some((2, "fresh-tok".into())));
}

/// The start-up write of the environment's token fails, so the file keeps its rejected token:
/// the polls still never install it (it has not changed since it was read).
#[cfg(target_os = "linux")]
#[tokio::test(start_paused = true)]
async fn a_rejected_file_token_left_in_an_unwritable_file_is_not_installed() {
    let broker = ScriptedBroker::default();
    broker.reject("file-tok");
    broker.accept("env-tok", "Env User");
    let h = Harness::start(broker, Some("file-tok"), Some("env-tok"), unwritable_store).await;
    h.until("valid with the env token", |s| s.state == AuthState::Valid)
        .await;
    assert_eq!(h.file_token().as_deref(), Some("file-tok"), "not rewritten");
    tokio::time::sleep(POLL * 5).await;
    assert_eq!(h.published(), Some((1, "env-tok".into())));
    assert_eq!(h.state(), AuthState::Valid);
}

/// A token file that can be read but not replaced, even by root: its directory's path is so
/// long that the file's own path fits in `PATH_MAX` but the longer temp-file name does not.
#[cfg(target_os = "linux")]
fn unwritable_store(base: &Path) -> TokenStore {
    const PATH_MAX: usize = 4096;
    let mut dir = base.to_path_buf();
    // Room for "/t" (the file) but not for "/.feedgate-tmp-XXXXXX" (the temp file).
    while dir.as_os_str().len() + 200 < PATH_MAX - 10 {
        dir.push("d".repeat(199));
    }
    let pad = PATH_MAX - 10 - dir.as_os_str().len() - 1;
    dir.push("d".repeat(pad));
    std::fs::create_dir_all(&dir).unwrap();
    TokenStore::at(dir.join("t"), "kite")
}

#[cfg(target_os = "linux")]
#[tokio::test(start_paused = true)]
async fn a_token_file_that_cannot_be_saved_is_not_switched_back_to() {
    let broker = ScriptedBroker::default();
    broker.accept("old-tok", "Old User");
    broker.accept("login-tok", "Login User");
    let h = Harness::start(broker, Some("old-tok"), None, unwritable_store).await;
    h.until("the file's token is used", |s| s.state == AuthState::Valid)
        .await;
    assert!(
        h.store.save(&h.store.load().unwrap().unwrap()).is_err(),
        "the store cannot be written"
    );

    // A login whose token cannot be saved: the file keeps the old token, which must not come
    // back on the next poll.
    let grant = SessionGrant {
        token: SecretString::from("login-tok"),
        user_id: "AB1234".into(),
        user_name: "Login User".into(),
    };
    assert_eq!(h.auth.store_grant(grant).await, Ok(()));
    assert_eq!(h.published(), Some((2, "login-tok".into())));
    tokio::time::sleep(POLL * 5).await;
    assert_eq!(h.published(), Some((2, "login-tok".into())));
    assert_eq!(h.state(), AuthState::Valid);
    assert_eq!(h.file_token().as_deref(), Some("old-tok"));
}

/// The login callback's answer waits for the token to be saved and published, not for the
/// broker's profile check, which follows; once it has, health shows what it showed before.
#[tokio::test(start_paused = true)]
async fn a_login_is_answered_before_the_brokers_check() {
    const CHECK: Duration = Duration::from_secs(3);
    let broker = ScriptedBroker {
        profile_delay: CHECK,
        ..ScriptedBroker::default()
    };
    broker.accept("old-tok", "Old User");
    broker.accept("login-tok", "Profile User");
    let h = Harness::kite(broker, None, Some("old-tok")).await;
    h.until("valid", |s| s.state == AuthState::Valid).await;
    let checks = h.broker.calls();

    let asked = Instant::now();
    let grant = SessionGrant {
        token: SecretString::from("login-tok"),
        user_id: "AB1234".into(),
        user_name: "Login User".into(),
    };
    assert_eq!(h.auth.store_grant(grant).await, Ok(()));
    assert!(asked.elapsed() < CHECK, "answered before the check");
    assert_eq!(h.published(), Some((2, "login-tok".into())));
    assert_eq!(h.file_token().as_deref(), Some("login-tok"), "saved first");
    assert_eq!(h.state(), AuthState::Refreshing);

    let s = h.until("valid", |s| s.state == AuthState::Valid).await;
    assert_eq!(h.broker.calls(), checks + 1);
    assert_eq!(s.origin, Some(TokenOrigin::Login));
    assert_eq!(s.user_id.as_deref(), Some("AB1234"));
    // The name the login gave, as before the answer came early.
    let s = h
        .until("the login's name", |s| {
            s.user_name.as_deref() == Some("Login User")
        })
        .await;
    assert_eq!(s.state, AuthState::Valid);
}

#[tokio::test(start_paused = true)]
async fn a_token_checked_valid_after_a_websocket_refusal_is_republished() {
    let broker = ScriptedBroker::default();
    broker.accept("tok", "User");
    let h = Harness::kite(broker, None, Some("tok")).await;
    h.until("valid", |s| s.state == AuthState::Valid).await;
    assert_eq!(h.published(), Some((1, "tok".into())));

    // The upstream's socket was refused with this epoch (say a transient 403 the profile check
    // took for a rejection): it waits for another epoch.
    h.events
        .send(FeedEvent::AuthRejected {
            shard: 0,
            token_epoch: 1,
        })
        .unwrap();
    h.until("expired", |s| s.state == AuthState::Expired).await;
    assert_eq!(h.published(), Some((1, "tok".into())));

    // A check finds the token good: the same token is published under a new epoch, so the
    // upstream tries again.
    let v = h.auth.verify().await;
    assert!(v.valid, "{v:?}");
    assert_eq!(h.state(), AuthState::Valid);
    assert_eq!(h.published(), Some((2, "tok".into())));
    // Only once: a later success changes nothing.
    tokio::time::sleep(VERIFY_CACHE * 2).await;
    assert!(h.auth.verify().await.valid);
    assert_eq!(h.published(), Some((2, "tok".into())));
}

#[tokio::test(start_paused = true)]
async fn a_token_checked_valid_after_a_rest_refusal_is_republished() {
    let broker = ScriptedBroker::default();
    broker.accept("tok", "User");
    let h = Harness::kite(broker, None, Some("tok")).await;
    h.until("valid", |s| s.state == AuthState::Valid).await;

    // The REST fallback (or the closed-hours quotes) had a quote call refused with epoch 1:
    // it does not poll with that epoch again.
    h.auth.report_rejected(1).await;
    h.until("expired", |s| s.state == AuthState::Expired).await;
    assert_eq!(h.published(), Some((1, "tok".into())));

    // A check finds the token good after all: republished, so polling resumes.
    assert!(h.auth.verify().await.valid);
    assert_eq!(h.published(), Some((2, "tok".into())));
    // A refusal reported for an older epoch changes nothing.
    h.auth.report_rejected(1).await;
    tokio::time::sleep(POLL).await;
    assert_eq!(h.state(), AuthState::Valid);
}

#[tokio::test(start_paused = true)]
async fn a_new_token_forgets_the_previous_user_name() {
    let broker = ScriptedBroker::default();
    broker.accept("alice-tok", "Alice");
    // The new token cannot be checked yet (broker down): nothing is known about its user.
    broker.answer("bob-tok", Err(BrokerError::Unavailable("timeout".into())));
    let h = Harness::kite(broker, None, Some("alice-tok")).await;
    let s = h.until("valid", |s| s.state == AuthState::Valid).await;
    assert_eq!(s.user_name.as_deref(), Some("Alice"));
    std::fs::write(h.store.path(), "bob-tok\n").unwrap();
    let s = h
        .until("switched", |s| s.origin == Some(TokenOrigin::TokenFile))
        .await;
    assert_eq!((s.user_id, s.user_name), (None, None));
}

#[tokio::test(start_paused = true)]
async fn on_demand_checks_are_answered_from_a_short_cache() {
    let broker = ScriptedBroker::default();
    broker.accept("tok", "User");
    let h = Harness::kite(broker, None, Some("tok")).await;
    h.until("valid", |s| s.state == AuthState::Valid).await;
    let at_start = h.broker.calls();

    // A flood: one broker call.
    let answers = futures_util::future::join_all((0..50).map(|_| h.auth.verify())).await;
    assert!(
        answers
            .iter()
            .all(|v| v.valid && v.user_name.as_deref() == Some("User"))
    );
    assert_eq!(h.broker.calls(), at_start + 1);

    // Once the answer is old, the next request asks the broker again.
    tokio::time::sleep(VERIFY_CACHE).await;
    assert!(h.auth.verify().await.valid);
    assert_eq!(h.broker.calls(), at_start + 2);

    // A state change (here: the socket refused) makes the cached answer void at once.
    h.events
        .send(FeedEvent::AuthRejected {
            shard: 0,
            token_epoch: 1,
        })
        .unwrap();
    h.until("expired", |s| s.state == AuthState::Expired).await;
    h.broker.reject("tok");
    let v = h.auth.verify().await;
    assert!(!v.valid, "{v:?}");
    assert_eq!(h.broker.calls(), at_start + 3);
}

#[tokio::test(start_paused = true)]
async fn the_documented_json_token_file_is_picked_up() {
    let broker = ScriptedBroker::default();
    broker.accept("tok", "User");
    broker.accept("by-hand", "User");
    let h = Harness::kite(broker, None, Some("tok")).await;
    h.until("valid", |s| s.state == AuthState::Valid).await;
    std::fs::write(h.store.path(), r#"{"access_token": "by-hand"}"#).unwrap();
    h.until("switched", |s| s.origin == Some(TokenOrigin::TokenFile))
        .await;
    assert_eq!(h.published(), Some((2, "by-hand".into())));
}

/// Log lines written through a thread-local subscriber (the test runtime is single-threaded,
/// so the auth task logs through it too).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn count(&self, needle: &str) -> usize {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes).matches(needle).count()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn an_unusable_token_file_is_a_warning_once_per_change() {
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish(),
    );
    let broker = ScriptedBroker::default();
    broker.accept("tok", "User");
    let h = Harness::kite(broker, None, Some("tok")).await;
    h.until("valid", |s| s.state == AuthState::Valid).await;
    const SAID: &str = "holds no usable token";

    std::fs::write(h.store.path(), "two words\n").unwrap();
    tokio::time::sleep(POLL * 5).await;
    assert_eq!(
        logs.count(SAID),
        1,
        "one warning for the change, not one per poll"
    );
    assert_eq!(logs.count(" WARN "), 1);
    std::fs::write(h.store.path(), r#"{"nope": 1}"#).unwrap();
    tokio::time::sleep(POLL * 5).await;
    assert_eq!(logs.count(SAID), 2, "another change, another warning");
    assert_eq!(h.state(), AuthState::Valid);
    assert_eq!(h.published(), Some((1, "tok".into())));
}

/// In a cluster: the task says which token it uses and what the broker made of it, and takes
/// a newer token from the cluster like any other (checked, saved to the file, origin
/// `cluster`, with the shared token's age kept).
#[tokio::test(start_paused = true)]
async fn a_token_from_the_cluster_is_checked_saved_and_reported() {
    let broker = ScriptedBroker::default();
    broker.accept("env-tok", "Env User");
    broker.reject("stale-tok");
    broker.accept("shared-tok", "Shared User");
    let (in_use_tx, mut in_use) = watch::channel(None);
    let (take_tx, take) = mpsc::channel(1);
    let shared = SharedToken {
        in_use: in_use_tx,
        take,
    };
    let store_at = |d: &Path| TokenStore::new(d, "kite");
    let h = Harness::start_with(broker, None, Some("env-tok"), store_at, Some(shared)).await;
    h.until("valid", |s| s.state == AuthState::Valid).await;
    let own = in_use
        .wait_for(|t| t.is_some())
        .await
        .unwrap()
        .clone()
        .unwrap();
    assert_eq!(own.token.token.expose_secret(), "env-tok");
    assert_eq!(own.verdict, Verdict::Accepted);

    let since = DateTime::parse_from_rfc3339("2026-11-23T09:00:00+05:30")
        .unwrap()
        .to_utc();
    let offered = |t: &str| TokenInUse {
        token: StoredToken {
            token: SecretString::from(t),
            user_id: Some("AB1234".into()),
            issued_at: None,
        },
        since,
        expires: None,
        verdict: Verdict::Unchecked,
    };
    take_tx.send(offered("shared-tok")).await.unwrap();
    let s = h
        .until("the cluster's token", |s| {
            s.origin == Some(TokenOrigin::Cluster) && s.state == AuthState::Valid
        })
        .await;
    assert_eq!(s.user_name.as_deref(), Some("Shared User"));
    assert_eq!(h.published(), Some((2, "shared-tok".into())));
    assert_eq!(h.file_token().as_deref(), Some("shared-tok"), "saved");
    let own = in_use
        .wait_for(|t| {
            t.as_ref()
                .is_some_and(|t| t.verdict == Verdict::Accepted && t.since == since)
        })
        .await
        .unwrap()
        .clone()
        .unwrap();
    assert_eq!(own.token.token.expose_secret(), "shared-tok");

    // One the broker refuses is reported refused (and so never written to Redis).
    take_tx.send(offered("stale-tok")).await.unwrap();
    h.until("refused", |s| s.state == AuthState::Expired).await;
    let own = in_use
        .wait_for(|t| t.as_ref().is_some_and(|t| t.verdict == Verdict::Refused))
        .await
        .unwrap()
        .clone()
        .unwrap();
    assert_eq!(own.token.token.expose_secret(), "stale-tok");
    h.shutdown.cancel();
}
