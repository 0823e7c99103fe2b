//! The election machine, table-driven: each case is a script of inputs at given milliseconds
//! and the outputs each must produce.

use super::*;
use Output::{Acquire, Lead, Release, Renew};

/// An input at a millisecond offset (request times also in milliseconds).
#[derive(Debug, Clone)]
enum At {
    Due,
    Acquired(u64, u64),
    Held(u64, Option<u64>),
    Renewed(u64),
    Lost,
    Failed,
}

fn down(term: u64, why: StepDown) -> Output {
    Output::StepDown { term, why }
}

fn run(script: &[(u64, At, Vec<Output>)]) -> Lease {
    let t0 = Instant::now();
    let ms = |m: u64| t0 + Duration::from_millis(m);
    let mut lease = Lease::new(LeaseTimes::default(), t0);
    for (i, (at, input, want)) in script.iter().enumerate() {
        let input = match input.clone() {
            At::Due => Input::Due,
            At::Acquired(term, sent) => Input::Acquired {
                term,
                sent: ms(sent),
            },
            At::Held(term, ttl) => Input::Held {
                holder: "other".into(),
                term,
                ttl: ttl.map(Duration::from_millis),
            },
            At::Renewed(sent) => Input::Renewed { sent: ms(sent) },
            At::Lost => Input::Lost,
            At::Failed => Input::Failed,
        };
        let got = lease.step(input.clone(), ms(*at));
        assert_eq!(&got, want, "step {i}: {input:?} at {at} ms");
    }
    lease
}

#[test]
fn a_standby_takes_the_free_lock_and_renews_every_second() {
    let lease = run(&[
        (0, At::Due, vec![Acquire]),
        (0, At::Due, vec![]),
        (5, At::Acquired(7, 0), vec![Lead { term: 7 }]),
        (999, At::Due, vec![]),
        (1000, At::Due, vec![Renew { term: 7 }]),
        (1004, At::Renewed(1000), vec![]),
        (2000, At::Due, vec![Renew { term: 7 }]),
        (2002, At::Renewed(2000), vec![]),
    ]);
    assert_eq!(lease.leading(), Some(7));
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

#[test]
fn valid_until_is_counted_from_sending() {
    let t0 = Instant::now();
    let mut lease = Lease::new(LeaseTimes::default(), t0);
    assert_eq!(lease.step(Input::Due, t0), vec![Acquire]);
    let out = lease.step(
        Input::Acquired {
            term: 1,
            sent: t0 + ms(100),
        },
        t0 + ms(900),
    );
    assert_eq!(out, vec![Lead { term: 1 }]);
    assert_eq!(lease.valid_until(), Some(t0 + ms(3100)));
    assert_eq!(lease.deadline(), Some(t0 + ms(1100)), "the first renewal");
}

#[test]
fn a_standby_retries_every_second_or_right_after_the_holders_lock_expires() {
    let lease = run(&[
        (0, At::Due, vec![Acquire]),
        // Held for 2.5 s more: ask again in a second.
        (3, At::Held(4, Some(2500)), vec![]),
        (1002, At::Due, vec![]),
        (1003, At::Due, vec![Acquire]),
        // Held for 300 ms more: ask again right after it expires.
        (1005, At::Held(4, Some(300)), vec![]),
        (1309, At::Due, vec![]),
        (1310, At::Due, vec![Acquire]),
        (1311, At::Acquired(5, 1310), vec![Lead { term: 5 }]),
    ]);
    assert_eq!(lease.leading(), Some(5));
    assert_eq!(lease.known().term, Some(5));
    assert_eq!(lease.known().holder, None);
}

#[test]
fn the_holder_is_known_to_a_standby() {
    let lease = run(&[(0, At::Due, vec![Acquire]), (1, At::Held(9, None), vec![])]);
    assert_eq!(lease.leading(), None);
    assert_eq!(lease.known().holder.as_deref(), Some("other"));
    assert_eq!(lease.known().term, Some(9));
}

#[test]
fn a_failed_renewal_steps_down_at_once() {
    for (input, why) in [
        (At::Failed, StepDown::RenewFailed),
        (At::Lost, StepDown::Lost),
    ] {
        let lease = run(&[
            (0, At::Due, vec![Acquire]),
            (1, At::Acquired(3, 0), vec![Lead { term: 3 }]),
            (1000, At::Due, vec![Renew { term: 3 }]),
            // Well within the lease, but the renewal failed: step down now.
            (1010, input, vec![down(3, why)]),
            (2009, At::Due, vec![]),
            (2010, At::Due, vec![Acquire]),
        ]);
        assert_eq!(lease.leading(), None);
    }
}

#[test]
fn no_answer_before_the_lease_could_expire_steps_down() {
    let lease = run(&[
        (0, At::Due, vec![Acquire]),
        (1, At::Acquired(3, 0), vec![Lead { term: 3 }]),
        (1000, At::Due, vec![Renew { term: 3 }]),
        // The renewal hangs: the lease sent at 0 ends at 3000, less the 200 ms margin.
        (2799, At::Due, vec![]),
        (2800, At::Due, vec![down(3, StepDown::Expired)]),
        // The late answer changes nothing; the next acquisition follows.
        (2900, At::Renewed(1000), vec![Acquire]),
    ]);
    assert_eq!(lease.leading(), None);
}

#[test]
fn the_deadline_of_a_leader_with_a_hanging_renewal_is_its_lease_end() {
    let t0 = Instant::now();
    let mut lease = Lease::new(LeaseTimes::default(), t0);
    lease.step(Input::Due, t0);
    lease.step(Input::Acquired { term: 1, sent: t0 }, t0);
    assert_eq!(
        lease.step(Input::Due, t0 + ms(1000)),
        vec![Renew { term: 1 }]
    );
    assert_eq!(lease.deadline(), Some(t0 + ms(2800)));
}

#[test]
fn an_acquisition_answered_too_late_does_not_lead() {
    let lease = run(&[
        (0, At::Due, vec![Acquire]),
        // Sent at 0, answered at 2900: the lease (less the margin) is over.
        (2900, At::Acquired(2, 0), vec![Acquire]),
        (2950, At::Acquired(3, 2900), vec![Lead { term: 3 }]),
    ]);
    assert_eq!(lease.leading(), Some(3));
}

#[test]
fn answers_to_no_request_are_ignored() {
    let lease = run(&[
        (0, At::Acquired(1, 0), vec![Acquire]),
        (1, At::Renewed(0), vec![]),
        (2, At::Held(1, Some(100)), vec![]),
    ]);
    assert_eq!(lease.leading(), None);
    assert_eq!(lease.known().holder.as_deref(), Some("other"));
}

#[test]
fn shutdown_releases_only_a_held_lock() {
    let t0 = Instant::now();
    let mut lease = Lease::new(LeaseTimes::default(), t0);
    assert_eq!(lease.shutdown(), vec![]);
    lease.step(Input::Due, t0);
    lease.step(Input::Acquired { term: 4, sent: t0 }, t0);
    assert_eq!(
        lease.shutdown(),
        vec![down(4, StepDown::Shutdown), Release { term: 4 }]
    );
    assert_eq!(lease.leading(), None);
}

#[test]
fn terms_come_from_the_store_and_each_lead_announces_its_own() {
    let lease = run(&[
        (0, At::Due, vec![Acquire]),
        (1, At::Acquired(1, 0), vec![Lead { term: 1 }]),
        (1000, At::Due, vec![Renew { term: 1 }]),
        (1001, At::Failed, vec![down(1, StepDown::RenewFailed)]),
        (2001, At::Due, vec![Acquire]),
        (2002, At::Acquired(2, 2001), vec![Lead { term: 2 }]),
    ]);
    assert_eq!(lease.leading(), Some(2));
}
