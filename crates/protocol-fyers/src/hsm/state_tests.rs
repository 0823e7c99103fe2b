//! Unit and property tests for `state`.

use super::*;
use crate::hsm::record::{Lite, Update};
use proptest::prelude::*;

fn snap(topic_id: u16, name: &str, values: Vec<i32>) -> Record {
    Record::Snapshot(Snapshot {
        topic_id,
        topic: TopicName::new(name).unwrap(),
        values,
        reserved: 0,
        multiplier: 1,
        precision: 2,
        exchange: String::new(),
        exchange_token: String::new(),
        symbol: String::new(),
    })
}

fn update(topic_id: u16, values: Vec<i32>) -> Record {
    Record::Update(Update { topic_id, values })
}

fn lite(topic_id: u16, ltp: i32) -> Record {
    Record::Lite(Lite { topic_id, ltp })
}

/// Applies records in order; returns, per record, `Ok(Some(values))` when changed.
fn run(
    store: &mut SnapshotStore,
    records: &[Record],
) -> Vec<Result<Option<Vec<Option<i32>>>, MergeError>> {
    records
        .iter()
        .map(|r| {
            store
                .apply(r)
                .map(|a| a.changed().map(|s| s.values().to_vec()))
        })
        .collect()
}

#[test]
fn merge_table() {
    type Case = (
        &'static str,
        Vec<Record>,
        Result<Option<Vec<Option<i32>>>, MergeError>,
    );
    let cases: Vec<Case> = vec![
        (
            "snapshot maps INT32_MIN to absent",
            vec![snap(1, "sf|nse_cm|1", vec![5, NO_VALUE])],
            Ok(Some(vec![Some(5), None])),
        ),
        (
            "update fills an absent position",
            vec![
                snap(1, "sf|nse_cm|1", vec![5, NO_VALUE]),
                update(1, vec![NO_VALUE, 7]),
            ],
            Ok(Some(vec![Some(5), Some(7)])),
        ),
        (
            "identical update changes nothing",
            vec![snap(1, "sf|nse_cm|1", vec![5, 6]), update(1, vec![5, 6])],
            Ok(None),
        ),
        (
            "all-INT32_MIN update changes nothing",
            vec![
                snap(1, "sf|nse_cm|1", vec![5]),
                update(1, vec![NO_VALUE; 3]),
            ],
            Ok(None),
        ),
        (
            "update beyond the snapshot extends it",
            vec![
                snap(1, "sf|nse_cm|1", vec![5]),
                update(1, vec![NO_VALUE, NO_VALUE, 9]),
            ],
            Ok(Some(vec![Some(5), None, Some(9)])),
        ),
        (
            "lite sets ltp",
            vec![snap(1, "if|nse_cm|Nifty 50", vec![5, 4]), lite(1, 6)],
            Ok(Some(vec![Some(6), Some(4)])),
        ),
        (
            "lite with the same ltp changes nothing",
            vec![snap(1, "sf|nse_cm|1", vec![5]), lite(1, 5)],
            Ok(None),
        ),
        (
            "lite INT32_MIN changes nothing",
            vec![snap(1, "sf|nse_cm|1", vec![5]), lite(1, NO_VALUE)],
            Ok(None),
        ),
        (
            "lite fills a snapshot without ltp",
            vec![snap(1, "sf|nse_cm|1", vec![]), lite(1, 8)],
            Ok(Some(vec![Some(8)])),
        ),
        (
            "lite for a depth topic",
            vec![snap(1, "dp|nse_cm|1", vec![5]), lite(1, 6)],
            Err(MergeError::LiteForDepth { topic_id: 1 }),
        ),
        (
            "update for an unknown id",
            vec![snap(1, "sf|nse_cm|1", vec![5]), update(2, vec![1])],
            Err(MergeError::UnknownTopicId { topic_id: 2 }),
        ),
        (
            "lite for an unknown id",
            vec![lite(3, 1)],
            Err(MergeError::UnknownTopicId { topic_id: 3 }),
        ),
        (
            "snapshot with an unknown prefix",
            vec![snap(1, "xx|nse_cm|1", vec![5])],
            Err(MergeError::UnrecognisedTopic {
                topic: TopicName::new("xx|nse_cm|1").unwrap(),
            }),
        ),
        (
            "a second snapshot replaces the first entirely",
            vec![
                snap(1, "sf|nse_cm|1", vec![5, 6, 7]),
                snap(1, "sf|nse_cm|1", vec![8]),
            ],
            Ok(Some(vec![Some(8)])),
        ),
    ];
    for (name, records, expected) in cases {
        let mut store = SnapshotStore::new();
        let results = run(&mut store, &records);
        assert_eq!(results.last().cloned().unwrap(), expected, "{name}");
    }
}

#[test]
fn zero_multiplier_snapshot_drops_the_old_state() {
    let mut store = SnapshotStore::new();
    store.apply(&snap(1, "sf|nse_cm|1", vec![5])).unwrap();
    let mut bad = snap(1, "sf|nse_cm|1", vec![6]);
    if let Record::Snapshot(s) = &mut bad {
        s.multiplier = 0;
    }
    assert!(matches!(
        store.apply(&bad),
        Err(MergeError::InvalidScale { .. })
    ));
    assert!(store.is_empty());
    assert_eq!(
        store.apply(&update(1, vec![7])),
        Err(MergeError::UnknownTopicId { topic_id: 1 })
    );
}

#[test]
fn a_topic_moving_to_a_new_id_leaves_no_stale_entry() {
    let mut store = SnapshotStore::new();
    let name = TopicName::new("sf|nse_cm|1").unwrap();
    store.apply(&snap(1, name.as_str(), vec![5])).unwrap();
    store.apply(&snap(9, name.as_str(), vec![6])).unwrap();
    assert_eq!(store.len(), 1);
    assert_eq!(store.by_topic(&name).map(TopicState::topic_id), Some(9));
    assert!(store.get(1).is_none());
    // An id reused for another topic frees the old name.
    store.apply(&snap(9, "sf|nse_cm|2", vec![1])).unwrap();
    assert!(store.by_topic(&name).is_none());
    assert_eq!(store.len(), 1);
    assert!(
        store
            .remove_topic(&TopicName::new("sf|nse_cm|2").unwrap())
            .is_some()
    );
    assert!(store.is_empty());
    store.apply(&snap(4, "if|nse_cm|X", vec![1])).unwrap();
    store.clear();
    assert_eq!(store.iter().count(), 0);
}

#[test]
fn typed_accessors_respect_the_kind() {
    let mut store = SnapshotStore::new();
    store
        .apply(&snap(1, "if|nse_cm|Nifty 50", vec![100, 0]))
        .unwrap();
    let index = store.get(1).unwrap();
    assert_eq!(index.scrip(ScripField::Ltp), None);
    assert_eq!(index.index_value(IndexField::Ltp), Some(100));
    // A zero previous close gives no change (the official client divides by zero here).
    assert_eq!(index.change(2), None);
    assert_eq!(index.kind(), TopicKind::Index);
}

#[test]
fn change_rounds_half_away_from_zero() {
    let mut store = SnapshotStore::new();
    // (ltp - close) / close × 100 = -0.125 % → -0.13 at two places.
    store
        .apply(&snap(1, "sf|nse_cm|1", {
            let mut v = vec![NO_VALUE; 21];
            v[0] = 79900;
            v[20] = 80000;
            v
        }))
        .unwrap();
    let change = store.get(1).unwrap().change(2).unwrap();
    assert_eq!(change.percent.to_string(), "-0.13");
    assert_eq!(change.points.to_string(), "-1.00");
}

proptest! {
    /// After a snapshot and any updates, each position holds the last non-INT32_MIN value
    /// written to it, and a change is reported exactly when some position changed.
    #[test]
    fn merged_state_is_the_last_written_value(
        base in prop::collection::vec(any::<i32>(), 0..30),
        updates in prop::collection::vec(
            prop::collection::vec(prop_oneof![Just(NO_VALUE), any::<i32>(), 0..3i32], 0..35),
            0..20,
        ),
    ) {
        let mut store = SnapshotStore::new();
        store.apply(&snap(5, "dp|nse_cm|1", base.clone())).unwrap();
        let mut model: Vec<Option<i32>> =
            base.iter().map(|&v| (v != NO_VALUE).then_some(v)).collect();
        for values in updates {
            let before = model.clone();
            for (i, &v) in values.iter().enumerate() {
                if v != NO_VALUE {
                    if model.len() <= i {
                        model.resize(i + 1, None);
                    }
                    model[i] = Some(v);
                }
            }
            let applied = store.apply(&update(5, values)).unwrap();
            prop_assert_eq!(applied.changed().is_some(), model != before);
            prop_assert_eq!(store.get(5).unwrap().values(), &model[..]);
        }
    }
}
