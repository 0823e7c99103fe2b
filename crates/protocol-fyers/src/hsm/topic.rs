//! HSM topics (spec §2): the strings `<prefix>|<segment>|<token>` that the data socket uses
//! instead of symbols, e.g. `sf|nse_cm|3045` or `if|nse_cm|Nifty 50`. [`TopicName`] is the
//! wire form (any UTF-8 up to 255 bytes, as subscribe frames and snapshot records carry it);
//! [`Topic`] is the structured form built from a symbol lookup. Frames carry `TopicName` so a
//! malformed topic from a peer is one rejected topic, not an undecodable frame.

use std::fmt;
use std::str::FromStr;

use crate::segment::Segment;

/// A topic string as carried on the wire: at most 255 bytes of UTF-8 (u8 length prefix).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(String);

/// Why a string is not a usable topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Longer than the 255 bytes a u8 length prefix allows.
    #[error("hsm topic of {len} bytes exceeds 255 bytes")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// Not `<prefix>|<segment>|<token>`.
    #[error("hsm topic {0:?} is not of the form <sf|if|dp>|<segment>|<token>")]
    Malformed(String),
    /// The prefix is not `sf`, `if` or `dp`.
    #[error("hsm topic {0:?} has an unknown prefix (expected sf, if or dp)")]
    UnknownKind(String),
    /// The segment code is not one of the known eight.
    #[error("hsm topic {0:?} has an unknown segment")]
    UnknownSegment(String),
}

impl TopicName {
    /// Longest topic the wire can carry.
    pub const MAX_LEN: usize = 255;

    /// A wire topic name; longer than 255 bytes is rejected.
    pub fn new(name: impl Into<String>) -> Result<Self, TopicError> {
        let name = name.into();
        if name.len() > Self::MAX_LEN {
            return Err(TopicError::TooLong { len: name.len() });
        }
        Ok(Self(name))
    }

    /// A name read from the wire with a u8 length, so already within the bound.
    pub(crate) fn from_wire(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The topic string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kind named by the prefix, if it is one of the three known prefixes.
    pub fn kind(&self) -> Option<TopicKind> {
        let (prefix, _) = self.0.split_once('|')?;
        TopicKind::from_prefix(prefix)
    }

    /// The structured topic.
    pub fn parse(&self) -> Result<Topic, TopicError> {
        self.0.parse()
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&Topic> for TopicName {
    fn from(topic: &Topic) -> Self {
        // `Topic` guarantees the length bound, so this is the plain string.
        Self(topic.to_string())
    }
}

/// What a topic streams; decides the field list of its records (spec §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// `sf`: scrip feed (quote), 21 values.
    Scrip,
    /// `if`: index feed, 6 values.
    Index,
    /// `dp`: five-level market depth, 30 values.
    Depth,
}

impl TopicKind {
    /// The topic prefix.
    pub const fn prefix(self) -> &'static str {
        match self {
            TopicKind::Scrip => "sf",
            TopicKind::Index => "if",
            TopicKind::Depth => "dp",
        }
    }

    /// The kind for a prefix, if known.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "sf" => Some(TopicKind::Scrip),
            "if" => Some(TopicKind::Index),
            "dp" => Some(TopicKind::Depth),
            _ => None,
        }
    }
}

/// A structured topic: kind, segment and token (exchange token, or index display name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    kind: TopicKind,
    segment: Segment,
    token: String,
}

impl Topic {
    /// A topic; the token must be non-empty, must not contain `|`, and the whole string must
    /// fit in 255 bytes.
    pub fn new(
        kind: TopicKind,
        segment: Segment,
        token: impl Into<String>,
    ) -> Result<Self, TopicError> {
        let token = token.into();
        let len = kind.prefix().len() + segment.code().len() + token.len() + 2;
        if len > TopicName::MAX_LEN {
            return Err(TopicError::TooLong { len });
        }
        if token.is_empty() || token.contains('|') {
            return Err(TopicError::Malformed(format!(
                "{}|{}|{}",
                kind.prefix(),
                segment.code(),
                token
            )));
        }
        Ok(Self {
            kind,
            segment,
            token,
        })
    }

    /// The topic kind.
    pub fn kind(&self) -> TopicKind {
        self.kind
    }

    /// The segment.
    pub fn segment(&self) -> Segment {
        self.segment
    }

    /// The token part (e.g. `3045`, or `Nifty 50` for an index).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The wire form.
    pub fn name(&self) -> TopicName {
        TopicName::from(self)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}",
            self.kind.prefix(),
            self.segment.code(),
            self.token
        )
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.splitn(3, '|');
        let (Some(prefix), Some(segment), Some(token)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TopicError::Malformed(text.to_owned()));
        };
        let kind = TopicKind::from_prefix(prefix)
            .ok_or_else(|| TopicError::UnknownKind(text.to_owned()))?;
        let segment = Segment::from_code(segment)
            .ok_or_else(|| TopicError::UnknownSegment(text.to_owned()))?;
        Topic::new(kind, segment, token).map_err(|err| match err {
            TopicError::Malformed(_) => TopicError::Malformed(text.to_owned()),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = [
            ("sf|nse_cm|3045", TopicKind::Scrip, Segment::NseCm, "3045"),
            (
                "if|nse_cm|Nifty 50",
                TopicKind::Index,
                Segment::NseCm,
                "Nifty 50",
            ),
            (
                "dp|bse_cm|500325",
                TopicKind::Depth,
                Segment::BseCm,
                "500325",
            ),
            (
                "if|bse_cm|SENSEX",
                TopicKind::Index,
                Segment::BseCm,
                "SENSEX",
            ),
        ];
        for (text, kind, segment, token) in ok {
            let topic: Topic = text.parse().unwrap();
            assert_eq!(
                (topic.kind(), topic.segment(), topic.token()),
                (kind, segment, token)
            );
            assert_eq!(topic.to_string(), text);
            assert_eq!(topic.name().as_str(), text);
            assert_eq!(topic.name().kind(), Some(kind));
        }
        let bad = [
            ("sf|nse_cm", "Malformed"),
            ("sf|nse_cm|", "Malformed"),
            ("sf|nse_cm|30|45", "Malformed"),
            ("xx|nse_cm|3045", "UnknownKind"),
            ("sf|nyse|3045", "UnknownSegment"),
            ("", "Malformed"),
        ];
        for (text, kind) in bad {
            let err = text.parse::<Topic>().unwrap_err();
            assert!(format!("{err:?}").starts_with(kind), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn length_limits() {
        assert!(TopicName::new("x".repeat(255)).is_ok());
        assert_eq!(
            TopicName::new("x".repeat(256)),
            Err(TopicError::TooLong { len: 256 })
        );
        assert!(Topic::new(TopicKind::Scrip, Segment::NseCm, "9".repeat(245)).is_ok());
        assert!(Topic::new(TopicKind::Scrip, Segment::NseCm, "9".repeat(246)).is_err());
        assert_eq!(TopicName::new("garbage").unwrap().kind(), None);
    }
}
