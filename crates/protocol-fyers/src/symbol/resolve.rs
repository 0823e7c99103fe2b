//! Symbol → topic resolution (spec §2.2–§2.3), as the official client does it after the
//! symbol-token call: the fyToken's first four digits give the segment, characters 10.. give
//! the exchange token for `sf`/`dp` topics, and index symbols use their display name in an `if`
//! topic. Unlike the official client, nothing is dropped silently: every symbol ends up either
//! resolved or rejected with a reason the gateway can show.

use std::collections::HashMap;

use super::{FyToken, FyersSymbol, IndexNames, SymbolError};
use crate::hsm::{Topic, TopicKind, TopicName};
use crate::rest::models::SymbolTokenResponse;

/// What to stream for a symbol (the official client's `data_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// `SymbolUpdate`: quotes (`sf`), or `if` for indices.
    Quote,
    /// `DepthUpdate`: five-level depth (`dp`); not available for indices.
    Depth,
}

/// The topic a symbol streams on.
pub fn topic_for(
    symbol: &FyersSymbol,
    fy_token: &FyToken,
    kind: FeedKind,
    index_names: &IndexNames,
) -> Result<Topic, SymbolError> {
    let segment = fy_token
        .segment()
        .ok_or_else(|| SymbolError::UnknownSegment {
            symbol: symbol.to_string(),
            prefix: fy_token.segment_prefix().to_owned(),
        })?;
    let topic = match (symbol.is_index(), kind) {
        (true, FeedKind::Depth) => return Err(SymbolError::IndexHasNoDepth(symbol.to_string())),
        (true, FeedKind::Quote) => {
            Topic::new(TopicKind::Index, segment, index_names.resolve(symbol))
        }
        (false, FeedKind::Quote) => {
            Topic::new(TopicKind::Scrip, segment, fy_token.exchange_token())
        }
        (false, FeedKind::Depth) => {
            Topic::new(TopicKind::Depth, segment, fy_token.exchange_token())
        }
    };
    topic.map_err(|source| SymbolError::Topic {
        symbol: symbol.to_string(),
        source,
    })
}

/// One symbol that resolved to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The symbol as requested.
    pub symbol: FyersSymbol,
    /// Its fyToken.
    pub fy_token: FyToken,
    /// The topic to subscribe.
    pub topic: Topic,
}

/// The outcome of resolving one symbol-token response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedSymbols {
    /// Symbols with a topic, in symbol order.
    pub resolved: Vec<Resolution>,
    /// Symbols without one, with the reason.
    pub rejected: Vec<(String, SymbolError)>,
}

impl ResolvedSymbols {
    /// Resolves every entry of a successful symbol-token response.
    pub fn from_response(
        response: &SymbolTokenResponse,
        kind: FeedKind,
        index_names: &IndexNames,
    ) -> Self {
        let mut out = Self::default();
        for (text, token) in &response.valid_symbol {
            let resolved = FyersSymbol::new(text.as_str()).and_then(|symbol| {
                let fy_token = FyToken::new(token.as_str())?;
                let topic = topic_for(&symbol, &fy_token, kind, index_names)?;
                Ok(Resolution {
                    symbol,
                    fy_token,
                    topic,
                })
            });
            match resolved {
                Ok(resolution) => out.resolved.push(resolution),
                Err(err) => out.rejected.push((text.clone(), err)),
            }
        }
        for text in &response.invalid_symbol {
            out.rejected
                .push((text.clone(), SymbolError::UnknownSymbol(text.clone())));
        }
        out
    }

    /// Topic name → symbol, the bookkeeping the adapter needs to label snapshots (spec §2.4).
    pub fn topic_map(&self) -> HashMap<TopicName, FyersSymbol> {
        self.resolved
            .iter()
            .map(|r| (r.topic.name(), r.symbol.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::Segment;

    fn resolve(symbol: &str, token: &str, kind: FeedKind) -> Result<String, SymbolError> {
        let symbol = FyersSymbol::new(symbol)?;
        let token = FyToken::new(token)?;
        topic_for(&symbol, &token, kind, &IndexNames::new()).map(|t| t.to_string())
    }

    #[test]
    fn topic_table() {
        let q = FeedKind::Quote;
        let d = FeedKind::Depth;
        assert_eq!(
            resolve("NSE:SBIN-EQ", "10100000003045", q).unwrap(),
            "sf|nse_cm|3045"
        );
        assert_eq!(
            resolve("NSE:SBIN-EQ", "10100000003045", d).unwrap(),
            "dp|nse_cm|3045"
        );
        assert_eq!(
            resolve("NSE:NIFTY50-INDEX", "101000000026000", q).unwrap(),
            "if|nse_cm|Nifty 50"
        );
        assert_eq!(
            resolve("BSE:SENSEX-INDEX", "121000000001", q).unwrap(),
            "if|bse_cm|SENSEX"
        );
        assert_eq!(
            resolve("NSE:NIFTY24DECFUT", "101124122635003", q).unwrap(),
            "sf|nse_fo|35003"
        );
        assert_eq!(
            resolve("NSE:NIFTY50-INDEX", "101000000026000", d),
            Err(SymbolError::IndexHasNoDepth("NSE:NIFTY50-INDEX".into()))
        );
        assert_eq!(
            resolve("NSE:SBIN-EQ", "99990000003045", q),
            Err(SymbolError::UnknownSegment {
                symbol: "NSE:SBIN-EQ".into(),
                prefix: "9999".into()
            })
        );
        assert!(matches!(
            resolve("NSE:X-INDEX", "10100000000", q),
            Ok(topic) if topic == "if|nse_cm|X"
        ));
        assert_eq!(
            resolve("NSE:SBIN-EQ", "10100000000", q).unwrap(),
            "sf|nse_cm|0"
        );
        // A live index name that cannot be a topic token is rejected, not sent.
        let names = IndexNames::from_map(HashMap::from([("NSE:X-INDEX".into(), "a|b".into())]));
        let symbol = FyersSymbol::new("NSE:X-INDEX").unwrap();
        let token = FyToken::new("10100000000").unwrap();
        assert!(matches!(
            topic_for(&symbol, &token, q, &names),
            Err(SymbolError::Topic { .. })
        ));
    }

    #[test]
    fn response_resolution_reports_every_symbol() {
        let response: SymbolTokenResponse = serde_json::from_str(
            r#"{"s":"ok","validSymbol":{"NSE:SBIN-EQ":"10100000003045","NSE:NIFTY50-INDEX":"101000000026000",
                "NSE:ODD-EQ":"99990000000001","bad symbol":"10100000000001"},
                "invalidSymbol":["NSE:NOPE-EQ"]}"#,
        )
        .unwrap();
        let out = ResolvedSymbols::from_response(&response, FeedKind::Quote, &IndexNames::new());
        let topics: Vec<_> = out.resolved.iter().map(|r| r.topic.to_string()).collect();
        assert_eq!(topics, ["if|nse_cm|Nifty 50", "sf|nse_cm|3045"]);
        let rejected: Vec<_> = out.rejected.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(rejected, ["NSE:ODD-EQ", "bad symbol", "NSE:NOPE-EQ"]);
        let map = out.topic_map();
        let sbin = map.get(&TopicName::new("sf|nse_cm|3045").unwrap()).unwrap();
        assert_eq!(sbin.as_str(), "NSE:SBIN-EQ");
        assert_eq!(out.resolved[1].topic.segment(), Segment::NseCm);
    }
}
