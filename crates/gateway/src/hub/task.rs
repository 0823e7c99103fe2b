//! The hub actor: one task owning a [`HubCore`], fed by two bounded channels (commands from
//! client tasks, tick batches from the upstream). Commands are served first so a tick flood
//! cannot starve subscribes; nothing here ever waits on a client.

use crate::hub::core::{ClientId, HubCore, Liveness, ResumeItem, ResumeReport, ResumeStart};
use crate::hub::outbox::Outbox;
use crate::hub::recording::RecordingSource;
use crate::hub::refill::Refilled;
use crate::hub::replay::RefillPlan;
use crate::hub::sink::Sink;
use crate::json::request::CandleRequest;
use crate::model::candle::{Candle, History};
use crate::model::clock::SharedClock;
use crate::model::demand::Demand;
use crate::model::instruments::Instrument;
use crate::model::live::FeedLive;
use crate::model::tick::{Mode, Tick, Token};
use crate::store::candle_files::DayCandles;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A finished read of the recording for a pending resume: its id, the plans and their results.
pub(crate) type RefillDone = (u64, Vec<RefillPlan>, Vec<Refilled>);

pub(crate) enum Command {
    Subscribe {
        client: ClientId,
        sink: Sink,
        items: Vec<(Arc<Instrument>, Mode)>,
        candles: CandleRequest,
    },
    Unsubscribe {
        client: ClientId,
        tokens: Vec<Token>,
        /// Answered once the subscriptions and their undelivered ticks are gone.
        done: oneshot::Sender<()>,
    },
    Disconnect {
        client: ClientId,
    },
    Latest {
        tokens: Vec<Token>,
        reply: oneshot::Sender<Vec<Option<Tick>>>,
    },
    LatestAll {
        reply: oneshot::Sender<Vec<(Arc<Instrument>, Tick)>>,
    },
    Watchlist(Vec<(Arc<Instrument>, Mode)>),
    Keep(Vec<(Arc<Instrument>, Mode)>),
    Candles {
        token: Token,
        reply: oneshot::Sender<Option<(u32, Vec<Candle>)>>,
    },
    DayCandles {
        reply: oneshot::Sender<Vec<DayCandles>>,
    },
    MergeHistory {
        history: History,
        reply: oneshot::Sender<usize>,
    },
    Seed(Vec<(Arc<Instrument>, Tick)>),
    Resume {
        client: ClientId,
        outbox: Arc<Outbox>,
        items: Vec<ResumeItem>,
        epoch: u64,
        reply: oneshot::Sender<ResumeReport>,
    },
}

/// Counters shared with status endpoints and metrics.
#[derive(Debug, Default)]
pub struct HubStats {
    pub ticks_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub conflated: AtomicU64,
    pub instruments_subscribed: AtomicUsize,
}

pub(crate) struct HubTask {
    pub core: HubCore,
    pub commands: mpsc::Receiver<Command>,
    pub ticks: mpsc::Receiver<Vec<Tick>>,
    pub demand: watch::Sender<Arc<Demand>>,
    pub feed_live: watch::Receiver<FeedLive>,
    pub clock: SharedClock,
    pub stats: Arc<HubStats>,
    pub shutdown: CancellationToken,
    /// Where tokens without any value go for a one-off closed-hours REST quote.
    pub closed_quotes: Option<mpsc::Sender<Vec<Token>>>,
    /// Tokens already sent for a closed-hours quote during this not-live period: each once,
    /// not once per client.
    pub quotes_requested: HashSet<Token>,
    /// The tick recording, read for resumes that reach back past the ring.
    pub recording: Option<RecordingSource>,
    pub tracker: TaskTracker,
    /// Reads of the recording report back here (unbounded: one message per pending resume,
    /// and a resume is one client's one request).
    pub refilled_tx: mpsc::UnboundedSender<RefillDone>,
    pub refilled: mpsc::UnboundedReceiver<RefillDone>,
    /// The clients' replies of the pending resumes, by id.
    pub resume_replies: HashMap<u64, oneshot::Sender<ResumeReport>>,
    /// A cluster leader's publisher: sees every batch after the hub, never slows it.
    pub tap: Option<Arc<dyn crate::hub::TickTap>>,
}

/// The hub's metric handles, resolved once when the task starts: each `metrics::…!` call
/// looks its metric up in the recorder's registry, which per tick batch is wasted work.
struct HubMetrics {
    message_bytes: metrics::Histogram,
    rest_superseded: metrics::Counter,
    ticks: metrics::Counter,
    messages: metrics::Counter,
    conflated: metrics::Counter,
    encoded_bytes: metrics::Counter,
}

impl HubMetrics {
    fn resolve() -> Self {
        Self {
            message_bytes: metrics::histogram!("feedgate_message_bytes"),
            rest_superseded: metrics::counter!("feedgate_hub_rest_superseded_total"),
            ticks: metrics::counter!("feedgate_hub_ticks_total"),
            messages: metrics::counter!("feedgate_hub_messages_total"),
            conflated: metrics::counter!("feedgate_hub_conflated_total"),
            encoded_bytes: metrics::counter!("feedgate_hub_encoded_bytes_total"),
        }
    }
}

impl HubTask {
    pub async fn run(mut self) {
        // One timer for the minute closes, with an absolute deadline that moves only when it
        // fires: an event handled across a close instant cannot push that close a minute later,
        // and events cost no timer registration or clock read.
        let minute_close = tokio::time::sleep_until(self.next_minute_close());
        tokio::pin!(minute_close);
        let metrics = HubMetrics::resolve();
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                () = &mut minute_close => {
                    let now = self.clock.now_ms().div_euclid(1000);
                    self.core.close_candles(now);
                    // Lingering subscriptions end within a minute of their time.
                    if self.core.sweep_lingering(Instant::now()) {
                        self.publish_demand();
                    }
                    minute_close.as_mut().reset(self.next_minute_close());
                }
                r = self.feed_live.changed() => {
                    if r.is_err() {
                        break;
                    }
                    if self.feed_live.borrow_and_update().is_live() {
                        // A new not-live period later may fetch fresh quotes again.
                        self.quotes_requested.clear();
                    }
                }
                Some((id, plans, refilled)) = self.refilled.recv() => {
                    self.finish_resume(id, &plans, refilled);
                }
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                batch = self.ticks.recv() => match batch {
                    Some(batch) => {
                        self.on_ticks(&batch, &metrics);
                        if let Some(tap) = &self.tap {
                            tap.offer(batch);
                        }
                    }
                    None => break,
                },
            }
        }
        tracing::debug!("hub stopped");
    }

    /// Just after the next wall-clock minute boundary (a little grace lets the last ticks of
    /// the minute arrive first), as a monotonic deadline.
    fn next_minute_close(&self) -> Instant {
        Instant::now() + until_minute_close(self.clock.now_ms())
    }

    fn liveness(&self) -> Liveness {
        Liveness {
            feed: *self.feed_live.borrow(),
            now_ms: self.clock.now_ms(),
        }
    }

    fn on_ticks(&mut self, batch: &[Tick], metrics: &HubMetrics) {
        let live = self.liveness();
        let s = self.core.on_ticks(batch, live);
        if s.encoded > 0 {
            // One sample per batch (the mean size), so the hot path does not pay per message.
            metrics
                .message_bytes
                .record(s.encoded_bytes as f64 / s.encoded as f64);
        }
        if s.superseded > 0 {
            metrics.rest_superseded.increment(s.superseded);
        }
        self.stats.ticks_in.fetch_add(s.ticks, Ordering::Relaxed);
        self.stats
            .messages_out
            .fetch_add(s.messages, Ordering::Relaxed);
        self.stats
            .conflated
            .fetch_add(s.conflated, Ordering::Relaxed);
        metrics.ticks.increment(s.ticks);
        metrics.messages.increment(s.messages);
        metrics.conflated.increment(s.conflated);
        metrics.encoded_bytes.increment(s.encoded_bytes);
    }

    /// A resume answered now from the ring, or once the recording has been read.
    fn on_resume(
        &mut self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        items: Vec<ResumeItem>,
        epoch: u64,
        reply: oneshot::Sender<ResumeReport>,
    ) {
        let live = self.liveness();
        match self.core.start_resume(client, outbox, items, epoch, live) {
            ResumeStart::Done(report) => {
                let _ = reply.send(report);
            }
            ResumeStart::Pending { id, plans } => {
                self.resume_replies.insert(id, reply);
                self.read_recording(id, plans);
            }
        }
        self.publish_demand();
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe {
                client,
                sink,
                items,
                candles,
            } => {
                let live = self.liveness();
                let missing = self.core.subscribe(client, sink, &items, candles, live);
                self.publish_demand();
                if !live.feed.is_live() {
                    self.request_closed_quotes(missing);
                }
            }
            Command::Unsubscribe {
                client,
                tokens,
                done,
            } => {
                self.core.unsubscribe(client, &tokens);
                let _ = done.send(());
                self.publish_demand();
            }
            Command::Disconnect { client } => {
                self.core.disconnect(client);
                self.publish_demand();
            }
            Command::Latest { tokens, reply } => {
                let out = tokens
                    .iter()
                    .map(|t| self.core.latest(*t).copied())
                    .collect();
                let _ = reply.send(out);
            }
            Command::LatestAll { reply } => {
                let out = self
                    .core
                    .latest_all()
                    .map(|(i, t)| (i.clone(), *t))
                    .collect();
                let _ = reply.send(out);
            }
            Command::Watchlist(items) => {
                self.core.set_watchlist(items);
                self.publish_demand();
            }
            Command::Keep(items) => {
                self.core.set_kept(items);
                self.publish_demand();
            }
            Command::Seed(items) => self.core.seed(items),
            Command::Resume {
                client,
                outbox,
                items,
                epoch,
                reply,
            } => self.on_resume(client, &outbox, items, epoch, reply),
            Command::Candles { token, reply } => {
                let _ = reply.send(self.core.candles_of(token));
            }
            Command::DayCandles { reply } => {
                let _ = reply.send(self.core.day_candles());
            }
            Command::MergeHistory { history, reply } => {
                let now = self.clock.now_ms().div_euclid(1000);
                let _ = reply.send(self.core.merge_history(&history, now));
            }
        }
    }

    /// Reads the recording for a pending resume off the hub task; the result comes back on
    /// `refilled`.
    fn read_recording(&self, id: u64, plans: Vec<RefillPlan>) {
        let source = self.recording.clone();
        let done = self.refilled_tx.clone();
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            let read = async {
                match source {
                    Some(source) => source.refill(plans.clone()).await,
                    None => Vec::new(),
                }
            };
            // At shutdown nobody waits for the answer (a read already running on the blocking
            // pool finishes there).
            let refilled = tokio::select! {
                () = shutdown.cancelled() => return,
                r = read => r,
            };
            let _ = done.send((id, plans, refilled));
        });
    }

    /// Finishes a resume whose recorded part is ready (or failed) and answers its client.
    fn finish_resume(&mut self, id: u64, plans: &[RefillPlan], refilled: Vec<Refilled>) {
        let live = self.liveness();
        let reply = self.resume_replies.remove(&id);
        if let Some((client, report)) = self.core.finish_resume(id, refilled, plans, live) {
            tracing::debug!(
                client,
                from_recording = report.from_recording,
                complete = report.complete,
                "resume filled from the recording"
            );
            if let Some(reply) = reply {
                let _ = reply.send(report);
            }
        }
        self.publish_demand();
    }

    /// Asks for a closed-hours REST quote of each token not asked for yet in this not-live
    /// period.
    fn request_closed_quotes(&mut self, missing: Vec<Token>) {
        let Some(tx) = &self.closed_quotes else {
            return;
        };
        let fresh: Vec<Token> = missing
            .into_iter()
            .filter(|t| self.quotes_requested.insert(*t))
            .collect();
        if !fresh.is_empty() && tx.try_send(fresh.clone()).is_err() {
            // The fetcher is busy; forget the request so a later subscribe can retry.
            for t in fresh {
                self.quotes_requested.remove(&t);
            }
        }
    }

    fn publish_demand(&mut self) {
        let demand = self.core.demand();
        self.demand.send_if_modified(|cur| {
            if **cur == demand {
                false
            } else {
                *cur = Arc::new(demand);
                true
            }
        });
        self.stats
            .instruments_subscribed
            .store(self.core.subscribed_instruments(), Ordering::Relaxed);
    }
}

/// Grace after a minute boundary before the minute's candles close.
const CLOSE_GRACE_MS: i64 = 500;

/// From `now_ms` to the next minute close (a boundary plus [`CLOSE_GRACE_MS`]).
fn until_minute_close(now_ms: i64) -> std::time::Duration {
    let next = ((now_ms - CLOSE_GRACE_MS).div_euclid(60_000) + 1) * 60_000 + CLOSE_GRACE_MS;
    std::time::Duration::from_millis(u64::try_from(next - now_ms).unwrap_or(60_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::outbox::Outbox;

    #[test]
    fn minute_closes_come_half_a_second_after_each_boundary() {
        // 2026-11-23 16:05:00 IST.
        let b = 1_795_430_100_000;
        for (now, until_ms) in [
            (b - 30_000, 30_500),
            (b - 1, 501),
            // Inside the grace: this minute's close, not the next one's.
            (b, 500),
            (b + 200, 300),
            (b + 499, 1),
            (b + 500, 60_000),
            (b + 501, 59_999),
        ] {
            assert_eq!(
                until_minute_close(now),
                std::time::Duration::from_millis(until_ms),
                "{}",
                now - b
            );
        }
    }

    /// A wall clock that follows paused tokio time, plus an offset the test moves: the time a
    /// busy hub spends handling an event (paused time cannot pass inside a task).
    #[derive(Debug)]
    struct BusyClock {
        inner: crate::model::clock::TokioClock,
        extra_ms: std::sync::atomic::AtomicI64,
    }

    impl crate::model::clock::Clock for BusyClock {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            self.inner.now() + chrono::Duration::milliseconds(self.extra_ms.load(Ordering::Relaxed))
        }
    }

    /// An event handled across a minute's close instant must not push that close a minute
    /// later (the timer used to be rebuilt from the clock after every event).
    #[tokio::test(start_paused = true)]
    async fn a_busy_moment_across_the_close_does_not_delay_it() {
        use crate::json::request::CandleInterval;
        use crate::model::instruments::{InstrumentSpec, Registry};
        use crate::model::tick::{Quote, Source};
        use std::time::Duration;

        let boundary_ms = 1_795_409_100_000; // 10:15:00 IST
        let clock = Arc::new(BusyClock {
            inner: crate::model::clock::TokioClock::starting_at(
                chrono::DateTime::from_timestamp_millis(boundary_ms - 10_000).unwrap(),
            ),
            extra_ms: Default::default(),
        });
        let (_live_tx, live_rx) = watch::channel(crate::model::live::FeedLive::ALWAYS);
        let shutdown = CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let hub = crate::hub::spawn(
            crate::hub::HubConfig::default(),
            live_rx,
            clock.clone(),
            shutdown.clone(),
            &tracker,
        );
        let reg = Registry::new([InstrumentSpec::nse_equity(1, "AAA", "AAA")]);
        let outbox = Arc::new(Outbox::new(1 << 20));
        hub.subscribe(
            1,
            outbox.clone(),
            vec![(reg.by_token(1).unwrap().clone(), Mode::Quote)],
            CandleRequest::On(CandleInterval::M1),
        )
        .await
        .unwrap();
        let tick = Tick {
            token: 1,
            divisor: 100,
            ltp: 100,
            quote: Some(Quote {
                volume: Some(1),
                ..Quote::default()
            }),
            full: None,
            received_ms: boundary_ms - 5_000, // in the 10:14 minute
            src: Source::Ws,
        };
        hub.tick_sender().send(vec![tick]).await.unwrap();
        while hub.latest(vec![1]).await.unwrap()[0].is_none() {
            tokio::task::yield_now().await;
        }

        // 10:15:00.200: the 10:14 minute closes at 10:15:00.500.
        tokio::time::advance(Duration::from_millis(10_200)).await;
        // The hub is busy with an event while the close instant passes.
        clock.extra_ms.store(400, Ordering::Relaxed);
        hub.latest(vec![]).await.unwrap();
        // One more second: the close is long due.
        tokio::time::advance(Duration::from_secs(1)).await;
        hub.latest(vec![]).await.unwrap();

        let mut drained = crate::hub::Drained::default();
        outbox.drain_into(&mut drained, true).unwrap();
        let candles: Vec<&str> = drained
            .immediate
            .iter()
            .map(|m| m.as_str())
            .filter(|m| m.contains("\"type\":\"candle\""))
            .collect();
        assert_eq!(
            candles.len(),
            1,
            "the 10:14 candle closed on time: {candles:?}"
        );
        assert!(
            candles[0].contains("\"t\":\"2026-11-23T10:14:00+05:30\""),
            "{}",
            candles[0]
        );
        shutdown.cancel();
    }
}
