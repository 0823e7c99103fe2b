//! The market-hours scheduler task: applies the session crate's pure decisions on a timer.
//! Publishes whether the feed should run (and whether silence means a stale feed), the market
//! status for health and clients, and triggers the pre-market token check.
//!
//! It wakes at the next scheduled action, at the next phase change, and at least once a minute
//! (so a clock jump or a suspended host is corrected within a minute).

use crate::model::clock::SharedClock;
use crate::model::demand::RunPolicy;
use chrono::{DateTime, Utc};
use feedgate_session::{
    Action, Calendar, MarketStatus, SchedulerConfig, Segment, decide, market_status, rfc3339_ist,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Longest sleep between re-evaluations.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The market as the status monitor needs it: published by the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketView {
    /// `PRE_OPEN`, `AUCTION_FREEZE`, `LIVE`, `POST_CLOSE` or `CLOSED`.
    pub phase: &'static str,
    /// Ticks should flow in this phase.
    pub expects_data: bool,
}

impl MarketView {
    pub const OPEN: MarketView = MarketView {
        phase: "LIVE",
        expects_data: true,
    };
}

#[derive(Debug)]
pub struct ScheduleIo {
    pub clock: SharedClock,
    pub calendar: Arc<Calendar>,
    pub config: SchedulerConfig,
    /// The segment whose phase clients and health show (NSE equity).
    pub segment: Segment,
    pub run: watch::Sender<RunPolicy>,
    pub market: watch::Sender<MarketView>,
    pub status: watch::Sender<MarketStatus>,
    /// Scheduled pre-market token checks go to the auth task.
    pub token_checks: mpsc::Sender<()>,
}

/// The run policy and market view for one instant (pure).
pub fn evaluate(
    now: DateTime<Utc>,
    calendar: &Calendar,
    config: &SchedulerConfig,
    segment: Segment,
) -> (RunPolicy, MarketView, MarketStatus, Action, DateTime<Utc>) {
    let d = decide(now, calendar, config);
    let st = market_status(calendar, segment, now);
    let run = RunPolicy {
        should_run: d.feed_should_run,
        expects_data: d.market_expects_data,
    };
    let phase = if config.dev_mode {
        "LIVE"
    } else {
        st.phase.as_str()
    };
    let view = MarketView {
        phase,
        expects_data: d.market_expects_data,
    };
    let st = if config.dev_mode {
        dev_mode_status(st)
    } else {
        st
    };
    (run, view, st, d.next_action, d.next_action_at)
}

/// In `DEV_MODE` the market is treated as open; say so, and keep the real phase visible.
fn dev_mode_status(real: MarketStatus) -> MarketStatus {
    MarketStatus {
        phase: feedgate_session::MarketPhase::Live,
        title: "Market Live (DEV_MODE)".into(),
        description: format!(
            "DEV_MODE: the market is treated as open. Real {} phase now: {} ({})",
            real.exchange,
            real.phase.as_str(),
            real.description
        ),
        icon: "🟢".into(),
        is_trading_hours: true,
        seconds_to_next_phase: None,
        next_phase: None,
        next_phase_at: None,
        ..real
    }
}

pub async fn run(io: ScheduleIo, shutdown: CancellationToken) {
    let mut first = true;
    let mut pending: Option<(Action, DateTime<Utc>)> = None;
    loop {
        let now = io.clock.now();
        if let Some((Action::TokenCheck, at)) = pending.take()
            && now >= at
        {
            tracing::info!("pre-market token check");
            let _ = io.token_checks.try_send(());
        }
        let (run, view, status, action, action_at) =
            evaluate(now, &io.calendar, &io.config, io.segment);
        for w in &status.warnings {
            if first {
                tracing::warn!(kind = ?w.kind, "{}", w.message);
            }
        }
        if first {
            log_start(&io, now, &status, action, action_at, run);
            first = false;
        }
        let before = *io.run.borrow();
        if before != run {
            tracing::info!(
                feed_should_run = run.should_run,
                market_expects_data = run.expects_data,
                phase = view.phase,
                "schedule changed"
            );
        }
        io.run
            .send_if_modified(|cur| std::mem::replace(cur, run) != run);
        io.market
            .send_if_modified(|cur| std::mem::replace(cur, view) != view);
        io.status.send_replace(status.clone());
        pending = Some((action, action_at));

        let mut wake = (action_at - now).to_std().unwrap_or(Duration::ZERO);
        if let Some(s) = status.seconds_to_next_phase {
            wake = wake.min(Duration::from_secs(s.max(0) as u64));
        }
        // Never spin: sleep at least a little, at most a minute.
        let wake = wake.clamp(Duration::from_millis(200), MAX_SLEEP);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wake) => {}
        }
    }
}

fn log_start(
    io: &ScheduleIo,
    now: DateTime<Utc>,
    status: &MarketStatus,
    action: Action,
    at: DateTime<Utc>,
    run: RunPolicy,
) {
    tracing::info!(
        now_ist = %rfc3339_ist(now),
        phase = status.phase.as_str(),
        holiday = status.holiday.as_deref().unwrap_or(""),
        feed_should_run = run.should_run,
        next_action = ?action,
        next_action_at_ist = %rfc3339_ist(at),
        scheduler_enabled = io.config.enabled,
        dev_mode = io.config.dev_mode,
        "market schedule (computed in Asia/Kolkata)"
    );
    let offset = chrono::Local::now().offset().local_minus_utc();
    if offset != 19_800 {
        let h = offset / 3600;
        let m = (offset.abs() % 3600) / 60;
        // INFO, not WARN: nothing needs doing (WARN is kept for what needs action).
        tracing::info!(
            host_utc_offset = %format!("{h:+03}:{m:02}"),
            "the host timezone is not IST; that is fine: feedgate computes market hours in Asia/Kolkata and does not depend on the host timezone"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::TokioClock;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn evaluate_follows_the_calendar() {
        let cal = Calendar::builtin();
        let cfg = SchedulerConfig::default();
        let (run, view, ..) = evaluate(t("2026-11-23T10:15:00+05:30"), &cal, &cfg, Segment::NseCm);
        assert!(run.should_run && run.expects_data);
        assert_eq!(view.phase, "LIVE");
        let (run, view, st, ..) =
            evaluate(t("2026-11-22T10:15:00+05:30"), &cal, &cfg, Segment::NseCm);
        assert!(!run.should_run, "Sunday");
        assert_eq!((view.phase, st.holiday), ("CLOSED", None));
        let dev = SchedulerConfig {
            dev_mode: true,
            ..SchedulerConfig::default()
        };
        let (run, view, st, ..) =
            evaluate(t("2026-11-22T10:15:00+05:30"), &cal, &dev, Segment::NseCm);
        assert!(run.should_run && run.expects_data);
        assert_eq!((view.phase, st.phase.as_str()), ("LIVE", "LIVE"));
        assert!(
            st.description.contains("Real NSE phase now: CLOSED"),
            "{}",
            st.description
        );
    }

    /// A simulated trading day in paused time: feed starts at 08:55, data expected from 09:15,
    /// the token check fires at 08:50, and the feed stops after the post-close session.
    #[tokio::test(start_paused = true)]
    async fn a_trading_day_in_paused_time() {
        let clock: SharedClock = Arc::new(TokioClock::starting_at(t("2026-11-23T08:30:00+05:30")));
        let (run_tx, mut run_rx) = watch::channel(RunPolicy {
            should_run: false,
            expects_data: false,
        });
        let (market_tx, _m) = watch::channel(MarketView::OPEN);
        let (status_tx, _s) = watch::channel(market_status(
            &Calendar::builtin(),
            Segment::NseCm,
            clock.now(),
        ));
        let (check_tx, mut check_rx) = mpsc::channel(4);
        let shutdown = CancellationToken::new();
        tokio::spawn(run(
            ScheduleIo {
                clock: clock.clone(),
                calendar: Arc::new(Calendar::builtin()),
                config: SchedulerConfig::default(),
                segment: Segment::NseCm,
                run: run_tx,
                market: market_tx,
                status: status_tx,
                token_checks: check_tx,
            },
            shutdown.clone(),
        ));
        let mut log = Vec::new();
        let mut checks = Vec::new();
        let end = t("2026-11-23T17:00:00+05:30");
        while clock.now() < end {
            tokio::select! {
                r = run_rx.changed() => {
                    r.unwrap();
                    let p = *run_rx.borrow_and_update();
                    log.push((rfc3339_ist(clock.now())[11..16].to_string(), p.should_run, p.expects_data));
                }
                Some(()) = check_rx.recv() => checks.push(rfc3339_ist(clock.now())[11..16].to_string()),
                () = tokio::time::sleep(Duration::from_secs(600)) => {}
            }
        }
        shutdown.cancel();
        assert_eq!(checks, ["08:50"]);
        assert_eq!(
            log,
            [
                ("08:55".to_string(), true, false),
                ("09:15".to_string(), true, true),
                // F&O trades until 15:40 since the 2026-08-03 closing-auction change.
                ("15:40".to_string(), true, false),
                ("16:05".to_string(), false, false),
            ]
        );
    }
}
