//! Leadership as one more condition of the feed: the upstream runs when the scheduler says so
//! *and* this node leads. A node that stops leading publishes `should_run = false` at once,
//! which closes its broker sockets (the upstream's own reaction to a stop).

use crate::model::demand::RunPolicy;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The run policy of a node that leads (`leading`) or not (pure).
pub fn gated(run: RunPolicy, leading: bool) -> RunPolicy {
    RunPolicy {
        should_run: run.should_run && leading,
        expects_data: run.expects_data,
    }
}

/// The gated policy as a watch, starting from the current values, and the task that keeps it
/// up to date until `shutdown`. An input that closes keeps its last value (the output stays
/// open until shutdown: the upstream reads a closed run channel as its own shutdown).
pub fn spawn(
    schedule: watch::Receiver<RunPolicy>,
    leading: watch::Receiver<bool>,
    shutdown: CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) -> watch::Receiver<RunPolicy> {
    let first = gated(*schedule.borrow(), *leading.borrow());
    let (tx, rx) = watch::channel(first);
    tracker.spawn(follow(schedule, leading, tx, shutdown));
    rx
}

async fn follow(
    mut schedule: watch::Receiver<RunPolicy>,
    mut leading: watch::Receiver<bool>,
    out: watch::Sender<RunPolicy>,
    shutdown: CancellationToken,
) {
    loop {
        let run = gated(*schedule.borrow_and_update(), *leading.borrow_and_update());
        out.send_if_modified(|cur| std::mem::replace(cur, run) != run);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            r = leading.changed() => if r.is_err() { break },
            r = schedule.changed() => if r.is_err() { break },
        }
    }
    let run = gated(*schedule.borrow(), *leading.borrow());
    out.send_if_modified(|cur| std::mem::replace(cur, run) != run);
    shutdown.cancelled().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF: RunPolicy = RunPolicy {
        should_run: false,
        expects_data: false,
    };

    #[test]
    fn the_feed_runs_only_when_scheduled_and_leading() {
        for (run, leading, want) in [
            (RunPolicy::ALWAYS, true, RunPolicy::ALWAYS),
            (
                RunPolicy::ALWAYS,
                false,
                RunPolicy {
                    should_run: false,
                    expects_data: true,
                },
            ),
            (OFF, true, OFF),
            (OFF, false, OFF),
        ] {
            assert_eq!(gated(run, leading), want, "{run:?} leading={leading}");
        }
    }

    #[tokio::test]
    async fn a_step_down_stops_the_feed_at_once() {
        let (_run_tx, run_rx) = watch::channel(RunPolicy::ALWAYS);
        let (lead_tx, lead_rx) = watch::channel(false);
        let tracker = tokio_util::task::TaskTracker::new();
        let shutdown = CancellationToken::new();
        let mut gated_rx = spawn(run_rx, lead_rx, shutdown.clone(), &tracker);
        assert!(!gated_rx.borrow_and_update().should_run);
        lead_tx.send_replace(true);
        gated_rx.changed().await.unwrap();
        assert!(gated_rx.borrow_and_update().should_run);
        lead_tx.send_replace(false);
        gated_rx.changed().await.unwrap();
        assert!(!gated_rx.borrow_and_update().should_run);
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
    }
}
