//! Exit signals and what a receiver does with one: Erlang's table, as a function.
//!
//! An exit signal goes from a process (or the host) to a process, carrying a reason. It is
//! sent when a linked process ends ([`Via::Link`]) or by `exit(pid, reason)`
//! ([`Via::Exit`]). The receiver either drops it, dies, or (trapping exits) gets it as an
//! `EXIT` message. [`on_exit_signal`] is the whole rule, from the Erlang/OTP reference
//! manual's "Processes" chapter:
//!
//! | event | not trapping exits | trapping exits |
//! |---|---|---|
//! | a linked process ends `normal` | dropped | `EXIT(from, normal)` |
//! | a linked process ends with R ≠ normal | dies with R | `EXIT(from, R)` |
//! | `exit(pid, kill)` | dies `killed` | dies `killed` |
//! | `exit(pid, R)`, R not kill, not normal | dies with R | `EXIT(from, R)` |
//! | `exit(pid, normal)` from another process | dropped | `EXIT(from, normal)` |
//! | `exit(self, normal)` | dies normal | dies normal |
//!
//! `kill` is only a request made with `exit`: as a reason it is `killed`, and a `killed`
//! that spreads along a link is an ordinary, trappable reason.

use crate::{ExitReason, Pid};

/// How an exit signal was sent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Via {
    /// A linked process ended with this reason.
    Link(ExitReason),
    /// `exit(pid, reason)` by a process or the host.
    Exit(SignalReason),
}

/// The reason `exit(pid, reason)` sends.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SignalReason {
    /// The untrappable kill: the receiver dies `killed`.
    Kill,
    /// Any other reason.
    Reason(ExitReason),
}

/// What the receiver of an exit signal does.
#[must_use = "an exit signal's outcome must be carried out"]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SignalOutcome {
    /// Nothing.
    Drop,
    /// It ends with this reason.
    Die(ExitReason),
    /// It gets `EXIT(from, reason)` in its mailbox.
    Message(ExitReason),
}

/// The rule (module docs). `from` is the sender (`None`: the host), `to` the receiver.
pub fn on_exit_signal(from: Option<Pid>, to: Pid, via: Via, trap_exit: bool) -> SignalOutcome {
    match via {
        Via::Exit(SignalReason::Kill) => SignalOutcome::Die(ExitReason::Killed),
        Via::Exit(SignalReason::Reason(reason)) if reason.is_normal() && from == Some(to) => {
            SignalOutcome::Die(reason)
        }
        Via::Link(reason) | Via::Exit(SignalReason::Reason(reason)) => {
            if trap_exit {
                SignalOutcome::Message(reason)
            } else if reason.is_normal() {
                SignalOutcome::Drop
            } else {
                SignalOutcome::Die(reason)
            }
        }
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;

    const A: Pid = Pid::new(1, 1);
    const B: Pid = Pid::new(2, 1);
    const NORMAL: ExitReason = ExitReason::Normal { code: 0 };
    const R: ExitReason = ExitReason::Shutdown;

    fn both(from: Option<Pid>, to: Pid, via: Via) -> (SignalOutcome, SignalOutcome) {
        (
            on_exit_signal(from, to, via.clone(), false),
            on_exit_signal(from, to, via, true),
        )
    }

    #[test]
    fn a_linked_normal_exit_is_dropped_unless_trapped() {
        assert_eq!(
            both(Some(A), B, Via::Link(NORMAL)),
            (SignalOutcome::Drop, SignalOutcome::Message(NORMAL))
        );
    }

    #[test]
    fn a_linked_abnormal_exit_kills_with_its_reason_unless_trapped() {
        assert_eq!(
            both(Some(A), B, Via::Link(R)),
            (SignalOutcome::Die(R), SignalOutcome::Message(R))
        );
    }

    #[test]
    fn kill_cannot_be_trapped() {
        let die = SignalOutcome::Die(ExitReason::Killed);
        assert_eq!(
            both(Some(A), B, Via::Exit(SignalReason::Kill)),
            (die.clone(), die)
        );
    }

    #[test]
    fn killed_spreading_along_a_link_can_be_trapped() {
        assert_eq!(
            both(Some(A), B, Via::Link(ExitReason::Killed)).1,
            SignalOutcome::Message(ExitReason::Killed)
        );
    }

    #[test]
    fn an_exit_with_a_reason_kills_unless_trapped() {
        let via = Via::Exit(SignalReason::Reason(R));
        assert_eq!(
            both(None, B, via),
            (SignalOutcome::Die(R), SignalOutcome::Message(R))
        );
    }

    #[test]
    fn an_exit_normal_from_another_is_dropped_unless_trapped() {
        let via = Via::Exit(SignalReason::Reason(NORMAL));
        assert_eq!(
            both(Some(A), B, via.clone()),
            (SignalOutcome::Drop, SignalOutcome::Message(NORMAL))
        );
        assert_eq!(both(None, B, via).0, SignalOutcome::Drop, "from the host");
    }

    #[test]
    fn an_exit_normal_to_oneself_ends_normally_even_when_trapping() {
        let via = Via::Exit(SignalReason::Reason(NORMAL));
        let die = SignalOutcome::Die(NORMAL);
        assert_eq!(both(Some(B), B, via), (die.clone(), die));
    }
}
