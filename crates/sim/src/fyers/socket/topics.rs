//! One data-socket connection's subscription table: topic name → topic id, kind, instrument,
//! channel, the values last sent (the base of the next `U` diff) and the market sequence of its
//! snapshot (older batches are skipped, so a topic never goes back in time). Topic ids are
//! unique per connection across `sf`, `if` and `dp` topics (the official client looks an id up
//! in all three tables, spec §6.3) and reused only after their topic is gone. Pure.

use feedgate_fyers::hsm::{Channel, TopicKind};
use std::collections::{BTreeMap, HashMap};

/// One subscribed topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicEntry {
    pub id: u16,
    pub kind: TopicKind,
    /// Position of the instrument in the universe (and the market).
    pub idx: usize,
    pub channel: Channel,
    /// Values as the client holds them now (what the last S/U/L left it with).
    pub last: Vec<i32>,
    /// Market sequence of the snapshot: batches up to it are already included.
    pub from_seq: u64,
}

/// Why a topic could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddError {
    /// The per-connection limit is reached.
    Full,
}

/// The subscriptions of one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicTable {
    entries: BTreeMap<String, TopicEntry>,
    by_idx: HashMap<usize, Vec<String>>,
    ids: HashMap<u16, String>,
    next_id: u16,
    limit: usize,
}

impl TopicTable {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.min(usize::from(u16::MAX)),
            next_id: 1,
            ..Self::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, topic: &str) -> Option<&TopicEntry> {
        self.entries.get(topic)
    }

    pub(crate) fn get_mut(&mut self, topic: &str) -> Option<&mut TopicEntry> {
        self.entries.get_mut(topic)
    }

    /// Subscribes `topic` (or moves it to `channel` if already subscribed, keeping its id).
    /// Returns whether it is new.
    pub(crate) fn add(
        &mut self,
        topic: &str,
        kind: TopicKind,
        idx: usize,
        channel: Channel,
    ) -> Result<bool, AddError> {
        if let Some(entry) = self.entries.get_mut(topic) {
            entry.channel = channel;
            return Ok(false);
        }
        if self.entries.len() >= self.limit {
            return Err(AddError::Full);
        }
        let id = self.free_id();
        self.ids.insert(id, topic.to_owned());
        self.by_idx.entry(idx).or_default().push(topic.to_owned());
        self.entries.insert(
            topic.to_owned(),
            TopicEntry {
                id,
                kind,
                idx,
                channel,
                last: Vec::new(),
                from_seq: 0,
            },
        );
        Ok(true)
    }

    /// Unsubscribes `topic`; returns its entry if it was subscribed.
    pub(crate) fn remove(&mut self, topic: &str) -> Option<TopicEntry> {
        let entry = self.entries.remove(topic)?;
        self.ids.remove(&entry.id);
        if let Some(names) = self.by_idx.get_mut(&entry.idx) {
            names.retain(|n| n != topic);
            if names.is_empty() {
                self.by_idx.remove(&entry.idx);
            }
        }
        Some(entry)
    }

    /// Topic names streaming instrument `idx`.
    pub(crate) fn topics_of(&self, idx: usize) -> &[String] {
        self.by_idx.get(&idx).map_or(&[], Vec::as_slice)
    }

    /// Every topic, by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &TopicEntry)> {
        self.entries.iter()
    }

    /// Names of the topics on channels for which `on_channel` is true.
    pub(crate) fn names_where(&self, on_channel: impl Fn(Channel) -> bool) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| on_channel(e.channel))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Removes everything; returns the entries (to release demand).
    pub(crate) fn drain(&mut self) -> Vec<TopicEntry> {
        self.ids.clear();
        self.by_idx.clear();
        std::mem::take(&mut self.entries).into_values().collect()
    }

    /// The next id not in use (ids wrap after 65535 subscriptions; 0 is never used).
    fn free_id(&mut self) -> u16 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if !self.ids.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CH: Channel = Channel::DEFAULT;

    #[test]
    fn ids_are_unique_and_stable() {
        let mut t = TopicTable::new(10);
        assert_eq!(t.add("sf|nse_cm|1", TopicKind::Scrip, 5, CH), Ok(true));
        assert_eq!(t.add("dp|nse_cm|1", TopicKind::Depth, 5, CH), Ok(true));
        assert_eq!(t.add("if|nse_cm|X", TopicKind::Index, 0, CH), Ok(true));
        let ids: Vec<u16> = t.iter().map(|(_, e)| e.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 3);
        let other = Channel::new(3).unwrap();
        let before = t.get("sf|nse_cm|1").unwrap().id;
        assert_eq!(t.add("sf|nse_cm|1", TopicKind::Scrip, 5, other), Ok(false));
        let entry = t.get("sf|nse_cm|1").unwrap();
        assert_eq!((entry.id, entry.channel), (before, other));
        assert_eq!(t.topics_of(5).len(), 2);
        assert!(t.remove("sf|nse_cm|1").is_some());
        assert!(t.remove("sf|nse_cm|1").is_none());
        assert_eq!(t.topics_of(5), ["dp|nse_cm|1".to_owned()]);
        assert_eq!(t.drain().len(), 2);
        assert_eq!(t.len(), 0);
        assert!(t.topics_of(5).is_empty());
    }

    #[test]
    fn the_limit_holds_and_ids_wrap_around_live_ones() {
        let mut t = TopicTable::new(2);
        t.add("a", TopicKind::Scrip, 0, CH).unwrap();
        t.add("b", TopicKind::Scrip, 1, CH).unwrap();
        assert_eq!(t.add("c", TopicKind::Scrip, 2, CH), Err(AddError::Full));
        t.next_id = u16::MAX;
        t.remove("b");
        t.add("c", TopicKind::Scrip, 2, CH).unwrap();
        assert_eq!(t.get("c").unwrap().id, u16::MAX);
        t.remove("c");
        // `a` holds id 1, so the wrap skips it (and 0).
        t.add("d", TopicKind::Scrip, 3, CH).unwrap();
        assert_eq!(t.get("d").unwrap().id, 2);
    }
}
