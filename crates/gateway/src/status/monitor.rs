//! The status monitor: combines the upstream shards, the market phase, the auth state and the
//! REST fallback into what clients are told (`connection_status`, heartbeats) and whether the
//! hub's values are live. Samples connection quality once a second.

use crate::auth::AuthState;
use crate::model::gauges::Gauges;
use crate::model::live::FeedLive;
use crate::status::schedule::MarketView;
use crate::status::verdict::{feed_is_healthy, feed_mode, is_fresh};
use crate::status::view::ClientStatus;
use crate::upstream::{FeedState, ShardStatus, aggregate_state, fallback_reported, rest_wanted};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Connection quality over a trailing window of one-second samples, counting only samples
/// taken while the market should produce data (DESIGN.md §5).
///
/// The first connection after start is not an outage: until the feed first delivers, bad
/// samples are held back, and dropped when data comes within the grace (a start that connects
/// in two seconds reads 100 %, not 66.7 %), or counted when it does not (a feed that never
/// works reads 0 %).
#[derive(Debug, Clone)]
pub struct QualityWindow {
    samples: VecDeque<bool>,
    capacity: usize,
    good: usize,
    /// Bad samples before the first good one, while within the grace.
    held: usize,
    /// `None` once the feed has delivered or the grace ran out.
    grace: Option<usize>,
}

impl QualityWindow {
    /// A window of `capacity` samples (900 = 15 minutes at one per second), with `grace`
    /// samples for the first connection.
    pub fn new(capacity: usize, grace: usize) -> Self {
        Self {
            samples: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            good: 0,
            held: 0,
            grace: Some(grace),
        }
    }

    pub fn push(&mut self, good: bool) {
        if let Some(grace) = self.grace {
            if good {
                self.grace = None;
                self.held = 0;
            } else if self.held < grace {
                self.held += 1;
                return;
            } else {
                self.grace = None;
                for _ in 0..std::mem::take(&mut self.held) {
                    self.record(false);
                }
            }
        }
        self.record(good);
    }

    fn record(&mut self, good: bool) {
        if self.samples.len() == self.capacity
            && let Some(old) = self.samples.pop_front()
            && old
        {
            self.good -= 1;
        }
        self.samples.push_back(good);
        if good {
            self.good += 1;
        }
    }

    /// Percentage with one decimal; 100 when there is no should-have-data time yet.
    pub fn percent(&self) -> f64 {
        if self.samples.is_empty() {
            return 100.0;
        }
        let p = self.good as f64 * 100.0 / self.samples.len() as f64;
        (p * 10.0).round() / 10.0
    }
}

/// Everything the monitor combines, at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub feed: FeedState,
    /// The REST fallback serves (reported after `FEED_MAX_RECONNECTS` failures).
    pub fallback: bool,
    /// REST quotes bridge a gap of the WebSocket.
    pub bridging: bool,
    pub market: MarketView,
    pub auth: AuthState,
    pub fresh: bool,
    pub quality: f64,
    pub login_url: String,
    pub poll_interval_s: u64,
}

/// Pure: what clients are told.
pub fn client_status(i: &Inputs) -> ClientStatus {
    let connected = i.feed == FeedState::Connected;
    // REST polling keeps data flowing but the feed itself is not healthy (DEGRADED, amber).
    let is_healthy = feed_is_healthy(i.feed, i.fresh, i.market.expects_data);
    let quality =
        if i.fallback || i.bridging || (connected && i.quality < 95.0 && i.quality >= 80.0) {
            "DEGRADED"
        } else if is_healthy && i.quality >= 95.0 {
            "EXCELLENT"
        } else {
            "POOR"
        };
    let message = if i.auth.requires_login() {
        format!("Login required to view live data: open {}", i.login_url)
    } else if i.fallback {
        format!(
            "Using REST fallback: the broker WebSocket is unavailable, polling quotes every {} s",
            i.poll_interval_s
        )
    } else if i.bridging {
        "Bridging over REST while reconnecting: quotes are polled until the WebSocket delivers again"
            .to_string()
    } else if !i.market.expects_data && !connected {
        match i.market.phase {
            "CLOSED" => "Market closed: showing last known prices".to_string(),
            _ => "Waiting for the market session: showing last known prices".to_string(),
        }
    } else {
        match i.feed {
            FeedState::Connected if is_healthy && i.quality >= 95.0 => {
                "✓ Connected and receiving live data".to_string()
            }
            // The label speaks for the last 15 minutes; say so, or "POOR" next to a tick
            // arriving now reads as a contradiction.
            FeedState::Connected if is_healthy => format!(
                "✓ Receiving live data; the feed was live {:.0} % of the last 15 minutes",
                i.quality
            ),
            FeedState::Connected => {
                "Connected, but no data is arriving: checking the feed".to_string()
            }
            FeedState::Stale => {
                "Feed stale: no data while the market is open; reconnecting…".to_string()
            }
            FeedState::Connecting => "Reconnecting to the broker…".to_string(),
            FeedState::Disconnected => "Disconnected from the broker; reconnecting…".to_string(),
            FeedState::Error => "Cannot reach the broker feed; retrying with backoff…".to_string(),
        }
    };
    ClientStatus {
        mode: feed_mode(i.fallback),
        quality,
        message,
        market_status: i.market.phase,
        auth_required: i.auth.requires_login(),
        feed_state: i.feed.as_str(),
        is_healthy,
        connection_quality: i.quality,
        using_rest_fallback: i.fallback,
    }
}

/// The monitor task's inputs.
#[derive(Debug)]
pub struct MonitorIo {
    pub shards: watch::Receiver<Vec<ShardStatus>>,
    pub market: watch::Receiver<MarketView>,
    pub auth: watch::Receiver<AuthState>,
    pub fallback: watch::Receiver<bool>,
    pub gauges: Arc<Gauges>,
    pub clock: crate::model::clock::SharedClock,
    pub stale_threshold: Duration,
    pub poll_interval: Duration,
    pub login_url: String,
    pub status: watch::Sender<ClientStatus>,
    pub feed_live: watch::Sender<FeedLive>,
    pub quality: watch::Sender<f64>,
    /// In a cluster, `true` while the leader's ticks flow in through Redis: data is live on
    /// this node without a broker connection of its own.
    pub relay: Option<watch::Receiver<bool>>,
    /// In a cluster, the leader's status: what this node's clients are told while it does not
    /// lead.
    pub follow: Option<super::follower::Follow>,
}

/// Recomputes the status on every input change and once a second (freshness and quality).
pub async fn run(mut io: MonitorIo, shutdown: CancellationToken) {
    let grace = io.stale_threshold.as_secs().max(1) as usize;
    let mut window = QualityWindow::new(900, grace);
    let mut last_down_ms = io.clock.now_ms();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let sample = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = tick.tick() => true,
            r = io.shards.changed() => { if r.is_err() { break } false }
            r = io.market.changed() => { if r.is_err() { break } false }
            r = io.auth.changed() => { if r.is_err() { break } false }
            r = io.fallback.changed() => { if r.is_err() { break } false }
            () = super::follower::changed(&mut io.follow) => false,
            r = relay_changed(&mut io.relay) => {
                if r.is_err() {
                    io.relay = None;
                }
                false
            }
        };
        let (feed, reported, wanted) = {
            let shards = io.shards.borrow();
            let s = &shards[..];
            (aggregate_state(s), fallback_reported(s), rest_wanted(s))
        };
        let market = *io.market.borrow();
        let polling = *io.fallback.borrow() && wanted;
        let fallback = polling && reported;
        let now_ms = io.clock.now_ms();
        let fresh = is_fresh(
            io.gauges.last_tick_seconds_ago(now_ms),
            io.stale_threshold.as_secs_f64(),
        );
        if sample && market.expects_data {
            window.push(feed == FeedState::Connected && fresh);
        }
        let inputs = Inputs {
            feed,
            fallback,
            bridging: polling && !reported,
            market,
            auth: *io.auth.borrow(),
            fresh,
            quality: window.percent(),
            login_url: io.login_url.clone(),
            poll_interval_s: io.poll_interval.as_secs(),
        };
        let inputs = match &io.follow {
            Some(f) => f.inputs(inputs, tokio::time::Instant::now()),
            None => inputs,
        };
        let st = client_status(&inputs);
        io.status
            .send_if_modified(|cur| std::mem::replace(cur, st.clone()) != st);
        record_feed_gauges(feed, polling, window.percent());
        let relayed = io.relay.as_ref().is_some_and(|r| *r.borrow());
        let live = feed == FeedState::Connected || polling || relayed;
        if !live {
            last_down_ms = now_ms;
        }
        publish_live(&io, live, last_down_ms, window.percent());
    }
}

/// Whether the hub's values are live (and since when), and the quality.
fn publish_live(io: &MonitorIo, live: bool, last_down_ms: i64, quality: f64) {
    let feed_live = if live {
        FeedLive::since(last_down_ms)
    } else {
        FeedLive::DOWN
    };
    io.feed_live
        .send_if_modified(|cur| std::mem::replace(cur, feed_live) != feed_live);
    io.quality
        .send_if_modified(|cur| std::mem::replace(cur, quality) != quality);
}

/// The relay's next change; never, without one.
async fn relay_changed(
    relay: &mut Option<watch::Receiver<bool>>,
) -> Result<(), watch::error::RecvError> {
    match relay {
        Some(r) => r.changed().await,
        None => std::future::pending().await,
    }
}

/// Prometheus gauges for the upstream: one-hot `feedgate_upstream_state{state=…}`, whether the
/// REST fallback serves, and the connection quality.
fn record_feed_gauges(feed: FeedState, fallback: bool, quality: f64) {
    for s in [
        FeedState::Connecting,
        FeedState::Connected,
        FeedState::Stale,
        FeedState::Disconnected,
        FeedState::Error,
    ] {
        let v = if s == feed { 1.0 } else { 0.0 };
        metrics::gauge!("feedgate_upstream_state", "state" => s.as_str()).set(v);
    }
    metrics::gauge!("feedgate_fallback_active").set(if fallback { 1.0 } else { 0.0 });
    metrics::gauge!("feedgate_connection_quality_percent").set(quality);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(feed: FeedState) -> Inputs {
        Inputs {
            feed,
            fallback: false,
            bridging: false,
            market: MarketView::OPEN,
            auth: AuthState::Valid,
            fresh: true,
            quality: 100.0,
            login_url: "http://127.0.0.1:8080/api/login".into(),
            poll_interval_s: 2,
        }
    }

    #[test]
    fn quality_and_messages() {
        let ok = client_status(&inputs(FeedState::Connected));
        assert_eq!(
            (ok.mode, ok.quality, ok.is_healthy),
            ("WebSocket", "EXCELLENT", true)
        );
        assert_eq!(ok.message, "✓ Connected and receiving live data");

        let mut i = inputs(FeedState::Connected);
        i.quality = 90.0;
        assert_eq!(client_status(&i).quality, "DEGRADED");
        i.quality = 50.0;
        let st = client_status(&i);
        assert_eq!(st.quality, "POOR");
        assert_eq!(
            st.message,
            "✓ Receiving live data; the feed was live 50 % of the last 15 minutes"
        );

        let mut i = inputs(FeedState::Error);
        i.fallback = true;
        let st = client_status(&i);
        assert_eq!(
            (st.mode, st.quality, st.using_rest_fallback),
            ("REST API Polling", "DEGRADED", true)
        );
        assert!(st.message.contains("REST fallback"));

        let mut i = inputs(FeedState::Connected);
        i.auth = AuthState::Expired;
        let st = client_status(&i);
        assert!(st.auth_required && st.message.contains("/api/login"));

        let mut i = inputs(FeedState::Disconnected);
        i.market = MarketView {
            phase: "CLOSED",
            expects_data: false,
        };
        assert_eq!(
            client_status(&i).message,
            "Market closed: showing last known prices"
        );

        let st = client_status(&inputs(FeedState::Connecting));
        assert_eq!((st.quality, st.is_healthy), ("POOR", false));
        assert!(st.message.contains("Reconnecting"));
    }

    #[test]
    fn quality_window_is_a_trailing_percentage() {
        let mut w = QualityWindow::new(10, 0);
        assert_eq!(w.percent(), 100.0);
        for _ in 0..9 {
            w.push(true);
        }
        w.push(false);
        assert_eq!(w.percent(), 90.0);
        for _ in 0..9 {
            w.push(true);
        }
        assert_eq!(w.percent(), 90.0, "still in the window");
        w.push(true);
        assert_eq!(w.percent(), 100.0, "the bad sample slid out of the window");
        for _ in 0..10 {
            w.push(false);
        }
        assert_eq!(w.percent(), 0.0);
    }

    #[test]
    fn the_first_connection_is_not_an_outage_unless_it_never_comes() {
        // Two seconds of connecting, then data: nothing was lost.
        let mut w = QualityWindow::new(900, 10);
        w.push(false);
        w.push(false);
        assert_eq!(w.percent(), 100.0, "no data yet is not bad quality");
        w.push(true);
        assert_eq!(w.percent(), 100.0);
        // Later gaps count as usual.
        w.push(false);
        assert_eq!(w.percent(), 50.0);

        // A feed that never delivers: once the grace is over, every second counts.
        let mut w = QualityWindow::new(900, 3);
        for _ in 0..3 {
            w.push(false);
        }
        assert_eq!(w.percent(), 100.0);
        w.push(false);
        assert_eq!(w.percent(), 0.0, "all four held-back seconds count");
        w.push(true);
        assert_eq!(w.percent(), 20.0);
    }
}
