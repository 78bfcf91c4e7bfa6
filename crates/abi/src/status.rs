//! Status codes (docs/ABI.md, "Status codes").
//!
//! Host functions that can fail return one of these: `OK`, or a negative value naming
//! the failure. Pids, lengths and references are never negative, so a negative result
//! is always a status. The values are stable; a new failure gets a new number.

/// Success.
pub const OK: i32 = 0;
/// The target pid is dead, or never existed (also: no process has the name).
pub const NOPROC: i32 = -1;
/// The target's mailbox is at its bound; the message was not queued.
pub const MAILBOX_FULL: i32 = -2;
/// A receive timed out.
pub const TIMEOUT: i32 = -3;
/// `message_*` was called with no current message.
pub const NO_MESSAGE: i32 = -4;
/// Spawn refused: the runtime is at its process capacity, or at the number of live wasm
/// processes its memory-mapping budget (`vm.max_map_count`) admits.
pub const CAPACITY: i32 = -5;
/// Spawn refused: no such export, or its type is not an entry type.
pub const BAD_EXPORT: i32 = -6;
/// Send refused: the message is larger than the runtime's limit,
/// [`MAX_MESSAGE_BYTES`](crate::MAX_MESSAGE_BYTES) (16 MiB).
pub const TOO_LARGE: i32 = -7;
/// Spawn refused: the runtime is shutting down.
pub const SHUTTING_DOWN: i32 = -8;
/// `register`: the name is registered to a live process already.
pub const NAME_TAKEN: i32 = -9;
/// `register`: the process has a registered name already (one name per process, as in
/// Erlang).
pub const ALREADY_NAMED: i32 = -10;
/// `exit_signal`: the reason kind cannot be sent.
pub const BAD_REASON: i32 = -11;
/// A name is empty, longer than [`MAX_NAME_BYTES`](crate::MAX_NAME_BYTES) (255) bytes,
/// or not UTF-8.
pub const BAD_NAME: i32 = -12;
/// Send refused: the runtime's memory budget cannot hold the message; nothing was queued.
/// It frees as processes receive, shrink or end.
pub const OVER_BUDGET: i32 = -13;
/// `spawn_on`: the node refused the spawn (it does not accept spawns from other nodes,
/// or the module or its export failed there).
pub const REFUSED: i32 = -14;
/// Send refused: the queue of signals to other nodes is at its bound; nothing was
/// queued. `wait_node` waits, like a receive, until it has room.
pub const NODE_BUSY: i32 = -15;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status, in docs/ABI.md's order.
    const ALL: [i32; 16] = [
        OK,
        NOPROC,
        MAILBOX_FULL,
        TIMEOUT,
        NO_MESSAGE,
        CAPACITY,
        BAD_EXPORT,
        TOO_LARGE,
        SHUTTING_DOWN,
        NAME_TAKEN,
        ALREADY_NAMED,
        BAD_REASON,
        BAD_NAME,
        OVER_BUDGET,
        REFUSED,
        NODE_BUSY,
    ];

    #[test]
    fn ok_is_zero_and_every_failure_is_negative() {
        assert_eq!(OK, 0);
        for status in &ALL[1..] {
            assert!(*status < 0, "{status}");
        }
    }

    #[test]
    fn no_two_statuses_are_equal() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_statuses_are_the_documented_numbers() {
        let expected: [i32; 16] = core::array::from_fn(|i| -(i as i32));
        assert_eq!(ALL, expected);
    }
}
