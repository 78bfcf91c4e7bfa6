//! Write Shoal guest processes in Rust.
//!
//! A Shoal guest is a core wasm module whose exports are process entries; it talks to the
//! runtime through the `shoal` host module (docs/ABI.md). This crate is that module made
//! safe and typed, for `wasm32-unknown-unknown`:
//!
//! ```ignore
//! use serde::{Deserialize, Serialize};
//! use shoal_guest::{Mailbox, Received};
//!
//! #[derive(Serialize, Deserialize)]
//! enum Ping { Ping(u32), Stop }
//!
//! shoal_guest::entry! {
//!     /// Answers pings from whoever sends them, until told to stop.
//!     fn echo() -> i32 {
//!         let mailbox = Mailbox::<Ping>::new();
//!         loop {
//!             match mailbox.receive() {
//!                 Ok(Received::Data { from: Some(from), msg: Ping::Ping(n) }) => {
//!                     let _ = shoal_guest::send(from, &Ping::Ping(n + 1));
//!                 }
//!                 Ok(Received::Data { msg: Ping::Stop, .. }) => return 0,
//!                 _ => {} // a stray message is not a reason to crash
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! | module | holds |
//! |---|---|
//! | `sys` | the raw imports and the only `unsafe` code; host-target stubs |
//! | `status` | the ABI's status codes |
//! | `pid` | [`Pid`], [`Reference`] |
//! | `process` | self, parent, spawn, links, monitors, exit signals, sleep, time |
//! | `mailbox` | [`Mailbox`], [`Received`], raw and selective receive, [`send`] |
//! | `request` | request/reply over aliases: [`request`], [`Request`], [`ReplyTo`] |
//! | `names` | [`register`], [`whereis`], [`send_name`]; cluster-wide: [`register_global`], [`whereis_global`] |
//! | `reason` | [`Signal`]s a process may send; `shoal-abi`'s [`ExitReason`], re-exported |
//! | `panic` | the panic hook: a panic becomes `trap(panic: <message>)` |
//! | `error` | the typed errors of host calls |
//!
//! Every number and encoding the SDK shares with the host (statuses, message kinds, exit
//! reasons and trap codes, the reference range, the limits) comes from the `shoal-abi`
//! crate, which the host uses too: the two sides cannot disagree about them.
//!
//! # Messages
//! Data messages are postcard-encoded serde values; the same bytes on wasm32 and on the
//! host, so host code can speak to guests with `postcard` and the guest's own types. A
//! message that does not decode as the mailbox's type is a [`DecodeError`], never a panic.
//!
//! # Outside a guest
//! On any target but wasm32 the imports are stubs that panic with "only available inside
//! a Shoal guest": the crate builds everywhere, and the pure parts (message and request
//! encoding, message and reason decoding, status mapping) are unit-tested on the host by
//! `cargo test --workspace`.

// Unsafe code is allowed in `sys` alone, where each host call says why it holds.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod mailbox;
mod names;
mod panic;
mod pid;
mod process;
mod reason;
mod request;
pub mod status;
#[allow(unsafe_code)]
mod sys;

pub use error::{GlobalNameError, NoProc, RegisterError, SendError, SpawnError};
pub use mailbox::{
    DEFAULT_TAG, DecodeCause, DecodeError, Mailbox, MessageKind, RawMessage, ReceiveError,
    Received, encode, receive_raw, receive_tag, send, send_bytes, send_tagged,
};
pub use names::{
    register, register_global, send_name, send_name_on, send_name_tagged, unregister,
    unregister_global, whereis, whereis_global,
};
pub use panic::init;
pub use pid::{Pid, REFERENCE_BASE, Reference};
pub use process::{
    demonitor, exit, exit_self, link, monitor, monitor_node, nodes, now, parent, self_pid, sleep,
    spawn, spawn_link, spawn_monitor, spawn_on, trap_exit, unlink, yield_now,
};
pub use reason::{ExitKind, ExitReason, Signal, TrapCode, WIRE_HEADER, WireError};
pub use request::{
    ALIAS_BYTES, ReplyTo, Request, RequestError, alias, request, request_tagged, request_with,
    unalias,
};

/// Defines process entries: each `fn` becomes an exported `extern "C"` function with
/// one of the entry types docs/ABI.md allows, and calls [`init`] first so that a panic
/// reaches the host with its message.
///
/// ```ignore
/// shoal_guest::entry! {
///     /// Runs with the spawn argument; exits normal(result).
///     fn worker(arg: i64) -> i32 { arg as i32 }
///     /// No argument, no result: exits normal(0).
///     fn idle() { shoal_guest::sleep(std::time::Duration::from_millis(10)) }
/// }
/// ```
///
/// The argument, if any, is an `i64` (its name may be `_`); the result, if any, an `i32`.
/// Other types do not match the macro, because the runtime would refuse them at spawn.
/// The `#[unsafe(no_mangle)]` the expansion needs comes from this crate's macro, so a
/// guest crate can still say `#![forbid(unsafe_code)]` (the examples' guests do).
///
/// An entry named `main` is refused at compile time: on wasm, rustc turns any `main`
/// into C's `main(argc, argv)`, `(func (param i32 i32) (result i32))`, which the runtime
/// refuses at spawn. Name it otherwise and spawn that name (`shoal run --invoke NAME`).
///
/// ```compile_fail
/// shoal_guest::entry! {
///     fn main() -> i32 { 0 }
/// }
/// ```
#[macro_export]
macro_rules! entry {
    () => {};
    (
        $(#[$meta:meta])*
        fn main $($rest:tt)*
    ) => {
        ::core::compile_error!(
            "an entry cannot be named `main`: on wasm, rustc turns `main` into C's \
             `main(argc, argv)`, a type the runtime refuses; give it another name and spawn \
             that (`shoal run --invoke NAME`)"
        );
    };
    (
        $(#[$meta:meta])*
        fn $name:ident($($arg:tt: i64)?) -> i32 $body:block
        $($rest:tt)*
    ) => {
        $(#[$meta])*
        #[unsafe(no_mangle)]
        pub extern "C" fn $name($($arg: i64)?) -> i32 {
            $crate::init();
            $body
        }
        $crate::entry! { $($rest)* }
    };
    (
        $(#[$meta:meta])*
        fn $name:ident($($arg:tt: i64)?) $body:block
        $($rest:tt)*
    ) => {
        $(#[$meta])*
        #[unsafe(no_mangle)]
        pub extern "C" fn $name($($arg: i64)?) {
            $crate::init();
            $body
        }
        $crate::entry! { $($rest)* }
    };
}
