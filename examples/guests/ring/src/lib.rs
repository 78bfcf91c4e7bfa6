//! A ring: N processes pass a token round M times, written with the shoal-guest SDK.
//!
//! `ring(pack(n, m))` is the first node. It spawns the other `n - 1` as `node`s with
//! `spawn_link` (so the whole ring comes down if any part of it crashes, as in Erlang's
//! classic ring), tells each its successor, the last one pointing back at itself, and
//! sends the token. Every node forwards every token; each time the token comes back to
//! the first node a round is done. After the last round the first node sends `Stop`
//! round the ring, reports to its parent (when it has one: examples/ring.rs spawns it
//! from a native process) and exits `normal(rounds)`.
//!
//! A message that does not decode as [`Ring`] is ignored: the mailbox reports it as a
//! typed error, not a panic.

#![forbid(unsafe_code)]

mod protocol;

use protocol::{Report, Ring};
use shoal_guest::{Mailbox, Pid, Received, send};

/// Waits for the next ring message, skipping anything that is not one.
fn next_message(mailbox: &Mailbox<Ring>) -> Ring {
    loop {
        if let Ok(Received::Data { msg, .. }) = mailbox.receive() {
            return msg;
        }
    }
}

/// Forwards `msg` to `next`. The next node is alive until it has seen `Stop`, and `Stop`
/// is the last message, so a failed send means the ring is broken: crash, and the links
/// take the rest of the ring down.
fn pass(next: Pid, msg: &Ring) {
    send(next, msg).expect("the next node in the ring is alive");
}

shoal_guest::entry! {
    /// The first node: builds the ring, runs `rounds` trips of the token, reports.
    fn ring(arg: i64) -> i32 {
        let (nodes, rounds) = protocol::unpack(arg);
        assert!(nodes >= 1, "a ring needs at least one node");
        let me = shoal_guest::self_pid();
        let mailbox = Mailbox::<Ring>::new();

        let started = shoal_guest::now();
        let others: Vec<Pid> = (1..nodes)
            .map(|i| shoal_guest::spawn_link("node", i64::from(i)).expect("spawn a ring node"))
            .collect();
        for (i, &pid) in others.iter().enumerate() {
            pass(pid, &Ring::Next(others.get(i + 1).copied().unwrap_or(me)));
        }
        let first = others.first().copied().unwrap_or(me);
        let set_up = shoal_guest::now();

        let mut round = 1;
        pass(first, &Ring::Token { round });
        while round <= rounds {
            match next_message(&mailbox) {
                Ring::Token { round: r } if r == round => {
                    round += 1;
                    if round <= rounds {
                        pass(first, &Ring::Token { round });
                    }
                }
                other => panic!("the first node got {other:?} in round {round}"),
            }
        }
        let done = shoal_guest::now();
        if first != me {
            pass(first, &Ring::Stop);
        }

        if let Some(parent) = shoal_guest::parent() {
            let report = Report {
                nodes,
                rounds,
                hops: u64::from(nodes) * u64::from(rounds),
                setup_ns: (set_up - started).as_nanos() as u64,
                pass_ns: (done - set_up).as_nanos() as u64,
            };
            // The parent may be gone; the ring's work is done either way.
            let _ = send(parent, &report);
        }
        rounds as i32
    }

    /// Any other node: learns its successor, forwards tokens until `Stop`.
    fn node(_index: i64) -> i32 {
        let mailbox = Mailbox::<Ring>::new();
        let next = loop {
            if let Ring::Next(next) = next_message(&mailbox) {
                break next;
            }
        };
        let mut forwarded = 0;
        loop {
            match next_message(&mailbox) {
                token @ Ring::Token { .. } => {
                    pass(next, &token);
                    forwarded += 1;
                }
                Ring::Stop => {
                    // The last node's successor is the first node, which may have exited.
                    let _ = send(next, &Ring::Stop);
                    return forwarded;
                }
                Ring::Next(_) => panic!("a node was told its successor twice"),
            }
        }
    }
}
