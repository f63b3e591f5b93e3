//! What every allocator of this crate shares: size arithmetic, error mapping, the
//! table of per-block mappings, and the block copy a moving `realloc` does.

use kernel::{Access, Addr, Errno, Kernel, MremapFlags, PAGE_SIZE, page_align_up};
use malloc::{AllocError, Block, BlockKind};
use std::collections::BTreeMap;

/// The alignment every pointer of this crate has: 16 bytes, like glibc's
/// `MALLOC_ALIGNMENT` on x86-64 (the alignment of `max_align_t`, so any C type fits).
pub const ALIGN: u64 = 16;

/// The largest request any allocator here passes to the kernel: 2^47 bytes, the whole
/// user half of an x86-64 address space with 4-level page tables. A larger request can
/// never be mapped, so `malloc` answers NULL at once, without a syscall (glibc does the
/// same when a size overflows its arithmetic). It also keeps every size computation
/// below far away from `u64` overflow.
pub const MAX_REQUEST: u64 = 1 << 47;

/// Rounds a request up to the 16-byte granule a block occupies. `malloc(0)` still gets
/// one granule, because it must return a unique pointer. `None` above [`MAX_REQUEST`].
pub(crate) fn granules(size: u64) -> Option<u64> {
    if size > MAX_REQUEST {
        return None;
    }
    Some(size.max(1).div_ceil(ALIGN) * ALIGN)
}

/// The whole pages a mapping for `size` bytes needs: at least one, because `mmap`
/// rejects a length of 0 and `malloc(0)` must return a unique pointer. `None` above
/// [`MAX_REQUEST`].
pub(crate) fn pages_for(size: u64) -> Option<u64> {
    if size > MAX_REQUEST {
        return None;
    }
    Some(page_align_up(size.max(1)) / PAGE_SIZE)
}

/// Turns a failed `mmap` or `mremap` into the allocator's error: `ENOMEM` (no address
/// range, a limit such as `vm.max_map_count`, no memory) is what `malloc` reports as
/// NULL; any other errno is a bug the caller should see as such. A failed `munmap`,
/// `madvise` or `mprotect` on a path that releases memory is reported as
/// [`AllocError::Syscall`] as it is: the memory is still there, nothing ran out.
pub(crate) fn syscall_error(errno: Errno, size: u64) -> AllocError {
    match errno {
        Errno::ENOMEM => AllocError::OutOfMemory { size },
        other => AllocError::Syscall(other),
    }
}

/// Charges the user-space work of one allocator call (a table lookup or a bump; the
/// syscalls it makes are charged by the kernel itself).
pub(crate) fn charge_call(kernel: &mut Kernel) {
    let ns = kernel.config().cost.alloc_op_ns;
    kernel.charge_user(ns);
}

/// What a moving `realloc` does with the old bytes: `memcpy` reads `len` bytes of the
/// old block and writes them into the new one. Both accesses go through the kernel,
/// so the copy faults in the destination pages (and maps the zero page for untouched
/// source pages) exactly as a real copy would.
pub(crate) fn copy_bytes(
    kernel: &mut Kernel,
    from: Addr,
    to: Addr,
    len: u64,
) -> Result<(), AllocError> {
    kernel.touch(from, len, Access::Read)?;
    kernel.touch(to, len, Access::Write)?;
    Ok(())
}

/// The side table of an allocator that gives each block its own mapping, keyed by the
/// mapping's start (which is also the pointer handed out).
///
/// Why a side table: `free(ptr)` gets only the pointer, but `munmap` needs the length.
/// A real allocator without such a table must keep the length *in* the mapping, in a
/// header just before the pointer (glibc's mmapped chunks do: 16 bytes of `prev_size`
/// and `size`). A header pushes every block off the page boundary, so a 4096-byte
/// request would need two pages. The model keeps the table outside simulated memory
/// so that a request of exactly N pages costs exactly N pages, which is also what the
/// real replay in `calibrate` does with raw `mmap` calls.
#[derive(Clone, Debug, Default)]
pub(crate) struct LiveMappings {
    /// Mapping start -> mapping length in bytes (whole pages).
    map: BTreeMap<Addr, u64>,
    bytes: u64,
}

impl LiveMappings {
    /// Records a new mapping.
    pub fn insert(&mut self, addr: Addr, len: u64) {
        self.bytes += len;
        self.map.insert(addr, len);
    }

    /// Forgets a mapping and returns it.
    pub fn remove(&mut self, addr: Addr) -> Option<u64> {
        let len = self.map.remove(&addr)?;
        self.bytes -= len;
        Some(len)
    }

    /// The length of the mapping that starts at `addr`.
    pub fn get(&self, addr: Addr) -> Option<u64> {
        self.map.get(&addr).copied()
    }

    /// Resizes the block at `ptr` to hold `size` bytes, the way `mmap` and `mmap-cache`
    /// realloc: a block whose page count does not change stays where it is (no syscall);
    /// otherwise `mremap` resizes the mapping. Shrinking unmaps the tail pages; growing
    /// extends in place when the addresses above are free, and otherwise
    /// (`MREMAP_MAYMOVE`) moves the page-table entries to a new range: the bytes move
    /// without being copied, which is why realloc of a large block is cheap.
    pub fn resize(
        &mut self,
        kernel: &mut Kernel,
        ptr: Addr,
        size: u64,
    ) -> Result<Addr, AllocError> {
        let old_len = self.get(ptr).ok_or(AllocError::InvalidPointer { ptr })?;
        let pages = pages_for(size).ok_or(AllocError::OutOfMemory { size })?;
        let len = pages * PAGE_SIZE;
        if len == old_len {
            return Ok(ptr);
        }
        let new = kernel
            .mremap(ptr, old_len, len, MremapFlags::MAYMOVE)
            .map_err(|e| syscall_error(e, size))?;
        self.remove(ptr);
        self.insert(new, len);
        Ok(new)
    }

    /// Number of mappings.
    pub fn count(&self) -> u64 {
        self.map.len() as u64
    }

    /// Bytes of all mappings.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Every mapping as a used block of a heap map, in address order.
    pub fn blocks(&self) -> impl Iterator<Item = Block> + '_ {
        self.map.iter().map(|(&addr, &len)| Block {
            addr,
            size: len,
            kind: BlockKind::Used,
            mapped: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granules_round_up_to_sixteen_and_give_zero_one_granule() {
        assert_eq!(granules(0), Some(16));
        assert_eq!(granules(1), Some(16));
        assert_eq!(granules(16), Some(16));
        assert_eq!(granules(17), Some(32));
        assert_eq!(granules(MAX_REQUEST + 1), None);
    }

    #[test]
    fn pages_round_up_and_give_zero_one_page() {
        assert_eq!(pages_for(0), Some(1));
        assert_eq!(pages_for(1), Some(1));
        assert_eq!(pages_for(4096), Some(1));
        assert_eq!(pages_for(4097), Some(2));
        assert_eq!(pages_for(u64::MAX), None);
    }

    #[test]
    fn enomem_is_out_of_memory_and_other_errnos_stay_syscall_errors() {
        assert_eq!(
            syscall_error(Errno::ENOMEM, 10),
            AllocError::OutOfMemory { size: 10 }
        );
        assert_eq!(
            syscall_error(Errno::EINVAL, 10),
            AllocError::Syscall(Errno::EINVAL)
        );
    }
}
