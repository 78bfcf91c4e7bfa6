//! Model-checked tests of the concurrent core: the state cell, the mailbox, the process
//! table, and links racing the end of a process. Run with
//! `RUSTFLAGS="--cfg shoal_loom" cargo test -p shoal-proc --release --lib loom`.
//!
//! Under `shoal_loom` the crate's atomics and mutexes are loom's (see `sync`) and the
//! table's pages shrink to [`PAGE_SLOTS`](crate::PAGE_SLOTS) = 2, so each model stays
//! small enough to explore every interleaving.

use std::future::poll_fn;

use loom::sync::Arc;
use loom::thread;

use crate::{Mailbox, Message, Pid, ProcessTable, State, StateCell, StateTimes, WaitReason};

const WAITING: State = State::Waiting(WaitReason::Receive);

/// A cell in `Waiting(Receive)` since clock reading 0.
fn waiting_cell() -> StateCell {
    let cell = StateCell::new(0);
    let _ = cell.transition_to_runnable(0).unwrap();
    let _ = cell.transition_to_running(0).unwrap();
    let _ = cell.transition_to_waiting(WaitReason::Receive, 0).unwrap();
    cell
}

#[test]
fn loom_a_kill_racing_a_wake_always_wins_and_time_is_accounted_once() {
    loom::model(|| {
        let cell = Arc::new(waiting_cell());
        let waker = {
            let cell = cell.clone();
            thread::spawn(move || cell.transition_from(WAITING, State::Runnable, 1).is_ok())
        };
        // The kill is legal from Waiting and from Runnable, so it always wins; the wake
        // wins only if it came first.
        let kill = cell.transition_to_exiting(2).unwrap();
        let woke = waker.join().unwrap();
        assert_eq!(cell.get(), State::Exiting);
        let times = cell.times(10);
        if woke {
            assert_eq!(kill.from, State::Runnable);
            assert_eq!(
                times,
                StateTimes {
                    runnable_ns: 1,
                    running_ns: 0,
                    waiting_ns: 1
                }
            );
        } else {
            assert_eq!(kill.from, WAITING);
            assert_eq!(
                times,
                StateTimes {
                    runnable_ns: 0,
                    running_ns: 0,
                    waiting_ns: 2
                }
            );
        }
    });
}

#[test]
fn loom_a_wake_and_a_kill_from_waiting_have_exactly_one_winner() {
    loom::model(|| {
        let cell = Arc::new(waiting_cell());
        let waker = {
            let cell = cell.clone();
            thread::spawn(move || cell.transition_from(WAITING, State::Runnable, 1))
        };
        let kill = cell.transition_from(WAITING, State::Exiting, 1);
        let wake = waker.join().unwrap();
        let (winner, loser) = match (wake, kill) {
            (Ok(_), Err(loser)) => (State::Runnable, loser),
            (Err(loser), Ok(_)) => (State::Exiting, loser),
            (wake, kill) => panic!("exactly one wins: {wake:?} {kill:?}"),
        };
        assert_eq!(cell.get(), winner);
        assert_eq!(loser.from, winner, "the loser names the state it found");
        assert_eq!(cell.times(1).waiting_ns, 1);
    });
}

/// Messages sent by each of the two senders of the mailbox model: sender 0 sends two (so
/// its order can be checked), sender 1 one. Two each multiplies the interleavings past
/// what an exhaustive run explores in minutes.
const SENT: [u8; 2] = [2, 1];

#[test]
fn loom_two_senders_and_a_polling_receiver_lose_nothing_and_keep_order() {
    loom::model(|| {
        let mailbox = Arc::new(Mailbox::new(crate::Bound::NONE));
        let senders: Vec<_> = (0..2u64)
            .map(|sender| {
                let mailbox = mailbox.clone();
                thread::spawn(move || {
                    for i in 0..SENT[sender as usize] {
                        mailbox.push(Message::data(None, sender, vec![i])).unwrap();
                    }
                })
            })
            .collect();
        // loom's block_on parks until the registered waker is woken: a push that failed
        // to wake the receiver would be reported as a deadlock.
        let total = SENT.iter().map(|&n| usize::from(n)).sum::<usize>();
        let got: Vec<(u64, u8)> = (0..total)
            .map(|_| {
                let m = loom::future::block_on(poll_fn(|cx| mailbox.poll_receive(None, cx)));
                (m.tag, m.data[0])
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        for sender in 0..2 {
            let order: Vec<u8> = got
                .iter()
                .filter(|(t, _)| *t == sender)
                .map(|(_, b)| *b)
                .collect();
            let sent: Vec<u8> = (0..SENT[sender as usize]).collect();
            assert_eq!(order, sent, "sender {sender}: {got:?}");
        }
        assert!(mailbox.is_empty());
    });
}

#[test]
fn loom_a_selective_receiver_is_woken_only_to_find_its_tag() {
    loom::model(|| {
        let mailbox = Arc::new(Mailbox::new(crate::Bound::NONE));
        let senders: Vec<_> = (0..2u64)
            .map(|tag| {
                let mailbox = mailbox.clone();
                thread::spawn(move || {
                    mailbox.push(Message::data(None, tag, vec![])).unwrap();
                })
            })
            .collect();
        let m = loom::future::block_on(poll_fn(|cx| mailbox.poll_receive(Some(1), cx)));
        assert_eq!(m.tag, 1);
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(mailbox.try_receive(None).map(|m| m.tag), Some(0));
    });
}

#[test]
fn loom_a_get_racing_remove_and_reinsert_never_sees_another_generation() {
    loom::model(|| {
        let table = Arc::new(ProcessTable::<Pid>::with_capacity(1));
        let (first, _) = table.insert_with(|pid| pid).unwrap();
        let churn = {
            let table = table.clone();
            thread::spawn(move || {
                assert_eq!(table.remove(first).map(|v| *v), Some(first));
                table.insert_with(|pid| pid).unwrap().0
            })
        };
        let next = Pid::new(first.index(), first.generation() + 1);
        for pid in [first, next] {
            if let Some(v) = table.get(pid) {
                assert_eq!(*v, pid, "get returned another generation's entry");
            }
        }
        let second = churn.join().unwrap();
        assert_eq!(second, next);
        assert!(table.get(first).is_none());
        assert_eq!(table.get(second).map(|v| *v), Some(second));
        assert_eq!(table.len(), 1);
    });
}

#[test]
fn loom_racing_inserts_get_distinct_slots_and_respect_capacity() {
    loom::model(|| {
        // Three slots span two pages of two.
        let table = Arc::new(ProcessTable::<Pid>::with_capacity(3));
        let (first, _) = table.insert_with(|pid| pid).unwrap();
        let other = {
            let table = table.clone();
            thread::spawn(move || {
                let got = table.insert_with(|pid| pid).map(|(pid, _)| pid);
                table.remove(first);
                got
            })
        };
        let mine = table.insert_with(|pid| pid).map(|(pid, _)| pid);
        let theirs = other.join().unwrap();
        let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
        assert_ne!(mine, theirs);
        assert_eq!(table.get(mine).map(|v| *v), Some(mine));
        assert_eq!(table.get(theirs).map(|v| *v), Some(theirs));
        assert_eq!(table.len(), 2);
        // A third insert fits (the first was removed), a fourth does not.
        assert!(table.insert_with(|pid| pid).is_ok());
        assert!(table.insert_with(|pid| pid).is_err());
        assert_eq!(table.entries().len(), 3);
    });
}

fn core(index: u32) -> crate::ProcessCore {
    crate::ProcessCore::new(
        Pid::new(index, 1),
        crate::Bound::NONE,
        0,
        std::time::Instant::now(),
    )
}

#[test]
fn loom_a_link_racing_the_end_of_its_target_is_either_signalled_or_noproc() {
    loom::model(|| {
        let (a, b) = (Arc::new(core(1)), Arc::new(core(2)));
        let linker = {
            let (a, b) = (a.clone(), b.clone());
            thread::spawn(move || a.link(b.pid, Some(&b)))
        };
        let severed = b.close_relations().unwrap();
        let outcome = linker.join().unwrap();
        let signalled = severed.links.contains(&a.pid);
        // Exactly one: the ending process signals the link, or the linker was told noproc.
        assert_eq!(
            outcome == crate::LinkOutcome::NoProc,
            !signalled,
            "{outcome:?}, signalled {signalled}"
        );
    });
}

#[test]
fn loom_no_exit_signal_arrives_after_unlink_returns() {
    loom::model(|| {
        let (a, b) = (Arc::new(core(1)), Arc::new(core(2)));
        let _ = a.set_trap_exit(true);
        assert_eq!(a.link(b.pid, Some(&b)), crate::LinkOutcome::Linked);
        let unlinker = {
            let (a, b) = (a.clone(), b.clone());
            thread::spawn(move || {
                a.unlink(b.pid, Some(&b));
                a.mailbox.len()
            })
        };
        if let Some(severed) = b.close_relations() {
            for pid in severed.links {
                assert_eq!(pid, a.pid);
                let _ = a.on_linked_exit(b.pid, &crate::ExitReason::Shutdown);
            }
        }
        let queued_at_unlink = unlinker.join().unwrap();
        assert_eq!(
            a.mailbox.len(),
            queued_at_unlink,
            "an EXIT came after unlink"
        );
        assert!(a.mailbox.len() <= 1);
        assert!(!a.is_linked(b.pid));
    });
}
