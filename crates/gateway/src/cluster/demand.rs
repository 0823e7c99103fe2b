//! The cluster's demand (pure): what an edge publishes (its hub's demand by *symbol*, since
//! token numbers are each node's registry's business) and the union the leader subscribes
//! (highest mode per instrument across its own hub and every live edge).

use crate::model::demand::Demand;
use crate::model::instruments::Registry;
use crate::model::tick::Mode;
use std::collections::BTreeMap;

/// An edge's demand as published: `{"NSE:INFY":"quote",…}`. Instruments the registry does not
/// know are left out.
pub fn encode(demand: &Demand, registry: &Registry) -> String {
    let by_symbol: BTreeMap<&str, Mode> = demand
        .iter()
        .filter_map(|(token, mode)| Some((&*registry.by_token(*token)?.symbol, *mode)))
        .collect();
    serde_json::to_string(&by_symbol).unwrap_or_else(|_| "{}".into())
}

/// A published demand in this node's tokens; `None` when it is no such document. Symbols this
/// registry does not know are skipped (an edge with a newer instrument list).
pub fn decode(published: &str, registry: &Registry) -> Option<Demand> {
    let by_symbol: BTreeMap<String, Mode> = serde_json::from_str(published).ok()?;
    Some(
        by_symbol
            .into_iter()
            .filter_map(|(symbol, mode)| Some((registry.resolve(&symbol).ok()?.token, mode)))
            .collect(),
    )
}

/// Every instrument any of `parts` wants, at the highest mode wanted.
pub fn union<'a>(parts: impl IntoIterator<Item = &'a Demand>) -> Demand {
    let mut all = Demand::new();
    for part in parts {
        for (&token, &mode) in part {
            all.entry(token)
                .and_modify(|m| *m = (*m).max(mode))
                .or_insert(mode);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::instruments::InstrumentSpec;

    fn registry() -> Registry {
        Registry::new([
            InstrumentSpec::nse_equity(1, "INFY", "Infosys"),
            InstrumentSpec::nse_equity(2, "SBIN", "SBI"),
            InstrumentSpec::nse_equity(3, "TCS", "TCS"),
        ])
    }

    fn demand(pairs: &[(u32, Mode)]) -> Demand {
        pairs.iter().copied().collect()
    }

    #[test]
    fn demand_travels_by_symbol() {
        let reg = registry();
        let d = demand(&[(1, Mode::Quote), (3, Mode::Full), (99, Mode::Ltp)]);
        let text = encode(&d, &reg);
        assert_eq!(text, r#"{"NSE:INFY":"quote","NSE:TCS":"full"}"#);
        assert_eq!(
            decode(&text, &reg),
            Some(demand(&[(1, Mode::Quote), (3, Mode::Full)]))
        );
        // Another node's registry, with other token numbers, reads the same instruments.
        let other = Registry::new([
            InstrumentSpec::nse_equity(30, "TCS", "TCS"),
            InstrumentSpec::nse_equity(10, "INFY", "Infosys"),
        ]);
        assert_eq!(
            decode(&text, &other),
            Some(demand(&[(10, Mode::Quote), (30, Mode::Full)]))
        );
        assert_eq!(
            decode(r#"{"NSE:NOPE":"ltp","NSE:SBIN":"ltp"}"#, &reg),
            Some(demand(&[(2, Mode::Ltp)]))
        );
        for bad in ["", "[]", r#"{"NSE:INFY":"fast"}"#] {
            assert_eq!(decode(bad, &reg), None, "{bad:?}");
        }
    }

    #[test]
    fn the_union_takes_the_highest_mode() {
        let a = demand(&[(1, Mode::Quote), (2, Mode::Ltp)]);
        let b = demand(&[(1, Mode::Full), (3, Mode::Ltp)]);
        let c = demand(&[(2, Mode::Ltp)]);
        assert_eq!(
            union([&a, &b, &c]),
            demand(&[(1, Mode::Full), (2, Mode::Ltp), (3, Mode::Ltp)])
        );
        assert_eq!(union([]), Demand::new());
    }
}
