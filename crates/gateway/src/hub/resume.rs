//! Resuming a `/ws/market` client after a reconnect (DESIGN.md §12): its instruments stay
//! subscribed upstream for a while after it leaves (`linger`), every value in the meantime is
//! numbered and kept ([`crate::hub::replay`]), and `resume` subscribes it again and gives it
//! exactly the values after the last `seq` it saw, in order, before any live one, with no
//! snapshot in between. What the ring no longer holds is rebuilt from the recording
//! ([`crate::hub::refill`]) while the resume waits, its rings pinned; another epoch (the
//! gateway restarted), REST values and a recording that cannot be used make the answer
//! incomplete; the client then gets what there is and the current value.

use super::{ClientSubs, Entry, HubCore, Liveness};
use crate::hub::ClientId;
use crate::hub::outbox::Outbox;
use crate::hub::refill::Refilled;
use crate::hub::replay::RefillPlan;
use crate::hub::sink::Sink;
use crate::json::request::CandleRequest;
use crate::json::ticker::{Freshness, Stamp, write_stamped};
use crate::model::instruments::Instrument;
use crate::model::tick::{Mode, Tick, Token};
use axum::extract::ws::Utf8Bytes;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::time::Instant;

/// One instrument a client resumes: the last `seq` it saw of it.
#[derive(Debug, Clone)]
pub struct ResumeItem {
    pub inst: Arc<Instrument>,
    pub mode: Mode,
    pub after: u64,
}

/// What a resume gave the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResumeReport {
    pub replayed: usize,
    pub complete: bool,
    /// Of `replayed`, the values rebuilt from the recording.
    pub from_recording: usize,
}

/// How a resume goes on.
#[derive(Debug)]
pub enum ResumeStart {
    Done(ResumeReport),
    /// Part of the gap is to be rebuilt from the recording: read `plans` (off the hub task),
    /// then [`HubCore::finish_resume`] with `id`.
    Pending {
        id: u64,
        plans: Vec<RefillPlan>,
    },
}

/// A resume waiting for the recording. Its instruments' rings are pinned from the first seq
/// it will take from them, so nothing between the recorded part and the ring is lost meanwhile.
#[derive(Debug)]
pub(super) struct PendingResume {
    client: ClientId,
    outbox: Arc<Outbox>,
    items: Vec<ResumeItem>,
    epoch: u64,
    pins: Vec<(Token, u64)>,
}

/// What one instrument of a resume gives the client ([`HubCore::replay_item`]).
#[derive(Debug)]
struct ItemReplay {
    texts: Vec<Utf8Bytes>,
    /// Bytes of the replayed values (the current value sent instead is not counted).
    bytes: usize,
    from_recording: usize,
    /// The `seq` range not replayed.
    lost: Option<(u64, u64)>,
}

impl HubCore {
    /// Keeps `tokens` subscribed upstream (at these modes) for the linger time.
    pub(super) fn linger(&mut self, tokens: &[(Token, Mode)]) {
        if self.resume.linger.is_zero() {
            return;
        }
        let until = Instant::now() + self.resume.linger;
        for (token, mode) in tokens {
            let Some(held) = self.held.get_mut(token) else {
                continue;
            };
            let Some(inst) = held.subscribed.as_ref().map(|e| e.inst.clone()) else {
                continue;
            };
            let mode = held
                .lingering
                .as_ref()
                .map_or(*mode, |(_, m, _)| (*m).max(*mode));
            held.lingering = Some((inst, mode, until));
            self.wanted.insert(*token);
        }
    }

    /// Ends the lingering that expired by `now`; true when the demand may have changed.
    pub fn sweep_lingering(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for (token, held) in &mut self.held {
            if held
                .lingering
                .as_ref()
                .is_some_and(|(_, _, until)| *until <= now)
            {
                held.lingering = None;
                changed = true;
                if held.subscribed.is_none() {
                    held.log.forget();
                }
                if !held.wanted() {
                    self.wanted.remove(token);
                }
            }
        }
        if changed {
            self.held.retain(|_, h| !h.is_empty());
        }
        changed
    }

    /// Starts a resume: done at once when the ring (or nothing) can fill every item's gap;
    /// pending when the recording can fill some of it (see [`ResumeStart::Pending`]). The
    /// client is subscribed to the resumed instruments only when the resume finishes.
    pub fn start_resume(
        &mut self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        items: Vec<ResumeItem>,
        epoch: u64,
        live: Liveness,
    ) -> ResumeStart {
        let mut plans = Vec::new();
        if epoch == self.resume.epoch && self.resume.anchoring.keep > 0 {
            for item in &items {
                let token = item.inst.token;
                let Some(held) = self.held.get(&token) else {
                    continue;
                };
                let Some((_, latest)) = &held.latest else {
                    continue;
                };
                plans.extend(held.log.refill_plan(token, item.after, latest));
            }
        }
        if plans.is_empty() {
            let report = self.resume_with(client, outbox, &items, epoch, live, &HashMap::new());
            return ResumeStart::Done(report);
        }
        let mut pins = Vec::new();
        for item in &items {
            let token = item.inst.token;
            // Already subscribed (filling a jump in `seq`): its live values would reach the
            // client before the replay, so it is taken back until then (lingering upstream).
            if (self.clients.get(&client)).is_some_and(|c| c.tokens.contains_key(&token)) {
                self.linger(&[(token, item.mode)]);
                self.unsubscribe(client, &[token]);
            }
            if let Some(held) = self.held.get_mut(&token) {
                held.log.pin(item.after + 1);
                pins.push((token, item.after + 1));
            }
        }
        let id = self.next_pending;
        self.next_pending += 1;
        self.pending.insert(
            id,
            PendingResume {
                client,
                outbox: outbox.clone(),
                items,
                epoch,
                pins,
            },
        );
        ResumeStart::Pending { id, plans }
    }

    /// Finishes a pending resume with what the recording gave (`refilled`, by token): the
    /// client is subscribed and given the recorded values, then the ring's. `None` when the
    /// client left meanwhile.
    pub fn finish_resume(
        &mut self,
        id: u64,
        refilled: Vec<Refilled>,
        plans: &[RefillPlan],
        live: Liveness,
    ) -> Option<(ClientId, ResumeReport)> {
        let p = self.pending.remove(&id)?;
        self.unpin(&p.pins);
        let recorded: HashMap<Token, Refilled> =
            (plans.iter().map(|p| p.token)).zip(refilled).collect();
        let report = self.resume_with(p.client, &p.outbox, &p.items, p.epoch, live, &recorded);
        Some((p.client, report))
    }

    /// Drops the pending resumes of a client that left.
    pub(super) fn cancel_resumes(&mut self, client: ClientId) {
        let ids: Vec<u64> = (self.pending.iter())
            .filter(|(_, p)| p.client == client)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(p) = self.pending.remove(&id) {
                self.unpin(&p.pins);
            }
        }
    }

    fn unpin(&mut self, pins: &[(Token, u64)]) {
        for (token, seq) in pins {
            if let Some(held) = self.held.get_mut(token) {
                held.log.unpin(*seq);
            }
        }
    }

    /// Subscribes `client` to `items` without snapshots and queues, in order: the `resume`
    /// reply, then every value after each item's `after` (or, when another `epoch` numbered
    /// them or they are no longer kept, what there is and the current value). Without the
    /// recording; see [`HubCore::start_resume`] for a resume that may use it.
    pub fn resume(
        &mut self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        items: &[ResumeItem],
        epoch: u64,
        live: Liveness,
    ) -> ResumeReport {
        self.resume_with(client, outbox, items, epoch, live, &HashMap::new())
    }

    /// [`HubCore::resume`], with the values `recorded` rebuilt per token: those after the
    /// client's `after` come first, then the ring's after the last of them.
    fn resume_with(
        &mut self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        items: &[ResumeItem],
        epoch: u64,
        live: Liveness,
        recorded: &HashMap<Token, Refilled>,
    ) -> ResumeReport {
        let same_epoch = epoch == self.resume.epoch;
        let budget = outbox.immediate_limit() / 2;
        let mut queued = 0;
        let mut texts: Vec<Utf8Bytes> = Vec::new();
        let mut from_recording = 0;
        let mut missing = Map::new();
        for item in items {
            self.add_quietly(client, outbox, &item.inst, item.mode);
            // A client already subscribed (filling a gap it saw in `seq`) may have the latest
            // value pending: the replay below ends with it, so it must not come twice.
            if let Some((_, slot)) = self
                .clients
                .get(&client)
                .and_then(|c| c.tokens.get(&item.inst.token))
            {
                outbox.drop_pending(*slot);
            }
            let rebuilt: &[(u64, Tick)] = match recorded.get(&item.inst.token) {
                Some(r) if same_epoch && r.failure.is_none() => &r.ticks,
                _ => &[],
            };
            let room = budget.saturating_sub(queued);
            let Some(r) = self.replay_item(item, same_epoch, live, rebuilt, room) else {
                continue;
            };
            if let Some((from, to)) = r.lost {
                missing.insert(item.inst.symbol.to_string(), json!([from, to]));
            }
            queued += r.bytes;
            from_recording += r.from_recording;
            texts.extend(r.texts);
        }
        let complete = same_epoch && missing.is_empty();
        let mut reply = json!({
            "type": "resume",
            "complete": complete,
            "epoch": self.resume.epoch,
            "replayed": texts.len(),
            "from_recording": from_recording,
            "missing": Value::Object(missing),
        });
        if !same_epoch {
            reply["reason"] =
                json!("the gateway restarted since (another epoch): snapshots instead");
        }
        let _ = outbox.push_immediate(Utf8Bytes::from(reply.to_string()));
        let replayed = texts.len();
        for t in texts {
            let _ = outbox.push_immediate(t);
        }
        ResumeReport {
            replayed,
            complete,
            from_recording,
        }
    }

    /// What one instrument of a resume gives the client: the `rebuilt` values after its
    /// `after`, then the ring's after the last of them, within `room` bytes of the outbox (the
    /// oldest rebuilt values give way); `None` when the hub knows nothing of the instrument.
    fn replay_item(
        &self,
        item: &ResumeItem,
        same_epoch: bool,
        live: Liveness,
        rebuilt: &[(u64, Tick)],
        room: usize,
    ) -> Option<ItemReplay> {
        let held = self.held.get(&item.inst.token)?;
        let (inst, latest) = held.latest.as_ref()?;
        let stamp = |seq| {
            Some(Stamp {
                seq,
                epoch: self.resume.epoch,
            })
        };
        let after = if same_epoch { item.after } else { 0 };
        let rebuilt: Vec<&(u64, Tick)> = rebuilt.iter().filter(|(s, _)| *s > after).collect();
        let last_rebuilt = rebuilt.last().map(|(s, _)| *s);
        let missed = held.log.since(last_rebuilt.unwrap_or(after));
        let upto = missed
            .gap
            .map_or(last_rebuilt.unwrap_or(after), |(_, to)| to);
        let encode = |seq: u64, tick: &Tick| {
            let freshness = Freshness::of(tick, live.feed, live.now_ms);
            let mut text = String::with_capacity(256);
            write_stamped(&mut text, tick, inst, item.mode, freshness, stamp(seq));
            Utf8Bytes::from(text)
        };
        let ring: Vec<Utf8Bytes> = (missed.ticks.iter()).map(|(s, t)| encode(*s, t)).collect();
        let mut recorded: VecDeque<(u64, Utf8Bytes)> =
            (rebuilt.iter()).map(|(s, t)| (*s, encode(*s, t))).collect();
        // The oldest recorded values give way to what the client's outbox can queue at once
        // (past it the client would be dropped): they are reported missing instead.
        let ring_bytes: usize = ring.iter().map(|t| t.len()).sum();
        let room = room.saturating_sub(ring_bytes);
        let mut fitting: usize = recorded.iter().map(|(_, t)| t.len()).sum();
        while fitting > room {
            let Some((_, t)) = recorded.pop_front() else {
                break;
            };
            fitting -= t.len();
        }
        let seqs: Vec<u64> = recorded.iter().map(|(s, _)| *s).collect();
        let lost = match uncovered(after, upto, &seqs) {
            _ if !same_epoch => Some(missed.gap.unwrap_or((1, held.log.seq()))),
            lost => lost,
        };
        let from_recording = recorded.len();
        let mut texts: Vec<Utf8Bytes> = recorded.into_iter().map(|(_, t)| t).chain(ring).collect();
        // Nothing to replay but a value the client lacks: the current one.
        if texts.is_empty() && lost.is_some() {
            let freshness = Freshness::of(latest, live.feed, live.now_ms);
            let seq = (held.log.seq() > 0).then(|| held.log.seq());
            let mut text = String::with_capacity(256);
            write_stamped(
                &mut text,
                latest,
                inst,
                item.mode,
                freshness,
                seq.and_then(stamp),
            );
            texts.push(Utf8Bytes::from(text));
        }
        Some(ItemReplay {
            texts,
            bytes: fitting + ring_bytes,
            from_recording,
            lost,
        })
    }

    /// A subscription like [`HubCore::subscribe`]'s, without a snapshot.
    fn add_quietly(
        &mut self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        inst: &Arc<Instrument>,
        mode: Mode,
    ) {
        let subs = self.clients.entry(client).or_insert_with(|| ClientSubs {
            sink: Sink::Json(outbox.clone()),
            tokens: HashMap::new(),
        });
        let token = inst.token;
        let held = self.held.entry(token).or_default();
        if held.subscribed.is_none() {
            self.subscribed += 1;
            self.wanted.insert(token);
        }
        let entry = held.subscribed.get_or_insert_with(|| Entry {
            inst: inst.clone(),
            subs: Vec::new(),
        });
        entry.add(client, subs, mode, CandleRequest::Keep);
    }
}

/// The first and last seq of `after+1..=upto` not among `covered` (ascending), if any.
fn uncovered(after: u64, upto: u64, covered: &[u64]) -> Option<(u64, u64)> {
    if upto <= after {
        return None;
    }
    let inside: Vec<u64> = (covered.iter().copied())
        .filter(|s| *s > after && *s <= upto)
        .collect();
    let lead = inside.iter().zip(after + 1..).take_while(|(s, n)| *s == n);
    let first = after + 1 + lead.count() as u64;
    if first > upto {
        return None;
    }
    let tail = inside
        .iter()
        .rev()
        .zip((0..=upto).rev())
        .take_while(|(s, n)| *s == n);
    let last = upto - tail.count() as u64;
    Some((first, last))
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{LIVE, reg, tick};
    use super::*;
    use crate::hub::outbox::Drained;

    fn texts(ob: &Outbox) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
        let mut d = Drained::default();
        ob.drain_into(&mut d, true).unwrap();
        let parse = |v: &Vec<Utf8Bytes>| {
            v.iter()
                .map(|t| serde_json::from_str(t.as_str()).unwrap())
                .collect()
        };
        (parse(&d.immediate), parse(&d.ticks))
    }

    fn item(r: &crate::model::instruments::Registry, token: Token, after: u64) -> ResumeItem {
        ResumeItem {
            inst: r.by_token(token).unwrap().clone(),
            mode: Mode::Quote,
            after,
        }
    }

    fn hub() -> HubCore {
        HubCore::new().with_resume(crate::hub::ResumeConfig {
            epoch: 42,
            keep: 4,
            linger: std::time::Duration::from_secs(60),
            anchoring: crate::hub::replay::Anchoring::OFF,
        })
    }

    /// The client leaves after seq 2; three values arrive while it is away (its instrument
    /// lingers upstream); its resume gets exactly seq 3..5 before any live value, then seq 6
    /// arrives live.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_comes_back_gets_exactly_what_it_missed() {
        let r = reg();
        let mut hub = hub();
        let first = Arc::new(Outbox::new(1 << 20));
        quote_of_one(&mut hub, 1, &first, &r);
        hub.on_ticks(&[tick(1, 101, 1), tick(1, 102, 2)], LIVE);
        let (_, ticks) = texts(&first);
        assert_eq!(ticks.last().unwrap()["data"]["seq"], 2);
        assert_eq!(ticks.last().unwrap()["data"]["epoch"], 42);
        hub.disconnect(1);
        assert_eq!(hub.demand().len(), 1, "the instrument lingers upstream");
        hub.on_ticks(&[tick(1, 103, 3), tick(1, 104, 4), tick(1, 105, 5)], LIVE);

        let back = Arc::new(Outbox::new(1 << 20));
        let report = hub.resume(2, &back, &[item(&r, 1, 2)], 42, LIVE);
        assert_eq!(
            report,
            ResumeReport {
                replayed: 3,
                complete: true,
                from_recording: 0,
            }
        );
        hub.on_ticks(&[tick(1, 106, 6)], LIVE);
        let (immediate, live) = texts(&back);
        assert_eq!(immediate[0]["type"], "resume");
        assert_eq!(immediate[0]["complete"], true);
        let seqs: Vec<_> = immediate[1..]
            .iter()
            .map(|m| m["data"]["seq"].clone())
            .collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(immediate[3]["data"]["ltp"], 1.05);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0]["data"]["seq"], 6);

        // The lingering ends after its time (the client is back, so the instrument stays).
        tokio::time::advance(std::time::Duration::from_secs(61)).await;
        assert!(hub.sweep_lingering(Instant::now()));
        assert_eq!(hub.demand().len(), 1);
        hub.disconnect(2);
        tokio::time::advance(std::time::Duration::from_secs(61)).await;
        hub.sweep_lingering(Instant::now());
        assert!(hub.demand().is_empty(), "nobody is coming back");
    }

    #[tokio::test(start_paused = true)]
    async fn another_epoch_or_a_lost_stretch_is_incomplete_with_the_current_value() {
        let r = reg();
        let mut hub = hub();
        let first = Arc::new(Outbox::new(1 << 20));
        quote_of_one(&mut hub, 1, &first, &r);
        for v in 1..=10 {
            hub.on_ticks(&[tick(1, 100 + v, v as u64)], LIVE);
        }
        // Kept: the last 4 (seq 7..10); a client at seq 2 lost 3..6.
        let back = Arc::new(Outbox::new(1 << 20));
        let report = hub.resume(2, &back, &[item(&r, 1, 2)], 42, LIVE);
        assert_eq!(
            report,
            ResumeReport {
                replayed: 4,
                complete: false,
                from_recording: 0,
            }
        );
        let (immediate, _) = texts(&back);
        assert_eq!(
            immediate[0]["missing"]["NSE:AAA"],
            serde_json::json!([3, 6])
        );
        // A client of an earlier run: the current value, marked incomplete.
        let other = Arc::new(Outbox::new(1 << 20));
        let report = hub.resume(3, &other, &[item(&r, 1, 9)], 7, LIVE);
        assert!(!report.complete);
        let (immediate, _) = texts(&other);
        assert_eq!(immediate[0]["complete"], false);
        assert!(immediate[0]["reason"].as_str().unwrap().contains("epoch"));
        assert_eq!(immediate.last().unwrap()["data"]["seq"], 10);
    }

    /// A client still connected that saw a gap in `seq` (it read too slowly and was conflated)
    /// fills it with a resume: the missed values once each, the pending latest not repeated.
    #[tokio::test(start_paused = true)]
    async fn a_connected_client_fills_a_gap_without_a_duplicate() {
        let r = reg();
        let mut hub = hub();
        let ob = Arc::new(Outbox::new(1 << 20));
        quote_of_one(&mut hub, 1, &ob, &r);
        hub.on_ticks(&[tick(1, 101, 1)], LIVE);
        let (_, seen) = texts(&ob);
        assert_eq!(seen.last().unwrap()["data"]["seq"], 1);
        // Three values arrive before the client reads: its slot holds only the newest (seq 4).
        hub.on_ticks(&[tick(1, 102, 2), tick(1, 103, 3), tick(1, 104, 4)], LIVE);
        let report = hub.resume(1, &ob, &[item(&r, 1, 1)], 42, LIVE);
        assert_eq!(
            report,
            ResumeReport {
                replayed: 3,
                complete: true,
                from_recording: 0,
            }
        );
        let (immediate, live) = texts(&ob);
        let seqs: Vec<_> = immediate[1..]
            .iter()
            .map(|m| m["data"]["seq"].clone())
            .collect();
        assert_eq!(seqs, [2, 3, 4]);
        assert!(live.is_empty(), "seq 4 is not sent twice: {live:?}");
    }

    /// Subscribes `client` to instrument 1 in quote mode.
    fn quote_of_one(
        hub: &mut HubCore,
        client: ClientId,
        outbox: &Arc<Outbox>,
        r: &crate::model::instruments::Registry,
    ) {
        let inst = r.by_token(1).unwrap().clone();
        hub.subscribe(
            client,
            outbox,
            &[(inst, Mode::Quote)],
            CandleRequest::Keep,
            LIVE,
        );
    }

    /// A hub of epoch 42 keeping 4 values per instrument, anchoring every 8th value.
    fn anchored_hub() -> HubCore {
        HubCore::new().with_resume(crate::hub::ResumeConfig {
            epoch: 42,
            keep: 4,
            linger: std::time::Duration::from_secs(60),
            anchoring: crate::hub::replay::Anchoring { every: 8, keep: 8 },
        })
    }

    /// Past the ring, the recording fills the gap: the resume waits for it (the values that
    /// arrive meanwhile stay in the ring), then the client gets every seq once, in order: the
    /// recorded part, the ring's, then live ones. A client that leaves meanwhile gets nothing.
    #[tokio::test(start_paused = true)]
    async fn past_the_ring_the_recording_fills_the_gap() {
        use crate::hub::refill::Refill;
        let r = reg();
        let mut hub = anchored_hub();
        let first = Arc::new(Outbox::new(1 << 20));
        let inst = r.by_token(1).unwrap().clone();
        hub.subscribe(1, &first, &[(inst, Mode::Quote)], CandleRequest::Keep, LIVE);
        // What the recording holds: every value the broker sent.
        let sent: Vec<Tick> = (1..=60).map(|v| tick(1, 100 + v, v as u64)).collect();
        hub.on_ticks(&sent[..10], LIVE);
        hub.disconnect(1);
        hub.on_ticks(&sent[10..40], LIVE);

        let back = Arc::new(Outbox::new(1 << 20));
        let ResumeStart::Pending { id, plans } =
            hub.start_resume(2, &back, vec![item(&r, 1, 10)], 42, LIVE)
        else {
            panic!("the ring holds 37..40 only: the recording is needed");
        };
        // Twenty more values while the recording is read: the ring keeps them.
        hub.on_ticks(&sent[40..], LIVE);
        let refilled = plans
            .iter()
            .map(|p| {
                let mut refill = Refill::new(p.clone());
                for t in &sent {
                    refill.on_tick(t);
                }
                refill.finish()
            })
            .collect();
        let (client, report) = hub.finish_resume(id, refilled, &plans, LIVE).unwrap();
        assert_eq!(client, 2);
        assert_eq!(
            report,
            ResumeReport {
                replayed: 50,
                complete: true,
                from_recording: 26,
            }
        );
        hub.on_ticks(&[tick(1, 161, 61)], LIVE);
        let (immediate, live) = texts(&back);
        assert_eq!(immediate[0]["from_recording"], 26);
        let seqs: Vec<u64> = (immediate[1..].iter().chain(&live))
            .map(|m| m["data"]["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (11..=61).collect::<Vec<u64>>());
        let volumes: Vec<u64> = (immediate[1..].iter().chain(&live))
            .map(|m| m["data"]["volume"].as_u64().unwrap())
            .collect();
        assert_eq!(
            volumes,
            (11..=61).collect::<Vec<u64>>(),
            "the values themselves"
        );

        // A client that leaves while its resume waits is not subscribed by it.
        let gone = Arc::new(Outbox::new(1 << 20));
        let ResumeStart::Pending { id, plans } =
            hub.start_resume(3, &gone, vec![item(&r, 1, 20)], 42, LIVE)
        else {
            panic!("pending");
        };
        hub.disconnect(3);
        assert_eq!(hub.finish_resume(id, vec![], &plans, LIVE), None);
        assert_eq!(hub.subscribers(1), 1, "only client 2");
    }

    /// Recorded values the client's outbox cannot queue at once (it would be dropped) give
    /// way, oldest first, and are reported missing; what is sent still follows on seq by seq.
    #[tokio::test(start_paused = true)]
    async fn recorded_values_give_way_to_the_outbox_limit() {
        use crate::hub::refill::Refill;
        let r = reg();
        let mut hub = anchored_hub();
        let first = Arc::new(Outbox::new(1 << 20));
        let inst = r.by_token(1).unwrap().clone();
        hub.subscribe(1, &first, &[(inst, Mode::Quote)], CandleRequest::Keep, LIVE);
        let sent: Vec<Tick> = (1..=40).map(|v| tick(1, 100 + v, v as u64)).collect();
        hub.on_ticks(&sent[..10], LIVE);
        let (_, seen) = texts(&first);
        let one = serde_json::to_string(&seen[0]).unwrap().len();
        hub.disconnect(1);
        hub.on_ticks(&sent[10..], LIVE);
        // Room (half the limit) for the ring's 4 values and about 10 recorded ones.
        let back = Arc::new(Outbox::new(2 * 14 * one + one));
        let ResumeStart::Pending { id, plans } =
            hub.start_resume(2, &back, vec![item(&r, 1, 10)], 42, LIVE)
        else {
            panic!("pending");
        };
        let refilled = (plans.iter())
            .map(|p| {
                let mut refill = Refill::new(p.clone());
                sent.iter().for_each(|t| refill.on_tick(t));
                refill.finish()
            })
            .collect();
        let (_, report) = hub.finish_resume(id, refilled, &plans, LIVE).unwrap();
        assert!(!report.complete);
        let n = report.from_recording as u64;
        assert!((5..26).contains(&n), "{report:?}");
        let (immediate, _) = texts(&back);
        assert_eq!(immediate[0]["missing"]["NSE:AAA"], json!([11, 36 - n]));
        let seqs: Vec<u64> = (immediate[1..].iter())
            .map(|m| m["data"]["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (37 - n..=40).collect::<Vec<u64>>());
    }

    /// A connected client filling a jump that reaches past the ring: until the recorded part
    /// is ready its live values are held back (the instrument lingers upstream), then it gets
    /// every missed seq once and stays subscribed.
    #[tokio::test(start_paused = true)]
    async fn a_connected_client_fills_a_jump_past_the_ring_from_the_recording() {
        use crate::hub::refill::Refill;
        let r = reg();
        let mut hub = anchored_hub();
        let ob = Arc::new(Outbox::new(1 << 20));
        let inst = r.by_token(1).unwrap().clone();
        hub.subscribe(1, &ob, &[(inst, Mode::Quote)], CandleRequest::Keep, LIVE);
        let sent: Vec<Tick> = (1..=40).map(|v| tick(1, 100 + v, v as u64)).collect();
        hub.on_ticks(&sent[..10], LIVE);
        let (_, seen) = texts(&ob);
        assert_eq!(seen.last().unwrap()["data"]["seq"], 10);
        // It reads nothing for a while: its slot holds only the newest value.
        hub.on_ticks(&sent[10..30], LIVE);
        let ResumeStart::Pending { id, plans } =
            hub.start_resume(1, &ob, vec![item(&r, 1, 10)], 42, LIVE)
        else {
            panic!("the ring holds 27..30 only");
        };
        assert_eq!(hub.demand().len(), 1, "still wanted upstream meanwhile");
        hub.on_ticks(&sent[30..], LIVE);
        let refilled = (plans.iter())
            .map(|p| {
                let mut refill = Refill::new(p.clone());
                sent.iter().for_each(|t| refill.on_tick(t));
                refill.finish()
            })
            .collect();
        let (_, report) = hub.finish_resume(id, refilled, &plans, LIVE).unwrap();
        assert!(report.complete, "{report:?}");
        hub.on_ticks(&[tick(1, 141, 41)], LIVE);
        let (immediate, live) = texts(&ob);
        let seqs: Vec<u64> = (immediate[1..].iter().chain(&live))
            .map(|m| m["data"]["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (11..=41).collect::<Vec<u64>>());
        assert_eq!(hub.subscribers(1), 1);
    }
}
