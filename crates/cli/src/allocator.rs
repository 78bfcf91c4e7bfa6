//! The tool's heap: mimalloc, and a way to hand its free memory back to the system.
//!
//! mimalloc, not glibc malloc: a process is allocated by its spawner and freed by the
//! worker it exits on, and glibc's per-arena locks made that cross-thread free the
//! largest cost of a spawn (`shoal bench spawn`, BENCHMARKS.md).
//!
//! mimalloc keeps freed pages for reuse and returns them to the system only after its
//! purge delay, and pages freed by a thread that has since exited (a worker of a runtime
//! that was shut down) wait until another thread reclaims them. A runtime that ran a
//! million processes leaves over a hundred megabytes so held. [`release_free_memory`]
//! asks for all of it back at once; `shoal bench idle` calls it after teardown. It is
//! not called on the spawn path: purging there costs spawns (BENCHMARKS.md).

#![allow(unsafe_code)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Frees what mimalloc holds for reuse, on this thread and abandoned by exited ones.
pub(crate) fn release_free_memory() {
    // SAFETY: `mi_collect` takes no pointers; with `force` it frees the calling thread's
    // free pages and collects abandoned ones, and is safe to call at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
