//! Model-checked tests of the concurrent core: run with
//! `RUSTFLAGS="--cfg shoal_loom" cargo test -p shoal-proc --release --lib loom`.

use loom::sync::Arc;
use loom::thread;

use crate::{Mailbox, Message, State, StateCell, WaitReason};

#[test]
fn loom_a_wake_and_a_kill_race_and_exactly_legal_edges_win() {
    loom::model(|| {
        let cell = Arc::new(StateCell::new(0));
        cell.transition_to_runnable(0).unwrap();
        cell.transition_to_running(0).unwrap();
        cell.transition_to_waiting(WaitReason::Receive, 0).unwrap();
        let waker = {
            let cell = cell.clone();
            thread::spawn(move || {
                cell.transition_from(State::Waiting(WaitReason::Receive), State::Runnable, 1)
                    .is_ok()
            })
        };
        let killed = cell.transition_to_exiting(1).is_ok();
        let woke = waker.join().unwrap();
        // The kill is legal from Waiting and from Runnable, so it always wins; the wake
        // wins only if it came first.
        assert!(killed);
        assert_eq!(cell.get(), State::Exiting);
        let _ = woke;
    });
}

#[test]
fn loom_two_senders_lose_nothing_and_keep_their_order() {
    loom::model(|| {
        let mailbox = Arc::new(Mailbox::new(None));
        let senders: Vec<_> = (0..2u64)
            .map(|sender| {
                let mailbox = mailbox.clone();
                thread::spawn(move || {
                    for i in 0..2u8 {
                        mailbox
                            .push(Message {
                                from: None,
                                tag: sender,
                                data: vec![i],
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < 4 {
            match mailbox.try_receive(None) {
                Some(m) => got.push((m.tag, m.data[0])),
                None => thread::yield_now(),
            }
        }
        for s in senders {
            s.join().unwrap();
        }
        for sender in 0..2 {
            let order: Vec<u8> = got
                .iter()
                .filter(|(t, _)| *t == sender)
                .map(|(_, b)| *b)
                .collect();
            assert_eq!(order, vec![0, 1]);
        }
    });
}
