//! The check every `(ptr, len)` from a guest goes through, and names read from memory.

use wasmtime::{Caller, Memory};

use super::HostState;
use crate::wasm::trap::BadPointer;
use shoal_abi::status;

/// Checks `(ptr, len)` against the guest memory and returns the byte range.
pub(super) fn guest_range(
    caller: &Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<(Memory, std::ops::Range<usize>)> {
    let bad = |detail: String| wasmtime::Error::new(BadPointer { function, detail });
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| bad("the module exports no memory named `memory`".into()))?;
    let len = usize::try_from(len).map_err(|_| bad(format!("negative length {len}")))?;
    // Pointers are unsigned 32-bit offsets; reinterpret the i32 bits.
    let start = ptr as u32 as usize;
    let size = memory.data_size(caller);
    match start.checked_add(len) {
        Some(end) if end <= size => Ok((memory, start..end)),
        _ => Err(bad(format!(
            "range {start}..{start}+{len} is outside the {size}-byte memory"
        ))),
    }
}

/// Copies the bytes at `(ptr, len)` out of the guest's memory.
pub(super) fn read_bytes(
    caller: &Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let (memory, range) = guest_range(caller, function, ptr, len)?;
    Ok(memory.data(caller)[range].to_vec())
}

/// Reads a name argument; `Err(BAD_NAME)` as a status if it is not a valid name.
pub(super) fn read_name(
    caller: &Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Result<String, i32>> {
    let (memory, range) = guest_range(caller, function, ptr, len)?;
    Ok(match std::str::from_utf8(&memory.data(caller)[range]) {
        Ok(name) if shoal_proc::check_name(name).is_ok() => Ok(name.to_owned()),
        _ => Err(status::BAD_NAME),
    })
}
