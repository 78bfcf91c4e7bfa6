//! A client of the counter component (examples/guests/counter), written with the
//! shoal-guest SDK as a core module: the two kinds of guest share pids, names and
//! messages. `client(n)` finds the counter by name, adds 1 to `n` one at a time, waits
//! for each new total, and exits 0 once every total it saw grew.

#![forbid(unsafe_code)]

use std::time::Duration;

/// The counter's name (examples/guests/counter).
const COUNTER: &str = "counter";
/// A request to the counter: add the `u64` in the payload.
const ADD: u64 = 1;
/// The counter's answer: the new total.
const TOTAL: u64 = 2;
/// How long a client waits between looks for the counter's name.
const LOOK_AGAIN: Duration = Duration::from_millis(1);

shoal_guest::entry! {
    /// Adds `1..=n`, one request at a time; exit 1 if a total ever failed to grow.
    fn client(n: i64) -> i32 {
        let counter = loop {
            match shoal_guest::whereis(COUNTER) {
                Some(pid) => break pid,
                None => shoal_guest::sleep(LOOK_AGAIN),
            }
        };
        let mut last = 0;
        for k in 1..=n as u64 {
            shoal_guest::send_bytes(counter, ADD, &k.to_le_bytes()).expect("the counter is alive");
            let reply = shoal_guest::receive_tag(TOTAL, None).expect("a total comes back");
            let total = u64::from_le_bytes(reply.bytes.as_slice().try_into().expect("8 bytes"));
            if total < last + k {
                return 1;
            }
            last = total;
        }
        0
    }
}
