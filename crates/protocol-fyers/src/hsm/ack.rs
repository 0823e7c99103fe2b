//! Data-frame acknowledgement pacing (spec §6.5): when the auth reply's `ack_count` is n > 0,
//! the client acknowledges every n-th data frame with the message number of *that* frame, then
//! starts counting again; `ack_count` 0 disables acks. Pure: the adapter feeds it data frames
//! and sends whatever it returns.

use super::client::ClientFrame;

/// Counts data frames and says when to acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckCounter {
    every: u32,
    seen: u32,
}

impl AckCounter {
    /// A counter for the auth reply's `ack_count` (0 = never acknowledge).
    pub const fn new(ack_count: u32) -> Self {
        Self {
            every: ack_count,
            seen: 0,
        }
    }

    /// Records one data frame; returns the ack to send, if this frame completes a group.
    pub fn on_data(&mut self, message_number: u32) -> Option<ClientFrame> {
        if self.every == 0 {
            return None;
        }
        self.seen += 1;
        if self.seen < self.every {
            return None;
        }
        self.seen = 0;
        Some(ClientFrame::Ack { message_number })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_pacing_table() {
        // (ack_count, message numbers fed, message numbers acknowledged)
        let cases: [(u32, &[u32], &[u32]); 4] = [
            (0, &[1, 2, 3, 4], &[]),
            (1, &[5, 6, 7], &[5, 6, 7]),
            (2, &[1, 2, 3, 4, 5], &[2, 4]),
            (3, &[10, 11, 12, 13, 14, 15, 16], &[12, 15]),
        ];
        for (ack_count, fed, expected) in cases {
            let mut counter = AckCounter::new(ack_count);
            let acked: Vec<u32> = fed
                .iter()
                .filter_map(|&n| match counter.on_data(n) {
                    Some(ClientFrame::Ack { message_number }) => Some(message_number),
                    _ => None,
                })
                .collect();
            assert_eq!(acked, expected, "ack_count {ack_count}");
        }
    }
}
