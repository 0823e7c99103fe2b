//! HSM channels (spec §4): subscriptions are grouped into numbered channels that can be paused
//! and resumed. Mode, pause and resume frames carry a set of channels as a big-endian u64
//! bitmask with bit *n* set for channel *n*; subscribe frames carry one channel number. The
//! official client uses channels 1–30 (default 11); this type accepts 0–63, everything the mask
//! can express, and leaves narrower policy to the caller.

use std::fmt;

/// One channel number, 0..=63.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(u8);

impl Channel {
    /// The official client's default channel.
    pub const DEFAULT: Channel = Channel(11);

    /// The highest channel the 64-bit mask can hold.
    pub const MAX: u8 = 63;

    /// A channel, or `None` above [`Channel::MAX`].
    pub const fn new(number: u8) -> Option<Self> {
        if number <= Self::MAX {
            Some(Self(number))
        } else {
            None
        }
    }

    /// The channel number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Channel {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A set of channels as sent on the wire (bit *n* = channel *n*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChannelMask(u64);

impl ChannelMask {
    /// No channels.
    pub const EMPTY: ChannelMask = ChannelMask(0);

    /// The mask exactly as read from the wire.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The wire value.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// A mask holding one channel.
    pub const fn single(channel: Channel) -> Self {
        Self(1u64 << channel.0)
    }

    /// This mask plus `channel`.
    #[must_use]
    pub const fn with(self, channel: Channel) -> Self {
        Self(self.0 | (1u64 << channel.0))
    }

    /// Whether `channel` is in the set.
    pub const fn contains(self, channel: Channel) -> bool {
        self.0 & (1u64 << channel.0) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The channels in ascending order.
    pub fn iter(self) -> impl Iterator<Item = Channel> {
        (0..=Channel::MAX)
            .filter_map(Channel::new)
            .filter(move |channel| self.contains(*channel))
    }
}

impl From<Channel> for ChannelMask {
    fn from(channel: Channel) -> Self {
        Self::single(channel)
    }
}

impl FromIterator<Channel> for ChannelMask {
    fn from_iter<I: IntoIterator<Item = Channel>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_eleven_matches_the_spec_bytes() {
        let mask = ChannelMask::single(Channel::DEFAULT);
        assert_eq!(mask.bits().to_be_bytes(), [0, 0, 0, 0, 0, 0, 0x08, 0x00]);
        assert_eq!(mask.iter().collect::<Vec<_>>(), vec![Channel::DEFAULT]);
    }

    #[test]
    fn bounds_and_sets() {
        assert_eq!(Channel::new(63).map(Channel::get), Some(63));
        assert_eq!(Channel::new(64), None);
        let set: ChannelMask = [0, 5, 63].into_iter().filter_map(Channel::new).collect();
        assert_eq!(set.bits(), 1 | (1 << 5) | (1 << 63));
        assert_eq!(set.iter().map(Channel::get).collect::<Vec<_>>(), [0, 5, 63]);
        assert!(ChannelMask::EMPTY.is_empty());
        assert!(!set.contains(Channel::DEFAULT));
    }
}
