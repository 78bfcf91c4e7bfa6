//! The raw `shoal` host module (docs/ABI.md), and the only unsafe code in the crate.
//!
//! Two layers live here:
//! - `ffi`: the imports exactly as the ABI declares them, `i32`/`i64` values and
//!   `(ptr, len)` byte ranges. On `wasm32` they are `#[link(wasm_import_module = "shoal")]`
//!   imports; on any other target they are stubs with the same signatures that panic
//!   with [`OUTSIDE_GUEST`], so the crate (and its pure parts' unit tests) builds on the
//!   host.
//! - one safe function per import, taking slices and `&str` instead of pointers and
//!   returning the raw `i32`/`i64` result. Each says at its `unsafe` block why the call
//!   holds. The rest of the crate turns the raw results into typed values.
//!
//! # Why every call is sound
//! The host validates everything it is given: pids and references are plain integers
//! (a dead or made-up one is a status, never undefined behaviour), and every `(ptr, len)`
//! range is checked against the guest's memory before the host touches it (a bad one
//! ends the process with `trap(bad_pointer)`). So the only obligations on this side are
//! that a range we pass is one we own for the duration of the call (a live slice, or a
//! `&mut` slice where the host writes), and that its length fits the ABI's `i32`. Host
//! calls run on the guest's own stack and never re-enter guest code, so no borrow taken
//! here can be observed or invalidated during a call.
//!
//! Lengths: a slice longer than `i32::MAX` cannot be described to the host. The callers
//! keep lengths well below it (names are at most 255 bytes, messages at most 16 MiB), and
//! [`len`] saturates, which the host then refuses as too large instead of
//! reading a wrapped, shorter range.

/// What the host-target stubs panic with.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) const OUTSIDE_GUEST: &str =
    "the shoal host module is only available inside a Shoal guest (target wasm32)";

/// The ABI's `i32` pointer to `bytes`. wasm32 addresses are 32-bit; the ABI reads the
/// `i32` as an unsigned address, so the cast is the identity on the bits.
fn ptr(bytes: &[u8]) -> i32 {
    bytes.as_ptr() as usize as i32
}

/// [`ptr`] for a buffer the host writes.
fn ptr_mut(bytes: &mut [u8]) -> i32 {
    bytes.as_mut_ptr() as usize as i32
}

/// The ABI's `i32` length of `bytes`, saturated (see the module docs).
fn len(bytes: &[u8]) -> i32 {
    i32::try_from(bytes.len()).unwrap_or(i32::MAX)
}

/// Declares the imports once: the wasm32 import block, and host stubs with the same
/// signatures.
macro_rules! imports {
    ($(
        $(#[$meta:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;
    )*) => {
        #[cfg(target_arch = "wasm32")]
        mod ffi {
            #[link(wasm_import_module = "shoal")]
            unsafe extern "C" {
                $( $(#[$meta])* pub(super) fn $name($($arg: $ty),*) $(-> $ret)?; )*
            }
        }

        #[cfg(not(target_arch = "wasm32"))]
        mod ffi {
            $(
                // `panic` is called only by the wasm32 panic hook.
                #[allow(dead_code, clippy::missing_safety_doc, clippy::too_many_arguments)]
                pub(super) unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                    let _ = ($($arg,)*);
                    panic!("{}: `shoal.{}`", super::OUTSIDE_GUEST, stringify!($name))
                }
            )*
        }
    };
}

imports! {
    #[link_name = "self"]
    fn self_pid() -> i64;
    fn parent() -> i64;
    fn spawn(name_ptr: i32, name_len: i32, arg: i64) -> i64;
    fn spawn_link(name_ptr: i32, name_len: i32, arg: i64) -> i64;
    fn spawn_on(node: i32, name_ptr: i32, name_len: i32, arg: i64) -> i64;
    fn spawn_monitor(name_ptr: i32, name_len: i32, arg: i64, ref_ptr: i32) -> i64;
    fn send(pid: i64, tag: i64, ptr: i32, len: i32) -> i32;
    fn receive(timeout_ms: i64) -> i64;
    fn wait_node() -> i32;
    fn receive_tag(tag: i64, timeout_ms: i64) -> i64;
    fn message_read(ptr: i32, len: i32) -> i32;
    fn message_tag() -> i64;
    fn message_sender() -> i64;
    fn message_kind() -> i32;
    #[link_name = "yield"]
    fn yield_now();
    fn sleep(ms: i64);
    fn now() -> i64;
    fn exit(code: i32) -> !;
    fn link(pid: i64) -> i32;
    fn unlink(pid: i64) -> i32;
    fn trap_exit(on: i32) -> i32;
    fn exit_signal(pid: i64, kind: i32, code: i32, ptr: i32, len: i32) -> i32;
    fn monitor(pid: i64) -> i64;
    fn monitor_alias(pid: i64) -> i64;
    fn monitor_node(node: i32) -> i64;
    fn nodes(ptr: i32, len: i32) -> i32;
    fn demonitor(reference: i64, flush: i32) -> i32;
    fn alias() -> i64;
    fn unalias(reference: i64) -> i32;
    fn register(name_ptr: i32, name_len: i32, pid: i64) -> i32;
    fn unregister(name_ptr: i32, name_len: i32) -> i32;
    fn whereis(name_ptr: i32, name_len: i32) -> i64;
    fn register_global(name_ptr: i32, name_len: i32, pid: i64) -> i32;
    fn unregister_global(name_ptr: i32, name_len: i32) -> i32;
    fn whereis_global(name_ptr: i32, name_len: i32) -> i64;
    fn send_name(name_ptr: i32, name_len: i32, tag: i64, ptr: i32, len: i32) -> i32;
    fn send_name_on(
        node: i32,
        name_ptr: i32,
        name_len: i32,
        tag: i64,
        ptr: i32,
        len: i32,
    ) -> i32;
    fn panic(ptr: i32, len: i32) -> !;
}

pub(crate) fn self_pid() -> i64 {
    // SAFETY: no arguments; the host returns the caller's pid.
    unsafe { ffi::self_pid() }
}

pub(crate) fn parent() -> i64 {
    // SAFETY: no arguments; the host returns a pid or -1.
    unsafe { ffi::parent() }
}

pub(crate) fn spawn(export: &str, arg: i64) -> i64 {
    let name = export.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call.
    unsafe { ffi::spawn(ptr(name), len(name), arg) }
}

pub(crate) fn spawn_on(node: u16, export: &str, arg: i64) -> i64 {
    let name = export.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call,
    // which may suspend this process until the other node answers.
    unsafe { ffi::spawn_on(i32::from(node), ptr(name), len(name), arg) }
}

pub(crate) fn spawn_link(export: &str, arg: i64) -> i64 {
    let name = export.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call.
    unsafe { ffi::spawn_link(ptr(name), len(name), arg) }
}

/// `spawn_monitor`: the raw result, and the reference the host wrote (meaningful only
/// when the result is a pid).
pub(crate) fn spawn_monitor(export: &str, arg: i64) -> (i64, i64) {
    let name = export.as_bytes();
    let mut reference = [0u8; 8];
    // SAFETY: `name` is a live range the host only reads; `reference` is an exclusively
    // borrowed 8-byte buffer, exactly the size the host writes at `ref_ptr`.
    let result = unsafe { ffi::spawn_monitor(ptr(name), len(name), arg, ptr_mut(&mut reference)) };
    (result, i64::from_le_bytes(reference))
}

pub(crate) fn send(pid: i64, tag: u64, bytes: &[u8]) -> i32 {
    // SAFETY: `bytes` is a live borrowed range the host copies during the call.
    unsafe { ffi::send(pid, tag as i64, ptr(bytes), len(bytes)) }
}

/// Runs `send` (a send-like call) until it is not refused for a full queue to other
/// nodes, waiting like a receive for room between tries; its last status.
pub(crate) fn sending(mut send: impl FnMut() -> i32) -> i32 {
    loop {
        let status = send();
        if status != crate::status::NODE_BUSY {
            return status;
        }
        // SAFETY: no arguments; the host suspends this process until the queue has
        // room or its bound on the wait passes (then the send is tried again).
        unsafe { ffi::wait_node() };
    }
}

pub(crate) fn receive(timeout_ms: i64) -> i64 {
    // SAFETY: integer arguments only; the host suspends this process, not the thread's
    // Rust state, and returns a length or a status.
    unsafe { ffi::receive(timeout_ms) }
}

pub(crate) fn receive_tag(tag: u64, timeout_ms: i64) -> i64 {
    // SAFETY: as `receive`.
    unsafe { ffi::receive_tag(tag as i64, timeout_ms) }
}

/// Copies the current message into `buffer`: the number of bytes copied, or a status.
pub(crate) fn message_read(buffer: &mut [u8]) -> i32 {
    // SAFETY: `buffer` is exclusively borrowed for the call and the host writes at most
    // `len(buffer)` bytes into it.
    unsafe { ffi::message_read(ptr_mut(buffer), len(buffer)) }
}

pub(crate) fn message_tag() -> i64 {
    // SAFETY: no arguments.
    unsafe { ffi::message_tag() }
}

pub(crate) fn message_sender() -> i64 {
    // SAFETY: no arguments.
    unsafe { ffi::message_sender() }
}

pub(crate) fn message_kind() -> i32 {
    // SAFETY: no arguments.
    unsafe { ffi::message_kind() }
}

pub(crate) fn yield_now() {
    // SAFETY: no arguments; the process resumes here after others ran.
    unsafe { ffi::yield_now() }
}

pub(crate) fn sleep(ms: i64) {
    // SAFETY: integer argument only.
    unsafe { ffi::sleep(ms) }
}

pub(crate) fn now() -> i64 {
    // SAFETY: no arguments.
    unsafe { ffi::now() }
}

pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: integer argument only; the host ends the process and never returns here,
    // so no destructor after this point was promised to run.
    unsafe { ffi::exit(code) }
}

pub(crate) fn link(pid: i64) -> i32 {
    // SAFETY: integer argument only; a dead pid is reported by a signal, not UB.
    unsafe { ffi::link(pid) }
}

pub(crate) fn unlink(pid: i64) -> i32 {
    // SAFETY: integer argument only.
    unsafe { ffi::unlink(pid) }
}

pub(crate) fn trap_exit(on: bool) -> i32 {
    // SAFETY: integer argument only.
    unsafe { ffi::trap_exit(i32::from(on)) }
}

pub(crate) fn exit_signal(pid: i64, kind: i32, code: i32, payload: &[u8]) -> i32 {
    // SAFETY: `payload` is a live borrowed range the host copies during the call. The
    // call may end this very process (a signal to itself): then it does not return,
    // which is sound for the same reason as `exit`.
    unsafe { ffi::exit_signal(pid, kind, code, ptr(payload), len(payload)) }
}

pub(crate) fn monitor(pid: i64) -> i64 {
    // SAFETY: integer argument only.
    unsafe { ffi::monitor(pid) }
}

pub(crate) fn monitor_alias(pid: i64) -> i64 {
    // SAFETY: integer argument only.
    unsafe { ffi::monitor_alias(pid) }
}

pub(crate) fn monitor_node(node: u16) -> i64 {
    // SAFETY: integer argument only.
    unsafe { ffi::monitor_node(i32::from(node)) }
}

/// Writes up to `buf.len() / 2` node ids into `buf`; returns how many nodes are up.
pub(crate) fn nodes(buf: &mut [u8]) -> i32 {
    // SAFETY: `buf` is a live, writable range of exactly that length during the call.
    unsafe { ffi::nodes(ptr_mut(buf), len(buf)) }
}

pub(crate) fn demonitor(reference: u64, flush: bool) -> i32 {
    // SAFETY: integer arguments only; an unknown reference returns 0.
    unsafe { ffi::demonitor(reference as i64, i32::from(flush)) }
}

pub(crate) fn alias() -> i64 {
    // SAFETY: no arguments.
    unsafe { ffi::alias() }
}

pub(crate) fn unalias(reference: u64) -> i32 {
    // SAFETY: integer argument only.
    unsafe { ffi::unalias(reference as i64) }
}

pub(crate) fn register(name: &str, pid: i64) -> i32 {
    let name = name.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call.
    unsafe { ffi::register(ptr(name), len(name), pid) }
}

pub(crate) fn unregister(name: &str) -> i32 {
    let name = name.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call.
    unsafe { ffi::unregister(ptr(name), len(name)) }
}

pub(crate) fn whereis(name: &str) -> i64 {
    let name = name.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call.
    unsafe { ffi::whereis(ptr(name), len(name)) }
}

pub(crate) fn register_global(name: &str, pid: i64) -> i32 {
    let name = name.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call.
    unsafe { ffi::register_global(ptr(name), len(name), pid) }
}

pub(crate) fn unregister_global(name: &str) -> i32 {
    let name = name.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call.
    unsafe { ffi::unregister_global(ptr(name), len(name)) }
}

pub(crate) fn whereis_global(name: &str) -> i64 {
    let name = name.as_bytes();
    // SAFETY: `name` is a live borrowed range the host only reads during the call.
    unsafe { ffi::whereis_global(ptr(name), len(name)) }
}

pub(crate) fn send_name(name: &str, tag: u64, bytes: &[u8]) -> i32 {
    let name = name.as_bytes();
    // SAFETY: `name` and `bytes` are live borrowed ranges the host only reads during
    // the call.
    unsafe { ffi::send_name(ptr(name), len(name), tag as i64, ptr(bytes), len(bytes)) }
}

pub(crate) fn send_name_on(node: u16, name: &str, tag: u64, bytes: &[u8]) -> i32 {
    let name = name.as_bytes();
    // SAFETY: `name` and `bytes` are live borrowed ranges the host only reads during
    // the call.
    unsafe {
        ffi::send_name_on(
            i32::from(node),
            ptr(name),
            len(name),
            tag as i64,
            ptr(bytes),
            len(bytes),
        )
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn panic(message: &str) -> ! {
    let bytes = message.as_bytes();
    // SAFETY: `bytes` is a live borrowed range the host reads; it then ends the process
    // and never returns, as `exit`.
    unsafe { ffi::panic(ptr(bytes), len(bytes)) }
}
