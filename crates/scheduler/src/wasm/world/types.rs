//! The `types` interface's types, in Rust, derived to lift and lower as the WIT declares
//! them (field and case order included).

use shoal_abi::status;
use shoal_proc::{ExitReason, Message, MessageKind, SignalReason};
use wasmtime::component::{ComponentType, Lift, Lower};

/// `error`: why a call was refused, one case per status code of docs/ABI.md that a call
/// of the world can return.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq, Eq)]
#[component(enum)]
#[repr(u8)]
pub(super) enum Error {
    #[component(name = "noproc")]
    NoProc,
    #[component(name = "mailbox-full")]
    MailboxFull,
    #[component(name = "capacity")]
    Capacity,
    #[component(name = "bad-export")]
    BadExport,
    #[component(name = "too-large")]
    TooLarge,
    #[component(name = "shutting-down")]
    ShuttingDown,
    #[component(name = "name-taken")]
    NameTaken,
    #[component(name = "already-named")]
    AlreadyNamed,
    #[component(name = "bad-reason")]
    BadReason,
    #[component(name = "bad-name")]
    BadName,
    #[component(name = "over-budget")]
    OverBudget,
    #[component(name = "refused")]
    Refused,
    #[component(name = "node-busy")]
    NodeBusy,
}

/// A status code of the core ABI as the world's `result`. The statuses shared helpers
/// return are `OK` and the errors above; `TIMEOUT` and `NO_MESSAGE`, which no such
/// helper returns (a receive's timeout is `none` here), would read as `refused`.
pub(super) fn status_result(code: i32) -> Result<(), Error> {
    Err(match code {
        status::OK => return Ok(()),
        status::NOPROC => Error::NoProc,
        status::MAILBOX_FULL => Error::MailboxFull,
        status::CAPACITY => Error::Capacity,
        status::BAD_EXPORT => Error::BadExport,
        status::TOO_LARGE => Error::TooLarge,
        status::SHUTTING_DOWN => Error::ShuttingDown,
        status::NAME_TAKEN => Error::NameTaken,
        status::ALREADY_NAMED => Error::AlreadyNamed,
        status::BAD_REASON => Error::BadReason,
        status::BAD_NAME => Error::BadName,
        status::OVER_BUDGET => Error::OverBudget,
        status::NODE_BUSY => Error::NodeBusy,
        _ => Error::Refused,
    })
}

/// `message-kind`.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq, Eq)]
#[component(enum)]
#[repr(u8)]
pub(super) enum Kind {
    #[component(name = "data")]
    Data,
    #[component(name = "exit")]
    Exit,
    #[component(name = "down")]
    Down,
}

/// `message`: a message taken from the mailbox, handed over whole (the core ABI's
/// `message_kind`, `message_sender`, `message_tag` and `message_read` in one value).
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub(super) struct Received {
    kind: Kind,
    sender: Option<u64>,
    tag: u64,
    data: Vec<u8>,
}

impl From<Message> for Received {
    fn from(message: Message) -> Received {
        Received {
            kind: match message.kind {
                MessageKind::Data => Kind::Data,
                MessageKind::Exit { .. } => Kind::Exit,
                MessageKind::Down { .. } => Kind::Down,
            },
            sender: message.from.map(|pid| pid.to_bits()),
            tag: message.tag,
            // The bytes move: the mailbox's copy is the only one until they are lowered
            // into the guest.
            data: message.data,
        }
    }
}

/// `signal`: the reasons an exit signal can carry.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(variant)]
pub(super) enum Signal {
    #[component(name = "normal")]
    Normal(i32),
    #[component(name = "kill")]
    Kill,
    #[component(name = "shutdown")]
    Shutdown,
    #[component(name = "custom")]
    Custom((i32, Vec<u8>)),
}

impl From<Signal> for SignalReason {
    fn from(signal: Signal) -> SignalReason {
        match signal {
            Signal::Normal(code) => SignalReason::Reason(ExitReason::Normal { code }),
            Signal::Kill => SignalReason::Kill,
            Signal::Shutdown => SignalReason::Reason(ExitReason::Shutdown),
            Signal::Custom((code, data)) => SignalReason::Reason(ExitReason::Custom { code, data }),
        }
    }
}
