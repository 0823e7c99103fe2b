//! Per-connection topic state: merges `S`, `U` and `L` records into the latest known values of
//! each topic, with the official client's semantics (spec §6.6). A pure struct: the adapter owns
//! one per socket, feeds it every record, and clears it on reconnect (topic ids are only
//! meaningful within one connection).
//!
//! Semantics and the choices made where the spec leaves room:
//! * `S` replaces the topic's state entirely ([`NO_VALUE`] → absent). A topic name already held
//!   under another id moves to the new id. An `S` that cannot be used (unknown topic prefix, zero
//!   multiplier) is an error and also drops whatever the id held before, so later updates for
//!   that id are reported as unknown rather than merged into a stale topic.
//! * `U` stores every value that is not [`NO_VALUE`] and differs; it reports a change only when
//!   something changed. Positions past the snapshot's count extend the state (bounded by the
//!   wire's 255-value limit) instead of being dropped.
//! * `L` sets position 0 (ltp) for scrip and index topics; an `L` for a depth topic is an error
//!   (the official client would misparse the rest of the frame).
//! * Records for an unknown topic id are errors the adapter logs and skips; the codec has
//!   already consumed their bytes, so the rest of the frame stays aligned.

use std::collections::HashMap;

use super::fields::{DepthField, IndexField, ScripField};
use super::record::{NO_VALUE, Record, Snapshot};
use super::topic::{TopicKind, TopicName};
use crate::price::{Decimal, Scale, ScaleError};

/// The merged state of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicState {
    topic_id: u16,
    topic: TopicName,
    kind: TopicKind,
    scale: Scale,
    values: Vec<Option<i32>>,
    exchange: String,
    exchange_token: String,
    symbol: String,
}

/// Absolute and relative change against the previous close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// `ltp − prev_close`, scaled.
    pub points: Decimal,
    /// `(ltp − prev_close) / prev_close × 100`, rounded half away from zero.
    pub percent: Decimal,
}

impl TopicState {
    /// The connection-local topic id.
    pub fn topic_id(&self) -> u16 {
        self.topic_id
    }

    /// The topic.
    pub fn topic(&self) -> &TopicName {
        &self.topic
    }

    /// The topic kind (decides the field list).
    pub fn kind(&self) -> TopicKind {
        self.kind
    }

    /// The price scale from the snapshot.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// All values by position; `None` = not available.
    pub fn values(&self) -> &[Option<i32>] {
        &self.values
    }

    /// The value at a position.
    pub fn raw(&self, index: usize) -> Option<i32> {
        self.values.get(index).copied().flatten()
    }

    /// A scrip field (`None` for other kinds or when absent).
    pub fn scrip(&self, field: ScripField) -> Option<i32> {
        (self.kind == TopicKind::Scrip)
            .then(|| self.raw(field.index()))
            .flatten()
    }

    /// An index field (`None` for other kinds or when absent).
    pub fn index_value(&self, field: IndexField) -> Option<i32> {
        (self.kind == TopicKind::Index)
            .then(|| self.raw(field.index()))
            .flatten()
    }

    /// A depth field (`None` for other kinds or when absent).
    pub fn depth(&self, field: DepthField) -> Option<i32> {
        (self.kind == TopicKind::Depth)
            .then(|| self.raw(field.index()))
            .flatten()
    }

    /// Last traded price (scrip and index topics).
    pub fn ltp(&self) -> Option<i32> {
        match self.kind {
            TopicKind::Scrip => self.scrip(ScripField::Ltp),
            TopicKind::Index => self.index_value(IndexField::Ltp),
            TopicKind::Depth => None,
        }
    }

    /// Previous close (scrip and index topics).
    pub fn prev_close(&self) -> Option<i32> {
        match self.kind {
            TopicKind::Scrip => self.scrip(ScripField::PrevClosePrice),
            TopicKind::Index => self.index_value(IndexField::PrevClosePrice),
            TopicKind::Depth => None,
        }
    }

    /// A raw value of this topic as an exact price.
    pub fn price(&self, raw: i32) -> Decimal {
        self.scale.to_decimal(i64::from(raw))
    }

    /// Change against the previous close, when both are known and the close is not zero. The
    /// official client rounds the percentage to 4 places for scrips and 2 for indices.
    pub fn change(&self, percent_places: u32) -> Option<Change> {
        let (ltp, close) = (i64::from(self.ltp()?), i64::from(self.prev_close()?));
        if close == 0 {
            return None;
        }
        let diff = ltp - close;
        // The scale cancels in the ratio; 18 places keep the product inside i128.
        let places = percent_places.min(18);
        let numerator = i128::from(diff) * 100 * 10i128.pow(places);
        let percent = crate::price::div_round_half_away(numerator, i128::from(close));
        Some(Change {
            points: self.scale.to_decimal(diff),
            percent: Decimal::new(percent, places)?,
        })
    }

    /// Snapshot string 1 (`exchange`).
    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// Snapshot string 2 (`exchange_token`).
    pub fn exchange_token(&self) -> &str {
        &self.exchange_token
    }

    /// Snapshot string 3 (`symbol`).
    pub fn symbol(&self) -> &str {
        &self.symbol
    }
}

/// What applying a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied<'a> {
    /// The topic's state changed (always for `S`); here is the merged whole.
    Changed(&'a TopicState),
    /// Nothing changed; the official client emits nothing in this case.
    Unchanged,
}

impl<'a> Applied<'a> {
    /// The merged state if something changed.
    pub fn changed(self) -> Option<&'a TopicState> {
        match self {
            Applied::Changed(state) => Some(state),
            Applied::Unchanged => None,
        }
    }
}

/// Why a record could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// `U`/`L` for a topic id without a snapshot on this connection.
    #[error("hsm record for topic id {topic_id} without a snapshot")]
    UnknownTopicId {
        /// The topic id.
        topic_id: u16,
    },
    /// `S` for a topic whose prefix is not `sf`, `if` or `dp`.
    #[error("hsm snapshot for unrecognised topic {topic}")]
    UnrecognisedTopic {
        /// The topic.
        topic: TopicName,
    },
    /// `S` with an unusable price scale.
    #[error("hsm snapshot for {topic} has an invalid price scale: {source}")]
    InvalidScale {
        /// The topic.
        topic: TopicName,
        /// Why.
        source: ScaleError,
    },
    /// `L` for a depth topic (lite records carry an ltp, which depth topics do not have).
    #[error("hsm lite record for depth topic id {topic_id}")]
    LiteForDepth {
        /// The topic id.
        topic_id: u16,
    },
}

/// The latest state of every topic on one connection, keyed by topic id.
#[derive(Debug, Clone, Default)]
pub struct SnapshotStore {
    by_id: HashMap<u16, TopicState>,
    by_name: HashMap<TopicName, u16>,
}

impl SnapshotStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Merges one record (see the module doc for the rules).
    pub fn apply(&mut self, record: &Record) -> Result<Applied<'_>, MergeError> {
        match record {
            Record::Snapshot(snapshot) => self.apply_snapshot(snapshot).map(Applied::Changed),
            Record::Update(update) => {
                let topic_id = update.topic_id;
                let state = self
                    .by_id
                    .get_mut(&topic_id)
                    .ok_or(MergeError::UnknownTopicId { topic_id })?;
                let mut changed = false;
                for (index, &value) in update.values.iter().enumerate() {
                    if value != NO_VALUE {
                        changed |= set(&mut state.values, index, value);
                    }
                }
                Ok(if changed {
                    Applied::Changed(state)
                } else {
                    Applied::Unchanged
                })
            }
            Record::Lite(lite) => {
                let topic_id = lite.topic_id;
                let state = self
                    .by_id
                    .get_mut(&topic_id)
                    .ok_or(MergeError::UnknownTopicId { topic_id })?;
                if state.kind == TopicKind::Depth {
                    return Err(MergeError::LiteForDepth { topic_id });
                }
                Ok(
                    if lite.ltp != NO_VALUE && set(&mut state.values, 0, lite.ltp) {
                        Applied::Changed(state)
                    } else {
                        Applied::Unchanged
                    },
                )
            }
        }
    }

    fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<&TopicState, MergeError> {
        let topic_id = snapshot.topic_id;
        self.remove_id(topic_id);
        let topic = snapshot.topic.clone();
        let kind = topic.kind().ok_or_else(|| MergeError::UnrecognisedTopic {
            topic: topic.clone(),
        })?;
        let scale = snapshot
            .scale()
            .map_err(|source| MergeError::InvalidScale {
                topic: topic.clone(),
                source,
            })?;
        if let Some(old_id) = self.by_name.insert(topic.clone(), topic_id) {
            self.by_id.remove(&old_id);
        }
        let values = snapshot
            .values
            .iter()
            .map(|&value| (value != NO_VALUE).then_some(value))
            .collect();
        let state = TopicState {
            topic_id,
            topic,
            kind,
            scale,
            values,
            exchange: snapshot.exchange.clone(),
            exchange_token: snapshot.exchange_token.clone(),
            symbol: snapshot.symbol.clone(),
        };
        Ok(self.by_id.entry(topic_id).insert_entry(state).into_mut())
    }

    fn remove_id(&mut self, topic_id: u16) -> Option<TopicState> {
        let old = self.by_id.remove(&topic_id)?;
        if self.by_name.get(&old.topic) == Some(&topic_id) {
            self.by_name.remove(&old.topic);
        }
        Some(old)
    }

    /// The state of a topic id.
    pub fn get(&self, topic_id: u16) -> Option<&TopicState> {
        self.by_id.get(&topic_id)
    }

    /// The state of a topic by name.
    pub fn by_topic(&self, topic: &TopicName) -> Option<&TopicState> {
        self.by_id.get(self.by_name.get(topic)?)
    }

    /// Forgets a topic (after unsubscribing it).
    pub fn remove_topic(&mut self, topic: &TopicName) -> Option<TopicState> {
        let topic_id = *self.by_name.get(topic)?;
        self.remove_id(topic_id)
    }

    /// Forgets everything (on reconnect).
    pub fn clear(&mut self) {
        self.by_id.clear();
        self.by_name.clear();
    }

    /// Number of topics held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no topic is held.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// All topic states, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &TopicState> {
        self.by_id.values()
    }
}

/// Stores `value` at `index` (growing the vector if needed); whether anything changed.
fn set(values: &mut Vec<Option<i32>>, index: usize, value: i32) -> bool {
    if values.len() <= index {
        values.resize(index + 1, None);
    }
    match values.get_mut(index) {
        Some(slot) if *slot != Some(value) => {
            *slot = Some(value);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
