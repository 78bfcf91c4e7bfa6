//! Mailboxes: many senders, one receiver (the owning process).
//!
//! # Order
//! One queue in arrival order. Each sender's messages therefore arrive in the order it
//! sent them (FIFO per sender); messages from different senders interleave as they came.
//!
//! # Selective receive keeps its place
//! A receive may take only messages with a given tag. Like Erlang's saved position in a
//! receive, the mailbox remembers, for the last tag scanned, how far the scan got: a
//! scan that found nothing for tag `t` remembers the queue length, so the next receive
//! for `t` looks only at messages that arrived since; a match at index `i` remembers `i`
//! (nothing before it matched). A removal by another receive before the saved position
//! moves the position back by one. A long mailbox is thus scanned once, not once per
//! receive. [`Mailbox::last_scan_len`] exposes how many messages the last receive looked at.
//!
//! # Waking and closing
//! The receiver registers its waker when it finds nothing; a push takes the waker and
//! wakes it after releasing the lock. Closing (at exit) rejects later pushes with
//! [`MailboxError::Closed`] and returns the messages never received, so nothing vanishes
//! without the runtime seeing it.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::Pid;
use crate::sync::Mutex;

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender; `None` when the host sent it.
    pub from: Option<Pid>,
    /// Application-defined tag, matched by selective receive.
    pub tag: u64,
    /// The payload.
    pub data: Vec<u8>,
}

/// Why a push was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// The mailbox holds its bound already.
    #[error("mailbox is full (bound {bound})")]
    Full {
        /// The bound.
        bound: usize,
    },
    /// Its process has exited.
    #[error("mailbox is closed: its process has exited")]
    Closed,
}

/// Where the last selective scan stopped.
#[derive(Copy, Clone, Debug)]
struct Cursor {
    tag: u64,
    pos: usize,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Message>,
    cursor: Option<Cursor>,
    waker: Option<Waker>,
    closed: bool,
    last_scan: usize,
}

impl Inner {
    fn take(&mut self, filter: Option<u64>) -> Option<Message> {
        let Some(tag) = filter else {
            self.last_scan = usize::from(!self.queue.is_empty());
            let msg = self.queue.pop_front()?;
            self.removed_at(0);
            return Some(msg);
        };
        let start = match self.cursor {
            Some(c) if c.tag == tag => c.pos.min(self.queue.len()),
            _ => 0,
        };
        let found = self
            .queue
            .iter()
            .skip(start)
            .position(|m| m.tag == tag)
            .map(|i| i + start);
        match found {
            Some(i) => {
                self.last_scan = i - start + 1;
                let msg = self.queue.remove(i);
                self.cursor = Some(Cursor { tag, pos: i });
                msg
            }
            None => {
                self.last_scan = self.queue.len() - start;
                self.cursor = Some(Cursor {
                    tag,
                    pos: self.queue.len(),
                });
                None
            }
        }
    }

    fn removed_at(&mut self, index: usize) {
        if let Some(c) = &mut self.cursor {
            if index < c.pos {
                c.pos -= 1;
            }
        }
    }
}

/// A process's mailbox.
pub struct Mailbox {
    inner: Mutex<Inner>,
    bound: Option<usize>,
}

impl Mailbox {
    /// A mailbox holding at most `bound` messages (`None`: unbounded).
    pub fn new(bound: Option<usize>) -> Mailbox {
        Mailbox {
            inner: Mutex::new(Inner::default()),
            bound,
        }
    }

    /// Queues a message and wakes the receiver if it waits.
    pub fn push(&self, msg: Message) -> Result<(), MailboxError> {
        let waker = {
            let mut inner = self.inner.lock();
            if inner.closed {
                return Err(MailboxError::Closed);
            }
            if let Some(bound) = self.bound {
                if inner.queue.len() >= bound {
                    return Err(MailboxError::Full { bound });
                }
            }
            inner.queue.push_back(msg);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Takes the first message matching `filter` (`None`: any).
    pub fn try_receive(&self, filter: Option<u64>) -> Option<Message> {
        self.inner.lock().take(filter)
    }

    /// As [`try_receive`](Self::try_receive), else registers the waker and is pending.
    pub fn poll_receive(&self, filter: Option<u64>, cx: &mut Context<'_>) -> Poll<Message> {
        let mut inner = self.inner.lock();
        if let Some(msg) = inner.take(filter) {
            return Poll::Ready(msg);
        }
        match &inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Closes the mailbox and returns the messages never received.
    pub fn close(&self) -> Vec<Message> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        inner.waker = None;
        inner.cursor = None;
        inner.queue.drain(..).collect()
    }

    /// Queued messages.
    pub fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// No queued messages.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound, if any.
    pub fn bound(&self) -> Option<usize> {
        self.bound
    }

    /// How many messages the last receive examined.
    pub fn last_scan_len(&self) -> usize {
        self.inner.lock().last_scan
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    fn msg(tag: u64, byte: u8) -> Message {
        Message {
            from: None,
            tag,
            data: vec![byte],
        }
    }

    #[test]
    fn messages_come_out_in_arrival_order() {
        let m = Mailbox::new(None);
        for i in 0..5 {
            m.push(msg(0, i)).unwrap();
        }
        let got: Vec<u8> = (0..5)
            .map(|_| m.try_receive(None).unwrap().data[0])
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert!(m.try_receive(None).is_none());
    }

    #[test]
    fn a_tag_filtered_receive_leaves_the_others_in_order() {
        let m = Mailbox::new(None);
        for (tag, b) in [(1, 10), (2, 20), (1, 11), (2, 21), (3, 30)] {
            m.push(msg(tag, b)).unwrap();
        }
        assert_eq!(m.try_receive(Some(2)).unwrap().data, vec![20]);
        assert_eq!(m.try_receive(Some(2)).unwrap().data, vec![21]);
        assert!(m.try_receive(Some(2)).is_none());
        let rest: Vec<u8> = (0..3)
            .map(|_| m.try_receive(None).unwrap().data[0])
            .collect();
        assert_eq!(rest, vec![10, 11, 30]);
    }

    #[test]
    fn a_selective_receive_does_not_rescan_what_it_has_seen() {
        let m = Mailbox::new(None);
        for i in 0..10_000 {
            m.push(msg(1, (i % 256) as u8)).unwrap();
        }
        assert!(m.try_receive(Some(7)).is_none());
        assert_eq!(m.last_scan_len(), 10_000);
        m.push(msg(1, 0)).unwrap();
        assert!(m.try_receive(Some(7)).is_none());
        assert_eq!(m.last_scan_len(), 1);
        m.push(msg(7, 42)).unwrap();
        assert_eq!(m.try_receive(Some(7)).unwrap().data, vec![42]);
        assert_eq!(m.last_scan_len(), 1);
        assert_eq!(m.len(), 10_001);
    }

    #[test]
    fn a_removal_before_the_saved_position_moves_it_back() {
        let m = Mailbox::new(None);
        for (tag, b) in [(1, 1), (1, 2), (9, 3)] {
            m.push(msg(tag, b)).unwrap();
        }
        assert!(m.try_receive(Some(5)).is_none()); // cursor for 5 at 3
        m.try_receive(None).unwrap(); // removes index 0: cursor to 2
        m.push(msg(5, 4)).unwrap(); // now at index 2
        assert_eq!(m.try_receive(Some(5)).unwrap().data, vec![4]);
        assert_eq!(m.last_scan_len(), 1);
    }

    #[test]
    fn a_bounded_mailbox_refuses_when_full() {
        let m = Mailbox::new(Some(2));
        m.push(msg(0, 0)).unwrap();
        m.push(msg(0, 1)).unwrap();
        assert_eq!(m.push(msg(0, 2)), Err(MailboxError::Full { bound: 2 }));
        m.try_receive(None).unwrap();
        assert!(m.push(msg(0, 2)).is_ok());
    }

    #[test]
    fn close_returns_unreceived_messages_and_refuses_later_pushes() {
        let m = Mailbox::new(None);
        m.push(msg(0, 1)).unwrap();
        assert_eq!(m.close(), vec![msg(0, 1)]);
        assert_eq!(m.push(msg(0, 2)), Err(MailboxError::Closed));
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_push_wakes_a_waiting_receiver() {
        let m = Mailbox::new(None);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(m.poll_receive(None, &mut cx).is_pending());
        m.push(msg(0, 9)).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(m.poll_receive(None, &mut cx), Poll::Ready(msg(0, 9)));
    }
}
