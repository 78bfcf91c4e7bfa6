//! Panics become traps that carry their message to the host.
//!
//! On `wasm32-unknown-unknown` a Rust panic aborts with a bare `unreachable` trap, and
//! the message is lost. [`init`] installs a panic hook that formats the message and its
//! location and calls `shoal.panic`, which ends the process at once with
//! `trap(panic: <message>)`: the host's exit, and every linked or monitoring process's
//! `EXIT` or `DOWN`, carries the message. The hook never returns, so the abort after it
//! is never reached.
//!
//! [`entry!`](crate::entry) calls [`init`] at the top of every entry it defines. A process
//! is a fresh instance, so the hook is installed once per process, on its first entry
//! call; later calls are a check of a `Once`. Outside wasm32 (the host's unit tests)
//! `init` does nothing and panics stay ordinary panics.

use std::sync::Once;

/// Installs the panic hook (see the module docs); idempotent and cheap.
pub fn init() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        #[cfg(target_arch = "wasm32")]
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| (l.file(), l.line(), l.column()));
            crate::sys::panic(&describe(info.payload_as_str(), location))
        }));
    });
}

/// The message `shoal.panic` carries: the panic's text, then where it happened.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn describe(payload: Option<&str>, location: Option<(&str, u32, u32)>) -> String {
    let text = payload.unwrap_or("Box<dyn Any>");
    match location {
        Some((file, line, column)) => format!("{text} (at {file}:{line}:{column})"),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_panic_and_where_it_happened() {
        assert_eq!(
            describe(Some("job 7 failed"), Some(("src/lib.rs", 12, 9))),
            "job 7 failed (at src/lib.rs:12:9)"
        );
    }

    #[test]
    fn a_panic_without_text_or_location_still_says_something() {
        assert_eq!(describe(None, None), "Box<dyn Any>");
    }

    #[test]
    fn init_is_idempotent_on_the_host() {
        init();
        init();
    }
}
