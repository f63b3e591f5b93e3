//! [`Heap`]: the heap as a debugger sees it, for `check_heap` and `walk`.
//!
//! `check_heap` (your heap checker, 15-213's `mm_checkheap`) and `walk` (the heap map
//! the tools draw) read the heap *without* running the program: a `Heap` reads words
//! with [`Kernel::peek`], which takes no fault, costs no time and changes nothing,
//! like gdb reading a core. So you can check the whole heap after every call without
//! slowing your allocator down in simulated time. Only these two functions get a
//! `Heap`; your `malloc`, `free` and `realloc` get a [`Mem`](crate::Mem), whose
//! accesses cost.

use kernel::{Addr, Kernel};

/// A read-only view of the heap `[lo, hi)`.
pub struct Heap<'k> {
    kernel: &'k Kernel,
    lo: Addr,
    hi: Addr,
}

impl<'k> Heap<'k> {
    /// The heap from `lo` (its first byte) to the kernel's current break.
    pub(crate) fn new(kernel: &'k Kernel, lo: Addr) -> Heap<'k> {
        Heap {
            kernel,
            lo,
            hi: kernel.program_break(),
        }
    }

    /// The heap's first byte.
    pub fn lo(&self) -> Addr {
        self.lo
    }

    /// One past the heap's last byte (the program break).
    pub fn hi(&self) -> Addr {
        self.hi
    }

    /// The 8-byte word at `addr`, or a message saying why it cannot be read (outside
    /// the heap). Free of cost.
    pub fn word(&self, addr: Addr) -> Result<u64, String> {
        if addr < self.lo || addr.saturating_add(8) > self.hi {
            return Err(format!(
                "{addr:#x} is outside the heap [{:#x}, {:#x})",
                self.lo, self.hi
            ));
        }
        self.kernel
            .peek_u64(addr)
            .map_err(|f| format!("cannot read {addr:#x}: {f}"))
    }
}
