//! Mailboxes: many senders, one receiver (the owning process).
//!
//! # Order
//! One queue in arrival order. Each sender's messages therefore arrive in the order it
//! sent them (FIFO per sender); messages from different senders interleave as they came.
//!
//! # Selective receive keeps its place
//! A receive may take only messages with a given tag. Like the saved position of an
//! Erlang receive, the mailbox remembers how far a scan for a tag got:
//! - a scan for `t` that finds nothing remembers the queue's length, so the next receive
//!   for `t` looks only at messages that arrived since;
//! - a scan for `t` that takes the message at index `i` remembers `i`: nothing before it
//!   was a `t`;
//! - removing a message before a remembered position (by a receive for another tag, or
//!   for any tag) moves that position back by one, so it still counts exactly the
//!   messages already known not to match.
//!
//! Positions are kept for the [`SAVED_POSITIONS`] most recently scanned tags, so a
//! process alternating between a few receives keeps each one's place. A long mailbox is
//! thus scanned once, not once per receive. [`Mailbox::last_scan_len`] says how many
//! messages the last receive examined, so tests can prove that nothing is rescanned.
//!
//! # Bound
//! A mailbox may be bounded in messages, in bytes, or both ([`Bound`]). A push that would
//! pass either is refused with [`MailboxError::Full`], naming the [`Limit`]; the sender
//! decides what to do (the mailbox never drops). Bytes are each message's payload plus
//! [`MESSAGE_OVERHEAD`], so a flood of empty messages is bounded too. An empty mailbox
//! takes any one message, so a bound in bytes below a message's size slows its sender
//! to one message at a time rather than refusing it for ever.
//!
//! # The runtime's memory budget
//! A mailbox with a [`MemoryBudget`] charges it for what it holds beyond the first
//! [`MAILBOX_FREE_BYTES`] (which the process record's charge covers), in steps of
//! [`MAILBOX_CHUNK`], and gives a step back only once it holds a whole step less, so a
//! conversation of small messages never touches the shared counter. A data message the
//! budget cannot take is refused with [`MailboxError::OverBudget`]; a system message is
//! charged whatever the budget (`MemoryBudget::force_charge`). Open aliases count
//! [`ALIAS_BYTES`] each towards the same charge, so a process that opens aliases in a
//! loop meets the budget too. Closing gives back all.
//!
//! # Waking and closing
//! The receiver registers its waker when it finds nothing (replacing any earlier one); a
//! push takes the waker and wakes it after releasing the lock, so the woken receiver
//! never contends with the sender that woke it. Closing (at exit) rejects later pushes
//! with [`MailboxError::Closed`], drops the waker and returns the messages never received,
//! so nothing vanishes without the runtime seeing it. A closed mailbox registers no more
//! wakers.
//!
//! # System messages
//! `EXIT` and `DOWN` messages ([`MessageKind`]) share the one queue, so they keep their
//! order with the sender's data messages. They are pushed with
//! [`push_system`](Mailbox::push_system), which ignores the bound: a signal is never lost
//! to a full mailbox. Their bytes still count, so a mailbox filled with signals refuses
//! data until it is drained.
//!
//! # Aliases: replies that cannot arrive late
//! Tags in the reference range (`reference`) are reserved. A data message with such a
//! tag is queued only while the receiver holds that reference open as an alias
//! ([`open_alias`](Mailbox::open_alias)), and dropped otherwise. Closing an alias also
//! removes the messages with its tag already queued. A request opens an alias, waits for
//! the reply tagged with it, and closes it: a reply that comes after the requester gave up
//! is dropped on arrival and can never be taken by a later receive.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use shoal_abi::message;

use crate::aliases::Aliases;
use crate::budget::{Charge, MemoryBudget, OverBudget, Reservation};
use crate::reference::is_reference;
use crate::sync::Mutex;
use crate::{ExitReason, Pid, Reference};

/// How many tags' scan positions a mailbox remembers. Erlang keeps one, for the receive
/// being executed; four lets a process alternate between a few selective receives
/// without rescanning, while every removal still updates only a handful of positions.
pub const SAVED_POSITIONS: usize = 4;

/// Queued bytes a mailbox holds before it charges the runtime's memory budget: the
/// process record's charge covers them, so the small messages of a conversation cost
/// the budget nothing.
pub const MAILBOX_FREE_BYTES: usize = 4 << 10;

/// The step in which a mailbox charges the runtime's memory budget beyond
/// [`MAILBOX_FREE_BYTES`]: 64 KiB, so a stream of messages touches the shared counter
/// once per 64 KiB at most.
pub const MAILBOX_CHUNK: usize = 64 << 10;

/// What one open alias costs the memory budget: its 8-byte tag and a control byte in a
/// hash set (which many aliases live in) that just after doubling fills 7/16 of its
/// buckets: 9 × 16/7, rounded up.
pub const ALIAS_BYTES: usize = 24;

/// What a queued message costs a bound in bytes beyond its payload: the message record
/// in the queue.
pub const MESSAGE_OVERHEAD: usize = std::mem::size_of::<Message>();

/// A mailbox's bounds; `None` in a field is no bound on that measure.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Bound {
    /// Most messages held at once.
    pub messages: Option<usize>,
    /// Most bytes held at once (payloads plus [`MESSAGE_OVERHEAD`] each).
    pub bytes: Option<usize>,
}

impl Bound {
    /// No bound at all.
    pub const NONE: Bound = Bound {
        messages: None,
        bytes: None,
    };

    /// At most `n` messages.
    pub fn messages(n: usize) -> Bound {
        Bound {
            messages: Some(n),
            bytes: None,
        }
    }

    /// At most `n` bytes.
    pub fn bytes(n: usize) -> Bound {
        Bound {
            messages: None,
            bytes: Some(n),
        }
    }
}

/// Which bound a refused push met.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The bound in messages.
    Messages(usize),
    /// The bound in bytes.
    Bytes(usize),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Messages(n) => write!(f, "{n} messages"),
            Limit::Bytes(n) => write!(f, "{n} bytes"),
        }
    }
}

/// What `msg` counts against a bound in bytes.
fn cost(msg: &Message) -> usize {
    MESSAGE_OVERHEAD + msg.data.len()
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender; `None` when the host sent it. For `EXIT`, the pid the signal is from;
    /// for `DOWN`, the monitored pid.
    pub from: Option<Pid>,
    /// Application-defined tag, matched by selective receive; a `DOWN`'s is its monitor
    /// reference, an `EXIT`'s is 0.
    pub tag: u64,
    /// The payload; a system message's is its reason on the wire (docs/ABI.md).
    pub data: Vec<u8>,
    /// Data, or which system message.
    pub kind: MessageKind,
}

/// What a message is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// Sent by a process or the host.
    Data,
    /// An exit signal, received as a message because the receiver traps exits.
    Exit {
        /// The signal's reason.
        reason: ExitReason,
    },
    /// A monitored process ended (or was not alive when the monitor was made).
    Down {
        /// The monitor.
        reference: Reference,
        /// Why it ended.
        reason: ExitReason,
    },
}

impl MessageKind {
    /// The kind's number in the guest ABI (`message_kind()`): 0 data, 1 exit, 2 down.
    pub fn number(&self) -> i32 {
        match self {
            MessageKind::Data => message::DATA,
            MessageKind::Exit { .. } => message::EXIT,
            MessageKind::Down { .. } => message::DOWN,
        }
    }
}

impl Message {
    /// A data message.
    pub fn data(from: Option<Pid>, tag: u64, data: impl Into<Vec<u8>>) -> Message {
        Message {
            from,
            tag,
            data: data.into(),
            kind: MessageKind::Data,
        }
    }

    /// `EXIT(from, reason)`.
    pub fn exit(from: Option<Pid>, reason: ExitReason) -> Message {
        Message {
            from,
            tag: 0,
            data: reason.to_wire(),
            kind: MessageKind::Exit { reason },
        }
    }

    /// `DOWN(reference, pid, reason)`.
    pub fn down(reference: Reference, pid: Pid, reason: ExitReason) -> Message {
        Message {
            from: Some(pid),
            tag: reference.to_bits(),
            data: reason.to_wire(),
            kind: MessageKind::Down { reference, reason },
        }
    }

    /// Whether this is a data message.
    pub fn is_data(&self) -> bool {
        matches!(self.kind, MessageKind::Data)
    }
}

/// Why a push was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// The message would pass the mailbox's bound.
    #[error("mailbox is full (bound of {limit})")]
    Full {
        /// The bound it would pass.
        limit: Limit,
    },
    /// Its process has exited.
    #[error("mailbox is closed: its process has exited")]
    Closed,
    /// The runtime's memory budget cannot take the message.
    #[error(transparent)]
    OverBudget(OverBudget),
}

/// How far scans for one tag have got.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct SavedPosition {
    /// The tag scanned for.
    tag: u64,
    /// Messages before this index are known not to carry `tag`.
    pos: usize,
}

/// The state behind the mailbox's lock.
#[derive(Default)]
struct Inner {
    /// Messages in arrival order.
    queue: VecDeque<Message>,
    /// Scan positions, most recently used first; at most [`SAVED_POSITIONS`].
    saved: Vec<SavedPosition>,
    /// The receiver's waker, while it waits.
    waker: Option<Waker>,
    /// Set at exit: pushes are refused from then on.
    closed: bool,
    /// Messages the last receive examined.
    last_scan: usize,
    /// Open aliases: the reference tags data messages may carry.
    aliases: Aliases,
    /// What the queued messages count against a bound in bytes.
    bytes: usize,
    /// What this mailbox has charged the runtime's memory budget.
    reserved: Reservation<MAILBOX_FREE_BYTES, MAILBOX_CHUNK>,
}

impl Inner {
    /// What the budget is charged for: the queued bytes and the open aliases.
    fn held(&self) -> usize {
        self.bytes + self.aliases.len() * ALIAS_BYTES
    }

    /// Takes the first message matching `filter`, keeping scan positions up to date.
    fn take(&mut self, filter: Option<u64>) -> Option<Message> {
        let Some(tag) = filter else {
            self.last_scan = usize::from(!self.queue.is_empty());
            let msg = self.queue.pop_front()?;
            self.removed_at(0);
            self.bytes -= cost(&msg);
            return Some(msg);
        };
        let start = self.saved_position(tag);
        debug_assert!(
            start <= self.queue.len(),
            "a saved position is within the queue"
        );
        let start = start.min(self.queue.len());
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
                self.removed_at(i);
                self.save_position(tag, i);
                if let Some(msg) = &msg {
                    self.bytes -= cost(msg);
                }
                msg
            }
            None => {
                self.last_scan = self.queue.len() - start;
                self.save_position(tag, self.queue.len());
                None
            }
        }
    }

    /// Where scans for `tag` resume (0 if none is remembered).
    fn saved_position(&self, tag: u64) -> usize {
        self.saved
            .iter()
            .find(|s| s.tag == tag)
            .map_or(0, |s| s.pos)
    }

    /// Remembers `pos` for `tag` as the most recently used position, forgetting the
    /// least recently used one if [`SAVED_POSITIONS`] are kept already.
    fn save_position(&mut self, tag: u64, pos: usize) {
        if let Some(i) = self.saved.iter().position(|s| s.tag == tag) {
            self.saved.remove(i);
        } else if self.saved.len() == SAVED_POSITIONS {
            self.saved.pop();
        }
        if self.saved.capacity() == 0 {
            self.saved.reserve_exact(SAVED_POSITIONS);
        }
        self.saved.insert(0, SavedPosition { tag, pos });
    }

    /// The message at `index` was removed: positions past it move back by one.
    fn removed_at(&mut self, index: usize) {
        for s in &mut self.saved {
            if index < s.pos {
                s.pos -= 1;
            }
        }
    }

    /// Whether `tag` is an open alias.
    fn alias_open(&self, tag: u64) -> bool {
        self.aliases.contains(tag)
    }

    /// Removes every message `matches` accepts, keeping scan positions exact. Returns
    /// how many it removed.
    fn remove_where(&mut self, matches: impl Fn(&Message) -> bool) -> usize {
        let mut removed = 0;
        for i in (0..self.queue.len()).rev() {
            if matches(&self.queue[i]) {
                if let Some(msg) = self.queue.remove(i) {
                    self.bytes -= cost(&msg);
                }
                self.removed_at(i);
                removed += 1;
            }
        }
        removed
    }
}

/// A process's mailbox.
pub struct Mailbox {
    /// Queue, scan positions, waker and closed flag, behind one short lock.
    inner: Mutex<Inner>,
    /// Its bounds.
    bound: Bound,
    /// The runtime's memory budget, if it has one.
    budget: Option<Arc<MemoryBudget>>,
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("Mailbox")
            .field("len", &inner.queue.len())
            .field("bound", &self.bound)
            .field("closed", &inner.closed)
            .finish_non_exhaustive()
    }
}

impl Mailbox {
    /// A mailbox within `bound`, charging no budget.
    pub fn new(bound: Bound) -> Mailbox {
        Mailbox::with_budget(bound, None)
    }

    /// A mailbox within `bound` that charges `budget` for what it holds (module docs).
    pub fn with_budget(bound: Bound, budget: Option<Arc<MemoryBudget>>) -> Mailbox {
        Mailbox {
            inner: Mutex::new(Inner::default()),
            bound,
            budget,
        }
    }

    /// How many aliases are open.
    pub fn aliases_open(&self) -> usize {
        self.inner.lock().aliases.len()
    }

    /// The memory budget this mailbox charges, if any; the process's relations charge
    /// it too.
    pub fn budget(&self) -> Option<&MemoryBudget> {
        self.budget.as_deref()
    }

    /// Gives back what `inner` has charged beyond a step more than its messages need.
    fn settle(&self, inner: &mut Inner) {
        let held = inner.held();
        inner.reserved.settle(self.budget(), held);
    }

    /// Queues a message and wakes the receiver if it waits. Refused if the mailbox is
    /// full or closed. A data message with a reference tag that is not an open alias is
    /// dropped, and the push still succeeds (module docs).
    pub fn push(&self, msg: Message) -> Result<(), MailboxError> {
        self.push_inner(msg, true)
    }

    /// Queues a system message (`EXIT`, `DOWN`) whatever the bound. Refused only if the
    /// mailbox is closed.
    pub fn push_system(&self, msg: Message) -> Result<(), MailboxError> {
        self.push_inner(msg, false)
    }

    fn push_inner(&self, msg: Message, bounded: bool) -> Result<(), MailboxError> {
        let waker = {
            let mut inner = self.inner.lock();
            if inner.closed {
                return Err(MailboxError::Closed);
            }
            if msg.is_data() && is_reference(msg.tag) && !inner.alias_open(msg.tag) {
                return Ok(());
            }
            let cost = cost(&msg);
            if bounded && !inner.queue.is_empty() {
                if let Some(n) = self.bound.messages
                    && inner.queue.len() >= n
                {
                    return Err(MailboxError::Full {
                        limit: Limit::Messages(n),
                    });
                }
                if let Some(n) = self.bound.bytes
                    && inner.bytes + cost > n
                {
                    return Err(MailboxError::Full {
                        limit: Limit::Bytes(n),
                    });
                }
            }
            let charge = if bounded {
                Charge::Refuse
            } else {
                Charge::Force
            };
            let held = inner.held() + cost;
            inner
                .reserved
                .cover(self.budget(), held, charge)
                .map_err(MailboxError::OverBudget)?;
            inner.bytes += cost;
            inner.queue.push_back(msg);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Takes the first message matching `filter` (`None`: any), resuming a selective
    /// scan where the last one for that tag stopped.
    pub fn try_receive(&self, filter: Option<u64>) -> Option<Message> {
        let mut inner = self.inner.lock();
        let msg = inner.take(filter);
        self.settle(&mut inner);
        msg
    }

    /// As [`try_receive`](Self::try_receive), else registers `cx`'s waker (replacing any
    /// earlier one) and is pending. Only the owning process receives.
    pub fn poll_receive(&self, filter: Option<u64>, cx: &mut Context<'_>) -> Poll<Message> {
        let mut inner = self.inner.lock();
        if let Some(msg) = inner.take(filter) {
            self.settle(&mut inner);
            return Poll::Ready(msg);
        }
        if !inner.closed {
            match &mut inner.waker {
                Some(w) => w.clone_from(cx.waker()),
                None => inner.waker = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }

    /// Closes the mailbox: later pushes are refused, the waker is dropped, and the
    /// messages never received are returned.
    pub fn close(&self) -> Vec<Message> {
        let (queue, waker) = {
            let mut inner = self.inner.lock();
            inner.closed = true;
            inner.saved.clear();
            inner.aliases = Aliases::default();
            inner.bytes = 0;
            inner.reserved.release(self.budget());
            (std::mem::take(&mut inner.queue), inner.waker.take())
        };
        // Dropped outside the lock: a waker's drop may run arbitrary code.
        drop(waker);
        queue.into()
    }

    /// Opens `reference` as an alias: data messages tagged with it are queued from now on.
    /// Each open alias counts [`ALIAS_BYTES`] towards the memory budget, charged as
    /// `charge` says: refused (nothing opened) if the budget cannot take it.
    pub fn open_alias(&self, reference: Reference, charge: Charge) -> Result<(), OverBudget> {
        let mut inner = self.inner.lock();
        if inner.closed || inner.alias_open(reference.to_bits()) {
            return Ok(());
        }
        let held = inner.held() + ALIAS_BYTES;
        inner.reserved.cover(self.budget(), held, charge)?;
        inner.aliases.insert(reference.to_bits());
        Ok(())
    }

    /// Closes an alias: later data messages tagged with it are dropped on arrival, and
    /// those already queued are removed. Whether it was open.
    pub fn close_alias(&self, reference: Reference) -> bool {
        let tag = reference.to_bits();
        let mut inner = self.inner.lock();
        if !inner.aliases.remove(tag) {
            return false;
        }
        inner.remove_where(|m| m.is_data() && m.tag == tag);
        self.settle(&mut inner);
        true
    }

    /// Removes a queued `DOWN` of monitor `reference` (a demonitor with flush). Whether
    /// there was one.
    pub fn remove_down(&self, reference: Reference) -> bool {
        let mut inner = self.inner.lock();
        let removed = inner.remove_where(
            |m| matches!(&m.kind, MessageKind::Down { reference: r, .. } if *r == reference),
        );
        self.settle(&mut inner);
        removed > 0
    }

    /// Queued messages.
    pub fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// No queued messages.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bounds.
    pub fn bound(&self) -> Bound {
        self.bound
    }

    /// What the queued messages count against a bound in bytes.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
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
        Message::data(None, tag, vec![byte])
    }

    #[test]
    fn messages_come_out_in_arrival_order() {
        let m = Mailbox::new(Bound::NONE);
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
        let m = Mailbox::new(Bound::NONE);
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
        let m = Mailbox::new(Bound::NONE);
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
        let m = Mailbox::new(Bound::NONE);
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
        let m = Mailbox::new(Bound::messages(2));
        m.push(msg(0, 0)).unwrap();
        m.push(msg(0, 1)).unwrap();
        assert_eq!(
            m.push(msg(0, 2)),
            Err(MailboxError::Full {
                limit: Limit::Messages(2)
            })
        );
        m.try_receive(None).unwrap();
        assert!(m.push(msg(0, 2)).is_ok());
    }

    #[test]
    fn a_bound_in_bytes_counts_payloads_and_overhead_and_is_freed_by_every_removal() {
        let one = MESSAGE_OVERHEAD + 100;
        let m = Mailbox::new(Bound::bytes(3 * one));
        let sized = |tag| Message::data(None, tag, vec![0; 100]);
        let alias = crate::Reference::from_bits(crate::REFERENCE_BASE).unwrap();
        m.open_alias(alias, Charge::Refuse).unwrap();
        for tag in [1, 2, alias.to_bits()] {
            m.push(sized(tag)).unwrap();
        }
        assert_eq!(m.bytes(), 3 * one);
        assert_eq!(
            m.push(sized(4)),
            Err(MailboxError::Full {
                limit: Limit::Bytes(3 * one)
            })
        );
        // A signal is queued whatever the bound, and counts.
        m.push_system(Message::exit(None, ExitReason::Normal { code: 0 }))
            .unwrap();
        assert!(m.bytes() > 3 * one);
        // Each kind of removal gives its bytes back: closing an alias, a selective
        // receive, a receive of the first message.
        assert!(m.close_alias(alias));
        m.try_receive(Some(2)).unwrap();
        m.try_receive(None).unwrap();
        assert!(!m.try_receive(None).unwrap().is_data());
        assert_eq!(m.bytes(), 0);
        assert!(m.push(sized(5)).is_ok());
    }

    #[test]
    fn aliases_past_the_free_bytes_charge_the_budget_and_are_refused_past_it() {
        let budget = Arc::new(MemoryBudget::new(MAILBOX_CHUNK));
        let m = Mailbox::with_budget(Bound::NONE, Some(budget.clone()));
        let refs = crate::References::default();
        let fit = (MAILBOX_FREE_BYTES + MAILBOX_CHUNK) / ALIAS_BYTES;
        let opened: Vec<_> = (0..fit)
            .map(|_| {
                let r = refs.next();
                m.open_alias(r, Charge::Refuse).unwrap();
                r
            })
            .collect();
        assert_eq!(budget.used(), MAILBOX_CHUNK);
        let refused = refs.next();
        assert!(m.open_alias(refused, Charge::Refuse).is_err());
        // Refused means not open: a reply tagged with it is dropped.
        m.push(Message::data(None, refused.to_bits(), vec![1]))
            .unwrap();
        assert_eq!(m.len(), 0);
        // Forced (the host's own waits): counted past the budget.
        m.open_alias(refused, Charge::Force).unwrap();
        assert_eq!(budget.used(), 2 * MAILBOX_CHUNK);
        for r in opened.iter().chain([&refused]) {
            assert!(m.close_alias(*r));
        }
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_mailbox_charges_the_budget_in_chunks_beyond_its_free_bytes_and_gives_all_back() {
        let budget = Arc::new(MemoryBudget::new(2 * MAILBOX_CHUNK));
        let m = Mailbox::with_budget(Bound::NONE, Some(budget.clone()));
        let small = || Message::data(None, 1, vec![0; 16]);
        let free = MAILBOX_FREE_BYTES / (MESSAGE_OVERHEAD + 16);
        for _ in 0..free {
            m.push(small()).unwrap();
        }
        assert_eq!(
            budget.used(),
            0,
            "small messages within the free bytes cost nothing"
        );
        m.push(small()).unwrap();
        assert_eq!(budget.used(), MAILBOX_CHUNK);
        let big = || Message::data(None, 2, vec![0; MAILBOX_CHUNK]);
        m.push(big()).unwrap();
        assert_eq!(budget.used(), 2 * MAILBOX_CHUNK);
        assert!(matches!(m.push(big()), Err(MailboxError::OverBudget(_))));
        // A signal is charged past the budget.
        m.push_system(Message::exit(None, ExitReason::Killed))
            .unwrap();
        assert!(budget.used() <= 3 * MAILBOX_CHUNK);
        // Receiving gives back whole steps only.
        m.try_receive(Some(2)).unwrap();
        assert!(budget.used() <= MAILBOX_CHUNK * 2);
        assert_eq!(m.close().len(), free + 2);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn an_empty_mailbox_takes_a_message_larger_than_its_bound_in_bytes() {
        let m = Mailbox::new(Bound::bytes(10));
        m.push(Message::data(None, 0, vec![0; 1000])).unwrap();
        assert!(matches!(
            m.push(Message::data(None, 0, vec![0; 1])),
            Err(MailboxError::Full { .. })
        ));
        m.try_receive(None).unwrap();
        m.push(Message::data(None, 0, vec![0; 1000])).unwrap();
    }

    #[test]
    fn close_returns_unreceived_messages_and_refuses_later_pushes() {
        let m = Mailbox::new(Bound::NONE);
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
        let m = Mailbox::new(Bound::NONE);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(m.poll_receive(None, &mut cx).is_pending());
        m.push(msg(0, 9)).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(m.poll_receive(None, &mut cx), Poll::Ready(msg(0, 9)));
    }

    #[test]
    fn alternating_selective_receives_each_keep_their_place() {
        let m = Mailbox::new(Bound::NONE);
        for i in 0..1_000 {
            m.push(msg(1, (i % 256) as u8)).unwrap();
        }
        assert!(m.try_receive(Some(7)).is_none());
        assert!(m.try_receive(Some(8)).is_none());
        m.push(msg(1, 0)).unwrap();
        assert!(m.try_receive(Some(7)).is_none());
        assert_eq!(m.last_scan_len(), 1);
        assert!(m.try_receive(Some(8)).is_none());
        assert_eq!(m.last_scan_len(), 1);
    }

    #[test]
    fn a_receive_for_another_tag_moves_a_saved_position_back() {
        let m = Mailbox::new(Bound::NONE);
        for (tag, b) in [(1, 1), (2, 2), (1, 3)] {
            m.push(msg(tag, b)).unwrap();
        }
        assert!(m.try_receive(Some(5)).is_none()); // position for 5: 3
        assert_eq!(m.try_receive(Some(2)).unwrap().data, vec![2]); // removes index 1
        m.push(msg(5, 4)).unwrap(); // at index 2
        assert_eq!(m.try_receive(Some(5)).unwrap().data, vec![4]);
        assert_eq!(m.last_scan_len(), 1);
        let rest: Vec<u8> = std::iter::from_fn(|| m.try_receive(None))
            .map(|m| m.data[0])
            .collect();
        assert_eq!(rest, vec![1, 3]);
    }

    #[test]
    fn the_least_recently_scanned_tag_loses_its_place() {
        let m = Mailbox::new(Bound::NONE);
        for _ in 0..10 {
            m.push(msg(0, 0)).unwrap();
        }
        for tag in 1..=SAVED_POSITIONS as u64 + 1 {
            assert!(m.try_receive(Some(tag)).is_none());
        }
        // Tag 1 was forgotten: a full rescan. The others kept their place.
        assert!(m.try_receive(Some(1)).is_none());
        assert_eq!(m.last_scan_len(), 10);
        assert!(m.try_receive(Some(SAVED_POSITIONS as u64 + 1)).is_none());
        assert_eq!(m.last_scan_len(), 0);
    }

    #[test]
    fn a_match_remembers_its_index_and_finds_the_next_without_rescanning() {
        let m = Mailbox::new(Bound::NONE);
        for (tag, b) in [(0, 0), (0, 1), (7, 2), (0, 3), (7, 4)] {
            m.push(msg(tag, b)).unwrap();
        }
        assert_eq!(m.try_receive(Some(7)).unwrap().data, vec![2]);
        assert_eq!(m.last_scan_len(), 3);
        assert_eq!(m.try_receive(Some(7)).unwrap().data, vec![4]);
        assert_eq!(m.last_scan_len(), 2, "resumed at index 2, not 0");
    }

    #[test]
    fn a_later_poll_replaces_the_registered_waker() {
        let m = Mailbox::new(Bound::NONE);
        let first = Arc::new(Count(AtomicUsize::new(0)));
        let second = Arc::new(Count(AtomicUsize::new(0)));
        let w1 = Waker::from(first.clone());
        let w2 = Waker::from(second.clone());
        assert!(
            m.poll_receive(Some(3), &mut Context::from_waker(&w1))
                .is_pending()
        );
        assert!(
            m.poll_receive(Some(3), &mut Context::from_waker(&w2))
                .is_pending()
        );
        m.push(msg(0, 0)).unwrap();
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        // The push took the waker: a second push wakes nobody.
        m.push(msg(0, 1)).unwrap();
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn close_drops_the_waker_and_a_closed_mailbox_registers_none() {
        let m = Mailbox::new(Bound::NONE);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        assert!(
            m.poll_receive(None, &mut Context::from_waker(&waker))
                .is_pending()
        );
        assert_eq!(Arc::strong_count(&count), 3);
        assert!(m.close().is_empty());
        assert_eq!(Arc::strong_count(&count), 2);
        assert!(
            m.poll_receive(None, &mut Context::from_waker(&waker))
                .is_pending()
        );
        assert_eq!(Arc::strong_count(&count), 2);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn concurrent_senders_keep_their_own_order() {
        let m = Arc::new(Mailbox::new(Bound::NONE));
        let senders: Vec<_> = (0..4u64)
            .map(|tag| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..1_000u32 {
                        m.push(Message::data(None, tag, i.to_le_bytes().to_vec()))
                            .unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let mut next = [0u32; 4];
        while let Some(msg) = m.try_receive(None) {
            let i = u32::from_le_bytes(msg.data.try_into().unwrap());
            assert_eq!(i, next[msg.tag as usize]);
            next[msg.tag as usize] += 1;
        }
        assert_eq!(next, [1_000; 4]);
    }
}
