//! The ring's messages, shared with the host program (examples/ring.rs includes this
//! file), so both sides encode the same types with postcard.

use serde::{Deserialize, Serialize};
use shoal_guest::Pid;

/// What ring members send one another.
#[derive(Serialize, Deserialize, Debug)]
pub enum Ring {
    /// Sent once to each node: the process it passes the token to.
    Next(Pid),
    /// The token, in its `round`th trip (from 1).
    Token {
        /// Which trip round the ring this is.
        round: u32,
    },
    /// Passed once round the ring at the end: each node forwards it and exits.
    Stop,
}

/// What the ring's first process tells its parent when the last round is done.
#[derive(Serialize, Deserialize, Debug)]
pub struct Report {
    /// Processes in the ring, the first one included.
    pub nodes: u32,
    /// Trips the token made.
    pub rounds: u32,
    /// Messages the token took: `nodes * rounds`.
    pub hops: u64,
    /// Time to spawn the other nodes and tell each its neighbour, in nanoseconds.
    pub setup_ns: u64,
    /// Time from the first hop to the last, in nanoseconds.
    pub pass_ns: u64,
}

/// The `ring` entry's argument: `nodes` and `rounds` packed into one `i64`.
#[allow(dead_code)] // The host program's half.
pub fn pack(nodes: u32, rounds: u32) -> i64 {
    (i64::from(nodes) << 32) | i64::from(rounds)
}

/// The inverse of [`pack`].
pub fn unpack(arg: i64) -> (u32, u32) {
    ((arg >> 32) as u32, arg as u32)
}
