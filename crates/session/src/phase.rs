//! The public market phases (`PRE_OPEN` … `CLOSED`) and the detailed exchange phases that map onto them.
//!
//! Calendar files describe a day with detailed phases (`pre_open_matching`, `closing_auction_entry`,
//! …) because that is how the exchanges publish them. Consumers see the five public phases of
//! DESIGN.md §5. The mapping is fixed here, not in data, so a calendar file cannot make
//! `post_close` mean `LIVE`.
//!
//! Mapping decisions (see also `CALENDAR-UPDATE.md`):
//! - pre-open order entry → `PRE_OPEN`; pre-open matching and buffer → `AUCTION_FREEZE`;
//!   continuous trading → `LIVE`.
//! - 15:30–15:40 closing-price calculation → `POST_CLOSE`: continuous trading is over and the
//!   close is being set, so the day is in its closing stage. Mapping it to `CLOSED` would put a
//!   closed gap inside the session (a phase sequence that goes backwards), and DESIGN.md §5's
//!   example (10:15 → 18 900 s → `POST_CLOSE`) places the `LIVE`→`POST_CLOSE` edge at 15:30.
//! - Closing Auction Session (equity cash, from 2026-08-03): the transition and order-entry
//!   windows 15:15–15:30 → `LIVE`, because stocks outside the auction keep trading continuously
//!   until 15:30 and auction orders are still being entered, so the segment as a whole is trading;
//!   auction matching and buffer 15:30–15:50 → `POST_CLOSE` (no order entry, the close is being
//!   set), then the post-close session. The public `LIVE`→`POST_CLOSE` edge therefore stays at
//!   15:30 for both CAS-eligible and other stocks; the detailed phase (`exchange_phase`) and the
//!   description say when the auction runs.

use serde::{Deserialize, Serialize};

/// The public market phase of DESIGN.md §5. Serialised as `PRE_OPEN`, `AUCTION_FREEZE`, `LIVE`,
/// `POST_CLOSE`, `CLOSED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MarketPhase {
    /// Pre-open order entry (call auction collection).
    PreOpen,
    /// Pre-open matching and buffer: no order entry, opening price being set.
    AuctionFreeze,
    /// Continuous trading.
    Live,
    /// Closing price calculation / closing auction matching / post-close session.
    PostClose,
    /// No session: outside hours, weekends, holidays.
    Closed,
}

impl MarketPhase {
    /// The JSON name (`"PRE_OPEN"`).
    pub fn as_str(self) -> &'static str {
        match self {
            MarketPhase::PreOpen => "PRE_OPEN",
            MarketPhase::AuctionFreeze => "AUCTION_FREEZE",
            MarketPhase::Live => "LIVE",
            MarketPhase::PostClose => "POST_CLOSE",
            MarketPhase::Closed => "CLOSED",
        }
    }

    /// Position within one session: a session's phases never decrease in rank. `CLOSED` has no
    /// rank because it separates sessions.
    pub fn session_rank(self) -> Option<u8> {
        match self {
            MarketPhase::PreOpen => Some(1),
            MarketPhase::AuctionFreeze => Some(2),
            MarketPhase::Live => Some(3),
            MarketPhase::PostClose => Some(4),
            MarketPhase::Closed => None,
        }
    }

    /// Short title shown on dashboards.
    pub fn title(self) -> &'static str {
        match self {
            MarketPhase::PreOpen => "Pre-Open Session",
            MarketPhase::AuctionFreeze => "Auction Freeze",
            MarketPhase::Live => "Market Live",
            MarketPhase::PostClose => "Post-Close Session",
            MarketPhase::Closed => "Market Closed",
        }
    }

    /// Status icon (the dashboard's traffic light).
    pub fn icon(self) -> &'static str {
        match self {
            MarketPhase::PreOpen => "🟡",
            MarketPhase::AuctionFreeze => "🟠",
            MarketPhase::Live => "🟢",
            MarketPhase::PostClose => "🔵",
            MarketPhase::Closed => "🔴",
        }
    }

    /// What the phase means, used as the start of the status description.
    pub(crate) fn headline(self) -> &'static str {
        match self {
            MarketPhase::PreOpen => "Pre-open order entry",
            MarketPhase::AuctionFreeze => "Opening auction matching, no order entry",
            MarketPhase::Live => "Active trading",
            MarketPhase::PostClose => "Closing session",
            MarketPhase::Closed => "Market closed",
        }
    }
}

impl std::fmt::Display for MarketPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A detailed exchange phase as written in calendar files (`kind = "pre_open_matching"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// A whole pre-open call auction when the exchange published only its outer window
    /// (special sessions such as Muhurat, MCX pre-open).
    PreOpenSession,
    /// Pre-open order entry, all order types.
    PreOpenEntry,
    /// Pre-open order entry, limit orders only (from the 2026-09-07 re-cut).
    PreOpenEntryLimit,
    /// Pre-open order matching (opening price discovery).
    PreOpenMatching,
    /// Buffer between pre-open matching and continuous trading.
    PreOpenBuffer,
    /// Continuous (normal market) trading.
    Continuous,
    /// Closing auction: reference price and transition (pending stop-loss orders cancelled).
    ClosingAuctionTransition,
    /// Closing auction order entry, all order types.
    ClosingAuctionEntry,
    /// Closing auction order entry, limit orders only, random close.
    ClosingAuctionEntryLimit,
    /// Closing auction matching.
    ClosingAuctionMatching,
    /// Buffer after closing auction matching.
    ClosingAuctionBuffer,
    /// Closing price calculation (VWAP of the last 30 minutes), no trading.
    ClosingPriceCalculation,
    /// Post-close session: trades at the closing price.
    PostClose,
}

impl PhaseKind {
    /// Every kind, for error messages and exhaustive tests.
    pub const ALL: [PhaseKind; 13] = [
        PhaseKind::PreOpenSession,
        PhaseKind::PreOpenEntry,
        PhaseKind::PreOpenEntryLimit,
        PhaseKind::PreOpenMatching,
        PhaseKind::PreOpenBuffer,
        PhaseKind::Continuous,
        PhaseKind::ClosingAuctionTransition,
        PhaseKind::ClosingAuctionEntry,
        PhaseKind::ClosingAuctionEntryLimit,
        PhaseKind::ClosingAuctionMatching,
        PhaseKind::ClosingAuctionBuffer,
        PhaseKind::ClosingPriceCalculation,
        PhaseKind::PostClose,
    ];

    /// The name used in calendar files.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::PreOpenSession => "pre_open_session",
            PhaseKind::PreOpenEntry => "pre_open_entry",
            PhaseKind::PreOpenEntryLimit => "pre_open_entry_limit",
            PhaseKind::PreOpenMatching => "pre_open_matching",
            PhaseKind::PreOpenBuffer => "pre_open_buffer",
            PhaseKind::Continuous => "continuous",
            PhaseKind::ClosingAuctionTransition => "closing_auction_transition",
            PhaseKind::ClosingAuctionEntry => "closing_auction_entry",
            PhaseKind::ClosingAuctionEntryLimit => "closing_auction_entry_limit",
            PhaseKind::ClosingAuctionMatching => "closing_auction_matching",
            PhaseKind::ClosingAuctionBuffer => "closing_auction_buffer",
            PhaseKind::ClosingPriceCalculation => "closing_price_calculation",
            PhaseKind::PostClose => "post_close",
        }
    }

    /// Parses a calendar-file name.
    pub fn from_name(name: &str) -> Option<PhaseKind> {
        PhaseKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The public phase this detailed phase is reported as (see the module docs for why).
    pub fn public(self) -> MarketPhase {
        match self {
            PhaseKind::PreOpenSession | PhaseKind::PreOpenEntry | PhaseKind::PreOpenEntryLimit => {
                MarketPhase::PreOpen
            }
            PhaseKind::PreOpenMatching | PhaseKind::PreOpenBuffer => MarketPhase::AuctionFreeze,
            PhaseKind::Continuous
            | PhaseKind::ClosingAuctionTransition
            | PhaseKind::ClosingAuctionEntry
            | PhaseKind::ClosingAuctionEntryLimit => MarketPhase::Live,
            PhaseKind::ClosingAuctionMatching
            | PhaseKind::ClosingAuctionBuffer
            | PhaseKind::ClosingPriceCalculation
            | PhaseKind::PostClose => MarketPhase::PostClose,
        }
    }

    /// Lower-case label used inside descriptions ("… ; closing auction for F&O stocks from 3:15 PM").
    /// Consecutive kinds with the same label are described once.
    pub(crate) fn label(self) -> &'static str {
        match self {
            PhaseKind::PreOpenSession => "pre-open call auction",
            PhaseKind::PreOpenEntry => "pre-open order entry",
            PhaseKind::PreOpenEntryLimit => "limit orders only",
            PhaseKind::PreOpenMatching => "order matching",
            PhaseKind::PreOpenBuffer => "buffer",
            PhaseKind::Continuous => "continuous trading",
            PhaseKind::ClosingAuctionTransition
            | PhaseKind::ClosingAuctionEntry
            | PhaseKind::ClosingAuctionEntryLimit => "closing auction for F&O stocks",
            PhaseKind::ClosingAuctionMatching => "closing auction matching",
            PhaseKind::ClosingAuctionBuffer => "closing auction buffer",
            PhaseKind::ClosingPriceCalculation => "closing price calculation",
            PhaseKind::PostClose => "post-close trading",
        }
    }
}

impl std::fmt::Display for PhaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_names_are_the_contract() {
        let table = [
            (MarketPhase::PreOpen, "\"PRE_OPEN\""),
            (MarketPhase::AuctionFreeze, "\"AUCTION_FREEZE\""),
            (MarketPhase::Live, "\"LIVE\""),
            (MarketPhase::PostClose, "\"POST_CLOSE\""),
            (MarketPhase::Closed, "\"CLOSED\""),
        ];
        for (phase, json) in table {
            assert_eq!(serde_json::to_string(&phase).unwrap(), json);
            assert_eq!(format!("\"{phase}\""), json);
        }
    }

    #[test]
    fn detailed_phases_map_as_documented() {
        use MarketPhase::*;
        use PhaseKind as K;
        let table = [
            (K::PreOpenSession, PreOpen),
            (K::PreOpenEntry, PreOpen),
            (K::PreOpenEntryLimit, PreOpen),
            (K::PreOpenMatching, AuctionFreeze),
            (K::PreOpenBuffer, AuctionFreeze),
            (K::Continuous, Live),
            (K::ClosingAuctionTransition, Live),
            (K::ClosingAuctionEntry, Live),
            (K::ClosingAuctionEntryLimit, Live),
            (K::ClosingAuctionMatching, PostClose),
            (K::ClosingAuctionBuffer, PostClose),
            (K::ClosingPriceCalculation, PostClose),
            (K::PostClose, PostClose),
        ];
        assert_eq!(table.len(), PhaseKind::ALL.len());
        for (kind, public) in table {
            assert_eq!(kind.public(), public, "{kind}");
            assert_eq!(PhaseKind::from_name(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn ranks_order_a_session() {
        let ranks: Vec<_> = [
            MarketPhase::PreOpen,
            MarketPhase::AuctionFreeze,
            MarketPhase::Live,
            MarketPhase::PostClose,
        ]
        .into_iter()
        .map(|p| p.session_rank().unwrap())
        .collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(MarketPhase::Closed.session_rank(), None);
    }
}
