//! The node service: a native process every `shoal node` runs, registered as
//! [`SERVICE`], that answers other nodes' questions (Erlang's `net_kernel` in spirit):
//! who it is, an echo for round trips, and a counter of one-way messages that says how
//! many arrived, how many were lost and how many came out of order.
//!
//! # Protocol (tags of [`tag`])
//! - `WHO`, data = a pid (8 bytes, little-endian): the service sends `WHO` with no data
//!   to that pid; the reply's sender is the service's pid.
//! - `ECHO`: sent back to its sender with the same tag and data.
//! - `COUNT`, data = a sequence number (8 bytes, little-endian), from 0 per sender: counted.
//! - `REPORT`: the counts since the last report go back to the sender as three
//!   little-endian `u64`s (received, lost, reordered), and start again from zero.

use std::collections::HashMap;

use shoal_scheduler::{Pid, SpawnError, SpawnOptions};

use crate::Node;

/// The name the service is registered under on every node.
pub const SERVICE: &str = "shoal.node";

/// The service's message tags.
pub mod tag {
    /// Who are you: answered to the pid in the data.
    pub const WHO: u64 = 1;
    /// Sent back as it came.
    pub const ECHO: u64 = 2;
    /// One of a sender's numbered one-way messages.
    pub const COUNT: u64 = 3;
    /// The counts, and start again.
    pub const REPORT: u64 = 4;
}

/// What the `COUNT` messages since the last report looked like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages received.
    pub received: u64,
    /// Numbers never seen below the highest seen of their sender.
    pub lost: u64,
    /// Messages whose number was below one already seen.
    pub reordered: u64,
}

impl Counts {
    /// The counts as `REPORT` sends them.
    pub fn to_bytes(self) -> [u8; 24] {
        let mut out = [0; 24];
        out[..8].copy_from_slice(&self.received.to_le_bytes());
        out[8..16].copy_from_slice(&self.lost.to_le_bytes());
        out[16..].copy_from_slice(&self.reordered.to_le_bytes());
        out
    }

    /// The counts of a `REPORT` reply, or `None` for other bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Counts> {
        let word = |i: usize| Some(u64::from_le_bytes(bytes.get(i..i + 8)?.try_into().ok()?));
        (bytes.len() == 24).then_some(())?;
        Some(Counts {
            received: word(0)?,
            lost: word(8)?,
            reordered: word(16)?,
        })
    }
}

/// Per-sender sequence tracking for `COUNT`.
#[derive(Default)]
struct Counter {
    /// Per sender, one past the highest number seen.
    next: HashMap<Option<Pid>, u64>,
    received: u64,
    reordered: u64,
}

impl Counter {
    fn count(&mut self, from: Option<Pid>, seq: u64) {
        self.received += 1;
        let next = self.next.entry(from).or_default();
        if seq < *next {
            self.reordered += 1;
        } else {
            *next = seq + 1;
        }
    }

    /// The counts so far; a number never seen below the highest of its sender is lost.
    fn take(&mut self) -> Counts {
        let expected: u64 = self.next.drain().map(|(_, n)| n).sum();
        let counts = Counts {
            received: self.received,
            lost: expected.saturating_sub(self.received),
            reordered: self.reordered,
        };
        (self.received, self.reordered) = (0, 0);
        counts
    }
}

/// Spawns the service on `node` and registers it as [`SERVICE`].
pub fn spawn(node: &Node) -> Result<Pid, SpawnError> {
    let handle = node
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            if cx.register(SERVICE).is_err() {
                return 1;
            }
            let mut counter = Counter::default();
            loop {
                let Some(m) = cx.receive(None, None).await else {
                    continue;
                };
                let word = m
                    .data
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes);
                match m.tag {
                    tag::WHO => {
                        if let Some(to) = word.and_then(Pid::from_bits) {
                            let _ = cx.send(to, tag::WHO, Vec::new());
                        }
                    }
                    tag::ECHO => {
                        if let Some(from) = m.from {
                            let _ = cx.send(from, tag::ECHO, m.data);
                        }
                    }
                    tag::COUNT => counter.count(m.from, word.unwrap_or(u64::MAX)),
                    tag::REPORT => {
                        let counts = counter.take();
                        if let Some(from) = m.from {
                            let _ = cx.send(from, tag::REPORT, counts.to_bytes().to_vec());
                        }
                    }
                    _ => {}
                }
            }
        })?;
    Ok(handle.pid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_see_gaps_as_lost_and_late_numbers_as_reordered() {
        let mut c = Counter::default();
        let (a, b) = (Some(Pid::new(1, 0)), Some(Pid::new(2, 0)));
        for seq in [0, 1, 3, 2, 4] {
            c.count(a, seq);
        }
        for seq in [0, 2] {
            c.count(b, seq);
        }
        c.count(None, 0);
        let counts = c.take();
        assert_eq!(
            counts,
            Counts {
                received: 8,
                lost: 1,
                reordered: 1
            }
        );
        assert_eq!(Counts::from_bytes(&counts.to_bytes()), Some(counts));
        assert_eq!(Counts::from_bytes(&[0; 23]), None);
        assert_eq!(c.take(), Counts::default(), "a report starts again");
    }
}
