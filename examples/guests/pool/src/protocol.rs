//! The pool's messages, shared with the host program (examples/supervised_pool.rs
//! includes this file), so both sides encode the same types with postcard.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long the client waits for an answer. A job is well under a millisecond of CPU
/// (a few hundred Collatz sequences); fifty times that, even with the pool sharing two
/// cores with other processes, means the worker crashed. It is also what a crash costs
/// the client, so it bounds the crash rate: at most one per timeout, 20 a second, which
/// is what examples/supervised_pool.rs sizes the supervisor's restart intensity by.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(50);

/// A job: sum the Collatz stopping times of `1..=n`.
#[derive(Serialize, Deserialize, Copy, Clone, Debug)]
pub struct Job {
    /// The client's number for it.
    pub id: u32,
    /// How far to count.
    pub n: u64,
}

/// The client's job number `id`: the same list on every run, so the host can check the
/// answers.
pub fn job(id: u32) -> Job {
    Job {
        id,
        n: 200 + u64::from(id % 100),
    }
}

/// A worker's answer to a [`Job`].
#[derive(Serialize, Deserialize, Copy, Clone, Debug)]
pub struct Done {
    /// The job's id.
    pub id: u32,
    /// Which worker did it.
    pub worker: u32,
    /// The sum.
    pub result: u64,
}

/// What the client tells its parent at the end.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Summary {
    /// Jobs the client had.
    pub jobs: u32,
    /// Jobs answered (all of them, unless the client gave up on one).
    pub completed: u32,
    /// Requests whose worker crashed on the job before it replied (the request saw its
    /// `DOWN` at once).
    pub crashed: u32,
    /// Requests that got no answer in time.
    pub timeouts: u32,
    /// Requests that found no worker to send to: it was being restarted.
    pub no_worker: u32,
    /// Jobs answered by each worker slot, by index.
    pub per_worker: Vec<u32>,
    /// The sum of all results: the same on every run, crashes or not.
    pub checksum: u64,
}

/// The registered name of worker `index`: a restarted worker registers the same name,
/// so the client finds the new process without being told its pid.
pub fn worker_name(index: u32) -> String {
    format!("worker.{index}")
}

/// The `client` entry's argument: `jobs` and `workers` packed into one `i64`.
#[allow(dead_code)] // The host program's half.
pub fn pack(jobs: u32, workers: u32) -> i64 {
    (i64::from(jobs) << 32) | i64::from(workers)
}

/// The inverse of [`pack`].
pub fn unpack(arg: i64) -> (u32, u32) {
    ((arg >> 32) as u32, arg as u32)
}

/// The answer to `job`, computed the slow way; the host checks the client's checksum
/// against it.
pub fn collatz_sum(n: u64) -> u64 {
    (1..=n)
        .map(|mut x| {
            let mut steps = 0u64;
            while x != 1 {
                x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
                steps += 1;
            }
            steps
        })
        .sum()
}
