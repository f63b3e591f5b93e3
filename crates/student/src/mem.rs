//! [`Mem`]: the only door from your allocator to memory.
//!
//! Your `malloc`, `free` and `realloc` get a `Mem` and nothing else: no kernel, no
//! Rust collections of blocks. Through it you read and write 8-byte words of simulated
//! memory (your headers, footers and list links), copy payloads, and grow the heap with
//! `sbrk`, exactly what a C allocator can do with pointers and `sbrk(2)`.
//!
//! Every access is a real access of the simulated machine: it goes through the TLB and
//! the page table, faults pages in (the first write to a page costs a page fault and a
//! zeroed frame), and is refused with a SIGSEGV outside the heap. And every access
//! **costs time**: one `alloc_op_ns` of the cost model (2.6 ns by default, the price
//! the model puts on one step of glibc's fast path) per 64-byte cache line it covers,
//! plus one `alloc_op_ns` per call of your allocator. An 8-byte header read is one
//! line; copying a 4 KiB payload is 64 lines read and 64 written. So an allocator that
//! reads fewer headers to find a block is faster, in simulated time, on every machine
//! alike. `sim grade` counts the lines itself (from the kernel), so leaving out a
//! charge gains nothing.

use kernel::{Addr, Kernel, PAGE_SIZE};
use malloc::AllocError;

/// Simulated memory as your allocator sees it, for the length of one call.
pub struct Mem<'k> {
    kernel: &'k mut Kernel,
    /// The price of one cache line (and of the call itself).
    line_ns: f64,
}

impl<'k> Mem<'k> {
    /// Begins a call of the allocator: charges the call.
    pub(crate) fn new(kernel: &'k mut Kernel) -> Mem<'k> {
        let line_ns = kernel.config().cost.alloc_op_ns;
        kernel.charge_user(line_ns);
        Mem { kernel, line_ns }
    }

    /// Charges the cache lines the access `f` covered.
    fn charged<T>(&mut self, f: impl FnOnce(&mut Kernel) -> T) -> T {
        let before = self.kernel.byte_stats().lines();
        let r = f(self.kernel);
        let lines = self.kernel.byte_stats().lines() - before;
        self.kernel.charge_user(lines as f64 * self.line_ns);
        r
    }

    /// The 8-byte word at `addr` (little-endian), like `*(uint64_t *)addr` in C.
    pub fn get(&mut self, addr: Addr) -> Result<u64, AllocError> {
        Ok(self.charged(|k| k.read_u64(addr))?)
    }

    /// Stores the 8-byte word `value` at `addr`, like `*(uint64_t *)addr = value`.
    pub fn put(&mut self, addr: Addr, value: u64) -> Result<(), AllocError> {
        Ok(self.charged(|k| k.write_u64(addr, value))?)
    }

    /// `memmove(dst, src, len)`: what `realloc` does with a payload that moves.
    pub fn copy(&mut self, dst: Addr, src: Addr, len: u64) -> Result<(), AllocError> {
        Ok(self.charged(|k| k.copy(dst, src, len))?)
    }

    /// The current program break: one past the last byte of the heap.
    pub fn brk(&self) -> Addr {
        self.kernel.program_break()
    }

    /// `sbrk(bytes)`: grows the heap by `bytes` (round them to whole pages, 4096, so
    /// that the heap you report is the memory the kernel mapped) and returns the old
    /// break, where the new bytes begin. `None` when the kernel refuses (no more
    /// memory): your `malloc` then returns `AllocError::OutOfMemory`.
    pub fn sbrk(&mut self, bytes: u64) -> Option<Addr> {
        let inc = i64::try_from(bytes).ok()?;
        self.kernel.sbrk(inc).ok()
    }

    /// The page size, 4096.
    pub fn page_size(&self) -> u64 {
        PAGE_SIZE
    }
}
