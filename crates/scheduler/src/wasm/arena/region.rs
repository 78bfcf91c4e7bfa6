//! One anonymous mapping, and the page arithmetic and decommit the arenas do on it.

#![allow(unsafe_code)]

use std::ptr::NonNull;

/// The host page size. Slots and guards are multiples of it.
pub(super) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is always supported on Linux.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

pub(super) fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// How a region's pages start out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// Read-write: dense memories and stacks.
    ReadWrite,
    /// Inaccessible until a slot's owner opens a prefix of it with [`protect`]: guarded
    /// memories, whose unopened pages are what traps an out-of-bounds access.
    None,
}

impl Access {
    fn prot(self) -> libc::c_int {
        match self {
            Access::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
            Access::None => libc::PROT_NONE,
        }
    }
}

/// One anonymous, `MAP_NORESERVE` mapping, unmapped on drop.
pub(super) struct Region {
    pub(super) base: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is plain memory; who may touch which part is governed by slot
// ownership (one owner per slot, handed over through the free list).
unsafe impl Send for Region {}
// SAFETY: as above; `Region` itself is never written through a shared reference.
unsafe impl Sync for Region {}

impl Region {
    pub(super) fn map(len: usize, access: Access) -> std::io::Result<Region> {
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choice aliases
        // nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                access.prot(),
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the range was just mapped by us. Failure only leaves huge pages on,
        // which costs memory, not correctness.
        unsafe {
            libc::madvise(ptr, len, libc::MADV_NOHUGEPAGE);
        }
        Ok(Region {
            base: NonNull::new(ptr.cast()).expect("mmap does not return null on success"),
            len,
        })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: every slot holds an `Arc` of its arena, so no memory or stack in this
        // region is alive when the region drops.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// Decommits `len` bytes at `ptr`: the pages leave the RSS and read as zero next time.
///
/// # Safety
/// `ptr..ptr + len` is inside a `Region` and owned by the caller.
pub(super) unsafe fn decommit(ptr: *mut u8, len: usize) -> bool {
    len == 0 || {
        // SAFETY: the caller owns the range; DONTNEED on private anonymous memory only
        // drops its pages.
        unsafe { libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED) == 0 }
    }
}

/// Makes `len` bytes at `ptr` readable and writable, or inaccessible, as `access` says.
///
/// # Safety
/// `ptr..ptr + len` is inside a `Region`, page-aligned and owned by the caller, and
/// nothing refers to pages it makes inaccessible.
pub(super) unsafe fn protect(ptr: *mut u8, len: usize, access: Access) -> bool {
    len == 0 || {
        // SAFETY: the caller owns the range and holds no reference into what it closes.
        unsafe { libc::mprotect(ptr.cast(), len, access.prot()) == 0 }
    }
}
