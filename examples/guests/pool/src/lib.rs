//! A worker pool whose workers crash at random, for a supervisor to restart; and a
//! client that gets every job done anyway.
//!
//! - `worker(index)` registers as `worker.<index>` and answers [`Request<Job>`]s
//!   forever. Before each job it rolls a die: one time in [`CRASH_ONE_IN`] it crashes
//!   instead, in one of three ways, so the supervisor sees three different reasons: a
//!   `panic!` (`trap(panic: ...)` with the message), a division by zero (Rust checks it
//!   and panics: `trap(panic: attempt to divide by zero ...)`), or a wasm `unreachable`
//!   (`trap(unreachable_code_reached)`). It never replies to the job it crashed on.
//! - `client(pack(jobs, workers))` sends each job to a worker, by name, with
//!   [`shoal_guest::request`] and a timeout. A timeout (the worker died on the job) or no
//!   worker under the name (it is being restarted) sends the job to the next worker. The
//!   alias of a request that timed out is closed, so a late reply could never be taken
//!   for another job's. At the end it sends a [`Summary`] to its parent and exits
//!   `normal(completed)`.
//!
//! The restarts are the host's: examples/supervised_pool.rs runs the workers under
//! `shoal::Supervisor`.

#![forbid(unsafe_code)]

mod protocol;

use std::time::Duration;

use protocol::{Done, Job, REPLY_TIMEOUT, Summary};
use shoal_guest::{Mailbox, Received, Request, RequestError, SendError};

/// One job in this many crashes its worker: often enough that a run of a few hundred jobs
/// sees a few dozen restarts, rarely enough that most jobs succeed at the first try.
const CRASH_ONE_IN: u64 = 10;

/// How long the client waits before looking a name up again when no worker has it (a
/// restart takes one spawn: microseconds).
const RESTART_WAIT: Duration = Duration::from_millis(2);

/// Attempts at one job before the client gives up on it: with a crash chance of
/// 1/[`CRASH_ONE_IN`] per attempt, failing this many times in a row is a broken pool
/// (for example, a supervisor that gave up), not bad luck.
const MAX_ATTEMPTS: u32 = 64;

/// xorshift64*: enough randomness to pick crashes, seeded per process.
struct Dice(u64);

impl Dice {
    fn seeded() -> Dice {
        let pid = shoal_guest::self_pid().to_raw() as u64;
        let now = shoal_guest::now().as_nanos() as u64;
        Dice((pid.rotate_left(32) ^ now) | 1)
    }

    fn roll(&mut self, sides: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % sides
    }
}

/// Ends the worker abnormally, one of three ways.
fn crash(index: u32, job: Job, how: u64) -> ! {
    match how {
        0 => panic!("worker.{index} gave up on job {}", job.id),
        1 => {
            let zero = std::hint::black_box(0u64);
            let _ = job.n / zero;
            unreachable!("the division panicked")
        }
        _ => wasm_unreachable(),
    }
}

/// A wasm `unreachable` instruction: a trap that is not a panic.
#[cfg(target_arch = "wasm32")]
fn wasm_unreachable() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn wasm_unreachable() -> ! {
    std::process::abort()
}

shoal_guest::entry! {
    /// A pool worker: registers its slot's name, answers jobs, crashes now and then.
    fn worker(arg: i64) -> i32 {
        let index = arg as u32;
        let name = protocol::worker_name(index);
        shoal_guest::register(&name, shoal_guest::self_pid()).expect("register the worker's name");
        let mut dice = Dice::seeded();
        let mailbox = Mailbox::<Request<Job>>::new();
        loop {
            let (from, request) = match mailbox.receive() {
                Ok(Received::Data { from: Some(from), msg }) => (from, msg),
                // A supervisor's EXIT (if we trapped exits) or a stray message.
                Ok(_) | Err(_) => continue,
            };
            if dice.roll(CRASH_ONE_IN) == 0 {
                crash(index, request.body, dice.roll(3));
            }
            let done = Done {
                id: request.body.id,
                worker: index,
                result: protocol::collatz_sum(request.body.n),
            };
            // The client may have given up: the reply is then dropped, which is fine.
            let _ = request.reply(from, &done);
        }
    }

    /// The client: gets `jobs` jobs done by a pool of `workers`, whatever crashes.
    fn client(arg: i64) -> i32 {
        let (jobs, workers) = protocol::unpack(arg);
        assert!(workers > 0, "a pool needs workers");
        let mut summary = Summary {
            jobs,
            per_worker: vec![0; workers as usize],
            ..Summary::default()
        };
        for id in 0..jobs {
            let job = protocol::job(id);
            for attempt in 0..MAX_ATTEMPTS {
                let slot = (id + attempt) % workers;
                let Some(pid) = shoal_guest::whereis(&protocol::worker_name(slot)) else {
                    summary.no_worker += 1;
                    shoal_guest::sleep(RESTART_WAIT);
                    continue;
                };
                match shoal_guest::request::<Job, Done>(pid, &job, REPLY_TIMEOUT) {
                    Ok(done) => {
                        assert_eq!(done.id, id, "a reply is for its own request");
                        summary.completed += 1;
                        summary.per_worker[done.worker as usize] += 1;
                        summary.checksum += done.result;
                        break;
                    }
                    Err(RequestError::Ended(_)) => summary.crashed += 1,
                    Err(RequestError::Timeout) => summary.timeouts += 1,
                    // Died between the lookup and the send.
                    Err(RequestError::Send(SendError::NoProc)) => summary.no_worker += 1,
                    Err(e) => panic!("job {id}: {e}"),
                }
            }
        }
        if let Some(parent) = shoal_guest::parent() {
            let _ = shoal_guest::send(parent, &summary);
        }
        summary.completed as i32
    }
}
